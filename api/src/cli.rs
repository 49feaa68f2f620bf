//! The `seatflow-api` command line: run the server (the default), apply migrations, and the
//! operator's license and token commands, the seat history, licensing policies and the
//! true-up. Commands print JSON so scripts can use them.

use std::io::Write;

use clap::{Parser, Subcommand};
use seatflow_runtime::cli::CliError;
use seatflow_store::db::{Backend, Db, DbConn, write_transaction};
use seatflow_store::policies::{self, GroupReservation, Overflow, PolicyUpdate};
use seatflow_store::{admin_keys, migrations};
use tokio::net::TcpListener;

use crate::admin::admin_keys::CreatedAdminKey;
use crate::admin::licenses::CreatedLicense;
use crate::admin::policies::{Settled, change_policy, settle};
use crate::admin::seat_history::{Selection, history_csv, holders};
use crate::admin::setup_links::{CreatedSetupLink, listed};
use crate::commands;
use crate::config::Config;
use crate::http::request_id::RequestId;
use crate::server::Server;
use crate::state::AppState;

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
    /// Who held a license's seats now, at an instant (--at), on a day (--held-on) or in a
    /// period (--from, --to): one JSON object per user with their intervals, or CSV.
    SeatHistory {
        #[arg(long)]
        license: String,
        #[command(flatten)]
        selection: Selection,
        /// One CSV line per interval instead of JSON.
        #[arg(long)]
        csv: bool,
    },
    /// Setup links: a single-use, short-lived link into one license's admin pages, for the
    /// customer's IT admin.
    SetupLink {
        #[command(subcommand)]
        command: SetupLinkCommand,
    },
    /// Manage webhook endpoints: a license's with --license, else the deployment-wide ones.
    Webhooks {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// A license's licensing policies: group priority, reserved seats, overflow, release grace.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The seats the `expand` overflow policy added that are not billed yet.
    TrueUp {
        #[command(subcommand)]
        command: TrueUpCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The license's policies, as `GET /api/v1/licenses/{id}/policy` answers them.
    Show(OnLicense),
    /// Change the policies (what is not given stays as it is) and print them with the preview
    /// of what the change does, as `PATCH /api/v1/licenses/{id}/policy` answers. Without
    /// --dry-run the change is saved and audited, and the license is reconciled under it.
    Set {
        #[command(flatten)]
        on: OnLicense,
        #[command(flatten)]
        change: PolicyChange,
        /// Only preview the change: nothing is saved.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The options of `policy set`: the fields of the API's PATCH body.
#[derive(Debug, clap::Args)]
pub struct PolicyChange {
    /// What an entitled user gets when every seat is taken: block (wait), notify (wait, and
    /// the license is reported overflowing) or expand (seats raised up to --expand-cap).
    #[arg(long, value_parser = overflow)]
    pub overflow: Option<Overflow>,
    /// The most seats `expand` may raise the license to.
    #[arg(long, allow_negative_numbers = true)]
    pub expand_cap: Option<i64>,
    /// Minutes a user who lost entitlement keeps their seat or place (0 to 10080).
    #[arg(long, allow_negative_numbers = true)]
    pub grace_minutes: Option<i32>,
    /// A licensed group's priority, GROUP_ID=N (-1000 to 1000, higher is served first);
    /// repeat it for more groups. The groups not given keep theirs.
    #[arg(long = "priority", value_name = "GROUP_ID=N", value_parser = group_priority)]
    pub priorities: Vec<(String, i32)>,
    /// A user (userName or id) to hold a seat for; repeat it for more. Replaces the reserved
    /// users.
    #[arg(long = "reserve-user", value_name = "NAME_OR_ID")]
    pub reserve_users: Vec<String>,
    /// A group (displayName or id) and the seats to hold for its members; repeat it for more.
    /// Replaces the reserved groups.
    #[arg(
        long = "reserve-group",
        value_name = "NAME_OR_ID=SEATS",
        value_parser = group_reservation
    )]
    pub reserve_groups: Vec<GroupReservation>,
    /// Replace both reservation lists with what --reserve-user and --reserve-group give:
    /// alone, it removes every reservation.
    #[arg(long)]
    pub clear_reservations: bool,
}

impl PolicyChange {
    fn update(self) -> PolicyUpdate {
        let clear = self.clear_reservations;
        PolicyUpdate {
            overflow: self.overflow,
            expand_cap: self.expand_cap,
            grace_minutes: self.grace_minutes,
            group_priorities: (!self.priorities.is_empty())
                .then(|| self.priorities.into_iter().collect()),
            reserved_users: replacing(self.reserve_users, clear),
            reserved_groups: replacing(self.reserve_groups, clear),
        }
    }
}

/// A reservation list given on the command line: it replaces the stored one when any entry is
/// given or the reservations are cleared, else it leaves it as it is.
fn replacing<T>(given: Vec<T>, clear: bool) -> Option<Vec<T>> {
    (clear || !given.is_empty()).then_some(given)
}

fn overflow(value: &str) -> Result<Overflow, String> {
    serde_json::from_value(serde_json::Value::from(value))
        .map_err(|_| "expected block, notify or expand".to_owned())
}

/// `KEY=VALUE`, split at the last `=` (a group's displayName may hold one).
fn key_value<T: std::str::FromStr>(given: &str) -> Result<(String, T), String> {
    let (key, value) = given
        .rsplit_once('=')
        .ok_or_else(|| format!("expected NAME=NUMBER, got '{given}'"))?;
    let value = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a whole number"))?;
    Ok((key.to_owned(), value))
}

fn group_priority(given: &str) -> Result<(String, i32), String> {
    key_value(given)
}

fn group_reservation(given: &str) -> Result<GroupReservation, String> {
    let (group, seats) = key_value(given)?;
    Ok(GroupReservation { group, seats })
}

#[derive(Debug, Subcommand)]
pub enum TrueUpCommand {
    /// The pending true-up: `pending_seats` and each expansion not settled yet.
    Show(OnLicense),
    /// Mark the pending expansions billed (audited); prints `{"settled": n}`.
    Settle(OnLicense),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create an endpoint; prints it with its secret (shown only here and on rotation).
    Create {
        #[command(flatten)]
        scope: WebhookScope,
        #[arg(long)]
        url: String,
        /// Event types or families (`seat.*`), comma-separated; none: every event.
        #[arg(long, value_delimiter = ',')]
        event_types: Vec<String>,
        /// Create it disabled (nothing is delivered until it is enabled).
        #[arg(long)]
        disabled: bool,
    },
    /// List endpoints (never their secrets), one JSON object per line.
    List(WebhookScope),
    /// Replace the secret; the previous one stays live for 24 hours. Prints the new one.
    RotateSecret(OnWebhook),
    /// Resume a failing (or retrying) endpoint: delivery goes on from its cursor.
    Resume(OnWebhook),
    Delete(OnWebhook),
    /// The delivery log, newest attempt first, one JSON object per line.
    Deliveries {
        #[command(flatten)]
        on: OnWebhook,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Send one event again now (--event), or everything since a time (--since, RFC 3339).
    Redeliver {
        #[command(flatten)]
        on: OnWebhook,
        #[arg(long, required_unless_present = "since", conflicts_with = "since")]
        event: Option<String>,
        #[arg(long)]
        since: Option<String>,
    },
}

// Whose endpoints a webhook command is about, declared once.
#[derive(Debug, clap::Args)]
pub struct WebhookScope {
    /// The license; without it, the deployment-wide endpoints.
    #[arg(long)]
    pub license: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct OnWebhook {
    #[command(flatten)]
    pub scope: WebhookScope,
    /// The endpoint's id (`wh_…`).
    #[arg(long)]
    pub id: String,
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
pub enum SetupLinkCommand {
    /// Issue a link; prints id, license_id, url (shown only here) and expires_at.
    Issue {
        #[command(flatten)]
        on: OnLicense,
        /// Minutes the link stays valid (default: SEATFLOW_SETUP_LINK_TTL_MINS).
        #[arg(long)]
        ttl_minutes: Option<i64>,
        #[arg(long)]
        label: Option<String>,
    },
    /// List a license's links with their status (never the secrets), one JSON object per line.
    List(OnLicense),
    /// Revoke a link: unused, it opens nothing; used, its session ends.
    Revoke {
        #[command(flatten)]
        on: OnLicense,
        #[arg(long)]
        link_id: String,
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
        Command::SeatHistory {
            license,
            selection,
            csv,
        } => seat_history(&open(&config)?, &license, &selection, csv).await,
        Command::SetupLink { command } => setup_link(&open(&config)?, &config, command),
        Command::Webhooks { command } => webhooks(&open(&config)?, &config, command).await,
        Command::Policy { command } => policy(open(&config)?, config, command).await,
        Command::TrueUp { command } => true_up(open(&config)?, config, command).await,
    }
}

async fn seat_history(
    db: &Db,
    license_id: &str,
    selection: &Selection,
    csv: bool,
) -> Result<(), CliError> {
    let window = selection.window()?;
    let intervals = read_license(db, license_id, move |c, id| {
        seatflow_store::seat_history::held(c, id, &window)
    })
    .await?;
    if csv {
        write!(std::io::stdout().lock(), "{}", history_csv(&intervals))?;
        return Ok(());
    }
    holders(intervals).iter().try_for_each(print_json)
}

async fn policy(db: Db, config: Config, command: PolicyCommand) -> Result<(), CliError> {
    match command {
        PolicyCommand::Show(on) => {
            print_json(&read_license(&db, &on.license, policies::get).await?)
        }
        PolicyCommand::Set {
            on,
            change,
            dry_run,
        } => {
            let (state, request) = app(db, config);
            let outcome =
                change_policy(&state, on.license, change.update(), dry_run, &request).await?;
            print_json(&outcome)
        }
    }
}

async fn true_up(db: Db, config: Config, command: TrueUpCommand) -> Result<(), CliError> {
    match command {
        TrueUpCommand::Show(on) => {
            print_json(&read_license(&db, &on.license, policies::true_up).await?)
        }
        TrueUpCommand::Settle(on) => {
            let (state, request) = app(db, config);
            let settled = settle(&state, on.license, &request).await?;
            print_json(&Settled { settled })
        }
    }
}

/// The API's state over the command line's database, so that a change runs exactly as the
/// API runs it (`AppState::command`: its audit entry and licensing event in one transaction;
/// the server's licensing consumer applies the event), and a request id for its audit entry.
/// It serves nothing, so it needs no operator token.
fn app(db: Db, config: Config) -> (AppState, RequestId) {
    let request = RequestId(uuid::Uuid::new_v4().to_string());
    (AppState::new(db, config, String::new()), request)
}

/// Reads from one license's data; an unknown license is an error (not an empty answer).
async fn read_license<T, F>(db: &Db, license_id: &str, read: F) -> Result<T, CliError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &str) -> seatflow_store::Result<T> + Send + 'static,
{
    let license_id = license_id.to_owned();
    let found = db
        .read(move |c| {
            seatflow_store::licenses::get(c, &license_id)?;
            read(c, &license_id)
        })
        .await?;
    Ok(found)
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

fn setup_link(db: &Db, config: &Config, command: SetupLinkCommand) -> Result<(), CliError> {
    let mut conn = db.checkout()?;
    match command {
        SetupLinkCommand::Issue {
            on,
            ttl_minutes,
            label,
        } => {
            let ttl_minutes = ttl_minutes.unwrap_or(config.setup_link_ttl_mins);
            let issued = write_transaction(&mut conn, |c| {
                commands::issue_setup_link(c, &on.license, ttl_minutes, label.as_deref(), None)
            })?;
            print_json(&CreatedSetupLink::new(issued, &config.public_url))
        }
        SetupLinkCommand::List(on) => {
            let links = seatflow_store::setup_links::list(&mut conn, &on.license)?;
            listed(links).iter().try_for_each(print_json)
        }
        SetupLinkCommand::Revoke { on, link_id } => {
            write_transaction(&mut conn, |c| {
                commands::revoke_setup_link(c, &on.license, &link_id, None)
            })?;
            print_json(&serde_json::json!({ "revoked": link_id }))
        }
    }
}

async fn webhooks(db: &Db, config: &Config, command: WebhookCommand) -> Result<(), CliError> {
    use seatflow_feed::webhooks::{attempts, deliver, endpoints};
    match command {
        WebhookCommand::Create {
            scope,
            url,
            event_types,
            disabled,
        } => {
            let new = endpoints::NewEndpoint {
                url,
                event_types,
                enabled: !disabled,
            };
            let created = db
                .write(move |c| commands::create_webhook(c, scope.license.as_deref(), new, None))
                .await?;
            print_json(&created)
        }
        WebhookCommand::List(scope) => {
            let listed = db
                .read(move |c| endpoints::list(c, scope.license.as_deref()))
                .await?;
            listed.iter().try_for_each(print_json)
        }
        WebhookCommand::RotateSecret(on) => {
            let rotated = db
                .write(move |c| {
                    commands::rotate_webhook_secret(c, on.scope.license.as_deref(), &on.id, None)
                })
                .await?;
            print_json(&rotated)
        }
        WebhookCommand::Resume(on) => {
            let resumed = db
                .write(move |c| {
                    commands::resume_webhook(c, on.scope.license.as_deref(), &on.id, None)
                })
                .await?;
            print_json(&resumed)
        }
        WebhookCommand::Delete(on) => {
            let id = on.id.clone();
            db.write(move |c| {
                commands::delete_webhook(c, on.scope.license.as_deref(), &on.id, None)
            })
            .await?;
            print_json(&serde_json::json!({ "deleted": id }))
        }
        WebhookCommand::Deliveries { on, limit } => {
            let log = db
                .read(move |c| {
                    let endpoint = endpoints::get(c, on.scope.license.as_deref(), &on.id)?;
                    attempts::list(c, &endpoint.id, None, limit.max(1))
                })
                .await?;
            log.iter().try_for_each(print_json)
        }
        WebhookCommand::Redeliver { on, event, since } => match (event, since) {
            (Some(event_id), _) => {
                let sender = deliver::Sender::new(&config.webhooks)?;
                let attempt =
                    deliver::redeliver(db, &sender, on.scope.license, on.id, event_id).await?;
                print_json(&attempt)
            }
            (None, since) => {
                let since = since.unwrap_or_default();
                let rewound = db
                    .write(move |c| {
                        commands::rewind_webhook(
                            c,
                            on.scope.license.as_deref(),
                            &on.id,
                            &since,
                            None,
                        )
                    })
                    .await?;
                print_json(&rewound)
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
