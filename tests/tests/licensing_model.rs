//! A model-based property test of the seat engine: random sequences of SCIM changes, seat and
//! promotion settings, licensed-group selections, admin reprocesses and redelivered (duplicate)
//! events run against the real storage and worker code, and after the queue drains the seats
//! equal those of a small in-memory reference model and the seat invariants (`docs/ARCHITECTURE.md`) hold. Runs on
//! SQLite and PostgreSQL, with a fixed seed and a bounded number of cases.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

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
use seatflow_store::{groups, licensed_groups, seats, users};
use seatflow_tests::{Backend, TestDb};
use serde_json::json;

const USERS: usize = 6;
const GROUPS: usize = 2;

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
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS).prop_map(Op::CreateUser),
        2 => (0..USERS, any::<bool>()).prop_map(|(u, a)| Op::SetActive(u, a)),
        1 => (0..USERS).prop_map(Op::DeleteUser),
        3 => (0..GROUPS, proptest::collection::vec(0..USERS, 1..4)).prop_map(|(g, m)| Op::AddMembers(g, m)),
        1 => (0..GROUPS, 0..USERS).prop_map(|(g, u)| Op::RemoveMember(g, u)),
        2 => proptest::collection::btree_set(0..GROUPS, 0..=GROUPS).prop_map(Op::License),
        2 => (0i64..5).prop_map(Op::Seats),
        1 => any::<bool>().prop_map(Op::AutoPromote),
        1 => Just(Op::Reprocess),
        1 => (0usize..50).prop_map(Op::Redeliver),
    ]
}

/// The reference: who is entitled, and the seat rows, by the rules in plain code.
#[derive(Default)]
struct Model {
    /// user slot → (id, active)
    users: BTreeMap<usize, (String, bool)>,
    /// group → member slot → join sequence
    members: Vec<BTreeMap<usize, u64>>,
    licensed: BTreeSet<usize>,
    seats: i64,
    auto_promote: bool,
    /// user id → (assigned, queued at step, joined sequence)
    rows: BTreeMap<String, (bool, usize, u64)>,
    joins: u64,
}

impl Model {
    fn entitled(&self) -> BTreeMap<String, u64> {
        let mut entitled = BTreeMap::new();
        for (slot, (id, active)) in &self.users {
            let joined = self
                .licensed
                .iter()
                .filter_map(|g| self.members[*g].get(slot).copied())
                .min();
            if let (true, Some(joined)) = (*active, joined) {
                entitled.insert(id.clone(), joined);
            }
        }
        entitled
    }

    /// One reconcile pass at `step` (the engine reconciles after every drained step).
    fn reconcile(&mut self, step: usize, promote: bool) {
        let entitled = self.entitled();
        self.rows.retain(|id, _| entitled.contains_key(id));
        for (id, joined) in &entitled {
            self.rows
                .entry(id.clone())
                .or_insert((false, step, *joined));
        }
        let assigned = self.rows.values().filter(|r| r.0).count() as i64;
        let mut queue: Vec<(usize, u64, String)> = self
            .rows
            .iter()
            .filter(|(_, r)| !r.0)
            .filter(|(_, r)| self.auto_promote || promote || r.1 == step)
            .map(|(id, r)| (r.1, r.2, id.clone()))
            .collect();
        queue.sort();
        for (_, _, id) in queue
            .into_iter()
            .take((self.seats - assigned).max(0) as usize)
        {
            if let Some(row) = self.rows.get_mut(&id) {
                row.0 = true;
            }
        }
    }
}

struct Harness {
    db: Db,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn) -> seatflow_store::Result<T> + Send + 'static,
    ) -> T {
        self.runtime.block_on(self.db.write(work)).unwrap()
    }

    /// Records a change's event (as every API write does) in its own transaction.
    fn event(&self, license: &str, change: Change) {
        let license = license.to_owned();
        self.write(move |c| seatflow_licensing::record(c, &license, &change, None).map(|_| ()));
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
}

impl Harness {
    /// Applies events with the consumer's and licensing's own code.
    fn apply(&self, events: Vec<Event>) {
        let failed = self
            .runtime
            .block_on(apply_batch(&self.db, &Arc::new(Licensing), events));
        assert!(failed.is_empty(), "{failed:?}");
    }
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
    for (step, op) in opening.iter().chain(ops).enumerate() {
        let lic = license_id.clone();
        let mut promote = false;
        match op.clone() {
            Op::CreateUser(u) => {
                if model.users.contains_key(&u) {
                    continue;
                }
                let row = h.write(move |c| {
                    users::insert(
                        c,
                        &lic,
                        resource::user_fields(
                            json!({"userName": format!("u{u}@x.com"), "active": true}),
                        )?,
                    )
                });
                // A new user is in no group: the API records no event for it.
                model.users.insert(u, (row.id.clone(), true));
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
                h.event(&license_id, Change::user(&id));
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
                h.event(&license_id, Change::user(&id));
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
                h.event(&license_id, Change::members(&group_ids[g], changed));
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
                h.event(&license_id, Change::members(&group_ids[g], changed));
            }
            Op::License(set) => {
                let ids: Vec<String> = set.iter().map(|g| group_ids[*g].clone()).collect();
                h.write(move |c| licensed_groups::set(c, &lic, &ids));
                model.licensed = set;
                h.event(&license_id, Change::full());
            }
            Op::Seats(n) => {
                let change = LicenseUpdate {
                    seats: Some(n),
                    ..LicenseUpdate::default()
                };
                h.write(move |c| licenses::update(c, &lic, &change).map(|_| ()));
                model.seats = n;
                h.event(&license_id, Change::full());
            }
            Op::AutoPromote(on) => {
                let change = LicenseUpdate {
                    auto_promote: Some(on),
                    ..LicenseUpdate::default()
                };
                h.write(move |c| licenses::update(c, &lic, &change).map(|_| ()));
                model.auto_promote = on;
                h.event(&license_id, Change::full());
            }
            Op::Reprocess => {
                promote = true;
                h.event(&license_id, Change::reprocess());
            }
            Op::Redeliver(k) => {
                let Some(old) = applied.get(k % applied.len().max(1)).cloned() else {
                    continue;
                };
                promote = old.payload::<Change>().unwrap().promote;
                h.apply(vec![old]);
            }
        }
        h.drain();
        let lic = license_id.clone();
        applied = h.write(move |c| {
            use diesel::prelude::*;
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
        model.reconcile(step, promote);
        check(h, &license_id, &model, step, op)?;
    }
    Ok(())
}

fn check(
    h: &Harness,
    license_id: &str,
    model: &Model,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let lic = license_id.to_owned();
    let (license, rows) = h.write(move |c| {
        let license = licenses::get(c, &lic)?;
        let query = seats::SeatQuery {
            limit: 1000,
            ..Default::default()
        };
        Ok((license, seats::list(c, &lic, &query)?))
    });
    let actual: BTreeMap<String, bool> = rows
        .iter()
        .map(|r| (r.user_id.clone(), r.status == "assigned"))
        .collect();
    let expected: BTreeMap<String, bool> =
        model.rows.iter().map(|(id, r)| (id.clone(), r.0)).collect();
    prop_assert_eq!(&actual, &expected, "seats after step {} ({:?})", step, op);
    let assigned = actual.values().filter(|a| **a).count() as i64;
    prop_assert_eq!(
        license.seats_used,
        assigned,
        "seats_used counts assigned rows"
    );
    let entitled = model.entitled();
    for (id, is_assigned) in &actual {
        prop_assert!(
            entitled.contains_key(id),
            "a seat row for a user who is not entitled"
        );
        if !is_assigned && model.auto_promote {
            prop_assert!(
                assigned >= license.seats,
                "someone waits while a seat is free"
            );
        }
    }
    prop_assert_eq!(
        actual.len(),
        entitled.len(),
        "every entitled user has a row"
    );
    Ok(())
}

fn run(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = Db::connect(&test_db.url, 4).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let harness = Harness {
        db,
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    };
    let config = Config {
        cases: 48,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&proptest::collection::vec(op(), 1..30), |ops| {
        run_case(&harness, &ops)
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

/// A membership event applied after a licensed-group change but before that change's own full
/// event (a late relay publish, a redelivery, a split batch) must not hand the free seat to the
/// one user it names: the first to join goes first. Before the pending-full-reconcile mark, the
/// late newcomer took the seat.
fn late_membership_event_keeps_queue_order(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = Db::connect(&test_db.url, 4).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let h = Harness {
        db,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
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
