//! The seat history ledger: one row per time a user held a seat of a license, from
//! `started_at` until `ended_at` (None while held), with why it started and why it ended.
//! Written in the transaction of the seat decision (the seat engine's reconcile, a SCIM
//! DELETE of a holder); kept for as long as the license exists unless a retention is set.
//!
//! A row is the half-open interval `[started_at, ended_at)`: a seat released and taken by
//! someone else at the same instant is never counted twice.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::schema::seat_history;
use crate::{Error, Result, ScimType, time};

/// Ids are bound in chunks this size (SQLite and PostgreSQL cap bind parameters).
const CHUNK: usize = 1000;

/// Most buckets one peak query may answer (a day-by-day peak over close to three years).
const MAX_BUCKETS: usize = 1000;

/// The start reason of the seats already held when the ledger was introduced.
pub const BEFORE_HISTORY: &str = "before_history";
/// The end reason of a seat whose holder was deleted (the seat row went with the user).
pub const USER_DELETED: &str = "user_deleted";

/// A seat taken: by whom (their userName then) and why (`entitled`, `promoted`).
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub reason: &'a str,
}

/// One interval during which a user held a seat.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = seat_history)]
pub struct Interval {
    pub user_id: String,
    pub user_name: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub start_reason: String,
    pub end_reason: Option<String>,
}

/// Opens a row for each seat taken `at`, in one multi-row insert per chunk. A user the ledger
/// already shows holding a seat keeps that row: the ledger records seats, it must never stop
/// them from moving (a failing insert would fail the reconcile on every retry).
pub fn open(conn: &mut DbConn, license_id: &str, opened: &[Opened<'_>], at: &str) -> Result<()> {
    let rows: Vec<_> = opened
        .iter()
        .map(|o| {
            (
                seat_history::license_id.eq(license_id),
                seat_history::user_id.eq(o.user_id),
                seat_history::user_name.eq(o.user_name),
                seat_history::started_at.eq(at),
                seat_history::start_reason.eq(o.reason),
            )
        })
        .collect();
    // Multi-row inserts are written per backend (diesel's multi-backend type cannot).
    for chunk in rows.chunks(CHUNK) {
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(seat_history::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(seat_history::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(lite)?,
        };
    }
    Ok(())
}

/// Closes the open rows of `(user id, end reason)` `at`: one update per reason and chunk.
pub fn close(conn: &mut DbConn, license_id: &str, closed: &[(&str, &str)], at: &str) -> Result<()> {
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (user_id, reason) in closed {
        by_reason.entry(reason).or_default().push(user_id);
    }
    for (reason, user_ids) in by_reason {
        for chunk in user_ids.chunks(CHUNK) {
            diesel::update(
                seat_history::table
                    .filter(seat_history::license_id.eq(license_id))
                    .filter(seat_history::user_id.eq_any(chunk))
                    .filter(seat_history::ended_at.is_null()),
            )
            .set((
                seat_history::ended_at.eq(at),
                seat_history::end_reason.eq(reason),
            ))
            .execute(conn)?;
        }
    }
    Ok(())
}

/// A half-open span of time `[from, to)`, as stored timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

impl Window {
    /// The instant `text` (RFC 3339): the seats held at that instant.
    pub fn at(text: &str) -> Result<Window> {
        let at = instant("at", text)?;
        Ok(Window {
            from: time::format(at),
            // Timestamps have microsecond precision: `[t, t + 1 µs)` is the instant t.
            to: time::format(at + chrono::Duration::microseconds(1)),
        })
    }

    /// The UTC day `text` (YYYY-MM-DD): the seats held at any moment of it.
    pub fn day(text: &str) -> Result<Window> {
        let day = date("held_on", text)?;
        Ok(Window {
            from: time::format(start_of(day)),
            to: time::format(start_of(day) + chrono::Duration::days(1)),
        })
    }

    /// From `from` until `to` (each RFC 3339, or a date: `from` a day's start, `to` the end of
    /// that day, so `from=2026-12-01&to=2026-12-31` is the whole of December).
    pub fn between(from: &str, to: &str) -> Result<Window> {
        let (from, to) = (bound("from", from, false)?, bound("to", to, true)?);
        if from >= to {
            return Err(Error::bad_request(
                ScimType::InvalidValue,
                "from must be before to",
            ));
        }
        Ok(Window {
            from: time::format(from),
            to: time::format(to),
        })
    }
}

fn instant(name: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::bad_request(
                ScimType::InvalidValue,
                format!("{name} must be an RFC 3339 timestamp (e.g. 2026-12-03T15:00:00Z)"),
            )
        })
}

fn date(name: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::bad_request(
            ScimType::InvalidValue,
            format!("{name} must be a date (YYYY-MM-DD)"),
        )
    })
}

/// A period's bound: an RFC 3339 instant, or a date (its start; its end when `end`).
fn bound(name: &str, text: &str, end: bool) -> Result<DateTime<Utc>> {
    if text.contains('T') || text.contains('t') {
        return instant(name, text);
    }
    let day = date(name, text).map_err(|_| {
        Error::bad_request(
            ScimType::InvalidValue,
            format!("{name} must be a date (YYYY-MM-DD) or an RFC 3339 timestamp"),
        )
    })?;
    let start = start_of(day);
    Ok(if end {
        start + chrono::Duration::days(1)
    } else {
        start
    })
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// Every interval that overlaps `window` (a seat held at some moment of it), oldest first.
pub fn held(conn: &mut DbConn, license_id: &str, window: &Window) -> Result<Vec<Interval>> {
    Ok(seat_history::table
        .filter(seat_history::license_id.eq(license_id))
        .filter(seat_history::started_at.lt(&window.to))
        .filter(
            seat_history::ended_at
                .is_null()
                .or(seat_history::ended_at.gt(&window.from)),
        )
        .order((seat_history::started_at, seat_history::id))
        .select(Interval::as_select())
        .load(conn)?)
}

/// How peak usage is bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Month,
}

impl Bucket {
    pub fn parse(text: &str) -> Result<Bucket> {
        [Bucket::Day, Bucket::Month]
            .into_iter()
            .find(|b| b.name() == text)
            .ok_or_else(|| {
                Error::bad_request(ScimType::InvalidValue, "by must be 'day' or 'month'")
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Month => "month",
        }
    }

    /// The start of the bucket `t` is in.
    fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let day = t.date_naive();
        match self {
            Bucket::Day => start_of(day),
            Bucket::Month => start_of(day.with_day(1).unwrap_or(day)),
        }
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Bucket::Day => start + chrono::Duration::days(1),
            Bucket::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    fn label(self, start: DateTime<Utc>) -> String {
        match self {
            Bucket::Day => start.format("%Y-%m-%d").to_string(),
            Bucket::Month => start.format("%Y-%m").to_string(),
        }
    }
}

/// The most seats held at once during one day or month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peak {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    pub peak: usize,
}

/// Peak concurrent seats per bucket over `window`, widened to whole buckets: a sweep over the
/// intervals' starts and ends (the same on both backends).
pub fn peaks(
    conn: &mut DbConn,
    license_id: &str,
    window: &Window,
    by: Bucket,
) -> Result<Vec<Peak>> {
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::Internal(format!("stored timestamp {t:?}: {e}")))
    };
    let mut starts = Vec::new();
    let mut next = by.floor(parse(&window.from)?);
    let end = parse(&window.to)?;
    while next < end {
        if starts.len() == MAX_BUCKETS {
            return Err(Error::bad_request(
                ScimType::InvalidValue,
                format!("the period spans more than {MAX_BUCKETS} buckets; narrow it"),
            ));
        }
        starts.push(next);
        next = by.next(next);
    }
    let widened = Window {
        from: starts
            .first()
            .map_or(window.from.clone(), |s| time::format(*s)),
        to: time::format(next),
    };
    let intervals = held(conn, license_id, &widened)?;
    // Ends before starts at the same instant: half-open intervals that only touch never overlap.
    let mut changes: Vec<(&str, i8)> = Vec::with_capacity(intervals.len() * 2);
    for interval in &intervals {
        changes.push((&interval.started_at, 1));
        if let Some(ended) = &interval.ended_at {
            changes.push((ended, -1));
        }
    }
    changes.sort_unstable();
    let bounds: Vec<String> = starts.iter().map(|s| time::format(*s)).collect();
    Ok(sweep(&changes, &bounds, &time::format(next))
        .into_iter()
        .zip(&starts)
        .map(|(peak, start)| Peak {
            period: by.label(*start),
            peak,
        })
        .collect())
}

/// The highest concurrency in each bucket `[bounds[i], bounds[i + 1])` (the last ending at
/// `end`), given the sorted `(instant, ±1)` changes.
fn sweep(changes: &[(&str, i8)], bounds: &[String], end: &str) -> Vec<usize> {
    let mut held: i64 = 0;
    let mut changes = changes.iter().peekable();
    let ends = bounds.iter().skip(1).map(String::as_str).chain([end]);
    bounds
        .iter()
        .zip(ends)
        .map(|(start, bucket_end)| {
            while let Some((_, delta)) = changes.next_if(|(t, _)| *t <= start.as_str()) {
                held += i64::from(*delta);
            }
            let mut peak = held;
            while let Some((_, delta)) = changes.next_if(|(t, _)| *t < bucket_end) {
                held += i64::from(*delta);
                peak = peak.max(held);
            }
            usize::try_from(peak).unwrap_or(0)
        })
        .collect()
}

/// Deletes the rows of seats given up more than `retention` ago; how many.
pub fn prune(conn: &mut DbConn, retention: Duration) -> Result<usize> {
    Ok(diesel::delete(
        seat_history::table
            .filter(seat_history::ended_at.is_not_null())
            .filter(seat_history::ended_at.lt(time::before(retention))),
    )
    .execute(conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_counts_overlaps_per_bucket() {
        let bounds =
            ["2026-12-01T00:00:00.000000Z", "2026-12-02T00:00:00.000000Z"].map(String::from);
        let end = "2026-12-03T00:00:00.000000Z";
        let mut changes = vec![
            // Held from before the first day into the second.
            ("2026-11-30T10:00:00.000000Z", 1),
            ("2026-12-02T05:00:00.000000Z", -1),
            // Two seats on the first day, one handed over at the same instant.
            ("2026-12-01T08:00:00.000000Z", 1),
            ("2026-12-01T09:00:00.000000Z", -1),
            ("2026-12-01T09:00:00.000000Z", 1),
            ("2026-12-01T12:00:00.000000Z", -1),
        ];
        changes.sort_unstable();
        assert_eq!(sweep(&changes, &bounds, end), vec![2, 1]);
    }

    #[test]
    fn windows_parse_and_reject() {
        let day = Window::day("2026-12-03").unwrap();
        assert_eq!(day.from, "2026-12-03T00:00:00.000000Z");
        assert_eq!(day.to, "2026-12-04T00:00:00.000000Z");
        let at = Window::at("2026-12-03T16:00:00+01:00").unwrap();
        assert_eq!(at.from, "2026-12-03T15:00:00.000000Z");
        assert_eq!(at.to, "2026-12-03T15:00:00.000001Z");
        let month = Window::between("2026-12-01", "2026-12-31").unwrap();
        assert_eq!(month.to, "2027-01-01T00:00:00.000000Z");
        assert!(Window::day("yesterday").is_err());
        assert!(Window::at("2026-12-03").is_err());
        assert!(Window::between("2026-12-02", "2026-12-01").is_err());
        assert!(Bucket::parse("week").is_err());
    }
}
