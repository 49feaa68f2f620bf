//! Per-request-kind latency histograms and status counts, and the outages the requests met.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

pub struct KindStats {
    histogram: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    retries: u64,
    failures: u64,
    first_start: Instant,
    last_end: Instant,
}

/// The attempts that met an outage and were tried again (`--retry-outages`).
#[derive(Default)]
struct Outages {
    causes: BTreeMap<String, u64>,
    first: Option<Instant>,
    last: Option<Instant>,
    gave_up: u64,
}

#[derive(Default)]
pub struct Stats {
    kinds: BTreeMap<String, KindStats>,
    outages: Outages,
}

/// Why an attempt got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The connection could not be opened: the request was not sent.
    Refused,
    /// No answer within the client's timeout.
    Timeout,
    /// The connection broke after the request may have been sent.
    Lost,
}

impl NoAnswer {
    pub fn name(self) -> &'static str {
        match self {
            NoAnswer::Refused => "connection refused",
            NoAnswer::Timeout => "timeout",
            NoAnswer::Lost => "connection lost",
        }
    }
}

/// What became of one HTTP attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Its answer (or lack of one) is the request's outcome: a 5xx or no answer is a failure.
    Final,
    /// It met an outage and is tried again; not a failure (yet).
    Retried,
    /// It met an outage after the outage budget was spent: a failure.
    GaveUp,
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
    /// Attempts retried after an outage (also counted in `statuses` or `transport_errors`).
    pub retries: u64,
}

impl Stats {
    /// One attempt of `kind` that started at `start` (its intended start in open-loop runs),
    /// answered with a status or not at all.
    pub fn record(
        &mut self,
        kind: &str,
        start: Instant,
        answer: Result<u16, NoAnswer>,
        fate: Fate,
    ) {
        let now = Instant::now();
        let entry = self
            .kinds
            .entry(kind.to_owned())
            .or_insert_with(|| KindStats {
                histogram: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"),
                statuses: BTreeMap::new(),
                transport_errors: 0,
                retries: 0,
                failures: 0,
                first_start: start,
                last_end: now,
            });
        let micros = now.duration_since(start).as_micros().max(1) as u64;
        entry.histogram.saturating_record(micros);
        match answer {
            Ok(status) => *entry.statuses.entry(status).or_default() += 1,
            Err(_) => entry.transport_errors += 1,
        }
        entry.first_start = entry.first_start.min(start);
        entry.last_end = entry.last_end.max(now);
        match fate {
            Fate::Final => {
                if answer.is_err() || answer.is_ok_and(|s| s >= 500) {
                    entry.failures += 1;
                }
                return;
            }
            Fate::Retried => entry.retries += 1,
            Fate::GaveUp => {
                entry.failures += 1;
                self.outages.gave_up += 1;
            }
        }
        let cause = match answer {
            Ok(status) => status.to_string(),
            Err(no_answer) => no_answer.name().to_owned(),
        };
        *self.outages.causes.entry(cause).or_default() += 1;
        self.outages.first.get_or_insert(now);
        self.outages.last = Some(now);
    }

    pub fn total(&self) -> u64 {
        self.kinds.values().map(|k| k.histogram.len()).sum()
    }

    /// Failures: 5xx answers and requests that got no answer, except attempts retried after an
    /// outage, and requests given up after the outage budget.
    pub fn failures(&self) -> u64 {
        self.kinds.values().map(|k| k.failures).sum()
    }

    pub fn retries(&self) -> u64 {
        self.kinds.values().map(|k| k.retries).sum()
    }

    /// Attempts that met an outage (retried or given up), by status or kind of transport error.
    pub fn outage_causes(&self) -> BTreeMap<String, u64> {
        self.outages.causes.clone()
    }

    /// From the first to the last attempt that met an outage.
    pub fn outage_window(&self) -> Duration {
        match (self.outages.first, self.outages.last) {
            (Some(first), Some(last)) => last.duration_since(first),
            _ => Duration::ZERO,
        }
    }

    pub fn gave_up(&self) -> u64 {
        self.outages.gave_up
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
                        retries: k.retries,
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
        stats.record("GET", start, Ok(200), Fate::Final);
        stats.record("GET", start, Ok(503), Fate::Final);
        stats.record("POST", start, Err(NoAnswer::Lost), Fate::Final);
        assert_eq!(stats.total(), 3);
        assert_eq!(stats.failures(), 2);
        let report = stats.report();
        assert_eq!(report["GET"].count, 2);
        assert_eq!(report["GET"].statuses["503"], 1);
        assert_eq!(report["POST"].transport_errors, 1);
    }

    #[test]
    fn retried_outages_are_counted_apart_from_failures() {
        let mut stats = Stats::default();
        let start = Instant::now();
        stats.record("POST", start, Err(NoAnswer::Refused), Fate::Retried);
        stats.record("POST", start, Ok(503), Fate::Retried);
        stats.record("POST", start, Ok(201), Fate::Final);
        stats.record("PATCH", start, Ok(503), Fate::GaveUp);
        stats.record("PATCH", start, Ok(500), Fate::Final);
        assert_eq!(stats.total(), 5);
        assert_eq!(stats.retries(), 2);
        assert_eq!(stats.failures(), 2, "the give-up and the 500");
        assert_eq!(stats.gave_up(), 1);
        assert_eq!(stats.outage_causes()["503"], 2);
        assert_eq!(stats.outage_causes()["connection refused"], 1);
        let report = stats.report();
        assert_eq!(report["POST"].statuses["503"], 1, "every 5xx seen is shown");
        assert_eq!(report["POST"].transport_errors, 1);
        assert_eq!(report["POST"].retries, 2);
    }
}
