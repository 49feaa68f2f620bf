//! What the identity provider has been doing, for the sync health (and the license admin's
//! setup checklist): its Test Connection, and its requests by status.

use std::time::Instant;

use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use seatflow_scim::filter::{CompValue, CompareOp, Filter};
use seatflow_store::db::Db;
use seatflow_store::licenses;
use seatflow_store::scim_requests::NewRequest;
use seatflow_store::time;

use crate::http::request_id::RequestId;
use crate::scim::feed;
use crate::scim::request_buffer;
use crate::scim::request_log::TenantSlot;
use crate::state::AppState;

/// Entra's Test Connection looks up a user whose userName is a random GUID and expects none.
pub fn is_test_connection(filter: Option<&Filter>, total: i64) -> bool {
    match filter {
        Some(Filter::Compare(path, CompareOp::Eq, CompValue::Str(value))) => {
            total == 0
                && path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("userName")
                && uuid::Uuid::parse_str(value).is_ok()
        }
        _ => false,
    }
}

/// Records a Test Connection and its feed event before the probe is answered (a probe is rare
/// and not latency-bound; once answered, what it shows is recorded). A failure to record is
/// logged, not the probe's failure.
pub async fn record_test_connection(db: &Db, license_id: String, request_id: String) {
    let now = time::now();
    let recorded = db
        .write(move |c| {
            licenses::record_activity(c, &license_id, &now, true)?;
            let event = feed::test_connection(&license_id);
            seatflow_feed::event::record(c, &license_id, &[event], Some(&request_id))
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a Test Connection");
    }
}

/// Counts each authenticated SCIM request by license and status, and queues it for the
/// persisted request log (`scim::request_buffer`; written in batches, off the request path).
pub async fn count_requests(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let slot = TenantSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().as_str().to_owned();
    // Nested routers see their path without the mount point; the log keeps the whole one.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |original| original.0.clone());
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let response = next.run(request).await;
    if let Some(license_id) = slot.0.get() {
        let status = response.status().as_u16();
        state.requests.record(license_id, status);
        state.pending_requests.push(NewRequest {
            license_id: license_id.clone(),
            method,
            path: request_buffer::redact(uri.path(), uri.query(), &state.limits),
            status: i32::from(status),
            latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
            request_id,
            created_at: time::now(),
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use seatflow_scim::filter;
    use seatflow_scim::limits::Limits;

    use super::is_test_connection;

    #[test]
    fn only_an_empty_guid_probe_is_a_test_connection() {
        let parse = |text: &str| filter::parse(text, &Limits::DEFAULT).ok();
        let probe = parse("userName eq \"3f1c5c2e-0000-4000-8000-000000000000\"");
        assert!(is_test_connection(probe.as_ref(), 0));
        assert!(!is_test_connection(probe.as_ref(), 1));
        let create_check = parse("userName eq \"ada@contoso.com\"");
        assert!(!is_test_connection(create_check.as_ref(), 0));
        assert!(!is_test_connection(None, 0));
    }
}
