//! `seatflow-loadgen`: simulates tenants' Microsoft Entra provisioning jobs against a running
//! Seatflow (request shapes of `../shared/ENTRA.md` §2–§3) and reports throughput, latency,
//! time to licensing convergence, worker apply rate, server memory, a seat check and the
//! write-ledger verification.

pub mod ledger;
pub mod plan;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, Method, header};
use serde::Serialize;
use serde_json::{Value, json};

use ledger::{Observed, TenantLedger, Write};
use plan::{Change, Dialect, PlanState, Spec, TenantPlan};
use stats::{Fate, KindReport, NoAnswer, Stats};

/// The knobs (also the command line of `seatflow-loadgen`).
#[derive(Debug, Clone, clap::Parser, Serialize)]
#[command(
    name = "seatflow-loadgen",
    about = "Entra provisioning burst simulator for Seatflow"
)]
pub struct Options {
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
pub struct MemoryReport {
    pub pid: u32,
    /// VmHWM at the end (the kernel's peak resident set of the process's life).
    pub peak_rss_mb: f64,
    /// Largest VmRSS sampled during the run.
    pub max_sampled_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
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
    /// Events applied per second by the licensing worker: over the run, and the best second.
    pub apply_rate_mean: f64,
    pub apply_rate_peak: f64,
    pub memory: BTreeMap<String, MemoryReport>,
    pub seat_checks: Vec<SeatCheck>,
    pub ledger_writes: u64,
    pub ledger_problems: Vec<String>,
    pub ok: bool,
}

/// One tenant as the simulated Entra job knows it: its license and the server's ids.
struct Tenant {
    license_id: String,
    tenant_url: String,
    token: String,
    users: Vec<Option<String>>,
    groups: Vec<Option<String>>,
}

struct Runner {
    client: Client,
    options: Options,
    stats: Mutex<Stats>,
    ledgers: Vec<Mutex<TenantLedger>>,
    start: Instant,
    sent: AtomicU64,
    writes_sent: AtomicU64,
    resolved_unknown: AtomicU64,
    bad_answers: AtomicU64,
    last_ack: Mutex<Option<Instant>>,
    bar: ProgressBar,
}

/// A SCIM or admin request the loadgen measures.
struct Call<'a> {
    kind: String,
    method: Method,
    url: String,
    token: &'a str,
    body: Option<String>,
    write: bool,
}

/// One attempt's answer.
struct Reply {
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
}

/// The final answer to a call. `uncertain`: an earlier attempt of this write may have been
/// applied (its answer was lost, or a 5xx), so a 409 on a create or a 404 on a delete may be
/// that attempt's doing.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    uncertain: bool,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An outage worth retrying, and whether the attempt that met it may have been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    NotApplied,
    MaybeApplied,
}

fn outage(attempt: &Result<Reply, NoAnswer>) -> Option<Outage> {
    match attempt {
        Err(NoAnswer::Refused) => Some(Outage::NotApplied),
        Err(NoAnswer::Timeout | NoAnswer::Lost) => Some(Outage::MaybeApplied),
        // Rate limiting happens before any work.
        Ok(reply) if reply.status == 429 => Some(Outage::NotApplied),
        // A 503 may come from the request timeout while the work still commits.
        Ok(reply) if (502..=504).contains(&reply.status) => Some(Outage::MaybeApplied),
        Ok(_) => None,
    }
}

/// A 429 or 503 must say when to come back, in the SCIM error format.
fn well_formed_refusal(reply: &Reply) -> bool {
    reply.retry_after.is_some()
        && reply.body["status"].as_str().and_then(|s| s.parse().ok()) == Some(reply.status)
        && reply.body["schemas"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == SCIM_ERROR))
}

const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

impl Runner {
    /// The intended start of the next request under `--rate` (now otherwise).
    async fn pace(&self) -> Instant {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        match self.options.rate {
            Some(rate) if rate > 0.0 => {
                let at = self.start + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(at.into()).await;
                if self.options.open_loop {
                    at
                } else {
                    Instant::now()
                }
            }
            _ => Instant::now(),
        }
    }

    /// Sends a request; with `--retry-outages`, again after each outage until it gets a real
    /// answer or the outage budget is spent (None: no answer).
    async fn call(&self, call: Call<'_>) -> Option<Answer> {
        if call.write {
            self.writes_sent.fetch_add(1, Ordering::Relaxed);
        }
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_jitter()
            .without_max_times()
            .build();
        let budget = Duration::from_secs_f64(self.options.outage_budget.max(0.0));
        let mut outage_since: Option<Instant> = None;
        let mut uncertain = false;
        loop {
            let start = self.pace().await;
            let attempt = self.attempt(&call).await;
            if let Ok(reply) = &attempt
                && matches!(reply.status, 429 | 503)
                && !well_formed_refusal(reply)
            {
                self.bad_answers.fetch_add(1, Ordering::Relaxed);
            }
            let met = outage(&attempt).filter(|_| self.options.retry_outages);
            let fate = match met {
                None => Fate::Final,
                Some(_) if outage_since.get_or_insert(start).elapsed() > budget => Fate::GaveUp,
                Some(_) => Fate::Retried,
            };
            let status = attempt.as_ref().map(|r| r.status).map_err(|e| *e);
            self.stats
                .lock()
                .expect("stats")
                .record(&call.kind, start, status, fate);
            self.bar.inc(1);
            match (fate, attempt) {
                (Fate::Final, Ok(reply)) => {
                    let answer = Answer {
                        status: reply.status,
                        body: reply.body,
                        uncertain,
                    };
                    if call.write && answer.ok() {
                        self.ack();
                    }
                    return Some(answer);
                }
                (Fate::Final | Fate::GaveUp, _) => return None,
                (Fate::Retried, attempt) => {
                    uncertain |= call.write && met == Some(Outage::MaybeApplied);
                    let asked = attempt.ok().and_then(|r| r.retry_after);
                    let delay = delays.next().unwrap_or_default();
                    tokio::time::sleep(asked.map_or(delay, |a| a.max(delay))).await;
                }
            }
        }
    }

    /// One HTTP attempt of a call.
    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, NoAnswer> {
        let no_answer = |e: reqwest::Error| {
            if e.is_connect() {
                NoAnswer::Refused
            } else if e.is_timeout() {
                NoAnswer::Timeout
            } else {
                NoAnswer::Lost
            }
        };
        let mut request = self
            .client
            .request(call.method.clone(), &call.url)
            .bearer_auth(call.token);
        if let Some(body) = &call.body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(no_answer)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(no_answer)?;
        Ok(Reply {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// A write acknowledged (or found applied after an unknown outcome).
    fn ack(&self) {
        self.options.progress.0.fetch_add(1, Ordering::Relaxed);
        *self.last_ack.lock().expect("last ack") = Some(Instant::now());
    }

    /// A write whose earlier attempt's fate was unknown, found applied by its retry.
    fn resolved(&self) {
        self.resolved_unknown.fetch_add(1, Ordering::Relaxed);
        self.ack();
    }

    /// After a create answered 409 when an earlier attempt's fate was unknown: the resource
    /// that `filter_path` (e.g. `/Users?filter=…`) finds is that attempt's, and its id the
    /// acknowledgement (what Entra does on a 409: look the resource up and take it over).
    async fn adopt(&self, tenant: &Tenant, kind: &str, filter_path: &str) -> Option<String> {
        let answer = self
            .call(Call {
                kind: format!("{kind} (after a 409)"),
                method: Method::GET,
                url: format!("{}{filter_path}", tenant.tenant_url),
                token: &tenant.token,
                body: None,
                write: false,
            })
            .await?;
        let id = answer.body["Resources"][0]["id"].as_str()?.to_owned();
        self.resolved();
        Some(id)
    }

    fn record(&self, tenant: usize, write: Write) {
        self.ledgers[tenant].lock().expect("ledger").record(write);
    }

    fn concurrency(&self) -> usize {
        if self.options.open_loop {
            4096
        } else {
            self.options.concurrency.max(1)
        }
    }

    /// An unmeasured admin GET (polling, verification).
    async fn admin_get(&self, path: &str) -> Option<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.options.url))
            .bearer_auth(&self.options.admin_token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// An unmeasured SCIM GET (verification).
    async fn scim_get(&self, tenant: &Tenant, path: &str) -> Option<Value> {
        let response = self
            .client
            .get(format!("{}{path}", tenant.tenant_url))
            .bearer_auth(&tenant.token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

fn eq_filter(attribute: &str, value: &str) -> String {
    let filter = format!("{attribute} eq \"{value}\"");
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch_body(operations: Value) -> String {
    json!({ "schemas": [PATCH_OP], "Operations": operations }).to_string()
}

fn user_body(user: &plan::UserSpec) -> String {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": user.external_id,
        "userName": user.user_name,
        "active": true,
        "emails": [{ "primary": true, "type": "work", "value": user.user_name }],
        "meta": { "resourceType": "User" },
        "name": {
            "formatted": format!("{} {}", user.given_name, user.family_name),
            "familyName": user.family_name,
            "givenName": user.given_name
        },
        "roles": []
    })
    .to_string()
}

fn members_value(ids: &[&str]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({ "$ref": null, "value": id }))
            .collect(),
    )
}

/// Runs `tasks` with at most `limit` in flight; returns their results in completion order.
async fn run_all<F: std::future::Future>(
    tasks: impl IntoIterator<Item = F>,
    limit: usize,
) -> Vec<F::Output> {
    futures_util::stream::iter(tasks)
        .buffer_unordered(limit)
        .collect()
        .await
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

/// Runs the whole simulation and returns its report.
pub async fn run(options: Options) -> Result<Report, String> {
    let spec = options.spec();
    let plans = plan::initial(&spec);
    let client = Client::builder()
        .pool_max_idle_per_host(options.concurrency.max(1))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let bar = if options.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos} requests  {msg}")
                .map_err(|e| e.to_string())?,
        );
        bar
    };
    let runner = Runner {
        client,
        options: options.clone(),
        stats: Mutex::new(Stats::default()),
        ledgers: (0..spec.tenants)
            .map(|_| Mutex::new(TenantLedger::default()))
            .collect(),
        start: Instant::now(),
        sent: AtomicU64::new(0),
        writes_sent: AtomicU64::new(0),
        resolved_unknown: AtomicU64::new(0),
        bad_answers: AtomicU64::new(0),
        last_ack: Mutex::new(None),
        bar,
    };
    let pids: Vec<(String, u32)> = options
        .pids
        .iter()
        .map(|p| {
            let (name, pid) = p.split_once('=').unwrap_or((p.as_str(), p.as_str()));
            pid.parse()
                .map(|pid| (name.to_owned(), pid))
                .map_err(|_| format!("--pid {p}: expected NAME=PID"))
        })
        .collect::<Result<_, _>>()?;

    // Licenses, through the admin API.
    let mut tenants = Vec::new();
    for t in 0..spec.tenants {
        let Answer { status, body, .. } = runner
            .call(Call {
                kind: "POST /api/v1/licenses".into(),
                method: Method::POST,
                url: format!("{}/api/v1/licenses", options.url),
                token: &options.admin_token,
                body: Some(
                    json!({ "name": format!("loadgen {} tenant {t}", plan::run_tag(spec.seed)), "seats": spec.seats })
                        .to_string(),
                ),
                write: false,
            })
            .await
            .ok_or("cannot reach the server")?;
        if status != 201 {
            return Err(format!("creating a license answered {status}: {body}"));
        }
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        tenants.push(Tenant {
            license_id: field("license_id"),
            tenant_url: field("tenant_url"),
            token: field("secret_token"),
            users: vec![None; spec.users],
            groups: vec![None; spec.groups],
        });
    }
    let license_ids: Vec<String> = tenants.iter().map(|t| t.license_id.clone()).collect();

    // The monitor: memory, pending events (for the apply rate) and the progress message.
    let (stop_monitor, mut stopped) = tokio::sync::watch::channel(false);
    let monitor = {
        let client = runner.client.clone();
        let url = options.url.clone();
        let token = options.admin_token.clone();
        let license_ids = license_ids.clone();
        let pids = pids.clone();
        let bar = runner.bar.clone();
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
            (max_rss, samples)
        }
    };
    let monitor = tokio::spawn(monitor);
    // Rate and error counts for the progress bar.
    let ticker = {
        let bar = runner.bar.clone();
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
    if !options.quiet {
        runner.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {pos} requests, {prefix}, {msg}",
            )
            .map_err(|e| e.to_string())?,
        );
    }

    let mut phases = Vec::new();
    let mut write_secs = 0.0;
    let concurrency = runner.concurrency();
    let phase_start =
        |runner: &Runner| (Instant::now(), runner.stats.lock().expect("stats").total());
    let phase_end = |runner: &Runner,
                     name: &str,
                     (at, before): (Instant, u64),
                     phases: &mut Vec<PhaseReport>| {
        let secs = at.elapsed().as_secs_f64();
        phases.push(PhaseReport {
            name: name.to_owned(),
            secs,
            requests: runner.stats.lock().expect("stats").total() - before,
        });
        let failures = runner.stats.lock().expect("stats").failures();
        runner
            .bar
            .println(format!("{name}: {secs:.2} s, failures so far {failures}"));
        secs
    };

    // Test Connection: a random GUID user and group (ENTRA.md §2.1).
    let at = phase_start(&runner);
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x7e57);
    for tenant in &tenants {
        let guid = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        runner
            .call(Call {
                kind: "test connection".into(),
                method: Method::GET,
                url: format!(
                    "{}/Users?filter={}",
                    tenant.tenant_url,
                    eq_filter("userName", &guid.to_string())
                ),
                token: &tenant.token,
                body: None,
                write: false,
            })
            .await;
        runner
            .call(Call {
                kind: "test connection".into(),
                method: Method::GET,
                url: format!(
                    "{}/Groups?excludedAttributes=members&filter={}",
                    tenant.tenant_url,
                    eq_filter("displayName", &guid.to_string())
                ),
                token: &tenant.token,
                body: None,
                write: false,
            })
            .await;
    }
    phase_end(&runner, "test connection", at, &mut phases);

    // Initial cycle, users: filter by userName, then POST (interleaving tenants).
    let at = phase_start(&runner);
    let user_tasks = (0..spec.users).flat_map(|i| (0..spec.tenants).map(move |t| (t, i)));
    let created = run_all(
        user_tasks.map(|(t, i)| {
            let runner = &runner;
            let tenant = &tenants[t];
            let user = &plans[t].users[i];
            async move {
                if !runner.options.no_user_filter {
                    runner
                        .call(Call {
                            kind: "GET /Users?filter=userName".into(),
                            method: Method::GET,
                            url: format!(
                                "{}/Users?filter={}",
                                tenant.tenant_url,
                                eq_filter("userName", &user.user_name)
                            ),
                            token: &tenant.token,
                            body: None,
                            write: false,
                        })
                        .await;
                }
                let answer = runner
                    .call(Call {
                        kind: "POST /Users".into(),
                        method: Method::POST,
                        url: format!("{}/Users", tenant.tenant_url),
                        token: &tenant.token,
                        body: Some(user_body(user)),
                        write: true,
                    })
                    .await;
                let id = match answer {
                    Some(a) if a.status == 201 => a.body["id"].as_str().map(str::to_owned),
                    Some(a) if a.status == 409 && a.uncertain => {
                        let filter = eq_filter("userName", &user.user_name);
                        runner
                            .adopt(
                                tenant,
                                "GET /Users?filter=userName",
                                &format!("/Users?filter={filter}"),
                            )
                            .await
                    }
                    _ => None,
                };
                if let Some(id) = &id {
                    runner.record(
                        t,
                        Write::CreateUser {
                            id: id.clone(),
                            user_name: user.user_name.clone(),
                        },
                    );
                }
                (t, i, id)
            }
        }),
        concurrency,
    )
    .await;
    for (t, i, id) in created {
        tenants[t].users[i] = id;
    }
    write_secs += phase_end(&runner, "initial: users", at, &mut phases);

    // Groups: filter by displayName, then POST with no members.
    let at = phase_start(&runner);
    let group_tasks = (0..spec.groups).flat_map(|g| (0..spec.tenants).map(move |t| (t, g)));
    let created = run_all(
        group_tasks.map(|(t, g)| {
            let runner = &runner;
            let tenant = &tenants[t];
            let group = &plans[t].groups[g];
            async move {
                runner
                    .call(Call {
                        kind: "GET /Groups?filter=displayName".into(),
                        method: Method::GET,
                        url: format!(
                            "{}/Groups?excludedAttributes=members&filter={}",
                            tenant.tenant_url,
                            eq_filter("displayName", &group.display_name)
                        ),
                        token: &tenant.token,
                        body: None,
                        write: false,
                    })
                    .await;
                let body = json!({
                    "schemas": [
                        "urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
                    ],
                    "externalId": group.external_id,
                    "displayName": group.display_name,
                    "meta": { "resourceType": "Group" }
                });
                let answer = runner
                    .call(Call {
                        kind: "POST /Groups".into(),
                        method: Method::POST,
                        url: format!("{}/Groups", tenant.tenant_url),
                        token: &tenant.token,
                        body: Some(body.to_string()),
                        write: true,
                    })
                    .await;
                let id = match answer {
                    Some(a) if a.status == 201 => a.body["id"].as_str().map(str::to_owned),
                    Some(a) if a.status == 409 && a.uncertain => {
                        let filter = eq_filter("displayName", &group.display_name);
                        runner
                            .adopt(
                                tenant,
                                "GET /Groups?filter=displayName",
                                &format!("/Groups?excludedAttributes=members&filter={filter}"),
                            )
                            .await
                    }
                    _ => None,
                };
                if let Some(id) = &id {
                    runner.record(t, Write::CreateGroup { id: id.clone() });
                }
                (t, g, id)
            }
        }),
        concurrency,
    )
    .await;
    for (t, g, id) in created {
        tenants[t].groups[g] = id;
    }
    write_secs += phase_end(&runner, "initial: groups", at, &mut phases);

    // The admin licenses the first groups (before members arrive: seats follow the PATCHes).
    let at = phase_start(&runner);
    let mut licensed: Vec<BTreeSet<String>> = Vec::new();
    for tenant in &tenants {
        let ids: BTreeSet<String> = tenant
            .groups
            .iter()
            .take(spec.licensed_groups)
            .flatten()
            .cloned()
            .collect();
        let answer = runner
            .call(Call {
                kind: "PUT /api/v1/licenses/{id}/licensed-groups".into(),
                method: Method::PUT,
                url: format!(
                    "{}/api/v1/licenses/{}/licensed-groups",
                    options.url, tenant.license_id
                ),
                token: &options.admin_token,
                body: Some(json!({ "group_ids": ids }).to_string()),
                write: false,
            })
            .await;
        if answer.as_ref().is_none_or(|a| a.status != 200) {
            return Err(format!("licensing groups failed: {answer:?}"));
        }
        licensed.push(ids);
    }
    phase_end(&runner, "licensed groups", at, &mut phases);

    // Member adds in batches, all groups of all tenants interleaved.
    let at = phase_start(&runner);
    let mut member_tasks = Vec::new();
    for (t, plan) in plans.iter().enumerate() {
        for g in 0..spec.groups {
            for (b, batch) in plan.batches(g, spec.batch).into_iter().enumerate() {
                member_tasks.push((b, t, g, batch));
            }
        }
    }
    member_tasks.sort_by_key(|(b, t, g, _)| (*b, *g, *t));
    run_all(
        member_tasks.iter().map(|(_, t, g, batch)| {
            let runner = &runner;
            let tenant = &tenants[*t];
            async move {
                let Some(group) = &tenant.groups[*g] else {
                    return;
                };
                let ids: Vec<&str> = batch
                    .iter()
                    .filter_map(|u| tenant.users[*u].as_deref())
                    .collect();
                let body = patch_body(
                    json!([{ "op": "Add", "path": "members", "value": members_value(&ids) }]),
                );
                let answer = runner
                    .call(Call {
                        kind: "PATCH /Groups add members".into(),
                        method: Method::PATCH,
                        url: format!("{}/Groups/{group}", tenant.tenant_url),
                        token: &tenant.token,
                        body: Some(body),
                        write: true,
                    })
                    .await;
                if answer.is_some_and(|a| a.ok()) {
                    runner.record(
                        *t,
                        Write::AddMembers {
                            group: group.clone(),
                            users: ids.iter().map(|s| (*s).to_owned()).collect(),
                        },
                    );
                }
            }
        }),
        concurrency,
    )
    .await;
    write_secs += phase_end(&runner, "initial: member adds", at, &mut phases);

    // The initial cycle's licensing: how long after its last acknowledged write it converged.
    let initial_last_ack = *runner.last_ack.lock().expect("last ack");
    let initial_convergence_ms = match (
        wait_converged(&runner, &license_ids, options.converge_timeout).await,
        initial_last_ack,
    ) {
        (Some(at), Some(last)) => Some(at.saturating_duration_since(last).as_secs_f64() * 1000.0),
        _ => None,
    };
    runner.bar.println(format!(
        "initial cycle: licensing converged {initial_convergence_ms:?} ms after its last acknowledged write"
    ));

    // Probes: remove then re-add a batch of members at the group's full size.
    if options.probe_patches > 0 {
        let at = phase_start(&runner);
        for (t, tenant) in tenants.iter().enumerate() {
            for g in 0..spec.groups {
                let Some(group) = &tenant.groups[g] else {
                    continue;
                };
                let size = plans[t].groups[g].members.len();
                let batches = plans[t].batches(g, spec.batch);
                for p in 0..options.probe_patches {
                    let batch = &batches[p % batches.len()];
                    let ids: Vec<&str> = batch
                        .iter()
                        .filter_map(|u| tenant.users[*u].as_deref())
                        .collect();
                    let remove = patch_body(
                        json!([{ "op": "Remove", "path": "members", "value": members_value(&ids) }]),
                    );
                    let add = patch_body(
                        json!([{ "op": "Add", "path": "members", "value": members_value(&ids) }]),
                    );
                    for (op, body) in [("remove", remove), ("add", add)] {
                        let answer = runner
                            .call(Call {
                                kind: format!(
                                    "PATCH /Groups {op} {} members (group of {size})",
                                    ids.len()
                                ),
                                method: Method::PATCH,
                                url: format!("{}/Groups/{group}", tenant.tenant_url),
                                token: &tenant.token,
                                body: Some(body),
                                write: true,
                            })
                            .await;
                        if answer.is_some_and(|a| a.ok()) {
                            let users: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
                            if op == "add" {
                                runner.record(
                                    t,
                                    Write::AddMembers {
                                        group: group.clone(),
                                        users,
                                    },
                                );
                            } else {
                                for user in users {
                                    runner.record(
                                        t,
                                        Write::RemoveMember {
                                            group: group.clone(),
                                            user,
                                        },
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        write_secs += phase_end(&runner, "member PATCH probes", at, &mut phases);
    }

    // Lookups: Entra's query-before-update on existing users, closed loop for a while.
    let pick = |n: u64| -> (usize, usize) {
        let mut rng = StdRng::seed_from_u64(spec.seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        (
            rng.random_range(0..spec.tenants),
            rng.random_range(0..spec.users.max(1)),
        )
    };
    if options.lookup_secs > 0.0 && spec.users > 0 {
        let at = phase_start(&runner);
        let build = |n: u64| {
            let (t, i) = pick(n);
            (
                format!(
                    "{}/Users?filter={}",
                    tenants[t].tenant_url,
                    eq_filter("userName", &plans[t].users[i].user_name)
                ),
                tenants[t].token.clone(),
            )
        };
        timed(
            &runner,
            concurrency,
            options.lookup_secs,
            "GET /Users?filter=userName (lookup)",
            &build,
        )
        .await;
        phase_end(&runner, "lookups", at, &mut phases);
    }
    if options.entitlement_secs > 0.0 && spec.users > 0 {
        let at = phase_start(&runner);
        let build = |n: u64| {
            let (t, i) = pick(n);
            let email: String =
                url::form_urlencoded::byte_serialize(plans[t].users[i].user_name.as_bytes())
                    .collect();
            (
                format!("{}/api/v1/entitlements?email={email}", options.url),
                options.admin_token.clone(),
            )
        };
        timed(
            &runner,
            concurrency,
            options.entitlement_secs,
            "GET /api/v1/entitlements",
            &build,
        )
        .await;
        phase_end(&runner, "entitlement checks", at, &mut phases);
    }

    // Incremental cycles.
    let mut states: Vec<PlanState> = plans.iter().map(PlanState::after_initial).collect();
    let mut cycle = 0u64;
    loop {
        let more_time = options
            .duration
            .is_some_and(|d| runner.start.elapsed().as_secs_f64() < d);
        if spec.changes_per_cycle == 0 || (cycle >= options.incremental_cycles && !more_time) {
            break;
        }
        let at = phase_start(&runner);
        let mut changes = Vec::new();
        for (t, state) in states.iter_mut().enumerate() {
            for change in plan::incremental(&spec, t, cycle, state) {
                changes.push((t, change));
            }
        }
        run_all(
            changes.iter().map(|(t, change)| {
                let runner = &runner;
                let tenant = &tenants[*t];
                let plan = &plans[*t];
                async move { incremental_change(runner, *t, tenant, plan, change).await }
            }),
            concurrency,
        )
        .await;
        write_secs += phase_end(
            &runner,
            &format!("incremental cycle {}", cycle + 1),
            at,
            &mut phases,
        );
        cycle += 1;
    }

    // Convergence: every license without pending events.
    let last_ack = *runner.last_ack.lock().expect("last ack");
    let converged_when = wait_converged(&runner, &license_ids, options.converge_timeout).await;
    let converged = converged_when.is_some();
    let converged_at = converged_when.unwrap_or_else(Instant::now);
    let convergence_ms = (converged && last_ack.is_some()).then(|| {
        converged_at
            .saturating_duration_since(last_ack.unwrap_or(converged_at))
            .as_secs_f64()
            * 1000.0
    });
    let total = runner.stats.lock().expect("stats").total();
    phase_end(
        &runner,
        "licensing convergence",
        (last_ack.unwrap_or(converged_at), total),
        &mut phases,
    );

    let _ = stop_monitor.send(true);
    ticker.abort();
    let (max_rss, samples) = monitor.await.map_err(|e| e.to_string())?;
    let memory = pids
        .iter()
        .map(|(name, pid)| {
            (
                name.clone(),
                MemoryReport {
                    pid: *pid,
                    peak_rss_mb: rss_kb(*pid, "VmHWM:").unwrap_or_default() as f64 / 1024.0,
                    max_sampled_rss_mb: max_rss.get(name).copied().unwrap_or_default() as f64
                        / 1024.0,
                },
            )
        })
        .collect();

    // Worker apply rate: events applied = SCIM writes acknowledged - events pending.
    let events = options.progress.writes_acked() as f64;
    let first_write = phases
        .iter()
        .position(|p| p.name == "initial: users")
        .map(|i| phases[..i].iter().map(|p| p.secs).sum::<f64>())
        .unwrap_or_default();
    let apply_window = converged_at.duration_since(runner.start).as_secs_f64() - first_write;
    let apply_rate_mean = if apply_window > 0.0 {
        events / apply_window
    } else {
        0.0
    };
    let apply_rate_peak = peak_apply_rate(&samples, &runner);

    let seat_checks = seat_check(&runner, &tenants, &licensed, spec.seats).await;
    let mut ledger_problems = Vec::new();
    let mut ledger_writes = 0;
    for (t, tenant) in tenants.iter().enumerate() {
        let observed = observe(&runner, tenant).await;
        let ledger = runner.ledgers[t].lock().expect("ledger").clone();
        ledger_writes += ledger.writes;
        ledger_problems.extend(
            ledger
                .verify(&observed)
                .into_iter()
                .map(|p| format!("tenant {t}: {p}")),
        );
    }
    runner.bar.finish_and_clear();

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
    ledger_problems.truncate(100);
    let ok = failures == 0
        && writes_unacknowledged == 0
        && outages.bad_answers == 0
        && converged
        && seat_checks.iter().all(|s| s.ok)
        && ledger_problems.is_empty();
    Ok(Report {
        spec,
        options,
        elapsed_secs: elapsed,
        requests: stats.total(),
        requests_per_sec: stats.total() as f64 / elapsed,
        writes_acked,
        writes_per_sec: if write_secs > 0.0 {
            writes_acked as f64 / write_secs
        } else {
            0.0
        },
        writes_unacknowledged,
        failures,
        outages,
        statuses,
        kinds,
        phases,
        initial_convergence_ms,
        converged,
        convergence_ms,
        apply_rate_mean,
        apply_rate_peak,
        memory,
        seat_checks,
        ledger_writes,
        ledger_problems,
        ok,
    })
}

/// Polls every license's sync health until none has pending events; the moment it saw that.
async fn wait_converged(runner: &Runner, license_ids: &[String], timeout: f64) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    while Instant::now() < deadline {
        let mut pending = 0;
        for id in license_ids {
            pending += runner
                .admin_get(&format!("/api/v1/licenses/{id}/sync"))
                .await
                .and_then(|s| s["pending_events"].as_i64())
                .unwrap_or(1);
        }
        if pending == 0 {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Closed-loop GETs for `secs` seconds from `concurrency` lanes; `build(n)` gives the n-th
/// request's URL and token.
async fn timed(
    runner: &Runner,
    concurrency: usize,
    secs: f64,
    kind: &'static str,
    build: &(dyn Fn(u64) -> (String, String) + Sync),
) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    run_all(
        (0..concurrency as u64).map(|lane| async move {
            let mut n = lane;
            while Instant::now() < deadline {
                let (url, token) = build(n);
                runner
                    .call(Call {
                        kind: kind.into(),
                        method: Method::GET,
                        url,
                        token: &token,
                        body: None,
                        write: false,
                    })
                    .await;
                n += concurrency as u64;
            }
        }),
        concurrency,
    )
    .await;
}

/// The best one-second-or-longer window of applied events (acknowledged writes are counted
/// at sampling time only approximately, so this is the drain rate after the writes stop plus
/// the pending-count drops during them).
fn peak_apply_rate(samples: &[(Instant, i64)], runner: &Runner) -> f64 {
    let _ = runner;
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

async fn incremental_change(
    runner: &Runner,
    t: usize,
    tenant: &Tenant,
    plan: &TenantPlan,
    change: &Change,
) {
    let Some(user) = tenant.users[change.user()].clone() else {
        return;
    };
    let user_url = format!("{}/Users/{user}", tenant.tenant_url);
    let active = |dialect: Dialect, active: bool| match dialect {
        Dialect::Default => {
            json!([{ "op": "Replace", "path": "active", "value": if active { "True" } else { "False" } }])
        }
        Dialect::Aad2020 => json!([{ "op": "replace", "path": "active", "value": active }]),
    };
    let (kind, method, url, body, write) = match change {
        Change::Attributes {
            dialect: Dialect::Default,
            family_name,
            ..
        } => (
            "PATCH /Users attributes (default dialect)",
            Method::PATCH,
            user_url,
            Some(patch_body(json!([
                { "op": "Replace", "path": "name.familyName", "value": family_name },
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": plan.users[change.user()].user_name }
            ]))),
            Write::SetFamilyName {
                user: user.clone(),
                family_name: family_name.clone(),
            },
        ),
        Change::Attributes {
            dialect: Dialect::Aad2020,
            family_name,
            ..
        } => (
            "PATCH /Users attributes (aadOptscim062020)",
            Method::PATCH,
            user_url,
            Some(patch_body(json!([
                { "op": "replace", "path": "emails[type eq \"work\"].value", "value": plan.users[change.user()].user_name },
                { "op": "replace", "value": { "name.familyName": family_name, "displayName": format!("{} {family_name}", plan.users[change.user()].given_name) } }
            ]))),
            Write::SetFamilyName {
                user: user.clone(),
                family_name: family_name.clone(),
            },
        ),
        Change::Disable { dialect, .. } => (
            "PATCH /Users disable",
            Method::PATCH,
            user_url,
            Some(patch_body(active(*dialect, false))),
            Write::SetActive {
                user: user.clone(),
                active: false,
            },
        ),
        Change::Enable { dialect, .. } => (
            "PATCH /Users re-enable",
            Method::PATCH,
            user_url,
            Some(patch_body(active(*dialect, true))),
            Write::SetActive {
                user: user.clone(),
                active: true,
            },
        ),
        Change::RemoveMember { group, dialect, .. } => {
            let Some(group) = tenant.groups[*group].clone() else {
                return;
            };
            let ops = match dialect {
                Dialect::Default => {
                    json!([{ "op": "Remove", "path": "members", "value": [{ "value": user }] }])
                }
                Dialect::Aad2020 => {
                    json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }])
                }
            };
            (
                "PATCH /Groups remove member",
                Method::PATCH,
                format!("{}/Groups/{group}", tenant.tenant_url),
                Some(patch_body(ops)),
                Write::RemoveMember {
                    group,
                    user: user.clone(),
                },
            )
        }
        Change::Delete { .. } => (
            "DELETE /Users",
            Method::DELETE,
            user_url,
            None,
            Write::DeleteUser { user: user.clone() },
        ),
    };
    let answer = runner
        .call(Call {
            kind: kind.into(),
            method,
            url,
            token: &tenant.token,
            body,
            write: true,
        })
        .await;
    match answer {
        Some(a) if a.ok() => runner.record(t, write),
        // Deleted by the attempt whose answer was lost (PATCHes are idempotent; a retry
        // answers 204 whether or not the lost attempt was applied).
        Some(a) if a.status == 404 && a.uncertain && matches!(write, Write::DeleteUser { .. }) => {
            runner.resolved();
            runner.record(t, write);
        }
        _ => {}
    }
}

/// Everything the server shows for a tenant: users by pages, each group's members.
async fn observe(runner: &Runner, tenant: &Tenant) -> Observed {
    let mut observed = Observed::default();
    let mut start = 1;
    loop {
        let Some(page) = runner
            .scim_get(tenant, &format!("/Users?startIndex={start}&count=1000&attributes=userName,active,name.familyName"))
            .await
        else {
            break;
        };
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        for user in &resources {
            observed.users.insert(
                user["id"].as_str().unwrap_or_default().to_owned(),
                (
                    user["userName"].as_str().unwrap_or_default().to_owned(),
                    user["active"].as_bool().unwrap_or(true),
                    user["name"]["familyName"].as_str().map(str::to_owned),
                ),
            );
        }
        if resources.is_empty() {
            break;
        }
        start += resources.len();
    }
    for group in tenant.groups.iter().flatten() {
        if let Some(body) = runner
            .scim_get(tenant, &format!("/Groups/{group}?attributes=members"))
            .await
        {
            let members = body["members"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|m| m["value"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            observed.groups.insert(group.clone(), members);
        }
    }
    observed
}

/// Seats per license against the ledger, and the DESIGN §5 invariants: assigned =
/// min(entitled, seats) = `seats_used`, only entitled users hold or wait for seats, each at
/// most once, and the others wait in a queue numbered 1..n, each with a reason.
async fn seat_check(
    runner: &Runner,
    tenants: &[Tenant],
    licensed: &[BTreeSet<String>],
    seats: i64,
) -> Vec<SeatCheck> {
    let mut checks = Vec::new();
    for (t, tenant) in tenants.iter().enumerate() {
        let entitled = runner.ledgers[t]
            .lock()
            .expect("ledger")
            .entitled(&licensed[t]);
        let seats_used = runner
            .admin_get(&format!("/api/v1/licenses/{}", tenant.license_id))
            .await
            .and_then(|l| l["seats_used"].as_i64())
            .unwrap_or(-1);
        let mut listed: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for status in ["assigned", "blocked"] {
            let mut rows = Vec::new();
            loop {
                let page = runner
                    .admin_get(&format!(
                        "/api/v1/licenses/{}/seats?status={status}&offset={}&limit=1000",
                        tenant.license_id,
                        rows.len()
                    ))
                    .await
                    .and_then(|p| p.as_array().cloned())
                    .unwrap_or_default();
                if page.is_empty() {
                    break;
                }
                rows.extend(page);
            }
            listed.insert(status, rows);
        }
        let user = |row: &Value| row["user_id"].as_str().unwrap_or_default().to_owned();
        let expected = entitled.len().min(seats.max(0) as usize);
        let mut problems = Vec::new();
        if seats_used != expected as i64 {
            problems.push(format!("seats_used {seats_used}, expected {expected}"));
        }
        if listed["assigned"].len() != expected {
            problems.push(format!(
                "{} assigned seats listed, expected {expected}",
                listed["assigned"].len()
            ));
        }
        if listed["blocked"].len() != entitled.len() - expected {
            problems.push(format!(
                "{} waiting, expected {}",
                listed["blocked"].len(),
                entitled.len() - expected
            ));
        }
        for status in ["assigned", "blocked"] {
            let not_entitled = listed[status]
                .iter()
                .filter(|row| !entitled.contains(&user(row)))
                .count();
            if not_entitled > 0 {
                problems.push(format!("{not_entitled} {status} users are not entitled"));
            }
        }
        let holders: BTreeSet<String> = listed.values().flatten().map(user).collect();
        if holders.len() != listed.values().map(Vec::len).sum::<usize>() {
            problems.push("a user holds more than one seat row".to_owned());
        }
        let misnumbered = listed["blocked"]
            .iter()
            .enumerate()
            .filter(|(i, row)| row["queue_position"] != i + 1 || !row["reason"].is_string())
            .count();
        if misnumbered > 0 {
            problems.push(format!(
                "{misnumbered} waiting users out of queue order or without a reason"
            ));
        }
        checks.push(SeatCheck {
            license_id: tenant.license_id.clone(),
            seats,
            entitled: entitled.len(),
            expected_assigned: expected,
            seats_used,
            assigned_listed: listed["assigned"].len(),
            blocked_listed: listed["blocked"].len(),
            ok: problems.is_empty(),
            problems,
        });
    }
    checks
}

/// The human-readable summary.
pub fn summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
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
        "worker apply rate: {:.0} events/s over the run, {:.0} events/s best second",
        report.apply_rate_mean, report.apply_rate_peak
    );
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
