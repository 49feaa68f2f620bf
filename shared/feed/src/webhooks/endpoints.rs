//! Webhook endpoints in the store: the operator's and license admins' changes (create, update,
//! rotate the secret, resume, rewind, delete) and the deliverer's claims and progress.
//!
//! An endpoint belongs to one license, or to the deployment (`license_id` NULL, the
//! operator's): every call that names an endpoint also names that scope, so a license's
//! endpoint is never reached through another license.

use std::time::Duration;

use diesel::prelude::*;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::feed_events;
use seatflow_store::db::schema::webhook_endpoints as wh;
use seatflow_store::{Error, Result, ScimType, licenses, time};
use serde::{Deserialize, Serialize};

use crate::event::TypeFilter;
use crate::log;
use crate::webhooks::sign;

/// How long the previous secret is still signed with after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// A secret; kept out of `Debug` output so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where an endpoint stands, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Delivering (or nothing to deliver).
    Active,
    /// Its next event failed; retried with backoff.
    Retrying,
    /// Retried for the whole retry window: automatic delivery stopped until resumed.
    Failing,
    Disabled,
}

/// An endpoint as listed: never its secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: String,
    /// None: deployment-wide (every license's events).
    pub license_id: Option<String>,
    pub url: String,
    /// Names or families (`seat.*`); empty: every event.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub status: Status,
    /// The sequence number of the last event handled (delivered, or filtered out).
    pub cursor: i64,
    /// Consecutive failed attempts of the next event.
    pub attempts: i32,
    pub failing_since: Option<String>,
    pub next_attempt_at: String,
    pub failed_at: Option<String>,
    pub last_error: Option<String>,
    /// Until when deliveries are also signed with the secret before the last rotation.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub secret: Secret,
    #[serde(skip)]
    pub previous_secret: Option<Secret>,
}

impl Endpoint {
    /// The secrets deliveries are signed with now: the current one, and the previous one
    /// while its overlap lasts.
    pub fn live_secrets(&self, now: &str) -> Vec<&str> {
        let mut secrets = vec![self.secret.0.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, &self.previous_secret_until)
            && until.as_str() > now
        {
            secrets.push(previous.0.as_str());
        }
        secrets
    }

    /// Which events it takes (checked when they were written).
    pub fn filter(&self) -> Result<TypeFilter> {
        TypeFilter::new(self.event_types.clone())
            .map_err(|e| Error::Internal(format!("webhook {}: stored {e}", self.id)))
    }
}

/// An endpoint with its secret: the answer to a creation or a rotation, the only times the
/// secret is shown.
#[derive(Debug, Serialize)]
pub struct WithSecret {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub secret: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = wh)]
struct Row {
    id: String,
    license_id: Option<String>,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<String>,
    event_types: String,
    enabled: bool,
    cursor: i64,
    attempts: i32,
    failing_since: Option<String>,
    next_attempt_at: String,
    failed_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
}

impl From<Row> for Endpoint {
    fn from(row: Row) -> Endpoint {
        let status = match (row.enabled, &row.failed_at, row.attempts) {
            (false, _, _) => Status::Disabled,
            (true, Some(_), _) => Status::Failing,
            (true, None, 0) => Status::Active,
            (true, None, _) => Status::Retrying,
        };
        Endpoint {
            id: row.id,
            license_id: row.license_id,
            url: row.url,
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            enabled: row.enabled,
            status,
            cursor: row.cursor,
            attempts: row.attempts,
            failing_since: row.failing_since,
            next_attempt_at: row.next_attempt_at,
            failed_at: row.failed_at,
            last_error: row.last_error,
            previous_secret_until: row.previous_secret_until,
            created_at: row.created_at,
            secret: Secret(row.secret),
            previous_secret: row.previous_secret.map(Secret),
        }
    }
}

/// A new endpoint, as the admin API and the CLI take it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A change to an endpoint: what is given is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// The URL deliveries go to: absolute, `http` (or `https` in a build with TLS), with a host.
fn checked_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::bad_request(ScimType::InvalidValue, format!("url {raw:?} {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be http:// or https://"));
    }
    if url.scheme() == "https" && !cfg!(feature = "tls") {
        return Err(bad(
            "is https://, and this build delivers plain http:// only (build with --features tls)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(url.to_string())
}

fn checked_types(entries: Vec<String>) -> Result<String> {
    let filter = TypeFilter::new(entries)
        .map_err(|e| Error::bad_request(ScimType::InvalidValue, format!("event_types: {e}")))?;
    serde_json::to_string(filter.entries()).map_err(|e| Error::Internal(e.to_string()))
}

/// Creates an endpoint of `license_id` (None: deployment-wide) with a new secret. It gets the
/// events sequenced from now on.
pub fn create(conn: &mut DbConn, license_id: Option<&str>, new: NewEndpoint) -> Result<WithSecret> {
    if let Some(license_id) = license_id {
        licenses::get(conn, license_id)?;
    }
    let url = checked_url(&new.url)?;
    let event_types = checked_types(new.event_types)?;
    let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
    let secret = sign::new_secret();
    let now = time::now();
    diesel::insert_into(wh::table)
        .values((
            wh::id.eq(&id),
            wh::license_id.eq(license_id),
            wh::url.eq(url),
            wh::secret.eq(&secret),
            wh::event_types.eq(event_types),
            wh::enabled.eq(new.enabled),
            wh::cursor.eq(log::newest(conn)?),
            wh::attempts.eq(0),
            wh::next_attempt_at.eq(&now),
            wh::created_at.eq(&now),
        ))
        .execute(conn)?;
    Ok(WithSecret {
        endpoint: get(conn, license_id, &id)?,
        secret,
    })
}

/// The endpoints of a license, or the deployment-wide ones, oldest first.
pub fn list(conn: &mut DbConn, license_id: Option<&str>) -> Result<Vec<Endpoint>> {
    let mut query = wh::table
        .order((wh::created_at, wh::id))
        .select(Row::as_select())
        .into_boxed();
    query = match license_id {
        Some(license_id) => {
            licenses::get(conn, license_id)?;
            query.filter(wh::license_id.eq(license_id.to_owned()))
        }
        None => query.filter(wh::license_id.is_null()),
    };
    Ok(query.load(conn)?.into_iter().map(Endpoint::from).collect())
}

/// One endpoint of the scope.
pub fn get(conn: &mut DbConn, license_id: Option<&str>, id: &str) -> Result<Endpoint> {
    let mut query = wh::table
        .filter(wh::id.eq(id.to_owned()))
        .select(Row::as_select())
        .into_boxed();
    query = match license_id {
        Some(license_id) => query.filter(wh::license_id.eq(license_id.to_owned())),
        None => query.filter(wh::license_id.is_null()),
    };
    query
        .first(conn)
        .optional()?
        .map(Endpoint::from)
        .ok_or_else(|| match license_id {
            Some(license_id) => Error::NotFound(format!("no webhook {id} on license {license_id}")),
            None => Error::NotFound(format!("no deployment-wide webhook {id}")),
        })
}

/// Any endpoint by id (the deliverer's).
fn by_id(conn: &mut DbConn, id: &str) -> Result<Option<Endpoint>> {
    Ok(wh::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Endpoint::from))
}

pub fn update(
    conn: &mut DbConn,
    license_id: Option<&str>,
    id: &str,
    change: EndpointChange,
) -> Result<Endpoint> {
    get(conn, license_id, id)?;
    let url = change.url.as_deref().map(checked_url).transpose()?;
    let event_types = change.event_types.map(checked_types).transpose()?;
    if url.is_none() && event_types.is_none() && change.enabled.is_none() {
        return Err(Error::bad_request(
            ScimType::InvalidValue,
            "nothing to change: give url, event_types or enabled",
        ));
    }
    diesel::update(wh::table.find(id))
        .set((
            url.map(|u| wh::url.eq(u)),
            event_types.map(|t| wh::event_types.eq(t)),
            change.enabled.map(|e| wh::enabled.eq(e)),
        ))
        .execute(conn)?;
    get(conn, license_id, id)
}

/// A new secret; the current one stays live (deliveries signed with both) for `overlap`.
pub fn rotate_secret(
    conn: &mut DbConn,
    license_id: Option<&str>,
    id: &str,
    overlap: Duration,
) -> Result<WithSecret> {
    let current = get(conn, license_id, id)?;
    let secret = sign::new_secret();
    diesel::update(wh::table.find(id))
        .set((
            wh::secret.eq(&secret),
            wh::previous_secret.eq(current.secret.0),
            wh::previous_secret_until.eq(time::after(overlap)),
        ))
        .execute(conn)?;
    Ok(WithSecret {
        endpoint: get(conn, license_id, id)?,
        secret,
    })
}

pub fn delete(conn: &mut DbConn, license_id: Option<&str>, id: &str) -> Result<()> {
    get(conn, license_id, id)?;
    diesel::delete(wh::table.find(id)).execute(conn)?;
    Ok(())
}

/// Ends a failure streak (a failing endpoint's included): delivery goes on at once from the
/// cursor, with fresh attempts.
pub fn resume(conn: &mut DbConn, license_id: Option<&str>, id: &str) -> Result<Endpoint> {
    get(conn, license_id, id)?;
    restart_at(conn, id, None)?;
    get(conn, license_id, id)
}

/// Redelivers everything recorded at or after `at` (RFC 3339): the cursor goes back to the
/// last event before it, and delivery (resumed, if it was failing) goes on from there.
pub fn rewind(conn: &mut DbConn, license_id: Option<&str>, id: &str, at: &str) -> Result<Endpoint> {
    let at = chrono::DateTime::parse_from_rfc3339(at.trim())
        .map_err(|e| {
            Error::bad_request(
                ScimType::InvalidValue,
                format!("since {at:?} is not an RFC 3339 time: {e}"),
            )
        })?
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    get(conn, license_id, id)?;
    let cursor = log::last_before(conn, &at)?;
    restart_at(conn, id, Some(cursor))?;
    get(conn, license_id, id)
}

fn restart_at(conn: &mut DbConn, id: &str, cursor: Option<i64>) -> Result<()> {
    diesel::update(wh::table.find(id))
        .set((
            cursor.map(|c| wh::cursor.eq(c)),
            wh::attempts.eq(0),
            wh::failing_since.eq(None::<String>),
            wh::failed_at.eq(None::<String>),
            wh::next_attempt_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Endpoints that are marked failing (the metric).
pub fn failing_count(conn: &mut DbConn) -> Result<i64> {
    Ok(wh::table
        .filter(wh::failed_at.is_not_null())
        .filter(wh::enabled.eq(true))
        .count()
        .get_result(conn)?)
}

/// Endpoints with something to do: enabled, not failing, due, not claimed, and with events
/// after their cursor (their license's, or any for a deployment-wide one), so a busy license
/// costs the other licenses' endpoints nothing.
pub fn due(conn: &mut DbConn, newest: i64, limit: i64) -> Result<Vec<String>> {
    let now = time::now();
    let behind = diesel::dsl::exists(
        feed_events::table
            .filter(feed_events::license_id.nullable().eq(wh::license_id))
            .filter(feed_events::seq.gt(wh::cursor.nullable())),
    );
    Ok(wh::table
        .filter(wh::enabled.eq(true))
        .filter(wh::failed_at.is_null())
        .filter(wh::next_attempt_at.le(&now))
        .filter(wh::lease_until.is_null().or(wh::lease_until.lt(&now)))
        .filter(
            wh::license_id
                .is_null()
                .and(wh::cursor.lt(newest))
                .or(behind),
        )
        .order(wh::next_attempt_at)
        .limit(limit)
        .select(wh::id)
        .load(conn)?)
}

/// Claims a due endpoint until `lease_until`, unless another deliverer holds it.
pub fn claim(conn: &mut DbConn, id: &str, lease_until: &str) -> Result<Option<Endpoint>> {
    let now = time::now();
    let claimed = diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::enabled.eq(true))
            .filter(wh::failed_at.is_null())
            .filter(wh::lease_until.is_null().or(wh::lease_until.lt(&now))),
    )
    .set(wh::lease_until.eq(lease_until))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(None);
    }
    by_id(conn, id)
}

/// Moves the cursor from `from` to `to` after a delivery (or past filtered-out events),
/// ending any failure streak and renewing the claim. False: the endpoint changed meanwhile
/// (rewound, disabled, deleted), and its deliverer must stop.
pub fn advance(conn: &mut DbConn, id: &str, from: i64, to: i64, lease_until: &str) -> Result<bool> {
    let updated = diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::cursor.eq(from))
            .filter(wh::enabled.eq(true)),
    )
    .set((
        wh::cursor.eq(to),
        wh::attempts.eq(0),
        wh::failing_since.eq(None::<String>),
        wh::last_error.eq(None::<String>),
        wh::next_attempt_at.eq(time::now()),
        wh::lease_until.eq(lease_until),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// A failed attempt at the event after `cursor`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub attempts: i32,
    pub failing_since: String,
    pub next_attempt_at: String,
    /// Set when the retry window is over: the endpoint is marked failing.
    pub failed_at: Option<String>,
    pub error: String,
}

/// Records a failure of the event after `cursor` (unless the endpoint moved meanwhile).
pub fn failed(conn: &mut DbConn, id: &str, cursor: i64, failure: &Failure) -> Result<()> {
    diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::cursor.eq(cursor)),
    )
    .set((
        wh::attempts.eq(failure.attempts),
        wh::failing_since.eq(&failure.failing_since),
        wh::next_attempt_at.eq(&failure.next_attempt_at),
        wh::failed_at.eq(&failure.failed_at),
        wh::last_error.eq(&failure.error),
    ))
    .execute(conn)?;
    Ok(())
}

/// Gives up a claim, if it is still the one taken (`lease_until`).
pub fn release(conn: &mut DbConn, id: &str, lease_until: &str) -> Result<()> {
    diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::lease_until.eq(lease_until)),
    )
    .set(wh::lease_until.eq(None::<String>))
    .execute(conn)?;
    Ok(())
}
