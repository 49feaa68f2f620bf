//! Timestamps are stored as fixed-width RFC 3339 UTC text (microsecond precision, `Z`), so they
//! compare correctly as strings on every backend and are returned to SCIM clients unchanged.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now() -> String {
    format(Utc::now())
}

/// `n` strictly increasing timestamps from now, one microsecond apart: items recorded together
/// keep the order they were given in (a provider's member list is its sync order).
pub fn sequence(n: usize) -> Vec<String> {
    let start = Utc::now();
    (0..n)
        .map(|i| {
            format(start + chrono::Duration::microseconds(i64::try_from(i).unwrap_or(i64::MAX)))
        })
        .collect()
}

/// The timestamp `delay` from now.
pub fn after(delay: Duration) -> String {
    format(Utc::now() + delay)
}

/// The timestamp `age` ago.
pub fn before(age: Duration) -> String {
    format(Utc::now() - age)
}

/// The stored form of `t`.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_increase_as_text() {
        let times = sequence(3);
        assert!(times[0] < times[1] && times[1] < times[2]);
    }

    #[test]
    fn timestamps_are_fixed_width_utc() {
        let t = now();
        assert_eq!(t.len(), "2026-11-29T01:02:03.123456Z".len());
        assert!(t.ends_with('Z'));
    }
}
