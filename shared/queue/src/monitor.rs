//! What operators watch, read from the database so that every API process sees the whole
//! deployment (workers in other processes included): event throughput and lag over an
//! interval, outbox queue depths, and seat usage of the largest licenses.

use std::collections::HashMap;

use chrono::DateTime;
use diesel::dsl::{count_star, max, min};
use diesel::prelude::*;
use serde::Serialize;

use crate::outbox::{APPLIED, DEAD, DeadLetter, PENDING, PUBLISHED};
use seatflow_store::Result;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::{licenses, outbox, scim_tokens, seats};

/// Lag is estimated from at most this many events applied in an interval.
const LAG_SAMPLE: i64 = 5000;

/// What happened to events since a point in time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub enqueued: i64,
    pub applied: i64,
    /// Commit-to-applied lag of the events applied, in milliseconds, ascending.
    pub lags_ms: Vec<i64>,
}

/// Events recorded and applied after `since` (an RFC 3339 timestamp). Applied events are
/// pruned only after an hour, so intervals of minutes are counted exactly.
pub fn activity(conn: &mut DbConn, since: &str) -> Result<Activity> {
    let since = since.to_owned();
    let enqueued = outbox::table
        .filter(outbox::created_at.gt(&since))
        .count()
        .get_result(conn)?;
    let changed = |status: &'static str| {
        outbox::table
            .filter(outbox::status.eq(status))
            .filter(outbox::updated_at.gt(since.clone()))
    };
    let applied = changed(APPLIED).count().get_result(conn)?;
    let times: Vec<(String, String)> = changed(APPLIED)
        .select((outbox::created_at, outbox::updated_at))
        .limit(LAG_SAMPLE)
        .load(conn)?;
    let mut lags_ms: Vec<i64> = times
        .iter()
        .filter_map(|(created, applied)| millis_between(created, applied))
        .collect();
    lags_ms.sort_unstable();
    Ok(Activity {
        enqueued,
        applied,
        lags_ms,
    })
}

/// Events whose last attempt after `since` failed: (waiting for a retry, dead-lettered).
pub fn failures(conn: &mut DbConn, since: &str) -> Result<(i64, i64)> {
    // A failure is recorded on the event (attempts, updated_at) while it stays in flight.
    let retried = outbox::table
        .filter(outbox::status.eq_any([PENDING, PUBLISHED]))
        .filter(outbox::attempts.gt(0))
        .filter(outbox::updated_at.gt(since))
        .count()
        .get_result(conn)?;
    let dead = outbox::table
        .filter(outbox::status.eq(DEAD))
        .filter(outbox::updated_at.gt(since))
        .count()
        .get_result(conn)?;
    Ok((retried, dead))
}

/// Milliseconds from `from` to `to` (RFC 3339), if both parse.
pub fn millis_between(from: &str, to: &str) -> Option<i64> {
    let from = DateTime::parse_from_rfc3339(from).ok()?;
    let to = DateTime::parse_from_rfc3339(to).ok()?;
    Some((to - from).num_milliseconds().max(0))
}

/// The `q`-quantile (0..=1) of ascending values, nearest rank.
pub fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank: the smallest value with at least q of the values at or below it.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Events waiting in the outbox itself: the queues of the embedded default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Waiting for their first attempt.
    pub work: i64,
    /// Failed at least once, waiting for their retry.
    pub delay: i64,
    /// Dead letters.
    pub parking: i64,
}

pub fn outbox_depth(conn: &mut DbConn) -> Result<QueueDepth> {
    let pending = || outbox::table.filter(outbox::status.eq(PENDING));
    Ok(QueueDepth {
        work: pending()
            .filter(outbox::attempts.eq(0))
            .count()
            .get_result(conn)?,
        delay: pending()
            .filter(outbox::attempts.gt(0))
            .count()
            .get_result(conn)?,
        parking: dead_count(conn)?,
    })
}

pub fn dead_count(conn: &mut DbConn) -> Result<i64> {
    Ok(outbox::table
        .filter(outbox::status.eq(DEAD))
        .count()
        .get_result(conn)?)
}

/// When the oldest event that is not yet applied (nor dead) was recorded.
pub fn oldest_pending_at(conn: &mut DbConn) -> Result<Option<String>> {
    Ok(outbox::table
        .filter(outbox::status.eq_any([PENDING, PUBLISHED]))
        .select(min(outbox::created_at))
        .first(conn)?)
}

/// The newest `limit` dead letters.
pub fn recent_dead_letters(conn: &mut DbConn, limit: i64) -> Result<Vec<DeadLetter>> {
    Ok(outbox::table
        .filter(outbox::status.eq(DEAD))
        .order(outbox::id.desc())
        .limit(limit)
        .select(DeadLetter::as_select())
        .load(conn)?)
}

/// One license as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseLoad {
    pub id: String,
    pub name: String,
    pub seats: i64,
    pub seats_used: i64,
    pub blocked: i64,
    pub pending_events: i64,
    /// The last authenticated SCIM request (recorded to the minute).
    pub last_scim_request_at: Option<String>,
}

/// The `limit` licenses with the most seats (ties by name), with their usage.
pub fn top_licenses(conn: &mut DbConn, limit: i64) -> Result<Vec<LicenseLoad>> {
    let rows: Vec<(String, String, i64, i64)> = licenses::table
        .order((licenses::seats.desc(), licenses::name, licenses::id))
        .select((
            licenses::id,
            licenses::name,
            licenses::seats,
            licenses::seats_used,
        ))
        .limit(limit)
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let blocked: HashMap<String, i64> = seats::table
        .filter(seats::license_id.eq_any(&ids))
        .filter(seats::status.eq("blocked"))
        .group_by(seats::license_id)
        .select((seats::license_id, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let pending: HashMap<String, i64> = outbox::table
        .filter(outbox::license_id.eq_any(&ids))
        .filter(outbox::status.eq_any([PENDING, PUBLISHED]))
        .group_by(outbox::license_id)
        .select((outbox::license_id, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let last_used: HashMap<String, Option<String>> = scim_tokens::table
        .filter(scim_tokens::license_id.eq_any(&ids))
        .group_by(scim_tokens::license_id)
        .select((scim_tokens::license_id, max(scim_tokens::last_used_at)))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, name, seats, seats_used)| LicenseLoad {
            blocked: blocked.get(&id).copied().unwrap_or(0),
            pending_events: pending.get(&id).copied().unwrap_or(0),
            last_scim_request_at: last_used.get(&id).cloned().flatten(),
            id,
            name,
            seats,
            seats_used,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), Some(50));
        assert_eq!(quantile(&values, 0.95), Some(95));
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn lag_is_measured_between_timestamps() {
        assert_eq!(
            millis_between("2026-11-29T01:00:00.000000Z", "2026-11-29T01:00:01.250000Z"),
            Some(1250)
        );
        assert_eq!(millis_between("", "2026-11-29T01:00:00.000000Z"), None);
    }
}
