//! What the dashboard shows, kept in this process: SCIM responses by status class (counted as
//! they are answered) and the ring buffer of the sampler's last 15 minutes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use seatflow_queue::monitor::QueueDepth;
use serde::Serialize;

use crate::dashboard::webhooks;

/// 15 minutes of samples (one every `sampler::EVERY`).
const KEEP: usize = 180;

/// SCIM responses of this process by status class (2xx, 3xx, 4xx, 5xx).
#[derive(Debug, Default)]
pub struct ScimCounters([AtomicU64; 4]);

impl ScimCounters {
    pub fn record(&self, status: u16) {
        if let Some(counter) = usize::from(status / 100)
            .checked_sub(2)
            .and_then(|class| self.0.get(class))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn totals(&self) -> StatusCounts<u64> {
        let [a, b, c, d] = &self.0;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        StatusCounts {
            s2xx: get(a),
            s3xx: get(b),
            s4xx: get(c),
            s5xx: get(d),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StatusCounts<T> {
    #[serde(rename = "2xx")]
    pub s2xx: T,
    #[serde(rename = "3xx")]
    pub s3xx: T,
    #[serde(rename = "4xx")]
    pub s4xx: T,
    #[serde(rename = "5xx")]
    pub s5xx: T,
}

/// One reading; rates are over the interval since the previous one.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at: String,
    pub scim_per_sec: StatusCounts<f64>,
    pub enqueued_per_sec: f64,
    pub applied_per_sec: f64,
    /// Over the last minute.
    pub retries_per_min: f64,
    pub dead_letters_per_min: f64,
    /// None when the broker could not be asked (RabbitMQ mode).
    pub queue: Option<QueueDepth>,
    pub lag_p50_ms: Option<i64>,
    pub lag_p95_ms: Option<i64>,
    pub oldest_pending_secs: Option<i64>,
    pub webhooks: webhooks::Reading,
}

/// The last 15 minutes of samples.
#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    pub fn samples(&self) -> Vec<Sample> {
        self.lock().iter().cloned().collect()
    }

    pub fn push(&self, sample: Sample) {
        let mut samples = self.lock();
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        // A panic while holding the lock leaves whole samples behind: keep using them.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
