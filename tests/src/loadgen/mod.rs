//! `seatflow-loadgen`: simulates tenants' provisioning jobs against a running Seatflow, in the
//! request shapes of one identity provider (`--idp`, Microsoft Entra by default:
//! `docs/providers/entra.md`; the others per `docs/providers/`), and reports throughput,
//! latency, time to licensing convergence, worker apply rate, server memory, a seat check and
//! the write-ledger verification.
//!
//! `run` calls the phases in order (`phases.rs`); each provider's requests for a step of the
//! plan are in `flows.rs`, their wire shapes in `idp.rs`, the measured calls in `runner.rs`
//! and the end-of-run checks in `verify.rs`.

mod flows;
pub mod idp;
pub mod ledger;
mod monitor;
mod phases;
pub mod plan;
mod runner;
pub mod stats;
mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

pub use idp::Idp;
use phases::{Convergence, PhaseLog, Run};
use plan::Spec;
use runner::Runner;
use stats::KindReport;

/// The knobs (also the command line of `seatflow-loadgen`).
#[derive(Debug, Clone, clap::Parser, Serialize)]
#[command(
    name = "seatflow-loadgen",
    about = "Provisioning burst simulator for Seatflow (Entra, Okta and other identity providers)"
)]
pub struct Options {
    /// The identity provider whose SCIM client the simulated jobs play.
    #[arg(long, value_enum, default_value_t = Idp::Entra)]
    pub idp: Idp,
    /// Base URL of the running Seatflow API (127.0.0.1 only in this project's benchmarks).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Operator token (creates licenses, selects licensed groups, reads sync health and seats).
    #[arg(long, env = "SEATFLOW_ADMIN_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    pub admin_token: String,
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Users per tenant.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Groups per tenant.
    #[arg(long, default_value_t = 2)]
    pub groups: usize,
    #[arg(long, default_value_t = 50)]
    pub members_per_group: usize,
    /// Members per add PATCH.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Seats per license (default: 80% of the users).
    #[arg(long)]
    pub seats: Option<i64>,
    /// Licensed groups per tenant, the first ones (default: all).
    #[arg(long)]
    pub licensed_groups: Option<usize>,
    /// Requests in flight at once (connections).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Target request rate (req/s) over all tenants; unset: as fast as the concurrency allows.
    #[arg(long)]
    pub rate: Option<f64>,
    /// With --rate: send on schedule whatever is in flight (latency counted from the scheduled
    /// time, so a slow server cannot hide its queueing).
    #[arg(long, requires = "rate")]
    pub open_loop: bool,
    /// Incremental cycles after the initial one.
    #[arg(long, default_value_t = 1)]
    pub incremental_cycles: u64,
    /// Keep running incremental cycles until this many seconds have passed since the start.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Changes per tenant per incremental cycle (default: 10% of the users).
    #[arg(long)]
    pub changes_per_cycle: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the filter-by-userName query before each user POST (measures POST /Users alone).
    #[arg(long)]
    pub no_user_filter: bool,
    /// After the initial cycle: per group, this many remove+re-add PATCHes of `--batch`
    /// members at the group's full size (latency of a member PATCH vs group size).
    #[arg(long, default_value_t = 0)]
    pub probe_patches: usize,
    /// Seconds of `GET /Users?filter=userName eq …` lookups on existing users.
    #[arg(long, default_value_t = 0.0)]
    pub lookup_secs: f64,
    /// Seconds of entitlement checks (`GET /api/v1/entitlements?email=`).
    #[arg(long, default_value_t = 0.0)]
    pub entitlement_secs: f64,
    /// Server processes to watch for memory, as NAME=PID (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<String>,
    /// Write the machine-readable report to this file (`-` for stdout).
    #[arg(long)]
    pub json: Option<String>,
    /// Give up waiting for licensing to converge after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    pub converge_timeout: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Ride out outages as Entra does: a request that gets no answer, a 429 or a 502/503/504
    /// is tried again with backoff (honouring `Retry-After`) instead of counting as a failure;
    /// a 500 still fails. Without it every 5xx and every request without an answer fails.
    #[arg(long)]
    pub retry_outages: bool,
    /// With --retry-outages: give a request up after this many seconds of outage.
    #[arg(long, default_value_t = 120.0)]
    pub outage_budget: f64,
    /// Acknowledged writes as they happen, for a caller that runs the loadgen alongside
    /// something else (e.g. a chaos test waiting for the burst to be under way).
    #[arg(skip)]
    #[serde(skip)]
    pub progress: Progress,
}

/// A live count of acknowledged SCIM writes, shared with the caller.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn writes_acked(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Options {
    pub fn spec(&self) -> Spec {
        Spec {
            seed: self.seed,
            tenants: self.tenants,
            users: self.users,
            groups: self.groups,
            members_per_group: self.members_per_group,
            batch: self.batch.max(1),
            seats: self.seats.unwrap_or((self.users as i64 * 4) / 5),
            licensed_groups: self.licensed_groups.unwrap_or(self.groups).min(self.groups),
            changes_per_cycle: self.changes_per_cycle.unwrap_or(self.users / 10),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub secs: f64,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatCheck {
    pub license_id: String,
    pub seats: i64,
    pub entitled: usize,
    pub expected_assigned: usize,
    pub seats_used: i64,
    pub assigned_listed: usize,
    pub blocked_listed: usize,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// The outages the requests met (with `--retry-outages`).
#[derive(Debug, Clone, Serialize)]
pub struct OutageReport {
    /// Attempts that met an outage and were tried again.
    pub retries: u64,
    /// Attempts that met an outage, by status or kind of transport error.
    pub causes: BTreeMap<String, u64>,
    /// From the first to the last attempt that met an outage.
    pub window_secs: f64,
    /// Requests given up after `--outage-budget` seconds of outage (failures).
    pub gave_up: u64,
    /// Writes whose earlier attempt's fate was unknown and whose retry found them applied: a
    /// 409 on a create (the existing resource, found by filter, is the acknowledgement) or a
    /// 404 on a delete.
    pub resolved_unknown: u64,
    /// 429 and 503 answers without `Retry-After` or without a SCIM error body.
    pub bad_answers: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub memberships_changed: u64,
    pub window: monitor::Window,
    /// CPU µs per changed membership, per watched process.
    pub cpu_us_per_change: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub pid: u32,
    /// VmHWM at the end (the kernel's peak resident set of the process's life).
    pub peak_rss_mb: f64,
    /// Largest VmRSS sampled during the run.
    pub max_sampled_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The profile that ran (`--idp`).
    pub idp: Idp,
    pub spec: Spec,
    pub options: Options,
    pub elapsed_secs: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    /// SCIM writes acknowledged with 2xx, and their rate over the write phases.
    pub writes_acked: u64,
    pub writes_per_sec: f64,
    /// SCIM writes that ended without an acknowledgement (an error answer, or given up).
    pub writes_unacknowledged: u64,
    pub failures: u64,
    pub outages: OutageReport,
    pub statuses: BTreeMap<String, u64>,
    pub kinds: BTreeMap<String, KindReport>,
    pub phases: Vec<PhaseReport>,
    /// From the initial cycle's last acknowledged write until every license had no pending
    /// event (measured before the probes, reads and incremental cycles start).
    pub initial_convergence_ms: Option<f64>,
    pub converged: bool,
    /// From the last acknowledged write until every license had no pending event.
    pub convergence_ms: Option<f64>,
    /// Events applied per second by the licensing worker: while it was applying, and the best
    /// second.
    pub apply_rate_mean: f64,
    pub apply_rate_peak: f64,
    /// The member PATCH probes until licensing drained after them: events applied per second
    /// and CPU per watched process, and the memberships the probes changed.
    pub probes: Option<ProbeReport>,
    pub memory: BTreeMap<String, MemoryReport>,
    pub seat_checks: Vec<SeatCheck>,
    pub ledger_writes: u64,
    pub ledger_problems: Vec<String>,
    pub ok: bool,
}

/// Runs the whole simulation and returns its report.
pub async fn run(options: Options) -> Result<Report, String> {
    let spec = options.spec();
    let runner = Runner::new(options.clone(), spec.tenants)?;
    let pids = monitor::parse_pids(&options.pids)?;
    let tenants = phases::create_licenses(&runner, &spec).await?;
    let monitor = monitor::Monitor::start(
        runner.client.clone(),
        options.url.clone(),
        options.admin_token.clone(),
        tenants.iter().map(|t| t.license_id.clone()).collect(),
        pids,
        &runner.bar,
        options.quiet,
    )?;
    let mut run = Run {
        runner,
        plans: plan::initial(&spec),
        spec,
        tenants,
        licensed: Vec::new(),
        log: PhaseLog::default(),
        probe_window: None,
    };
    run.test_connection().await;
    run.initial_users().await;
    run.initial_groups().await;
    run.license_groups().await?;
    run.member_adds().await;
    // Measured before the probes, reads and incremental cycles start.
    let initial_convergence_ms = run.initial_convergence().await;
    run.probes().await;
    run.lookups().await;
    run.entitlement_checks().await;
    run.incremental_cycles().await;
    let convergence = run.final_convergence().await;
    let watched = monitor.stop().await?;
    let seat_checks =
        verify::seat_check(&run.runner, &run.tenants, &run.licensed, run.spec.seats).await;
    let (ledger_writes, ledger_problems) = verify::ledgers(&run.runner, &run.tenants).await;
    run.runner.bar.finish_and_clear();
    Ok(report(
        run,
        Verdicts {
            initial_convergence_ms,
            convergence,
            watched,
            seat_checks,
            ledger_writes,
            ledger_problems,
        },
    ))
}

/// What the run found beside its request statistics.
struct Verdicts {
    initial_convergence_ms: Option<f64>,
    convergence: Convergence,
    watched: monitor::Watched,
    seat_checks: Vec<SeatCheck>,
    ledger_writes: u64,
    ledger_problems: Vec<String>,
}

/// The report of a finished run.
fn report(run: Run, verdicts: Verdicts) -> Report {
    let Run {
        runner, spec, log, ..
    } = run;
    let options = runner.options.clone();
    let samples = &verdicts.watched.samples;
    let apply_rate_mean = monitor::mean_apply_rate(samples);
    let apply_rate_peak = monitor::peak_apply_rate(samples);
    let probes = run.probe_window.and_then(|(from, until, changed)| {
        let window = monitor::window(samples, from, until)?;
        let cpu_us_per_change = window
            .cpu_us
            .iter()
            .map(|(name, us)| (name.clone(), us / changed.max(1) as f64))
            .collect();
        Some(ProbeReport {
            memberships_changed: changed,
            window,
            cpu_us_per_change,
        })
    });

    let stats = runner.stats.lock().expect("stats");
    let kinds = stats.report();
    let mut statuses = BTreeMap::new();
    for kind in kinds.values() {
        for (status, n) in &kind.statuses {
            *statuses.entry(status.clone()).or_default() += n;
        }
    }
    let elapsed = runner.start.elapsed().as_secs_f64();
    let writes_acked = options.progress.writes_acked();
    let writes_unacknowledged = runner
        .writes_sent
        .load(Ordering::Relaxed)
        .saturating_sub(writes_acked);
    let failures = stats.failures();
    let outages = OutageReport {
        retries: stats.retries(),
        causes: stats.outage_causes(),
        window_secs: stats.outage_window().as_secs_f64(),
        gave_up: stats.gave_up(),
        resolved_unknown: runner.resolved_unknown.load(Ordering::Relaxed),
        bad_answers: runner.bad_answers.load(Ordering::Relaxed),
    };
    let ok = failures == 0
        && writes_unacknowledged == 0
        && outages.bad_answers == 0
        && verdicts.convergence.converged
        && verdicts.seat_checks.iter().all(|s| s.ok)
        && verdicts.ledger_problems.is_empty();
    Report {
        idp: options.idp,
        spec,
        options,
        elapsed_secs: elapsed,
        requests: stats.total(),
        requests_per_sec: stats.total() as f64 / elapsed,
        writes_acked,
        writes_per_sec: if log.write_secs > 0.0 {
            writes_acked as f64 / log.write_secs
        } else {
            0.0
        },
        writes_unacknowledged,
        failures,
        outages,
        statuses,
        kinds,
        phases: log.phases,
        initial_convergence_ms: verdicts.initial_convergence_ms,
        converged: verdicts.convergence.converged,
        convergence_ms: verdicts.convergence.ms,
        apply_rate_mean,
        apply_rate_peak,
        probes,
        memory: verdicts.watched.memory,
        seat_checks: verdicts.seat_checks,
        ledger_writes: verdicts.ledger_writes,
        ledger_problems: verdicts.ledger_problems,
        ok,
    }
}

/// The human-readable summary.
pub fn summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "profile: {}", report.idp.name());
    let _ = writeln!(
        out,
        "{} requests in {:.1} s ({:.0} req/s); {} SCIM writes acknowledged ({:.0}/s over the write phases); failures (5xx or no answer, apart from retried outages): {}",
        report.requests,
        report.elapsed_secs,
        report.requests_per_sec,
        report.writes_acked,
        report.writes_per_sec,
        report.failures
    );
    if report.writes_unacknowledged > 0 {
        let _ = writeln!(
            out,
            "{} SCIM writes were NOT acknowledged",
            report.writes_unacknowledged
        );
    }
    let o = &report.outages;
    if o.retries + o.gave_up + o.bad_answers > 0 {
        let _ = writeln!(
            out,
            "outages: {} attempts retried over {:.1} s ({:?}); {} requests given up; {} writes found applied after an unknown outcome; {} 429/503 answers without Retry-After or a SCIM error",
            o.retries, o.window_secs, o.causes, o.gave_up, o.resolved_unknown, o.bad_answers
        );
    }
    let _ = writeln!(out, "statuses: {:?}", report.statuses);
    let _ = writeln!(
        out,
        "{:<58} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "kind", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (kind, k) in &report.kinds {
        let _ = writeln!(
            out,
            "{kind:<58} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
            k.count, k.per_sec, k.p50_ms, k.p95_ms, k.p99_ms, k.max_ms
        );
    }
    for phase in &report.phases {
        let _ = writeln!(
            out,
            "phase {:<30} {:>8.2} s {:>8} requests",
            phase.name, phase.secs, phase.requests
        );
    }
    if let Some(ms) = report.initial_convergence_ms {
        let _ = writeln!(
            out,
            "initial cycle: licensing converged {ms:.0} ms after its last acknowledged write"
        );
    }
    match report.convergence_ms {
        Some(ms) => {
            let _ = writeln!(
                out,
                "licensing converged {ms:.0} ms after the last acknowledged write"
            );
        }
        None => {
            let _ = writeln!(out, "licensing did NOT converge");
        }
    }
    let _ = writeln!(
        out,
        "worker apply rate: {:.0} events/s while applying, {:.0} events/s best second",
        report.apply_rate_mean, report.apply_rate_peak
    );
    if let Some(p) = &report.probes {
        let _ = writeln!(
            out,
            "probes: {} memberships changed; until drained {:.2} s, {} events applied ({:.0}/s); CPU µs per changed membership: {}",
            p.memberships_changed,
            p.window.secs,
            p.window.events_applied,
            p.window.events_per_sec,
            p.cpu_us_per_change
                .iter()
                .map(|(name, us)| format!("{name} {us:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (name, m) in &report.memory {
        let _ = writeln!(
            out,
            "memory {name} (pid {}): peak RSS {:.1} MB (max sampled {:.1} MB)",
            m.pid, m.peak_rss_mb, m.max_sampled_rss_mb
        );
    }
    for s in &report.seat_checks {
        let _ = writeln!(
            out,
            "seats {}: {} seats, {} entitled, expected {} assigned; seats_used {}, listed {} assigned + {} waiting: {}",
            s.license_id,
            s.seats,
            s.entitled,
            s.expected_assigned,
            s.seats_used,
            s.assigned_listed,
            s.blocked_listed,
            if s.ok {
                "OK".to_owned()
            } else {
                s.problems.join("; ")
            }
        );
    }
    let _ = writeln!(
        out,
        "ledger: {} acknowledged writes, {}",
        report.ledger_writes,
        if report.ledger_problems.is_empty() {
            "all visible".to_owned()
        } else {
            format!(
                "{} problems: {:?}",
                report.ledger_problems.len(),
                report.ledger_problems.iter().take(5).collect::<Vec<_>>()
            )
        }
    );
    let _ = writeln!(out, "result: {}", if report.ok { "OK" } else { "FAILED" });
    out
}
