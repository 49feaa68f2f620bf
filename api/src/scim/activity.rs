//! What the identity provider has been doing, for the sync health (and the license admin's
//! setup checklist): its Test Connection, and its requests by status.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use seatflow_scim::filter::{CompValue, CompareOp, Filter};
use seatflow_store::db::Db;
use seatflow_store::licenses;
use seatflow_store::time;

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

/// Records a Test Connection off the request path (best effort).
pub fn record_test_connection(db: &Db, license_id: String) {
    let db = db.clone();
    tokio::spawn(async move {
        let now = time::now();
        let recorded = db
            .write(move |c| licenses::record_activity(c, &license_id, &now, true))
            .await;
        if let Err(e) = recorded {
            tracing::debug!(error = %e, "could not record a Test Connection");
        }
    });
}

/// Counts each authenticated SCIM request by license and status.
pub async fn count_requests(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = TenantSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    if let Some(license_id) = slot.0.get() {
        state
            .requests
            .record(license_id, response.status().as_u16());
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
