//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `scripts/browser/dashboard.mjs` signs in, reads the panels, and replays a dead letter with
//! its button; the panels must show what the API reports. A screenshot lands in
//! `test-output/dashboard.png`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use diesel::prelude::*;
use seatflow_feed::webhooks::attempts::{self, NewAttempt};
use seatflow_feed::webhooks::endpoints::{self, NewEndpoint};
use seatflow_queue::outbox as outbox_store;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::{licenses, outbox, seats, webhook_endpoints};
use seatflow_tests::{Backend, TestServer};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn dashboard(server: &TestServer) -> Value {
    let (status, body) = server.admin_get("/api/v1/dashboard").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A failing endpoint of the license, behind the feed from its first event, with four
/// delivery attempts: two delivered, one refused with 500, one unanswered.
fn plant_webhook(conn: &mut DbConn, license_id: &str) {
    seatflow_feed::sequence::assign(conn).unwrap();
    let new = NewEndpoint {
        url: "http://127.0.0.1:9/hook".into(),
        event_types: Vec::new(),
        enabled: true,
    };
    let endpoint = endpoints::create(conn, Some(license_id), new)
        .unwrap()
        .endpoint;
    // Failing already, so the deliverer leaves it alone.
    diesel::update(webhook_endpoints::table.find(&endpoint.id))
        .set((
            webhook_endpoints::cursor.eq(0),
            webhook_endpoints::failed_at.eq(seatflow_store::time::now()),
        ))
        .execute(conn)
        .unwrap();
    for (n, status_code) in [Some(204), Some(200), Some(500), None]
        .into_iter()
        .enumerate()
    {
        let attempt = NewAttempt {
            endpoint_id: endpoint.id.clone(),
            event_seq: 1,
            event_id: format!("evt_{n}"),
            event_type: "user.created".into(),
            attempt: 1,
            status_code,
            latency_ms: 5,
            error: None,
            manual: false,
            created_at: seatflow_store::time::now(),
        };
        attempts::record(conn, &attempt).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_reports() {
    // One attempt: the poison event below is dead at once.
    let server = TestServer::start_with(Backend::Sqlite, |c| c.worker.max_attempts = 1).await;
    let tenant = server.create_license("Contoso", 1500).await;
    let mut user_ids = Vec::new();
    for i in 0..12 {
        let (status, body) = tenant
            .post(
                "/Users",
                json!({"userName": format!("u{i}@contoso.test"), "active": true}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        user_ids.push(body["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..3 {
        let (status, _) = tenant.get("/Users/no-such-user").await;
        assert_eq!(status, 404);
    }
    // Let the engine apply the writes first: it recomputes seat usage from the seat rows, so
    // the figures planted below must come after it is done (no later event touches them).
    server
        .converged(&tenant.license_id, Duration::from_secs(30))
        .await;
    // Seat usage as the licensing engine would record it for a large license.
    let poison = {
        let mut conn = server.db.checkout().unwrap();
        diesel::update(licenses::table.find(&tenant.license_id))
            .set(licenses::seats_used.eq(1234))
            .execute(&mut *conn)
            .unwrap();
        for user in &user_ids[..3] {
            diesel::insert_into(seats::table)
                .values((
                    seats::license_id.eq(&tenant.license_id),
                    seats::user_id.eq(user),
                    seats::status.eq("blocked"),
                    seats::since.eq(seatflow_store::time::now()),
                ))
                .execute(&mut *conn)
                .unwrap();
        }
        plant_webhook(&mut conn, &tenant.license_id);
        outbox_store::insert_raw(&mut conn, &tenant.license_id, "not json", Some("poison")).unwrap()
    };
    server
        .converged(&tenant.license_id, Duration::from_secs(30))
        .await;
    // Wait for a sample that has seen the dead letter.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let api = loop {
        let api = dashboard(&server).await;
        let last = api["samples"].as_array().unwrap().last().cloned();
        if last.is_some_and(|s| s["queue"]["parking"] == 1) {
            break api;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sample saw the dead letter: {api}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(api["dead_letter_count"], 1);
    assert_eq!(api["scim_requests_total"]["2xx"], 12);
    assert_eq!(api["scim_requests_total"]["4xx"], 3);
    let hooks = &api["samples"].as_array().unwrap().last().unwrap()["webhooks"];
    let outcomes = json!({ "delivered": 2, "failed": 1, "no_answer": 1 });
    assert_eq!(hooks["deliveries_per_min"], outcomes, "{hooks}");
    assert_eq!(hooks["endpoints_failing"], 1);
    assert!(
        hooks["lag_secs"].as_i64().is_some(),
        "the endpoint is behind: {hooks}"
    );
    assert_eq!(api["webhook_deliveries_last_hour"], outcomes);
    // Repair the poison event's payload, so that its replay (from the page) succeeds.
    {
        let mut conn = server.db.checkout().unwrap();
        diesel::update(outbox::table.find(poison))
            .set(outbox::payload.eq(r#"{"full":true}"#))
            .execute(&mut *conn)
            .unwrap();
    }

    let output_dir = repo_root().join("test-output");
    std::fs::create_dir_all(&output_dir).unwrap();
    let screenshot = output_dir.join("dashboard.png");
    let run = tokio::process::Command::new("node")
        .arg(repo_root().join("scripts/browser/dashboard.mjs"))
        .arg(&server.base_url)
        .arg(&server.admin_token)
        .arg(&screenshot)
        .output()
        .await
        .expect("node is required for the browser test");
    assert!(
        run.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(page["errors"], json!([]), "JavaScript errors on the page");
    assert!(screenshot.exists());

    // The panels show the API's numbers, formatted.
    let metrics = &page["metrics"];
    assert_eq!(metrics["scim-2xx-total"], "12");
    assert_eq!(metrics["scim-4xx-total"], "3");
    assert_eq!(metrics["scim-5xx-total"], "0");
    assert_eq!(metrics["dead-count"], "1");
    assert_eq!(metrics["queue-parking"], "1");
    assert_eq!(metrics["dead-rate"], "1");
    assert_eq!(metrics["queue-source"], "outbox");
    assert_eq!(metrics["webhook-delivered-hour"], "2");
    assert_eq!(metrics["webhook-failed-hour"], "1");
    assert_eq!(metrics["webhook-no-answer-hour"], "1");
    assert_eq!(metrics["webhook-failing"], "1");
    assert!(
        !["–", "none"].contains(&metrics["webhook-lag"].as_str().unwrap()),
        "{metrics}"
    );
    let license = &api["licenses"][0];
    assert_eq!(license["seats_used"], 1234);
    assert_eq!(license["blocked"], 3);
    assert_eq!(
        page["licenses"],
        json!([{
            "id": tenant.license_id,
            "seats": "1,234 / 1,500",
            "blocked": "3",
            "pending": "0",
            "last_scim": "under a minute ago",
        }])
    );
    assert_eq!(page["dead_letters"], json!([poison.to_string()]));
    assert!(page["charts"].as_u64().unwrap() >= 7, "{page}");

    // The replay button put the event back in line; it is applied and no longer dead.
    assert_eq!(page["replayed"], poison.to_string());
    server
        .converged(&tenant.license_id, Duration::from_secs(30))
        .await;
    let (status, letters) = server.admin_get("/api/v1/dead-letters").await;
    assert_eq!(status, 200);
    assert_eq!(letters, json!([]));
}
