//! Reading the feed: events after a cursor (the Events API, webhook delivery), the events a
//! request caused (the SCIM request log), and pruning what is past retention.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::feed_events;
use seatflow_store::{Result, time};

use crate::event::{FeedEvent, TypeFilter};

#[derive(Queryable, Selectable)]
#[diesel(table_name = feed_events)]
struct Row {
    event_id: String,
    seq: Option<i64>,
    license_id: String,
    event_type: String,
    subject: Option<String>,
    data: String,
    request_id: Option<String>,
    created_at: String,
}

impl From<Row> for FeedEvent {
    fn from(row: Row) -> FeedEvent {
        FeedEvent {
            id: row.event_id,
            sequence: row.seq.unwrap_or_default(),
            event_type: row.event_type,
            timestamp: row.created_at,
            license_id: row.license_id,
            subject: row.subject,
            request_id: row.request_id,
            data: serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// One license's events; None: the whole deployment's (the operator's).
    pub license_id: Option<String>,
    /// Events after this sequence number (0: from the oldest retained).
    pub after: i64,
    pub limit: i64,
    pub types: TypeFilter,
}

/// Sequenced events after the cursor, in feed order.
pub fn list(conn: &mut DbConn, query: &Query) -> Result<Vec<FeedEvent>> {
    let mut q = feed_events::table
        .filter(feed_events::seq.gt(query.after))
        .order(feed_events::seq)
        .limit(query.limit)
        .select(Row::as_select())
        .into_boxed();
    if let Some(license_id) = &query.license_id {
        q = q.filter(feed_events::license_id.eq(license_id.clone()));
    }
    if !query.types.entries().is_empty() {
        q = q.filter(feed_events::event_type.eq_any(query.types.types()));
    }
    Ok(q.load(conn)?.into_iter().map(FeedEvent::from).collect())
}

/// A license's sequenced events before the sequence number `before` (None: from the newest),
/// newest first: the license admin's Events tab, which pages back in time.
pub fn newest_first(
    conn: &mut DbConn,
    license_id: &str,
    types: &TypeFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<FeedEvent>> {
    let mut q = feed_events::table
        .filter(feed_events::license_id.eq(license_id.to_owned()))
        .filter(feed_events::seq.is_not_null())
        .order(feed_events::seq.desc())
        .limit(limit)
        .select(Row::as_select())
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(feed_events::seq.lt(before));
    }
    if !types.entries().is_empty() {
        q = q.filter(feed_events::event_type.eq_any(types.types()));
    }
    Ok(q.load(conn)?.into_iter().map(FeedEvent::from).collect())
}

/// One event by its id, sequenced or not yet.
pub fn get(conn: &mut DbConn, event_id: &str) -> Result<Option<FeedEvent>> {
    Ok(feed_events::table
        .filter(feed_events::event_id.eq(event_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(FeedEvent::from))
}

/// The events caused by any of `request_ids`, in feed order (unsequenced ones last).
pub fn caused_by(
    conn: &mut DbConn,
    license_id: &str,
    request_ids: &[String],
) -> Result<Vec<FeedEvent>> {
    Ok(feed_events::table
        .filter(feed_events::license_id.eq(license_id))
        .filter(feed_events::request_id.eq_any(request_ids))
        .order(feed_events::id)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(FeedEvent::from)
        .collect())
}

/// The newest sequence number (0 for an empty feed): where a new webhook endpoint starts.
pub fn newest(conn: &mut DbConn) -> Result<i64> {
    Ok(feed_events::table
        .select(diesel::dsl::max(feed_events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// The last sequence number before `at` (an RFC 3339 time): where "redeliver everything since
/// `at`" rewinds an endpoint to.
pub fn last_before(conn: &mut DbConn, at: &str) -> Result<i64> {
    Ok(feed_events::table
        .filter(feed_events::created_at.lt(at))
        .select(diesel::dsl::max(feed_events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Whether some committed events wait for the sequencer.
pub fn unsequenced(conn: &mut DbConn) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        feed_events::table.filter(feed_events::seq.is_null()),
    ))
    .get_result(conn)?)
}

/// Events deleted per pruning statement.
const PRUNE_BATCH: i64 = 10_000;

/// Deletes sequenced events older than `retention`. They are the feed's head: it walks the
/// sequence from the oldest instead of keeping an index on the time, which every write would
/// pay for.
pub fn prune(conn: &mut DbConn, retention: Duration) -> Result<usize> {
    let before = time::before(retention);
    let mut pruned = 0;
    loop {
        let deleted = diesel::sql_query(
            "DELETE FROM feed_events WHERE created_at < $1 AND id IN (\
               SELECT id FROM feed_events WHERE seq IS NOT NULL ORDER BY seq LIMIT $2)",
        )
        .bind::<Text, _>(&before)
        .bind::<BigInt, _>(PRUNE_BATCH)
        .execute(conn)?;
        pruned += deleted;
        if deleted < PRUNE_BATCH as usize {
            return Ok(pruned);
        }
    }
}
