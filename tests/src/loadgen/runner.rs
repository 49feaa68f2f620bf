//! The request machinery: one tenant's identity, the measured calls with their outage
//! retries, acknowledgements and ledger records. SCIM requests go out as raw bytes on
//! keep-alive connections (`wire.rs`), exactly as the profile shapes them (a client library
//! would re-encode Entra's raw `"`); admin-API calls go through reqwest.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::{Client, Method, header};
use serde_json::Value;

use super::Options;
use super::flows::Step;
use super::ledger::{TenantLedger, Write};
use super::stats::{Fate, NoAnswer, Stats};
use crate::wire::{self, RawPool};

/// How long an attempt may wait for its answer (Entra's and Okta's timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// One tenant as the simulated provisioning job knows it: its license and the server's ids.
pub(super) struct Tenant {
    pub(super) license_id: String,
    pub(super) tenant_url: String,
    pub(super) token: String,
    /// `Bearer <token>`.
    pub(super) authorization: String,
    pub(super) scim: Arc<Endpoint>,
    pub(super) users: Vec<Option<String>>,
    pub(super) groups: Vec<Option<String>>,
}

/// Where a Tenant URL's SCIM requests go: its `Host`, its path and its connections (shared by
/// the tenants of one server).
pub(super) struct Endpoint {
    pub(super) host: String,
    pub(super) base_path: String,
    pool: RawPool,
}

impl Endpoint {
    /// The endpoint of `tenant_url` (plain `http://`: the raw client speaks no TLS), with up to
    /// `connections` idle connections kept.
    pub(super) fn of(tenant_url: &str, connections: usize) -> Result<Endpoint, String> {
        let url =
            url::Url::parse(tenant_url).map_err(|e| format!("Tenant URL {tenant_url}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "Tenant URL {tenant_url}: the loadgen sends SCIM over plain http:// only"
            ));
        }
        let host = match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            _ => return Err(format!("Tenant URL {tenant_url}: no host")),
        };
        Ok(Endpoint {
            pool: RawPool::new(&format!("http://{host}"), connections),
            base_path: url.path().trim_end_matches('/').to_owned(),
            host,
        })
    }
}

pub(super) struct Runner {
    pub(super) client: Client,
    pub(super) options: Options,
    pub(super) stats: Mutex<Stats>,
    pub(super) ledgers: Vec<Mutex<TenantLedger>>,
    pub(super) start: Instant,
    sent: AtomicU64,
    pub(super) writes_sent: AtomicU64,
    pub(super) resolved_unknown: AtomicU64,
    pub(super) bad_answers: AtomicU64,
    pub(super) last_ack: Mutex<Option<Instant>>,
    /// When licensing was first seen converged during a read-only phase (none writes, so the
    /// convergence after the writes before it is timed there, not after the phase).
    pub(super) converged_during_reads: Mutex<Option<Instant>>,
    pub(super) bar: ProgressBar,
}

/// A request the loadgen measures.
pub(super) struct Call {
    pub(super) kind: String,
    pub(super) write: bool,
    pub(super) to: To,
}

/// Where a call goes, and how.
pub(super) enum To {
    /// The admin API (and the entitlement check), through reqwest.
    Admin {
        method: Method,
        url: String,
        token: String,
        body: Option<String>,
    },
    /// A tenant's SCIM endpoint: these bytes, on one of its connections.
    Scim {
        endpoint: Arc<Endpoint>,
        bytes: Vec<u8>,
    },
}

/// One attempt's answer.
struct Reply {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// The final answer to a call. `uncertain`: an earlier attempt of this write may have been
/// applied (its answer was lost, or a 5xx), so a 409 on a create or a 404 on a delete may be
/// that attempt's doing. The body stays unparsed until someone needs it.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) uncertain: bool,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` if it is none).
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("uncertain", &self.uncertain)
            .finish()
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
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    reply.retry_after.is_some()
        && body["status"].as_str().and_then(|s| s.parse().ok()) == Some(reply.status)
        && body["schemas"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == SCIM_ERROR))
}

const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

impl Runner {
    /// A runner for `tenants` tenants, with its HTTP client and progress bar.
    pub(super) fn new(options: Options, tenants: usize) -> Result<Runner, String> {
        let client = Client::builder()
            .pool_max_idle_per_host(options.concurrency.max(1))
            .timeout(ATTEMPT_TIMEOUT)
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
        Ok(Runner {
            client,
            options,
            stats: Mutex::new(Stats::default()),
            ledgers: (0..tenants)
                .map(|_| Mutex::new(TenantLedger::default()))
                .collect(),
            start: Instant::now(),
            sent: AtomicU64::new(0),
            writes_sent: AtomicU64::new(0),
            resolved_unknown: AtomicU64::new(0),
            bad_answers: AtomicU64::new(0),
            last_ack: Mutex::new(None),
            converged_during_reads: Mutex::new(None),
            bar,
        })
    }

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
    pub(super) async fn call(&self, call: Call) -> Option<Answer> {
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
            let attempt = self.attempt(&call.to).await;
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
    async fn attempt(&self, to: &To) -> Result<Reply, NoAnswer> {
        match to {
            To::Admin {
                method,
                url,
                token,
                body,
            } => {
                self.admin_attempt(method, url, token, body.as_deref())
                    .await
            }
            To::Scim { endpoint, bytes } => {
                // Only opening a connection can fail before anything was sent.
                let mut connection = endpoint
                    .pool
                    .try_take()
                    .await
                    .map_err(|_| NoAnswer::Refused)?;
                let response = connection
                    .try_exchange(bytes, ATTEMPT_TIMEOUT)
                    .await
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::TimedOut => NoAnswer::Timeout,
                        _ => NoAnswer::Lost,
                    })?;
                endpoint.pool.give_back(connection);
                let retry_after = response.header("retry-after").and_then(retry_after);
                Ok(Reply {
                    status: response.status,
                    retry_after,
                    body: response.body,
                })
            }
        }
    }

    async fn admin_attempt(
        &self,
        method: &Method,
        url: &str,
        token: &str,
        body: Option<&str>,
    ) -> Result<Reply, NoAnswer> {
        let no_answer = |e: reqwest::Error| {
            if e.is_connect() {
                NoAnswer::Refused
            } else if e.is_timeout() {
                NoAnswer::Timeout
            } else {
                NoAnswer::Lost
            }
        };
        let mut request = self.client.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_owned());
        }
        let response = request.send().await.map_err(no_answer)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let bytes = response.bytes().await.map_err(no_answer)?;
        Ok(Reply {
            status,
            retry_after,
            body: bytes.to_vec(),
        })
    }

    /// An admin-API call with the operator token.
    pub(super) fn admin_call(
        &self,
        kind: &str,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Call {
        Call {
            kind: kind.to_owned(),
            write: false,
            to: To::Admin {
                method,
                url: format!("{}{path}", self.options.url),
                token: self.options.admin_token.clone(),
                body,
            },
        }
    }

    /// A SCIM step as the profile puts it on the wire for `tenant`.
    pub(super) fn scim_call(&self, tenant: &Tenant, step: &Step) -> Call {
        let body = step.body.as_deref().unwrap_or_default();
        let target = format!("{}{}", tenant.scim.base_path, step.target);
        let head =
            self.options
                .idp
                .head(&tenant.scim.host, &tenant.authorization, !body.is_empty());
        Call {
            kind: step.kind.clone(),
            write: step.write,
            to: To::Scim {
                endpoint: tenant.scim.clone(),
                bytes: wire::request(step.method, &target, &head, body.as_bytes()),
            },
        }
    }

    /// Sends one SCIM step (its ledger entries are the caller's business).
    pub(super) async fn scim(&self, tenant: &Tenant, step: &Step) -> Option<Answer> {
        self.call(self.scim_call(tenant, step)).await
    }

    /// Sends `steps` in order, recording each acknowledged step's ledger entries, and stops
    /// at the first that is not acknowledged (as a provider stops a task that failed).
    pub(super) async fn steps(&self, t: usize, tenant: &Tenant, steps: Vec<Step>) -> bool {
        for step in steps {
            match self.scim(tenant, &step).await {
                Some(a) if a.ok() => {}
                // Deleted by the attempt whose answer was lost (PATCHes and PUTs are
                // idempotent: their retry succeeds whether or not the lost attempt applied).
                Some(a) if a.status == 404 && a.uncertain && step.method == "DELETE" => {
                    self.resolved();
                }
                _ => return false,
            }
            for write in step.ledger {
                self.record(t, write);
            }
        }
        true
    }

    /// A write acknowledged (or found applied after an unknown outcome).
    fn ack(&self) {
        self.options.progress.0.fetch_add(1, Ordering::Relaxed);
        *self.last_ack.lock().expect("last ack") = Some(Instant::now());
    }

    /// A write whose earlier attempt's fate was unknown, found applied by its retry.
    pub(super) fn resolved(&self) {
        self.resolved_unknown.fetch_add(1, Ordering::Relaxed);
        self.ack();
    }

    pub(super) fn record(&self, tenant: usize, write: Write) {
        self.ledgers[tenant].lock().expect("ledger").record(write);
    }

    /// The groups deleted in a tenant (the ledger check makes sure they are gone).
    pub(super) fn deleted_groups(&self, tenant: usize) -> BTreeSet<String> {
        self.ledgers[tenant]
            .lock()
            .expect("ledger")
            .deleted_groups
            .clone()
    }

    pub(super) fn concurrency(&self) -> usize {
        if self.options.open_loop {
            4096
        } else {
            self.options.concurrency.max(1)
        }
    }

    /// An unmeasured admin GET (polling, verification).
    pub(super) async fn admin_get(&self, path: &str) -> Option<Value> {
        let url = format!("{}{path}", self.options.url);
        self.get_json(&url, &self.options.admin_token).await
    }

    /// An unmeasured SCIM GET (verification, through reqwest: not a provider's request).
    pub(super) async fn scim_get(&self, tenant: &Tenant, path: &str) -> Option<Value> {
        let url = format!("{}{path}", tenant.tenant_url);
        self.get_json(&url, &tenant.token).await
    }

    /// The JSON of a successful GET; None on any error.
    async fn get_json(&self, url: &str, token: &str) -> Option<Value> {
        let response = self.client.get(url).bearer_auth(token).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

/// Runs `tasks` with at most `limit` in flight; returns their results in completion order.
pub(super) async fn run_all<F: std::future::Future>(
    tasks: impl IntoIterator<Item = F>,
    limit: usize,
) -> Vec<F::Output> {
    futures_util::stream::iter(tasks)
        .buffer_unordered(limit)
        .collect()
        .await
}
