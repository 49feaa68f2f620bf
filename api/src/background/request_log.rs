//! Writes the SCIM request log: what `scim::activity::count_requests` queued, in one
//! multi-row insert per tick, and prunes what is past retention.

use std::sync::Arc;
use std::time::Duration;

use seatflow_store::scim_requests;
use tokio::sync::watch;

use crate::state::AppState;

/// How often requests past retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Flushes every `SEATFLOW_REQUEST_LOG_FLUSH_MS` until stopped; the remainder is flushed by
/// [`flush`] once the HTTP server has answered its last request (`Tasks::join`).
pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut flushes = tokio::time::interval(Duration::from_millis(
        state.config.request_log_flush_ms.max(1),
    ));
    flushes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prunes = tokio::time::interval(PRUNE_EVERY);
    loop {
        let prune_now = tokio::select! {
            _ = flushes.tick() => false,
            _ = prunes.tick() => true,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        if prune_now {
            prune(&state).await;
        } else {
            flush(&state).await;
        }
    }
}

/// Writes what is queued; a batch that fails goes back to the queue for the next tick.
pub async fn flush(state: &AppState) {
    let (batch, dropped) = state.pending_requests.take();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "the SCIM request log's buffer was full; requests not logged"
        );
    }
    if batch.is_empty() {
        return;
    }
    // Shared with the write, so a batch that fails can go back to the queue.
    let batch = Arc::new(batch);
    let rows = Arc::clone(&batch);
    let written = state
        .db
        .write(move |c| scim_requests::insert(c, &rows))
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not write the SCIM request log; retrying");
        state
            .pending_requests
            .restore(Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone()));
    }
}

async fn prune(state: &AppState) {
    let retention = Duration::from_secs(state.config.request_log_retention_days * 86_400);
    match state
        .db
        .write(move |c| scim_requests::prune(c, retention))
        .await
    {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned the SCIM request log"),
        Err(e) => tracing::warn!(error = %e, "could not prune the SCIM request log"),
    }
}
