//! Outages of the services themselves: PostgreSQL stopped and restarted, RabbitMQ's application
//! stopped and started, in the middle of Entra-shaped traffic. These stop the machine's shared
//! servers, so `scripts/test.sh` runs this binary alone, after every other test.
//!
//! While PostgreSQL is down the API answers 503 with a SCIM error and `Retry-After` (never a
//! 500, never a hang past the request timeout), and it recovers without a restart; while the
//! broker is down writes are still acknowledged and applied once it is back.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use seatflow_tests::{Backend, Tenant, TestServer, read};
use serde_json::json;

const CONVERGE: Duration = Duration::from_secs(60);

fn postgres(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .unwrap();
    let status = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            &version,
            "main",
            action,
            "-m",
            "fast",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctlcluster {action}");
}

fn rabbitmq(action: &str) {
    let status = Command::new("rabbitmqctl")
        .args(["-q", action])
        .status()
        .unwrap();
    assert!(status.success(), "rabbitmqctl {action}");
}

async fn users(tenant: &Tenant, from: usize, count: usize) {
    for i in from..from + count {
        let (status, body) = tenant
            .post(
                "/Users",
                json!({"userName": format!("o{i}@example.com"), "active": true}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Restarts PostgreSQL even if the test fails half-way, so later tests find it up.
struct PostgresBack;

impl Drop for PostgresBack {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main start"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_gives_503_then_recovers_without_a_restart() {
    let server = TestServer::start_with(Backend::Postgres, |c| c.request_timeout_secs = 10).await;
    let tenant = server.create_license("Outage", 5).await;
    users(&tenant, 0, 10).await;

    let _guard = PostgresBack;
    postgres("stop");
    let mut answers = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = tenant
            .request(reqwest::Method::POST, "/Users")
            .json(&json!({"userName": "during@example.com"}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        let (status, body) = read(response).await;
        answers.push((status, started.elapsed()));
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "503");
        assert!(retry_after.is_some());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered within the request timeout"
        );
    }
    postgres("start");

    // Recovers by itself: the pool reconnects, the embedded worker resumes.
    let deadline = Instant::now() + CONVERGE;
    loop {
        let (status, _) = tenant.get("/Users?count=0").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the API did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_after = Instant::now();
    users(&tenant, 10, 5).await;
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    let (_, all) = tenant.get("/Users?count=0").await;
    println!(
        "postgres down: answers {answers:?}; after restart all writes visible ({}), converged in {:?}: {sync}",
        all["totalResults"],
        recovered_after.elapsed()
    );
    assert_eq!(
        all["totalResults"], 15,
        "every acknowledged write is there; none during the outage"
    );
}

/// Starts RabbitMQ's application even if the test fails half-way.
struct RabbitBack;

impl Drop for RabbitBack {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "start_app"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stop_and_start_loses_nothing() {
    let (server, _broker) = TestServer::start_distributed(|_| {}).await;
    let tenant = server.create_license("Broker outage", 5).await;
    users(&tenant, 0, 20).await;
    server.converged(&tenant.license_id, CONVERGE).await;

    let _guard = RabbitBack;
    rabbitmq("stop_app");
    // Writes are still acknowledged: they wait in the outbox.
    users(&tenant, 20, 20).await;
    let waiting = server.sync(&tenant.license_id).await["pending_events"].clone();
    rabbitmq("start_app");
    let started = Instant::now();
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    println!(
        "broker stopped: {waiting} events waited; converged {:?} after start_app: {sync}",
        started.elapsed()
    );
    assert!(waiting.as_i64().unwrap() > 0);
    assert_eq!(sync["dead_letters"], 0);
    let (_, all) = tenant.get("/Users?count=0").await;
    assert_eq!(all["totalResults"], 40);
}
