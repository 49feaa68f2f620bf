//! The pipeline's settings, from `SEATFLOW_*` environment variables (or the matching flags):
//! the API and the workers of one deployment must agree on them.

use std::time::Duration;

use crate::retry::RetryPolicy;

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Events taken and applied together (grouped by license, one transaction per license).
    #[arg(long, env = "SEATFLOW_WORKER_BATCH", default_value_t = 64)]
    pub batch: usize,

    /// Unacknowledged messages the broker may hand this worker at once.
    #[arg(long, env = "SEATFLOW_WORKER_PREFETCH", default_value_t = 128)]
    pub prefetch: u16,

    /// Attempts before an event is dead-lettered.
    #[arg(long, env = "SEATFLOW_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,

    /// Delay before the first retry, in milliseconds; each further retry doubles it.
    #[arg(long, env = "SEATFLOW_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,

    /// Prefix of every exchange and queue name, so deployments can share a broker.
    #[arg(long, env = "SEATFLOW_AMQP_PREFIX", default_value = "seatflow")]
    pub amqp_prefix: String,
}

impl Settings {
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base: Duration::from_millis(self.retry_base_ms.max(1)),
        }
    }
}
