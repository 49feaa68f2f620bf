//! Logs and metrics set-up shared by `seatflow-api` and `seatflow-worker`, and the names of every
//! metric, so that dashboards (ours and Grafana's) read one vocabulary.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use metrics_util::MetricKindMask;
use tracing_subscriber::EnvFilter;

pub const HTTP_REQUESTS: &str = "seatflow_http_requests_total";
pub const HTTP_DURATION: &str = "seatflow_http_request_duration_seconds";
pub const EVENTS_RECORDED: &str = "seatflow_events_recorded_total";
pub const EVENTS_PUBLISHED: &str = "seatflow_events_published_total";
pub const EVENTS_APPLIED: &str = "seatflow_events_applied_total";
pub const EVENTS_RETRIED: &str = "seatflow_events_retried_total";
pub const EVENTS_DEAD: &str = "seatflow_events_dead_lettered_total";
pub const EVENT_LAG: &str = "seatflow_event_lag_seconds";
pub const LICENSING_USERS_EXAMINED: &str = "seatflow_licensing_users_examined_total";
pub const QUEUE_DEPTH: &str = "seatflow_queue_depth";
pub const OLDEST_PENDING: &str = "seatflow_oldest_pending_seconds";
pub const LICENSE_SEATS: &str = "seatflow_license_seats";
pub const LICENSE_SEATS_USED: &str = "seatflow_license_seats_used";
pub const LICENSE_SEATS_BLOCKED: &str = "seatflow_license_seats_blocked";
pub const DB_POOL_CONNECTIONS: &str = "seatflow_db_pool_connections";
pub const DB_POOL_MAX: &str = "seatflow_db_pool_max_connections";
pub const WEBHOOK_DELIVERIES: &str = "seatflow_webhook_deliveries_total";
pub const WEBHOOK_DELIVERY_LAG: &str = "seatflow_webhook_delivery_lag_seconds";
pub const WEBHOOK_ENDPOINTS_FAILING: &str = "seatflow_webhook_endpoints_failing";

/// How logs are written: one JSON object per line (for collectors) or human-readable lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("SEATFLOW_LOG_FORMAT must be `json` or `pretty`, not `{0}`")]
    LogFormat(String),
    #[error("SEATFLOW_LOG is not a valid filter: {0}")]
    Filter(String),
}

impl std::str::FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            other => Err(TelemetryError::LogFormat(other.to_owned())),
        }
    }
}

/// Installs the process's log subscriber from `SEATFLOW_LOG` (env-filter syntax, default `info`)
/// and `SEATFLOW_LOG_FORMAT` (`pretty`, the default, or `json`). Logs go to stderr.
pub fn init_logging() -> Result<(), TelemetryError> {
    let filter = match std::env::var("SEATFLOW_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| TelemetryError::Filter(e.to_string()))?
        }
        _ => EnvFilter::new("info"),
    };
    let format = match std::env::var("SEATFLOW_LOG_FORMAT") {
        Ok(raw) if !raw.trim().is_empty() => raw.trim().parse()?,
        _ => LogFormat::Pretty,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A closed stderr must not take the server down: tracing would report the failed write
        // with eprintln!, which panics on a closed stderr.
        .log_internal_errors(false);
    match format {
        // Every span of the event is listed, so a worker's log line carries the request id of
        // the SCIM request that caused it.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
    Ok(())
}

/// The Prometheus recorder both binaries install: histogram buckets in seconds, and per-license
/// gauges dropped when no longer refreshed (a license that left the top N, or was deleted).
pub fn prometheus() -> PrometheusBuilder {
    const LATENCY: &[f64] = &[
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const LAG: &[f64] = &[
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    ];
    PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120)))
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(EVENT_LAG.to_owned()), LAG))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WEBHOOK_DELIVERY_LAG.to_owned()), LAG))
        .expect("bucket lists are not empty")
}

/// Help texts of every metric, shown in `/metrics`.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by matched route, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by matched route, method and status"
    );
    describe_counter!(
        EVENTS_RECORDED,
        "licensing events recorded in the outbox by SCIM writes"
    );
    describe_counter!(
        EVENTS_PUBLISHED,
        "events published to RabbitMQ by the relay"
    );
    describe_counter!(EVENTS_APPLIED, "events applied, by transport");
    describe_counter!(
        EVENTS_RETRIED,
        "failed attempts scheduled for a retry, by transport"
    );
    describe_counter!(EVENTS_DEAD, "events dead-lettered after their last attempt");
    describe_counter!(
        LICENSING_USERS_EXAMINED,
        "users the seat engine looked at (its cost: changed users, or a whole license)"
    );
    describe_histogram!(
        EVENT_LAG,
        Unit::Seconds,
        "time from an event's commit to its application"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "events waiting: work, delay (retries) and parking (dead letters)"
    );
    describe_gauge!(
        OLDEST_PENDING,
        Unit::Seconds,
        "age of the oldest event not yet applied"
    );
    describe_gauge!(LICENSE_SEATS, "seats of a license (top licenses by seats)");
    describe_gauge!(LICENSE_SEATS_USED, "assigned seats of a license");
    describe_gauge!(
        LICENSE_SEATS_BLOCKED,
        "users waiting for a seat of a license"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "database connections of this process by state (idle, in_use)"
    );
    describe_gauge!(DB_POOL_MAX, "size limit of this process's database pool");
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "webhook delivery attempts by outcome (delivered, failed, timeout)"
    );
    describe_histogram!(
        WEBHOOK_DELIVERY_LAG,
        Unit::Seconds,
        "time from an event's commit to its delivery to a webhook endpoint"
    );
    describe_gauge!(
        WEBHOOK_ENDPOINTS_FAILING,
        "webhook endpoints marked failing (retry window over; resume them)"
    );
}

/// Publishes the pool's usage (r2d2 state) as gauges.
pub fn record_pool(open: u32, idle: u32, max: u32) {
    let in_use = open.saturating_sub(idle);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(DB_POOL_MAX).set(f64::from(max));
}
