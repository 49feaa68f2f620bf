//! The persisted SCIM request log and the error-rate warning, on SQLite and PostgreSQL: what is
//! logged (redacted, no secret), searching it, what a request caused, retention, and
//! `directory.error_rate_high` raised once before Entra's 40% and re-armed by recovery.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::Method;
use seatflow_feed::event::{FeedEvent, TypeFilter};
use seatflow_store::scim_requests::{self, NewRequest};
use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

both_backends!(
    requests_are_logged_redacted_and_searchable,
    requests_past_retention_are_pruned,
    a_burst_of_failures_warns_once_and_recovery_rearms,
);

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.request_log_flush_ms = 50;
        config.error_rate_interval_ms = 100;
        config.error_rate_window_secs = 600;
    })
    .await
}

/// The license's logged requests matching `query` (`status=400&…`), newest first.
async fn logged(server: &TestServer, license_id: &str, query: &str) -> Vec<Value> {
    let (status, body) = server
        .admin_get(&format!("/api/v1/licenses/{license_id}/requests?{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["requests"].as_array().unwrap().clone()
}

/// Waits until the log holds at least `n` requests of the license.
async fn wait_logged(server: &TestServer, license_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = logged(server, license_id, "limit=1000").await;
        if all.len() >= n {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} requests logged",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send_as(
    tenant: &Tenant,
    method: Method,
    path: &str,
    body: Option<Value>,
    id: &str,
) -> u16 {
    let mut request = tenant.request(method, path).header("x-request-id", id);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    request.send().await.unwrap().status().as_u16()
}

async fn requests_are_logged_redacted_and_searchable(backend: Backend) {
    let server = start(backend).await;
    let tenant = server.create_license("Contoso", 5).await;
    let license = tenant.license_id.clone();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@contoso.com", "active": true,
    });
    let status = send_as(&tenant, Method::POST, "/Users", Some(user), "req-create").await;
    assert_eq!(status, 201);
    let (_, found) = tenant
        .get("/Users?filter=userName%20eq%20%22ada%40contoso.com%22&startIndex=1&count=5")
        .await;
    let user_id = found["Resources"][0]["id"].as_str().unwrap().to_owned();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff",
    });
    let (_, group) = tenant.post("/Groups", group).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    server.license_groups(&license, json!([group_id])).await;
    // Applied first, so that the member's seat is the membership event's decision (a full
    // reconcile still pending would take it, under the selection's request).
    server.converged(&license, Duration::from_secs(10)).await;
    let add =
        patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": user_id }] }]));
    let path = format!("/Groups/{group_id}");
    assert_eq!(
        send_as(&tenant, Method::PATCH, &path, Some(add), "req-add").await,
        204
    );
    let bad = patch_op(json!([{ "op": "bogus", "path": "active", "value": false }]));
    let path = format!("/Users/{user_id}");
    assert_eq!(
        send_as(&tenant, Method::PATCH, &path, Some(bad), "req-bad").await,
        400
    );
    // A secret in the query is dropped like any value.
    let leaky = format!("/Users?access_token={}", tenant.token);
    assert_eq!(
        send_as(&tenant, Method::GET, &leaky, None, "req-leak").await,
        200
    );
    server.converged(&license, Duration::from_secs(10)).await;

    let all = wait_logged(&server, &license, 6).await;
    // The request's own fields (the events it caused carry the user, as the feed does).
    let own: Vec<String> = all
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["method"], r["path"], r["status"], r["request_id"]
            )
        })
        .collect();
    let text = own.join("\n");
    assert!(
        !text.contains("ada@contoso"),
        "personal data logged: {text}"
    );
    assert!(!text.contains(&tenant.token), "the secret token was logged");
    let paths: Vec<&str> = all.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&r#"/scim/v2/Users?filter=userName eq "…"&startIndex=1&count=5"#),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/scim/v2/Users?access_token=…"),
        "{paths:?}"
    );
    assert!(
        all.windows(2)
            .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()),
        "newest first"
    );

    let failed = logged(&server, &license, "status=400").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["request_id"], "req-bad");
    assert_eq!(failed[0]["method"], "PATCH");
    assert_eq!(failed[0]["failure"], true);
    assert_eq!(logged(&server, &license, "status=4xx").await.len(), 1);
    assert_eq!(logged(&server, &license, "method=post").await.len(), 2);
    assert_eq!(logged(&server, &license, "path=filter%3D").await.len(), 1);
    let one = logged(&server, &license, "request_id=req-create").await;
    assert_eq!(one.len(), 1);
    // What a request caused: the creation's feed event, the member's seat decision.
    let events: Vec<&str> = one[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"user.created"), "{one:?}");
    // The seat decision is the engine's, made after the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let added = logged(&server, &license, "request_id=req-add").await;
        let decisions = added[0]["seat_decisions"].as_array().unwrap();
        if decisions
            .iter()
            .any(|d| d["subject"] == user_id.as_str() && d["action"] == "assigned")
        {
            break;
        }
        if Instant::now() > deadline {
            let (_, audit) = server
                .admin_get(&format!("/api/v1/licenses/{license}/audit"))
                .await;
            panic!("the member's seat decision is not linked: {added:?}; audit: {audit}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Paging by id cursor.
    let first = logged(&server, &license, "limit=2").await;
    let older = logged(
        &server,
        &license,
        &format!("before={}&limit=2", first[1]["id"]),
    )
    .await;
    assert!(older[0]["id"].as_i64() < first[1]["id"].as_i64());

    for bad in ["status=abc", "before=x", "limit=0", "method=G%20T"] {
        let (status, body) = server
            .admin_get(&format!("/api/v1/licenses/{license}/requests?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = server.admin_get("/api/v1/licenses/nope/requests").await;
    assert_eq!(status, 404);
    let anonymous = server
        .client
        .get(format!(
            "{}/api/v1/licenses/{license}/requests",
            server.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn requests_past_retention_are_pruned(backend: Backend) {
    let server = start(backend).await;
    let row = |license: &str, age_days: u64| NewRequest {
        license_id: license.into(),
        method: "GET".into(),
        path: "/scim/v2/Users".into(),
        status: 200,
        latency_us: 10,
        request_id: None,
        created_at: seatflow_store::time::before(Duration::from_secs(age_days * 86_400)),
    };
    let rows = vec![row("a", 31), row("a", 29), row("b", 45), row("b", 0)];
    server
        .db
        .write(move |c| scim_requests::insert(c, &rows))
        .await
        .unwrap();
    let retention = Duration::from_secs(server.config.request_log_retention_days * 86_400);
    assert_eq!(server.config.request_log_retention_days, 30, "the default");
    // The server prunes at start too: whichever runs first deletes the old rows.
    server
        .db
        .write(move |c| scim_requests::prune(c, retention))
        .await
        .unwrap();
    let left = server
        .db
        .read(|c| {
            let query = scim_requests::RequestQuery {
                limit: 10,
                ..Default::default()
            };
            Ok((
                scim_requests::list(c, "a", &query)?,
                scim_requests::list(c, "b", &query)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((left.0.len(), left.1.len()), (1, 1));
}

/// The license's `directory.error_rate_high` events.
async fn warnings(server: &TestServer, license_id: &str) -> Vec<FeedEvent> {
    let license = license_id.to_owned();
    server
        .db
        .write(move |c| {
            // Sequenced here too, so the test does not wait on the sequencer's schedule.
            seatflow_feed::sequence::assign(c)?;
            let query = seatflow_feed::log::Query {
                license_id: Some(license),
                after: 0,
                limit: 100,
                types: TypeFilter::new(vec!["directory.error_rate_high".into()]).unwrap(),
            };
            seatflow_feed::log::list(c, &query)
        })
        .await
        .unwrap()
}

async fn warned(server: &TestServer, license_id: &str) -> bool {
    let id = license_id.to_owned();
    server
        .db
        .read(move |c| seatflow_store::licenses::get(c, &id))
        .await
        .unwrap()
        .error_rate_warned
}

/// Waits for `what` to hold, checking every 50 ms, for at most 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_burst_of_failures_warns_once_and_recovery_rearms(backend: Backend) {
    let server = start(backend).await;
    let tenant = server.create_license("Contoso", 5).await;
    let license = tenant.license_id.clone();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada",
    });
    let (_, user) = tenant.post("/Users", user).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let bad = patch_op(json!([{ "op": "bogus", "path": "active", "value": false }]));
    let succeed = |n: usize| {
        let (tenant, path) = (tenant.clone(), path.clone());
        async move {
            for _ in 0..n {
                assert_eq!(tenant.get(&path).await.0, 200);
            }
        }
    };
    let fail = |n: usize| {
        let (tenant, path, bad) = (tenant.clone(), path.clone(), bad.clone());
        async move {
            for _ in 0..n {
                assert_eq!(tenant.patch(&path, bad.clone()).await.0, 400);
            }
        }
    };
    // Lookups that find nothing and conflicts are normal answers, not failures.
    for _ in 0..10 {
        assert_eq!(
            tenant
                .get("/Users/00000000-0000-4000-8000-000000000000")
                .await
                .0,
            404
        );
    }
    succeed(19).await;
    // 1 + 10 + 19 + 10 = 40 requests: 10 failures make 25%, the threshold, well short of 40%.
    fail(10).await;
    eventually("the warning", || async {
        warnings(&server, &license).await.len() == 1
    })
    .await;
    let event = &warnings(&server, &license).await[0];
    let share = event.data["failure_share"].as_f64().unwrap();
    assert!((0.25..0.4).contains(&share), "{event:?}");
    assert_eq!(event.data["failures"], 10);
    assert_eq!(event.data["requests"], 40);
    assert_eq!(event.data["threshold"], 0.25);
    assert_eq!(event.data["window_seconds"], 600);
    assert_eq!(
        event.data["top_statuses"],
        json!([{ "status": 400, "count": 10 }])
    );
    assert!(warned(&server, &license).await);

    // More failures, past 40%: still the one warning.
    fail(20).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(warnings(&server, &license).await.len(), 1);

    // Recovery below half the threshold (30 of 241 < 12.5%) clears it…
    succeed(181).await;
    eventually("the warning cleared", || async {
        !warned(&server, &license).await
    })
    .await;
    assert_eq!(warnings(&server, &license).await.len(), 1);
    // …so the next burst warns again.
    fail(50).await;
    eventually("a second warning", || async {
        warnings(&server, &license).await.len() == 2
    })
    .await;
}
