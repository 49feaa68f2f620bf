//! The tenant's SCIM requests over the last hour, by status, counted as they are answered
//! (`activity::count_requests`), and where authentication leaves the tenant for that count.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// SCIM requests per license and status over the last hour, counted in this API process (each
/// process of a deployment counts its own share; the sync endpoint reports this one's).
#[derive(Default)]
pub struct RequestLog {
    by_license: Mutex<HashMap<String, VecDeque<Minute>>>,
}

struct Minute {
    at: i64,
    counts: BTreeMap<u16, u64>,
}

const WINDOW_MINUTES: i64 = 60;

impl RequestLog {
    pub fn record(&self, license_id: &str, status: u16) {
        self.record_at(license_id, status, current_minute());
    }

    fn record_at(&self, license_id: &str, status: u16, minute: i64) {
        let Ok(mut log) = self.by_license.lock() else {
            return;
        };
        let minutes = log.entry(license_id.to_owned()).or_default();
        if minutes.back().is_none_or(|m| m.at != minute) {
            minutes.push_back(Minute {
                at: minute,
                counts: BTreeMap::new(),
            });
        }
        while minutes
            .front()
            .is_some_and(|m| m.at <= minute - WINDOW_MINUTES)
        {
            minutes.pop_front();
        }
        if let Some(current) = minutes.back_mut() {
            *current.counts.entry(status).or_default() += 1;
        }
    }

    /// Requests of the last hour by HTTP status.
    pub fn last_hour(&self, license_id: &str) -> BTreeMap<String, u64> {
        self.last_hour_at(license_id, current_minute())
    }

    fn last_hour_at(&self, license_id: &str, minute: i64) -> BTreeMap<String, u64> {
        let mut totals = BTreeMap::new();
        let Ok(log) = self.by_license.lock() else {
            return totals;
        };
        for m in log.get(license_id).into_iter().flatten() {
            if m.at > minute - WINDOW_MINUTES {
                for (status, count) in &m.counts {
                    *totals.entry(status.to_string()).or_default() += count;
                }
            }
        }
        totals
    }
}

fn current_minute() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs() / 60).unwrap_or(i64::MAX)
}

/// Where the SCIM authentication leaves the license id, so the request can be counted against
/// it once its status is known.
#[derive(Clone, Default)]
pub struct TenantSlot(pub Arc<OnceLock<String>>);

#[cfg(test)]
mod tests {
    use super::RequestLog;

    #[test]
    fn request_log_keeps_one_hour_per_license() {
        let log = RequestLog::default();
        log.record_at("a", 200, 1000);
        log.record_at("a", 200, 1030);
        log.record_at("a", 409, 1030);
        log.record_at("b", 500, 1030);
        let a = log.last_hour_at("a", 1030);
        assert_eq!(a.get("200"), Some(&2));
        assert_eq!(a.get("409"), Some(&1));
        assert_eq!(
            log.last_hour_at("a", 1060).get("200"),
            Some(&1),
            "the minute-1000 request aged out"
        );
        assert!(log.last_hour_at("c", 1030).is_empty());
    }
}
