use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::schema::licenses;
use crate::time;
use crate::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = licenses)]
pub struct License {
    pub id: String,
    pub name: String,
    pub seats: i64,
    pub seats_used: i64,
    pub auto_promote: bool,
    pub provisioning_enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// When the identity provider last called (to the minute).
    pub last_scim_request_at: Option<String>,
    /// When the identity provider last ran Test Connection (a userName probe for a random GUID).
    pub last_test_connection_at: Option<String>,
    /// A change needing a full reconcile was recorded and no reconcile has done it yet.
    #[serde(skip)]
    pub full_reconcile_due: bool,
    /// The highest usage threshold reached (0, 80, 90 or 100 percent): each crossing upward is
    /// told once on the change feed, again after usage fell back below it.
    #[serde(skip)]
    pub usage_level: i32,
    /// Whether the change feed was told the provider's requests fail often (cleared when they
    /// stop).
    #[serde(skip)]
    pub error_rate_warned: bool,
    /// When the identity provider first created a user or group here.
    pub first_synced_at: Option<String>,
}

pub fn create(conn: &mut DbConn, name: &str, seats: i64) -> Result<License> {
    if name.trim().is_empty() {
        return Err(Error::bad_request(
            seatflow_scim::ScimType::InvalidValue,
            "license name must not be empty",
        ));
    }
    if seats < 0 {
        return Err(Error::bad_request(
            seatflow_scim::ScimType::InvalidValue,
            "seats must be zero or more",
        ));
    }
    let now = time::now();
    let license = License {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.trim().to_owned(),
        seats,
        seats_used: 0,
        auto_promote: true,
        provisioning_enabled: true,
        created_at: now.clone(),
        updated_at: now,
        last_scim_request_at: None,
        last_test_connection_at: None,
        full_reconcile_due: false,
        usage_level: 0,
        error_rate_warned: false,
        first_synced_at: None,
    };
    diesel::insert_into(licenses::table)
        .values(&license)
        .execute(conn)?;
    Ok(license)
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<License> {
    licenses::table
        .find(id)
        .select(License::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("license {id} not found")))
}

/// Licenses in creation order, `limit` of them from `offset`.
pub fn list(conn: &mut DbConn, offset: i64, limit: i64) -> Result<Vec<License>> {
    Ok(licenses::table
        .order((licenses::created_at, licenses::id))
        .offset(offset)
        .limit(limit)
        .select(License::as_select())
        .load(conn)?)
}

/// The admin's changes to a license; absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseUpdate {
    pub name: Option<String>,
    pub seats: Option<i64>,
    pub auto_promote: Option<bool>,
    pub provisioning_enabled: Option<bool>,
}

impl LicenseUpdate {
    /// Whether the change can move seats (so licensing must be reconciled).
    pub fn affects_seats(&self) -> bool {
        self.seats.is_some() || self.auto_promote == Some(true)
    }
}

pub fn update(conn: &mut DbConn, id: &str, change: &LicenseUpdate) -> Result<License> {
    let mut license = get(conn, id)?;
    if let Some(name) = &change.name {
        if name.trim().is_empty() {
            return Err(Error::bad_request(
                seatflow_scim::ScimType::InvalidValue,
                "license name must not be empty",
            ));
        }
        license.name = name.trim().to_owned();
    }
    if let Some(seats) = change.seats {
        if seats < 0 {
            return Err(Error::bad_request(
                seatflow_scim::ScimType::InvalidValue,
                "seats must be zero or more",
            ));
        }
        license.seats = seats;
    }
    license.auto_promote = change.auto_promote.unwrap_or(license.auto_promote);
    license.provisioning_enabled = change
        .provisioning_enabled
        .unwrap_or(license.provisioning_enabled);
    license.updated_at = time::now();
    diesel::update(licenses::table.find(id))
        .set((
            licenses::name.eq(&license.name),
            licenses::seats.eq(license.seats),
            licenses::auto_promote.eq(license.auto_promote),
            licenses::provisioning_enabled.eq(license.provisioning_enabled),
            licenses::updated_at.eq(&license.updated_at),
        ))
        .execute(conn)?;
    // A cached token carries its license (provisioning on or off, its name).
    crate::auth_epoch::bump(conn)?;
    Ok(license)
}

/// Records identity-provider activity (callers throttle it to about once a minute).
pub fn record_activity(
    conn: &mut DbConn,
    id: &str,
    now: &str,
    test_connection: bool,
) -> Result<()> {
    let target = licenses::table.find(id);
    if test_connection {
        diesel::update(target)
            .set((
                licenses::last_scim_request_at.eq(now),
                licenses::last_test_connection_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set(licenses::last_scim_request_at.eq(now))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks (or, after doing it, clears) the license's pending full reconcile.
pub fn set_full_reconcile_due(conn: &mut DbConn, license_id: &str, due: bool) -> Result<()> {
    diesel::update(licenses::table.find(license_id))
        .set(licenses::full_reconcile_due.eq(due))
        .execute(conn)?;
    Ok(())
}

/// Records the usage threshold reached (see `License::usage_level`).
pub fn set_usage_level(conn: &mut DbConn, license_id: &str, level: i32) -> Result<()> {
    diesel::update(licenses::table.find(license_id))
        .set(licenses::usage_level.eq(level))
        .execute(conn)?;
    Ok(())
}

/// Marks the license's first sync, once: whether this call was the first.
pub fn mark_first_sync(conn: &mut DbConn, license_id: &str) -> Result<bool> {
    let marked = diesel::update(
        licenses::table
            .find(license_id)
            .filter(licenses::first_synced_at.is_null()),
    )
    .set(licenses::first_synced_at.eq(time::now()))
    .execute(conn)?;
    Ok(marked == 1)
}
