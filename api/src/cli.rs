//! The `seatflow-api` command line: run the server (the default), apply migrations, and the
//! operator's license and token commands. Commands print JSON so scripts can use them.

use std::io::Write;

use clap::{Parser, Subcommand};
use seatflow_runtime::cli::CliError;
use seatflow_store::db::{Backend, Db, write_transaction};
use seatflow_store::{admin_keys, migrations};
use tokio::net::TcpListener;

use crate::admin::admin_keys::CreatedAdminKey;
use crate::admin::licenses::CreatedLicense;
use crate::commands;
use crate::config::Config;
use crate::server::Server;

#[derive(Debug, Parser)]
#[command(
    name = "seatflow-api",
    version,
    about = "Seatflow SCIM license-provisioning API"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage licenses.
    License {
        #[command(subcommand)]
        command: LicenseCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Create a license and its first SCIM token; prints license_id, tenant_url, secret_token.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        seats: i64,
    },
    /// List licenses, one JSON object per line.
    List,
    /// Manage a license's SCIM secret tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the keys a license admin signs in to the /admin pages with.
    AdminKey {
        #[command(subcommand)]
        command: AdminKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Create a key for one license; prints license_id, key_id, admin_key, sign_in_url.
    Create {
        #[command(flatten)]
        on: OnLicense,
        #[arg(long)]
        label: Option<String>,
    },
    /// List a license's admin keys (never the secrets), one JSON object per line.
    List(OnLicense),
    /// Revoke a key at once (its sessions end).
    Revoke {
        #[command(flatten)]
        on: OnLicense,
        #[arg(long)]
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a new token; the current one stays valid until revoked.
    Rotate(OnLicense),
    /// Revoke a token at once.
    Revoke {
        #[command(flatten)]
        on: OnLicense,
        #[arg(long)]
        token_id: String,
    },
}

// The `--license` of every token and admin-key command, declared once.
#[derive(Debug, clap::Args)]
pub struct OnLicense {
    #[arg(long)]
    pub license: String,
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let admin_token = admin_token(&config)?;
            serve(open(&config)?, config, admin_token).await
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url, config.db_pool_size)?;
            let applied = migrations::run(&db)?;
            print_json(&serde_json::json!({ "migrations_applied": applied }))
        }
        Command::License { command } => license(&open(&config)?, &config, command),
    }
}

fn open(config: &Config) -> Result<Db, CliError> {
    let db = Db::connect(&config.database_url, config.db_pool_size)?
        .with_read_concurrency(config.db_read_concurrency);
    migrations::run(&db)?;
    Ok(db)
}

/// The operator token: configured, or in the embedded default generated for this run.
fn admin_token(config: &Config) -> Result<String, CliError> {
    match (&config.admin_token, config.database_url.backend()) {
        (Some(token), _) => Ok(token.clone()),
        (None, Backend::Postgres) => Err(CliError::Config(
            "SEATFLOW_ADMIN_TOKEN must be set when running on PostgreSQL (distributed mode)",
        )),
        (None, Backend::Sqlite) => {
            let token = seatflow_store::token::generate();
            // Printed once, on stderr, so it never lands in structured logs.
            eprintln!(
                "SEATFLOW_ADMIN_TOKEN was not set; generated admin token for this run: {token}"
            );
            Ok(token)
        }
    }
}

async fn serve(db: Db, config: Config, admin_token: String) -> Result<(), CliError> {
    let listener = TcpListener::bind(config.bind).await?;
    let address = listener.local_addr()?;
    let mode = if config.amqp_url.is_some() {
        "relaying events to RabbitMQ"
    } else {
        "applying events in-process"
    };
    tracing::info!(
        database = %config.database_url,
        tenant_url = %config.tenant_url(),
        mode,
        "seatflow-api listening on http://{address}"
    );
    let server = Server::spawn(listener, db, config, admin_token);
    seatflow_runtime::shutdown::signal().await;
    server.stop().await?;
    Ok(())
}

fn license(db: &Db, config: &Config, command: LicenseCommand) -> Result<(), CliError> {
    let mut conn = db.checkout()?;
    match command {
        LicenseCommand::Create { name, seats } => {
            let (license, token) = write_transaction(&mut conn, |c| {
                commands::create_license(c, &name, seats, None)
            })?;
            print_json(&CreatedLicense {
                license_id: license.id,
                tenant_url: config.tenant_url(),
                secret_token: token.secret_token,
                token_id: token.token_id,
            })
        }
        LicenseCommand::List => {
            for license in seatflow_store::licenses::list(&mut conn, 0, i64::MAX)? {
                print_json(&license)?;
            }
            Ok(())
        }
        LicenseCommand::Token { command } => match command {
            TokenCommand::Rotate(on) => {
                let issued =
                    write_transaction(&mut conn, |c| commands::issue_token(c, &on.license, None))?;
                print_json(&issued)
            }
            TokenCommand::Revoke { on, token_id } => {
                write_transaction(&mut conn, |c| {
                    commands::revoke_token(c, &on.license, &token_id, None)
                })?;
                print_json(&serde_json::json!({ "revoked": token_id }))
            }
        },
        LicenseCommand::AdminKey { command } => match command {
            AdminKeyCommand::Create { on, label } => {
                let key = write_transaction(&mut conn, |c| {
                    commands::create_admin_key(c, &on.license, label.as_deref(), None)
                })?;
                print_json(&CreatedAdminKey::new(key, &config.public_url))
            }
            AdminKeyCommand::List(on) => {
                for key in admin_keys::list(&mut conn, &on.license)? {
                    print_json(&key)?;
                }
                Ok(())
            }
            AdminKeyCommand::Revoke { on, key_id } => {
                write_transaction(&mut conn, |c| {
                    commands::revoke_admin_key(c, &on.license, &key_id, None)
                })?;
                print_json(&serde_json::json!({ "revoked": key_id }))
            }
        },
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let line =
        serde_json::to_string(value).map_err(|e| seatflow_store::Error::Internal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}
