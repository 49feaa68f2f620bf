//! The embedded transport: with no broker, the outbox table is the queue. Events are claimed
//! with a lease (a crash leaves them to be claimed again), applied by the consumer, and on
//! failure put back with a later `next_attempt_at`. Woken at once after each commit, with
//! polling as a fallback.

use std::sync::Arc;
use std::time::Duration;

use seatflow_store::db::Db;
use seatflow_store::time;
use tokio::sync::{Notify, watch};

use crate::events::Event;
use crate::outbox;
use crate::retry::RetryPolicy;
use crate::transport::{Transport, TransportError};

/// How long a claim is exclusive; longer than any batch takes.
const LEASE: Duration = Duration::from_secs(60);
/// The fallback wake-up, for events whose retry time has come.
const POLL: Duration = Duration::from_millis(500);

pub struct Embedded {
    db: Db,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl Embedded {
    /// `wake` is notified after each commit that records an event.
    pub fn new(
        db: Db,
        policy: RetryPolicy,
        wake: Arc<Notify>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Embedded {
            db,
            policy,
            wake,
            stop,
        }
    }

    /// Records a failure (a retry time, or dead); if even this fails, the claim's lease expires
    /// and the event is tried again.
    async fn settle(&self, event: Event, error: String, retry_in: Option<Duration>) {
        let (id, attempts) = (event.id, event.attempts);
        let recorded = self
            .db
            .write(move |c| match retry_in {
                Some(delay) => {
                    outbox::record_failure(c, id, attempts, &error, Some(time::after(delay)))
                }
                None => outbox::mark_dead(c, id, attempts, &error),
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(event = id, error = %e, "could not record an event failure");
        }
    }
}

impl Transport for Embedded {
    /// Nothing to tell the outbox: an applied event is marked so in the consumer's transaction.
    type Delivery = ();

    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<(Event, ())>, TransportError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        while !*self.stop.borrow() {
            match self
                .db
                .write(move |c| outbox::claim_due(c, max, LEASE))
                .await
            {
                Ok(events) if !events.is_empty() => {
                    return Ok(events.into_iter().map(|e| (e, ())).collect());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim events; retrying"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                // The sender gone means nobody can ask to stop any more: stop now.
                changed = self.stop.changed() => if changed.is_err() { break },
            }
        }
        Ok(Vec::new())
    }

    async fn ack(&mut self, _: Vec<()>) -> Result<(), TransportError> {
        Ok(())
    }

    async fn retry(
        &mut self,
        event: Event,
        _: (),
        attempt: u32,
        error: String,
    ) -> Result<(), TransportError> {
        let delay = self.policy.delay(attempt);
        self.settle(event, error, Some(delay)).await;
        Ok(())
    }

    async fn park(&mut self, event: Event, _: (), error: String) -> Result<(), TransportError> {
        self.settle(event, error, None).await;
        Ok(())
    }
}
