//! What the loadgen watches beside its requests: the server processes' memory, every license's
//! pending events (for the apply rate and the progress bar) and the request rate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Client;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::MemoryReport;

/// The background tasks, from the licenses' creation until convergence.
pub(super) struct Monitor {
    stop: watch::Sender<bool>,
    sampler: JoinHandle<Samples>,
    ticker: JoinHandle<()>,
    pids: Vec<(String, u32)>,
}

/// What the sampler saw: the largest sampled VmRSS per process, and the samples.
struct Samples {
    max_rss: BTreeMap<String, u64>,
    samples: Vec<Sample>,
}

/// One look at the licenses and the watched processes.
pub(super) struct Sample {
    pub(super) at: Instant,
    /// Events not yet applied, over every license.
    pub(super) pending: i64,
    /// Events applied so far, over every license.
    pub(super) applied: i64,
    /// CPU time (user + system, clock ticks) of each watched process.
    pub(super) cpu_ticks: BTreeMap<String, u64>,
}

/// Memory per watched process, and the samples.
pub(super) struct Watched {
    pub(super) memory: BTreeMap<String, MemoryReport>,
    pub(super) samples: Vec<Sample>,
}

/// What the worker did from a moment until licensing had drained after another.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub secs: f64,
    pub events_applied: i64,
    pub events_per_sec: f64,
    /// CPU µs per watched process over the window.
    pub cpu_us: BTreeMap<String, f64>,
}

/// `--pid NAME=PID` arguments.
pub(super) fn parse_pids(pids: &[String]) -> Result<Vec<(String, u32)>, String> {
    pids.iter()
        .map(|p| {
            let (name, pid) = p.split_once('=').unwrap_or((p.as_str(), p.as_str()));
            pid.parse()
                .map(|pid| (name.to_owned(), pid))
                .map_err(|_| format!("--pid {p}: expected NAME=PID"))
        })
        .collect()
}

impl Monitor {
    /// Starts sampling memory and the licenses' pending events every 250 ms, and the progress
    /// bar's request rate every second.
    pub(super) fn start(
        client: Client,
        url: String,
        token: String,
        license_ids: Vec<String>,
        pids: Vec<(String, u32)>,
        bar: &ProgressBar,
        quiet: bool,
    ) -> Result<Monitor, String> {
        let (stop, mut stopped) = watch::channel(false);
        let sampler = {
            let pids = pids.clone();
            let bar = bar.clone();
            async move {
                let mut max_rss: BTreeMap<String, u64> = BTreeMap::new();
                let mut samples: Vec<Sample> = Vec::new();
                loop {
                    let mut cpu_ticks = BTreeMap::new();
                    for (name, pid) in &pids {
                        if let Some(kb) = rss_kb(*pid, "VmRSS:") {
                            let entry = max_rss.entry(name.clone()).or_default();
                            *entry = (*entry).max(kb);
                        }
                        if let Some(ticks) = cpu_ticks_of(*pid) {
                            cpu_ticks.insert(name.clone(), ticks);
                        }
                    }
                    let (mut pending, mut applied) = (0i64, 0i64);
                    for id in &license_ids {
                        let sync: Option<Value> = async {
                            client
                                .get(format!("{url}/api/v1/licenses/{id}/sync"))
                                .bearer_auth(&token)
                                .send()
                                .await
                                .ok()?
                                .json()
                                .await
                                .ok()
                        }
                        .await;
                        let count = |field: &str| {
                            sync.as_ref()
                                .and_then(|s| s[field].as_i64())
                                .unwrap_or_default()
                        };
                        pending += count("pending_events");
                        applied += count("applied_events");
                    }
                    samples.push(Sample {
                        at: Instant::now(),
                        pending,
                        applied,
                        cpu_ticks,
                    });
                    bar.set_message(format!("pending events {pending}"));
                    bar.tick();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stopped.changed() => break,
                    }
                }
                Samples { max_rss, samples }
            }
        };
        let sampler = tokio::spawn(sampler);
        // Rate and error counts for the progress bar.
        let ticker = {
            let bar = bar.clone();
            async move {
                let mut last = bar.position();
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = bar.position();
                    bar.set_prefix(format!("{} req/s", now - last));
                    last = now;
                }
            }
        };
        let ticker = tokio::spawn(ticker);
        if !quiet {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {pos} requests, {prefix}, {msg}",
                )
                .map_err(|e| e.to_string())?,
            );
        }
        Ok(Monitor {
            stop,
            sampler,
            ticker,
            pids,
        })
    }

    /// Stops both tasks; the peak memory of each process (VmHWM, read now) and the samples.
    pub(super) async fn stop(self) -> Result<Watched, String> {
        let _ = self.stop.send(true);
        self.ticker.abort();
        let samples = self.sampler.await.map_err(|e| e.to_string())?;
        let memory = self
            .pids
            .iter()
            .map(|(name, pid)| {
                (
                    name.clone(),
                    MemoryReport {
                        pid: *pid,
                        peak_rss_mb: rss_kb(*pid, "VmHWM:").unwrap_or_default() as f64 / 1024.0,
                        max_sampled_rss_mb: samples.max_rss.get(name).copied().unwrap_or_default()
                            as f64
                            / 1024.0,
                    },
                )
            })
            .collect();
        Ok(Watched {
            memory,
            samples: samples.samples,
        })
    }
}

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The best one-second-or-longer window of applied events.
pub(super) fn peak_apply_rate(samples: &[Sample]) -> f64 {
    let mut peak = 0.0f64;
    for (i, first) in samples.iter().enumerate() {
        if let Some(later) = samples[i + 1..]
            .iter()
            .find(|s| s.at.duration_since(first.at).as_secs_f64() >= 1.0)
        {
            let secs = later.at.duration_since(first.at).as_secs_f64();
            peak = peak.max((later.applied - first.applied) as f64 / secs);
        }
    }
    peak
}

/// Events applied per second over the sampling intervals in which any were applied.
pub(super) fn mean_apply_rate(samples: &[Sample]) -> f64 {
    let (applied, secs) = samples
        .windows(2)
        .filter(|w| w[1].applied > w[0].applied)
        .fold((0, 0.0), |(applied, secs), w| {
            (
                applied + w[1].applied - w[0].applied,
                secs + w[1].at.duration_since(w[0].at).as_secs_f64(),
            )
        });
    if secs > 0.0 {
        applied as f64 / secs
    } else {
        0.0
    }
}

/// From the last sample before `from` to the first one after `after` that saw nothing
/// pending: what was applied and what each process spent.
pub(super) fn window(samples: &[Sample], from: Instant, after: Instant) -> Option<Window> {
    let start = samples.iter().rev().find(|s| s.at <= from)?;
    let end = samples.iter().find(|s| s.at >= after && s.pending == 0)?;
    let secs = end.at.duration_since(start.at).as_secs_f64();
    let events_applied = end.applied - start.applied;
    let cpu_us = end
        .cpu_ticks
        .iter()
        .map(|(name, ticks)| {
            let spent = ticks.saturating_sub(start.cpu_ticks.get(name).copied().unwrap_or(*ticks));
            (name.clone(), spent as f64 * 1e6 / CLOCK_TICKS_PER_SEC)
        })
        .collect();
    Some(Window {
        secs,
        events_applied,
        events_per_sec: if secs > 0.0 {
            events_applied as f64 / secs
        } else {
            0.0
        },
        cpu_us,
    })
}

/// Linux's `USER_HZ`, the unit of `/proc/PID/stat`'s CPU times (100 on every architecture
/// Seatflow runs on).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
