//! Property: a filter on indexed attributes evaluated in SQL (`store::filter_sql`) selects
//! exactly the users that `filter::matches` selects on their documents, on both backends, and
//! SQL sorting orders them as `scim::sort` does in memory. Random users with random seats
//! (Seatflow's license extension is read from the `seats` table in SQL), random filters.

#![allow(clippy::unwrap_used)]

use diesel::RunQueryDsl;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use seatflow_scim::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use seatflow_scim::limits::Limits;
use seatflow_scim::sort::{self, Sort, SortOrder};
use seatflow_scim::{LICENSE_USER_SCHEMA, ResourceKind, resource};
use seatflow_store::db::Db;
use seatflow_store::listing::ListQuery;
use seatflow_store::seats::{self, Seat};
use seatflow_store::{Page, licenses, users};
use seatflow_tests::{Backend, TestDb};
use serde_json::json;

/// Small alphabets so that random values collide, with case, LIKE metacharacters and non-ASCII
/// letters in both cases: `É`/`é`, and `İ`, whose lower case is two characters (`i̇`), so any
/// SQL that folds case differently from the in-memory evaluation (SQLite's ASCII-only
/// `lower()`) shows.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[aAbBéÉİi_%]{0,3}").unwrap()
}

fn attr(name: &str) -> AttrPath {
    AttrPath {
        urn: None,
        name: name.to_owned(),
        sub: None,
    }
}

/// The seat extension's values, in and out of case, and prefixes for `sw`/`co`/`gt`.
fn seat_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "assigned",
        "blocked",
        "none",
        "Assigned",
        "no_seats_available",
        "awaiting_admin_reprocess",
        "not_entitled",
        "a",
        "n",
        "",
    ])
    .prop_map(str::to_owned)
}

fn seat_attr() -> impl Strategy<Value = AttrPath> {
    prop_oneof![
        Just(attr("seatStatus")),
        Just(attr("seatReason")),
        Just(AttrPath {
            urn: Some(LICENSE_USER_SCHEMA.to_owned()),
            ..attr("seatStatus")
        }),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ];
    let name = prop_oneof![Just("userName"), Just("displayName"), Just("externalId")];
    prop_oneof![
        (name.clone(), op.clone(), text()).prop_map(|(n, op, v)| Filter::Compare(
            attr(n),
            op,
            CompValue::Str(v)
        )),
        name.prop_map(|n| Filter::Present(attr(n))),
        (any::<bool>(), any::<bool>()).prop_map(|(ne, b)| Filter::Compare(
            attr("active"),
            if ne { CompareOp::Ne } else { CompareOp::Eq },
            CompValue::Bool(b)
        )),
        (seat_attr(), op, seat_text()).prop_map(|(path, op, v)| Filter::Compare(
            path,
            op,
            CompValue::Str(v)
        )),
        seat_attr().prop_map(Filter::Present),
    ]
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

#[derive(Debug, Clone)]
struct NewUser {
    user_name: String,
    display_name: Option<String>,
    external_id: Option<String>,
    active: Option<bool>,
    seat: Option<Seat>,
}

fn arb_seat() -> impl Strategy<Value = Option<Seat>> {
    prop::sample::select(vec![
        None,
        Some((seats::ASSIGNED, None)),
        Some((seats::BLOCKED, Some(seats::NO_SEATS_AVAILABLE))),
        Some((seats::BLOCKED, Some(seats::AWAITING_ADMIN))),
    ])
    .prop_map(|seat| seat.map(|(status, reason)| (status.to_owned(), reason.map(str::to_owned))))
}

fn arb_user() -> impl Strategy<Value = NewUser> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
        arb_seat(),
    )
        .prop_map(
            |(user_name, display_name, external_id, active, seat)| NewUser {
                user_name,
                display_name,
                external_id,
                active,
                seat,
            },
        )
}

/// Gives the user the seat row that shows as `seat`.
fn seat_user(conn: &mut seatflow_store::db::DbConn, license_id: &str, user_id: &str, seat: &Seat) {
    let now = "2026-01-01T00:00:00.000000Z";
    let newcomer = seats::Newcomer {
        user_id,
        joined_at: now,
        priority: 0,
    };
    seats::insert_blocked(conn, license_id, &[newcomer], now).unwrap();
    let ids = [user_id.to_owned()];
    match seat {
        (status, None) if status == seats::ASSIGNED => {
            seats::assign(conn, license_id, &ids, now).unwrap();
        }
        (_, Some(reason)) => seats::set_reason(conn, license_id, &ids, reason).unwrap(),
        other => panic!("no seat row shows as {other:?}"),
    }
}

fn equivalence(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = Db::connect(&test_db.url, 2).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop::collection::vec(arb_user(), 0..12),
        prop::collection::vec(arb_filter(), 1..6),
        prop_oneof![
            Just("userName"),
            Just("displayName"),
            Just("externalId"),
            Just("active"),
            Just("seatStatus"),
            Just("seatReason")
        ],
        any::<bool>(),
    );
    runner
        .run(&strategy, |(new_users, filters, sort_by, descending)| {
            let mut conn = db.checkout().unwrap();
            // A license per case, so that cases do not see each other's users.
            let license = licenses::create(&mut conn, "prop", 10).unwrap();
            let mut rows = Vec::new();
            for (i, u) in new_users.iter().enumerate() {
                // userName is unique per license: a suffix keeps random names apart.
                let mut body = json!({"userName": format!("{}{i}", u.user_name)});
                if let Some(d) = &u.display_name {
                    body["displayName"] = d.clone().into();
                }
                if let Some(e) = &u.external_id {
                    body["externalId"] = e.clone().into();
                }
                if let Some(a) = u.active {
                    body["active"] = a.into();
                }
                let fields = resource::user_fields(body).unwrap();
                let row = users::insert(&mut conn, &license.id, fields).unwrap();
                if let Some(seat) = &u.seat {
                    seat_user(&mut conn, &license.id, &row.id, seat);
                }
                rows.push((row, u.seat.clone()));
            }
            let all = Page {
                start_index: 1,
                count: 1000,
            };
            for f in &filters {
                let query = ListQuery {
                    filter: Some(f),
                    sort: None,
                    page: all,
                };
                let (total, found) = users::list(&mut conn, &license.id, &query).unwrap();
                // The ids, and the seats `list` read with them.
                let in_sql: Vec<_> = found
                    .iter()
                    .map(|(r, seat)| (r.id.as_str(), seat))
                    .collect();
                let in_memory: Vec<_> = rows
                    .iter()
                    .filter(|seated| {
                        let doc = users::filterable(seated).unwrap();
                        filter::matches(f, ResourceKind::User, &doc)
                    })
                    .map(|(r, seat)| (r.id.as_str(), seat))
                    .collect();
                prop_assert_eq!(&in_sql, &in_memory, "filter {}", f);
                prop_assert_eq!(total, i64::try_from(in_memory.len()).unwrap());
            }
            // SQL order equals the in-memory order of the same rows.
            let sort = Sort::parse(
                Some(sort_by),
                Some(if descending {
                    "descending"
                } else {
                    "ascending"
                }),
            )
            .unwrap()
            .unwrap();
            let (_, sorted) = users::list(
                &mut conn,
                &license.id,
                &ListQuery {
                    filter: None,
                    sort: Some(&sort),
                    page: all,
                },
            )
            .unwrap();
            let mut keyed: Vec<_> = rows
                .iter()
                .map(|seated| {
                    let doc = users::filterable(seated).unwrap();
                    (
                        sort::key(ResourceKind::User, &sort.by, &doc),
                        seated.0.id.clone(),
                    )
                })
                .collect();
            let order = if descending {
                SortOrder::Descending
            } else {
                SortOrder::Ascending
            };
            sort::sort_by_key(&mut keyed, order);
            let in_sql: Vec<&str> = sorted.iter().map(|(r, _)| r.id.as_str()).collect();
            let in_memory: Vec<&str> = keyed.iter().map(|(_, id)| id.as_str()).collect();
            prop_assert_eq!(in_sql, in_memory, "sortBy {}", sort_by);
            Ok(())
        })
        .unwrap();
}

#[test]
fn sql_equals_documents_on_sqlite() {
    equivalence(Backend::Sqlite);
}

#[test]
fn sql_equals_documents_on_postgres() {
    equivalence(Backend::Postgres);
}

/// Users written before `display_name_key` existed (or by an older server during a rolling
/// upgrade) have no key; `migrate` fills it in, so SQL filters find them again.
fn missing_display_name_keys_are_filled_on_migrate(backend: Backend) {
    let test_db = TestDb::create(backend);
    let db = Db::connect(&test_db.url, 2).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let mut conn = db.checkout().unwrap();
    let license = licenses::create(&mut conn, "upgrade", 10).unwrap();
    for (user_name, display_name) in [("e", Some("ÉMILE Zola")), ("n", None)] {
        let mut body = json!({"userName": user_name});
        if let Some(name) = display_name {
            body["displayName"] = name.into();
        }
        let fields = resource::user_fields(body).unwrap();
        users::insert(&mut conn, &license.id, fields).unwrap();
    }
    diesel::sql_query("UPDATE users SET display_name_key = NULL")
        .execute(&mut *conn)
        .unwrap();
    let filter = filter::parse(r#"displayName sw "émile""#, &Limits::DEFAULT).unwrap();
    let query = ListQuery {
        filter: Some(&filter),
        sort: None,
        page: Page {
            start_index: 1,
            count: 10,
        },
    };
    assert_eq!(users::list(&mut conn, &license.id, &query).unwrap().0, 0);

    seatflow_store::migrations::run(&db).unwrap();
    let (total, found) = users::list(&mut conn, &license.id, &query).unwrap();
    assert_eq!(total, 1);
    assert_eq!(found[0].0.user_name, "e");
    let absent = filter::parse("displayName pr", &Limits::DEFAULT).unwrap();
    let query = ListQuery {
        filter: Some(&absent),
        ..query
    };
    assert_eq!(users::list(&mut conn, &license.id, &query).unwrap().0, 1);
}

#[test]
fn missing_display_name_keys_are_filled_on_sqlite() {
    missing_display_name_keys_are_filled_on_migrate(Backend::Sqlite);
}

#[test]
fn missing_display_name_keys_are_filled_on_postgres() {
    missing_display_name_keys_are_filled_on_migrate(Backend::Postgres);
}
