//! What both transports report about applying events: counters, the commit-to-applied lag
//! histogram, and a log span per event carrying the request id of the SCIM request that caused
//! it, so a request can be followed from the API's log into the worker's.

use std::collections::HashSet;

use seatflow_shared::db::Db;
use seatflow_shared::store::monitor::millis_between;
use seatflow_shared::store::outbox::OutboxRow;
use seatflow_shared::telemetry::{EVENT_LAG, EVENTS_APPLIED, EVENTS_DEAD, EVENTS_RETRIED};
use seatflow_shared::time;
use tracing::Instrument;

use crate::apply::{self, Failed};

/// Which transport applied an event (the `transport` label).
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Embedded,
    Amqp,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Embedded => "embedded",
            Transport::Amqp => "rabbitmq",
        }
    }
}

fn event_span(row: &OutboxRow) -> tracing::Span {
    tracing::info_span!(
        "event",
        event_id = row.id,
        license_id = %row.license_id,
        request_id = row.request_id.as_deref().unwrap_or(""),
    )
}

/// Applies a batch (see `apply::apply_batch`) and records what was applied.
pub async fn apply_batch(db: &Db, rows: Vec<OutboxRow>, transport: Transport) -> Vec<Failed> {
    let batch = rows.clone();
    let span = tracing::debug_span!("apply_batch", events = batch.len());
    let failed = apply::apply_batch(db, rows).instrument(span).await;
    let failed_ids: HashSet<i64> = failed.iter().map(|f| f.row.id).collect();
    let now = time::now();
    let mut applied = 0u64;
    for row in batch.iter().filter(|r| !failed_ids.contains(&r.id)) {
        applied += 1;
        let lag_ms = millis_between(&row.created_at, &now);
        if let Some(lag_ms) = lag_ms {
            metrics::histogram!(EVENT_LAG).record(lag_ms as f64 / 1000.0);
        }
        event_span(row).in_scope(|| tracing::debug!(lag_ms, "event applied"));
    }
    metrics::counter!(EVENTS_APPLIED, "transport" => transport.label()).increment(applied);
    failed
}

/// Logs and counts a failed attempt: retried later, or dead-lettered when `exhausted`.
pub fn failure(row: &OutboxRow, attempts: i32, exhausted: bool, error: &str, transport: Transport) {
    let name = if exhausted {
        EVENTS_DEAD
    } else {
        EVENTS_RETRIED
    };
    metrics::counter!(name, "transport" => transport.label()).increment(1);
    event_span(row).in_scope(|| tracing::warn!(attempts, exhausted, error, "event failed"));
}
