//! Per-tenant admission and the optional per-tenant rate ceiling: each tenant's share of this
//! process, answered 429 with `Retry-After` when it is exceeded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::error::ApiError;

/// Tenants idle this long are forgotten (their bucket would be full again anyway).
const IDLE: Duration = Duration::from_secs(600);

/// Token buckets per tenant: `rate` requests per second on average, bursts up to `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// `rate` 0 disables the limiter.
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `tenant`, or says how many seconds until one is available.
    pub fn check(&self, tenant: &str) -> Result<(), ApiError> {
        self.check_at(tenant, Instant::now())
    }

    fn check_at(&self, tenant: &str, now: Instant) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| now.duration_since(b.refilled) < IDLE);
        }
        let bucket = of_tenant(&mut buckets, tenant, || Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / self.rate).ceil().max(1.0);
        Err(ApiError::TooManyRequests(wait as u64))
    }
}

/// `tenant`'s entry, made by `new` the first time. Looked up by reference first: a known
/// tenant, every request but its first, costs no allocation.
fn of_tenant<'a, V>(
    map: &'a mut HashMap<String, V>,
    tenant: &str,
    new: impl FnOnce() -> V,
) -> &'a mut V {
    if !map.contains_key(tenant) {
        map.insert(tenant.to_owned(), new());
    }
    map.get_mut(tenant).expect("inserted above")
}

/// Per-tenant admission: at most `max_in_flight` requests of one tenant run at once in this
/// process; the others wait their turn in arrival order (tokio's semaphore is fair) for up to
/// `max_wait`, then get 429. A client that sends its requests one after another is never
/// throttled, whatever its rate (a generic tester's back-to-back checks, Entra's bursts); one
/// that floods the server with parallel requests gets its share of the database pool and waits
/// for the rest, so other tenants are served beside it.
pub struct Admission {
    max_in_flight: usize,
    max_wait: Duration,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A tenant's turn: held while its request runs.
pub type Turn = Option<OwnedSemaphorePermit>;

impl Admission {
    /// `max_in_flight` 0 admits everything at once.
    pub fn new(max_in_flight: usize, max_wait: Duration) -> Admission {
        Admission {
            max_in_flight,
            max_wait,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `tenant`'s turn; 429 when it does not come within `max_wait`.
    pub async fn enter(&self, tenant: &str) -> Result<Turn, ApiError> {
        if self.max_in_flight == 0 {
            return Ok(None);
        }
        let semaphore = {
            // A panicked holder left the map intact.
            let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            if tenants.len() > 10_000 {
                // Forget idle tenants: nobody holds or waits for their semaphore.
                tenants.retain(|_, s| Arc::strong_count(s) > 1);
            }
            let max = self.max_in_flight;
            of_tenant(&mut tenants, tenant, || Arc::new(Semaphore::new(max))).clone()
        };
        if let Ok(turn) = semaphore.clone().try_acquire_owned() {
            return Ok(Some(turn));
        }
        match tokio::time::timeout(self.max_wait, semaphore.acquire_owned()).await {
            Ok(Ok(turn)) => Ok(Some(turn)),
            _ => Err(ApiError::TooManyRequests(1)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_bursts_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", start).is_ok());
        }
        let refused = limiter.check_at("a", start).err().unwrap();
        let answer = refused.answer();
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after, Some(1));
        assert!(
            limiter.check_at("b", start).is_ok(),
            "tenants are independent"
        );
        assert!(
            limiter
                .check_at("a", start + Duration::from_millis(150))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn admission_queues_a_tenant_beyond_its_share_and_not_the_others() {
        let admission = Admission::new(2, Duration::from_millis(50));
        let first = admission.enter("a").await.unwrap();
        let _second = admission.enter("a").await.unwrap();
        assert_eq!(
            admission.enter("a").await.err().map(|e| e.answer().status),
            Some(axum::http::StatusCode::TOO_MANY_REQUESTS),
            "a third waits, then is refused"
        );
        assert!(
            admission.enter("b").await.is_ok(),
            "tenants are independent"
        );
        let waiting = admission.enter("a");
        drop(first);
        assert!(
            waiting.await.is_ok(),
            "a freed turn goes to the waiting request"
        );
        let unlimited = Admission::new(0, Duration::ZERO);
        for _ in 0..100 {
            assert!(unlimited.enter("a").await.unwrap().is_none());
        }
    }

    #[test]
    fn zero_rate_disables_the_limit() {
        let limiter = RateLimiter::new(0, 1);
        let now = Instant::now();
        assert!((0..100).all(|_| limiter.check_at("a", now).is_ok()));
    }
}
