//! Crashes and outages while Entra-shaped writes stream in: a worker killed with SIGKILL, the API
//! killed before its relay published, the broker's connections cut. After each, every
//! acknowledged write's event is applied and nothing is stuck. Runs in the serial test group.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::Client;
use seatflow_shared::db::schema::outbox;
use seatflow_tests::{
    Backend, Tenant, TestDb, TestQueues, TestServer, amqp_url, read, spawn_api, spawn_worker,
    unique_amqp_prefix,
};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(60);

/// Creates `count` users with `concurrency` requests in flight; returns how many were acked.
async fn create_users(tenant: &Tenant, count: usize, concurrency: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (tenant, next, acked) = (tenant.clone(), next.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let (status, body) = tenant
                    .post(
                        "/Users",
                        json!({"userName": format!("burst{i}@example.com"), "active": true}),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                acked.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    acked.load(Ordering::SeqCst)
}

fn outbox_statuses(server: &TestServer, license_id: &str) -> Vec<String> {
    let mut conn = server.db.checkout().unwrap();
    outbox::table
        .filter(outbox::license_id.eq(license_id))
        .select(outbox::status)
        .load(&mut *conn)
        .unwrap()
}

async fn wait_until_some_applied(server: &TestServer, license_id: &str) {
    let deadline = Instant::now() + CONVERGE;
    while server.sync(license_id).await["last_applied_event_id"].is_null() {
        assert!(Instant::now() < deadline, "nothing was applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn broker_server_config(prefix: String) -> impl FnOnce(&mut seatflow_api::Config) {
    move |c| {
        c.amqp_url = Some(amqp_url());
        c.worker.amqp_prefix = prefix;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_burst_loses_nothing() {
    let server = TestServer::start_with(
        Backend::Postgres,
        broker_server_config(unique_amqp_prefix()),
    )
    .await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Chaos", 10).await;
    let small_batches = [
        ("SEATFLOW_WORKER_BATCH", "8"),
        ("SEATFLOW_WORKER_PREFETCH", "16"),
    ];
    let mut worker = spawn_worker(&server.config, &small_batches);

    let burst = tokio::spawn({
        let tenant = tenant.clone();
        async move { create_users(&tenant, 400, 16).await }
    });
    wait_until_some_applied(&server, &tenant.license_id).await;
    worker.kill_hard();
    let killed_at = server.sync(&tenant.license_id).await;
    let acked = burst.await.unwrap();

    let started = Instant::now();
    let _restarted = spawn_worker(&server.config, &small_batches);
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    let statuses = outbox_statuses(&server, &tenant.license_id);
    println!(
        "worker kill -9: {acked} writes acked; at the kill {} pending; converged {:?} after restart",
        killed_at["pending_events"],
        started.elapsed()
    );
    assert_eq!(statuses.len(), acked, "one event per acknowledged write");
    assert!(statuses.iter().all(|s| s == "applied"), "{statuses:?}");
    assert_eq!(sync["dead_letters"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_killed_before_publishing_republishes_after_restart() {
    let db = TestDb::create(Backend::Postgres);
    let prefix = unique_amqp_prefix();
    let admin = seatflow_shared::token::generate();
    // A broker that cannot be reached: writes are acknowledged, nothing is published.
    let (mut api, base_url) = spawn_api(
        &db.url,
        "amqp://guest:guest@127.0.0.1:1/%2f",
        &prefix,
        &admin,
    )
    .await;
    let client = Client::new();
    let (status, created) = read(
        client
            .post(format!("{base_url}/api/v1/licenses"))
            .bearer_auth(&admin)
            .json(&json!({"name": "Chaos", "seats": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let license_id = created["license_id"].as_str().unwrap().to_owned();
    let tenant = Tenant {
        license_id: license_id.clone(),
        tenant_url: created["tenant_url"].as_str().unwrap().to_owned(),
        token: created["secret_token"].as_str().unwrap().to_owned(),
        token_id: created["token_id"].as_str().unwrap().to_owned(),
        client: client.clone(),
    };
    let acked = create_users(&tenant, 50, 8).await;
    let sync_path = format!("/api/v1/licenses/{license_id}/sync");
    let sync = |base: String| {
        let (client, admin, path) = (client.clone(), admin.clone(), sync_path.clone());
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            read(response).await.1
        }
    };
    assert_eq!(sync(base_url.clone()).await["pending_events"], acked);
    api.kill_hard();

    let (_api, base_url) = spawn_api(&db.url, &amqp_url(), &prefix, &admin).await;
    let config = {
        let mut c = seatflow_tests::test_config(db.url.clone(), base_url.clone());
        c.worker.amqp_prefix = prefix.clone();
        c
    };
    let _queues = TestQueues::of(&config);
    let _worker = spawn_worker(&config, &[]);
    let deadline = Instant::now() + CONVERGE;
    let converged: Value = loop {
        let s = sync(base_url.clone()).await;
        if s["pending_events"] == 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "not converged: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("api kill -9: {acked} acknowledged writes, all applied after restart: {converged}");
    assert_eq!(converged["dead_letters"], 0);
    assert!(converged["last_applied_event_id"].as_i64().unwrap() >= i64::try_from(acked).unwrap());
}

/// Closes (by pid) this test's broker connections (relay and worker), as a broker restart or a network
/// cut would; other tests' connections stay.
fn close_connections(prefix: &str) -> usize {
    let listed = std::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "--quiet",
            "--no-table-headers",
            "pid",
            "client_properties",
        ])
        .output()
        .expect("rabbitmqctl");
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    let ours: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(prefix))
        .filter_map(|line| line.split('\t').next())
        .collect();
    for name in &ours {
        let closed = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", name, "chaos test"])
            .status()
            .expect("rabbitmqctl close_connection");
        assert!(closed.success());
    }
    ours.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connections_closed_during_burst_recover() {
    let prefix = unique_amqp_prefix();
    let server =
        TestServer::start_with(Backend::Postgres, broker_server_config(prefix.clone())).await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Chaos", 10).await;
    let _worker = spawn_worker(&server.config, &[]);

    let burst = tokio::spawn({
        let tenant = tenant.clone();
        async move { create_users(&tenant, 300, 16).await }
    });
    wait_until_some_applied(&server, &tenant.license_id).await;
    let closed = close_connections(&prefix);
    let acked = burst.await.unwrap();
    let started = Instant::now();
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    println!(
        "closed {closed} broker connections mid-burst; {acked} writes; converged {:?} after the burst",
        started.elapsed()
    );
    assert!(
        closed >= 2,
        "relay and worker connections were found and closed"
    );
    let statuses = outbox_statuses(&server, &tenant.license_id);
    assert_eq!(statuses.len(), acked);
    assert!(statuses.iter().all(|s| s == "applied"));
    assert_eq!(sync["dead_letters"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_exits_cleanly_on_sigterm() {
    let server = TestServer::start_with(
        Backend::Postgres,
        broker_server_config(unique_amqp_prefix()),
    )
    .await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Chaos", 10).await;
    let mut worker = spawn_worker(&server.config, &[]);
    create_users(&tenant, 20, 4).await;
    server.converged(&tenant.license_id, CONVERGE).await;
    assert!(worker.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_exceed_the_seats() {
    use seatflow_shared::db::schema::seats;
    let server = TestServer::start_with(
        Backend::Postgres,
        broker_server_config(unique_amqp_prefix()),
    )
    .await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Contended", 10).await;
    let small_batches = [
        ("SEATFLOW_WORKER_BATCH", "4"),
        ("SEATFLOW_WORKER_PREFETCH", "8"),
    ];
    let _workers = [
        spawn_worker(&server.config, &small_batches),
        spawn_worker(&server.config, &small_batches),
    ];
    let (_, group) = tenant
        .post("/Groups", json!({"displayName": "Everyone"}))
        .await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let (status, _) = read(
        server
            .admin(
                reqwest::Method::PUT,
                &format!("/api/v1/licenses/{}/licensed-groups", tenant.license_id),
            )
            .json(&json!({"group_ids": [group["id"]]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    // Users join one by one from 16 connections: events spread over both workers.
    let assigned_now = |server: &TestServer| {
        let mut conn = server.db.checkout().unwrap();
        seats::table
            .filter(seats::license_id.eq(&tenant.license_id))
            .filter(seats::status.eq("assigned"))
            .count()
            .get_result::<i64>(&mut *conn)
            .unwrap()
    };
    let burst = tokio::spawn({
        let tenant = tenant.clone();
        async move {
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let (tenant, next, path) = (tenant.clone(), next.clone(), group_path.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= 120 {
                            break;
                        }
                        let (_, user) = tenant.post("/Users", json!({"userName": format!("c{i}@example.com")})).await;
                        let member = json!([{"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]);
                        let (status, _) = tenant.patch(&path, seatflow_tests::patch_op(member)).await;
                        assert_eq!(status, 204);
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
    });
    let mut peak = 0;
    while !burst.is_finished() {
        peak = peak.max(assigned_now(&server));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    burst.await.unwrap();
    let sync = server.converged(&tenant.license_id, CONVERGE).await;
    peak = peak.max(assigned_now(&server));
    let (_, license) = read(
        server
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/licenses/{}", tenant.license_id),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    println!("two workers, 120 joins for 10 seats: peak assigned {peak}, final {license}, {sync}");
    assert_eq!(assigned_now(&server), 10);
    assert_eq!(license["seats_used"], 10);
    assert!(peak <= 10, "over-assigned: {peak}");
}
