//! A tiny `seatflow-loadgen` plan against a real server: no 5xx, licensing converges, the seats
//! match the expected outcome and every acknowledged write is visible; and with
//! `--retry-outages` behind a proxy that loses answers, the same with an exact ledger. Then
//! every identity-provider profile (`--idp`) the same way on SQLite, and one with raw quotes
//! (Entra) and one updating by PUT (Okta) on PostgreSQL + RabbitMQ.

#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use seatflow_api::http::wire::NormalizedIo;
use seatflow_tests::loadgen::{self, Idp, Options, Report};
use seatflow_tests::{Backend, TestServer, tokio_tests};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

/// A burst against `url`: tenants of 40 users in groups of 15, written in batches of 4, with
/// 20 seats, from 8 connections, converging within 20 s; `shape` adds the test's own options.
fn burst(url: &str, admin_token: &str, shape: &[&str]) -> Options {
    let token = format!("--admin-token={admin_token}");
    let mut args = vec![
        "seatflow-loadgen",
        "--url",
        url,
        &token,
        "--users",
        "40",
        "--members-per-group",
        "15",
        "--batch",
        "4",
        "--seats",
        "20",
        "--concurrency",
        "8",
        "--converge-timeout",
        "20",
        "--quiet",
    ];
    args.extend_from_slice(shape);
    Options::parse_from(args)
}

/// Two tenants of 40 users, 3 groups of 15 (2 licensed) and 20 seats, 8 connections, plus `extra`.
fn small_burst(url: &str, admin_token: &str, extra: &[&str]) -> Options {
    let mut shape = vec!["--tenants", "2", "--groups", "3", "--licensed-groups", "2"];
    shape.extend_from_slice(extra);
    burst(url, admin_token, &shape)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_entra_burst_converges_with_the_right_seats() {
    let server = TestServer::start(Backend::Sqlite).await;
    let pid = format!("self={}", std::process::id());
    let options = small_burst(
        &server.base_url,
        &server.admin_token,
        &[
            "--incremental-cycles",
            "2",
            "--changes-per-cycle",
            "10",
            "--probe-patches",
            "1",
            "--lookup-secs",
            "0.2",
            "--entitlement-secs",
            "0.2",
            "--seed",
            "7",
            "--pid",
            &pid,
        ],
    );
    let report = loadgen::run(options).await.expect("loadgen runs");
    let summary = loadgen::summary(&report);
    assert_eq!(report.failures, 0, "{summary}");
    assert!(
        !report.statuses.keys().any(|s| s.starts_with('5')),
        "{summary}"
    );
    assert!(report.converged, "{summary}");
    assert_eq!(report.seat_checks.len(), 2);
    for check in &report.seat_checks {
        assert!(check.ok, "{summary}");
        assert!(check.entitled > 0, "{summary}");
    }
    assert!(report.ledger_problems.is_empty(), "{summary}");
    assert!(report.ledger_writes > 80 * 2, "{summary}");
    assert!(
        report.kinds.contains_key("PATCH /Users disable"),
        "{summary}"
    );
    assert!(
        report.kinds.contains_key("GET /api/v1/entitlements"),
        "{summary}"
    );
    assert!(report.memory["self"].peak_rss_mb > 0.0, "{summary}");
    assert!(report.ok, "{summary}");
}

/// A proxy in front of the server that fails a third of the SCIM writes with a 503: half of
/// them before forwarding (not applied), half after the server applied them (the answer lost).
struct LossyProxy {
    upstream: String,
    client: reqwest::Client,
    writes: AtomicU64,
}

fn unavailable() -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "503",
        "detail": "injected outage",
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, "0"),
            (header::CONTENT_TYPE, "application/scim+json"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn forward(State(proxy): State<Arc<LossyProxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let write = parts.method != Method::GET && parts.uri.path().starts_with("/scim/");
    let fault = write.then(|| proxy.writes.fetch_add(1, Ordering::Relaxed) % 6);
    if fault == Some(1) {
        return unavailable();
    }
    let mut upstream = proxy
        .client
        .request(parts.method, format!("{}{}", proxy.upstream, parts.uri))
        .body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.unwrap();
    if fault == Some(4) {
        return unavailable();
    }
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = (status, answer.bytes().await.unwrap()).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// The proxy's listener: its connections pass Seatflow's own connection layer first, so that
/// request lines with Entra's raw `"` reach axum (whose URI parser refuses them) as they reach
/// the server.
struct Normalizing {
    listener: TcpListener,
    max_head_bytes: usize,
}

impl axum::serve::Listener for Normalizing {
    type Io = NormalizedIo<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.listener).await;
        (NormalizedIo::new(stream, self.max_head_bytes), address)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

tokio_tests!(
    writes_whose_answer_was_lost_are_retried_and_the_ledger_stays_exact => lossy(Idp::Entra),
    /// authentik POSTs first and looks a resource up only after a 409: the path a lost answer
    /// takes.
    lost_answers_to_authentik_shaped_writes_keep_the_ledger_exact => lossy(Idp::Authentik),
);

/// A small burst of `idp` behind the [`LossyProxy`], riding out its outages.
async fn lossy(idp: Idp) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    // Tenant URLs point at the proxy, so every SCIM request goes through it.
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.public_url = proxy_url.clone()).await;
    let proxy = Arc::new(LossyProxy {
        upstream: server.base_url.clone(),
        client: reqwest::Client::new(),
        writes: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = Normalizing {
        listener,
        max_head_bytes: server.config.max_header_bytes,
    };
    tokio::spawn(axum::serve(listener, app).into_future());

    let options = small_burst(
        &proxy_url,
        &server.admin_token,
        &[
            "--incremental-cycles",
            "3",
            "--changes-per-cycle",
            "15",
            "--seed",
            "11",
            "--retry-outages",
            "--idp",
            idp.name(),
        ],
    );
    let report = loadgen::run(options).await.expect("loadgen runs");
    let summary = loadgen::summary(&report);
    let writes = proxy.writes.load(Ordering::Relaxed);
    let faults = (0..writes).filter(|n| matches!(n % 6, 1 | 4)).count() as u64;
    assert!(faults > 50, "{summary}");
    assert_eq!(report.statuses["503"], faults, "{summary}");
    assert_eq!(report.outages.retries, faults, "{summary}");
    // Creates and deletes applied before their answer was lost: found by the retry (409 and
    // a lookup, or 404) and acknowledged with what the server holds.
    assert!(report.outages.resolved_unknown > 5, "{summary}");
    assert_eq!(report.writes_unacknowledged, 0, "{summary}");
    assert!(report.ledger_problems.is_empty(), "{summary}");
    assert!(report.ok, "{summary}");
}

/// One tenant of 40 users in 2 groups of 15 (both licensed), 20 seats and two incremental
/// cycles of 15 changes (the second re-enables users the first disabled), as `idp` sends them.
fn profile_burst(url: &str, admin_token: &str, idp: Idp) -> Options {
    burst(
        url,
        admin_token,
        &[
            "--idp",
            idp.name(),
            "--tenants",
            "1",
            "--groups",
            "2",
            "--incremental-cycles",
            "2",
            "--changes-per-cycle",
            "15",
            "--seed",
            "3",
        ],
    )
}

/// What a clean run of `idp` must show; the problems found (empty: none).
fn check_profile(idp: Idp, report: &Report) -> Vec<String> {
    let summary = loadgen::summary(report);
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("{}: {what}\n{summary}", idp.name()));
        }
    };
    let has = |kind: &str| report.kinds.contains_key(kind);
    let has_prefix = |prefix: &str| report.kinds.keys().any(|k| k.starts_with(prefix));
    expect(report.idp == idp, "the report names the profile");
    expect(
        summary.contains(&format!("profile: {}", idp.name())),
        "the summary names it",
    );
    expect(report.failures == 0, "no failures");
    expect(
        !report.statuses.keys().any(|s| s.starts_with('5')),
        "no 5xx",
    );
    expect(
        report.writes_unacknowledged == 0,
        "every write acknowledged",
    );
    expect(report.converged, "licensing converged");
    expect(
        report.seat_checks.iter().all(|c| c.ok && c.entitled > 0),
        "the seats are right",
    );
    expect(report.ledger_problems.is_empty(), "the ledger is exact");
    expect(
        report.ledger_writes > 40 + 2 + 8,
        "users, groups and members are in the ledger",
    );
    expect(report.ok, "the report is OK");
    // The profile's own shapes were sent.
    let puts_users = !matches!(idp, Idp::Entra | Idp::Jumpcloud);
    expect(
        has_prefix("PUT /Users") == puts_users,
        "users are updated by PUT or by PATCH",
    );
    expect(
        has_prefix("PATCH /Users") != puts_users || idp == Idp::Okta,
        "only Okta PATCHes users beside PUTting them",
    );
    expect(
        report.kinds.keys().any(|k| k.ends_with("/Users re-enable")),
        "disabled users come back",
    );
    expect(
        report
            .kinds
            .keys()
            .any(|k| k.contains("/Groups") && k.contains("remove")),
        "members are removed",
    );
    expect(
        has_prefix("DELETE /Users") == !matches!(idp, Idp::Okta | Idp::Rippling),
        "Okta and Rippling never DELETE users",
    );
    expect(
        has("PATCH /Users deactivate (instead of a delete)") == (idp == Idp::Okta)
            && has("PUT /Users deactivate (instead of a delete)") == (idp == Idp::Rippling),
        "Okta's and Rippling's deletes are deactivations",
    );
    expect(
        has("GET /Users?filter=userName") != matches!(idp, Idp::Authentik | Idp::Keycloak),
        "authentik and Keycloak POST without looking up first",
    );
    expect(
        has("PATCH /Groups name push") == (idp == Idp::Okta),
        "Okta's name push",
    );
    expect(
        has("GET /Groups/{id} (re-read)") == (idp == Idp::Authentik),
        "authentik re-reads",
    );
    expect(
        has("PUT /Groups members") == (idp == Idp::Keycloak),
        "Keycloak PUTs whole groups",
    );
    expect(
        has("test connection") != (idp == Idp::Keycloak),
        "every provider but Keycloak probes first",
    );
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_profile_converges_with_an_exact_ledger() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut problems = Vec::new();
    for idp in Idp::ALL {
        let options = profile_burst(&server.base_url, &server.admin_token, idp);
        let report = loadgen::run(options).await.expect("loadgen runs");
        problems.extend(check_profile(idp, &report));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A profile against the distributed mode (PostgreSQL, RabbitMQ and a worker).
async fn distributed(idp: Idp) {
    let (server, _broker) = TestServer::start_distributed(|_| {}).await;
    let options = profile_burst(&server.base_url, &server.admin_token, idp);
    let report = loadgen::run(options).await.expect("loadgen runs");
    let problems = check_profile(idp, &report);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

tokio_tests!(
    entra_raw_quotes_on_postgres_and_rabbitmq => distributed(Idp::Entra),
    okta_put_updates_on_postgres_and_rabbitmq => distributed(Idp::Okta),
);
