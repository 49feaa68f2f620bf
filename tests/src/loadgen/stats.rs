//! Per-request-kind latency histograms and status counts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

pub struct KindStats {
    histogram: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    first_start: Instant,
    last_end: Instant,
}

#[derive(Default)]
pub struct Stats {
    kinds: BTreeMap<String, KindStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub count: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: u64,
}

impl Stats {
    /// One request of `kind` that started at `start` (its intended start in open-loop runs).
    pub fn record(&mut self, kind: &str, start: Instant, status: Option<u16>) {
        let now = Instant::now();
        let entry = self
            .kinds
            .entry(kind.to_owned())
            .or_insert_with(|| KindStats {
                histogram: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"),
                statuses: BTreeMap::new(),
                transport_errors: 0,
                first_start: start,
                last_end: now,
            });
        let micros = now.duration_since(start).as_micros().max(1) as u64;
        entry.histogram.saturating_record(micros);
        match status {
            Some(status) => *entry.statuses.entry(status).or_default() += 1,
            None => entry.transport_errors += 1,
        }
        entry.first_start = entry.first_start.min(start);
        entry.last_end = entry.last_end.max(now);
    }

    pub fn total(&self) -> u64 {
        self.kinds.values().map(|k| k.histogram.len()).sum()
    }

    /// Failures: 5xx answers and requests that got no answer.
    pub fn failures(&self) -> u64 {
        self.kinds
            .values()
            .map(|k| {
                k.transport_errors
                    + k.statuses
                        .iter()
                        .filter(|(s, _)| **s >= 500)
                        .map(|(_, n)| n)
                        .sum::<u64>()
            })
            .sum()
    }

    pub fn report(&self) -> BTreeMap<String, KindReport> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        self.kinds
            .iter()
            .map(|(kind, k)| {
                let window = k
                    .last_end
                    .duration_since(k.first_start)
                    .max(Duration::from_millis(1));
                let h = &k.histogram;
                (
                    kind.clone(),
                    KindReport {
                        count: h.len(),
                        per_sec: h.len() as f64 / window.as_secs_f64(),
                        p50_ms: ms(h.value_at_quantile(0.50)),
                        p95_ms: ms(h.value_at_quantile(0.95)),
                        p99_ms: ms(h.value_at_quantile(0.99)),
                        max_ms: ms(h.max()),
                        statuses: k
                            .statuses
                            .iter()
                            .map(|(s, n)| (s.to_string(), *n))
                            .collect(),
                        transport_errors: k.transport_errors,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_and_failures() {
        let mut stats = Stats::default();
        let start = Instant::now();
        stats.record("GET", start, Some(200));
        stats.record("GET", start, Some(503));
        stats.record("POST", start, None);
        assert_eq!(stats.total(), 3);
        assert_eq!(stats.failures(), 2);
        let report = stats.report();
        assert_eq!(report["GET"].count, 2);
        assert_eq!(report["GET"].statuses["503"], 1);
        assert_eq!(report["POST"].transport_errors, 1);
    }
}
