//! Outages of the services themselves under a running Entra-shaped burst (`seatflow-loadgen`,
//! riding out the outages): PostgreSQL stopped and restarted, RabbitMQ's application stopped and
//! started. These stop the machine's shared servers, so `scripts/test.sh` runs this binary
//! alone, after every other test.
//!
//! While PostgreSQL is down the API answers 503 with a SCIM error and `Retry-After` (never a
//! 500, never a hang past the request timeout), and everything recovers without a restart;
//! while the broker is down writes are still acknowledged and applied once it is back. After
//! each, the checks of `seatflow_tests::chaos`; the figures are printed for CI's log.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use seatflow_tests::chaos::{Deployment, during_burst, during_burst_after};
use seatflow_tests::{amqp_url, read};
use serde_json::json;

/// How long (at least) each service stays down while the burst goes on.
const OUTAGE: Duration = Duration::from_secs(4);

const REQUEST_TIMEOUT_SECS: u64 = 10;

/// Runs a command that stops or starts a shared service, off the async workers (the burst
/// goes on meanwhile).
async fn service(program: &'static str, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let status = tokio::task::spawn_blocking(move || Command::new(program).args(&args).status())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program}: {status}");
}

fn postgres_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .unwrap()
}

async fn postgres(action: &str) {
    let version = postgres_version();
    service(
        "pg_ctlcluster",
        &[
            "--skip-systemctl-redirect",
            &version,
            "main",
            action,
            "-m",
            "fast",
        ],
    )
    .await;
}

/// Restarts PostgreSQL even if the test fails half-way, so later tests find it up.
struct PostgresBack;

impl Drop for PostgresBack {
    fn drop(&mut self) {
        let _ = Command::new("pg_ctlcluster")
            .args([
                "--skip-systemctl-redirect",
                &postgres_version(),
                "main",
                "start",
            ])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_burst_gives_503_then_recovers_without_a_restart() {
    let started = Instant::now();
    let timeout = REQUEST_TIMEOUT_SECS.to_string();
    let deployment = Deployment::start(
        &amqp_url(),
        &[("SEATFLOW_REQUEST_TIMEOUT_SECS", timeout.as_str())],
    )
    .await;
    let probe = deployment.create_license("Outage probe", 5).await;
    let mut burst = deployment.burst();
    // Paced so that creating the users takes some 12 s, and struck a third of the way in: the
    // burst is still writing once the stop, which takes a while, has taken effect.
    let users = (burst.tenants * burst.users) as u64;
    burst.rate = Some(users as f64 / 6.0);
    let progress = burst.progress.clone();
    let (mut acked_while_down, mut down_for, mut recovered_in) =
        (0, Duration::ZERO, Duration::ZERO);
    let report = during_burst_after(burst, users / 3, async {
        let _guard = PostgresBack;
        postgres("stop").await;
        let down = Instant::now();
        // Answers to writes committed just before the stop may still be on their way.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let acked_before = progress.writes_acked();
        // At once: each waits for the pool's connection timeout before its 503.
        let probes = (0..3).map(|_| async {
            let sent = Instant::now();
            let response = probe
                .request(reqwest::Method::POST, "/Users")
                .json(&json!({"userName": "during@example.com"}))
                .send()
                .await
                .unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            let (status, body) = read(response).await;
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["status"], "503", "a SCIM error: {body}");
            assert!(retry_after.is_some(), "503 with Retry-After");
            assert!(
                sent.elapsed() < Duration::from_secs(REQUEST_TIMEOUT_SECS),
                "answered within the request timeout"
            );
        });
        futures_util::future::join_all(probes).await;
        tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
        acked_while_down = progress.writes_acked() - acked_before;
        down_for = down.elapsed();
        postgres("start").await;
        // Recovers by itself: the pools reconnect, the relay and the worker resume.
        let up = Instant::now();
        while probe.get("/Users?count=0").await.0 != 200 {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "the API did not recover"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        recovered_in = up.elapsed();
    })
    .await;
    deployment
        .check("PostgreSQL stopped and started", &report, started)
        .await;
    println!(
        "PostgreSQL down for {down_for:?}: {acked_while_down} writes acknowledged meanwhile; \
         the API answered again {recovered_in:?} after it started"
    );
    assert_eq!(
        acked_while_down, 0,
        "no write is acknowledged without its database"
    );
    // The burst met the outage, as 503s only: no request hung past the request timeout.
    assert!(report.statuses.contains_key("503"), "{:?}", report.statuses);
    assert!(
        !report.outages.causes.contains_key("timeout"),
        "{:?}",
        report.outages.causes
    );
    for (kind, k) in &report.kinds {
        assert!(
            k.max_ms < (REQUEST_TIMEOUT_SECS * 1000) as f64,
            "{kind}: an answer took {} ms",
            k.max_ms
        );
    }
    // Nothing written during the outage got in.
    let (_, all) = probe.get("/Users?count=0").await;
    assert_eq!(all["totalResults"], 0);
}

async fn rabbitmq(action: &str) {
    service("rabbitmqctl", &["-q", action]).await;
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
async fn rabbitmq_stop_and_start_mid_burst_loses_nothing() {
    let started = Instant::now();
    let deployment = Deployment::start(&amqp_url(), &[]).await;
    let mut burst = deployment.burst();
    // Paced so that creating the users takes some 12 s: the burst is still writing once
    // stop_app, which takes seconds, has taken effect.
    burst.rate = Some((burst.tenants * burst.users) as f64 / 6.0);
    let progress = burst.progress.clone();
    let (mut waiting, mut acked_while_down) = (0, 0);
    let report = during_burst(burst, async {
        let _guard = RabbitBack;
        rabbitmq("stop_app").await;
        let acked_before = progress.writes_acked();
        tokio::time::sleep(OUTAGE).await;
        acked_while_down = progress.writes_acked() - acked_before;
        // Writes are still acknowledged meanwhile: their events wait in the outbox.
        waiting = deployment.pending_events();
        rabbitmq("start_app").await;
    })
    .await;
    deployment
        .check("RabbitMQ stop_app and start_app", &report, started)
        .await;
    println!(
        "RabbitMQ down for {OUTAGE:?}: {acked_while_down} writes acknowledged meanwhile, \
         {waiting} events waiting in the outbox at its end"
    );
    assert!(
        acked_while_down > 0,
        "writes go on while the broker is down"
    );
    assert!(waiting > 0, "their events wait in the outbox");
}
