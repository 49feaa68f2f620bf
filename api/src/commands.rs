//! Changes an operator or a license admin makes to a license's credentials, in one place: the
//! JSON API, the admin pages and the CLI call these, so each is audited once, in the
//! transaction that makes it. The caller runs them in a write transaction; the API then drops
//! its cached tokens ([`crate::app::AppState::write_credentials`]).

use seatflow_shared::Result;
use seatflow_shared::db::DbConn;
use seatflow_shared::store::audit::{self, Actor, Entry};
use seatflow_shared::store::tokens::{self, IssuedToken};
use serde_json::json;

/// Issues a further Secret Token (rotation: the live one stays valid until revoked).
pub fn issue_token(
    conn: &mut DbConn,
    license_id: &str,
    request_id: Option<&str>,
) -> Result<IssuedToken> {
    let issued = tokens::issue(conn, license_id)?;
    record(
        conn,
        license_id,
        "token_issued",
        &issued.token_id,
        request_id,
    )?;
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
    record(conn, license_id, "token_revoked", token_id, request_id)
}

/// Revokes every live token and issues a new one.
pub fn reset_tokens(
    conn: &mut DbConn,
    license_id: &str,
    request_id: Option<&str>,
) -> Result<IssuedToken> {
    let issued = tokens::reset(conn, license_id)?;
    record(
        conn,
        license_id,
        "tokens_reset",
        &issued.token_id,
        request_id,
    )?;
    Ok(issued)
}

fn record(
    conn: &mut DbConn,
    license_id: &str,
    action: &str,
    token_id: &str,
    request_id: Option<&str>,
) -> Result<()> {
    audit::record(
        conn,
        license_id,
        &[Entry {
            actor: Actor::Admin,
            action,
            subject: None,
            detail: json!({ "token_id": token_id }),
            request_id,
        }],
    )
}
