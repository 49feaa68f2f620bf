//! Two reconciles of one license racing for the last seat (PostgreSQL, where workers run in
//! parallel): each round two users join at once and two transactions reconcile them at the same
//! instant. The license row lock must let exactly one of them take the single seat.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use seatflow_licensing::{Cause, Change};
use seatflow_scim::patch::{MemberChange, NewMember};
use seatflow_scim::resource;
use seatflow_store::db::schema::{licenses, seats};
use seatflow_store::db::{Db, write_transaction};
use seatflow_store::{groups, licensed_groups, users};
use seatflow_tests::{Backend, TestDb};
use serde_json::json;

const ROUNDS: usize = 25;

#[test]
fn concurrent_reconciles_never_take_the_same_last_seat() {
    let test_db = TestDb::create(Backend::Postgres);
    let db = Db::connect(&test_db.url, 4).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let mut conn = db.checkout().unwrap();
    let license = seatflow_store::licenses::create(&mut conn, "Race", 1).unwrap();
    let (fields, _) = resource::group_fields(json!({"displayName": "G"})).unwrap();
    let group = groups::insert(&mut conn, &license.id, fields).unwrap();
    licensed_groups::set(&mut conn, &license.id, std::slice::from_ref(&group.id)).unwrap();
    drop(conn);

    for round in 0..ROUNDS {
        // Empty the license again (members leave, a full reconcile releases their seats), then
        // two newcomers join the licensed group, seen by no reconcile yet.
        let mut conn = db.checkout().unwrap();
        let license_id = license.id.clone();
        let group_row = group.clone();
        write_transaction(&mut conn, move |c| {
            groups::apply_member_changes(c, &group_row, &[MemberChange::RemoveAll])?;
            seatflow_licensing::reconcile(c, &license_id, &[Change::full()], Cause::default())
                .map(|_| ())
        })
        .unwrap();
        let newcomers: Vec<String> = (0..2)
            .map(|i| {
                let fields =
                    resource::user_fields(json!({"userName": format!("r{round}-{i}@x.com")}))
                        .unwrap();
                users::insert(&mut conn, &license.id, fields).unwrap().id
            })
            .collect();
        let members = newcomers
            .iter()
            .map(|id| NewMember::from(id.as_str()))
            .collect();
        groups::apply_member_changes(&mut conn, &group, &[MemberChange::Add(members)]).unwrap();
        drop(conn);

        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = newcomers
            .into_iter()
            .enumerate()
            .map(|(i, user)| {
                let (db, barrier, license_id) = (db.clone(), barrier.clone(), license.id.clone());
                std::thread::spawn(move || {
                    let mut conn = db.checkout().unwrap();
                    barrier.wait();
                    let cause = Cause {
                        event_id: Some(i64::try_from(round * 2 + i + 1).unwrap()),
                        request_id: None,
                    };
                    write_transaction(&mut conn, |c| {
                        seatflow_licensing::reconcile(c, &license_id, &[Change::user(&user)], cause)
                    })
                    .unwrap();
                })
            })
            .collect();
        for racer in racers {
            racer.join().unwrap();
        }

        let mut conn = db.checkout().unwrap();
        let assigned: i64 = seats::table
            .filter(seats::license_id.eq(&license.id))
            .filter(seats::status.eq("assigned"))
            .count()
            .get_result(&mut *conn)
            .unwrap();
        let used: i64 = licenses::table
            .find(&license.id)
            .select(licenses::seats_used)
            .first(&mut *conn)
            .unwrap();
        assert_eq!(assigned, 1, "round {round}: one seat, {assigned} assigned");
        assert_eq!(used, 1, "round {round}: seats_used");
    }
}
