//! The consumer, written once for both transports: receive a batch, apply it with the handler
//! it is given, settle every event (applied → ack; failed → retry with backoff, or park after
//! the last attempt). A batch is grouped by license and each license's events are applied in
//! one transaction; if that fails, it is split in halves until the poison event fails alone. Every acknowledgement comes after the outcome is committed, so a crash anywhere
//! means redelivery, never loss.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use seatflow_store::db::{Db, DbConn};
use seatflow_store::{Error, Result};
use tokio::sync::watch;
use tracing::Instrument;

use crate::events::Event;
use crate::observe;
use crate::outbox;
use crate::retry::RetryPolicy;
use crate::transport::{Transport, TransportError};

/// What a consumer does with the events of one license, inside the write transaction the
/// consumer opens for them (which also marks them applied).
pub trait Handler: Send + Sync + 'static {
    fn apply(&self, conn: &mut DbConn, license_id: &str, events: &[Event]) -> Result<()>;
}

/// An event of a batch that could not be applied, with why.
#[derive(Debug)]
pub struct Failed {
    pub event: Event,
    pub error: String,
}

/// Consumes until `stop`, connecting with `connect` and reconnecting after a transport failure.
pub async fn run<T, H, C, F>(
    db: Db,
    handler: Arc<H>,
    policy: RetryPolicy,
    batch: usize,
    connect: C,
    mut stop: watch::Receiver<bool>,
) where
    T: Transport,
    H: Handler,
    C: Fn() -> F,
    F: Future<Output = Result<T, TransportError>>,
{
    while !*stop.borrow() {
        let outcome = match connect().await {
            Ok(mut transport) => consume(&db, &handler, policy, batch, &mut transport).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "the consumer lost its transport; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    tracing::info!("consumer stopped");
}

/// Receives, applies and settles batches until the transport has nothing more (it was asked
/// to stop).
async fn consume<T: Transport, H: Handler>(
    db: &Db,
    handler: &Arc<H>,
    policy: RetryPolicy,
    batch: usize,
    transport: &mut T,
) -> Result<(), TransportError> {
    loop {
        let received = transport.receive(batch.max(1)).await?;
        if received.is_empty() {
            return Ok(());
        }
        let (events, deliveries): (Vec<Event>, Vec<T::Delivery>) = received.into_iter().unzip();
        let span = tracing::debug_span!("apply_batch", events = events.len());
        let failed = apply_batch(db, handler, events.clone())
            .instrument(span)
            .await;
        let mut failed: BTreeMap<i64, String> =
            failed.into_iter().map(|f| (f.event.id, f.error)).collect();
        observe::applied(&events, &failed, transport.name());
        let mut done = Vec::with_capacity(deliveries.len());
        for (mut event, delivery) in events.into_iter().zip(deliveries) {
            let Some(error) = failed.remove(&event.id) else {
                done.push(delivery);
                continue;
            };
            event.attempts = event.attempts.saturating_add(1);
            let attempt = u32::try_from(event.attempts).unwrap_or(u32::MAX);
            let exhausted = policy.exhausted(attempt);
            observe::failure(&event, exhausted, &error, transport.name());
            if exhausted {
                transport.park(event, delivery, error).await?;
            } else {
                transport.retry(event, delivery, attempt, error).await?;
            }
        }
        transport.ack(done).await?;
    }
}

/// Applies the events and returns those that failed (the rest are applied and marked so).
pub async fn apply_batch<H: Handler>(db: &Db, handler: &Arc<H>, events: Vec<Event>) -> Vec<Failed> {
    let mut by_license: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for event in events {
        by_license
            .entry(event.license_id.clone())
            .or_default()
            .push(event);
    }
    let mut failed = Vec::new();
    for (license_id, events) in by_license {
        failed.extend(apply_or_split(db, handler, &license_id, events).await);
    }
    failed
}

/// A license's events in one transaction; if that fails, each half on its own, down to the
/// poison event, which fails alone: a bad event in a batch of n costs about 2·log2(n) extra
/// transactions, not n. A database outage fails every event alike (no point in splitting).
async fn apply_or_split<H: Handler>(
    db: &Db,
    handler: &Arc<H>,
    license_id: &str,
    events: Vec<Event>,
) -> Vec<Failed> {
    let mut pending = vec![events];
    let mut failed = Vec::new();
    while let Some(events) = pending.pop() {
        let attempt = apply_license(db, handler.clone(), license_id.to_owned(), events.clone());
        match attempt.await {
            Ok(()) => {}
            Err(error) if matches!(error, Error::Unavailable(_)) || events.len() == 1 => {
                let error = error.to_string();
                failed.extend(events.into_iter().map(|event| Failed {
                    event,
                    error: error.clone(),
                }));
            }
            Err(_) => {
                let mut first = events;
                let second = first.split_off(first.len() / 2);
                pending.push(second);
                pending.push(first);
            }
        }
    }
    failed
}

/// One license's events in one transaction: the handler's work, the events marked applied and
/// the license's progress recorded. Takes what it uses by value: the work runs on a pool thread.
async fn apply_license<H: Handler>(
    db: &Db,
    handler: Arc<H>,
    license_id: String,
    events: Vec<Event>,
) -> Result<()> {
    db.write(move |c| {
        handler.apply(c, &license_id, &events)?;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        outbox::mark_applied(c, &ids)?;
        match ids.iter().max() {
            Some(last) => outbox::record_applied(c, &license_id, *last, ids.len() as i64),
            None => Ok(()),
        }
    })
    .await
}
