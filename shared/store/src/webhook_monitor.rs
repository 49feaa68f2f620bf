//! The webhook deliveries' monitoring queries, for the operator's dashboard: attempts by
//! outcome and how far the endpoints are behind the feed, read from the database so that every
//! process's deliveries count.

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde::Serialize;

use crate::Result;
use crate::db::DbConn;
use crate::db::schema::webhook_attempts;

/// Delivery attempts by how they ended. The attempt log keeps the receiver's status, not
/// whether no answer was a refusal or a timeout: both are `no_answer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Answered 2xx.
    pub delivered: i64,
    /// Answered with another status.
    pub failed: i64,
    /// No answer (refused, reset, timed out).
    pub no_answer: i64,
}

/// Attempts made since `since` (an RFC 3339 time).
pub fn outcomes_since(conn: &mut DbConn, since: &str) -> Result<Outcomes> {
    let by_status: Vec<(Option<i32>, i64)> = webhook_attempts::table
        .filter(webhook_attempts::created_at.ge(since))
        .group_by(webhook_attempts::status_code)
        .select((webhook_attempts::status_code, count_star()))
        .load(conn)?;
    let mut outcomes = Outcomes::default();
    for (status, count) in by_status {
        match status {
            Some(s) if (200..300).contains(&s) => outcomes.delivered += count,
            Some(_) => outcomes.failed += count,
            None => outcomes.no_answer += count,
        }
    }
    Ok(outcomes)
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Text>)]
    created_at: Option<String>,
}

/// When the oldest event an enabled endpoint has yet to handle was recorded; None when every
/// endpoint is up to date. An endpoint's cursor moves past the events its type filter leaves
/// out as the deliverer sees them, so the oldest event after the cursor is what it is behind by.
pub fn oldest_undelivered_at(conn: &mut DbConn) -> Result<Option<String>> {
    let oldest: Oldest = diesel::sql_query(
        "SELECT MIN(f.created_at) AS created_at FROM webhook_endpoints w \
         JOIN feed_events f ON f.seq > w.cursor \
          AND (w.license_id IS NULL OR f.license_id = w.license_id) \
         WHERE w.enabled",
    )
    .get_result(conn)?;
    Ok(oldest.created_at)
}
