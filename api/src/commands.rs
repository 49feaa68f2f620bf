//! Every change an operator or a license admin can make, in one place: the JSON API, the admin
//! pages and the CLI call these. Each runs in the caller's write transaction, records its audit
//! entry there, and returns the licensing change it causes ([`Change::default`] for none),
//! which the API records with it ([`crate::state::AppState::command`]). Changes that can end a
//! token's access bump the authentication epoch in the store, in the same transaction.

use seatflow_licensing::{Change, Impact};
use seatflow_store::admin_keys::{self, IssuedAdminKey};
use seatflow_store::audit::{self, Actor, Entry};
use seatflow_store::db::{self, DbConn};
use seatflow_store::licenses::{self, License, LicenseUpdate};
use seatflow_store::tokens::{self, IssuedToken};
use seatflow_store::{Result, licensed_groups};
use serde_json::{Value, json};

/// Creates a license and its first Secret Token.
pub fn create_license(
    conn: &mut DbConn,
    name: &str,
    seats: i64,
    request_id: Option<&str>,
) -> Result<(License, IssuedToken)> {
    let license = licenses::create(conn, name, seats)?;
    let token = tokens::issue(conn, &license.id)?;
    let detail = json!({ "name": license.name, "seats": seats, "token_id": token.token_id });
    record(conn, &license.id, "license_created", detail, request_id)?;
    Ok((license, token))
}

/// Changes a license's name, seats, automatic promotion or provisioning; a change of seats or
/// promotion reconciles it (raising seats promotes waiting users at once).
pub fn change_license(
    conn: &mut DbConn,
    license_id: &str,
    change: &LicenseUpdate,
    request_id: Option<&str>,
) -> Result<(License, Change)> {
    let license = licenses::update(conn, license_id, change)?;
    let detail = json!({
        "name": change.name, "seats": change.seats,
        "auto_promote": change.auto_promote,
        "provisioning_enabled": change.provisioning_enabled,
    });
    record(conn, license_id, "license_updated", detail, request_id)?;
    let reconcile = if change.affects_seats() {
        Change::full()
    } else {
        Change::default()
    };
    Ok((license, reconcile))
}

/// Replaces the licensed groups; licensing follows for the whole license.
pub fn set_licensed_groups(
    conn: &mut DbConn,
    license_id: &str,
    group_ids: &[String],
    request_id: Option<&str>,
) -> Result<Change> {
    licensed_groups::set(conn, license_id, group_ids)?;
    let detail = json!({ "group_ids": group_ids });
    record(conn, license_id, "licensed_groups_set", detail, request_id)?;
    Ok(Change::full())
}

/// What [`set_licensed_groups`] would do now: the real seat engine on the new selection, in a
/// transaction that is rolled back.
pub fn preview_licensed_groups(
    conn: &mut DbConn,
    license_id: &str,
    group_ids: &[String],
) -> Result<Impact> {
    db::dry_run(conn, |c| {
        licensed_groups::set(c, license_id, group_ids)?;
        seatflow_licensing::preview(c, license_id)
    })
}

/// The admin's "reprocess": the whole license reconciled now, promoting waiting users even
/// with automatic promotion off.
pub fn reprocess(conn: &mut DbConn, license_id: &str, request_id: Option<&str>) -> Result<Change> {
    licenses::get(conn, license_id)?;
    record(
        conn,
        license_id,
        "reconcile_requested",
        json!({}),
        request_id,
    )?;
    Ok(Change::reprocess())
}

/// Issues a further Secret Token (rotation: the live one stays valid until revoked).
pub fn issue_token(
    conn: &mut DbConn,
    license_id: &str,
    request_id: Option<&str>,
) -> Result<IssuedToken> {
    let issued = tokens::issue(conn, license_id)?;
    let detail = json!({ "token_id": issued.token_id });
    record(conn, license_id, "token_issued", detail, request_id)?;
    Ok(issued)
}

/// Revokes a Secret Token: the identity provider still using it stops syncing.
pub fn revoke_token(
    conn: &mut DbConn,
    license_id: &str,
    token_id: &str,
    request_id: Option<&str>,
) -> Result<()> {
    tokens::revoke(conn, license_id, token_id)?;
    let detail = json!({ "token_id": token_id });
    record(conn, license_id, "token_revoked", detail, request_id)
}

/// Revokes every live token and issues a new one.
pub fn reset_tokens(
    conn: &mut DbConn,
    license_id: &str,
    request_id: Option<&str>,
) -> Result<IssuedToken> {
    let issued = tokens::reset(conn, license_id)?;
    let detail = json!({ "token_id": issued.token_id });
    record(conn, license_id, "tokens_reset", detail, request_id)?;
    Ok(issued)
}

/// Creates a license admin key (signs in to the admin pages for this license only).
pub fn create_admin_key(
    conn: &mut DbConn,
    license_id: &str,
    label: Option<&str>,
    request_id: Option<&str>,
) -> Result<IssuedAdminKey> {
    let key = admin_keys::create(conn, license_id, label)?;
    let detail = json!({ "key_id": key.key_id, "label": label });
    record(conn, license_id, "admin_key_created", detail, request_id)?;
    Ok(key)
}

pub fn revoke_admin_key(
    conn: &mut DbConn,
    license_id: &str,
    key_id: &str,
    request_id: Option<&str>,
) -> Result<()> {
    admin_keys::revoke(conn, license_id, key_id)?;
    let detail = json!({ "key_id": key_id });
    record(conn, license_id, "admin_key_revoked", detail, request_id)
}

/// The command's audit entry: an admin action, in the command's transaction.
fn record(
    conn: &mut DbConn,
    license_id: &str,
    action: &str,
    detail: Value,
    request_id: Option<&str>,
) -> Result<()> {
    audit::record(
        conn,
        license_id,
        &[Entry {
            actor: Actor::Admin,
            action,
            subject: None,
            detail,
            request_id,
        }],
    )
}
