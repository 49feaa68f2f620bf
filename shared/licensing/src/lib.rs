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
use seatflow_store::policies::{self, Overflow, Reserved};
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
    /// Users who lost entitlement and keep their seat (or place) for the grace period.
    pub grace: usize,
    /// The seats the `expand` overflow policy raised the license to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded_to: Option<i64>,
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
    let (impact, pass) = apply(conn, &license, &scope, &now)?;
    if license.full_reconcile_due {
        seatflow_store::licenses::set_full_reconcile_due(conn, license_id, false)?;
    }
    metrics::counter!(LICENSING_USERS_EXAMINED).increment(impact.examined as u64);
    let decisions = &pass.decisions;
    let mut entries: Vec<Entry<'_>> = decisions
        .iter()
        .map(|d| Entry {
            actor: Actor::System,
            action: d.action,
            subject: Some(&d.user_id),
            detail: json!({ "reason": d.reason, "event_id": last_event }),
            request_id,
        })
        .collect();
    entries.extend(pass.expansions.iter().map(|(from, to)| Entry {
        actor: Actor::System,
        action: "seats_expanded",
        subject: None,
        detail: json!({ "from": from, "to": to, "cap": pass.expand_cap, "event_id": last_event }),
        request_id,
    }));
    audit::record_at(conn, license_id, &entries, &now)?;
    let ids: Vec<String> = decisions.iter().map(|d| d.user_id.clone()).collect();
    let standing = seatflow_store::users::standing(conn, license_id, &ids)?;
    record_history(conn, license_id, decisions, &standing, &now)?;
    let mut told = events::decided(conn, license_id, decisions, &standing)?;
    told.extend(events::expanded(&license, &pass.expansions));
    let seats = pass.expansions.last().map_or(license.seats, |(_, to)| *to);
    told.extend(events::usage(conn, &license, seats, impact.seats_used)?);
    told.extend(
        pass.overflow_notice
            .map(|waiting| events::overflowing(&license, seats, impact.seats_used, waiting)),
    );
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

/// What one pass decided besides the users' seats: the seats `expand` raised (from, to).
#[derive(Default)]
struct Pass {
    decisions: Vec<Decision>,
    expansions: Vec<(i64, i64)>,
    /// The cap the expansions were bounded by (the `seats_expanded` audit entry tells it).
    expand_cap: Option<i64>,
    /// The license started overflowing under `notify`: users waiting.
    overflow_notice: Option<i64>,
}

fn apply(conn: &mut DbConn, license: &License, scope: &Scope, now: &str) -> Result<(Impact, Pass)> {
    let rules = policies::rules(conn, &license.id)?;
    let affected = affected_users(conn, &license.id, scope)?;
    let entitled = entitled_among(conn, &license.id, &affected)?;
    let rows = seats::rows_for(conn, &license.id, &affected)?;
    let mut impact = Impact {
        examined: affected.len(),
        ..Impact::default()
    };
    let mut pass = Pass::default();
    let decide = |pass: &mut Pass, user_id: &str, action: &'static str, reason: &'static str| {
        pass.decisions.push(Decision {
            user_id: user_id.to_owned(),
            action,
            reason,
        });
    };

    let mut leaving = Vec::new();
    let mut entering_grace = Vec::new();
    let mut regained = Vec::new();
    let mut reprioritised = Vec::new();
    let mut joining = Vec::new();
    let mut joining_rows = Vec::new();
    for user_id in &affected {
        match (entitled.get(user_id), rows.get(user_id)) {
            (Some(e), None) => {
                joining_rows.push(seats::Newcomer {
                    user_id,
                    joined_at: &e.joined_at,
                    priority: e.priority,
                });
                joining.push(user_id.clone());
            }
            (Some(e), Some(row)) => {
                if row.priority != e.priority {
                    reprioritised.push((user_id.clone(), e.priority));
                }
                if row.grace_until.is_some() {
                    decide(&mut pass, user_id, "grace_ended", "entitled");
                    regained.push(user_id.clone());
                }
            }
            (None, Some(row)) => {
                let kept = rules.grace_minutes > 0
                    && match &row.grace_until {
                        None => {
                            decide(&mut pass, user_id, "grace_started", "not_entitled");
                            entering_grace.push(user_id.clone());
                            true
                        }
                        Some(until) => until.as_str() > now,
                    };
                if !kept {
                    let released = row.status == seats::ASSIGNED;
                    impact.released += usize::from(released);
                    let action = if released { "released" } else { "dequeued" };
                    decide(&mut pass, user_id, action, "not_entitled");
                    leaving.push(user_id.clone());
                }
            }
            (None, None) => {}
        }
    }
    seats::insert_blocked(conn, &license.id, &joining_rows, now)?;
    seats::delete(conn, &license.id, &leaving)?;
    seats::set_priority(conn, &license.id, &reprioritised)?;
    seats::end_grace(conn, &license.id, &regained)?;
    if !entering_grace.is_empty() {
        let minutes = u64::try_from(rules.grace_minutes).unwrap_or(0);
        let until = time::after(std::time::Duration::from_secs(minutes * 60));
        seats::start_grace(conn, &license.id, &entering_grace, &until)?;
        impact.grace = entering_grace.len();
    }

    let mut promotion = Promotion {
        license_id: &license.id,
        now,
        seats: license.seats,
        assigned: seats::assigned_count(conn, &license.id)?,
        all: license.auto_promote || scope.promote,
        joining: joining.iter().cloned().collect(),
        promoted: Vec::new(),
    };
    let reserved_users = reserved_users(&rules.reserved);
    promotion.reserved(conn, &rules.reserved, &reserved_users)?;
    let mut held = held_back(conn, &license.id, &rules.reserved, &reserved_users)?;
    promotion.general(conn, held)?;
    if rules.overflow == Overflow::Expand
        && let Some(cap) = rules.expand_cap
        && cap > promotion.seats
        && promotion.still_waiting(conn)? > 0
    {
        // Seat everyone the cap allows as if it were the seats (reservations first, as with
        // any freed seat), then keep only the seats that took plus those still held back: a
        // formula counting the waiting and the held apart counted a waiting reserved user
        // twice and billed a seat nobody used.
        let before = promotion.seats;
        promotion.seats = cap;
        promotion.reserved(conn, &rules.reserved, &reserved_users)?;
        held = held_back(conn, &license.id, &rules.reserved, &reserved_users)?;
        promotion.general(conn, held)?;
        promotion.seats = before.max((promotion.assigned + held).min(cap));
        if promotion.seats > before {
            policies::record_expansion(conn, &license.id, before, promotion.seats, now)?;
            pass.expansions.push((before, promotion.seats));
            pass.expand_cap = Some(cap);
        }
    }

    let joining_set: HashSet<&String> = joining.iter().collect();
    let promoted_set: HashSet<&String> = promotion.promoted.iter().collect();
    for user_id in &promotion.promoted {
        impact.assigned += 1;
        let reason = if joining_set.contains(user_id) {
            "entitled"
        } else {
            "promoted"
        };
        decide(&mut pass, user_id, "assigned", reason);
    }
    let still_waiting: Vec<String> = joining
        .iter()
        .filter(|id| !promoted_set.contains(id))
        .cloned()
        .collect();
    let free = promotion.seats - promotion.assigned - held;
    // Seats are free but nobody may take them: say so instead of "no seats available".
    if !promotion.all && free > 0 {
        seats::set_reason(conn, &license.id, &still_waiting, seats::AWAITING_ADMIN)?;
    }
    for user_id in still_waiting {
        impact.blocked += 1;
        decide(&mut pass, &user_id, "blocked", seats::NO_SEATS_AVAILABLE);
    }
    seats::set_seats_used(conn, &license.id, promotion.assigned)?;
    impact.seats_used = promotion.assigned;
    impact.expanded_to = pass.expansions.last().map(|(_, to)| *to);
    if rules.overflow == Overflow::Notify || rules.overflowing_since.is_some() {
        let waiting = seats::promotable_count(conn, &license.id)?;
        let overflowing = waiting > 0 && free <= 0 && rules.overflow == Overflow::Notify;
        if overflowing && rules.overflowing_since.is_none() {
            policies::set_overflowing(conn, &license.id, Some(now))?;
            pass.overflow_notice = Some(waiting);
        } else if !overflowing && rules.overflowing_since.is_some() {
            policies::set_overflowing(conn, &license.id, None)?;
        }
    }
    Ok((impact, pass))
}

/// The seats held back for reservations now (the seat totals' `reserved`).
pub fn reserved_held(conn: &mut DbConn, license_id: &str) -> Result<i64> {
    let rules = policies::rules(conn, license_id)?;
    held_back(
        conn,
        license_id,
        &rules.reserved,
        &reserved_users(&rules.reserved),
    )
}

/// The synced users reserved by name.
fn reserved_users(reserved: &[Reserved]) -> HashSet<String> {
    reserved
        .iter()
        .filter_map(|r| match r {
            Reserved::User { user_id } => user_id.clone(),
            Reserved::Group { .. } => None,
        })
        .collect()
}

/// Seats held back for reservations not yet filled: one per reserved user without a seat, and
/// per reserved group the seats it reserves beyond the members (not reserved by name) holding
/// one. Held seats go to nobody else; a reservation never takes a seat from its holder.
fn held_back(
    conn: &mut DbConn,
    license_id: &str,
    reserved: &[Reserved],
    reserved_users: &HashSet<String>,
) -> Result<i64> {
    if reserved.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = reserved_users.iter().cloned().collect();
    let rows = seats::rows_for(conn, license_id, &ids)?;
    let mut held = 0;
    for r in reserved {
        held += match r {
            Reserved::User { user_id: Some(id) } => {
                i64::from(rows.get(id).is_none_or(|row| row.status != seats::ASSIGNED))
            }
            Reserved::User { user_id: None } => 1,
            Reserved::Group {
                group_id: Some(group_id),
                seats: n,
            } => group_shortfall(conn, license_id, group_id, *n, reserved_users)?,
            Reserved::Group {
                group_id: None,
                seats: n,
            } => *n,
        };
    }
    Ok(held)
}

/// The seats a group reservation of `reserved` seats still holds back: those its members (not reserved by
/// name) do not hold yet.
fn group_shortfall(
    conn: &mut DbConn,
    license_id: &str,
    group_id: &str,
    reserved: i64,
    reserved_users: &HashSet<String>,
) -> Result<i64> {
    let holding = seats::holders_in_group(conn, license_id, group_id)?
        .into_iter()
        .filter(|id| !reserved_users.contains(id))
        .count();
    Ok((reserved - i64::try_from(holding).unwrap_or(i64::MAX)).max(0))
}

/// Seats given out in one pass: who may take one (everyone waiting, or only this pass's
/// newcomers when automatic promotion is off), and the count as it goes.
struct Promotion<'a> {
    license_id: &'a str,
    now: &'a str,
    seats: i64,
    assigned: i64,
    /// Every waiting user may be promoted (automatic promotion or an admin's reprocess).
    all: bool,
    joining: HashSet<String>,
    promoted: Vec<String>,
}

impl Promotion<'_> {
    /// Reserved seats first: a reserved user, then each reserved group's members up to what it
    /// still holds back.
    fn reserved(
        &mut self,
        conn: &mut DbConn,
        reserved: &[Reserved],
        reserved_users: &HashSet<String>,
    ) -> Result<()> {
        if !reserved_users.is_empty() {
            let ids: Vec<String> = reserved_users.iter().cloned().collect();
            let waiting = seats::queue_order(conn, self.license_id, &ids)?;
            self.seat(conn, waiting, i64::MAX)?;
        }
        for reserved in reserved {
            if let Reserved::Group {
                group_id: Some(group_id),
                seats: held,
            } = reserved
            {
                let need = group_shortfall(conn, self.license_id, group_id, *held, reserved_users)?;
                if need > 0 {
                    let waiting = seats::waiting_in_group(conn, self.license_id, group_id)?;
                    self.seat(conn, waiting, need)?;
                }
            }
        }
        Ok(())
    }

    /// Seats, while any is free, for up to `limit` of `waiting` (in queue order) that may take one.
    fn seat(&mut self, conn: &mut DbConn, waiting: Vec<String>, limit: i64) -> Result<()> {
        let room = (self.seats - self.assigned).min(limit).max(0);
        let ids: Vec<String> = waiting
            .into_iter()
            .filter(|id| self.all || self.joining.contains(id))
            .take(usize::try_from(room).unwrap_or(usize::MAX))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let seated = seats::assign(conn, self.license_id, &ids, self.now)?;
        let ids = if seated == ids.len() {
            ids
        } else {
            // A user deleted while this pass promoted them: their deletion locked the seat row
            // first and took it along, so the update found nothing. They hold no seat, so they
            // are neither told as assigned (audit, feed, seat history) nor counted in
            // `seats_used`; the deletion's own licensing event fills the seat.
            let rows = seats::rows_for(conn, self.license_id, &ids)?;
            ids.into_iter()
                .filter(|id| rows.get(id).is_some_and(|r| r.status == seats::ASSIGNED))
                .collect()
        };
        self.assigned += i64::try_from(ids.len()).unwrap_or(i64::MAX);
        self.promoted.extend(ids);
        Ok(())
    }

    /// The seats not held back for reservations, to the head of the queue.
    fn general(&mut self, conn: &mut DbConn, held: i64) -> Result<()> {
        let free = self.seats - self.assigned - held;
        if free <= 0 {
            return Ok(());
        }
        let head = if self.all {
            seats::queue_head(conn, self.license_id, free)?
        } else {
            let joining: Vec<String> = self.joining.iter().cloned().collect();
            seats::queue_order(conn, self.license_id, &joining)?
        };
        self.seat(conn, head, free)
    }

    /// How many who may take a seat still wait (rows in grace do not).
    fn still_waiting(&self, conn: &mut DbConn) -> Result<i64> {
        Ok(if self.all {
            seats::promotable_count(conn, self.license_id)?
        } else {
            let joining: Vec<String> = self.joining.iter().cloned().collect();
            i64::try_from(seats::queue_order(conn, self.license_id, &joining)?.len())
                .unwrap_or(i64::MAX)
        })
    }
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

/// An entitled user's earliest join time to a licensed group, and their priority: the highest
/// of their licensed groups'.
struct Entitled {
    joined_at: String,
    priority: i32,
}

/// Of `user_ids`, the entitled ones.
fn entitled_among(
    conn: &mut DbConn,
    license_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, Entitled>> {
    let mut entitled: HashMap<String, Entitled> = HashMap::new();
    for chunk in user_ids.chunks(CHUNK) {
        let active: Vec<String> = users::table
            .filter(users::license_id.eq(license_id))
            .filter(users::id.eq_any(chunk))
            .filter(users::active.eq(true))
            .select(users::id)
            .load(conn)?;
        let joined: Vec<(String, String, i32)> = group_members::table
            .inner_join(
                licensed_groups::table.on(licensed_groups::group_id
                    .eq(group_members::group_id)
                    .and(licensed_groups::license_id.eq(license_id))),
            )
            .filter(group_members::user_id.eq_any(&active))
            .select((
                group_members::user_id,
                group_members::joined_at,
                licensed_groups::priority,
            ))
            .load(conn)?;
        for (id, joined_at, priority) in joined {
            entitled
                .entry(id)
                .and_modify(|e| {
                    if joined_at < e.joined_at {
                        e.joined_at.clone_from(&joined_at);
                    }
                    e.priority = e.priority.max(priority);
                })
                .or_insert(Entitled {
                    joined_at,
                    priority,
                });
        }
    }
    Ok(entitled)
}
