//! SCIM secret tokens. At most two live tokens per license, so a customer can switch its
//! identity provider to a new token before the old one is revoked.

use diesel::prelude::*;
use serde::Serialize;

use crate::auth_epoch;
use crate::db::DbConn;
use crate::db::schema::scim_tokens;
use crate::licenses::{self, License};
use crate::{Error, Result};
use crate::{time, token};

pub const MAX_LIVE_TOKENS: usize = 2;

/// `last_used_at` is refreshed at most this often, so authentication stays a read.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// A token as listed: never the secret.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = scim_tokens)]
pub struct TokenInfo {
    pub id: String,
    pub license_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A newly issued token: the only time the secret exists outside the caller's hands.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token_id: String,
    pub secret_token: String,
}

pub fn issue(conn: &mut DbConn, license_id: &str) -> Result<IssuedToken> {
    licenses::get(conn, license_id)?;
    let live = live(conn, license_id)?;
    if live.len() >= MAX_LIVE_TOKENS {
        return Err(Error::Conflict(format!(
            "license {license_id} already has {MAX_LIVE_TOKENS} live tokens; revoke one first"
        )));
    }
    let secret = token::generate();
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(scim_tokens::table)
        .values((
            scim_tokens::id.eq(&id),
            scim_tokens::license_id.eq(license_id),
            scim_tokens::token_hash.eq(token::hash(&secret)),
            scim_tokens::created_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(IssuedToken {
        token_id: id,
        secret_token: secret,
    })
}

pub fn list(conn: &mut DbConn, license_id: &str) -> Result<Vec<TokenInfo>> {
    licenses::get(conn, license_id)?;
    Ok(scim_tokens::table
        .filter(scim_tokens::license_id.eq(license_id))
        .order((scim_tokens::created_at, scim_tokens::id))
        .select(TokenInfo::as_select())
        .load(conn)?)
}

fn live(conn: &mut DbConn, license_id: &str) -> Result<Vec<TokenInfo>> {
    Ok(scim_tokens::table
        .filter(scim_tokens::license_id.eq(license_id))
        .filter(scim_tokens::revoked_at.is_null())
        .select(TokenInfo::as_select())
        .load(conn)?)
}

pub fn revoke(conn: &mut DbConn, license_id: &str, token_id: &str) -> Result<()> {
    let updated = diesel::update(
        scim_tokens::table
            .filter(scim_tokens::id.eq(token_id))
            .filter(scim_tokens::license_id.eq(license_id))
            .filter(scim_tokens::revoked_at.is_null()),
    )
    .set(scim_tokens::revoked_at.eq(time::now()))
    .execute(conn)?;
    if updated == 0 {
        return Err(Error::NotFound(format!(
            "no live token {token_id} on license {license_id}"
        )));
    }
    auth_epoch::bump(conn)
}

/// Starts over: revokes every live token of the license and issues a new one (the seed needed a
/// support ticket for this).
pub fn reset(conn: &mut DbConn, license_id: &str) -> Result<IssuedToken> {
    licenses::get(conn, license_id)?;
    diesel::update(
        scim_tokens::table
            .filter(scim_tokens::license_id.eq(license_id))
            .filter(scim_tokens::revoked_at.is_null()),
    )
    .set(scim_tokens::revoked_at.eq(time::now()))
    .execute(conn)?;
    auth_epoch::bump(conn)?;
    issue(conn, license_id)
}

/// The license a presented secret belongs to, if the token is live.
pub fn authenticate(conn: &mut DbConn, secret: &str) -> Result<Option<(License, TokenInfo)>> {
    authenticate_digest(conn, &token::hash(secret))
}

/// [`authenticate`] by the secret's digest ([`token::hash`]), in one query.
pub fn authenticate_digest(
    conn: &mut DbConn,
    digest: &str,
) -> Result<Option<(License, TokenInfo)>> {
    use crate::db::schema::licenses;
    let found = scim_tokens::table
        .inner_join(licenses::table)
        .filter(scim_tokens::token_hash.eq(digest))
        .filter(scim_tokens::revoked_at.is_null())
        .select((License::as_select(), TokenInfo::as_select()))
        .first::<(License, TokenInfo)>(conn)
        .optional()?;
    Ok(found.filter(|(_, t)| token::constant_time_eq(&t.token_hash, digest)))
}

/// Whether `last_used_at` is stale enough to be worth a write.
pub fn needs_touch(info: &TokenInfo, now: &str) -> bool {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (info.last_used_at.as_deref().and_then(parse), parse(now)) {
        (Some(last), Some(now)) => (now - last).num_seconds() >= LAST_USED_GRANULARITY_SECS,
        _ => true,
    }
}

pub fn touch(conn: &mut DbConn, token_id: &str, now: &str) -> Result<()> {
    diesel::update(scim_tokens::table.find(token_id))
        .set(scim_tokens::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}
