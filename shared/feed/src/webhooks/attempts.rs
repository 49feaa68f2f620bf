//! The delivery log: every attempt at delivering an event to an endpoint, automatic or
//! manual, kept for the retention (`SEATFLOW_WEBHOOK_LOG_RETENTION_DAYS`).

use std::time::Duration;

use diesel::prelude::*;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::webhook_attempts as wa;
use seatflow_store::{Result, time};
use serde::Serialize;

/// One attempt, as the log lists it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = wa)]
pub struct Attempt {
    pub id: i64,
    pub endpoint_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    /// The how-many-th attempt at this event (automatic ones: of the current streak).
    pub attempt: i32,
    /// The receiver's answer; None when there was none (refused, timed out).
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// Sent on the operator's request (redelivery of one event), not by the deliverer.
    pub manual: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = wa)]
pub struct NewAttempt {
    pub endpoint_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub manual: bool,
    pub created_at: String,
}

pub fn record(conn: &mut DbConn, attempt: &NewAttempt) -> Result<()> {
    diesel::insert_into(wa::table)
        .values(attempt)
        .execute(conn)?;
    Ok(())
}

/// Records an attempt and returns it as the log lists it. Run it in a write transaction, so
/// the newest attempt of its endpoint is this one.
pub fn record_returning(conn: &mut DbConn, attempt: &NewAttempt) -> Result<Attempt> {
    record(conn, attempt)?;
    Ok(wa::table
        .filter(wa::endpoint_id.eq(&attempt.endpoint_id))
        .order(wa::id.desc())
        .select(Attempt::as_select())
        .first(conn)?)
}

/// An endpoint's attempts, newest first, older than the attempt `before` if given.
pub fn list(
    conn: &mut DbConn,
    endpoint_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Attempt>> {
    let mut query = wa::table
        .filter(wa::endpoint_id.eq(endpoint_id.to_owned()))
        .order(wa::id.desc())
        .limit(limit)
        .select(Attempt::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(wa::id.lt(before));
    }
    Ok(query.load(conn)?)
}

/// Attempts already made at one event (a manual redelivery's number).
pub fn count_for(conn: &mut DbConn, endpoint_id: &str, event_id: &str) -> Result<i64> {
    Ok(wa::table
        .filter(wa::endpoint_id.eq(endpoint_id))
        .filter(wa::event_id.eq(event_id))
        .count()
        .get_result(conn)?)
}

/// Deletes attempts older than `retention`.
pub fn prune(conn: &mut DbConn, retention: Duration) -> Result<usize> {
    Ok(
        diesel::delete(wa::table.filter(wa::created_at.lt(time::before(retention))))
            .execute(conn)?,
    )
}
