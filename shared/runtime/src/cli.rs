//! What Seatflow's command lines (`seatflow-api`, `seatflow-worker`) can fail with: printed as
//! one line, exit code 1.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Connect(#[from] seatflow_store::db::ConnectError),
    #[error(transparent)]
    Store(#[from] seatflow_store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot serve metrics: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// A setting the command needs is missing or wrong.
    #[error("{0}")]
    Config(&'static str),
}
