//! What the consumer reports about applying events: counters, the commit-to-applied lag
//! histogram, and a log span per event carrying the request id of the request that caused it,
//! so a request can be followed from the API's log into the worker's.

use std::collections::BTreeMap;

use seatflow_runtime::telemetry::{EVENT_LAG, EVENTS_APPLIED, EVENTS_DEAD, EVENTS_RETRIED};
use seatflow_store::time;

use crate::events::Event;
use crate::monitor::millis_between;

fn event_span(event: &Event) -> tracing::Span {
    tracing::info_span!(
        "event",
        event_id = event.id,
        license_id = %event.license_id,
        request_id = event.request_id.as_deref().unwrap_or(""),
    )
}

/// Counts and logs the events of a batch that were applied: all but the `failed` ones (by id).
pub fn applied(events: &[Event], failed: &BTreeMap<i64, String>, transport: &'static str) {
    let now = time::now();
    let mut applied = 0u64;
    for event in events.iter().filter(|e| !failed.contains_key(&e.id)) {
        applied += 1;
        let lag_ms = millis_between(&event.created_at, &now);
        if let Some(lag_ms) = lag_ms {
            metrics::histogram!(EVENT_LAG).record(lag_ms as f64 / 1000.0);
        }
        event_span(event).in_scope(|| tracing::debug!(lag_ms, "event applied"));
    }
    metrics::counter!(EVENTS_APPLIED, "transport" => transport).increment(applied);
}

/// Logs and counts a failed attempt: retried later, or parked when `exhausted`.
pub fn failure(event: &Event, exhausted: bool, error: &str, transport: &'static str) {
    let name = if exhausted {
        EVENTS_DEAD
    } else {
        EVENTS_RETRIED
    };
    metrics::counter!(name, "transport" => transport).increment(1);
    let attempts = event.attempts;
    event_span(event).in_scope(|| tracing::warn!(attempts, exhausted, error, "event failed"));
}
