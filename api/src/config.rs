//! Configuration, from `SEATFLOW_*` environment variables (or the matching flags). README.md's
//! configuration table lists the same settings.

use std::net::SocketAddr;

use seatflow_scim::limits::Limits;
use seatflow_store::db::{DEFAULT_DATABASE_URL, DatabaseUrl};

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// `postgres://…` for distributed mode or `sqlite://PATH` for the embedded default.
    #[arg(long, env = "SEATFLOW_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: DatabaseUrl,

    /// Address the HTTP server listens on.
    #[arg(long, env = "SEATFLOW_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Externally visible base URL; the SCIM Tenant URL is this plus `/scim/v2`.
    #[arg(
        long,
        env = "SEATFLOW_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// Bearer token of the operator (admin API). Generated at start in the embedded default
    /// when unset; required with PostgreSQL.
    #[arg(long, env = "SEATFLOW_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Bearer token of the product's entitlement check (read-only). The admin token works too.
    #[arg(long, env = "SEATFLOW_ENTITLEMENT_TOKEN", hide_env_values = true)]
    pub entitlement_token: Option<String>,

    /// Days the change feed keeps its events (the Events API's reach back; webhook
    /// redelivery too).
    #[arg(long, env = "SEATFLOW_EVENT_RETENTION_DAYS", default_value_t = 30)]
    pub event_retention_days: u64,

    /// Days the seat history keeps a seat after it was given up (0, the default: for as long
    /// as the license exists). Seats still held are always kept.
    #[arg(
        long,
        env = "SEATFLOW_SEAT_HISTORY_RETENTION_DAYS",
        default_value_t = 0
    )]
    pub seat_history_retention_days: u64,

    /// Minutes a setup link stays valid when its issuer names no `ttl_minutes` (1 to 1440).
    #[arg(
        long,
        env = "SEATFLOW_SETUP_LINK_TTL_MINS",
        default_value_t = 15,
        value_parser = clap::value_parser!(i64).range(seatflow_store::setup_links::TTL_MINUTES)
    )]
    pub setup_link_ttl_mins: i64,

    /// Seconds between the safety-net full reconciles of every license (0 = never).
    #[arg(long, env = "SEATFLOW_RECONCILE_INTERVAL_SECS", default_value_t = 3600)]
    pub reconcile_interval_secs: u64,

    /// SCIM requests of one tenant processed at once by each API process (0: no limit); the
    /// tenant's further requests wait their turn, so one tenant cannot take the whole database
    /// pool while a client that sends one request at a time is never slowed.
    #[arg(long, env = "SEATFLOW_TENANT_MAX_IN_FLIGHT", default_value_t = 8)]
    pub tenant_max_in_flight: usize,

    /// Milliseconds a request may wait for its tenant's turn before it is answered 429.
    #[arg(long, env = "SEATFLOW_TENANT_MAX_WAIT_MS", default_value_t = 2000)]
    pub tenant_max_wait_ms: u64,

    /// A hard ceiling on SCIM requests per second a tenant may make on average (0: none, the
    /// default). Providers treat 429 as a failure (Entra quarantines at > 40% failures), so
    /// fairness between tenants comes from `SEATFLOW_TENANT_MAX_IN_FLIGHT`, not from this.
    #[arg(long, env = "SEATFLOW_RATE_LIMIT_PER_SEC", default_value_t = 0)]
    pub rate_limit_per_sec: u32,

    /// Requests a tenant may make at once above its rate (the token bucket's size).
    #[arg(long, env = "SEATFLOW_RATE_LIMIT_BURST", default_value_t = 500)]
    pub rate_limit_burst: u32,

    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "SEATFLOW_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Members a single group request may add, remove or set.
    #[arg(
        long,
        env = "SEATFLOW_MAX_MEMBERS_PER_REQUEST",
        default_value_t = 10_000
    )]
    pub max_members_per_request: usize,

    /// Largest accepted request body, in bytes (larger → 413).
    #[arg(long, env = "SEATFLOW_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted request head (request line and headers), in bytes. Larger: hyper
    /// answers 431 with an empty body and closes the connection. The default is hyper's own.
    #[arg(long, env = "SEATFLOW_MAX_HEADER_BYTES", default_value_t = 8192 + 4096 * 100)]
    pub max_header_bytes: usize,

    /// Longest filter, and longest PATCH path, in bytes (longer → 400 `invalidFilter` or
    /// `invalidPath`).
    #[arg(
        long,
        env = "SEATFLOW_MAX_FILTER_BYTES",
        default_value_t = Limits::DEFAULT.filter_bytes
    )]
    pub max_filter_bytes: usize,

    /// Deepest nesting of parentheses, `not (…)` and value paths (`emails[…]`) in a filter or
    /// PATCH path (deeper → 400 `invalidFilter` or `invalidPath`).
    #[arg(
        long,
        env = "SEATFLOW_MAX_FILTER_DEPTH",
        default_value_t = Limits::DEFAULT.filter_depth
    )]
    pub max_filter_depth: usize,

    /// Most operations one PATCH request may hold (more → 400 `invalidValue`).
    #[arg(
        long,
        env = "SEATFLOW_MAX_PATCH_OPERATIONS",
        default_value_t = Limits::DEFAULT.patch_operations
    )]
    pub max_patch_operations: usize,

    /// Database connections per process.
    #[arg(long, env = "SEATFLOW_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Database reads this process runs at once (the rest wait their turn in order); 0: four
    /// per core. Reads are CPU-bound end to end, so more than the cores can run only adds
    /// scheduling delay; raise it when PostgreSQL is on other machines with cores to spare.
    #[arg(long, env = "SEATFLOW_DB_READ_CONCURRENCY", default_value_t = 0)]
    pub db_read_concurrency: usize,

    /// Page size of SCIM list responses when `count` is not given.
    #[arg(long, env = "SEATFLOW_DEFAULT_PAGE_SIZE", default_value_t = 100)]
    pub default_page_size: i64,

    /// Largest `count` a SCIM list request may ask for (larger values are lowered to it).
    #[arg(long, env = "SEATFLOW_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: i64,

    /// RabbitMQ (distributed mode): the API relays events there for `seatflow-worker`. Unset:
    /// the API applies events itself from the outbox table (embedded default).
    #[arg(long, env = "SEATFLOW_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,

    /// Bearer token `/metrics` requires; unset: `/metrics` is open (protect it at the network).
    #[arg(long, env = "SEATFLOW_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Licenses (those with the most seats) that get per-license metrics and dashboard rows:
    /// bounds the label cardinality of the seat gauges.
    #[arg(long, env = "SEATFLOW_METRICS_MAX_LICENSES", default_value_t = 50)]
    pub metrics_max_licenses: i64,

    /// Days the SCIM request log keeps a request (older ones are pruned every hour).
    #[arg(
        long,
        env = "SEATFLOW_REQUEST_LOG_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub request_log_retention_days: u64,

    /// Milliseconds between two batched writes of the SCIM request log.
    #[arg(long, env = "SEATFLOW_REQUEST_LOG_FLUSH_MS", default_value_t = 500)]
    pub request_log_flush_ms: u64,

    /// Milliseconds between two evaluations of each license's SCIM error rate.
    #[arg(
        long,
        env = "SEATFLOW_ERROR_RATE_INTERVAL_MS",
        default_value_t = 15_000
    )]
    pub error_rate_interval_ms: u64,

    /// Seconds of SCIM requests the error rate is computed over.
    #[arg(long, env = "SEATFLOW_ERROR_RATE_WINDOW_SECS", default_value_t = 300)]
    pub error_rate_window_secs: u64,

    /// Share of failed SCIM requests (0 to 1) at which `directory.error_rate_high` is told,
    /// well before Entra's quarantine at 40%; the warning re-arms below half of it.
    #[arg(long, env = "SEATFLOW_ERROR_RATE_WARN_SHARE", default_value_t = 0.25, value_parser = share)]
    pub error_rate_warn_share: f64,

    /// Fewest SCIM requests in the window for the error rate to count.
    #[arg(long, env = "SEATFLOW_ERROR_RATE_MIN_REQUESTS", default_value_t = 20)]
    pub error_rate_min_requests: i64,

    /// Batching, retries and queue names, shared with `seatflow-worker`.
    #[command(flatten)]
    pub worker: seatflow_queue::Settings,

    /// Webhook delivery (run here in the embedded default, by `seatflow-worker` otherwise).
    #[command(flatten)]
    pub webhooks: seatflow_feed::webhooks::Settings,
}

impl Config {
    /// The limits the filter parser and the PATCH engine enforce.
    pub fn limits(&self) -> Limits {
        Limits {
            filter_bytes: self.max_filter_bytes,
            filter_depth: self.max_filter_depth,
            patch_operations: self.max_patch_operations,
        }
    }

    /// The SCIM base URL that Tenant URLs and `meta.location` are built from.
    pub fn tenant_url(&self) -> String {
        format!("{}/scim/v2", self.public_url.trim_end_matches('/'))
    }
}

/// A share strictly above 0 and at most 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err(format!("{text:?} is not a share above 0 and at most 1")),
    }
}
