//! Pooled PostgreSQL connections that the server ended (a restart, a failover, an idle-session
//! timeout) are replaced: idle ones before they are handed out, busy ones after one failure,
//! which is a 503 the identity provider retries, never a 500.

use std::time::Duration;

use seatflow_tests::{Backend, Tenant, TestServer};
use serde_json::json;

const REQUESTS: usize = 24;

async fn statuses(tenant: &Tenant) -> Vec<u16> {
    let lookups =
        (0..REQUESTS).map(|_| tenant.get("/Users?filter=userName%20eq%20%22ada%40example.com%22"));
    futures_util::future::join_all(lookups)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

/// A server with one user, and several pooled connections opened by concurrent lookups.
async fn server_with_open_connections() -> (TestServer, Tenant) {
    let server = TestServer::start(Backend::Postgres).await;
    let tenant = server.create_license("Cut", 5).await;
    let (status, _) = tenant
        .post("/Users", json!({"userName": "ada@example.com"}))
        .await;
    assert_eq!(status, 201);
    assert!(statuses(&tenant).await.iter().all(|s| *s == 200));
    (server, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cut_by_the_server_are_replaced_before_use() {
    let (server, tenant) = server_with_open_connections().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let cut = server.cut_database_connections();
    assert!(cut >= 2, "the pool had connections open ({cut})");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = statuses(&tenant).await;
    assert!(
        after.iter().all(|s| *s == 200),
        "every request after the cut succeeded: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_connections_cut_by_the_server_fail_once_with_503() {
    let (server, tenant) = server_with_open_connections().await;

    let cut = server.cut_database_connections();
    let first = statuses(&tenant).await;
    let failed = first.iter().filter(|s| **s != 200).count();
    assert!(
        first.iter().all(|s| *s == 200 || *s == 503),
        "a cut connection gives 503, never 500: {first:?}"
    );
    assert!(
        failed as i64 <= cut,
        "at most one failure per cut connection ({cut}): {first:?}"
    );
    let second = statuses(&tenant).await;
    assert!(
        second.iter().all(|s| *s == 200),
        "the dead connections were dropped after their failure: {second:?}"
    );
    println!("cut {cut} connections: first round {failed} × 503, second round all 200");
}
