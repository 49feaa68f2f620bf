//! The change feed as the vendor's product reads it (the Events API), on every transport: SCIM
//! writes, the seat engine's decisions and the license's usage thresholds as events, in the
//! order they happened, each with the request that caused it; the cursor pages through without
//! gaps while writers commit out of order.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use seatflow_tests::{
    Backend, Tenant, TestServer, Transport, all_transports, both_backends, patch_op, read,
};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(30);

all_transports!(
    scim_writes_and_seat_decisions_are_told_in_order,
    thresholds_are_told_once_per_crossing,
    directory_and_license_events,
);
both_backends!(
    the_cursor_misses_nothing_while_writers_race,
    the_events_api_refuses_bad_input,
    retention_prunes_the_oldest_events,
);

/// The case the sequencer exists for, made to happen: a transaction that recorded its event
/// first commits last. A cursor over insert ids would have moved past it for good.
#[test]
fn an_event_committed_late_is_still_after_the_cursor() {
    use diesel::RunQueryDsl;
    use seatflow_feed::event::{EventType, NewEvent, record};
    use seatflow_feed::log::{self, Query};
    use seatflow_feed::sequence;

    let test_db = seatflow_tests::TestDb::create(Backend::Postgres);
    let db = seatflow_store::db::Db::connect(&test_db.url, 3).unwrap();
    seatflow_store::migrations::run(&db).unwrap();
    let event = |name: &str| NewEvent::new(EventType::UserCreated, Some(name), json!({}));
    let begin = |c: &mut seatflow_store::db::DbConn| {
        diesel::sql_query("BEGIN").execute(c).unwrap();
    };
    let commit = |c: &mut seatflow_store::db::DbConn| {
        diesel::sql_query("COMMIT").execute(c).unwrap();
    };
    let (mut early, mut late) = (db.checkout().unwrap(), db.checkout().unwrap());
    begin(&mut early);
    record(&mut early, "l", &[event("first-recorded")], None).unwrap();
    begin(&mut late);
    record(&mut late, "l", &[event("second-recorded")], None).unwrap();
    commit(&mut late);
    let mut reader = db.checkout().unwrap();
    let read = |c: &mut seatflow_store::db::DbConn, after: i64| {
        begin(c);
        sequence::assign(c).unwrap();
        commit(c);
        let query = Query {
            after,
            limit: 10,
            ..Query::default()
        };
        log::list(c, &query).unwrap()
    };
    let page = read(&mut reader, 0);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].subject.as_deref(), Some("second-recorded"));
    commit(&mut early);
    let page = read(&mut reader, page[0].sequence);
    assert_eq!(page.len(), 1, "the late commit was skipped");
    assert_eq!(page[0].subject.as_deref(), Some("first-recorded"));
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

async fn user(tenant: &Tenant, name: &str) -> String {
    let body = json!({"userName": format!("{name}@contoso.com"), "active": true});
    let (status, body) = tenant.post("/Users", body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn group(tenant: &Tenant, name: &str, members: &[String]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"displayName": name, "members": members});
    let (status, body) = tenant.post("/Groups", body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn members(tenant: &Tenant, group: &str, op: &str, ids: &[String]) {
    let value: Vec<Value> = ids.iter().map(|m| json!({"value": m})).collect();
    let operation = if op == "add" {
        json!([{"op": "add", "path": "members", "value": value}])
    } else {
        let ops: Vec<Value> = ids
            .iter()
            .map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}))
            .collect();
        Value::Array(ops)
    };
    let (status, body) = tenant
        .patch(&format!("/Groups/{group}"), patch_op(operation))
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn scim_writes_and_seat_decisions_are_told_in_order(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("feed", 2).await;
    let license = tenant.license_id.clone();
    let ada = user(&tenant, "ada").await;
    let bob = user(&tenant, "bob").await;
    let cy = user(&tenant, "cy").await;
    let staff = group(&tenant, "Staff", &[ada.clone(), bob.clone(), cy.clone()]).await;
    server.license_groups(&license, json!([staff])).await;
    let feed = server
        .feed_until(&license, CONVERGE, |e| {
            of_type(e, "seat.blocked").len() == 1
        })
        .await;
    assert_eq!(
        types(&feed)[..6],
        [
            "directory.first_sync",
            "user.created",
            "user.created",
            "user.created",
            "group.created",
            "group.members_added"
        ]
    );
    let created = &feed[1]["data"]["object"];
    assert_eq!(created["userName"], "ada@contoso.com");
    assert_eq!(created["id"], ada.as_str());
    let added = &feed[5]["data"];
    assert_eq!(added["group"]["id"], staff.as_str());
    assert_eq!(added["members"].as_array().unwrap().len(), 3);
    // Seats go in the provider's join order; the third waits first in line.
    let assigned: Vec<&Value> = of_type(&feed, "seat.assigned")
        .iter()
        .map(|e| &e["subject"])
        .collect();
    assert_eq!(assigned, [&json!(ada), &json!(bob)]);
    let blocked = of_type(&feed, "seat.blocked")[0];
    assert_eq!(blocked["subject"], cy.as_str());
    assert_eq!(blocked["data"]["reason"], "no_seats_available");
    assert_eq!(blocked["data"]["queue_position"], 1);
    assert_eq!(blocked["data"]["object"]["userName"], "cy@contoso.com");
    let thresholds: Vec<&Value> = of_type(&feed, "license.usage_threshold")
        .iter()
        .map(|e| &e["data"]["threshold"])
        .collect();
    assert_eq!(thresholds, [&json!(80), &json!(90), &json!(100)]);
    // Sequence numbers increase in feed order.
    let sequences: Vec<i64> = feed
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    // Deactivating a seat holder: the user's event with what changed, the seat released with
    // why, and the head of the line promoted — all caused by the one PATCH.
    let response = tenant
        .request(Method::PATCH, &format!("/Users/{ada}"))
        .json(&patch_op(
            json!([{"op": "replace", "path": "active", "value": false}]),
        ))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(read(response).await.0, 200);
    let feed = server
        .feed_until(&license, CONVERGE, |e| {
            !of_type(e, "seat.promoted").is_empty()
        })
        .await;
    let deactivated = of_type(&feed, "user.deactivated")[0];
    assert_eq!(deactivated["data"]["previous"], json!({"active": true}));
    assert_eq!(deactivated["data"]["object"]["active"], false);
    let released = of_type(&feed, "seat.released")[0];
    assert_eq!(released["subject"], ada.as_str());
    assert_eq!(released["data"]["why"], "user_deactivated");
    let promoted = of_type(&feed, "seat.promoted")[0];
    assert_eq!(promoted["subject"], cy.as_str());
    for event in [deactivated, released, promoted] {
        assert_eq!(event["request_id"], request_id.as_str(), "{event}");
    }
    assert_eq!(
        of_type(&feed, "license.usage_threshold").len(),
        3,
        "usage stayed at 100%"
    );

    // Deleting a seat holder releases the seat with the user; leaving the licensed group
    // releases it too; a rename is an update with the old name.
    let (status, _) = tenant.delete(&format!("/Users/{bob}")).await;
    assert_eq!(status, 204);
    let rename = json!([{"op": "replace", "path": "displayName", "value": "Everyone"}]);
    let (status, _) = tenant
        .patch(&format!("/Groups/{staff}"), patch_op(rename))
        .await;
    assert_eq!(status, 204);
    members(&tenant, &staff, "remove", std::slice::from_ref(&cy)).await;
    let feed = server
        .feed_until(&license, CONVERGE, |e| {
            of_type(e, "seat.released").len() == 3
        })
        .await;
    let deleted = of_type(&feed, "user.deleted")[0];
    assert_eq!(deleted["data"]["object"]["userName"], "bob@contoso.com");
    let whys: Vec<&Value> = of_type(&feed, "seat.released")
        .iter()
        .map(|e| &e["data"]["why"])
        .collect();
    assert_eq!(
        whys,
        [
            &json!("user_deactivated"),
            &json!("user_deleted"),
            &json!("left_licensed_groups")
        ]
    );
    let renamed = of_type(&feed, "group.updated")[0];
    assert_eq!(renamed["data"]["previous"]["displayName"], "Staff");
    assert_eq!(renamed["data"]["object"]["displayName"], "Everyone");
    let removed = of_type(&feed, "group.members_removed")[0];
    assert_eq!(removed["data"]["members"], json!([cy]));
    // Every event is the license's, and the deployment-wide feed holds them too.
    assert!(feed.iter().all(|e| e["license_id"] == license.as_str()));
    let everything = server.feed(None).await;
    assert_eq!(everything.len(), feed.len());
}

async fn thresholds_are_told_once_per_crossing(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("thresholds", 10).await;
    let license = tenant.license_id.clone();
    let mut ids = Vec::new();
    for i in 0..13 {
        ids.push(user(&tenant, &format!("u{i}")).await);
    }
    let staff = group(&tenant, "Staff", &ids[..8]).await;
    server.license_groups(&license, json!([staff])).await;
    let levels = |feed: &[Value]| -> Vec<i64> {
        of_type(feed, "license.usage_threshold")
            .iter()
            .map(|e| e["data"]["threshold"].as_i64().unwrap())
            .collect()
    };
    server
        .feed_until(&license, CONVERGE, |e| levels(e) == [80])
        .await;
    members(&tenant, &staff, "add", &ids[8..9]).await;
    server
        .feed_until(&license, CONVERGE, |e| levels(e) == [80, 90])
        .await;
    // Reaching 100% and going past it (the rest wait) is one crossing.
    members(&tenant, &staff, "add", &ids[9..12]).await;
    let feed = server
        .feed_until(&license, CONVERGE, |e| {
            of_type(e, "seat.blocked").len() == 2
        })
        .await;
    assert_eq!(levels(&feed), [80, 90, 100]);
    let full = of_type(&feed, "license.usage_threshold")[2];
    assert_eq!(full["data"]["seats_used"], 10);
    assert_eq!(full["data"]["seats_available"], 0);
    // Four leave: two waiting users are promoted, usage falls to 80% (no event downward)...
    members(&tenant, &staff, "remove", &ids[..4]).await;
    server
        .feed_until(&license, CONVERGE, |e| {
            of_type(e, "seat.promoted").len() == 2
        })
        .await;
    // ...and rising again past 90% and to 100% is told again.
    members(&tenant, &staff, "add", &ids[12..13]).await;
    members(&tenant, &staff, "add", &ids[..1]).await;
    let feed = server
        .feed_until(&license, CONVERGE, |e| levels(e).len() == 5)
        .await;
    assert_eq!(levels(&feed), [80, 90, 100, 90, 100]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(levels(&server.feed(Some(&license)).await).len(), 5);
}

async fn directory_and_license_events(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("directory", 3).await;
    let license = tenant.license_id.clone();
    // Entra's Test Connection: a userName probe for a random GUID that finds nobody.
    let probe = "/Users?filter=userName%20eq%20%223f1c5c2e-0000-4000-8000-000000000000%22";
    assert_eq!(tenant.get(probe).await.0, 200);
    let path = format!("/api/v1/licenses/{license}/tokens");
    let (status, issued) = server.admin_send(Method::POST, &path, None).await;
    assert_eq!(status, 201, "{issued}");
    let new_token = issued["token_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/licenses/{license}/tokens/{}", tenant.token_id);
    assert_eq!(server.admin_send(Method::DELETE, &path, None).await.0, 204);
    let path = format!("/api/v1/licenses/{license}");
    for change in [
        json!({"seats": 5}),
        json!({"provisioning_enabled": false}),
        json!({"provisioning_enabled": true}),
        json!({"name": "renamed"}),
    ] {
        let (status, body) = server.admin_send(Method::PATCH, &path, Some(change)).await;
        assert_eq!(status, 200, "{body}");
    }
    let feed = server
        .feed_until(&license, CONVERGE, |e| e.len() == 6)
        .await;
    let mut seen = types(&feed);
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "directory.test_connection",
            "directory.token_revoked",
            "directory.token_rotated",
            "license.provisioning_disabled",
            "license.provisioning_enabled",
            "license.seats_changed",
        ]
    );
    let rotated = of_type(&feed, "directory.token_rotated")[0];
    assert_eq!(rotated["data"]["token_id"], new_token.as_str());
    let revoked = of_type(&feed, "directory.token_revoked")[0];
    assert_eq!(revoked["data"]["token_id"], tenant.token_id.as_str());
    assert!(!feed.iter().any(|e| e.to_string().contains(&tenant.token)));
    let seats = of_type(&feed, "license.seats_changed")[0];
    assert_eq!(seats["data"]["previous"], json!({"seats": 3}));
    assert_eq!(seats["data"]["object"]["seats"], 5);
}

/// Many writers commit out of order (on PostgreSQL, insert ids are taken before commit): a
/// reader paging with the cursor meanwhile still sees every event exactly once.
async fn the_cursor_misses_nothing_while_writers_race(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("race", 0).await;
    let license = tenant.license_id.clone();
    const WRITERS: usize = 8;
    const EACH: usize = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let tenant = tenant.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    user(&tenant, &format!("w{w}-{i}")).await;
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut cursor = "0".to_owned();
    let path = format!("/api/v1/licenses/{license}/events");
    let deadline = std::time::Instant::now() + CONVERGE;
    // One first_sync and one user.created per user.
    while seen.len() < WRITERS * EACH + 1 {
        assert!(std::time::Instant::now() < deadline, "saw {}", seen.len());
        let (status, page) = server
            .admin_get(&format!("{path}?after={cursor}&limit=7"))
            .await;
        assert_eq!(status, 200, "{page}");
        for event in page["data"].as_array().unwrap() {
            seen.push(event["id"].as_str().unwrap().to_owned());
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was listed twice");
    let all: BTreeSet<String> = server
        .feed(Some(&license))
        .await
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all, seen.into_iter().collect::<BTreeSet<_>>());
}

async fn the_events_api_refuses_bad_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("bad", 1).await;
    let path = format!("/api/v1/licenses/{}/events", tenant.license_id);
    for query in [
        "?after=-1",
        "?after=abc",
        "?limit=0",
        "?limit=5000",
        "?types=seat.stolen",
        "?since=1",
    ] {
        let (status, body) = server.admin_get(&format!("{path}{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    let (status, _) = server.admin_get("/api/v1/licenses/nope/events").await;
    assert_eq!(status, 404);
    // The SCIM token is not a reader of the feed.
    let response = tenant
        .client
        .get(format!("{}{path}", server.base_url))
        .bearer_auth(&tenant.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, page) = server
        .admin_get(&format!("{path}?types=seat.*,user.created"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next_cursor"], "0");
}

/// Pruning removes events past retention from the head of the feed; the cursor stays valid and
/// new events come after it.
async fn retention_prunes_the_oldest_events(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("old", 1).await;
    for i in 0..3 {
        user(&tenant, &format!("old{i}")).await;
    }
    let feed = server
        .feed_until(&tenant.license_id, CONVERGE, |e| e.len() == 4)
        .await;
    let last = feed.last().unwrap()["sequence"].as_i64().unwrap();
    let keep = Duration::from_secs(3600);
    let kept = server
        .db
        .write(move |c| seatflow_feed::log::prune(c, keep))
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing is past an hour's retention");
    let pruned = server
        .db
        .write(|c| seatflow_feed::log::prune(c, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert!(server.feed(Some(&tenant.license_id)).await.is_empty());
    user(&tenant, "new").await;
    let feed = server
        .feed_until(&tenant.license_id, CONVERGE, |e| e.len() == 1)
        .await;
    assert!(feed[0]["sequence"].as_i64().unwrap() > last);
}
