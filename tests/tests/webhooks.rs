//! Webhook delivery end to end, against a real receiver (an HTTP server on 127.0.0.1 in the
//! test): every event of a SCIM burst arrives exactly as the Events API lists it, in order,
//! with signatures the Standard Webhooks reference library (Python, `standardwebhooks`)
//! accepts; a receiver that fails, goes away, then answers slowly still gets every event,
//! none twice once deduplicated by `webhook-id`, without slowing SCIM writes; a dead endpoint
//! is marked failing and resumed; the operator's API refuses bad input with 400s.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use seatflow_api::Config;
use seatflow_tests::{
    Backend, ChildProcess, Tenant, TestServer, Transport, both_backends, embedded_and_distributed,
    spawn_worker,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DELIVERED: Duration = Duration::from_secs(60);

embedded_and_distributed!(
    a_burst_arrives_exactly_as_the_events_api_lists_it,
    every_event_survives_a_failing_receiver_without_slowing_scim,
);
both_backends!(
    the_operator_manages_endpoints_and_redelivers,
    a_dead_endpoint_is_marked_failing_and_resumed,
);

// ---------------------------------------------------------------------------------------------
// The receiver

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Ok = 0,
    Fail = 1,
    /// Takes `SLOW` per request: longer than the deliverer's timeout.
    Slow = 2,
}

const SLOW: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, serde::Serialize)]
struct Captured {
    headers: BTreeMap<String, String>,
    body: String,
    /// Whether the receiver took it (a 2xx, or a slow answer whose work was done).
    #[serde(skip)]
    accepted: bool,
}

#[derive(Clone, Default)]
struct Shared {
    mode: Arc<AtomicU8>,
    captured: Arc<Mutex<Vec<Captured>>>,
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = match shared.mode.load(Ordering::SeqCst) {
        1 => Mode::Fail,
        2 => Mode::Slow,
        _ => Mode::Ok,
    };
    let headers = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("webhook-") || *name == "content-type")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    shared.captured.lock().unwrap().push(Captured {
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        accepted: mode != Mode::Fail,
    });
    match mode {
        Mode::Ok => StatusCode::NO_CONTENT,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Slow => {
            tokio::time::sleep(SLOW).await;
            StatusCode::OK
        }
    }
}

/// A webhook receiver on 127.0.0.1 that records every request; it can fail, be closed (its
/// port refuses connections) and reopened on the same port, or answer slowly.
struct Receiver {
    port: u16,
    shared: Shared,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver {
            port: listener.local_addr().unwrap().port(),
            shared: Shared::default(),
            server: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        self.server = Some((stop, task));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Stops listening and closes its connections: the port refuses connections.
    async fn close(&mut self) {
        let (stop, task) = self.server.take().expect("the receiver is open");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the receiver closes its connections")
            .unwrap();
    }

    async fn reopen(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }

    fn captured(&self) -> Vec<Captured> {
        self.shared.captured.lock().unwrap().clone()
    }

    /// What a receiver that deduplicates by `webhook-id` processed: each accepted event once,
    /// in the order first accepted.
    fn deduplicated(&self) -> Vec<Value> {
        let mut seen = HashSet::new();
        self.captured()
            .into_iter()
            .filter(|c| c.accepted && seen.insert(c.headers["webhook-id"].clone()))
            .map(|c| serde_json::from_str(&c.body).unwrap())
            .collect()
    }

    /// Requests accepted more than once (the same `webhook-id`).
    fn duplicates(&self) -> usize {
        let accepted: Vec<_> = self.captured().into_iter().filter(|c| c.accepted).collect();
        let unique: HashSet<_> = accepted.iter().map(|c| &c.headers["webhook-id"]).collect();
        accepted.len() - unique.len()
    }
}

// ---------------------------------------------------------------------------------------------
// The independent verifier

/// The Python interpreter with `standardwebhooks` installed (scripts/services.sh,
/// `ensure_webhook_verifier`, exports it).
fn verifier_python() -> std::path::PathBuf {
    let path = std::env::var_os("SEATFLOW_WEBHOOK_VERIFIER_PYTHON").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/webhook-verifier/bin/python")
        },
        std::path::PathBuf::from,
    );
    assert!(
        path.exists(),
        "the webhook signature verifier is missing at {}: run scripts/test.sh (or \
         `. scripts/services.sh; ensure_webhook_verifier`), or set \
         SEATFLOW_WEBHOOK_VERIFIER_PYTHON to a python with standardwebhooks installed",
        path.display()
    );
    path
}

/// Runs scripts/verify_webhooks.py over `deliveries` with `secret`.
fn run_verifier(deliveries: &[Captured], secret: &str) -> std::process::Output {
    let file = std::env::temp_dir().join(format!(
        "seatflow-webhooks-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, serde_json::to_vec(deliveries).unwrap()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/verify_webhooks.py");
    let output = std::process::Command::new(verifier_python())
        .arg(script)
        .arg(&file)
        .arg(secret)
        .output()
        .expect("run scripts/verify_webhooks.py");
    let _ = std::fs::remove_file(&file);
    output
}

/// Every one of `deliveries` verifies with `secret` by the reference library.
fn verify_with_reference_library(deliveries: &[Captured], secret: &str) {
    let output = run_verifier(deliveries, secret);
    assert!(
        output.status.success(),
        "the Standard Webhooks library rejected a delivery: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Set-up

/// Delivery settings that make a test's retries take milliseconds. The timeout is generous:
/// a healthy receiver on a loaded machine must not time out (and get an event twice).
fn quick(config: &mut Config) {
    config.webhooks.tick_ms = 50;
    config.webhooks.retry_base_ms = 50;
    config.webhooks.retry_max_delay_ms = 400;
    config.webhooks.timeout_ms = 5000;
}

/// The same for a `seatflow-worker` process, with this timeout.
fn quick_env(timeout_ms: &str) -> [(&str, &str); 4] {
    [
        ("SEATFLOW_WEBHOOK_TICK_MS", "50"),
        ("SEATFLOW_WEBHOOK_RETRY_BASE_MS", "50"),
        ("SEATFLOW_WEBHOOK_RETRY_MAX_DELAY_MS", "400"),
        ("SEATFLOW_WEBHOOK_TIMEOUT_MS", timeout_ms),
    ]
}

/// A server for the transport with quick delivery and this timeout; in distributed mode
/// `seatflow-worker` delivers (the API does not): two of them, which must never both send an
/// event.
async fn start(
    transport: Transport,
    timeout: Duration,
) -> (
    TestServer,
    Option<seatflow_tests::Broker>,
    Vec<ChildProcess>,
) {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap();
    let (server, broker) = transport
        .start(|c| {
            quick(c);
            c.webhooks.timeout_ms = timeout_ms;
        })
        .await;
    let timeout_ms = timeout_ms.to_string();
    let env = quick_env(&timeout_ms);
    let workers = match transport {
        Transport::RabbitMq => (0..2).map(|_| spawn_worker(&server.config, &env)).collect(),
        _ => Vec::new(),
    };
    (server, broker, workers)
}

fn webhooks_path(license_id: Option<&str>) -> String {
    match license_id {
        Some(license_id) => format!("/api/v1/licenses/{license_id}/webhooks"),
        None => "/api/v1/webhooks".to_owned(),
    }
}

/// A created endpoint.
struct Created {
    id: String,
    secret: String,
    /// Where its deliveries start: the events after it.
    cursor: i64,
}

async fn create_webhook(server: &TestServer, license_id: Option<&str>, body: Value) -> Created {
    let (status, created) = server
        .admin_send(Method::POST, &webhooks_path(license_id), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    Created {
        id: created["id"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
        cursor: created["cursor"].as_i64().unwrap(),
    }
}

async fn user(tenant: &Tenant, name: &str) -> String {
    let body = json!({"userName": format!("{name}@contoso.com"), "active": true});
    let (status, body) = tenant.post("/Users", body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Every event the Events API lists at `path` (`…/events`) after `after`, all pages.
async fn listed(server: &TestServer, path: &str, after: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = after.to_string();
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, page) = server
            .admin_get(&format!("{path}{separator}after={after}&limit=1000"))
            .await;
        assert_eq!(status, 200, "{page}");
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        after = page["next_cursor"].as_str().unwrap().to_owned();
        if page["has_more"] != true {
            return events;
        }
    }
}

/// Waits until the receiver holds (deduplicated) exactly what the Events API lists at `path`
/// after `after` (the endpoint's first cursor), and returns it; panics with both after
/// `DELIVERED`.
async fn delivered_as_listed(
    server: &TestServer,
    receiver: &Receiver,
    path: &str,
    after: i64,
) -> Vec<Value> {
    let deadline = Instant::now() + DELIVERED;
    loop {
        // Only once every committed event is sequenced is the listing all there is to get.
        if server
            .db
            .read(seatflow_feed::log::unsequenced)
            .await
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let events = listed(server, path, after).await;
        let got = receiver.deduplicated();
        if !events.is_empty() && got == events {
            return events;
        }
        if Instant::now() > deadline {
            let ids = |v: &[Value]| v.iter().map(|e| e["sequence"].clone()).collect::<Vec<_>>();
            panic!(
                "the receiver got {} events, the Events API lists {}:\n got {:?}\nlisted {:?}",
                got.len(),
                events.len(),
                ids(&got),
                ids(&events)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn endpoint(server: &TestServer, license_id: Option<&str>, id: &str) -> Value {
    let (status, body) = server
        .admin_get(&format!("{}/{id}", webhooks_path(license_id)))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An endpoint's whole delivery log (`path` is the endpoint's), newest first.
async fn delivery_log(server: &TestServer, path: &str) -> Vec<Value> {
    let mut log: Vec<Value> = Vec::new();
    loop {
        let before = log
            .last()
            .map(|a| format!("&before={}", a["id"]))
            .unwrap_or_default();
        let (status, page) = server
            .admin_get(&format!("{path}/deliveries?limit=1000{before}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

/// Waits until the endpoint's cursor is at `seq` or past it: its deliveries up to there are
/// recorded (the receiver sees a request before the deliverer records its answer).
async fn caught_up(server: &TestServer, license_id: Option<&str>, id: &str, seq: i64) {
    let deadline = Instant::now() + DELIVERED;
    loop {
        let state = endpoint(server, license_id, id).await;
        if state["cursor"].as_i64().unwrap() >= seq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never caught up to {seq}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

// ---------------------------------------------------------------------------------------------
// The tests

async fn a_burst_arrives_exactly_as_the_events_api_lists_it(transport: Transport) {
    let (server, _broker, _workers) = start(transport, Duration::from_secs(5)).await;
    let receiver = Receiver::start().await;
    let tenant = server.create_license("hooks", 100).await;
    let hook = create_webhook(
        &server,
        Some(&tenant.license_id),
        json!({"url": receiver.url()}),
    )
    .await;

    // A burst: users created from four clients at once, then a group of them, some deactivated.
    let mut writers = Vec::new();
    for w in 0..4 {
        let tenant = tenant.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..15 {
                ids.push(user(&tenant, &format!("burst-{w}-{n}")).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    let members: Vec<Value> = ids[..20].iter().map(|m| json!({"value": m})).collect();
    let (status, body) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Burst", "members": members}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for id in &ids[..5] {
        let deactivate =
            seatflow_tests::patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
        let (status, body) = tenant.patch(&format!("/Users/{id}"), deactivate).await;
        assert!(status == 200 || status == 204, "{body}");
    }
    server.converged(&tenant.license_id, DELIVERED).await;

    let path = format!("/api/v1/licenses/{}/events", tenant.license_id);
    let events = delivered_as_listed(&server, &receiver, &path, hook.cursor).await;
    assert!(events.len() >= 60 + 1 + 5, "{} events", events.len());
    assert_eq!(
        receiver.duplicates(),
        0,
        "a healthy receiver got an event twice"
    );

    let captured = receiver.captured();
    for delivery in &captured {
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        assert_eq!(delivery.headers["webhook-id"], body["id"].as_str().unwrap());
        assert_eq!(delivery.headers["content-type"], "application/json");
        let sent: i64 = delivery.headers["webhook-timestamp"].parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((i64::try_from(now).unwrap() - sent).abs() < 300);
        assert_eq!(delivery.headers["webhook-signature"].split(' ').count(), 1);
    }
    verify_with_reference_library(&captured, &hook.secret);
    let wrong = run_verifier(&captured, &seatflow_feed::webhooks::sign::new_secret());
    assert!(
        !wrong.status.success(),
        "deliveries verified with another secret"
    );
    println!(
        "{transport:?}: {} events delivered in feed order, signatures verified by standardwebhooks",
        events.len()
    );
}

async fn every_event_survives_a_failing_receiver_without_slowing_scim(transport: Transport) {
    // Shorter than the slow receiver takes (`SLOW`): its requests time out.
    let (server, _broker, _workers) = start(transport, Duration::from_secs(1)).await;
    let mut receiver = Receiver::start().await;
    let tenant = server.create_license("chaos", 10_000).await;
    let Created {
        id: webhook,
        secret,
        cursor,
    } = create_webhook(
        &server,
        Some(&tenant.license_id),
        json!({"url": receiver.url()}),
    )
    .await;

    // SCIM writers run throughout; each latency is kept with the phase it fell in.
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (tenant, failing, stop) = (tenant.clone(), failing.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut healthy, mut failed) = (Vec::new(), Vec::new());
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let during_failure = failing.load(Ordering::SeqCst);
                let started = Instant::now();
                user(&tenant, &format!("chaos-{w}-{n}")).await;
                let took = started.elapsed();
                if during_failure == failing.load(Ordering::SeqCst) {
                    if during_failure {
                        failed.push(took)
                    } else {
                        healthy.push(took)
                    }
                }
                n += 1;
            }
            (healthy, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    failing.store(true, Ordering::SeqCst);
    receiver.set(Mode::Fail);
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.close().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_outage = endpoint(&server, Some(&tenant.license_id), &webhook).await;
    receiver.set(Mode::Slow);
    receiver.reopen().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    receiver.set(Mode::Ok);
    failing.store(false, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let (mut healthy, mut failed) = (Vec::new(), Vec::new());
    for writer in writers {
        let (h, f) = writer.await.unwrap();
        healthy.extend(h);
        failed.extend(f);
    }
    assert_eq!(during_outage["status"], "retrying", "{during_outage}");
    assert!(
        during_outage["attempts"].as_i64().unwrap() >= 2,
        "{during_outage}"
    );
    assert!(
        during_outage["last_error"].as_str().is_some(),
        "{during_outage}"
    );

    let path = format!("/api/v1/licenses/{}/events", tenant.license_id);
    let events = delivered_as_listed(&server, &receiver, &path, cursor).await;
    let captured = receiver.captured();
    verify_with_reference_library(&captured, &secret);
    // Licensing kept up throughout, too.
    server.converged(&tenant.license_id, DELIVERED).await;
    let last_seq = events.last().unwrap()["sequence"].as_i64().unwrap();
    caught_up(&server, Some(&tenant.license_id), &webhook, last_seq).await;
    let recovered = endpoint(&server, Some(&tenant.license_id), &webhook).await;
    assert_eq!(recovered["status"], "active", "{recovered}");

    let log = delivery_log(
        &server,
        &format!("{}/{webhook}", webhooks_path(Some(&tenant.license_id))),
    )
    .await;
    let with = |f: &dyn Fn(&Value) -> bool| log.iter().filter(|a| f(a)).count();
    assert!(with(&|a| a["status_code"] == 500) > 0, "no 500s logged");
    assert!(
        with(&|a| a["status_code"].is_null()
            && a["error"].as_str().is_some_and(|e| e.contains("onnect")))
            > 0,
        "no refused connections logged"
    );
    assert!(
        with(&|a| a["status_code"].is_null() && a["latency_ms"].as_i64().unwrap() >= 900) > 0,
        "no timeouts logged"
    );

    let (healthy_p99, failing_p99) = (p99(&mut healthy), p99(&mut failed));
    println!(
        "{transport:?}: {} events, each delivered (the receiver saw {} requests, {} accepted twice \
         and deduplicated); SCIM write p99 {healthy_p99:?} with a healthy receiver ({} writes), \
         {failing_p99:?} while it failed, was down or slow ({} writes)",
        events.len(),
        captured.len(),
        receiver.duplicates(),
        healthy.len(),
        failed.len(),
    );
    assert!(
        failing_p99 <= healthy_p99 * 4 + Duration::from_millis(100),
        "a failing receiver slowed SCIM writes: p99 {failing_p99:?} against {healthy_p99:?}"
    );
}

async fn the_operator_manages_endpoints_and_redelivers(backend: Backend) {
    let server = TestServer::start_with(backend, quick).await;
    let first = server.create_license("first", 10).await;
    let second = server.create_license("second", 10).await;
    let license_path = webhooks_path(Some(&first.license_id));

    // Bad input is a 400 that says what is wrong; a missing license or endpoint a 404.
    for (body, says) in [
        (json!({"url": "ftp://example.com/x"}), "http"),
        (json!({"url": "not a url"}), "not a URL"),
        (
            json!({"url": "http://example.com", "event_types": ["seat.stolen"]}),
            "seat.stolen",
        ),
        (
            json!({"url": "http://example.com", "secret": "mine"}),
            "secret",
        ),
        (json!({"event_types": []}), "url"),
    ] {
        let (status, answer) = server
            .admin_send(Method::POST, &license_path, Some(body))
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, _) = server
        .admin_send(
            Method::POST,
            &webhooks_path(Some("no-such-license")),
            Some(json!({"url": "http://example.com"})),
        )
        .await;
    assert_eq!(status, 404);
    let anonymous = server
        .client
        .get(format!("{}{license_path}", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A license's endpoint, and a deployment-wide one for user events only.
    let license_receiver = Receiver::start().await;
    let deployment_receiver = Receiver::start().await;
    let Created {
        id: hook,
        secret: old_secret,
        cursor: hook_start,
    } = create_webhook(
        &server,
        Some(&first.license_id),
        json!({"url": license_receiver.url()}),
    )
    .await;
    let Created {
        id: wide,
        secret: wide_secret,
        cursor: wide_start,
    } = create_webhook(
        &server,
        None,
        json!({"url": deployment_receiver.url(), "event_types": ["user.*"]}),
    )
    .await;
    let first_events = format!("/api/v1/licenses/{}/events", first.license_id);
    let hook_path = format!("{license_path}/{hook}");

    // Never the secret, except on creation and rotation; scopes do not leak into each other.
    let (status, list) = server.admin_get(&license_path).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(!list.to_string().contains("whsec_"), "{list}");
    assert!(
        !endpoint(&server, Some(&first.license_id), &hook)
            .await
            .to_string()
            .contains("whsec_")
    );
    let (status, _) = server
        .admin_get(&format!(
            "{}/{wide}",
            webhooks_path(Some(&first.license_id))
        ))
        .await;
    assert_eq!(
        status, 404,
        "a deployment-wide endpoint reached through a license"
    );
    let (status, _) = server
        .admin_get(&format!(
            "{}/{hook}",
            webhooks_path(Some(&second.license_id))
        ))
        .await;
    assert_eq!(
        status, 404,
        "a license's endpoint reached through another license"
    );

    for (path, body, says) in [
        (hook_path.clone(), json!({}), "nothing to change"),
        (hook_path.clone(), json!({"url": "gopher://x"}), "http"),
        (
            hook_path.clone(),
            json!({"event_types": ["nothing.*"]}),
            "nothing.*",
        ),
    ] {
        let (status, answer) = server.admin_send(Method::PATCH, &path, Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    for (body, says) in [
        (json!({}), "event_id"),
        (
            json!({"event_id": "evt_x", "since": "2026-01-01T00:00:00Z"}),
            "either",
        ),
        (json!({"since": "yesterday"}), "RFC 3339"),
        (json!({"when": "now"}), "when"),
    ] {
        let (status, answer) = server
            .admin_send(Method::POST, &format!("{hook_path}/redeliver"), Some(body))
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, _) = server
        .admin_get(&format!("{hook_path}/deliveries?limit=0"))
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .admin_get(&format!("{hook_path}/deliveries?limit=ten"))
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .admin_send(
            Method::POST,
            &format!("{hook_path}/redeliver"),
            Some(json!({"event_id": "evt_none"})),
        )
        .await;
    assert_eq!(status, 404);

    let before_writes = seatflow_store::time::now();
    for n in 0..3 {
        user(&first, &format!("first-{n}")).await;
        user(&second, &format!("second-{n}")).await;
    }
    let (status, body) = first.post("/Groups", json!({"displayName": "Team"})).await;
    assert_eq!(status, 201, "{body}");
    let license_events =
        delivered_as_listed(&server, &license_receiver, &first_events, hook_start).await;
    assert!(license_events.iter().any(|e| e["type"] == "group.created"));
    let wide_events = delivered_as_listed(
        &server,
        &deployment_receiver,
        "/api/v1/events?types=user.*",
        wide_start,
    )
    .await;
    assert_eq!(
        wide_events
            .iter()
            .filter(|e| e["type"] == "user.created")
            .count(),
        6
    );
    assert!(
        wide_events
            .iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("user."))
    );
    verify_with_reference_library(&deployment_receiver.captured(), &wide_secret);

    // The delivery log, once the last delivery is recorded.
    let last_seq = license_events.last().unwrap()["sequence"].as_i64().unwrap();
    caught_up(&server, Some(&first.license_id), &hook, last_seq).await;
    let (status, log) = server.admin_get(&format!("{hook_path}/deliveries")).await;
    assert_eq!(status, 200, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), license_events.len(), "{log:?}");
    assert!(
        log.iter().all(|a| a["status_code"] == 204
            && a["manual"] == false
            && a["attempt"] == 1
            && a["latency_ms"].is_i64()),
        "{log:?}"
    );
    assert_eq!(
        log[0]["event_id"],
        license_events.last().unwrap()["id"],
        "newest first"
    );

    // Rotation: the new secret is shown once; both are signed with while the old one lives.
    let (status, rotated) = server
        .admin_send(Method::POST, &format!("{hook_path}/rotate-secret"), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previous_secret_until"].is_string(), "{rotated}");
    let before_rotation = license_receiver.captured().len();
    user(&first, "after-rotation").await;
    delivered_as_listed(&server, &license_receiver, &first_events, hook_start).await;
    let after: Vec<Captured> = license_receiver.captured().split_off(before_rotation);
    assert!(
        after
            .iter()
            .all(|c| c.headers["webhook-signature"].split(' ').count() == 2)
    );
    verify_with_reference_library(&after, &new_secret);
    verify_with_reference_library(&after, &old_secret);
    verify_with_reference_library(&license_receiver.captured()[..before_rotation], &old_secret);

    // Redelivery of one event: sent now, logged as manual, same webhook-id.
    let target = &license_events[0];
    let (status, attempt) = server
        .admin_send(
            Method::POST,
            &format!("{hook_path}/redeliver"),
            Some(json!({"event_id": target["id"]})),
        )
        .await;
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(attempt["manual"], true, "{attempt}");
    assert_eq!(attempt["status_code"], 204, "{attempt}");
    assert_eq!(attempt["attempt"], 2, "{attempt}");
    let last = license_receiver.captured().last().unwrap().clone();
    assert_eq!(last.headers["webhook-id"], target["id"].as_str().unwrap());

    // Redelivery since a time: everything after it again, in order.
    let count_before = license_receiver.captured().len();
    let (status, rewound) = server
        .admin_send(
            Method::POST,
            &format!("{hook_path}/redeliver"),
            Some(json!({"since": before_writes})),
        )
        .await;
    assert_eq!(status, 200, "{rewound}");
    let all = listed(&server, &first_events, rewound["cursor"].as_i64().unwrap()).await;
    assert_eq!(all.len(), license_events.len() + 1, "{rewound}");
    let deadline = Instant::now() + DELIVERED;
    while license_receiver.captured().len() < count_before + all.len() {
        assert!(
            Instant::now() < deadline,
            "the rewound events were not delivered again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again: Vec<Value> = license_receiver.captured()[count_before..]
        .iter()
        .map(|c| serde_json::from_str(&c.body).unwrap())
        .collect();
    assert_eq!(again, all);

    // The deliverer prunes the log past its retention (hourly); the query it runs, once both
    // endpoints are done (their last attempts logged):
    let newest = server.db.read(seatflow_feed::log::newest).await.unwrap();
    caught_up(&server, Some(&first.license_id), &hook, newest).await;
    caught_up(&server, None, &wide, newest).await;
    let pruned = server
        .db
        .write(|c| seatflow_feed::webhooks::attempts::prune(c, Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(pruned, 0, "a fresh attempt was pruned");
    let wide_path = format!("{}/{wide}", webhooks_path(None));
    let logged = delivery_log(&server, &hook_path).await.len()
        + delivery_log(&server, &wide_path).await.len();
    let pruned = server
        .db
        .write(|c| seatflow_feed::webhooks::attempts::prune(c, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(pruned, logged);
    assert!(delivery_log(&server, &hook_path).await.is_empty());
    assert!(delivery_log(&server, &wide_path).await.is_empty());

    // Disable, then delete.
    let (status, disabled) = server
        .admin_send(Method::PATCH, &hook_path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["status"], "disabled");
    let quiet = license_receiver.captured().len();
    user(&first, "while-disabled").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        license_receiver.captured().len(),
        quiet,
        "a disabled endpoint got a delivery"
    );
    let (status, _) = server.admin_send(Method::DELETE, &hook_path, None).await;
    assert_eq!(status, 204);
    let (status, _) = server.admin_get(&hook_path).await;
    assert_eq!(status, 404);

    // Every change of the license's endpoint is on its audit trail, and no secret is.
    let audit_path = format!("/api/v1/licenses/{}/audit?limit=1000", first.license_id);
    let (status, trail) = server.admin_get(&audit_path).await;
    assert_eq!(status, 200, "{trail}");
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == hook.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "webhook_created",
        "webhook_secret_rotated",
        "webhook_rewound",
        "webhook_changed",
        "webhook_deleted",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let text = trail.to_string();
    assert!(!text.contains(&old_secret) && !text.contains(&new_secret));
}

async fn a_dead_endpoint_is_marked_failing_and_resumed(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        quick(c);
        // About two seconds of retries before the endpoint is marked failing.
        c.webhooks.retry_window_hours = 2.0 / 3600.0;
    })
    .await;
    let tenant = server.create_license("dead", 10).await;
    let dead = Receiver::start().await;
    dead.set(Mode::Fail);
    let healthy = Receiver::start().await;
    let dead_hook = create_webhook(
        &server,
        Some(&tenant.license_id),
        json!({"url": dead.url()}),
    )
    .await;
    let healthy_hook = create_webhook(
        &server,
        Some(&tenant.license_id),
        json!({"url": healthy.url()}),
    )
    .await;
    user(&tenant, "first").await;

    // The healthy endpoint is served at once, whatever the dead one does.
    let path = format!("/api/v1/licenses/{}/events", tenant.license_id);
    let events = delivered_as_listed(&server, &healthy, &path, healthy_hook.cursor).await;

    let deadline = Instant::now() + DELIVERED;
    let failing = loop {
        let state = endpoint(&server, Some(&tenant.license_id), &dead_hook.id).await;
        if state["status"] == "failing" {
            break state;
        }
        assert!(Instant::now() < deadline, "never marked failing: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(failing["failed_at"].is_string(), "{failing}");
    assert!(failing["attempts"].as_i64().unwrap() >= 3, "{failing}");
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{failing}"
    );
    let metrics = loop {
        let text = server
            .client
            .get(format!("{}/metrics", server.base_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("seatflow_webhook_endpoints_failing 1") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the failing gauge never showed it:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        metrics.contains("seatflow_webhook_deliveries_total{outcome=\"failed\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("seatflow_webhook_deliveries_total{outcome=\"delivered\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("seatflow_webhook_delivery_lag_seconds_bucket"),
        "{metrics}"
    );

    // Failing: no more automatic attempts, even once the receiver is back.
    dead.set(Mode::Ok);
    let attempts = dead.captured().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        dead.captured().len(),
        attempts,
        "a failing endpoint was still retried"
    );

    let (status, resumed) = server
        .admin_send(
            Method::POST,
            &format!(
                "{}/{}/resume",
                webhooks_path(Some(&tenant.license_id)),
                dead_hook.id
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active", "{resumed}");
    assert_eq!(
        delivered_as_listed(&server, &dead, &path, dead_hook.cursor).await,
        events
    );
}

/// `seatflow-api webhooks …` on a database of its own: what it prints, and a bad input's error.
#[test]
fn the_command_line_manages_endpoints() {
    let db = seatflow_tests::TestDb::create(Backend::Sqlite);
    let run = |args: &[&str]| {
        let output = std::process::Command::new(seatflow_tests::binary("seatflow-api"))
            .env_clear()
            .env("SEATFLOW_DATABASE_URL", db.url.as_str())
            .env("SEATFLOW_LOG", "warn")
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (
            output.status.success(),
            lines,
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (ok, license, _) = run(&["license", "create", "--name", "cli", "--seats", "5"]);
    assert!(ok);
    let license = license[0]["license_id"].as_str().unwrap().to_owned();

    let (ok, _, stderr) = run(&[
        "webhooks",
        "create",
        "--license",
        &license,
        "--url",
        "http://127.0.0.1:9/x",
        "--event-types",
        "seat.*,nothing.x",
    ]);
    assert!(!ok);
    assert!(stderr.contains("nothing.x"), "{stderr}");

    let (ok, created, stderr) = run(&[
        "webhooks",
        "create",
        "--license",
        &license,
        "--url",
        "http://127.0.0.1:9/x",
        "--event-types",
        "seat.*,user.deleted",
    ]);
    assert!(ok, "{stderr}");
    let id = created[0]["id"].as_str().unwrap().to_owned();
    assert!(created[0]["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created[0]["event_types"], json!(["seat.*", "user.deleted"]));
    let (ok, wide, _) = run(&[
        "webhooks",
        "create",
        "--url",
        "http://127.0.0.1:9/all",
        "--disabled",
    ]);
    assert!(ok);
    assert_eq!(wide[0]["license_id"], Value::Null);
    assert_eq!(wide[0]["status"], "disabled");

    let (ok, listed, _) = run(&["webhooks", "list", "--license", &license]);
    assert!(ok);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("secret").is_none());
    let (ok, rotated, _) = run(&[
        "webhooks",
        "rotate-secret",
        "--license",
        &license,
        "--id",
        &id,
    ]);
    assert!(ok);
    assert_ne!(rotated[0]["secret"], created[0]["secret"]);
    let (ok, resumed, _) = run(&["webhooks", "resume", "--license", &license, "--id", &id]);
    assert!(ok);
    assert_eq!(resumed[0]["status"], "active");
    let (ok, rewound, _) = run(&[
        "webhooks",
        "redeliver",
        "--license",
        &license,
        "--id",
        &id,
        "--since",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(ok);
    assert_eq!(rewound[0]["cursor"], 0);
    let (ok, _, stderr) = run(&[
        "webhooks",
        "redeliver",
        "--license",
        &license,
        "--id",
        &id,
        "--event",
        "evt_none",
    ]);
    assert!(!ok);
    assert!(stderr.contains("evt_none"), "{stderr}");
    let (ok, log, _) = run(&["webhooks", "deliveries", "--license", &license, "--id", &id]);
    assert!(ok);
    assert!(log.is_empty());
    // The deployment-wide endpoint is not the license's.
    let (ok, _, _) = run(&[
        "webhooks",
        "delete",
        "--license",
        &license,
        "--id",
        wide[0]["id"].as_str().unwrap(),
    ]);
    assert!(!ok);
    let (ok, deleted, _) = run(&["webhooks", "delete", "--license", &license, "--id", &id]);
    assert!(ok);
    assert_eq!(deleted[0]["deleted"], id.as_str());
}
