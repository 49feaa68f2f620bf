//! Every change an operator or a license admin can make, in one place: licenses, licensed
//! groups, licensing policies and the true-up, reprocess, tokens, admin keys, webhook endpoints and setup links. The JSON API, the
//! admin pages and the CLI call these. Each runs in the caller's write transaction, records its
//! audit entry (and any change-feed event) there, and returns the licensing change it causes
//! ([`Change::default`] for none), which the API records with it
//! ([`crate::state::AppState::command`]). Changes that can end a token's access bump the
//! authentication epoch in the store, in the same transaction.

use seatflow_feed::webhooks::endpoints::{self, Endpoint, EndpointChange, NewEndpoint, WithSecret};
use seatflow_feed::{EventType, NewEvent};
use seatflow_licensing::{Change, Impact};
use seatflow_store::admin_keys::{self, IssuedAdminKey};
use seatflow_store::audit::{self, Actor, Entry};
use seatflow_store::db::{self, DbConn};
use seatflow_store::licenses::{self, License, LicenseUpdate};
use seatflow_store::policies::{self, Policy, PolicyUpdate};
use seatflow_store::setup_links::{self, IssuedSetupLink, SetupLink, Unusable};
use seatflow_store::tokens::{self, IssuedToken};
use seatflow_store::{Result, licensed_groups, seats, time};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

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
    let before = licenses::get(conn, license_id)?;
    let license = licenses::update(conn, license_id, change)?;
    let detail = json!({
        "name": change.name, "seats": change.seats,
        "auto_promote": change.auto_promote,
        "provisioning_enabled": change.provisioning_enabled,
    });
    record(conn, license_id, "license_updated", detail, request_id)?;
    let events = license_events(&before, &license);
    seatflow_feed::event::record(conn, license_id, &events, request_id)?;
    let reconcile = if change.affects_seats() {
        Change::full()
    } else {
        Change::default()
    };
    Ok((license, reconcile))
}

/// What a license change tells the feed: its seats, and provisioning turned off or on.
fn license_events(before: &License, after: &License) -> Vec<NewEvent> {
    let mut events = Vec::new();
    let object = || serde_json::to_value(after).unwrap_or_default();
    if before.seats != after.seats {
        let previous = json!({ "seats": before.seats }).as_object().cloned();
        events.push(NewEvent::about(
            EventType::LicenseSeatsChanged,
            &after.id,
            object(),
            previous,
        ));
    }
    if before.provisioning_enabled != after.provisioning_enabled {
        let event_type = if after.provisioning_enabled {
            EventType::LicenseProvisioningEnabled
        } else {
            EventType::LicenseProvisioningDisabled
        };
        events.push(NewEvent::about(event_type, &after.id, object(), None));
    }
    events
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

/// Changes a license's licensing policies (all of the change or, when any part is invalid,
/// none of it); the whole license is reconciled under them.
pub fn change_policy(
    conn: &mut DbConn,
    license_id: &str,
    change: &PolicyUpdate,
    request_id: Option<&str>,
) -> Result<(Policy, Change)> {
    let policy = policies::update(conn, license_id, change)?;
    let detail = serde_json::to_value(change).unwrap_or_default();
    record(conn, license_id, "policy_changed", detail, request_id)?;
    Ok((policy, Change::full()))
}

/// What a policy change would do, from the real seat engine in a rolled-back transaction.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyPreview {
    pub impact: Impact,
    pub seats_before: i64,
    pub seats_after: i64,
    /// Waiting users whose place in the queue the change moves.
    pub queue_moved: usize,
    /// The first in line after the change (userNames).
    pub next_in_line: Vec<String>,
}

const NEXT_IN_LINE: usize = 10;

/// The policies [`change_policy`] would leave, and what the seat engine would make of them now.
pub fn preview_policy(
    conn: &mut DbConn,
    license_id: &str,
    change: &PolicyUpdate,
) -> Result<(Policy, PolicyPreview)> {
    db::dry_run(conn, |c| {
        let seats_before = licenses::get(c, license_id)?.seats;
        let before = waiting_line(c, license_id)?;
        let policy = policies::update(c, license_id, change)?;
        let impact = seatflow_licensing::preview(c, license_id)?;
        let after = waiting_line(c, license_id)?;
        let position: HashMap<&str, usize> = before
            .iter()
            .enumerate()
            .map(|(i, row)| (row.user_id.as_str(), i))
            .collect();
        let queue_moved = after
            .iter()
            .enumerate()
            .filter(|(i, row)| {
                position
                    .get(row.user_id.as_str())
                    .is_some_and(|was| was != i)
            })
            .count();
        let preview = PolicyPreview {
            impact,
            seats_before,
            seats_after: licenses::get(c, license_id)?.seats,
            queue_moved,
            next_in_line: after
                .into_iter()
                .take(NEXT_IN_LINE)
                .map(|row| row.user_name)
                .collect(),
        };
        Ok((policy, preview))
    })
}

/// The whole waiting line, in order.
fn waiting_line(conn: &mut DbConn, license_id: &str) -> Result<Vec<seats::SeatView>> {
    let query = seats::SeatQuery {
        status: Some(seats::BLOCKED.to_owned()),
        limit: i64::MAX,
        ..seats::SeatQuery::default()
    };
    seats::list(conn, license_id, &query)
}

/// Marks the seats the `expand` policy added as billed; how many expansions that settled.
pub fn settle_true_up(
    conn: &mut DbConn,
    license_id: &str,
    request_id: Option<&str>,
) -> Result<usize> {
    licenses::get(conn, license_id)?;
    let pending = policies::true_up(conn, license_id)?;
    let settled = policies::settle_true_up(conn, license_id)?;
    let detail = json!({ "expansions": settled, "seats": pending.pending_seats });
    record(conn, license_id, "true_up_settled", detail, request_id)?;
    Ok(settled)
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
    record(conn, license_id, "token_issued", detail.clone(), request_id)?;
    let rotated = token_event(EventType::DirectoryTokenRotated, &issued.token_id, detail);
    seatflow_feed::event::record(conn, license_id, &[rotated], request_id)?;
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
    record(
        conn,
        license_id,
        "token_revoked",
        detail.clone(),
        request_id,
    )?;
    let revoked = token_event(EventType::DirectoryTokenRevoked, token_id, detail);
    seatflow_feed::event::record(conn, license_id, &[revoked], request_id)
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
    let detail = json!({ "token_id": issued.token_id, "others_revoked": true });
    let rotated = token_event(EventType::DirectoryTokenRotated, &issued.token_id, detail);
    seatflow_feed::event::record(conn, license_id, &[rotated], request_id)?;
    Ok(issued)
}

/// A Secret Token's event: which token (never the secret).
fn token_event(event_type: EventType, token_id: &str, detail: Value) -> NewEvent {
    NewEvent::new(event_type, Some(token_id), detail)
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

/// Issues a setup link for the license's IT admin, valid for `ttl_minutes`
/// ([`setup_links::TTL_MINUTES`]); its secret is in the answer, and only there.
pub fn issue_setup_link(
    conn: &mut DbConn,
    license_id: &str,
    ttl_minutes: i64,
    label: Option<&str>,
    request_id: Option<&str>,
) -> Result<IssuedSetupLink> {
    let ttl = setup_links::ttl(ttl_minutes)?;
    let issued = setup_links::issue(conn, license_id, ttl, label)?;
    let link = &issued.link;
    let detail = json!({
        "link_id": link.id, "expires_at": link.expires_at,
        "ttl_minutes": ttl_minutes, "label": link.label,
    });
    record(conn, license_id, "setup_link_issued", detail, request_id)?;
    Ok(issued)
}

pub fn revoke_setup_link(
    conn: &mut DbConn,
    license_id: &str,
    link_id: &str,
    request_id: Option<&str>,
) -> Result<()> {
    setup_links::revoke(conn, license_id, link_id)?;
    let detail = json!({ "link_id": link_id });
    record(conn, license_id, "setup_link_revoked", detail, request_id)
}

/// Opens a setup link: marks it used (once only, see [`setup_links::redeem`]) and audits the
/// opening on its license's trail. A link that opens nothing changes nothing.
pub fn open_setup_link(
    conn: &mut DbConn,
    secret: &str,
    request_id: Option<&str>,
) -> Result<Result<SetupLink, Unusable>> {
    let opened = setup_links::redeem(conn, secret, &time::now())?;
    if let Ok(link) = &opened {
        let detail = json!({ "link_id": link.id });
        record(
            conn,
            &link.license_id,
            "setup_link_used",
            detail,
            request_id,
        )?;
    }
    Ok(opened)
}

/// Adds a webhook endpoint to `license_id` (None: the deployment's); its secret is in the
/// answer, and only there.
pub fn create_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    new: NewEndpoint,
    request_id: Option<&str>,
) -> Result<WithSecret> {
    let detail = json!({ "url": new.url, "event_types": new.event_types, "enabled": new.enabled });
    let created = endpoints::create(conn, license_id, new)?;
    let id = created.endpoint.id.clone();
    record_webhook(conn, license_id, "webhook_created", &id, detail, request_id)?;
    Ok(created)
}

pub fn change_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    webhook_id: &str,
    change: EndpointChange,
    request_id: Option<&str>,
) -> Result<Endpoint> {
    let detail = json!({
        "url": change.url, "event_types": change.event_types, "enabled": change.enabled,
    });
    let changed = endpoints::update(conn, license_id, webhook_id, change)?;
    record_webhook(
        conn,
        license_id,
        "webhook_changed",
        webhook_id,
        detail,
        request_id,
    )?;
    Ok(changed)
}

/// A new signing secret; the current one keeps signing for `overlap`.
pub fn rotate_webhook_secret(
    conn: &mut DbConn,
    license_id: Option<&str>,
    webhook_id: &str,
    request_id: Option<&str>,
) -> Result<WithSecret> {
    let overlap = endpoints::ROTATION_OVERLAP;
    let rotated = endpoints::rotate_secret(conn, license_id, webhook_id, overlap)?;
    let detail = json!({ "previous_live_secs": overlap.as_secs() });
    record_webhook(
        conn,
        license_id,
        "webhook_secret_rotated",
        webhook_id,
        detail,
        request_id,
    )?;
    Ok(rotated)
}

/// Ends a failing endpoint's failure streak: delivery goes on from its cursor.
pub fn resume_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    webhook_id: &str,
    request_id: Option<&str>,
) -> Result<Endpoint> {
    let resumed = endpoints::resume(conn, license_id, webhook_id)?;
    let detail = json!({ "cursor": resumed.cursor });
    record_webhook(
        conn,
        license_id,
        "webhook_resumed",
        webhook_id,
        detail,
        request_id,
    )?;
    Ok(resumed)
}

/// Redelivers everything recorded since `since` (RFC 3339).
pub fn rewind_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    webhook_id: &str,
    since: &str,
    request_id: Option<&str>,
) -> Result<Endpoint> {
    let rewound = endpoints::rewind(conn, license_id, webhook_id, since)?;
    let detail = json!({ "since": since, "cursor": rewound.cursor });
    record_webhook(
        conn,
        license_id,
        "webhook_rewound",
        webhook_id,
        detail,
        request_id,
    )?;
    Ok(rewound)
}

pub fn delete_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    webhook_id: &str,
    request_id: Option<&str>,
) -> Result<()> {
    endpoints::delete(conn, license_id, webhook_id)?;
    record_webhook(
        conn,
        license_id,
        "webhook_deleted",
        webhook_id,
        json!({}),
        request_id,
    )
}

/// A webhook command's audit entry, on its license's trail; a deployment-wide endpoint belongs
/// to no license, so its changes go to the log.
fn record_webhook(
    conn: &mut DbConn,
    license_id: Option<&str>,
    action: &str,
    webhook_id: &str,
    detail: Value,
    request_id: Option<&str>,
) -> Result<()> {
    let Some(license_id) = license_id else {
        tracing::info!(action, webhook_id, %detail, "deployment-wide webhook changed");
        return Ok(());
    };
    let entry = Entry {
        actor: Actor::Admin,
        action,
        subject: Some(webhook_id),
        detail,
        request_id,
    };
    audit::record(conn, license_id, &[entry])
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
