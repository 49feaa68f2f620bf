//! A model-based property test of the seat engine: random sequences of SCIM changes, seat and
//! promotion settings, licensed-group selections, licensing policies (group priorities, reserved
//! seats, overflow block/notify/expand with its cap, the release grace period and its expiry),
//! admin reprocesses and redelivered (duplicate) events run against the real storage and worker
//! code. After every step the seat rows, their queue order, the license's seats and the
//! policies' state equal those of an in-memory reference model that implements the rules (README,
//! "Licensing policies") on its own, and the seat invariants (`docs/ARCHITECTURE.md`, as amended
//! for the policies) hold. Runs on SQLite and PostgreSQL, with a fixed seed and a bounded number
//! of cases.

#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use seatflow_licensing::{Change, Licensing};
use seatflow_queue::consumer::apply_batch;
use seatflow_queue::events::Event;
use seatflow_queue::outbox;
use seatflow_scim::patch::{MemberChange, NewMember};
use seatflow_scim::resource;
use seatflow_store::db::{Db, DbConn};
use seatflow_store::licenses::{self, LicenseUpdate};
use seatflow_store::policies::{self, GroupReservation, Overflow, Policy, PolicyUpdate};
use seatflow_store::{groups, licensed_groups, seats, time, users};
use seatflow_tests::{Backend, TestDb};
use serde_json::json;

const USERS: usize = 8;
const GROUPS: usize = 2;
/// Long enough never to pass during a case: only `Op::ExpireGrace` ends a grace period.
const GRACE_MINUTES: i32 = 30;

/// How an admin typed a reservation's userName or displayName (the store normalises them).
#[derive(Debug, Clone, Copy)]
enum Spelling {
    Exact,
    Upper,
    Padded,
}

impl Spelling {
    fn write(self, name: &str) -> String {
        match self {
            Spelling::Exact => name.to_owned(),
            Spelling::Upper => name.to_uppercase(),
            Spelling::Padded => format!("  {name} "),
        }
    }
}

/// A reservation's target: a user or group slot.
#[derive(Debug, Clone)]
enum Target {
    /// `u{slot}@x.com` / `g{slot}`, synced or not.
    Name(usize, Spelling),
    /// The id of the slot's user or group (its name while the user does not exist).
    Id(usize),
}

#[derive(Debug, Clone)]
enum Op {
    CreateUser(usize),
    SetActive(usize, bool),
    DeleteUser(usize),
    AddMembers(usize, Vec<usize>),
    RemoveMember(usize, usize),
    License(BTreeSet<usize>),
    Seats(i64),
    AutoPromote(bool),
    Reprocess,
    /// Apply an already-applied event again, as a redelivery would.
    Redeliver(usize),
    /// Group priorities; with `true` groups that are not licensed stay in (the store refuses).
    Priorities(Vec<(usize, i32)>, bool),
    ReserveUsers(Vec<Target>),
    ReserveGroups(Vec<(Target, i64)>),
    /// The overflow policy, with a cap this many seats above the license's (None: unchanged).
    Overflow(Overflow, Option<i64>),
    Grace(i32),
    /// The grace periods of these slots' rows pass (time going by, then the API's sweep).
    ExpireGrace(BTreeSet<usize>),
}

fn target(slots: usize) -> impl Strategy<Value = Target> {
    let spelling = prop_oneof![
        Just(Spelling::Exact),
        Just(Spelling::Upper),
        Just(Spelling::Padded)
    ];
    prop_oneof![
        3 => (0..slots, spelling).prop_map(|(s, sp)| Target::Name(s, sp)),
        1 => (0..slots).prop_map(Target::Id),
    ]
}

/// The policy changes: in a case's preamble, so that most cases run under some policy, and
/// among its steps.
fn policy_op() -> impl Strategy<Value = Op> {
    let priority = prop_oneof![8 => -2i32..=2, 1 => Just(1001)];
    let overflow = prop_oneof![
        1 => Just(Overflow::Block),
        1 => Just(Overflow::Notify),
        2 => Just(Overflow::Expand),
    ];
    // Mostly a cap the license may grow to; one below the seats, which `expand` refuses.
    let cap = proptest::option::weighted(0.8, prop_oneof![1 => Just(-1i64), 6 => 0i64..=4]);
    let grace = prop_oneof![
        2 => Just(0),
        3 => Just(GRACE_MINUTES),
        1 => Just(policies::MAX_GRACE_MINUTES),
        1 => Just(policies::MAX_GRACE_MINUTES + 1),
    ];
    prop_oneof![
        2 => (proptest::collection::vec((0..GROUPS, priority), 1..=GROUPS), proptest::bool::weighted(0.2))
            .prop_map(|(p, any)| Op::Priorities(p, any)),
        2 => proptest::collection::vec(target(USERS), 0..=3).prop_map(Op::ReserveUsers),
        1 => proptest::collection::vec((target(GROUPS), 0i64..=3), 0..=2).prop_map(Op::ReserveGroups),
        2 => (overflow, cap).prop_map(|(o, cap)| Op::Overflow(o, cap)),
        2 => grace.prop_map(Op::Grace),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS).prop_map(Op::CreateUser),
        2 => (0..USERS, any::<bool>()).prop_map(|(u, a)| Op::SetActive(u, a)),
        1 => (0..USERS).prop_map(Op::DeleteUser),
        3 => (0..GROUPS, proptest::collection::vec(0..USERS, 1..4)).prop_map(|(g, m)| Op::AddMembers(g, m)),
        2 => (0..GROUPS, 0..USERS).prop_map(|(g, u)| Op::RemoveMember(g, u)),
        2 => proptest::collection::btree_set(0..GROUPS, 0..=GROUPS).prop_map(Op::License),
        2 => (0i64..5).prop_map(Op::Seats),
        1 => any::<bool>().prop_map(Op::AutoPromote),
        1 => Just(Op::Reprocess),
        1 => (0usize..50).prop_map(Op::Redeliver),
        7 => policy_op(),
        2 => proptest::collection::btree_set(0..USERS, 1..=USERS).prop_map(Op::ExpireGrace),
    ]
}

fn user_name(slot: usize) -> String {
    format!("u{slot}@x.com")
}

/// Reservation targets as the store keeps them: trimmed, lower-cased; None when one is empty or
/// given twice (the store refuses the update).
fn stored<'a>(targets: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for target in targets {
        let target = target.trim().to_lowercase();
        if target.is_empty() || out.contains(&target) {
            return None;
        }
        out.push(target);
    }
    Some(out)
}

/// A row's release grace period: none, running, or passed (the row goes in the pass after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grace {
    No,
    Running,
    Passed,
}

#[derive(Debug, Clone)]
struct Row {
    assigned: bool,
    /// The step whose pass queued the user (`queued_at`).
    queued: usize,
    /// The join sequence the row was made with (`joined_at`).
    joined: u64,
    /// The user's priority when last looked at while entitled.
    priority: i32,
    grace: Grace,
}

/// The reference: who is entitled, the policies, and the seat rows, by the rules in plain code.
#[derive(Default)]
struct Model {
    group_ids: Vec<String>,
    /// user slot → (id, active)
    users: BTreeMap<usize, (String, bool)>,
    /// group → member slot → join sequence
    members: Vec<BTreeMap<usize, u64>>,
    licensed: BTreeSet<usize>,
    /// Licensed group → priority (absent: 0); a group that stops being licensed loses it.
    priorities: BTreeMap<usize, i32>,
    seats: i64,
    /// The seats the admin last set: only `expand` raises `seats` above them.
    admin_seats: i64,
    auto_promote: bool,
    overflow: Overflow,
    cap: Option<i64>,
    grace_minutes: i32,
    /// Reservation targets as stored, in the admin's order.
    reserved_users: Vec<String>,
    reserved_groups: Vec<(String, i64)>,
    rows: BTreeMap<String, Row>,
    joins: u64,
    /// Seats the expansions added: the pending true-up.
    expanded: i64,
    /// The license overflows under `notify` (`overflowing_since` set).
    overflowing: bool,
}

impl Model {
    fn member(&self, group: usize, id: &str) -> bool {
        self.users
            .iter()
            .any(|(slot, (uid, _))| uid == id && self.members[group].contains_key(slot))
    }

    /// Entitled users → (earliest join to a licensed group, highest licensed group priority).
    fn entitled(&self) -> BTreeMap<String, (u64, i32)> {
        let mut entitled = BTreeMap::new();
        for (slot, (id, active)) in &self.users {
            let groups: Vec<(u64, i32)> = self
                .licensed
                .iter()
                .filter_map(|g| {
                    let joined = self.members[*g].get(slot)?;
                    Some((*joined, self.priorities.get(g).copied().unwrap_or(0)))
                })
                .collect();
            if let (true, Some(joined), Some(priority)) = (
                *active,
                groups.iter().map(|g| g.0).min(),
                groups.iter().map(|g| g.1).max(),
            ) {
                entitled.insert(id.clone(), (joined, priority));
            }
        }
        entitled
    }

    /// The user reservations resolved against what is synced: one entry per reserved user
    /// (None: not synced).
    fn user_reservations(&self) -> Vec<Option<String>> {
        let mut users: Vec<Option<String>> = Vec::new();
        for target in &self.reserved_users {
            let found = self
                .users
                .iter()
                .find(|(slot, (id, _))| id == target || user_name(**slot) == *target)
                .map(|(_, (id, _))| id.clone());
            // Two targets naming one user hold one seat.
            if found.is_none() || !users.contains(&found) {
                users.push(found);
            }
        }
        users
    }

    /// Each group reservation's group (None: not synced) and seats.
    fn group_reservations(&self) -> Vec<(Option<usize>, i64)> {
        self.reserved_groups
            .iter()
            .map(|(target, n)| {
                let found = (0..GROUPS)
                    .find(|g| self.group_ids[*g] == *target || format!("g{g}") == *target);
                (found, *n)
            })
            .collect()
    }

    fn reserved_ids(&self) -> BTreeSet<String> {
        self.user_reservations().into_iter().flatten().collect()
    }

    /// What a group reservation still holds back while `assigned` hold seats: its seats beyond
    /// the members holding one who are not reserved by name.
    fn need(&self, group: usize, seats: i64, assigned: &BTreeSet<String>) -> i64 {
        let reserved = self.reserved_ids();
        let holding = assigned
            .iter()
            .filter(|id| self.member(group, id) && !reserved.contains(*id))
            .count() as i64;
        seats - holding
    }

    /// Seats held back for reservations not yet filled while `assigned` hold seats.
    fn held(&self, assigned: &BTreeSet<String>) -> i64 {
        let users: i64 = self
            .user_reservations()
            .iter()
            .map(|u| i64::from(!u.as_ref().is_some_and(|id| assigned.contains(id))))
            .sum();
        let groups: i64 = self
            .group_reservations()
            .iter()
            .map(|(group, n)| match group {
                Some(g) => self.need(*g, *n, assigned).max(0),
                None => *n,
            })
            .sum();
        users + groups
    }

    fn assigned(&self) -> BTreeSet<String> {
        self.rows
            .iter()
            .filter(|(_, r)| r.assigned)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The waiting rows `keep` admits, in queue order.
    fn line(&self, keep: impl Fn(&str, &Row) -> bool) -> Vec<String> {
        let mut line: Vec<(Reverse<i32>, usize, u64, &String)> = self
            .rows
            .iter()
            .filter(|(id, r)| !r.assigned && keep(id, r))
            .map(|(id, r)| (Reverse(r.priority), r.queued, r.joined, id))
            .collect();
        line.sort();
        line.into_iter().map(|(_, _, _, id)| id.clone()).collect()
    }

    /// The waiting users who may take a seat now (rows in grace never do), in queue order.
    fn queue(&self, eligible: impl Fn(&str) -> bool) -> Vec<String> {
        self.line(|id, r| r.grace == Grace::No && eligible(id))
    }

    /// Seats, while any is free, for up to `limit` of `line`.
    fn seat(&mut self, line: Vec<String>, limit: i64) {
        let room = (self.seats - self.assigned().len() as i64)
            .min(limit)
            .max(0);
        for id in line.into_iter().take(room as usize) {
            self.rows.get_mut(&id).unwrap().assigned = true;
        }
    }

    /// Steps a and b: reserved users, then each reserved group up to what it holds back.
    fn reserved_first(&mut self, eligible: &impl Fn(&str) -> bool) {
        let reserved = self.reserved_ids();
        self.seat(
            self.queue(|id| eligible(id) && reserved.contains(id)),
            i64::MAX,
        );
        for (group, n) in self.group_reservations() {
            let Some(group) = group else { continue };
            let need = self.need(group, n, &self.assigned());
            if need > 0 {
                self.seat(
                    self.queue(|id| eligible(id) && self.member(group, id)),
                    need,
                );
            }
        }
    }

    /// Step c: the seats not held back go to the head of the queue. Returns the seats held
    /// back before it.
    fn general(&mut self, eligible: &impl Fn(&str) -> bool) -> i64 {
        let held = self.held(&self.assigned());
        let free = self.seats - self.assigned().len() as i64 - held;
        self.seat(self.queue(eligible), free);
        held
    }

    /// One reconcile pass at `step` (one per step that records or redelivers an event).
    fn reconcile(&mut self, step: usize, promote: bool) {
        let entitled = self.entitled();
        let keep = self.grace_minutes > 0;
        self.rows.retain(|id, row| {
            if entitled.contains_key(id) {
                return true;
            }
            // Losing entitlement starts the grace period; a row whose grace passed goes.
            if row.grace == Grace::No {
                row.grace = Grace::Running;
            }
            keep && row.grace == Grace::Running
        });
        let mut newcomers = BTreeSet::new();
        for (id, (joined, priority)) in entitled {
            let row = self.rows.entry(id.clone()).or_insert_with(|| {
                newcomers.insert(id);
                Row {
                    assigned: false,
                    queued: step,
                    joined,
                    priority,
                    grace: Grace::No,
                }
            });
            // Entitled again: the row keeps its seat or place; its priority follows the groups.
            row.priority = priority;
            row.grace = Grace::No;
        }
        let all = self.auto_promote || promote;
        let eligible = |id: &str| all || newcomers.contains(id);
        self.reserved_first(&eligible);
        let mut held = self.general(&eligible);
        if let (Overflow::Expand, Some(cap)) = (self.overflow, self.cap)
            && cap > self.seats
            && !self.queue(eligible).is_empty()
        {
            // Everyone the cap allows is seated (reservations first), and the license keeps
            // the seats taken plus those still held back.
            let before = self.seats;
            self.seats = cap;
            self.reserved_first(&eligible);
            held = self.general(&eligible);
            self.seats = before.max(cap.min(self.assigned().len() as i64 + held));
            self.expanded += self.seats - before;
        }
        let free = self.seats - self.assigned().len() as i64 - held;
        self.overflowing = self.overflow == Overflow::Notify
            && free <= 0
            && !self.line(|_, r| r.grace == Grace::No).is_empty();
    }

    /// Whether the store accepts `update`, by the documented validation.
    fn accepts(&self, update: &PolicyUpdate) -> bool {
        let overflow = update.overflow.unwrap_or(self.overflow);
        let cap = update.expand_cap.or(self.cap);
        let grace = update.grace_minutes.unwrap_or(self.grace_minutes);
        let priorities = update.group_priorities.iter().flatten().all(|(g, p)| {
            self.licensed.iter().any(|l| self.group_ids[*l] == *g) && (-1000..=1000).contains(p)
        });
        let users = match &update.reserved_users {
            Some(list) => stored(list.iter().map(String::as_str)).map(|l| l.len() as i64),
            None => Some(self.reserved_users.len() as i64),
        };
        let groups = match &update.reserved_groups {
            Some(list) if list.iter().all(|g| g.seats >= 1) => {
                stored(list.iter().map(|g| g.group.as_str()))
                    .map(|_| list.iter().map(|g| g.seats).sum::<i64>())
            }
            Some(_) => None,
            None => Some(self.reserved_groups.iter().map(|g| g.1).sum()),
        };
        let (Some(users), Some(groups)) = (users, groups) else {
            return false;
        };
        // Only `expand` makes room for reservations beyond today's seats.
        let room = match (overflow, cap) {
            (Overflow::Expand, Some(cap)) => self.seats.max(cap),
            _ => self.seats,
        };
        (overflow != Overflow::Expand || cap.is_some_and(|c| c >= self.seats))
            && cap.is_none_or(|c| c >= 0)
            && (0..=10_080).contains(&grace)
            && priorities
            && users + groups <= room
    }

    /// An accepted update.
    fn update(&mut self, update: &PolicyUpdate) {
        self.overflow = update.overflow.unwrap_or(self.overflow);
        self.cap = update.expand_cap.or(self.cap);
        self.grace_minutes = update.grace_minutes.unwrap_or(self.grace_minutes);
        for (id, priority) in update.group_priorities.iter().flatten() {
            let g = self.group_ids.iter().position(|g| g == id).unwrap();
            self.priorities.insert(g, *priority);
        }
        if let Some(list) = &update.reserved_users {
            self.reserved_users = stored(list.iter().map(String::as_str)).unwrap();
        }
        if let Some(list) = &update.reserved_groups {
            let names = stored(list.iter().map(|g| g.group.as_str())).unwrap();
            self.reserved_groups = names
                .into_iter()
                .zip(list)
                .map(|(n, g)| (n, g.seats))
                .collect();
        }
    }

    /// The policies as the admin API shows them.
    fn policy(&self) -> Policy {
        Policy {
            overflow: self.overflow,
            expand_cap: self.cap,
            grace_minutes: self.grace_minutes,
            group_priorities: self
                .licensed
                .iter()
                .map(|g| {
                    let priority = self.priorities.get(g).copied().unwrap_or(0);
                    (self.group_ids[*g].clone(), priority)
                })
                .collect(),
            reserved_users: self.reserved_users.clone(),
            reserved_groups: self
                .reserved_groups
                .iter()
                .map(|(group, seats)| GroupReservation {
                    group: group.clone(),
                    seats: *seats,
                })
                .collect(),
        }
    }

    /// A user reservation's target as the admin gives it.
    fn user_target(&self, target: &Target) -> String {
        match target {
            Target::Name(slot, spelling) => spelling.write(&user_name(*slot)),
            Target::Id(slot) => self
                .users
                .get(slot)
                .map_or_else(|| user_name(*slot), |(id, _)| id.clone()),
        }
    }

    fn group_target(&self, target: &Target) -> String {
        match target {
            Target::Name(g, spelling) => spelling.write(&format!("g{g}")),
            Target::Id(g) => self.group_ids[*g].clone(),
        }
    }
}

struct Harness {
    db: Db,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    /// The engine on `test_db`, migrated.
    fn new(test_db: &TestDb) -> Harness {
        let db = Db::connect(&test_db.url, 4).unwrap();
        seatflow_store::migrations::run(&db).unwrap();
        Harness {
            db,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn try_write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn) -> seatflow_store::Result<T> + Send + 'static,
    ) -> seatflow_store::Result<T> {
        self.runtime.block_on(self.db.write(work))
    }

    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn) -> seatflow_store::Result<T> + Send + 'static,
    ) -> T {
        self.try_write(work).unwrap()
    }

    /// Records a change's event (as every API write does) in its own transaction; whether there
    /// was one (a change that touches nothing records none, and no reconcile runs).
    fn event(&self, license: &str, change: Change) -> bool {
        let license = license.to_owned();
        self.write(move |c| seatflow_licensing::record(c, &license, &change, None))
    }

    /// Applies every pending event with the worker's own code.
    fn drain(&self) {
        loop {
            let rows = self.write(|c| outbox::claim_due(c, 1000, Duration::from_secs(60)));
            if rows.is_empty() {
                return;
            }
            self.apply(rows);
        }
    }

    /// Applies events with the consumer's and licensing's own code.
    fn apply(&self, events: Vec<Event>) {
        let failed = self
            .runtime
            .block_on(apply_batch(&self.db, &Arc::new(Licensing), events));
        assert!(failed.is_empty(), "{failed:?}");
    }
}

/// What the previous step left: the invariants compare a step with it.
#[derive(Default)]
struct Before {
    assigned: BTreeSet<String>,
    seats: i64,
}

fn run_case(h: &Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    let license_id = h.write(|c| licenses::create(c, "Model", 0)).id;
    let group_ids: Vec<String> = (0..GROUPS)
        .map(|g| {
            let license = license_id.clone();
            h.write(move |c| {
                let (fields, _) = resource::group_fields(json!({"displayName": format!("g{g}")}))?;
                Ok(groups::insert(c, &license, fields)?.id)
            })
        })
        .collect();
    let mut model = Model {
        group_ids: group_ids.clone(),
        members: vec![BTreeMap::new(); GROUPS],
        auto_promote: true,
        ..Model::default()
    };
    // Every case starts from a licensed group with members and few seats, so that the random
    // steps meet contention, queues and promotion rather than empty licenses.
    let opening = [
        Op::Seats(2),
        Op::CreateUser(0),
        Op::CreateUser(1),
        Op::CreateUser(2),
        Op::CreateUser(3),
        Op::AddMembers(0, vec![2, 0, 3, 1]),
        Op::License(BTreeSet::from([0])),
    ];
    let mut applied: Vec<Event> = Vec::new();
    let mut before = Before::default();
    for (step, op) in opening.iter().chain(ops).enumerate() {
        let lic = license_id.clone();
        let mut promote = false;
        let mut policy = None;
        let pass = match op.clone() {
            Op::CreateUser(u) => {
                if model.users.contains_key(&u) {
                    continue;
                }
                let row = h.write(move |c| {
                    users::insert(
                        c,
                        &lic,
                        resource::user_fields(json!({"userName": user_name(u), "active": true}))?,
                    )
                });
                // A new user is in no group: the API records no event for it.
                model.users.insert(u, (row.id.clone(), true));
                false
            }
            Op::SetActive(u, active) => {
                let Some((id, _)) = model.users.get(&u).cloned() else {
                    continue;
                };
                let uid = id.clone();
                h.write(move |c| {
                    let current = users::get(c, &lic, &uid)?;
                    let fields = resource::user_fields(
                        json!({"userName": current.user_name, "active": active}),
                    )?;
                    users::update(c, &current, fields)
                });
                model.users.insert(u, (id.clone(), active));
                h.event(&license_id, Change::user(&id))
            }
            Op::DeleteUser(u) => {
                let Some((id, _)) = model.users.remove(&u) else {
                    continue;
                };
                let uid = id.clone();
                h.write(move |c| users::delete(c, &lic, &uid));
                for group in &mut model.members {
                    group.remove(&u);
                }
                // The seat row goes with the user: a deletion is never graced.
                model.rows.remove(&id);
                h.event(&license_id, Change::user(&id))
            }
            Op::AddMembers(g, slots) => {
                let present: Vec<usize> = slots
                    .into_iter()
                    .filter(|s| model.users.contains_key(s))
                    .collect();
                if present.is_empty() {
                    continue;
                }
                let members: Vec<NewMember> = present
                    .iter()
                    .map(|s| NewMember::from(model.users[s].0.as_str()))
                    .collect();
                let gid = group_ids[g].clone();
                let changed = h.write(move |c| {
                    let group = groups::get(c, &lic, &gid)?;
                    groups::apply_member_changes(c, &group, &[MemberChange::Add(members)])
                        .map(|d| d.touched())
                });
                for slot in present {
                    if !model.members[g].contains_key(&slot) {
                        model.joins += 1;
                        model.members[g].insert(slot, model.joins);
                    }
                }
                h.event(&license_id, Change::members(&group_ids[g], changed))
            }
            Op::RemoveMember(g, u) => {
                let Some((id, _)) = model.users.get(&u).cloned() else {
                    continue;
                };
                let gid = group_ids[g].clone();
                let changed = h.write(move |c| {
                    let group = groups::get(c, &lic, &gid)?;
                    groups::apply_member_changes(c, &group, &[MemberChange::Remove(vec![id])])
                        .map(|d| d.touched())
                });
                model.members[g].remove(&u);
                h.event(&license_id, Change::members(&group_ids[g], changed))
            }
            Op::License(set) => {
                let ids: Vec<String> = set.iter().map(|g| group_ids[*g].clone()).collect();
                h.write(move |c| licensed_groups::set(c, &lic, &ids));
                // A group licensed anew starts at priority 0.
                model.priorities.retain(|g, _| set.contains(g));
                model.licensed = set;
                h.event(&license_id, Change::full())
            }
            Op::Seats(n) => {
                let change = LicenseUpdate {
                    seats: Some(n),
                    ..LicenseUpdate::default()
                };
                h.write(move |c| licenses::update(c, &lic, &change).map(|_| ()));
                model.seats = n;
                model.admin_seats = n;
                h.event(&license_id, Change::full())
            }
            Op::AutoPromote(on) => {
                let change = LicenseUpdate {
                    auto_promote: Some(on),
                    ..LicenseUpdate::default()
                };
                h.write(move |c| licenses::update(c, &lic, &change).map(|_| ()));
                model.auto_promote = on;
                h.event(&license_id, Change::full())
            }
            Op::Reprocess => {
                promote = true;
                h.event(&license_id, Change::reprocess())
            }
            Op::Redeliver(k) => {
                let Some(old) = applied.get(k % applied.len().max(1)).cloned() else {
                    continue;
                };
                promote = old.payload::<Change>().unwrap().promote;
                h.apply(vec![old]);
                true
            }
            Op::Priorities(given, unlicensed) => {
                let priorities: BTreeMap<String, i32> = given
                    .into_iter()
                    .filter(|(g, _)| unlicensed || model.licensed.contains(g))
                    .map(|(g, p)| (group_ids[g].clone(), p))
                    .collect();
                if priorities.is_empty() {
                    continue;
                }
                policy = Some(PolicyUpdate {
                    group_priorities: Some(priorities),
                    ..PolicyUpdate::default()
                });
                true
            }
            Op::ReserveUsers(targets) => {
                policy = Some(PolicyUpdate {
                    reserved_users: Some(targets.iter().map(|t| model.user_target(t)).collect()),
                    ..PolicyUpdate::default()
                });
                true
            }
            Op::ReserveGroups(targets) => {
                let reserved = targets
                    .iter()
                    .map(|(t, seats)| GroupReservation {
                        group: model.group_target(t),
                        seats: *seats,
                    })
                    .collect();
                policy = Some(PolicyUpdate {
                    reserved_groups: Some(reserved),
                    ..PolicyUpdate::default()
                });
                true
            }
            Op::Overflow(overflow, above) => {
                policy = Some(PolicyUpdate {
                    overflow: Some(overflow),
                    expand_cap: above.map(|n| model.seats + n),
                    ..PolicyUpdate::default()
                });
                true
            }
            Op::Grace(minutes) => {
                policy = Some(PolicyUpdate {
                    grace_minutes: Some(minutes),
                    ..PolicyUpdate::default()
                });
                true
            }
            Op::ExpireGrace(slots) => {
                let ids: Vec<String> = slots
                    .iter()
                    .filter_map(|s| model.users.get(s))
                    .map(|(id, _)| id.clone())
                    .filter(|id| {
                        model
                            .rows
                            .get(id)
                            .is_some_and(|r| r.grace == Grace::Running)
                    })
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let expired = ids.clone();
                let rewritten = h.write(move |c| {
                    use seatflow_store::db::schema::seats as s;
                    let past = time::before(Duration::from_secs(60));
                    Ok(diesel::update(
                        s::table
                            .filter(s::license_id.eq(&lic))
                            .filter(s::user_id.eq_any(&expired))
                            .filter(s::grace_until.is_not_null()),
                    )
                    .set(s::grace_until.eq(past))
                    .execute(c)?)
                });
                prop_assert_eq!(rewritten, ids.len(), "rows in grace at step {}", step);
                for id in &ids {
                    model.rows.get_mut(id).unwrap().grace = Grace::Passed;
                }
                h.event(&license_id, Change::users(ids))
            }
        };
        if let Some(update) = policy {
            let accepted = model.accepts(&update);
            let (lic, change) = (license_id.clone(), update.clone());
            // The admin API's command: saved, then a full reconcile, in one transaction.
            let result = h.try_write(move |c| {
                let policy = policies::update(c, &lic, &change)?;
                seatflow_licensing::record(c, &lic, &Change::full(), None)?;
                Ok(policy)
            });
            prop_assert_eq!(
                result.is_ok(),
                accepted,
                "store's verdict on {:?} at step {}: {:?}",
                update,
                step,
                result
            );
            let Ok(saved) = result else {
                continue;
            };
            model.update(&update);
            prop_assert_eq!(saved, model.policy(), "policies after step {}", step);
        }
        h.drain();
        let lic = license_id.clone();
        applied = h.write(move |c| {
            use seatflow_store::db::schema::outbox as o;
            let rows: Vec<(i64, String)> = o::table
                .filter(o::license_id.eq(&lic))
                .order(o::id)
                .select((o::id, o::payload))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(id, payload)| Event {
                    id,
                    license_id: lic.clone(),
                    request_id: None,
                    attempts: 0,
                    created_at: String::new(),
                    payload: serde_json::from_str(&payload).unwrap(),
                })
                .collect())
        });
        if pass {
            model.reconcile(step, promote);
        }
        before = check(h, &license_id, &model, step, op, promote, &before)?;
    }
    Ok(())
}

fn check(
    h: &Harness,
    license_id: &str,
    model: &Model,
    step: usize,
    op: &Op,
    promote: bool,
    before: &Before,
) -> Result<Before, TestCaseError> {
    let lic = license_id.to_owned();
    let (license, rows, banner, true_up) = h.write(move |c| {
        let license = licenses::get(c, &lic)?;
        let query = seats::SeatQuery {
            limit: 1000,
            ..Default::default()
        };
        let rows = seats::list(c, &lic, &query)?;
        let banner = policies::notify_banner(c, &lic)?;
        Ok((license, rows, banner, policies::true_up(c, &lic)?))
    });
    // (assigned, in grace, priority) per user
    let actual: BTreeMap<String, (bool, bool, i32)> = rows
        .iter()
        .map(|r| {
            let row = (
                r.status == seats::ASSIGNED,
                r.grace_until.is_some(),
                r.priority,
            );
            (r.user_id.clone(), row)
        })
        .collect();
    prop_assert_eq!(actual.len(), rows.len(), "one row per user");
    let expected: BTreeMap<String, (bool, bool, i32)> = model
        .rows
        .iter()
        .map(|(id, r)| (id.clone(), (r.assigned, r.grace != Grace::No, r.priority)))
        .collect();
    prop_assert_eq!(&actual, &expected, "seats after step {} ({:?})", step, op);
    let line: Vec<String> = rows
        .iter()
        .filter(|r| r.status == seats::BLOCKED)
        .map(|r| r.user_id.clone())
        .collect();
    prop_assert_eq!(
        line,
        model.line(|_, _| true),
        "queue order after step {}",
        step
    );
    prop_assert_eq!(license.seats, model.seats, "seats after step {}", step);
    prop_assert_eq!(
        true_up.pending_seats,
        model.expanded,
        "true-up after step {}",
        step
    );
    prop_assert_eq!(
        banner.is_some(),
        model.overflowing,
        "overflow banner after step {}",
        step
    );

    // The invariants, on what the engine left.
    let assigned: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.status == seats::ASSIGNED)
        .map(|r| r.user_id.clone())
        .collect();
    let used = assigned.len() as i64;
    let seats = license.seats;
    prop_assert_eq!(license.seats_used, used, "seats_used counts assigned rows");
    // Promotion never goes past the seats; only lowering them leaves more taken.
    prop_assert!(used <= seats.max(before.assigned.len() as i64));
    if !assigned.is_subset(&before.assigned) {
        prop_assert!(used <= seats, "promoted past the seats at step {}", step);
    }
    let entitled = model.entitled();
    for r in &rows {
        let grace = r.grace_until.is_some();
        prop_assert!(
            entitled.contains_key(&r.user_id) != grace,
            "a row is either entitled or in grace"
        );
        prop_assert_eq!(grace, r.reason.as_deref() == Some(seats::IN_GRACE));
    }
    prop_assert!(
        entitled.keys().all(|id| actual.contains_key(id)),
        "every entitled user has a row"
    );
    if model.auto_promote || promote {
        let waiting: Vec<&String> = rows
            .iter()
            .filter(|r| r.status == seats::BLOCKED && r.grace_until.is_none())
            .map(|r| &r.user_id)
            .collect();
        let held = model.held(&assigned);
        prop_assert!(
            waiting.is_empty() || seats - used - held <= 0,
            "someone waits while a seat is free (step {})",
            step
        );
        // A reservation takes the first seat free for it.
        if used < seats {
            let reserved = model.reserved_ids();
            prop_assert!(
                !waiting.iter().any(|id| reserved.contains(*id)),
                "a reserved user waits while a seat is free (step {})",
                step
            );
            for (group, n) in model.group_reservations() {
                let Some(group) = group else { continue };
                prop_assert!(
                    model.need(group, n, &assigned) <= 0
                        || !waiting.iter().any(|id| model.member(group, id)),
                    "a reserved group's member waits while a seat is free (step {})",
                    step
                );
            }
        }
    }
    // Seats change only by the admin or by expand, which raises them up to its cap.
    if seats != before.seats && !matches!(op, Op::Seats(_)) {
        prop_assert!(seats > before.seats && model.overflow == Overflow::Expand);
    }
    if let (Overflow::Expand, Some(cap)) = (model.overflow, model.cap) {
        prop_assert!(
            seats <= cap || seats == model.admin_seats,
            "expanded past the cap"
        );
    }
    Ok(Before { assigned, seats })
}

fn run(backend: Backend) {
    let test_db = TestDb::create(backend);
    let harness = Harness::new(&test_db);
    let config = Config {
        cases: 96,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let case = (
        proptest::collection::vec(policy_op(), 0..4),
        proptest::collection::vec(op(), 1..40),
    );
    let result = runner.run(&case, |(preamble, ops)| {
        run_case(&harness, &[preamble, ops].concat())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn seats_follow_the_model_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn seats_follow_the_model_on_postgres() {
    run(Backend::Postgres);
}

/// Seats `expand` adds go to a reserved user waiting beside the seat held for them, in the pass
/// that adds them (the case this test's search first found): the engine gave them only to the
/// queue's head, so with the cap one above the seats, u1 waited next to a free seat reserved for
/// them until some later event, a redelivery even, seated them.
fn expansion_seats_waiting_reserved_user(backend: Backend) {
    let test_db = TestDb::create(backend);
    let ops = [
        Op::ReserveUsers(vec![Target::Name(1, Spelling::Exact)]),
        Op::Overflow(Overflow::Expand, Some(1)),
    ];
    if let Err(e) = run_case(&Harness::new(&test_db), &ops) {
        panic!("{e}");
    }
}

#[test]
fn expansion_seats_waiting_reserved_user_on_sqlite() {
    expansion_seats_waiting_reserved_user(Backend::Sqlite);
}

#[test]
fn expansion_seats_waiting_reserved_user_on_postgres() {
    expansion_seats_waiting_reserved_user(Backend::Postgres);
}

/// `expand` raises seats to what the waiting take plus what reservations still hold, no more:
/// with u1 reserved and waiting beside u3, 2 seats and room to 12, the license grows to 4.
/// Counting the waiting and the held apart counted u1 twice and billed a 5th seat nobody held.
fn expansion_bills_only_seats_taken_or_held(backend: Backend) {
    let test_db = TestDb::create(backend);
    let ops = [
        Op::ReserveUsers(vec![Target::Name(1, Spelling::Exact)]),
        Op::Overflow(Overflow::Expand, Some(10)),
    ];
    if let Err(e) = run_case(&Harness::new(&test_db), &ops) {
        panic!("{e}");
    }
}

#[test]
fn expansion_bills_only_seats_taken_or_held_on_sqlite() {
    expansion_bills_only_seats_taken_or_held(Backend::Sqlite);
}

#[test]
fn expansion_bills_only_seats_taken_or_held_on_postgres() {
    expansion_bills_only_seats_taken_or_held(Backend::Postgres);
}

/// A membership event applied after a licensed-group change but before that change's own full
/// event (a late relay publish, a redelivery, a split batch) must not hand the free seat to the
/// one user it names: the first to join goes first. Before the pending-full-reconcile mark, the
/// late newcomer took the seat.
fn late_membership_event_keeps_queue_order(backend: Backend) {
    let test_db = TestDb::create(backend);
    let h = Harness::new(&test_db);
    let lic = h.write(|c| licenses::create(c, "Late", 1)).id;
    let user = |name: &str| {
        let (lic, name) = (lic.clone(), name.to_owned());
        h.write(move |c| {
            let fields = resource::user_fields(json!({"userName": name, "active": true}))?;
            Ok(users::insert(c, &lic, fields)?.id)
        })
    };
    let first: Vec<String> = ["a", "b", "c"].into_iter().map(user).collect();
    let late = user("d");
    let group = {
        let lic = lic.clone();
        h.write(move |c| {
            let (fields, _) = resource::group_fields(json!({"displayName": "Everyone"}))?;
            Ok(groups::insert(c, &lic, fields)?.id)
        })
    };
    let add = |ids: &[String]| {
        let (l, gid) = (lic.clone(), group.clone());
        let members: Vec<NewMember> = ids.iter().map(|id| NewMember::from(id.as_str())).collect();
        let changed = h.write(move |c| {
            let group = groups::get(c, &l, &gid)?;
            groups::apply_member_changes(c, &group, &[MemberChange::Add(members)])
                .map(|d| d.touched())
        });
        h.event(&lic, Change::members(&group, changed));
    };
    add(&first);
    h.drain();
    add(std::slice::from_ref(&late));
    {
        let (l, ids) = (lic.clone(), vec![group.clone()]);
        h.write(move |c| licensed_groups::set(c, &l, &ids));
        h.event(&lic, Change::full());
    }
    let mut pending = h.write(|c| outbox::claim_due(c, 10, Duration::from_secs(60)));
    assert_eq!(pending.len(), 2);
    let full = pending.pop().unwrap();
    // The newcomer's event alone first, then the full one.
    h.apply(pending);
    let assigned = |h: &Harness| {
        let lic = lic.clone();
        h.write(move |c| {
            let query = seats::SeatQuery {
                limit: 10,
                ..Default::default()
            };
            Ok(seats::list(c, &lic, &query)?
                .into_iter()
                .filter(|r| r.status == "assigned")
                .map(|r| r.user_id)
                .collect::<Vec<_>>())
        })
    };
    assert_eq!(
        assigned(&h),
        [first[0].clone()],
        "the first to join holds the seat"
    );
    h.apply(vec![full]);
    assert_eq!(assigned(&h), [first[0].clone()]);
}

#[test]
fn late_membership_event_keeps_queue_order_on_sqlite() {
    late_membership_event_keeps_queue_order(Backend::Sqlite);
}

#[test]
fn late_membership_event_keeps_queue_order_on_postgres() {
    late_membership_event_keeps_queue_order(Backend::Postgres);
}
