//! The transactional outbox: events recorded with the writes that cause them, then claimed (by
//! the relay, or by the embedded transport) with a lease, so a process that dies mid-way leaves
//! nothing stuck: the lease expires and another claim takes the event again.
//!
//! Status: `pending` (to publish, or in the embedded default to apply) → `published` (on the
//! broker) → `applied`; or `dead` after the last allowed attempt, until replayed.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::{license_sync, outbox};
use seatflow_store::{Error, Result, time};
use serde::Serialize;

use crate::events::Event;

pub const PENDING: &str = "pending";
pub const PUBLISHED: &str = "published";
pub const APPLIED: &str = "applied";
pub const DEAD: &str = "dead";

/// An outbox row as claimed; it travels as an [`Event`].
#[derive(Debug, Clone, QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    license_id: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Nullable<Text>)]
    request_id: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Text)]
    created_at: String,
}

impl From<ClaimedRow> for Event {
    fn from(row: ClaimedRow) -> Event {
        let payload =
            serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::String(row.payload));
        Event {
            id: row.id,
            license_id: row.license_id,
            request_id: row.request_id,
            attempts: row.attempts,
            created_at: row.created_at,
            payload,
        }
    }
}

/// Records an event with `payload` (a JSON object) in the caller's transaction.
pub fn enqueue(
    conn: &mut DbConn,
    license_id: &str,
    payload: &impl Serialize,
    request_id: Option<&str>,
) -> Result<i64> {
    let payload = serde_json::to_string(payload).map_err(|e| Error::Internal(e.to_string()))?;
    insert_raw(conn, license_id, &payload, request_id)
}

/// Inserts an event row with the given payload text (tests use it to plant a poison event).
pub fn insert_raw(
    conn: &mut DbConn,
    license_id: &str,
    payload: &str,
    request_id: Option<&str>,
) -> Result<i64> {
    let now = time::now();
    let row = (
        outbox::license_id.eq(license_id),
        outbox::payload.eq(payload),
        outbox::status.eq(PENDING),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(&now),
        outbox::request_id.eq(request_id),
        outbox::created_at.eq(&now),
        outbox::updated_at.eq(&now),
    );
    let id = match conn {
        DbConn::Pg(pg) => diesel::insert_into(outbox::table)
            .values(row)
            .returning(outbox::id)
            .get_result(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_into(outbox::table)
            .values(row)
            .returning(outbox::id)
            .get_result(lite)?,
    };
    Ok(id)
}

/// Claims up to `limit` due pending events for `lease`: until then no other claim takes them.
/// Run it in a write transaction; on PostgreSQL concurrent claimers skip each other's rows.
pub fn claim_due(conn: &mut DbConn, limit: i64, lease: Duration) -> Result<Vec<Event>> {
    let now = time::now();
    let until = time::after(lease);
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let query = format!(
        "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (\
           SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
           ORDER BY id LIMIT $3 {lock}) \
         RETURNING id, license_id, payload, request_id, attempts, created_at"
    );
    let mut rows: Vec<ClaimedRow> = diesel::sql_query(query)
        .bind::<Text, _>(until)
        .bind::<Text, _>(now)
        .bind::<BigInt, _>(limit)
        .load(conn)?;
    rows.sort_by_key(|r| r.id);
    Ok(rows.into_iter().map(Event::from).collect())
}

/// Gives claimed events back at once (a publish failed), instead of waiting for the lease.
pub fn release_claim(conn: &mut DbConn, ids: &[i64]) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::status.eq(PENDING)),
    )
    .set(outbox::next_attempt_at.eq(time::now()))
    .execute(conn)?;
    Ok(())
}

/// Marks events applied.
pub fn mark_applied(conn: &mut DbConn, ids: &[i64]) -> Result<()> {
    diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set((
            outbox::status.eq(APPLIED),
            outbox::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks events published once the broker confirmed them. A worker may already have applied
/// (or dead-lettered) one by then: only rows still pending change.
pub fn mark_published(conn: &mut DbConn, ids: &[i64]) -> Result<()> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::status.eq(PENDING)),
    )
    .set((
        outbox::status.eq(PUBLISHED),
        outbox::updated_at.eq(time::now()),
    ))
    .execute(conn)?;
    Ok(())
}

/// Records a failed attempt. `retry_at` Some: pending again from then (the embedded queue);
/// None: the event waits on the broker's delay queue and keeps its status.
pub fn record_failure(
    conn: &mut DbConn,
    id: i64,
    attempts: i32,
    error: &str,
    retry_at: Option<String>,
) -> Result<()> {
    let now = time::now();
    let target = outbox::table.find(id);
    let base = (
        outbox::attempts.eq(attempts),
        outbox::last_error.eq(error),
        outbox::updated_at.eq(&now),
    );
    match retry_at {
        Some(at) => diesel::update(target)
            .set((
                base,
                outbox::status.eq(PENDING),
                outbox::next_attempt_at.eq(at),
            ))
            .execute(conn)?,
        None => diesel::update(target).set(base).execute(conn)?,
    };
    Ok(())
}

/// The event exhausted its attempts: kept, visible and replayable.
pub fn mark_dead(conn: &mut DbConn, id: i64, attempts: i32, error: &str) -> Result<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(DEAD),
            outbox::attempts.eq(attempts),
            outbox::last_error.eq(error),
            outbox::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = outbox)]
pub struct DeadLetter {
    pub id: i64,
    pub license_id: String,
    pub payload: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub request_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn dead_letters(conn: &mut DbConn) -> Result<Vec<DeadLetter>> {
    Ok(outbox::table
        .filter(outbox::status.eq(DEAD))
        .order(outbox::id)
        .select(DeadLetter::as_select())
        .load(conn)?)
}

/// Puts dead events back in line with fresh attempts; `ids` None replays all. Returns the ids.
pub fn replay(conn: &mut DbConn, ids: Option<&[i64]>) -> Result<Vec<i64>> {
    let mut query = outbox::table
        .filter(outbox::status.eq(DEAD))
        .select(outbox::id)
        .into_boxed();
    if let Some(ids) = ids {
        query = query.filter(outbox::id.eq_any(ids.to_vec()));
    }
    let replayed: Vec<i64> = query.load(conn)?;
    let now = time::now();
    diesel::update(outbox::table.filter(outbox::id.eq_any(&replayed)))
        .set((
            outbox::status.eq(PENDING),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(&now),
            outbox::updated_at.eq(&now),
        ))
        .execute(conn)?;
    Ok(replayed)
}

/// Records that `count` events of a license, the last of them `event_id`, are applied, in the
/// applying transaction.
pub fn record_applied(
    conn: &mut DbConn,
    license_id: &str,
    event_id: i64,
    count: i64,
) -> Result<()> {
    let now = time::now();
    let counted = license_sync::applied_events.eq(license_sync::applied_events + count);
    // Redelivered or reordered batches never move the mark backwards.
    let moved = diesel::update(
        license_sync::table
            .find(license_id)
            .filter(license_sync::last_applied_event_id.lt(event_id)),
    )
    .set((
        license_sync::last_applied_event_id.eq(event_id),
        license_sync::last_applied_at.eq(&now),
        counted,
    ))
    .execute(conn)?;
    if moved == 0 {
        let counted_only = diesel::update(license_sync::table.find(license_id))
            .set(counted)
            .execute(conn)?;
        if counted_only == 0 {
            // The license's first batch; reconciles of one license are serialised, so no other
            // transaction inserts this row meanwhile.
            diesel::insert_into(license_sync::table)
                .values((
                    license_sync::license_id.eq(license_id),
                    license_sync::last_applied_event_id.eq(event_id),
                    license_sync::last_applied_at.eq(&now),
                    license_sync::applied_events.eq(count),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Where a license's events stand: the lag operators watch.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SyncStats {
    /// Events recorded but not yet applied (pending or on the broker).
    pub pending_events: i64,
    pub oldest_pending_at: Option<String>,
    /// Pending events that failed at least once and wait for a retry.
    pub retrying_events: i64,
    pub dead_letters: i64,
    pub last_applied_event_id: Option<i64>,
    pub last_applied_at: Option<String>,
    /// Events applied so far (redeliveries included).
    pub applied_events: i64,
}

pub fn stats(conn: &mut DbConn, license_id: &str) -> Result<SyncStats> {
    let scoped = || outbox::table.filter(outbox::license_id.eq(license_id.to_owned()));
    let in_flight = [PENDING, PUBLISHED];
    let pending_events = scoped()
        .filter(outbox::status.eq_any(in_flight))
        .count()
        .get_result(conn)?;
    let oldest_pending_at = scoped()
        .filter(outbox::status.eq_any(in_flight))
        .select(diesel::dsl::min(outbox::created_at))
        .first(conn)?;
    let retrying_events = scoped()
        .filter(outbox::status.eq_any(in_flight))
        .filter(outbox::attempts.gt(0))
        .count()
        .get_result(conn)?;
    let dead_letters = scoped()
        .filter(outbox::status.eq(DEAD))
        .count()
        .get_result(conn)?;
    let applied: Option<(i64, String, i64)> = license_sync::table
        .find(license_id)
        .select((
            license_sync::last_applied_event_id,
            license_sync::last_applied_at,
            license_sync::applied_events,
        ))
        .first(conn)
        .optional()?;
    Ok(SyncStats {
        pending_events,
        oldest_pending_at,
        retrying_events,
        dead_letters,
        last_applied_event_id: applied.as_ref().map(|a| a.0),
        applied_events: applied.as_ref().map_or(0, |a| a.2),
        last_applied_at: applied.map(|a| a.1),
    })
}

/// Deletes applied events older than `retention`; their effect is recorded in `license_sync`.
pub fn prune_applied(conn: &mut DbConn, retention: Duration) -> Result<usize> {
    let before = time::before(retention);
    Ok(diesel::delete(
        outbox::table
            .filter(outbox::status.eq(APPLIED))
            .filter(outbox::updated_at.lt(before)),
    )
    .execute(conn)?)
}
