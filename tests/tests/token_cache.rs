//! Secret tokens are cached by each API process, and a revoked token, a reset or a license with
//! provisioning disabled stops working on every process within a second: two real
//! `seatflow-api` processes on one PostgreSQL database (and RabbitMQ), the change made through
//! one of them and through the CLI.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::Client;
use seatflow_tests::{
    Backend, ChildProcess, TestDb, TestQueues, amqp_url, binary, read, spawn_api, test_config,
    unique_amqp_prefix,
};
use serde_json::{Value, json};

/// The bound the issue sets: a revoked token stops working everywhere within 1 s.
const WITHIN: Duration = Duration::from_secs(1);

struct Api {
    base_url: String,
    _process: ChildProcess,
}

async fn status(client: &Client, api: &Api, token: &str) -> u16 {
    client
        .get(format!("{}/scim/v2/Users?count=1", api.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until every API answers `token` with `expected`; how long that took.
async fn everywhere(client: &Client, apis: &[Api], token: &str, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        for api in apis {
            all &= status(client, api, token).await == expected;
        }
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not every API answers {expected}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_every_api_process_within_a_second() {
    let db = TestDb::create(Backend::Postgres);
    let prefix = unique_amqp_prefix();
    let config = {
        let mut c = test_config(db.url.clone(), String::new());
        c.worker.amqp_prefix = prefix.clone();
        c
    };
    let _queues = TestQueues::of(&config);
    let admin = seatflow_store::token::generate();
    let mut apis = Vec::new();
    for _ in 0..2 {
        let (process, base_url) = spawn_api(&db.url, &amqp_url(), &prefix, &admin).await;
        apis.push(Api {
            base_url,
            _process: process,
        });
    }
    let client = Client::new();
    let (status_code, license) = read(
        client
            .post(format!("{}/api/v1/licenses", apis[0].base_url))
            .bearer_auth(&admin)
            .json(&json!({"name": "Contoso", "seats": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status_code, 201, "{license}");
    let license_id = license["license_id"].as_str().unwrap().to_owned();
    let token = license["secret_token"].as_str().unwrap().to_owned();
    let token_id = license["token_id"].as_str().unwrap().to_owned();
    everywhere(&client, &apis, &token, 200).await;
    // Both processes now hold the token in their caches.
    for api in &apis {
        assert_eq!(status(&client, api, &token).await, 200);
    }

    // A rotation: the new token works at once everywhere, the old one still does.
    let admin_call = |api: &Api, method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", api.base_url))
            .bearer_auth(&admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { read(request.send().await.unwrap()).await }
    };
    let (_, issued) = admin_call(
        &apis[1],
        reqwest::Method::POST,
        format!("/api/v1/licenses/{license_id}/tokens"),
        None,
    )
    .await;
    let new_token = issued["secret_token"].as_str().unwrap().to_owned();
    for api in &apis {
        assert_eq!(status(&client, api, &new_token).await, 200);
        assert_eq!(status(&client, api, &token).await, 200);
    }

    // Revoked through the first API: 401 there at once, and on the second within a second.
    let (revoked, _) = admin_call(
        &apis[0],
        reqwest::Method::DELETE,
        format!("/api/v1/licenses/{license_id}/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(revoked, 204);
    assert_eq!(
        status(&client, &apis[0], &token).await,
        401,
        "at once where it was revoked"
    );
    let took = everywhere(&client, &apis, &token, 401).await;
    println!("a revocation reached both API processes in {took:?}");
    assert!(took <= WITHIN, "{took:?}");
    assert_eq!(status(&client, &apis[1], &new_token).await, 200);

    // Revoked through the CLI, a process of its own.
    let new_token_id = issued["token_id"].as_str().unwrap();
    let cli = std::process::Command::new(binary("seatflow-api"))
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", db.url.as_str())
        .env("SEATFLOW_LOG", "warn")
        .args([
            "license",
            "token",
            "revoke",
            "--license",
            &license_id,
            "--token-id",
            new_token_id,
        ])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let took = everywhere(&client, &apis, &new_token, 401).await;
    println!("a revocation by the CLI reached both API processes in {took:?}");
    assert!(took <= WITHIN, "{took:?}");

    // Provisioning disabled: the cached license is dropped too.
    let (_, reset) = admin_call(
        &apis[0],
        reqwest::Method::POST,
        format!("/api/v1/licenses/{license_id}/tokens"),
        None,
    )
    .await;
    let live = reset["secret_token"].as_str().unwrap().to_owned();
    everywhere(&client, &apis, &live, 200).await;
    let (changed, _) = admin_call(
        &apis[1],
        reqwest::Method::PATCH,
        format!("/api/v1/licenses/{license_id}"),
        Some(json!({"provisioning_enabled": false})),
    )
    .await;
    assert_eq!(changed, 200);
    let took = everywhere(&client, &apis, &live, 401).await;
    assert!(took <= WITHIN, "{took:?}");
}
