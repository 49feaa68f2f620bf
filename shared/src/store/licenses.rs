use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::db::schema::licenses;
use crate::error::{Error, Result};
use crate::time;

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
}

pub fn create(conn: &mut DbConn, name: &str, seats: i64) -> Result<License> {
    if name.trim().is_empty() {
        return Err(Error::bad_request(
            crate::ScimType::InvalidValue,
            "license name must not be empty",
        ));
    }
    if seats < 0 {
        return Err(Error::bad_request(
            crate::ScimType::InvalidValue,
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

pub fn list(conn: &mut DbConn) -> Result<Vec<License>> {
    Ok(licenses::table
        .order((licenses::created_at, licenses::id))
        .select(License::as_select())
        .load(conn)?)
}
