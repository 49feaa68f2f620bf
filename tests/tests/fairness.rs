//! Per-tenant admission with the default limits: a client that runs its requests back to back
//! is never throttled, and a tenant that floods the server with parallel requests does not slow
//! the others (it waits for its own turns).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use seatflow_tests::chaos::Deployment;
use seatflow_tests::wire::{self, RawConnection};
use seatflow_tests::{Backend, Tenant, TestServer, amqp_url, both_backends};
use serde_json::json;

both_backends!(back_to_back_requests_are_never_throttled);

/// A generic conformance tester's pattern: thousands of requests, each sent when the previous
/// one is answered, as fast as the server answers. Under the old default (a 250/s token bucket
/// with a burst of 500) this got 429s after a couple of seconds.
async fn back_to_back_requests_are_never_throttled(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Tester", 10).await;
    let started = Instant::now();
    let mut sent = 0;
    while sent < 3000 || started.elapsed() < Duration::from_secs(3) {
        let (status, body) = tenant.get("/Users?startIndex=1&count=2").await;
        assert_eq!(status, 200, "request {sent}: {body}");
        sent += 1;
    }
    let rate = f64::from(sent) / started.elapsed().as_secs_f64();
    println!("{sent} back-to-back requests at {rate:.0}/s, none refused");
}

/// Quiet lookups while another tenant keeps 48 requests in flight against a real
/// `seatflow-api` process (PostgreSQL + RabbitMQ, 8 pooled connections), with admission off
/// and with the flooding tenant held to 4 requests at a time. The clients are raw sockets that
/// parse nothing, so the test process takes little of the machine's two cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_slow_the_others() {
    let mut p90 = Vec::new();
    for max_in_flight in ["0", "4"] {
        let deployment = Deployment::start(
            &amqp_url(),
            &[
                ("SEATFLOW_TENANT_MAX_IN_FLIGHT", max_in_flight),
                ("SEATFLOW_DB_POOL_SIZE", "8"),
            ],
        )
        .await;
        let noisy = deployment.create_license("Noisy", 10).await;
        let quiet = deployment.create_license("Quiet", 10).await;
        for i in 0..100 {
            noisy
                .post("/Users", json!({"userName": format!("u{i}@noisy.example")}))
                .await;
        }
        quiet
            .post("/Users", json!({"userName": "ada@quiet.example"}))
            .await;
        let get = |tenant: &Tenant, target: &str| {
            let bearer = format!("Bearer {}", tenant.token);
            wire::request(
                "GET",
                target,
                &[("Host", "x"), ("Authorization", &bearer)],
                b"",
            )
        };
        let lookup = get(
            &quiet,
            "/scim/v2/Users?filter=userName+eq+%22ada%40quiet.example%22",
        );
        let mut connection = RawConnection::open(&deployment.base_url).await;
        let alone = p90_of(&mut connection, &lookup).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // Entra's filter-before-create, 48 at a time: the database pool is what they take.
        let flood_request = get(
            &noisy,
            "/scim/v2/Users?filter=userName+eq+%22u7%40noisy.example%22",
        );
        let flood: Vec<_> = (0..48)
            .map(|_| {
                let (base_url, request, stopped) = (
                    deployment.base_url.clone(),
                    flood_request.clone(),
                    stopped.clone(),
                );
                tokio::spawn(async move {
                    let mut connection = RawConnection::open(&base_url).await;
                    let mut refused = 0u32;
                    while !*stopped.borrow() {
                        match connection.exchange(&request).await.status {
                            200 => {}
                            429 => refused += 1,
                            other => panic!("the flood got {other}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let flooded = p90_of(&mut connection, &lookup).await;
        stop.send(true).unwrap();
        let mut refused = 0;
        for task in flood {
            refused += task.await.unwrap();
        }
        println!(
            "max in flight {max_in_flight}: the quiet tenant's lookups p90 {alone:?} alone, \
             {flooded:?} beside the flood; the flooding tenant was refused {refused} times"
        );
        if max_in_flight != "0" {
            assert_eq!(
                refused, 0,
                "the flooding tenant waits for its turns, within the bound"
            );
        }
        p90.push(flooded);
    }
    let (without, with) = (p90[0], p90[1]);
    assert!(
        with * 2 < without,
        "the quiet tenant's p90 with admission ({with:?}) must be well under the one without \
         ({without:?})"
    );
}

/// The 90th percentile latency of 100 sequential `request`s.
async fn p90_of(connection: &mut RawConnection, request: &[u8]) -> Duration {
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let answer = connection.exchange(request).await;
        latencies.push(started.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    latencies.sort();
    latencies[89]
}
