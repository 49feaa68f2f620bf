//! Webhook delivery's settings, from `SEATFLOW_WEBHOOK_*` environment variables (or the
//! matching flags), shared by `seatflow-api` (embedded default) and `seatflow-worker`.

use std::time::Duration;

// Explicit ids: these are flattened beside other settings (the pipeline's `retry_base_ms`,
// and its struct also named `Settings`, hence the group id).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "webhooks")]
pub struct Settings {
    /// Milliseconds a delivery may take (connect, send, answer) before it counts as failed.
    #[arg(
        id = "webhook_timeout_ms",
        long = "webhook-timeout-ms",
        value_name = "MS",
        env = "SEATFLOW_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub timeout_ms: u64,

    /// Delay before an endpoint's first retry, in milliseconds; each further retry doubles it.
    #[arg(
        id = "webhook_retry_base_ms",
        long = "webhook-retry-base-ms",
        value_name = "MS",
        env = "SEATFLOW_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 5_000
    )]
    pub retry_base_ms: u64,

    /// Longest delay between two retries, in milliseconds.
    #[arg(
        id = "webhook_retry_max_delay_ms",
        long = "webhook-retry-max-delay-ms",
        value_name = "MS",
        env = "SEATFLOW_WEBHOOK_RETRY_MAX_DELAY_MS",
        default_value_t = 3_600_000
    )]
    pub retry_max_delay_ms: u64,

    /// Hours an endpoint keeps being retried after its first failure before it is marked
    /// failing (automatic delivery stops until the operator resumes it).
    #[arg(
        id = "webhook_retry_window_hours",
        long = "webhook-retry-window-hours",
        value_name = "HOURS",
        env = "SEATFLOW_WEBHOOK_RETRY_WINDOW_HOURS",
        default_value_t = 72.0
    )]
    pub retry_window_hours: f64,

    /// Endpoints delivered to at once by each process; the others wait for the next tick.
    #[arg(
        id = "webhook_concurrency",
        long = "webhook-concurrency",
        value_name = "N",
        env = "SEATFLOW_WEBHOOK_CONCURRENCY",
        default_value_t = 32
    )]
    pub concurrency: usize,

    /// Milliseconds between two looks for endpoints with events to deliver.
    #[arg(
        id = "webhook_tick_ms",
        long = "webhook-tick-ms",
        value_name = "MS",
        env = "SEATFLOW_WEBHOOK_TICK_MS",
        default_value_t = 200
    )]
    pub tick_ms: u64,

    /// Days the delivery log keeps each attempt.
    #[arg(
        id = "webhook_log_retention_days",
        long = "webhook-log-retention-days",
        value_name = "DAYS",
        env = "SEATFLOW_WEBHOOK_LOG_RETENTION_DAYS",
        default_value_t = 7.0
    )]
    pub log_retention_days: f64,
}

impl Settings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(1))
    }

    pub fn retry_window(&self) -> Duration {
        hours(self.retry_window_hours)
    }

    pub fn log_retention(&self) -> Duration {
        hours(self.log_retention_days * 24.0)
    }

    /// How long an endpoint's claim lasts: renewed with every event's result, so it only has
    /// to outlive one delivery; a crashed process's endpoints are free again after it.
    pub fn lease(&self) -> Duration {
        self.timeout() * 2 + Duration::from_secs(30)
    }

    /// The delay before the retry that follows `failures` consecutive failed attempts: the
    /// base doubled per failure, capped, minus up to a fifth at random so endpoints that failed
    /// together do not all retry together.
    pub fn backoff(&self, failures: u32) -> Duration {
        let base = self.retry_base_ms.max(1);
        let doubled = base.saturating_mul(1u64 << failures.saturating_sub(1).min(32));
        let capped = doubled.min(self.retry_max_delay_ms.max(base));
        let jitter = rand::random_range(0..=capped / 5);
        Duration::from_millis(capped - jitter)
    }
}

fn hours(hours: f64) -> Duration {
    Duration::try_from_secs_f64(hours * 3600.0).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = Cli::parse_from(["x"]).settings;
        let first = settings.backoff(1);
        assert!(first <= Duration::from_secs(5) && first >= Duration::from_secs(4));
        let third = settings.backoff(3);
        assert!(third <= Duration::from_secs(20) && third >= Duration::from_secs(16));
        let late = settings.backoff(40);
        assert!(late <= Duration::from_secs(3600) && late >= Duration::from_secs(2880));
        assert_eq!(settings.retry_window(), Duration::from_secs(72 * 3600));
        assert_eq!(settings.log_retention(), Duration::from_secs(7 * 24 * 3600));
    }
}
