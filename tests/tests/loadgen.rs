//! A tiny `seatflow-loadgen` plan against a real server: no 5xx, licensing converges, the seats
//! match the expected outcome and every acknowledged write is visible.

use clap::Parser;
use seatflow_tests::loadgen::{self, Options};
use seatflow_tests::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_entra_burst_converges_with_the_right_seats() {
    let server = TestServer::start(Backend::Sqlite).await;
    let options = Options::parse_from([
        "seatflow-loadgen",
        "--url",
        &server.base_url,
        "--admin-token",
        &server.admin_token,
        "--tenants",
        "2",
        "--users",
        "40",
        "--groups",
        "3",
        "--members-per-group",
        "15",
        "--batch",
        "4",
        "--seats",
        "20",
        "--licensed-groups",
        "2",
        "--concurrency",
        "8",
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
        &format!("self={}", std::process::id()),
        "--converge-timeout",
        "20",
        "--quiet",
    ]);
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
