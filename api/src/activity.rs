//! Recognising the identity provider's Test Connection, so the sync health (and the license
//! admin's setup checklist) can show when it last ran.

use seatflow_shared::db::Db;
use seatflow_shared::scim::filter::{CompValue, CompareOp, Filter};
use seatflow_shared::store::licenses;
use seatflow_shared::time;

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

#[cfg(test)]
mod tests {
    use seatflow_shared::scim::filter::parse;

    use super::is_test_connection;

    #[test]
    fn only_an_empty_guid_probe_is_a_test_connection() {
        let probe = parse("userName eq \"3f1c5c2e-0000-4000-8000-000000000000\"").ok();
        assert!(is_test_connection(probe.as_ref(), 0));
        assert!(!is_test_connection(probe.as_ref(), 1));
        let create_check = parse("userName eq \"ada@contoso.com\"").ok();
        assert!(!is_test_connection(create_check.as_ref(), 0));
        assert!(!is_test_connection(None, 0));
    }
}
