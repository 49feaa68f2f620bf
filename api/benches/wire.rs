//! The connection layer's cost per request (`bench/micro.sh` runs it): Entra-shaped keep-alive
//! traffic — its raw-quote lookup and a POST with a body — read through `NormalizedIo` and,
//! for the baseline, straight from the same bytes. Prints ns per request for both.

use std::hint::black_box;
use std::time::Instant;

use seatflow_api::http::wire::NormalizedIo;
use tokio::io::{AsyncRead, AsyncReadExt};

const REQUESTS: usize = 200_000;

fn traffic() -> Vec<u8> {
    let lookup = "GET /scim/v2/Users?filter=userName+eq+\"adele.vance%40contoso.example.com\" HTTP/1.1\r\n\
                  Host: seatflow.example.com\r\nAuthorization: Bearer 0123456789abcdefghijklmnopqrstuvwxyzABCDEFG\r\n\
                  Accept: application/scim+json\r\nUser-Agent: Microsoft.AzureAD.Provisioning\r\n\r\n";
    let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"adele.vance@contoso.example.com","active":true,"displayName":"Adele Vance","externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","emails":[{"primary":true,"type":"work","value":"adele.vance@contoso.example.com"}]}"#;
    let post = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: seatflow.example.com\r\n\
         Authorization: Bearer 0123456789abcdefghijklmnopqrstuvwxyzABCDEFG\r\n\
         Content-Type: application/scim+json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut bytes = Vec::new();
    for i in 0..REQUESTS {
        bytes.extend_from_slice(if i % 2 == 0 {
            lookup.as_bytes()
        } else {
            post.as_bytes()
        });
    }
    bytes
}

/// Reads `io` to its end in 8 KiB reads, as hyper does; returns the nanoseconds it took.
async fn drain(mut io: impl AsyncRead + Unpin) -> u128 {
    let mut buffer = vec![0u8; 8192];
    let started = Instant::now();
    loop {
        let n = io.read(&mut buffer).await.expect("in-memory read");
        if n == 0 {
            return started.elapsed().as_nanos();
        }
        black_box(&buffer[..n]);
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = traffic();
    let per_request = |nanos: u128| nanos as f64 / REQUESTS as f64;
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let raw = per_request(runtime.block_on(drain(&bytes[..])));
        let normalized =
            per_request(runtime.block_on(drain(NormalizedIo::new(&bytes[..], 417_792))));
        best = (best.0.min(raw), best.1.min(normalized));
    }
    println!(
        "connection layer: {:.0} ns per request through NormalizedIo, {:.0} ns reading the same \
         bytes directly: {:.2} µs added per request ({REQUESTS} Entra lookups with raw quotes and \
         POSTs, best of 5)",
        best.1,
        best.0,
        (best.1 - best.0) / 1000.0
    );
}
