//! Pooled PostgreSQL connections that the server ended (a restart, a failover, an idle-session
//! timeout) are replaced: idle ones before they are handed out, busy ones after one failure,
//! which is a 503 the identity provider retries, never a 500. And reads take their turn within
//! the read concurrency, writes only within the pool.

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

/// Reads beyond the read concurrency wait their turn; writes are bounded by the pool alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_at_most_read_concurrency_at_once_and_writes_are_not_held_to_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use seatflow_store::db::Db;
    use seatflow_tests::TestDb;

    let test_db = TestDb::create(Backend::Postgres);
    let db = Db::connect(&test_db.url, 8)
        .expect("connect the test database")
        .with_read_concurrency(2);
    // The most units of work seen running at once, each holding its connection for 100 ms.
    async fn most_at_once(db: &Db, write: bool) -> usize {
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let units = (0..6).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            let work = move |_: &mut _| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            };
            let db = db.clone();
            async move {
                if write {
                    db.write(work).await
                } else {
                    db.read(work).await
                }
            }
        });
        for done in futures_util::future::join_all(units).await {
            done.expect("the unit of work runs");
        }
        most.load(Ordering::SeqCst)
    }
    assert_eq!(most_at_once(&db, false).await, 2);
    assert!(most_at_once(&db, true).await > 2);
}
