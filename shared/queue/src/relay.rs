//! The outbox relay (distributed mode): publishes recorded events to RabbitMQ with publisher
//! confirms and marks them published only after the broker confirmed. Several API processes
//! may run it: a claim leases rows, so each row has one publisher at a time; a publisher that
//! dies leaves its rows to be claimed again when the lease expires (a duplicate publish is
//! harmless: events are state-based).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use seatflow_runtime::telemetry::EVENTS_PUBLISHED;
use seatflow_store::db::Db;
use tokio::sync::{Notify, watch};

use crate::Settings;
use crate::outbox;
use crate::rabbitmq::{AmqpError, Publisher, Route, Topology};

const LEASE: Duration = Duration::from_secs(30);
const BATCH: i64 = 256;
/// The fallback sweep, for rows whose lease expired after a crash.
const SWEEP: Duration = Duration::from_secs(1);
/// Applied events are kept this long for inspection, then pruned.
const RETENTION: Duration = Duration::from_secs(3600);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub async fn run(
    db: Db,
    url: String,
    settings: Settings,
    wake: Arc<Notify>,
    connected: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let topology = Topology::of(&settings);
    while !*shutdown.borrow() {
        let name = format!("{}-relay", topology.prefix);
        let result = match Publisher::connect(&url, &name, topology.clone()).await {
            Ok(publisher) => relay(&db, &publisher, &wake, &connected, &mut shutdown).await,
            Err(e) => Err(e),
        };
        connected.store(false, Ordering::Relaxed);
        if let Err(e) = result {
            tracing::warn!(error = %e, "relay lost the broker; reconnecting");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    tracing::info!("relay stopped");
}

async fn relay(
    db: &Db,
    publisher: &Publisher,
    wake: &Notify,
    connected: &AtomicBool,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AmqpError> {
    let mut last_prune = Instant::now();
    while !*shutdown.borrow() {
        // Checked at least every sweep, so a broker lost while idle is noticed (and reported to
        // readiness) within a second; returning reconnects.
        if !publisher.is_connected() {
            tracing::warn!("relay's broker channel closed; reconnecting");
            return Ok(());
        }
        connected.store(true, Ordering::Relaxed);
        let claimed = db.write(|c| outbox::claim_due(c, BATCH, LEASE)).await;
        let rows = match claimed {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "relay could not claim events; retrying");
                tokio::time::sleep(SWEEP).await;
                continue;
            }
        };
        if rows.is_empty() {
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Err(e) = db.write(|c| outbox::prune_applied(c, RETENTION)).await {
                    tracing::warn!(error = %e, "could not prune applied events");
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(SWEEP) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        if let Err(e) = publisher.publish(&rows, Route::Work, None).await {
            // The broker is gone: hand the rows back so the reconnected relay (or another
            // API process) publishes them at once rather than after the lease.
            let claimed = ids.clone();
            if let Err(release) = db.write(move |c| outbox::release_claim(c, &claimed)).await {
                tracing::warn!(error = %release, "could not release claimed events");
            }
            return Err(e);
        }
        metrics::counter!(EVENTS_PUBLISHED).increment(rows.len() as u64);
        // If this fails the lease expires and the rows are published again: harmless.
        if let Err(e) = db.write(move |c| outbox::mark_published(c, &ids)).await {
            tracing::warn!(error = %e, "could not mark events published");
        }
    }
    Ok(())
}
