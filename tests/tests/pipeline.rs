//! The event pipeline end to end, in process: every acknowledged SCIM write that can move a seat
//! records exactly one event in its transaction (and the others none), and the event is applied — by the embedded worker (SQLite and
//! PostgreSQL) or through RabbitMQ (relay, broker, worker). Poison events are retried with
//! backoff, dead-lettered with their error, and replayable.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use seatflow_queue::outbox as outbox_store;
use seatflow_store::db::schema::outbox;
use seatflow_tests::{Backend, Tenant, TestServer, amqp_url, patch_op, queue_depth, read};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(30);

/// A mix of Entra-shaped writes; returns how many of them can move a seat (one event each).
/// The others (new users and groups, renames, a PATCH that changes nothing) record none.
async fn burst(server: &TestServer, tenant: &Tenant, users: usize) -> usize {
    let mut events = 0;
    let mut ids = Vec::new();
    for i in 0..users {
        let (status, body) = tenant
            .post(
                "/Users",
                json!({"userName": format!("user{i}@example.com"), "active": true}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, group) = tenant
        .post("/Groups", json!({"displayName": "Licensed"}))
        .await;
    assert_eq!(status, 201);
    assert!(
        statuses(server, &tenant.license_id).is_empty(),
        "new users and groups cannot move a seat: no event"
    );
    let group_id = group["id"].as_str().unwrap().to_owned();
    server
        .license_groups(&tenant.license_id, json!([group_id]))
        .await;
    events += 1;
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let group_path = format!("/Groups/{group_id}");
    let (status, _) = tenant
        .patch(
            &group_path,
            patch_op(json!([{"op": "Add", "path": "members", "value": members}])),
        )
        .await;
    assert_eq!(status, 204);
    events += 1;
    let user_path = format!("/Users/{}", ids[0]);
    let (status, _) = tenant
        .patch(
            &user_path,
            patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(status, 200);
    events += 1;
    // A rename, and a PATCH that changes nothing, record no event.
    for operation in [
        json!({"op": "Replace", "path": "displayName", "value": "Renamed"}),
        json!({"op": "Replace", "path": "active", "value": false}),
    ] {
        let (status, _) = tenant.patch(&user_path, patch_op(json!([operation]))).await;
        assert_eq!(status, 200);
    }
    // The group is licensed, so its member holds a seat row that the delete frees.
    server.converged(&tenant.license_id, CONVERGE).await;
    assert_eq!(tenant.delete(&format!("/Users/{}", ids[1])).await.0, 204);
    events += 1;
    events
}

fn statuses(server: &TestServer, license_id: &str) -> Vec<(i64, String, Option<String>)> {
    let mut conn = server.db.checkout().unwrap();
    outbox::table
        .filter(outbox::license_id.eq(license_id))
        .order(outbox::id)
        .select((outbox::id, outbox::status, outbox::request_id))
        .load(&mut *conn)
        .unwrap()
}

async fn assert_every_write_applied(server: &TestServer, tenant: &Tenant, writes: usize) {
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    let rows = statuses(server, &tenant.license_id);
    assert_eq!(
        rows.len(),
        writes,
        "one event per write that can move a seat"
    );
    assert!(
        rows.iter().all(|(_, status, _)| status == "applied"),
        "{rows:?}"
    );
    assert_eq!(sync["last_applied_event_id"], rows.last().unwrap().0);
    // Each applied once, or more if redelivered.
    assert!(
        sync["applied_events"].as_u64().unwrap() >= writes as u64,
        "{sync}"
    );
    assert_eq!(sync["dead_letters"], 0);
    assert!(sync["last_applied_at"].is_string());
}

async fn embedded_applies_every_acknowledged_write(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Pipeline", 10).await;
    let writes = burst(&server, &tenant, 20).await;
    assert_every_write_applied(&server, &tenant, writes).await;
}

async fn request_id_is_returned_and_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Pipeline", 10).await;
    let (_, user) = tenant
        .post("/Users", json!({"userName": "traced@example.com"}))
        .await;
    let response = tenant
        .request(
            Method::PATCH,
            &format!("/Users/{}", user["id"].as_str().unwrap()),
        )
        .header("x-request-id", "req-42")
        .header("content-type", "application/scim+json")
        .body(patch_op(json!([{"op": "replace", "path": "active", "value": false}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-42");
    assert_eq!(read(response).await.0, 200);
    let generated = tenant.request(Method::GET, "/Users").send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let rows = statuses(&server, &tenant.license_id);
    assert_eq!(rows[0].2.as_deref(), Some("req-42"));
}

async fn embedded_poison_event_is_dead_lettered_and_replayable(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.worker.max_attempts = 3;
        c.worker.retry_base_ms = 20;
    })
    .await;
    let tenant = server.create_license("Pipeline", 10).await;
    let poison = plant_poison(&server, &tenant).await;
    let sync = wait_for_dead_letter(&server, &tenant).await;
    assert_eq!(sync["pending_events"], 0);
    assert_poison_is_dead(&server, poison);

    repair(&server, poison).await;
    let replayed = server
        .db
        .write(move |c| outbox_store::replay(c, Some(&[poison])))
        .await
        .unwrap();
    assert_eq!(replayed, [poison]);
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    assert_eq!(sync["dead_letters"], 0);
    assert_applied(&server, &tenant, poison);
}

seatflow_tests::both_backends!(
    embedded_applies_every_acknowledged_write,
    request_id_is_returned_and_recorded,
    embedded_poison_event_is_dead_lettered_and_replayable,
);

/// An event whose payload no worker can read: what a bug or a bad migration could leave.
async fn plant_poison(server: &TestServer, tenant: &Tenant) -> i64 {
    let license_id = tenant.license_id.clone();
    let id = server
        .db
        .write(move |c| outbox_store::insert_raw(c, &license_id, "{not json", None))
        .await
        .unwrap();
    // Wake the worker or relay the way a SCIM write would.
    assert_eq!(
        tenant
            .post("/Users", json!({"userName": "wake@example.com"}))
            .await
            .0,
        201
    );
    id
}

async fn wait_for_dead_letter(server: &TestServer, tenant: &Tenant) -> Value {
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let sync = server.sync(&tenant.license_id).await;
        if sync["dead_letters"] == 1 && sync["pending_events"] == 0 {
            return sync;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter: {sync}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_applied(server: &TestServer, tenant: &Tenant, id: i64) {
    let rows = statuses(server, &tenant.license_id);
    let row = rows.iter().find(|r| r.0 == id).expect("event row");
    assert_eq!(row.1, "applied", "{rows:?}");
}

/// The planted poison event is a dead letter after its three attempts, with the reason.
fn assert_poison_is_dead(server: &TestServer, id: i64) {
    let mut conn = server.db.checkout().unwrap();
    let dead = outbox_store::dead_letters(&mut conn)
        .unwrap()
        .into_iter()
        .find(|d| d.id == id)
        .expect("the poison event is a dead letter");
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("unreadable payload"),
        "{dead:?}"
    );
}

/// Fixes the payload, as an operator would after fixing the bug that wrote it.
async fn repair(server: &TestServer, id: i64) {
    server
        .db
        .write(move |c| {
            diesel::update(outbox::table.find(id))
                .set(outbox::payload.eq("{}"))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Runs `seatflow-worker` with the server's database and broker settings; returns stdout.
fn worker_cli(server: &TestServer, args: &[&str]) -> String {
    let out = std::process::Command::new(seatflow_tests::binary("seatflow-worker"))
        .args(args)
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", server.config.database_url.as_str())
        .env("SEATFLOW_AMQP_URL", amqp_url())
        .env("SEATFLOW_AMQP_PREFIX", &server.config.worker.amqp_prefix)
        // The deployment's retry settings, hence its delay queues: the test removes those.
        .env(
            "SEATFLOW_MAX_ATTEMPTS",
            server.config.worker.max_attempts.to_string(),
        )
        .env(
            "SEATFLOW_RETRY_BASE_MS",
            server.config.worker.retry_base_ms.to_string(),
        )
        .env("SEATFLOW_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seatflow-worker {args:?}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_applies_every_acknowledged_write() {
    let (server, broker) = TestServer::start_distributed(|_| {}).await;
    let tenant = server.create_license("Pipeline", 10).await;
    let writes = burst(&server, &tenant, 20).await;
    assert_every_write_applied(&server, &tenant, writes).await;
    assert_eq!(
        queue_depth(&broker.queues.names[0]).await,
        0,
        "work queue drained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_poison_event_is_parked_with_its_error_and_replays() {
    let (server, broker) = TestServer::start_distributed(|c| {
        c.worker.max_attempts = 3;
        c.worker.retry_base_ms = 50;
    })
    .await;
    let parking = server.config.worker.amqp_prefix.clone() + ".parking";
    assert!(broker.queues.names.contains(&parking));
    let tenant = server.create_license("Pipeline", 10).await;
    let poison = plant_poison(&server, &tenant).await;
    wait_for_dead_letter(&server, &tenant).await;
    assert_poison_is_dead(&server, poison);
    assert_eq!(
        queue_depth(&parking).await,
        1,
        "the dead letter is parked on the broker too"
    );

    // The operator's view and replay, through the worker's command line.
    let listed = worker_cli(&server, &["dead-letters", "list"]);
    let letter: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(letter["id"], poison);
    assert!(
        letter["last_error"]
            .as_str()
            .unwrap()
            .contains("unreadable payload")
    );
    repair(&server, poison).await;
    let replayed = worker_cli(
        &server,
        &["dead-letters", "replay", "--id", &poison.to_string()],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&replayed).unwrap()["replayed"],
        json!([poison])
    );
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    assert_eq!(sync["dead_letters"], 0);
    assert_applied(&server, &tenant, poison);
    assert_eq!(queue_depth(&parking).await, 0);
}
