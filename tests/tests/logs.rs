//! Logs of the real binaries in distributed mode (PostgreSQL, RabbitMQ, `seatflow-api` and
//! `seatflow-worker` at debug level, JSON lines): a request's id reaches the worker's span, and
//! no secret — admin token, SCIM tokens, metrics token, database password — is ever written.

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use seatflow_store::db::DatabaseUrl;
use seatflow_tests::{
    Backend, ChildProcess, TestDb, TestQueues, amqp_url, binary, read, spawn_api_with, test_config,
    unique_amqp_prefix, worker_command,
};
use serde_json::{Value, json};

const DEBUG_JSON: [(&str, &str); 2] = [("SEATFLOW_LOG", "debug"), ("SEATFLOW_LOG_FORMAT", "json")];

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

/// Whether a log line with `message` ran inside a span carrying `request_id`.
fn logged_with_request_id(lines: &[Value], message: &str, request_id: &str) -> bool {
    lines.iter().any(|line| {
        line["message"] == message
            && line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_reach_the_worker_and_secrets_are_never_logged() {
    let db = TestDb::create(Backend::Postgres);
    let db_password = format!("db-pw-{}", uuid::Uuid::new_v4().simple());
    let mut url = url::Url::parse(db.url.as_str()).unwrap();
    url.set_password(Some(&db_password)).unwrap();
    // The test server trusts local connections, so any password is accepted.
    let database_url = DatabaseUrl::parse(url.as_str()).unwrap();
    let prefix = unique_amqp_prefix();
    let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let metrics_token = format!("metrics-{}", uuid::Uuid::new_v4().simple());
    let logs =
        std::env::temp_dir().join(format!("seatflow-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&logs).unwrap();
    let (api_log, worker_log) = (logs.join("api.log"), logs.join("worker.log"));

    let mut api_env = DEBUG_JSON.to_vec();
    api_env.push(("SEATFLOW_METRICS_TOKEN", &metrics_token));
    let (mut api, base_url) = spawn_api_with(
        &database_url,
        &amqp_url(),
        &prefix,
        &admin_token,
        &api_env,
        Stdio::from(File::create(&api_log).unwrap()),
    )
    .await;
    let mut config = test_config(database_url.clone(), base_url.clone());
    config.worker.amqp_prefix = prefix.clone();
    let _queues = TestQueues::of(&config);
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let mut worker_env = DEBUG_JSON.to_vec();
    worker_env.push(("SEATFLOW_WORKER_METRICS_BIND", &metrics_bind));
    let mut worker = ChildProcess(
        worker_command(&config, &worker_env)
            .stderr(File::create(&worker_log).unwrap())
            .spawn()
            .unwrap(),
    );

    let client = reqwest::Client::new();
    let admin = |method: Method, path: &str| {
        client
            .request(method, format!("{base_url}{path}"))
            .bearer_auth(&admin_token)
    };
    let (status, created) = read(
        admin(Method::POST, "/api/v1/licenses")
            .json(&json!({"name": "Fabrikam", "seats": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let license_id = created["license_id"].as_str().unwrap().to_owned();
    let first_token = created["secret_token"].as_str().unwrap().to_owned();
    let scim = |token: &str, method: Method, path: &str| {
        client
            .request(method, format!("{base_url}/scim/v2{path}"))
            .bearer_auth(token)
    };
    let (status, user) = read(
        scim(&first_token, Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(json!({"userName": "ann@fabrikam.test"}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    // Disabling the user can move a seat, so it is the write that reaches the worker.
    let request_id = format!("trace-{}", uuid::Uuid::new_v4().simple());
    let response = scim(
        &first_token,
        Method::PATCH,
        &format!("/Users/{}", user["id"].as_str().unwrap()),
    )
    .header("x-request-id", &request_id)
    .header("content-type", "application/scim+json")
    .body(
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        })
        .to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    let (status, rotated) = read(
        admin(
            Method::POST,
            &format!("/api/v1/licenses/{license_id}/tokens"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let second_token = rotated["secret_token"].as_str().unwrap().to_owned();
    let status = scim(&second_token, Method::GET, "/Users")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let wrong_token = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let status = scim(&wrong_token, Method::GET, "/Users")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let status = client
        .get(format!("{base_url}/metrics"))
        .bearer_auth(&metrics_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // A setup link's secret is its path: the request log shows the path without it.
    let (status, link) = read(
        admin(
            Method::POST,
            &format!("/api/v1/licenses/{license_id}/setup-links"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let link_url = link["url"].as_str().unwrap().to_owned();
    let setup_secret = link_url.rsplit('/').next().unwrap().to_owned();
    let status = client.get(&link_url).send().await.unwrap().status();
    assert_eq!(status, 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, sync) = read(
            admin(Method::GET, &format!("/api/v1/licenses/{license_id}/sync"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if sync["pending_events"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not applied: {sync}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The worker's own /metrics counts what it applied.
    let worker_metrics = client
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        worker_metrics.contains("seatflow_events_applied_total{transport=\"rabbitmq\"} 1"),
        "{worker_metrics}"
    );
    assert!(worker_metrics.contains("seatflow_event_lag_seconds_count 1"));
    assert!(api.terminate().success());
    assert!(worker.terminate().success());

    let api_text = std::fs::read_to_string(&api_log).unwrap();
    let worker_text = std::fs::read_to_string(&worker_log).unwrap();
    for secret in [
        &admin_token,
        &first_token,
        &second_token,
        &wrong_token,
        &metrics_token,
        &db_password,
        &setup_secret,
    ] {
        assert!(
            !api_text.contains(secret.as_str()),
            "the API logged a secret"
        );
        assert!(
            !worker_text.contains(secret.as_str()),
            "the worker logged a secret"
        );
    }
    let (api_lines, worker_lines) = (json_lines(&api_text), json_lines(&worker_text));
    assert!(
        logged_with_request_id(&api_lines, "request finished", &request_id),
        "the API's request span lacks the request id"
    );
    assert!(
        logged_with_request_id(&worker_lines, "event applied", &request_id),
        "the worker's event span lacks the request id:\n{worker_text}"
    );
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn an_unknown_log_format_is_refused() {
    let output = std::process::Command::new(binary("seatflow-api"))
        .arg("--help")
        .env("SEATFLOW_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SEATFLOW_LOG_FORMAT must be `json` or `pretty`"),
        "{stderr}"
    );
}
