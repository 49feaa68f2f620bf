//! Operator plumbing over HTTP: health checks, Prometheus metrics and the dead-letter API.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestQueues, TestServer, amqp_url, read, unique_amqp_prefix};
use serde_json::{Value, json};

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    read(
        server
            .client
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Polls `/readyz` until its answer has `status`; panics after 20 s.
async fn readiness(server: &TestServer, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (got, body) = get(server, "/readyz").await;
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_in_embedded_mode() {
    let server = TestServer::start(Backend::Sqlite).await;
    assert_eq!(
        get(&server, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    let ready = readiness(&server, 200).await;
    assert_eq!(
        ready,
        json!({"ready": true, "database": "ok", "broker": "not_configured"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_broker() {
    let server = TestServer::start_with(Backend::Postgres, |c| {
        c.amqp_url = Some(amqp_url());
        c.worker.amqp_prefix = unique_amqp_prefix();
    })
    .await;
    let _queues = TestQueues::of(&server.config);
    let ready = readiness(&server, 200).await;
    assert_eq!(ready["broker"], "ok");

    // Nothing listens on port 1: the relay never connects, so the process is not ready.
    let unreachable = TestServer::start_with(Backend::Sqlite, |c| {
        c.amqp_url = Some("amqp://guest:guest@127.0.0.1:1/%2f".into());
    })
    .await;
    let body = readiness(&unreachable, 503).await;
    assert_eq!(
        body,
        json!({"ready": false, "database": "ok", "broker": "down"})
    );
    assert_eq!(get(&unreachable, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_events_and_seats() {
    let server = TestServer::start(Backend::Sqlite).await;
    let tenant = server.create_license("Northwind", 25).await;
    // Three users created (no licensing work) and disabled (three events).
    for i in 0..3 {
        let (status, user) = tenant
            .post(
                "/Users",
                json!({"userName": format!("m{i}@northwind.test")}),
            )
            .await;
        assert_eq!(status, 201);
        disable(&tenant, &user).await;
    }
    assert_eq!(tenant.get("/Users/missing").await.0, 404);
    server
        .converged(&tenant.license_id, Duration::from_secs(30))
        .await;

    // Gauges are refreshed by the sampler every few seconds.
    let seats = format!(
        "seatflow_license_seats{{license_id=\"{}\",license=\"Northwind\"}} 25",
        tenant.license_id
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let response = server
            .client
            .get(format!("{}/metrics", server.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = response.text().await.unwrap();
        if text.contains(&seats) {
            break text;
        }
        assert!(Instant::now() < deadline, "no seat gauge:\n{text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for expected in [
        "seatflow_http_requests_total{route=\"/scim/v2/Users\",method=\"POST\",status=\"201\"} 3",
        "seatflow_http_requests_total{route=\"/scim/v2/Users/{id}\",method=\"GET\",status=\"404\"} 1",
        "seatflow_http_request_duration_seconds_bucket{route=\"/scim/v2/Users\",method=\"POST\",status=\"201\",le=\"+Inf\"} 3",
        "seatflow_events_recorded_total 3",
        "seatflow_events_applied_total{transport=\"embedded\"} 3",
        "seatflow_event_lag_seconds_count 3",
        "seatflow_queue_depth{queue=\"work\"} 0",
        "seatflow_license_seats_used{license_id=",
        "seatflow_db_pool_max_connections 8",
        "seatflow_db_pool_connections{state=\"in_use\"}",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.metrics_token = Some("scrape-me".into());
    })
    .await;
    let url = format!("{}/metrics", server.base_url);
    let (status, body) = read(server.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "401");
    let status = server
        .client
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed() {
    let server = TestServer::start_with(Backend::Postgres, |c| c.worker.max_attempts = 1).await;
    let tenant = server.create_license("Tailspin", 5).await;
    let poison = {
        let mut conn = server.db.checkout().unwrap();
        seatflow_queue::outbox::insert_raw(&mut conn, &tenant.license_id, "{", Some("r1")).unwrap()
    };
    server
        .converged(&tenant.license_id, Duration::from_secs(30))
        .await;
    let (status, letters) = server.admin_get("/api/v1/dead-letters").await;
    assert_eq!(status, 200);
    assert_eq!(letters.as_array().unwrap().len(), 1);
    assert_eq!(letters[0]["id"], poison);
    assert_eq!(letters[0]["request_id"], "r1");

    let replay = |id: i64| {
        server
            .admin(Method::POST, &format!("/api/v1/dead-letters/{id}/replay"))
            .send()
    };
    let (status, body) = read(replay(poison).await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"replayed": [poison]})));
    // Replayed once more, it fails again and is dead again; an unknown id is 404.
    let (status, body) = read(replay(poison + 1000).await.unwrap()).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = read(
        server
            .client
            .get(format!("{}/api/v1/dead-letters", server.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "the operator token is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_rabbitmq_mode_queue_depths_come_from_the_broker() {
    let server = TestServer::start_with(Backend::Postgres, |c| {
        c.amqp_url = Some(amqp_url());
        c.worker.amqp_prefix = unique_amqp_prefix();
    })
    .await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Litware", 10).await;
    // No worker runs: the relay's messages wait in the work queue.
    for i in 0..4 {
        let (status, user) = tenant
            .post("/Users", json!({"userName": format!("q{i}@litware.test")}))
            .await;
        assert_eq!(status, 201);
        disable(&tenant, &user).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server.admin_get("/api/v1/dashboard").await;
        assert_eq!(status, 200);
        assert_eq!(body["mode"], "rabbitmq");
        let queue = body["samples"]
            .as_array()
            .unwrap()
            .last()
            .map(|s| s["queue"].clone());
        if queue.as_ref().is_some_and(|q| q["work"] == 4) {
            assert_eq!(queue.unwrap(), json!({"work": 4, "delay": 0, "parking": 0}));
            assert_eq!(body["licenses"][0]["pending_events"], 4);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker's work queue never showed 4: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A PATCH that can move a seat, so it records a licensing event.
async fn disable(tenant: &Tenant, user: &Value) {
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let (status, _) = tenant
        .patch(
            &path,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]
            }),
        )
        .await;
    assert_eq!(status, 200);
}
