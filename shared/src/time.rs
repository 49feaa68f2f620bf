//! Timestamps are stored as fixed-width RFC 3339 UTC text (microsecond precision, `Z`), so they
//! compare correctly as strings on every backend and are returned to SCIM clients unchanged.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now() -> String {
    format(Utc::now())
}

/// The timestamp `delay` from now.
pub fn after(delay: Duration) -> String {
    format(Utc::now() + delay)
}

/// The timestamp `age` ago.
pub fn before(age: Duration) -> String {
    format(Utc::now() - age)
}

fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc() {
        let t = now();
        assert_eq!(t.len(), "2026-11-29T01:02:03.123456Z".len());
        assert!(t.ends_with('Z'));
    }
}
