//! `seatflow-loadgen`: a provisioning burst simulator playing one identity provider's SCIM client
//! (`--idp`, Entra by default; see the README's "Load testing" and `loadgen::Idp`).

use clap::Parser;
use seatflow_tests::loadgen::{self, Options};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let json = options.json.clone();
    match loadgen::run(options).await {
        Ok(report) => {
            eprint!("{}", loadgen::summary(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report).unwrap_or_default();
                let written = if path == "-" {
                    println!("{text}");
                    Ok(())
                } else {
                    std::fs::write(&path, text)
                };
                if let Err(e) = written {
                    eprintln!("cannot write {path}: {e}");
                    return std::process::ExitCode::from(2);
                }
            }
            if report.ok {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("seatflow-loadgen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
