//! The seat engine (`docs/ARCHITECTURE.md`, "Seats"), run by the worker in one transaction per license and batch.
//!
//! - Entitled = active AND member of at least one licensed group of the license.
//! - An entitled user without a seat row joins the queue (`blocked`, `no_seats_available`);
//!   a user who is no longer entitled loses their row (a seat is released, or they leave the
//!   queue). Nothing else ever takes a seat away: lowering `seats` evicts nobody.
//! - Free seats (`seats` − assigned) go to the queue's head in order: when the user became
//!   entitled, then when they joined a licensed group (the provider's sync order), then id.
//!   With automatic promotion off, only users who became entitled in this very pass (the
//!   seed's sync-time assignment) or an admin's reprocess fill free seats.
//! - `seats_used` is recomputed from the rows in the same transaction; on PostgreSQL the
//!   license row is locked first, so two workers never both take the last seat.
//!
//! Events only say which users to look at ([`Change`], the licensing events' payload);
//! everything is recomputed from current state, so a duplicate, late or reordered event
//! changes nothing.

pub mod events;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use std::sync::Arc;

use seatflow_queue::Settings;
use seatflow_queue::consumer::{self, Handler};
use seatflow_queue::embedded::Embedded;
use seatflow_queue::events::Event;
use seatflow_queue::outbox;
use seatflow_queue::rabbitmq::RabbitMq;
use seatflow_queue::transport::{Transport, TransportError};
use seatflow_runtime::telemetry::LICENSING_USERS_EXAMINED;
use seatflow_store::audit::{self, Actor, Entry};
use seatflow_store::db::schema::{group_members, licensed_groups, licenses, users};
use seatflow_store::db::{Db, DbConn};
use seatflow_store::licenses::License;
use seatflow_store::seat_history::{self, Opened};
use seatflow_store::{Error, Result, seats, time};
use tokio::sync::{Notify, watch};

const CHUNK: usize = 1000;

/// What a write changed that can move a seat: the licensing events' payload. A write that
/// changes none of it (a new user, a rename, an e-mail) records no event at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Users whose `active` changed, or who were deleted (or whose licensed group was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Per group, the users whose membership of it changed (joined or left): what a
    /// membership write costs licensing is proportional to them, not to the group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Vec<String>>,
    /// Events recorded by earlier versions named a group without its changed members; such
    /// an event reconciles the whole license.
    #[serde(default, skip_serializing)]
    pub groups: Vec<String>,
    /// Reconcile the whole license (licensed groups, seats or promotion changed; the safety net).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
    /// An admin's reprocess: promote waiting users into free seats even when automatic
    /// promotion is off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

impl Change {
    pub fn user(id: &str) -> Change {
        Change::users(vec![id.to_owned()])
    }

    pub fn users(ids: Vec<String>) -> Change {
        Change {
            users: ids,
            ..Change::default()
        }
    }

    /// `ids` joined or left `group` (nothing, if there are none).
    pub fn members(group: &str, ids: Vec<String>) -> Change {
        let mut change = Change::default();
        if !ids.is_empty() {
            change.members.insert(group.to_owned(), ids);
        }
        change
    }

    pub fn full() -> Change {
        Change {
            full: true,
            ..Change::default()
        }
    }

    /// The admin's "reprocess": a full reconcile that also promotes waiting users.
    pub fn reprocess() -> Change {
        Change {
            full: true,
            promote: true,
            ..Change::default()
        }
    }

    /// Nothing whose licensing could change (e.g. a PATCH that changed nothing).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.members.is_empty() && self.groups.is_empty() && !self.full
    }
}

/// Records the licensing event a write causes, in the write's transaction (nothing when the
/// change touches nothing licensing looks at); whether one was recorded. Every write reaches
/// licensing this way, so nothing committed can miss its licensing.
pub fn record(
    conn: &mut DbConn,
    license_id: &str,
    change: &Change,
    request_id: Option<&str>,
) -> Result<bool> {
    if change.is_empty() {
        return Ok(false);
    }
    if change.full || !change.groups.is_empty() {
        // Whichever of the license's events is applied next does the full reconcile, even one
        // recorded earlier and delivered later than this one (see `reconcile`).
        seatflow_store::licenses::set_full_reconcile_due(conn, license_id, true)?;
    }
    outbox::enqueue(conn, license_id, change, request_id)?;
    Ok(true)
}

/// Licensing as the queue's consumers run it: each license's events reconciled in the
/// transaction the consumer opens for them.
pub struct Licensing;

/// Applies licensing events from RabbitMQ until `stop` (`seatflow-worker`).
pub async fn consume_rabbitmq(
    db: Db,
    settings: Settings,
    url: String,
    stop: watch::Receiver<bool>,
) {
    let connect = || {
        let (db, settings, url, stop) = (db.clone(), settings.clone(), url.clone(), stop.clone());
        async move {
            RabbitMq::connect(db, &settings, &url, stop)
                .await
                .map_err(TransportError::from)
        }
    };
    run_licensing(db.clone(), &settings, connect, stop.clone()).await;
}

/// Applies licensing events straight from the outbox until `stop` (the embedded default, inside
/// `seatflow-api`); `wake` is notified after each commit that records an event.
pub async fn consume_embedded(
    db: Db,
    settings: Settings,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) {
    let policy = settings.retry();
    let connect = || {
        let transport = Embedded::new(db.clone(), policy, wake.clone(), stop.clone());
        async move { Ok::<_, TransportError>(transport) }
    };
    run_licensing(db.clone(), &settings, connect, stop.clone()).await;
}

/// The consumer loop with the licensing handler and the settings' retry policy and batch size,
/// on whichever transport `connect` opens (and reopens after a failure).
async fn run_licensing<T, C, F>(
    db: Db,
    settings: &Settings,
    connect: C,
    stop: watch::Receiver<bool>,
) where
    T: Transport,
    C: Fn() -> F,
    F: Future<Output = Result<T, TransportError>>,
{
    let (policy, batch) = (settings.retry(), settings.batch);
    consumer::run(db, Arc::new(Licensing), policy, batch, connect, stop).await;
}

impl Handler for Licensing {
    fn apply(&self, conn: &mut DbConn, license_id: &str, events: &[Event]) -> Result<()> {
        let changes = events
            .iter()
            .map(Event::payload::<Change>)
            .collect::<Result<Vec<_>>>()?;
        let cause = Cause {
            event_id: events.iter().map(|e| e.id).max(),
            request_id: events.iter().rev().find_map(|e| e.request_id.as_deref()),
        };
        reconcile(conn, license_id, &changes, cause).map(drop)
    }
}

/// What led to a reconcile, for the audit trail: the last event applied and the request that
/// caused it (None: an admin's preview or a direct reconcile).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cause<'a> {
    pub event_id: Option<i64>,
    pub request_id: Option<&'a str>,
}

/// What a reconcile decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub assigned: usize,
    pub blocked: usize,
    pub released: usize,
    /// Users the reconcile looked at: what it cost (`seatflow_licensing_users_examined_total`).
    #[serde(skip)]
    pub examined: usize,
    /// Seats assigned after it.
    #[serde(skip)]
    pub seats_used: i64,
}

/// The users an event batch asks to look at.
#[derive(Debug, Default)]
struct Scope {
    users: BTreeSet<String>,
    /// Per group, members who joined or left it.
    members: BTreeMap<String, BTreeSet<String>>,
    full: bool,
    promote: bool,
}

impl Scope {
    fn of(changes: &[Change]) -> Scope {
        let mut scope = Scope::default();
        for change in changes {
            scope.users.extend(change.users.iter().cloned());
            for (group, ids) in &change.members {
                scope
                    .members
                    .entry(group.clone())
                    .or_default()
                    .extend(ids.iter().cloned());
            }
            scope.full |= change.full || !change.groups.is_empty();
            scope.promote |= change.promote;
        }
        scope
    }
}

/// Reconciles `license_id` for `changes` in the caller's transaction. A license deleted
/// meanwhile has nothing left to do.
pub fn reconcile(
    conn: &mut DbConn,
    license_id: &str,
    changes: &[Change],
    cause: Cause<'_>,
) -> Result<Impact> {
    let Some(license) = lock_license(conn, license_id)? else {
        return Ok(Impact::default());
    };
    let mut scope = Scope::of(changes);
    // A pending full reconcile goes first: a membership event applied between a licensed-group
    // change and its full event would otherwise seat its few users ahead of everyone the
    // change entitled (seats follow queue order only among the users one pass looks at).
    scope.full |= license.full_reconcile_due;
    let (last_event, request_id) = (cause.event_id, cause.request_id);
    // One instant for the decisions' seats, audit entries and seat history alike.
    let now = time::now();
    let (impact, decisions) = apply(conn, &license, &scope, &now)?;
    if license.full_reconcile_due {
        seatflow_store::licenses::set_full_reconcile_due(conn, license_id, false)?;
    }
    metrics::counter!(LICENSING_USERS_EXAMINED).increment(impact.examined as u64);
    let entries: Vec<Entry<'_>> = decisions
        .iter()
        .map(|d| Entry {
            actor: Actor::System,
            action: d.action,
            subject: Some(&d.user_id),
            detail: json!({ "reason": d.reason, "event_id": last_event }),
            request_id,
        })
        .collect();
    audit::record_at(conn, license_id, &entries, &now)?;
    let ids: Vec<String> = decisions.iter().map(|d| d.user_id.clone()).collect();
    let standing = seatflow_store::users::standing(conn, license_id, &ids)?;
    record_history(conn, license_id, &decisions, &standing, &now)?;
    let mut told = events::decided(conn, license_id, &decisions, &standing)?;
    told.extend(events::usage(conn, &license, impact.seats_used)?);
    seatflow_feed::event::record(conn, license_id, &told, request_id)?;
    Ok(impact)
}

/// What a full reconcile would do now, without doing it; run inside a transaction the caller
/// rolls back (`db::dry_run`), after applying the change to preview.
pub fn preview(conn: &mut DbConn, license_id: &str) -> Result<Impact> {
    let license = lock_license(conn, license_id)?
        .ok_or_else(|| Error::NotFound(format!("license {license_id} not found")))?;
    let scope = Scope {
        full: true,
        ..Scope::default()
    };
    Ok(apply(conn, &license, &scope, &time::now())?.0)
}

/// The seat history of the decisions: a row opened for each seat taken, the holder's row
/// closed for each seat released, with the why the change feed's `seat.released` tells.
fn record_history(
    conn: &mut DbConn,
    license_id: &str,
    decisions: &[Decision],
    standing: &events::Standing,
    at: &str,
) -> Result<()> {
    let closed: Vec<(&str, &str)> = decisions
        .iter()
        .filter(|d| d.action == "released")
        .map(|d| {
            (
                d.user_id.as_str(),
                events::release_why(standing.get(&d.user_id)),
            )
        })
        .collect();
    seat_history::close(conn, license_id, &closed, at)?;
    // Every user seated has a user row (the seat row's foreign key), so a userName.
    let opened: Vec<Opened<'_>> = decisions
        .iter()
        .filter(|d| d.action == "assigned")
        .filter_map(|d| {
            let (user_name, _) = standing.get(&d.user_id)?;
            Some(Opened {
                user_id: &d.user_id,
                user_name,
                reason: d.reason,
            })
        })
        .collect();
    seat_history::open(conn, license_id, &opened, at)
}

pub(crate) struct Decision {
    pub(crate) user_id: String,
    pub(crate) action: &'static str,
    pub(crate) reason: &'static str,
}

/// Serialises the reconciles of a license. On PostgreSQL `FOR NO KEY UPDATE`, not `FOR UPDATE`:
/// the latter also blocks the key-share lock a SCIM write's outbox insert takes on the license
/// (its foreign key), and a write that had already cascaded into a seat row the reconcile goes
/// on to update then deadlocked with it (a DELETE /Users answered 500 under the chaos burst).
fn lock_license(conn: &mut DbConn, license_id: &str) -> Result<Option<License>> {
    Ok(match conn {
        DbConn::Pg(pg) => licenses::table
            .find(license_id)
            .select(License::as_select())
            .for_no_key_update()
            .first(pg)
            .optional()?,
        // SQLite write transactions are serialised by BEGIN IMMEDIATE already.
        DbConn::Sqlite(lite) => licenses::table
            .find(license_id)
            .select(License::as_select())
            .first(lite)
            .optional()?,
    })
}

fn apply(
    conn: &mut DbConn,
    license: &License,
    scope: &Scope,
    now: &str,
) -> Result<(Impact, Vec<Decision>)> {
    let affected = affected_users(conn, &license.id, scope)?;
    let entitled = entitled_among(conn, &license.id, &affected)?;
    let rows = seats::rows_for(conn, &license.id, &affected)?;
    let mut impact = Impact {
        examined: affected.len(),
        ..Impact::default()
    };
    let mut decisions = Vec::new();

    let mut leaving = Vec::new();
    let mut joining = Vec::new();
    let mut joining_rows = Vec::new();
    for user_id in &affected {
        match (entitled.get(user_id), rows.get(user_id)) {
            (Some(joined_at), None) => {
                joining_rows.push((user_id.as_str(), joined_at.as_str()));
                joining.push(user_id.clone());
            }
            (None, Some(row)) => {
                let released = row.status == seats::ASSIGNED;
                impact.released += usize::from(released);
                decisions.push(Decision {
                    user_id: user_id.clone(),
                    action: if released { "released" } else { "dequeued" },
                    reason: "not_entitled",
                });
                leaving.push(user_id.clone());
            }
            _ => {}
        }
    }
    seats::insert_blocked(conn, &license.id, &joining_rows, now)?;
    seats::delete(conn, &license.id, &leaving)?;

    let assigned_now = seats::assigned_count(conn, &license.id)?;
    let free = (license.seats - assigned_now).max(0);
    let joining_set: HashSet<&String> = joining.iter().collect();
    let may_promote_all = license.auto_promote || scope.promote;
    let promoted: Vec<String> = if free == 0 {
        Vec::new()
    } else if may_promote_all {
        seats::queue_head(conn, &license.id, free)?
    } else {
        // Only this pass's newcomers, in queue order (they share `queued_at`).
        let mut head = seats::queue_order(conn, &license.id, &joining)?;
        head.truncate(usize::try_from(free).unwrap_or(usize::MAX));
        head
    };
    let seated = seats::assign(conn, &license.id, &promoted, now)?;
    let promoted = if seated == promoted.len() {
        promoted
    } else {
        // A user deleted while this pass promoted them: their deletion locked the seat row
        // first and took it along, so the update found nothing. They hold no seat, so they are
        // neither told as assigned (audit, feed, seat history) nor counted in `seats_used`;
        // the deletion's own licensing event fills the seat.
        let rows = seats::rows_for(conn, &license.id, &promoted)?;
        promoted
            .into_iter()
            .filter(|id| rows.get(id).is_some_and(|r| r.status == seats::ASSIGNED))
            .collect()
    };
    let promoted_set: HashSet<&String> = promoted.iter().collect();
    for user_id in &promoted {
        impact.assigned += 1;
        decisions.push(Decision {
            user_id: user_id.clone(),
            action: "assigned",
            reason: if joining_set.contains(user_id) {
                "entitled"
            } else {
                "promoted"
            },
        });
    }
    let still_waiting: Vec<String> = joining
        .iter()
        .filter(|id| !promoted_set.contains(id))
        .cloned()
        .collect();
    // Seats are free but nobody may take them: say so instead of "no seats available".
    if !may_promote_all && free > i64::try_from(promoted.len()).unwrap_or(i64::MAX) {
        seats::set_reason(conn, &license.id, &still_waiting, seats::AWAITING_ADMIN)?;
    }
    for user_id in still_waiting {
        impact.blocked += 1;
        decisions.push(Decision {
            user_id,
            action: "blocked",
            reason: seats::NO_SEATS_AVAILABLE,
        });
    }
    let used = assigned_now + i64::try_from(promoted.len()).unwrap_or(i64::MAX);
    seats::set_seats_used(conn, &license.id, used)?;
    impact.seats_used = used;
    Ok((impact, decisions))
}

/// The users whose entitlement may have changed, sorted: the changed users and the changed
/// members of licensed groups; for a full reconcile every member of a licensed group and every
/// seat holder (former members among them).
fn affected_users(conn: &mut DbConn, license_id: &str, scope: &Scope) -> Result<Vec<String>> {
    let licensed: BTreeSet<String> = licensed_groups::table
        .filter(licensed_groups::license_id.eq(license_id))
        .select(licensed_groups::group_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut affected: BTreeSet<String> = scope.users.clone();
    if scope.full {
        let licensed: Vec<String> = licensed.into_iter().collect();
        for chunk in licensed.chunks(CHUNK) {
            let members: Vec<String> = group_members::table
                .filter(group_members::group_id.eq_any(chunk))
                .select(group_members::user_id)
                .load(conn)?;
            affected.extend(members);
        }
        affected.extend(seats::holders(conn, license_id)?);
    } else {
        // Membership of a group that grants no seats changes nobody's entitlement.
        for (group, ids) in &scope.members {
            if licensed.contains(group) {
                affected.extend(ids.iter().cloned());
            }
        }
    }
    Ok(affected.into_iter().collect())
}

/// Of `user_ids`, the entitled ones with their earliest join time to a licensed group.
fn entitled_among(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, String>> {
    let mut entitled = HashMap::new();
    for chunk in user_ids.chunks(CHUNK) {
        let active: Vec<String> = users::table
            .filter(users::license_id.eq(license_id))
            .filter(users::id.eq_any(chunk))
            .filter(users::active.eq(true))
            .select(users::id)
            .load(conn)?;
        let licensed = licensed_groups::table
            .filter(licensed_groups::license_id.eq(license_id))
            .select(licensed_groups::group_id);
        let joined: Vec<(String, Option<String>)> = group_members::table
            .filter(group_members::user_id.eq_any(&active))
            .filter(group_members::group_id.eq_any(licensed))
            .group_by(group_members::user_id)
            .select((
                group_members::user_id,
                diesel::dsl::min(group_members::joined_at),
            ))
            .load(conn)?;
        entitled.extend(
            joined
                .into_iter()
                .filter_map(|(id, at)| at.map(|at| (id, at))),
        );
    }
    Ok(entitled)
}
