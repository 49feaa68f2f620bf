//! Prunes the seat history when a retention is set (`SEATFLOW_SEAT_HISTORY_RETENTION_DAYS`):
//! rows of seats given up longer ago than that. Without one the ledger is kept for as long as
//! the license exists (its rows go with it), and this task is not started.

use std::time::Duration;

use seatflow_store::seat_history;
use tokio::sync::watch;

use crate::state::AppState;

/// How often rows past retention are deleted: retention is counted in days.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(state: AppState, retention_days: u64, mut stopped: watch::Receiver<bool>) {
    let retention = Duration::from_secs(retention_days.saturating_mul(86_400));
    let mut prunes = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = prunes.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        match state
            .db
            .write(move |c| seat_history::prune(c, retention))
            .await
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned the seat history past retention"),
            Err(e) => tracing::warn!(error = %e, "could not prune the seat history"),
        }
    }
}
