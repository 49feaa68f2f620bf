//! Which synced groups of a license grant seats.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{groups, licensed_groups};
use crate::{Error, Result};
use crate::{ScimType, time};

pub fn list(conn: &mut DbConn, license_id: &str) -> Result<Vec<String>> {
    Ok(licensed_groups::table
        .filter(licensed_groups::license_id.eq(license_id))
        .order(licensed_groups::created_at)
        .select(licensed_groups::group_id)
        .load(conn)?)
}

/// Replaces the licensed set. Every id must be a group of this license.
pub fn set(conn: &mut DbConn, license_id: &str, group_ids: &[String]) -> Result<()> {
    let known: Vec<String> = groups::table
        .filter(groups::license_id.eq(license_id))
        .filter(groups::id.eq_any(group_ids))
        .select(groups::id)
        .load(conn)?;
    if let Some(unknown) = group_ids.iter().find(|id| !known.contains(id)) {
        return Err(Error::bad_request(
            ScimType::InvalidValue,
            format!("group '{unknown}' is not a synced group of this license"),
        ));
    }
    let current = list(conn, license_id)?;
    let removed: Vec<&String> = current.iter().filter(|g| !group_ids.contains(g)).collect();
    diesel::delete(
        licensed_groups::table
            .filter(licensed_groups::license_id.eq(license_id))
            .filter(licensed_groups::group_id.eq_any(removed)),
    )
    .execute(conn)?;
    let now = time::now();
    for group_id in group_ids.iter().filter(|g| !current.contains(g)) {
        diesel::insert_into(licensed_groups::table)
            .values((
                licensed_groups::license_id.eq(license_id),
                licensed_groups::group_id.eq(group_id),
                licensed_groups::created_at.eq(&now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
