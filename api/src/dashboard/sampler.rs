//! Samples what the dashboard charts every few seconds into a ring buffer of the last 15
//! minutes, and publishes the same readings as Prometheus gauges. Counts come from the database
//! (so they cover every process of a deployment) except SCIM request rates, which are this
//! process's own, and queue depths in RabbitMQ mode, which come from the broker.

use std::time::{Duration, Instant};

use lapin::{Channel, Connection, ConnectionProperties};
use seatflow_queue::monitor::{self, LicenseLoad, QueueDepth};
use seatflow_queue::rabbitmq::Topology;
use seatflow_runtime::telemetry::{
    self, LICENSE_SEATS, LICENSE_SEATS_BLOCKED, LICENSE_SEATS_USED, OLDEST_PENDING, QUEUE_DEPTH,
};
use seatflow_store::{Result, time};
use tokio::sync::watch;

use crate::dashboard::history::{Sample, StatusCounts};
use crate::dashboard::webhooks;
use crate::state::AppState;

pub const EVERY: Duration = Duration::from_secs(5);
const BROKER_TIMEOUT: Duration = Duration::from_secs(3);

/// Samples until `shutdown` turns true.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut broker = state.config.amqp_url.clone().map(Broker::new);
    // The first sample covers only the moment since start.
    let mut previous = (Instant::now(), time::now(), state.scim_requests.totals());
    loop {
        let (started_at, since, before) = &previous;
        let now = (Instant::now(), time::now(), state.scim_requests.totals());
        let elapsed = now.0.duration_since(*started_at).as_secs_f64().max(1.0);
        match sample(
            &state,
            broker.as_mut(),
            since,
            &now.1,
            elapsed,
            before,
            &now.2,
        )
        .await
        {
            Ok(sample) => {
                state.history.push(sample);
                previous = now;
            }
            Err(e) => tracing::warn!(error = %e, "could not sample the dashboard's readings"),
        }
        let pool = state.db.pool_state();
        telemetry::record_pool(pool.connections, pool.idle_connections, state.db.pool_max());
        crate::http::telemetry::prometheus().run_upkeep();
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn sample(
    state: &AppState,
    broker: Option<&mut Broker>,
    since: &str,
    at: &str,
    elapsed: f64,
    before: &StatusCounts<u64>,
    after: &StatusCounts<u64>,
) -> Result<Sample> {
    let limit = state.config.metrics_max_licenses;
    let since_owned = since.to_owned();
    // Per-minute figures count the last minute, not a 5-second window scaled up.
    let minute_ago = time::before(Duration::from_secs(60));
    let at_owned = at.to_owned();
    let (activity, (retried, dead_lettered), outbox_depth, oldest, licenses, webhooks) = state
        .db
        .read(move |c| {
            Ok((
                monitor::activity(c, &since_owned)?,
                monitor::failures(c, &minute_ago)?,
                monitor::outbox_depth(c)?,
                monitor::oldest_pending_at(c)?,
                monitor::top_licenses(c, limit)?,
                webhooks::read(c, &minute_ago, &at_owned)?,
            ))
        })
        .await?;
    let queue = match broker {
        None => Some(outbox_depth),
        Some(broker) => broker.depths(state).await,
    };
    let oldest_pending_secs = oldest
        .as_deref()
        .and_then(|o| monitor::millis_between(o, at))
        .map(|ms| ms / 1000);
    publish_gauges(queue.as_ref(), oldest_pending_secs, &licenses);
    let rate = |n: u64, m: u64| n.saturating_sub(m) as f64 / elapsed;
    let per_sec = |n: i64| n as f64 / elapsed;
    Ok(Sample {
        at: at.to_owned(),
        scim_per_sec: StatusCounts {
            s2xx: rate(after.s2xx, before.s2xx),
            s3xx: rate(after.s3xx, before.s3xx),
            s4xx: rate(after.s4xx, before.s4xx),
            s5xx: rate(after.s5xx, before.s5xx),
        },
        enqueued_per_sec: per_sec(activity.enqueued),
        applied_per_sec: per_sec(activity.applied),
        retries_per_min: retried as f64,
        dead_letters_per_min: dead_lettered as f64,
        queue,
        lag_p50_ms: monitor::quantile(&activity.lags_ms, 0.5),
        lag_p95_ms: monitor::quantile(&activity.lags_ms, 0.95),
        oldest_pending_secs,
        webhooks,
    })
}

fn publish_gauges(queue: Option<&QueueDepth>, oldest: Option<i64>, licenses: &[LicenseLoad]) {
    if let Some(queue) = queue {
        for (name, depth) in [
            ("work", queue.work),
            ("delay", queue.delay),
            ("parking", queue.parking),
        ] {
            metrics::gauge!(QUEUE_DEPTH, "queue" => name).set(depth as f64);
        }
    }
    metrics::gauge!(OLDEST_PENDING).set(oldest.unwrap_or(0) as f64);
    for license in licenses {
        let labels = [
            ("license_id", license.id.clone()),
            ("license", license.name.clone()),
        ];
        metrics::gauge!(LICENSE_SEATS, &labels).set(license.seats as f64);
        metrics::gauge!(LICENSE_SEATS_USED, &labels).set(license.seats_used as f64);
        metrics::gauge!(LICENSE_SEATS_BLOCKED, &labels).set(license.blocked as f64);
    }
}

/// The sampler's own broker connection (RabbitMQ mode), opened on demand and dropped on error.
struct Broker {
    url: String,
    open: Option<(Connection, Channel)>,
}

impl Broker {
    fn new(url: String) -> Broker {
        Broker { url, open: None }
    }

    async fn depths(&mut self, state: &AppState) -> Option<QueueDepth> {
        let settings = &state.config.worker;
        let topology = Topology {
            prefix: settings.amqp_prefix.clone(),
            tiers: settings.retry().tiers(),
        };
        let result = tokio::time::timeout(BROKER_TIMEOUT, async {
            let (connection, channel) = match self.open.take() {
                Some(open) => open,
                None => self.connect(&topology).await?,
            };
            let depths = topology.depths(&channel).await?;
            // Kept only after a success: any error reconnects on the next sample.
            self.open = Some((connection, channel));
            Ok::<_, lapin::Error>(depths)
        })
        .await;
        match result {
            Ok(Ok([work, delay, parking])) => Some(QueueDepth {
                work: work.into(),
                delay: delay.into(),
                parking: parking.into(),
            }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read queue depths from the broker");
                None
            }
            Err(_) => {
                tracing::warn!("the broker did not report queue depths in time");
                None
            }
        }
    }

    async fn connect(&self, topology: &Topology) -> Result<(Connection, Channel), lapin::Error> {
        let name = format!("{}-monitor", topology.prefix);
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let connection = Connection::connect(&self.url, properties).await?;
        let channel = connection.create_channel().await?;
        topology.declare(&channel).await?;
        Ok((connection, channel))
    }
}
