//! The per-tenant SCIM request log: what the identity provider asked (method, redacted path),
//! how it was answered (status, latency) and the request id linking it to what it caused. The
//! API buffers requests in memory and writes them here in batches; the error-rate warning
//! reads its window from here, so every API process's requests count.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::dsl::count_star;
use diesel::prelude::*;
use serde::Serialize;

use crate::Result;
use crate::db::DbConn;
use crate::db::schema::{licenses, scim_requests};
use crate::time;

/// A request to record.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = scim_requests)]
pub struct NewRequest {
    pub license_id: String,
    pub method: String,
    /// The path and the query as `api::scim::request_buffer::redact` leaves them.
    pub path: String,
    pub status: i32,
    pub latency_us: i64,
    pub request_id: Option<String>,
    pub created_at: String,
}

/// Rows bound per insert statement (SQLite and PostgreSQL cap bind parameters).
const CHUNK: usize = 500;

/// Writes `requests` with one multi-row insert per chunk.
pub fn insert(conn: &mut DbConn, requests: &[NewRequest]) -> Result<()> {
    for chunk in requests.chunks(CHUNK) {
        // Multi-row inserts are written per backend (diesel's multi-backend type cannot).
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(scim_requests::table)
                .values(chunk)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(scim_requests::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = scim_requests)]
pub struct RequestRow {
    pub id: i64,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub latency_us: i64,
    pub request_id: Option<String>,
    pub created_at: String,
}

/// Which statuses to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exactly(i32),
    /// A class: `4` for 400–499.
    Class(i32),
}

/// Which requests of a license to list: newest first, before the `before` id.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub status: Option<StatusFilter>,
    /// Upper-case method name.
    pub method: Option<String>,
    /// A substring of the (redacted) path.
    pub path: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, license_id: &str, query: &RequestQuery) -> Result<Vec<RequestRow>> {
    let mut q = scim_requests::table
        .filter(scim_requests::license_id.eq(license_id.to_owned()))
        .into_boxed();
    match query.status {
        Some(StatusFilter::Exactly(status)) => q = q.filter(scim_requests::status.eq(status)),
        Some(StatusFilter::Class(class)) => {
            q = q.filter(scim_requests::status.between(class * 100, class * 100 + 99));
        }
        None => {}
    }
    if let Some(method) = &query.method {
        q = q.filter(scim_requests::method.eq(method.clone()));
    }
    if let Some(path) = &query.path {
        q = q.filter(
            scim_requests::path
                .like(format!("%{}%", escape_like(path)))
                .escape('\\'),
        );
    }
    if let Some(request_id) = &query.request_id {
        q = q.filter(scim_requests::request_id.eq(request_id.clone()));
    }
    if let Some(before) = query.before {
        q = q.filter(scim_requests::id.lt(before));
    }
    Ok(q.order(scim_requests::id.desc())
        .limit(query.limit)
        .select(RequestRow::as_select())
        .load(conn)?)
}

/// `text` matched literally by `LIKE … ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Deletes requests older than `retention`; returns how many.
pub fn prune(conn: &mut DbConn, retention: Duration) -> Result<usize> {
    Ok(diesel::delete(
        scim_requests::table.filter(scim_requests::created_at.lt(time::before(retention))),
    )
    .execute(conn)?)
}

/// Whether an answer counts against the provider's error rate, as Entra counts it: any status
/// of 400 or more, except a 404 to a GET (a lookup that found nothing is a normal answer) and a
/// 409 (Entra takes a conflict on create as "already exists" and moves on).
pub fn counts_as_failure(method: &str, status: i32) -> bool {
    status >= 400 && status != 409 && !(status == 404 && method.eq_ignore_ascii_case("GET"))
}

/// One license's requests over a window, for the error-rate warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub requests: i64,
    pub failures: i64,
    /// Failures by status.
    pub failure_statuses: BTreeMap<i32, i64>,
}

impl WindowStats {
    pub fn failure_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            // Request counts are far below 2^52: exact as floats.
            self.failures as f64 / self.requests as f64
        }
    }
}

/// Every license's requests since `since` (an RFC 3339 time), by license.
pub fn window(conn: &mut DbConn, since: &str) -> Result<BTreeMap<String, WindowStats>> {
    let groups: Vec<(String, String, i32, i64)> = scim_requests::table
        .filter(scim_requests::created_at.ge(since))
        .group_by((
            scim_requests::license_id,
            scim_requests::method,
            scim_requests::status,
        ))
        .select((
            scim_requests::license_id,
            scim_requests::method,
            scim_requests::status,
            count_star(),
        ))
        .load(conn)?;
    let mut by_license: BTreeMap<String, WindowStats> = BTreeMap::new();
    for (license_id, method, status, count) in groups {
        let stats = by_license.entry(license_id).or_default();
        stats.requests += count;
        if counts_as_failure(&method, status) {
            stats.failures += count;
            *stats.failure_statuses.entry(status).or_default() += count;
        }
    }
    Ok(by_license)
}

/// The licenses whose error-rate warning is raised.
pub fn warned_licenses(conn: &mut DbConn) -> Result<Vec<String>> {
    Ok(licenses::table
        .filter(licenses::error_rate_warned.eq(true))
        .select(licenses::id)
        .load(conn)?)
}

/// Raises or clears a license's error-rate warning; true if this call changed it (so of
/// several API processes evaluating at once, one tells the feed).
pub fn set_error_rate_warned(conn: &mut DbConn, license_id: &str, warned: bool) -> Result<bool> {
    let changed = diesel::update(
        licenses::table
            .filter(licenses::id.eq(license_id))
            .filter(licenses::error_rate_warned.eq(!warned)),
    )
    .set(licenses::error_rate_warned.eq(warned))
    .execute(conn)?;
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_that_find_nothing_and_conflicts_are_not_failures() {
        assert!(!counts_as_failure("GET", 200));
        assert!(!counts_as_failure("GET", 404));
        assert!(counts_as_failure("PATCH", 404));
        assert!(!counts_as_failure("POST", 409));
        assert!(counts_as_failure("PATCH", 400));
        assert!(counts_as_failure("GET", 429));
        assert!(counts_as_failure("POST", 500));
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(escape_like(r"a%b_c\d"), r"a\%b\_c\\d");
    }
}
