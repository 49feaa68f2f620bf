//! The audit trail: every seat decision and admin action, with who, what, when and the request
//! that caused it.

use diesel::prelude::*;
use serde::Serialize;

use crate::Result;
use crate::db::DbConn;
use crate::db::schema::audit;
use crate::time;

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// The identity provider, over SCIM.
    Scim,
    /// An operator or license admin, over the admin API.
    Admin,
    /// The licensing engine.
    System,
}

impl Actor {
    fn as_str(self) -> &'static str {
        match self {
            Actor::Scim => "scim",
            Actor::Admin => "admin",
            Actor::System => "system",
        }
    }
}

/// One audit entry to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub subject: Option<&'a str>,
    pub detail: serde_json::Value,
    pub request_id: Option<&'a str>,
}

pub fn record(conn: &mut DbConn, license_id: &str, entries: &[Entry<'_>]) -> Result<()> {
    record_at(conn, license_id, entries, &time::now())
}

/// [`record`] with the time the entries were made: the seat engine gives its decisions' audit
/// entries and seat history rows the same instant, so the two tell the same story.
pub fn record_at(
    conn: &mut DbConn,
    license_id: &str,
    entries: &[Entry<'_>],
    now: &str,
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                audit::license_id.eq(license_id),
                audit::actor.eq(e.actor.as_str()),
                audit::action.eq(e.action),
                audit::subject.eq(e.subject),
                audit::detail.eq(e.detail.to_string()),
                audit::request_id.eq(e.request_id),
                audit::created_at.eq(now),
            )
        })
        .collect();
    // Multi-row inserts are written per backend (diesel's multi-backend type cannot).
    for chunk in rows.chunks(500) {
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(audit::table)
                .values(chunk)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(audit::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit)]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
    pub created_at: String,
}

/// Which entries to list: newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, license_id: &str, query: &AuditQuery) -> Result<Vec<AuditRow>> {
    let mut q = audit::table
        .filter(audit::license_id.eq(license_id.to_owned()))
        .into_boxed();
    if let Some(subject) = &query.subject {
        q = q.filter(audit::subject.eq(subject.clone()));
    }
    if let Some(since) = &query.since {
        q = q.filter(audit::created_at.ge(since.clone()));
    }
    if let Some(until) = &query.until {
        q = q.filter(audit::created_at.lt(until.clone()));
    }
    Ok(q.order(audit::id.desc())
        .offset(query.offset)
        .limit(query.limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// The entries caused by any of `request_ids` (the SCIM request log's seat decisions), oldest
/// first.
pub fn caused_by(
    conn: &mut DbConn,
    license_id: &str,
    request_ids: &[String],
) -> Result<Vec<AuditRow>> {
    Ok(audit::table
        .filter(audit::license_id.eq(license_id))
        .filter(audit::request_id.eq_any(request_ids))
        .order(audit::id)
        .select(AuditRow::as_select())
        .load(conn)?)
}
