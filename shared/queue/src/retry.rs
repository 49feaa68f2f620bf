//! When a failed event is tried again: exponential backoff with jitter, the same rule for the
//! embedded queue and the broker (whose delay tiers this snaps to).

use std::time::Duration;

use rand::Rng;

/// The retry rules, from `SEATFLOW_MAX_ATTEMPTS` and `SEATFLOW_RETRY_BASE_MS`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before an event is dead-lettered (the first try counts).
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it, up to `MAX_DELAY`.
    pub base: Duration,
}

const MAX_DELAY: Duration = Duration::from_secs(600);

impl RetryPolicy {
    /// How long to wait after failed attempt number `attempt` (1-based), ±25% jitter so that a
    /// burst of failures does not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let nominal = self.base.saturating_mul(1 << exponent).min(MAX_DELAY);
        nominal.mul_f64(rand::rng().random_range(0.75..1.25))
    }

    /// Whether failed attempt number `attempt` was the last one allowed.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }

    /// The broker's fixed delay tiers: `base`, 2×, 4×, … up to `MAX_DELAY`.
    pub fn tiers(&self) -> Vec<Duration> {
        let mut tiers = vec![self.base.max(Duration::from_millis(1))];
        while let Some(&last) = tiers.last()
            && last * 2 <= MAX_DELAY
        {
            tiers.push(last * 2);
        }
        tiers
    }

    /// The longest tier not above `delay(attempt)`: jitter moves some retries a tier earlier.
    pub fn tier(&self, attempt: u32) -> Duration {
        let wanted = self.delay(attempt);
        let tiers = self.tiers();
        tiers
            .iter()
            .rev()
            .find(|t| **t <= wanted)
            .copied()
            .unwrap_or(tiers[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_secs(1),
    };

    #[test]
    fn delays_grow_exponentially_within_jitter() {
        for attempt in 1..=6 {
            let nominal = Duration::from_secs(1 << (attempt - 1));
            let d = POLICY.delay(attempt);
            assert!(
                d >= nominal.mul_f64(0.75) && d <= nominal.mul_f64(1.25),
                "{attempt}: {d:?}"
            );
        }
        assert!(POLICY.delay(40) <= MAX_DELAY.mul_f64(1.25));
    }

    #[test]
    fn tiers_double_and_snap_down() {
        let tiers = POLICY.tiers();
        assert_eq!(tiers[..4], [1, 2, 4, 8].map(Duration::from_secs));
        assert!(tiers.last().is_some_and(|t| *t <= MAX_DELAY));
        for attempt in 1..=8 {
            let tier = POLICY.tier(attempt);
            assert!(tiers.contains(&tier));
            assert!(tier <= Duration::from_secs(1 << (attempt - 1)).mul_f64(1.25));
        }
    }

    #[test]
    fn exhausted_after_max_attempts() {
        assert!(!POLICY.exhausted(4));
        assert!(POLICY.exhausted(5));
    }
}
