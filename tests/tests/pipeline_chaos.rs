//! Crashes and cut connections under a running Entra-shaped burst (`seatflow-loadgen`, riding
//! out the outages): a worker killed with SIGKILL, the API killed before its relay published,
//! both killed at once, the broker's connections cut. After each, the burst's own checks
//! (every acknowledged write visible through SCIM, licensing converged, the seats right) and
//! the outbox, queue and seat checks of `seatflow_tests::chaos`. Runs in the serial test group;
//! the figures are printed for CI's log.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use seatflow_tests::chaos::{Deployment, during_burst};
use seatflow_tests::{Backend, TestQueues, TestServer, amqp_url, unique_amqp_prefix};
use serde_json::json;

const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_burst_loses_nothing() {
    let started = Instant::now();
    let mut deployment = Deployment::start(&amqp_url(), &[]).await;
    let mut pending = 0;
    let report = during_burst(deployment.burst(), async {
        deployment.kill_workers();
        pending = deployment.pending_events();
        deployment.start_worker();
    })
    .await;
    let chaos = format!("worker kill -9, {pending} events pending at the kill");
    deployment.check(&chaos, &report, started).await;
    // The restarted worker stops cleanly: it finishes its batch and exits 0.
    deployment.stop_workers();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_killed_before_publishing_republishes_after_restart() {
    let started = Instant::now();
    // Until the kill the API cannot reach a broker: every acknowledged write's event is still
    // in the outbox when it dies, and only the restarted API's relay can publish it.
    let mut deployment = Deployment::start("amqp://guest:guest@127.0.0.1:1/%2f", &[]).await;
    let mut pending = 0;
    let report = during_burst(deployment.burst(), async {
        deployment.kill_api();
        pending = deployment.pending_events();
        deployment.start_api(&amqp_url()).await;
    })
    .await;
    assert!(pending > 0, "events were waiting to be published");
    let chaos = format!("API kill -9, {pending} events unpublished at the kill");
    deployment.check(&chaos, &report, started).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_killed_together_recover_after_restart() {
    let started = Instant::now();
    let mut deployment = Deployment::start(&amqp_url(), &[]).await;
    let mut pending = 0;
    let report = during_burst(deployment.burst(), async {
        deployment.kill_api();
        deployment.kill_workers();
        pending = deployment.pending_events();
        deployment.start_worker();
        deployment.start_api(&amqp_url()).await;
    })
    .await;
    let chaos = format!("API and worker kill -9, {pending} events pending at the kill");
    deployment.check(&chaos, &report, started).await;
}

/// Closes (by pid) this test's broker connections (relay and worker), as a broker restart or
/// a network cut would; other tests' connections stay.
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
async fn broker_connections_closed_mid_burst_recover() {
    let started = Instant::now();
    let deployment = Deployment::start(&amqp_url(), &[]).await;
    let prefix = deployment.config.worker.amqp_prefix.clone();
    let mut closed = 0;
    let report = during_burst(deployment.burst(), async {
        // rabbitmqctl takes a second or two: off the async workers, so the burst goes on.
        closed = tokio::task::spawn_blocking(move || close_connections(&prefix))
            .await
            .unwrap();
    })
    .await;
    assert!(
        closed >= 2,
        "the relay's and the worker's connections were found and closed ({closed})"
    );
    deployment
        .check(
            &format!("{closed} broker connections closed"),
            &report,
            started,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_exceed_the_seats() {
    use seatflow_store::db::schema::seats;
    let server = TestServer::start_with(Backend::Postgres, |c| {
        c.amqp_url = Some(amqp_url());
        c.worker.amqp_prefix = unique_amqp_prefix();
    })
    .await;
    let _queues = TestQueues::of(&server.config);
    let tenant = server.create_license("Contended", 10).await;
    let small_batches = [
        ("SEATFLOW_WORKER_BATCH", "4"),
        ("SEATFLOW_WORKER_PREFETCH", "8"),
    ];
    let _workers = [
        seatflow_tests::spawn_worker(&server.config, &small_batches),
        seatflow_tests::spawn_worker(&server.config, &small_batches),
    ];
    let (_, group) = tenant
        .post("/Groups", json!({"displayName": "Everyone"}))
        .await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    server
        .license_groups(&tenant.license_id, json!([group["id"]]))
        .await;

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
    let (_, license) = server
        .admin_get(&format!("/api/v1/licenses/{}", tenant.license_id))
        .await;
    println!("two workers, 120 joins for 10 seats: peak assigned {peak}, final {license}, {sync}");
    assert_eq!(assigned_now(&server), 10);
    assert_eq!(license["seats_used"], 10);
    assert!(peak <= 10, "over-assigned: {peak}");
}
