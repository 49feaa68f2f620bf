use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seatflow_queue::{Settings, dead_letters, outbox};
use seatflow_runtime::cli::CliError;
use seatflow_runtime::telemetry;
use seatflow_store::db::{DEFAULT_DATABASE_URL, DatabaseUrl, Db};
use seatflow_store::migrations;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "seatflow-worker",
    version,
    about = "Seatflow licensing worker (RabbitMQ consumer) and webhook deliverer"
)]
struct Cli {
    /// `postgres://…` (distributed mode) or `sqlite://PATH`.
    #[arg(long, env = "SEATFLOW_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: DatabaseUrl,

    /// The broker, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f` (`amqps://` with the `tls` feature).
    #[arg(long, env = "SEATFLOW_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,

    /// Database connections of this process.
    #[arg(long, env = "SEATFLOW_DB_POOL_SIZE", default_value_t = 8)]
    db_pool_size: u32,

    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. `0.0.0.0:9187`); unset: none.
    #[arg(long, env = "SEATFLOW_WORKER_METRICS_BIND")]
    metrics_bind: Option<std::net::SocketAddr>,

    #[command(flatten)]
    settings: Settings,

    /// Webhook delivery, run beside the licensing consumer.
    #[command(flatten)]
    webhooks: seatflow_feed::webhooks::Settings,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume and apply events (the default).
    Run,
    /// Inspect and replay events that exhausted their attempts.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// Dead letters with their last error, one JSON object per line.
    List,
    /// Put dead letters back in line with fresh attempts.
    Replay {
        #[arg(long = "id", required_unless_present = "all")]
        ids: Vec<i64>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = telemetry::init_logging() {
        eprintln!("seatflow-worker: error: {e}");
        return ExitCode::FAILURE;
    }
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seatflow-worker: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let db = Db::connect(&cli.database_url, cli.db_pool_size)?;
    migrations::run(&db)?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let url = cli.amqp_url.ok_or(CliError::Config(
                "SEATFLOW_AMQP_URL must be set: the worker consumes from RabbitMQ",
            ))?;
            if let Some(address) = cli.metrics_bind {
                serve_metrics(address, &db)?;
            }
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(async move {
                seatflow_runtime::shutdown::signal().await;
                let _ = stop.send(true);
            });
            let webhooks = tokio::spawn(seatflow_feed::webhooks::deliver::run(
                db.clone(),
                cli.webhooks,
                stopped.clone(),
            ));
            seatflow_licensing::consume_rabbitmq(db, cli.settings, url, stopped).await;
            // It stops with the same signal, after the requests it is in.
            let _ = webhooks.await;
            Ok(())
        }
        Command::DeadLetters { command } => match command {
            DeadLetterCommand::List => {
                for letter in db.read(outbox::dead_letters).await? {
                    println!("{}", serde_json::to_string(&letter).unwrap_or_default());
                }
                Ok(())
            }
            DeadLetterCommand::Replay { ids, all } => {
                let broker = cli.amqp_url.as_deref().map(|url| (url, &cli.settings));
                let replayed = dead_letters::replay(&db, broker, (!all).then_some(ids)).await?;
                println!("{}", serde_json::json!({ "replayed": replayed }));
                Ok(())
            }
        },
    }
}

/// Serves `/metrics` (the exporter's own listener) and refreshes the pool gauges.
fn serve_metrics(address: std::net::SocketAddr, db: &Db) -> Result<(), CliError> {
    telemetry::prometheus()
        .with_http_listener(address)
        .install()?;
    telemetry::describe();
    let db = db.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            let pool = db.pool_state();
            telemetry::record_pool(pool.connections, pool.idle_connections, db.pool_max());
        }
    });
    tracing::info!("metrics at http://{address}/metrics");
    Ok(())
}
