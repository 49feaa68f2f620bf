//! Per-tenant admission's cost per request (`bench/micro.sh` runs it): a turn taken and given
//! back for requests spread over many tenants, as the SCIM routes do before any other work,
//! and the optional token bucket's check beside it. Prints ns per request for both.

use std::hint::black_box;
use std::time::{Duration, Instant};

use seatflow_api::http::admission::{Admission, RateLimiter};

const REQUESTS: usize = 1_000_000;
const TENANTS: usize = 1_000;

fn main() {
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("license-{i:04}")).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let admission = Admission::new(8, Duration::from_millis(500));
    let limiter = RateLimiter::new(1_000_000, 1_000_000);
    // Best of 5: the machine is shared.
    let (mut admit_ns, mut bucket_ns) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let started = Instant::now();
        runtime.block_on(async {
            for i in 0..REQUESTS {
                let turn = admission.enter(&tenants[i % TENANTS]).await;
                black_box(turn.is_ok());
            }
        });
        admit_ns = admit_ns.min(started.elapsed().as_nanos() as f64 / REQUESTS as f64);
        let started = Instant::now();
        for i in 0..REQUESTS {
            black_box(limiter.check(&tenants[i % TENANTS]).is_ok());
        }
        bucket_ns = bucket_ns.min(started.elapsed().as_nanos() as f64 / REQUESTS as f64);
    }
    println!(
        "admission: {admit_ns:.0} ns per request for a tenant's turn ({TENANTS} tenants, \
         {REQUESTS} requests, best of 5); the optional rate limit's check {bucket_ns:.0} ns"
    );
}
