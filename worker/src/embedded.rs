//! The embedded transport: with no broker, the outbox table is the queue. Events are claimed
//! with a lease (a crash leaves them to be claimed again), applied, and on failure put back with
//! a later `next_attempt_at`. Woken at once after each SCIM write, with polling as a fallback.

use std::sync::Arc;
use std::time::Duration;

use seatflow_shared::db::Db;
use seatflow_shared::retry::RetryPolicy;
use seatflow_shared::store::outbox;
use seatflow_shared::time;
use tokio::sync::{Notify, watch};

use crate::Settings;
use crate::apply::Failed;
use crate::observe::{self, Transport};

/// How long a claim is exclusive; longer than any batch takes.
const LEASE: Duration = Duration::from_secs(60);
/// The fallback wake-up, for events whose retry time has come.
const POLL: Duration = Duration::from_millis(500);

/// Runs until `shutdown` turns true; the current batch is finished first.
pub async fn run(
    db: Db,
    settings: Settings,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let policy = settings.retry();
    let batch = i64::try_from(settings.batch.max(1)).unwrap_or(64);
    while !*shutdown.borrow() {
        let claimed = db.write(move |c| outbox::claim_due(c, batch, LEASE)).await;
        match claimed {
            Ok(rows) if !rows.is_empty() => {
                let failed = observe::apply_batch(&db, rows, Transport::Embedded).await;
                settle_failures(&db, &policy, failed).await;
            }
            Ok(_) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not claim events; retrying");
                tokio::time::sleep(POLL).await;
            }
        }
    }
    tracing::info!("embedded worker stopped");
}

/// Schedules a retry for each failed event, or dead-letters it after its last attempt.
async fn settle_failures(db: &Db, policy: &RetryPolicy, failed: Vec<Failed>) {
    for Failed { row, error } in failed {
        let attempts = row.attempts.saturating_add(1);
        let exhausted = policy.exhausted(u32::try_from(attempts).unwrap_or(u32::MAX));
        let message = error;
        observe::failure(&row, attempts, exhausted, &message, Transport::Embedded);
        let retry_at = time::after(policy.delay(u32::try_from(attempts).unwrap_or(u32::MAX)));
        let result = db
            .write(move |c| {
                if exhausted {
                    outbox::mark_dead(c, row.id, attempts, &message)
                } else {
                    outbox::record_failure(c, row.id, attempts, &message, Some(retry_at))
                }
            })
            .await;
        // If even this fails, the claim's lease expires and the event is tried again.
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record an event failure");
        }
    }
}
