use std::process::ExitCode;

use clap::Parser;
use seatflow_api::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = seatflow_runtime::telemetry::init_logging() {
        eprintln!("seatflow-api: error: {e}");
        return ExitCode::FAILURE;
    }
    match cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seatflow-api: error: {e}");
            ExitCode::FAILURE
        }
    }
}
