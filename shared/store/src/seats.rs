//! Seat rows: one per entitled user of a license (or one in its release grace period),
//! `assigned` or `blocked` (waiting). The queue order is the user's priority (highest first:
//! that of their highest licensed group), then `queued_at` (when the user became entitled),
//! then `joined_at` (when they joined a licensed group: the provider's sync order), then user
//! id. A row in grace (`grace_until` set) keeps its place but is never promoted.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use serde::Serialize;

use crate::Result;
use crate::db::DbConn;
use crate::db::schema::{licenses, seats, users};

// The seat table's vocabulary is the license extension's (what SCIM clients filter on).
pub use seatflow_scim::resource::Seat;
pub use seatflow_scim::resource::seat::{
    ASSIGNED, AWAITING_ADMIN, BLOCKED, IN_GRACE, NO_SEATS_AVAILABLE, NONE, NOT_ENTITLED,
};

/// Ids are bound in chunks this size (SQLite and PostgreSQL cap bind parameters).
const CHUNK: usize = 1000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = seats)]
pub struct SeatRow {
    pub user_id: String,
    pub status: String,
    pub since: String,
    pub reason: Option<String>,
    pub queued_at: String,
    pub joined_at: String,
    pub priority: i32,
    pub grace_until: Option<String>,
}

/// A user who became entitled: their join time to a licensed group and their priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newcomer<'a> {
    pub user_id: &'a str,
    pub joined_at: &'a str,
    pub priority: i32,
}

/// One chunk of a license's rows, by user id (`CHUNK` at most: bind parameters are capped).
#[diesel::dsl::auto_type(no_type_alias)]
fn rows_of<'a>(license_id: &'a str, chunk: &'a [String]) -> _ {
    seats::table
        .filter(seats::license_id.eq(license_id))
        .filter(seats::user_id.eq_any(chunk))
}

pub fn rows_for(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, SeatRow>> {
    let mut found = HashMap::new();
    for chunk in user_ids.chunks(CHUNK) {
        let rows: Vec<SeatRow> = rows_of(license_id, chunk)
            .select(SeatRow::as_select())
            .load(conn)?;
        found.extend(rows.into_iter().map(|r| (r.user_id.clone(), r)));
    }
    Ok(found)
}

/// The seat row of a user about to be deleted, with the user and the row locked until the
/// transaction ends, so the deletion sees the seat as a concurrent reconcile leaves it (a seat
/// just assigned is released with the user, not dequeued): the user's row first, as a
/// reconcile inserting their seat row holds a key-share lock on it, then the seat row, which a
/// reconcile assigning it holds. SQLite write transactions are serialised already.
pub fn locked_for_deletion(
    conn: &mut DbConn,
    license_id: &str,
    user_id: &str,
) -> Result<Option<SeatRow>> {
    let row = seats::table
        .filter(seats::license_id.eq(license_id))
        .filter(seats::user_id.eq(user_id));
    Ok(match conn {
        DbConn::Pg(pg) => {
            users::table
                .find(user_id)
                .select(users::id)
                .for_update()
                .first::<String>(pg)
                .optional()?;
            row.select(SeatRow::as_select())
                .for_update()
                .first(pg)
                .optional()?
        }
        DbConn::Sqlite(lite) => row.select(SeatRow::as_select()).first(lite).optional()?,
    })
}

/// Every user holding a seat row (assigned or waiting).
pub fn holders(conn: &mut DbConn, license_id: &str) -> Result<Vec<String>> {
    Ok(seats::table
        .filter(seats::license_id.eq(license_id))
        .select(seats::user_id)
        .load(conn)?)
}

/// New waiting rows queued `now`: one multi-row insert per chunk (a reconcile of 1,000
/// newcomers was 1,000 round trips).
pub fn insert_blocked(
    conn: &mut DbConn,
    license_id: &str,
    joining: &[Newcomer<'_>],
    now: &str,
) -> Result<()> {
    let rows: Vec<_> = joining
        .iter()
        .map(|n| {
            (
                seats::license_id.eq(license_id),
                seats::user_id.eq(n.user_id),
                seats::status.eq(BLOCKED),
                seats::since.eq(now),
                seats::reason.eq(NO_SEATS_AVAILABLE),
                seats::queued_at.eq(now),
                seats::joined_at.eq(n.joined_at),
                seats::priority.eq(n.priority),
            )
        })
        .collect();
    // Multi-row inserts are written per backend (diesel's multi-backend type cannot).
    for chunk in rows.chunks(CHUNK) {
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(seats::table)
                .values(chunk)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(seats::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, license_id: &str, user_ids: &[String]) -> Result<()> {
    for chunk in user_ids.chunks(CHUNK) {
        diesel::delete(rows_of(license_id, chunk)).execute(conn)?;
    }
    Ok(())
}

/// Assigns seats to waiting users; how many rows it changed (fewer than `user_ids` when some
/// rows went meanwhile, with their users).
pub fn assign(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
    now: &str,
) -> Result<usize> {
    let mut assigned = 0;
    for chunk in user_ids.chunks(CHUNK) {
        assigned += diesel::update(rows_of(license_id, chunk))
            .set((
                seats::status.eq(ASSIGNED),
                seats::since.eq(now),
                seats::reason.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(assigned)
}

/// Sets the priority of rows (after a priority or membership change), one update per value.
pub fn set_priority(conn: &mut DbConn, license_id: &str, changed: &[(String, i32)]) -> Result<()> {
    let mut by_priority: std::collections::BTreeMap<i32, Vec<String>> = Default::default();
    for (user_id, priority) in changed {
        by_priority
            .entry(*priority)
            .or_default()
            .push(user_id.clone());
    }
    for (priority, ids) in by_priority {
        for chunk in ids.chunks(CHUNK) {
            diesel::update(rows_of(license_id, chunk))
                .set(seats::priority.eq(priority))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Starts the release grace period of rows whose users lost entitlement: kept until `until`.
pub fn start_grace(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
    until: &str,
) -> Result<()> {
    for chunk in user_ids.chunks(CHUNK) {
        diesel::update(rows_of(license_id, chunk))
            .set((seats::grace_until.eq(until), seats::reason.eq(IN_GRACE)))
            .execute(conn)?;
    }
    Ok(())
}

/// Ends the grace period of users entitled again: the seat (or the place in the queue) stays.
pub fn end_grace(conn: &mut DbConn, license_id: &str, user_ids: &[String]) -> Result<()> {
    for chunk in user_ids.chunks(CHUNK) {
        diesel::update(rows_of(license_id, chunk).filter(seats::status.eq(ASSIGNED)))
            .set((
                seats::grace_until.eq(None::<String>),
                seats::reason.eq(None::<String>),
            ))
            .execute(conn)?;
        diesel::update(rows_of(license_id, chunk).filter(seats::status.eq(BLOCKED)))
            .set((
                seats::grace_until.eq(None::<String>),
                seats::reason.eq(NO_SEATS_AVAILABLE),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Users whose grace period ended by `now`, `(license id, user id)`, at most `limit`.
pub fn grace_expired(conn: &mut DbConn, now: &str, limit: i64) -> Result<Vec<(String, String)>> {
    Ok(seats::table
        .filter(seats::grace_until.le(now))
        .order((seats::license_id, seats::user_id))
        .limit(limit)
        .select((seats::license_id, seats::user_id))
        .load(conn)?)
}

/// Assigned seats in their grace period.
pub fn in_grace_count(conn: &mut DbConn, license_id: &str) -> Result<i64> {
    count(conn, license_id, ASSIGNED, Some(true))
}

/// Seat holders (assigned) who are members of `group_id`.
pub fn holders_in_group(
    conn: &mut DbConn,
    license_id: &str,
    group_id: &str,
) -> Result<Vec<String>> {
    use crate::db::schema::group_members;
    Ok(seats::table
        .inner_join(group_members::table.on(group_members::user_id.eq(seats::user_id)))
        .filter(seats::license_id.eq(license_id))
        .filter(seats::status.eq(ASSIGNED))
        .filter(group_members::group_id.eq(group_id))
        .select(seats::user_id)
        .load(conn)?)
}

/// Members of `group_id` waiting (not in grace), in queue order.
pub fn waiting_in_group(
    conn: &mut DbConn,
    license_id: &str,
    group_id: &str,
) -> Result<Vec<String>> {
    use crate::db::schema::group_members;
    Ok(seats::table
        .inner_join(group_members::table.on(group_members::user_id.eq(seats::user_id)))
        .filter(seats::license_id.eq(license_id))
        .filter(seats::status.eq(BLOCKED))
        .filter(seats::grace_until.is_null())
        .filter(group_members::group_id.eq(group_id))
        .order((
            seats::priority.desc(),
            seats::queued_at,
            seats::joined_at,
            seats::user_id,
        ))
        .select(seats::user_id)
        .load(conn)?)
}

/// Sets the reason of waiting users (e.g. seats free but automatic promotion off).
pub fn set_reason(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
    reason: &str,
) -> Result<()> {
    for chunk in user_ids.chunks(CHUNK) {
        diesel::update(rows_of(license_id, chunk).filter(seats::status.eq(BLOCKED)))
            .set(seats::reason.eq(reason))
            .execute(conn)?;
    }
    Ok(())
}

pub fn assigned_count(conn: &mut DbConn, license_id: &str) -> Result<i64> {
    count(conn, license_id, ASSIGNED, None)
}

/// How many users wait in the license's queue.
pub fn waiting_count(conn: &mut DbConn, license_id: &str) -> Result<i64> {
    count(conn, license_id, BLOCKED, None)
}

/// How many users wait in the license's queue and may be promoted (not in grace).
pub fn promotable_count(conn: &mut DbConn, license_id: &str) -> Result<i64> {
    count(conn, license_id, BLOCKED, Some(false))
}

/// The license's rows of `status`: all of them, or only those in grace (`Some(true)`) or out of it.
fn count(conn: &mut DbConn, license_id: &str, status: &str, in_grace: Option<bool>) -> Result<i64> {
    let rows = seats::table
        .filter(seats::license_id.eq(license_id))
        .filter(seats::status.eq(status))
        .into_boxed();
    let rows = match in_grace {
        None => rows,
        Some(true) => rows.filter(seats::grace_until.is_not_null()),
        Some(false) => rows.filter(seats::grace_until.is_null()),
    };
    Ok(rows.count().get_result(conn)?)
}

/// The first `limit` waiting users in queue order (rows in grace are passed over).
pub fn queue_head(conn: &mut DbConn, license_id: &str, limit: i64) -> Result<Vec<String>> {
    Ok(seats::table
        .filter(seats::license_id.eq(license_id))
        .filter(seats::status.eq(BLOCKED))
        .filter(seats::grace_until.is_null())
        .order((
            seats::priority.desc(),
            seats::queued_at,
            seats::joined_at,
            seats::user_id,
        ))
        .limit(limit)
        .select(seats::user_id)
        .load(conn)?)
}

/// A waiting row's place in the queue order, as it sorts.
type QueueKey = (std::cmp::Reverse<i32>, String, String, String);

/// Of `user_ids`, the waiting rows not in grace, sorted in queue order.
fn queue_keys(conn: &mut DbConn, license_id: &str, user_ids: &[String]) -> Result<Vec<QueueKey>> {
    let mut waiting: Vec<QueueKey> = Vec::new();
    for chunk in user_ids.chunks(CHUNK) {
        let rows = seats::table
            .filter(seats::license_id.eq(license_id))
            .filter(seats::status.eq(BLOCKED))
            .filter(seats::grace_until.is_null())
            .filter(seats::user_id.eq_any(chunk))
            .select((
                seats::priority,
                seats::queued_at,
                seats::joined_at,
                seats::user_id,
            ))
            .load::<(i32, String, String, String)>(conn)?;
        waiting.extend(
            rows.into_iter()
                .map(|(p, q, j, id)| (std::cmp::Reverse(p), q, j, id)),
        );
    }
    waiting.sort();
    Ok(waiting)
}

/// Of `user_ids`, the waiting ones not in grace, in queue order.
pub fn queue_order(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<Vec<String>> {
    Ok(queue_keys(conn, license_id, user_ids)?
        .into_iter()
        .map(|(_, _, _, id)| id)
        .collect())
}

/// The 1-based queue positions of users who joined the queue in the pass just made: they are
/// the newest of their priority, so behind everyone waiting at that priority or above.
pub fn newcomer_positions(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, i64>> {
    let keys = queue_keys(conn, license_id, user_ids)?;
    let mut positions = HashMap::new();
    for same in keys.chunk_by(|a, b| a.0 == b.0) {
        let priority = same[0].0.0;
        let at_or_above: i64 = seats::table
            .filter(seats::license_id.eq(license_id))
            .filter(seats::status.eq(BLOCKED))
            .filter(seats::priority.ge(priority))
            .count()
            .get_result(conn)?;
        let ahead = at_or_above - same.len() as i64;
        for ((_, _, _, id), n) in same.iter().zip(1..) {
            positions.insert(id.clone(), ahead + n);
        }
    }
    Ok(positions)
}

pub fn set_seats_used(conn: &mut DbConn, license_id: &str, used: i64) -> Result<()> {
    diesel::update(licenses::table.find(license_id))
        .set(licenses::seats_used.eq(used))
        .execute(conn)?;
    Ok(())
}

/// A seat as the admin pages and API show it.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct SeatView {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Text)]
    pub since: String,
    /// 1 for the next user to get a seat; None for assigned seats.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub queue_position: Option<i64>,
    /// The user's priority: that of their highest licensed group.
    #[diesel(sql_type = Integer)]
    pub priority: i32,
    /// Until when a user who lost entitlement keeps the seat (or place); None when entitled.
    #[diesel(sql_type = Nullable<Text>)]
    pub grace_until: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SeatQuery {
    /// `assigned` or `blocked`; None for both.
    pub status: Option<String>,
    /// Case-insensitive substring of the userName.
    pub search: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// Seats with their queue positions: assigned first (oldest first), then the queue in order.
pub fn list(conn: &mut DbConn, license_id: &str, query: &SeatQuery) -> Result<Vec<SeatView>> {
    let status = query.status.clone().unwrap_or_default();
    let search = query.search.as_deref().unwrap_or_default().to_lowercase();
    let pattern = format!("%{}%", crate::filter_sql::escape_like(&search));
    // Each parameter is used once: SQLite numbers repeated `$n` differently from PostgreSQL.
    let sql = "SELECT user_id, user_name, status, reason, since, queue_position, priority, \
          grace_until FROM ( \
          SELECT s.user_id, u.user_name, u.user_name_key, s.status, s.reason, s.since, \
            s.priority, s.grace_until, \
            CASE WHEN s.status = 'blocked' THEN ROW_NUMBER() OVER ( \
              PARTITION BY s.status \
              ORDER BY s.priority DESC, s.queued_at, s.joined_at, s.user_id) END AS queue_position \
          FROM seats s JOIN users u ON u.id = s.user_id WHERE s.license_id = $1) q \
        WHERE ($2 = '' OR status = $3) AND user_name_key LIKE $4 ESCAPE '\\' \
        ORDER BY CASE status WHEN 'assigned' THEN 0 ELSE 1 END, queue_position, since, user_id \
        LIMIT $5 OFFSET $6";
    Ok(diesel::sql_query(sql)
        .bind::<Text, _>(license_id)
        .bind::<Text, _>(&status)
        .bind::<Text, _>(&status)
        .bind::<Text, _>(pattern)
        .bind::<BigInt, _>(query.limit)
        .bind::<BigInt, _>(query.offset)
        .load(conn)?)
}

/// A user's standing on one license, for the product's sign-in check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entitlement {
    pub license_id: String,
    pub license_name: String,
    pub user_id: String,
    /// `assigned`, `blocked`, or `none` (synced but not entitled: inactive or not in a
    /// licensed group).
    pub status: String,
    pub reason: Option<String>,
}

/// Every license on which `email` is a synced user (userName, case-insensitive), with its seat.
pub fn entitlements(conn: &mut DbConn, email: &str) -> Result<Vec<Entitlement>> {
    // (license id, license name, user id, seat status, seat reason)
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = users::table
        .inner_join(licenses::table)
        .left_join(
            seats::table.on(seats::user_id
                .eq(users::id)
                .and(seats::license_id.eq(users::license_id))),
        )
        .filter(users::user_name_key.eq(email.trim().to_lowercase()))
        .order(licenses::name)
        .select((
            licenses::id,
            licenses::name,
            users::id,
            seats::status.nullable(),
            seats::reason.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(license_id, license_name, user_id, status, reason)| {
            let (status, reason) = match status {
                Some(status) => (status, reason),
                None => (
                    seatflow_scim::resource::seat::NONE.to_owned(),
                    Some(NOT_ENTITLED.to_owned()),
                ),
            };
            Entitlement {
                license_id,
                license_name,
                user_id,
                status,
                reason,
            }
        })
        .collect())
}

/// Seat status of some users of a license, for the SCIM extension attributes.
pub fn statuses(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, Seat>> {
    Ok(rows_for(conn, license_id, user_ids)?
        .into_iter()
        .map(|(id, row)| (id, (row.status, row.reason)))
        .collect())
}

/// How far a license's setup has come: what the identity provider synced and what licensing
/// made of it (the license admin's overview and setup checklist).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetupCounts {
    pub users: i64,
    pub groups: i64,
    pub licensed_groups: i64,
    pub assigned: i64,
    pub blocked: i64,
    pub live_tokens: i64,
}

pub fn setup_counts(conn: &mut DbConn, license_id: &str) -> Result<SetupCounts> {
    use crate::db::schema::{groups, licensed_groups, scim_tokens, users};
    let users: i64 = users::table
        .filter(users::license_id.eq(license_id))
        .count()
        .get_result(conn)?;
    let groups: i64 = groups::table
        .filter(groups::license_id.eq(license_id))
        .count()
        .get_result(conn)?;
    let licensed_groups: i64 = licensed_groups::table
        .filter(licensed_groups::license_id.eq(license_id))
        .count()
        .get_result(conn)?;
    let live_tokens: i64 = scim_tokens::table
        .filter(scim_tokens::license_id.eq(license_id))
        .filter(scim_tokens::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(SetupCounts {
        users,
        groups,
        licensed_groups,
        assigned: assigned_count(conn, license_id)?,
        blocked: waiting_count(conn, license_id)?,
        live_tokens,
    })
}
