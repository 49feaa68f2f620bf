//! Licensing policies (group priority, reserved seats, overflow `expand` / `notify` with the
//! true-up, the release grace period) as a license admin sees them, over HTTP, on every
//! transport, with Entra's SCIM requests. After each step the seat invariants (DESIGN §5 as
//! amended by the policies) hold: seats_used is the assigned rows, no more than the seats,
//! every assigned user is entitled or in grace, and nobody waits while a seat is neither held
//! nor held back for a reservation.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use seatflow_store::time;
use seatflow_tests::license::{CONVERGE, License};
use seatflow_tests::{TestServer, Transport, all_transports};
use serde_json::{Value, json};

all_transports!(
    priorities_order_the_waiting_line_and_never_evict,
    reserved_seats_wait_for_late_users_and_groups,
    expand_stops_at_the_cap_and_records_the_true_up,
    notify_tells_the_overflow_once,
    grace_keeps_seat_and_place_until_it_expires,
    bad_policies_are_refused_and_change_nothing,
);

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn license<'a>(server: &'a TestServer, seats: i64) -> License<'a> {
    License {
        server,
        tenant: server.create_license("Policies", seats).await,
    }
}

fn email(name: &str) -> String {
    format!("{name}@contoso.com")
}

async fn users(l: &License<'_>, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(l.user(name).await);
    }
    ids
}

async fn get(l: &License<'_>, path: &str) -> Value {
    let (status, body) = l.admin(Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn policy(l: &License<'_>) -> Value {
    get(l, "/policy").await
}

/// `PATCH …/policy`, which must succeed; the outcome.
async fn change_policy(l: &License<'_>, change: Value) -> Value {
    let (status, outcome) = l.admin(Method::PATCH, "/policy", Some(change)).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["dry_run"], false, "{outcome}");
    outcome
}

async fn preview_policy(l: &License<'_>, change: Value) -> Value {
    let (status, outcome) = l
        .admin(Method::PATCH, "/policy?dry_run=true", Some(change))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["dry_run"], true, "{outcome}");
    outcome
}

/// The seat rows and totals of a converged license, after checking the invariants.
struct Seats {
    rows: Vec<Value>,
    totals: Value,
}

impl Seats {
    fn ids(&self, status: &str) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r["status"] == status)
            .map(|r| r["user_id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn assigned(&self) -> BTreeSet<String> {
        self.ids("assigned").into_iter().collect()
    }

    /// The waiting line, position 1 first (the listing's order).
    fn queue(&self) -> Vec<String> {
        self.ids("blocked")
    }

    fn row(&self, user: &str) -> &Value {
        self.find(user)
            .unwrap_or_else(|| panic!("no seat row for {user}: {:?}", self.rows))
    }

    fn find(&self, user: &str) -> Option<&Value> {
        self.rows.iter().find(|r| r["user_id"] == user)
    }
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// Who is entitled, from what the identity provider synced: active members of a licensed
/// group (read back over SCIM, independently of the seat engine).
async fn entitled(l: &License<'_>) -> BTreeSet<String> {
    let selected = get(l, "/licensed-groups").await;
    let (status, listed) = l.tenant.get("/Users?startIndex=1&count=200").await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed["totalResults"].as_u64().unwrap() <= 200, "{listed}");
    let active: BTreeSet<&str> = listed["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["active"] == true)
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let mut entitled = BTreeSet::new();
    for group in selected["group_ids"].as_array().unwrap() {
        let (status, group) = l
            .tenant
            .get(&format!("/Groups/{}", group.as_str().unwrap()))
            .await;
        assert_eq!(status, 200, "{group}");
        for member in group["members"].as_array().into_iter().flatten() {
            let id = member["value"].as_str().unwrap();
            if active.contains(id) {
                entitled.insert(id.to_owned());
            }
        }
    }
    entitled
}

/// Waits for licensing to converge, then reads the seats and checks the invariants.
async fn seats(l: &License<'_>) -> Seats {
    let rows = l.rows().await;
    let license = get(l, "").await;
    let totals = get(l, "/seats/totals").await;
    let entitled = entitled(l).await;
    let s = Seats { rows, totals };
    let t = &s.totals;
    let n = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("not a number: {t}"));
    let (seats, used, reserved) = (n(&t["seats"]), n(&t["used"]), n(&t["reserved"]));
    let assigned = s.ids("assigned");
    let blocked = s.ids("blocked");
    let context = format!("rows {:?}, totals {t}, license {license}", s.rows);

    assert_eq!(license["seats"], seats, "{context}");
    assert_eq!(license["seats_used"], assigned.len(), "{context}");
    assert_eq!(used, assigned.len() as i64, "{context}");
    assert!(used <= seats, "more assigned than seats: {context}");
    assert_eq!(n(&t["blocked"]), blocked.len() as i64, "{context}");
    assert_eq!(assigned.len() + blocked.len(), s.rows.len(), "{context}");
    let distinct: BTreeSet<&str> = s
        .rows
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), s.rows.len(), "one row per user: {context}");

    let mut in_grace = 0;
    let mut waiting_eligible = 0;
    for row in &s.rows {
        let user = row["user_id"].as_str().unwrap();
        let grace = row["grace_until"].is_string();
        assert!(row["priority"].is_i64(), "{row}");
        assert_eq!(grace, row["reason"] == "in_grace", "{row}");
        if grace {
            // Entitled again would have ended the grace period.
            assert!(!entitled.contains(user), "in grace yet entitled: {row}");
        } else {
            assert!(entitled.contains(user), "a row without entitlement: {row}");
        }
        match (row["status"].as_str().unwrap(), grace) {
            ("assigned", true) => in_grace += 1,
            ("blocked", false) => waiting_eligible += 1,
            _ => {}
        }
    }
    for user in &entitled {
        assert!(s.find(user).is_some(), "entitled without a row: {user}");
    }
    assert_eq!(n(&t["in_grace"]), in_grace, "{context}");
    for (i, row) in s
        .rows
        .iter()
        .filter(|r| r["status"] == "blocked")
        .enumerate()
    {
        assert_eq!(row["queue_position"], i + 1, "{row}");
    }
    let free = seats - used - reserved;
    assert_eq!(n(&t["available"]), free.max(0), "{context}");
    if free > 0 {
        assert_eq!(
            waiting_eligible, 0,
            "users wait beside free seats: {context}"
        );
    }
    s
}

/// The license's change feed of `types` once `done` holds for it (the sequencer runs
/// asynchronously), or a panic with what it was.
async fn feed_until(l: &License<'_>, types: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let page = get(l, &format!("/events?types={types}&limit=1000")).await;
        let events = page["data"].as_array().unwrap().clone();
        assert_ne!(page["has_more"], true, "more than a page of events");
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "the feed did not get there: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The audit trail's actions, newest first (`query` e.g. `?user=…`).
async fn audit_actions(l: &License<'_>, query: &str) -> Vec<(String, Value)> {
    let separator = if query.is_empty() { "?" } else { "&" };
    let trail = get(l, &format!("/audit{query}{separator}limit=1000")).await;
    trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let detail = e["detail"]
                .as_str()
                .map_or(Value::Null, |d| serde_json::from_str(d).unwrap());
            (e["action"].as_str().unwrap().to_owned(), detail)
        })
        .collect()
}

/// Low's members are synced first and hold every seat; High's (priority 10) come later and
/// are served first from the waiting line. Priorities reorder the line, never evict.
async fn priorities_order_the_waiting_line_and_never_evict(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 3).await;
    let lows = users(&l, &["low1", "low2", "low3", "low4", "low5"]).await;
    let low = l.group("Low", &lows).await;
    let high = l.group("High", &[]).await;
    l.license_groups(&[&low, &high]).await;
    let outcome = change_policy(&l, json!({"group_priorities": {&high: 10}})).await;
    assert_eq!(
        outcome["policy"]["group_priorities"],
        json!({&low: 0, &high: 10})
    );
    let s = seats(&l).await;
    let holders = set(&lows[..3]);
    assert_eq!(s.assigned(), holders);
    assert_eq!(s.queue(), lows[3..]);

    // High's members join after Low's last waited: they wait too, but ahead of them.
    let highs = users(&l, &["high1", "high2"]).await;
    l.members(&high, "Add", &highs).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), holders, "a higher priority evicts nobody");
    let high_first = [&highs[..], &lows[3..]].concat();
    assert_eq!(s.queue(), high_first);
    assert_eq!(s.row(&highs[0])["priority"], 10);
    assert_eq!(s.row(&lows[3])["priority"], 0);

    // The preview of raising Low above High: the line turns around, nothing is saved.
    let before = (policy(&l).await, s.rows.clone());
    let raise_low = json!({"group_priorities": {&low: 20}});
    let preview = preview_policy(&l, raise_low.clone()).await;
    let low_first = [&lows[3..], &highs[..]].concat();
    let names_low_first: Vec<String> = ["low4", "low5", "high1", "high2"]
        .iter()
        .map(|n| email(n))
        .collect();
    assert_eq!(preview["policy"]["group_priorities"][&low], 20, "{preview}");
    let p = &preview["preview"];
    assert_eq!(p["queue_moved"], 4, "{preview}");
    assert_eq!(p["next_in_line"], json!(names_low_first), "{preview}");
    assert_eq!(
        p["impact"],
        json!({"assigned": 0, "blocked": 0, "released": 0, "grace": 0}),
        "{preview}"
    );
    assert_eq!(
        (&p["seats_before"], &p["seats_after"]),
        (&json!(3), &json!(3))
    );
    let s = seats(&l).await;
    assert_eq!(
        (policy(&l).await, s.rows),
        before,
        "a dry run changes nothing"
    );

    // Applied, the line is the previewed one; the seat holders stay.
    change_policy(&l, raise_low).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), holders);
    assert_eq!(s.queue(), low_first);
    let names: Vec<&Value> = s
        .rows
        .iter()
        .filter(|r| r["status"] == "blocked")
        .map(|r| &r["user_name"])
        .collect();
    assert_eq!(json!(names), p["next_in_line"]);
    assert_eq!(s.row(&lows[3])["priority"], 20);

    change_policy(&l, json!({"group_priorities": {&low: 0}})).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), holders);
    assert_eq!(s.queue(), high_first);

    // A user in both groups takes High's priority, and keeps the place they queued at.
    l.members(&high, "Add", std::slice::from_ref(&lows[4]))
        .await;
    let s = seats(&l).await;
    assert_eq!(s.row(&lows[4])["priority"], 10);
    assert_eq!(
        s.queue(),
        [
            lows[4].clone(),
            highs[0].clone(),
            highs[1].clone(),
            lows[3].clone()
        ]
    );

    // Seats free up one by one: High's priority goes first, Low's earlier waiter last.
    for (leaving, promoted) in [
        (&lows[0], &lows[4]),
        (&lows[1], &highs[0]),
        (&lows[2], &highs[1]),
    ] {
        l.members(&low, "Remove", std::slice::from_ref(leaving))
            .await;
        let s = seats(&l).await;
        assert!(s.find(leaving).is_none(), "{leaving} left: {:?}", s.rows);
        assert_eq!(s.row(promoted)["status"], "assigned", "{:?}", s.rows);
    }
    let s = seats(&l).await;
    assert_eq!(s.queue(), [lows[3].clone()]);
}

/// A reserved user synced after everyone else still finds their seat; a reserved group's
/// seats go to its members ahead of users who waited longer.
async fn reserved_seats_wait_for_late_users_and_groups(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 3).await;
    let outcome = change_policy(&l, json!({"reserved_users": [" Late@Contoso.com"]})).await;
    assert_eq!(
        outcome["policy"]["reserved_users"],
        json!(["late@contoso.com"])
    );
    let others = users(&l, &["o1", "o2", "o3", "o4", "o5"]).await;
    let staff = l.group("Staff", &others).await;
    l.license_groups(&[&staff]).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), set(&others[..2]), "one seat is held for late");
    assert_eq!(s.queue(), others[2..]);
    assert_eq!(
        (&s.totals["reserved"], &s.totals["available"]),
        (&json!(1), &json!(0))
    );

    let late = l.user("late").await;
    l.members(&staff, "Add", std::slice::from_ref(&late)).await;
    let s = seats(&l).await;
    assert_eq!(s.row(&late)["status"], "assigned", "{:?}", s.rows);
    assert_eq!(s.queue(), others[2..], "the reserved user skips the line");
    assert_eq!(s.totals["reserved"], 0);

    // Two seats for "Execs", not synced yet: held back when seats are added.
    change_policy(
        &l,
        json!({"reserved_groups": [{"group": "Execs", "seats": 2}]}),
    )
    .await;
    l.set(json!({"seats": 6})).await;
    let s = seats(&l).await;
    assert_eq!(
        s.assigned().len(),
        4,
        "one of the three new seats is free to all"
    );
    assert_eq!(s.row(&others[2])["status"], "assigned");
    assert_eq!(s.queue(), others[3..]);
    assert_eq!(
        (&s.totals["reserved"], &s.totals["available"]),
        (&json!(2), &json!(0))
    );

    let execs = users(&l, &["e1", "e2", "e3"]).await;
    let execs_group = l.group("Execs", &execs).await;
    l.license_groups(&[&staff, &execs_group]).await;
    let s = seats(&l).await;
    assert!(s.assigned().is_superset(&set(&execs[..2])), "{:?}", s.rows);
    assert_eq!(
        s.queue(),
        [others[3].clone(), others[4].clone(), execs[2].clone()]
    );
    assert_eq!(s.totals["reserved"], 0);

    // An exec's seat freed goes back to the reservation: e3 before o4 and o5.
    l.members(&execs_group, "Remove", std::slice::from_ref(&execs[0]))
        .await;
    let s = seats(&l).await;
    assert!(s.find(&execs[0]).is_none());
    assert_eq!(s.row(&execs[2])["status"], "assigned", "{:?}", s.rows);
    assert_eq!(s.queue(), others[3..]);

    // Reserving when every seat is taken evicts nobody; the next seat freed is held for boss.
    let outcome = change_policy(
        &l,
        json!({"reserved_users": ["late@contoso.com", "boss@contoso.com"]}),
    )
    .await;
    assert_eq!(outcome["preview"]["impact"]["released"], 0, "{outcome}");
    let s = seats(&l).await;
    assert_eq!(s.assigned().len(), 6);
    assert_eq!(s.totals["reserved"], 1);
    l.members(&staff, "Remove", std::slice::from_ref(&others[0]))
        .await;
    let s = seats(&l).await;
    assert_eq!(
        s.assigned().len(),
        5,
        "the freed seat is held: {:?}",
        s.rows
    );
    assert_eq!(s.queue(), others[3..]);
    let boss = l.user("boss").await;
    l.members(&staff, "Add", std::slice::from_ref(&boss)).await;
    let s = seats(&l).await;
    assert_eq!(s.row(&boss)["status"], "assigned", "{:?}", s.rows);
    assert_eq!(s.queue(), others[3..]);
}

/// `expand` raises the seats for who waits, up to the cap and never beyond; the raise is
/// pending true-up until settled, audited and in the change feed.
async fn expand_stops_at_the_cap_and_records_the_true_up(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 2).await;
    change_policy(&l, json!({"overflow": "expand", "expand_cap": 5})).await;
    let names: Vec<String> = (0..8).map(|i| format!("x{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let members = users(&l, &names).await;
    let group = l.group("Everyone", &members).await;
    l.license_groups(&[&group]).await;
    let s = seats(&l).await;
    assert_eq!(s.totals["seats"], 5, "raised to the cap: {}", s.totals);
    assert_eq!(s.assigned(), set(&members[..5]));
    assert_eq!(s.queue(), members[5..]);

    let true_up = get(&l, "/true-up").await;
    assert_eq!(true_up["pending_seats"], 3, "{true_up}");
    let expansions = true_up["expansions"].as_array().unwrap();
    assert!(!expansions.is_empty(), "{true_up}");
    assert_eq!(expansions[0]["seats_from"], 2, "{true_up}");
    assert_eq!(expansions.last().unwrap()["seats_to"], 5, "{true_up}");
    for pair in expansions.windows(2) {
        assert_eq!(pair[0]["seats_to"], pair[1]["seats_from"], "{true_up}");
    }
    let audited: Vec<Value> = audit_actions(&l, "")
        .await
        .into_iter()
        .filter(|(action, _)| action == "seats_expanded")
        .map(|(_, detail)| detail)
        .collect();
    assert_eq!(audited.len(), expansions.len(), "{audited:?}");
    for detail in &audited {
        assert!(detail["to"].as_i64().unwrap() <= 5, "{detail}");
        assert_eq!(detail["cap"], 5, "{detail}");
    }

    // More members at the cap: they wait; nothing more is raised.
    let more = users(&l, &["x8", "x9"]).await;
    l.members(&group, "Add", &more).await;
    let s = seats(&l).await;
    assert_eq!(s.totals["seats"], 5);
    assert_eq!(s.queue().len(), 5);
    assert_eq!(get(&l, "/true-up").await, true_up);

    let (status, settled) = l.admin(Method::POST, "/true-up/settle", None).await;
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["settled"], expansions.len());
    assert_eq!(
        get(&l, "/true-up").await,
        json!({"pending_seats": 0, "expansions": []})
    );
    assert!(
        audit_actions(&l, "")
            .await
            .iter()
            .any(|(action, _)| action == "true_up_settled")
    );
    // Settling bills the seats; it does not take them back.
    assert_eq!(seats(&l).await.totals["seats"], 5);

    let expanded =
        |e: &Value| e["type"] == "license.seats_changed" && e["data"]["object"]["expanded"] == true;
    let events = feed_until(&l, "license.*", |events| {
        events.iter().filter(|e| expanded(e)).count() == expansions.len()
    })
    .await;
    let told: Vec<&Value> = events.iter().filter(|e| expanded(e)).collect();
    assert_eq!(told[0]["data"]["previous"]["seats"], 2, "{told:?}");
    assert_eq!(
        told.last().unwrap()["data"]["object"]["seats"],
        5,
        "{told:?}"
    );

    // A higher cap, previewed: the engine would raise the seats for those waiting, to it.
    let preview = preview_policy(&l, json!({"expand_cap": 8})).await;
    let p = &preview["preview"];
    assert_eq!(
        (&p["seats_before"], &p["seats_after"]),
        (&json!(5), &json!(8)),
        "{preview}"
    );
    assert_eq!(p["impact"]["assigned"], 3, "{preview}");
    assert_eq!(
        p["next_in_line"],
        json!([email("x8"), email("x9")]),
        "{preview}"
    );
    let s = seats(&l).await;
    assert_eq!(s.totals["seats"], 5, "a dry run raises nothing");
    assert_eq!(get(&l, "/true-up").await["pending_seats"], 0);

    change_policy(&l, json!({"expand_cap": 8})).await;
    let s = seats(&l).await;
    assert_eq!(s.totals["seats"], 8);
    assert_eq!(s.queue(), more);
    let true_up = get(&l, "/true-up").await;
    assert_eq!(true_up["pending_seats"], 3, "{true_up}");
    assert_eq!(true_up["expansions"][0]["seats_from"], 5, "{true_up}");
}

/// `notify` blocks like `block` and tells the change feed once when users start waiting with
/// no seat for them; again only after the queue emptied.
async fn notify_tells_the_overflow_once(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 2).await;
    change_policy(&l, json!({"overflow": "notify"})).await;
    let members = users(&l, &["n1", "n2", "n3", "n4"]).await;
    let group = l.group("G", &members).await;
    l.license_groups(&[&group]).await;
    let s = seats(&l).await;
    assert_eq!(s.totals["seats"], 2, "notify raises nothing");
    assert_eq!(s.queue(), members[2..]);

    let overflow =
        |e: &Value| e["type"] == "license.usage_threshold" && e["data"]["overflow"] == true;
    let blocked = |user: &str| {
        let user = user.to_owned();
        move |e: &Value| e["type"] == "seat.blocked" && e["subject"] == user.as_str()
    };
    let events = feed_until(&l, "license.*,seat.*", |events| {
        events.iter().any(overflow) && events.iter().any(blocked(&members[3]))
    })
    .await;
    let told: Vec<&Value> = events.iter().filter(|e| overflow(e)).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["data"]["waiting"], 2, "{told:?}");

    // Still overflowing: not told again.
    let fifth = l.user("n5").await;
    l.members(&group, "Add", std::slice::from_ref(&fifth)).await;
    seats(&l).await;
    let events = feed_until(&l, "license.*,seat.*", |events| {
        events.iter().any(blocked(&fifth))
    })
    .await;
    assert_eq!(events.iter().filter(|e| overflow(e)).count(), 1);

    // The queue empties, then overflows again: told a second time.
    l.set(json!({"seats": 5})).await;
    assert!(seats(&l).await.queue().is_empty());
    let sixth = l.user("n6").await;
    l.members(&group, "Add", std::slice::from_ref(&sixth)).await;
    assert_eq!(seats(&l).await.queue(), std::slice::from_ref(&sixth));
    let events = feed_until(&l, "license.*,seat.*", |events| {
        events.iter().filter(|e| overflow(e)).count() >= 2 && events.iter().any(blocked(&sixth))
    })
    .await;
    let told: Vec<&Value> = events.iter().filter(|e| overflow(e)).collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1]["data"]["waiting"], 1, "{told:?}");
    assert_eq!(
        get(&l, "/true-up").await["pending_seats"],
        0,
        "notify expands nothing"
    );
}

/// The seat history's intervals of one user since `from`.
async fn history_of(l: &License<'_>, from: &str, user: &str) -> Value {
    let history = get(l, &format!("/seat-history?from={from}")).await;
    history["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["user_id"] == user)
        .map_or(Value::Null, |h| h["intervals"].clone())
}

/// Removed and re-added within the grace period, a seat holder keeps the seat and a waiting
/// user their place; once the grace period passes, the sweep releases the seat.
async fn grace_keeps_seat_and_place_until_it_expires(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 2).await;
    let started = time::now();
    change_policy(&l, json!({"grace_minutes": 30})).await;
    let [a, b, c, d]: [String; 4] = users(&l, &["a", "b", "c", "d"]).await.try_into().unwrap();
    let group = l
        .group("G", &[a.clone(), b.clone(), c.clone(), d.clone()])
        .await;
    l.license_groups(&[&group]).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), set(&[a.clone(), b.clone()]));
    assert_eq!(s.queue(), [c.clone(), d.clone()]);
    let since = s.row(&a)["since"].clone();
    let history = history_of(&l, &started, &a).await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");

    // The seat holder leaves the group: the seat stays theirs for 30 minutes.
    l.members(&group, "Remove", std::slice::from_ref(&a)).await;
    let s = seats(&l).await;
    let row = s.row(&a);
    assert_eq!(
        (&row["status"], &row["reason"]),
        (&json!("assigned"), &json!("in_grace")),
        "{row}"
    );
    let until = row["grace_until"].as_str().unwrap();
    assert!(
        until > time::after(Duration::from_secs(29 * 60)).as_str()
            && until <= time::after(Duration::from_secs(30 * 60)).as_str(),
        "{row}"
    );
    assert_eq!(s.totals["in_grace"], 1);
    assert_eq!(
        s.queue(),
        [c.clone(), d.clone()],
        "nobody takes a seat in grace"
    );
    // The product and the identity provider see a seat still held.
    let (_, entitlement) = server
        .admin_get("/api/v1/entitlements?email=a%40contoso.com")
        .await;
    assert_eq!(entitlement["licensed"], true, "{entitlement}");
    let seat_urn = "urn:seatflow:params:scim:schemas:extension:license:2.0:User";
    let (_, scim_user) = l.tenant.get(&format!("/Users/{a}")).await;
    assert_eq!(scim_user[seat_urn]["seatStatus"], "assigned", "{scim_user}");
    assert_eq!(scim_user[seat_urn]["seatReason"], "in_grace", "{scim_user}");

    // A waiting user leaves and comes back: still first in line.
    l.members(&group, "Remove", std::slice::from_ref(&c)).await;
    let s = seats(&l).await;
    assert_eq!(s.row(&c)["reason"], "in_grace");
    assert_eq!(s.row(&c)["queue_position"], 1);
    l.members(&group, "Add", std::slice::from_ref(&c)).await;
    let s = seats(&l).await;
    let row = s.row(&c);
    assert_eq!(row["grace_until"], Value::Null, "{row}");
    assert_eq!(row["reason"], "no_seats_available", "{row}");
    assert_eq!(
        s.queue(),
        [c.clone(), d.clone()],
        "re-added keeps the place"
    );

    // The seat holder comes back: the same seat, held since the start.
    l.members(&group, "Add", std::slice::from_ref(&a)).await;
    let s = seats(&l).await;
    let row = s.row(&a);
    assert_eq!(row["status"], "assigned", "{row}");
    assert_eq!(row["grace_until"], Value::Null, "{row}");
    assert_eq!(row["since"], since, "{row}");
    assert_eq!(s.totals["in_grace"], 0);
    assert_eq!(history_of(&l, &started, &a).await, history);
    let actions: Vec<String> = audit_actions(&l, &format!("?user={a}"))
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert!(
        actions.contains(&"grace_started".to_owned())
            && actions.contains(&"grace_ended".to_owned())
            && !actions.contains(&"released".to_owned()),
        "{actions:?}"
    );

    // Leaves again, and the grace period runs out: the sweep releases the seat to c.
    l.members(&group, "Remove", std::slice::from_ref(&a)).await;
    assert!(seats(&l).await.row(&a)["grace_until"].is_string());
    expire_grace(&l, &a).await;
    let s = seats(&l).await;
    assert_eq!(s.assigned(), set(&[b.clone(), c.clone()]));
    assert_eq!(s.queue(), std::slice::from_ref(&d));
    let history = history_of(&l, &started, &a).await;
    assert!(history[0]["ended_at"].is_string(), "{history}");

    // Deactivation is graced too; the preview of ending grace periods releases b to d and
    // changes nothing.
    let e = l.user("e").await;
    l.members(&group, "Add", std::slice::from_ref(&e)).await;
    l.disable(&b).await;
    let s = seats(&l).await;
    assert_eq!(s.row(&b)["reason"], "in_grace");
    assert_eq!(s.queue(), [d.clone(), e.clone()]);
    let preview = preview_policy(&l, json!({"grace_minutes": 0})).await;
    assert_eq!(
        preview["preview"]["impact"],
        json!({"assigned": 1, "blocked": 0, "released": 1, "grace": 0}),
        "{preview}"
    );
    assert_eq!(preview["preview"]["next_in_line"], json!([email("e")]));
    assert_eq!(seats(&l).await.rows, s.rows, "a dry run changes nothing");

    // A waiting user in grace is passed over: deleting b (never graced) seats e, not d.
    l.members(&group, "Remove", std::slice::from_ref(&d)).await;
    assert_eq!(seats(&l).await.row(&d)["reason"], "in_grace");
    assert_eq!(l.tenant.delete(&format!("/Users/{b}")).await.0, 204);
    let s = seats(&l).await;
    assert!(s.find(&b).is_none(), "{:?}", s.rows);
    assert_eq!(s.assigned(), set(&[c.clone(), e.clone()]));
    assert_eq!(s.queue(), std::slice::from_ref(&d));
    let history = history_of(&l, &started, &b).await;
    assert!(history[0]["ended_at"].is_string(), "{history}");

    // Its grace period over, d leaves the queue.
    expire_grace(&l, &d).await;
    assert!(seats(&l).await.queue().is_empty());
    let actions = audit_actions(&l, &format!("?user={d}")).await;
    assert_eq!(actions[0].0, "dequeued", "{actions:?}");
}

/// Moves `user`'s grace period into the past behind the server's back (as time passing would),
/// then waits for the sweep to end it: their row is gone.
async fn expire_grace(l: &License<'_>, user: &str) {
    let past = time::before(Duration::from_secs(60));
    let (license_id, user_id) = (l.tenant.license_id.clone(), user.to_owned());
    let changed = l
        .server
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            use seatflow_store::db::schema::seats;
            Ok(diesel::update(
                seats::table
                    .filter(seats::license_id.eq(&license_id))
                    .filter(seats::user_id.eq(&user_id)),
            )
            .set(seats::grace_until.eq(past))
            .execute(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while l.rows().await.iter().any(|r| r["user_id"] == user) {
        assert!(
            Instant::now() < deadline,
            "the sweep did not end the grace period of {user}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every invalid change is a 400 with a SCIM error saying why, for a dry run too, and leaves
/// the policies as they were (a valid part of an invalid change included).
async fn bad_policies_are_refused_and_change_nothing(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let l = license(&server, 3).await;
    let member = l.user("m").await;
    let licensed = l.group("Licensed", std::slice::from_ref(&member)).await;
    let other = l.group("Other", &[]).await;
    l.license_groups(&[&licensed]).await;
    change_policy(
        &l,
        json!({
            "grace_minutes": 5,
            "group_priorities": {&licensed: 3},
            "reserved_users": ["vip@contoso.com"],
        }),
    )
    .await;
    let before = policy(&l).await;
    assert_eq!(before["grace_minutes"], 5);
    let rows = seats(&l).await.rows;
    let changes_before = audit_actions(&l, "").await.len();

    let cases: Vec<(&str, Value)> = vec![
        ("unknown overflow", json!({"overflow": "spill"})),
        (
            "overflow in capitals",
            json!({"overflow": "Expand", "expand_cap": 5}),
        ),
        ("expand without a cap", json!({"overflow": "expand"})),
        (
            "cap below the seats",
            json!({"overflow": "expand", "expand_cap": 2}),
        ),
        ("negative cap", json!({"expand_cap": -1})),
        ("grace over a week", json!({"grace_minutes": 10081})),
        ("negative grace", json!({"grace_minutes": -1})),
        ("grace as text", json!({"grace_minutes": "30"})),
        (
            "priority of a group not licensed",
            json!({"group_priorities": {&other: 5}}),
        ),
        (
            "priority of no group",
            json!({"group_priorities": {"no-such-group": 5}}),
        ),
        (
            "priority out of range",
            json!({"group_priorities": {&licensed: 1001}}),
        ),
        (
            "more reserved users than seats",
            json!({"reserved_users": ["r1", "r2", "r3", "r4"]}),
        ),
        (
            "reserved group beyond the seats",
            json!({"reserved_groups": [{"group": "Sales", "seats": 3}]}),
        ),
        (
            "reserved group of no seats",
            json!({"reserved_groups": [{"group": "Sales", "seats": 0}]}),
        ),
        ("blank reserved user", json!({"reserved_users": ["  "]})),
        (
            "user reserved twice",
            json!({"reserved_users": ["a@x.com", "A@x.com"]}),
        ),
        ("unknown field", json!({"overflow_policy": "block"})),
        ("not an object", json!(["block"])),
        (
            "a valid part with an invalid one",
            json!({"grace_minutes": 60, "overflow": "spill"}),
        ),
        (
            "a valid part with an invalid priority",
            json!({"grace_minutes": 60, "group_priorities": {&other: 1}}),
        ),
    ];
    for (why, change) in cases {
        for path in ["/policy", "/policy?dry_run=true"] {
            let (status, body) = l.admin(Method::PATCH, path, Some(change.clone())).await;
            assert_eq!(status, 400, "{why} ({path}): {body}");
            assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{why}: {body}");
            assert_eq!(body["status"], "400", "{why}: {body}");
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{why}: {body}"
            );
            assert_eq!(
                policy(&l).await,
                before,
                "{why} ({path}) changed the policy"
            );
        }
    }
    let (status, body) = l.admin(Method::PATCH, "/policy", None).await;
    assert_eq!(status, 400, "no body: {body}");

    // Nothing was audited or reconciled for them.
    assert_eq!(audit_actions(&l, "").await.len(), changes_before);
    assert_eq!(seats(&l).await.rows, rows);
    let unknown: BTreeMap<&str, (u16, Value)> = BTreeMap::from([
        (
            "get",
            server.admin_get("/api/v1/licenses/nope/policy").await,
        ),
        (
            "patch",
            server
                .admin_send(
                    Method::PATCH,
                    "/api/v1/licenses/nope/policy",
                    Some(json!({"grace_minutes": 1})),
                )
                .await,
        ),
        (
            "true-up",
            server.admin_get("/api/v1/licenses/nope/true-up").await,
        ),
    ]);
    for (what, (status, body)) in unknown {
        assert_eq!(status, 404, "{what}: {body}");
    }
}
