//! Per-license admin keys: a license admin signs in to the `/admin` pages with one and sees and
//! changes only that license. Like SCIM tokens they are 256-bit secrets shown once, stored as
//! SHA-256 digests and compared in constant time.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::schema::license_admin_keys;
use crate::licenses;
use crate::{Error, Result};
use crate::{time, token};

/// A key as listed: never the secret.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = license_admin_keys)]
pub struct AdminKeyInfo {
    pub id: String,
    pub license_id: String,
    #[serde(skip)]
    pub key_hash: String,
    pub label: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A newly created key: the only time the secret exists outside the admin's hands.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedAdminKey {
    pub license_id: String,
    pub key_id: String,
    pub admin_key: String,
}

pub fn create(conn: &mut DbConn, license_id: &str, label: Option<&str>) -> Result<IssuedAdminKey> {
    licenses::get(conn, license_id)?;
    let secret = token::generate();
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(license_admin_keys::table)
        .values((
            license_admin_keys::id.eq(&id),
            license_admin_keys::license_id.eq(license_id),
            license_admin_keys::key_hash.eq(token::hash(&secret)),
            license_admin_keys::label.eq(label.map(str::trim).filter(|l| !l.is_empty())),
            license_admin_keys::created_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(IssuedAdminKey {
        license_id: license_id.to_owned(),
        key_id: id,
        admin_key: secret,
    })
}

pub fn list(conn: &mut DbConn, license_id: &str) -> Result<Vec<AdminKeyInfo>> {
    licenses::get(conn, license_id)?;
    Ok(license_admin_keys::table
        .filter(license_admin_keys::license_id.eq(license_id))
        .order((license_admin_keys::created_at, license_admin_keys::id))
        .select(AdminKeyInfo::as_select())
        .load(conn)?)
}

pub fn revoke(conn: &mut DbConn, license_id: &str, key_id: &str) -> Result<()> {
    let updated = diesel::update(
        license_admin_keys::table
            .filter(license_admin_keys::id.eq(key_id))
            .filter(license_admin_keys::license_id.eq(license_id))
            .filter(license_admin_keys::revoked_at.is_null()),
    )
    .set(license_admin_keys::revoked_at.eq(time::now()))
    .execute(conn)?;
    if updated == 0 {
        return Err(Error::NotFound(format!(
            "no live admin key {key_id} on license {license_id}"
        )));
    }
    Ok(())
}

/// The live key a presented secret belongs to, if any.
pub fn authenticate(conn: &mut DbConn, secret: &str) -> Result<Option<AdminKeyInfo>> {
    let digest = token::hash(secret);
    let found = license_admin_keys::table
        .filter(license_admin_keys::key_hash.eq(&digest))
        .filter(license_admin_keys::revoked_at.is_null())
        .select(AdminKeyInfo::as_select())
        .first(conn)
        .optional()?;
    Ok(found.filter(|k| token::constant_time_eq(&k.key_hash, &digest)))
}

/// Whether a key is still live for its license (sessions end when their key is revoked).
pub fn is_live(conn: &mut DbConn, license_id: &str, key_id: &str) -> Result<bool> {
    let count: i64 = license_admin_keys::table
        .filter(license_admin_keys::id.eq(key_id))
        .filter(license_admin_keys::license_id.eq(license_id))
        .filter(license_admin_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(count == 1)
}

pub fn touch(conn: &mut DbConn, key_id: &str, now: &str) -> Result<()> {
    diesel::update(license_admin_keys::table.find(key_id))
        .set(license_admin_keys::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}
