//! The change feed's upkeep in every API process: sequencing committed events soon after they
//! commit (the Events API lists only sequenced ones; webhook delivery sequences too), and
//! pruning events past their retention.

use std::time::{Duration, Instant};

use seatflow_feed::{log, sequence};
use tokio::sync::watch;

use crate::state::AppState;

/// How soon a committed event appears in the Events API.
const TICK: Duration = Duration::from_millis(100);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let retention = Duration::from_secs(state.config.event_retention_days.saturating_mul(86_400));
    let mut last_prune: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        // A read first: most ticks find nothing to do, and a write would queue behind writers.
        match state.db.read(log::unsequenced).await {
            Ok(false) => {}
            Ok(true) => {
                if let Err(e) = state.db.write(sequence::assign).await {
                    tracing::warn!(error = %e, "could not sequence the change feed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the change feed"),
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            match state.db.write(move |c| log::prune(c, retention)).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned change-feed events past retention"),
                Err(e) => tracing::warn!(error = %e, "could not prune the change feed"),
            }
        }
    }
}
