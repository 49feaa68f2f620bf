//! What the loadgen watches beside its requests: the server processes' memory, every license's
//! pending events (for the apply rate and the progress bar) and the request rate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Client;
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

/// What the sampler saw: the largest sampled VmRSS per process, and pending events over time.
struct Samples {
    max_rss: BTreeMap<String, u64>,
    pending: Vec<(Instant, i64)>,
}

/// Memory per watched process, and the sampled pending-event counts.
pub(super) struct Watched {
    pub(super) memory: BTreeMap<String, MemoryReport>,
    pub(super) pending: Vec<(Instant, i64)>,
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
                let mut samples: Vec<(Instant, i64)> = Vec::new();
                loop {
                    for (name, pid) in &pids {
                        if let Some(kb) = rss_kb(*pid, "VmRSS:") {
                            let entry = max_rss.entry(name.clone()).or_default();
                            *entry = (*entry).max(kb);
                        }
                    }
                    let mut pending = 0i64;
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
                        pending += sync
                            .and_then(|s| s["pending_events"].as_i64())
                            .unwrap_or_default();
                    }
                    samples.push((Instant::now(), pending));
                    bar.set_message(format!("pending events {pending}"));
                    bar.tick();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stopped.changed() => break,
                    }
                }
                Samples {
                    max_rss,
                    pending: samples,
                }
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
            pending: samples.pending,
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

/// The best one-second-or-longer window of applied events (acknowledged writes are counted
/// at sampling time only approximately, so this is the drain rate after the writes stop plus
/// the pending-count drops during them).
pub(super) fn peak_apply_rate(samples: &[(Instant, i64)]) -> f64 {
    let mut peak = 0.0f64;
    for (i, (t0, p0)) in samples.iter().enumerate() {
        for (t1, p1) in &samples[i + 1..] {
            let secs = t1.duration_since(*t0).as_secs_f64();
            if secs >= 1.0 {
                // Pending falling while no writes arrive is pure apply rate.
                if p1 < p0 {
                    peak = peak.max((p0 - p1) as f64 / secs);
                }
                break;
            }
        }
    }
    peak
}
