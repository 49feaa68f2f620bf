//! The phases of a run, in the order `run` calls them: licenses, Test Connection, the initial
//! cycle (users, groups, licensed groups, member adds), the optional probes, lookups and
//! entitlement checks, the incremental cycles and the waits for licensing to converge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::json;

use super::PhaseReport;
use super::flows::{self, Step};
use super::plan::{self, PlanState, Spec, TenantPlan, UserSpec};
use super::runner::{Call, Endpoint, Runner, Tenant, run_all};

/// The phases run so far, and the time spent in those that write.
#[derive(Default)]
pub(super) struct PhaseLog {
    pub(super) phases: Vec<PhaseReport>,
    pub(super) write_secs: f64,
}

/// When a phase started, and the requests sent before it.
pub(super) type PhaseStart = (Instant, u64);

impl PhaseLog {
    pub(super) fn start(runner: &Runner) -> PhaseStart {
        (Instant::now(), runner.stats.lock().expect("stats").total())
    }

    /// Records a phase that started at `at` and prints it; its duration.
    pub(super) fn end(&mut self, runner: &Runner, name: &str, (at, before): PhaseStart) -> f64 {
        let secs = at.elapsed().as_secs_f64();
        self.phases.push(PhaseReport {
            name: name.to_owned(),
            secs,
            requests: runner.stats.lock().expect("stats").total() - before,
        });
        let failures = runner.stats.lock().expect("stats").failures();
        runner
            .bar
            .println(format!("{name}: {secs:.2} s, failures so far {failures}"));
        secs
    }

    /// The same for a phase of SCIM writes (their time is the write rate's denominator).
    fn end_writes(&mut self, runner: &Runner, name: &str, at: PhaseStart) {
        self.write_secs += self.end(runner, name, at);
    }
}

/// Licensing convergence after the last acknowledged write.
pub(super) struct Convergence {
    pub(super) converged: bool,
    pub(super) ms: Option<f64>,
}

/// A run under way: the simulated jobs' plans and what the server answered so far.
pub(super) struct Run {
    pub(super) runner: Runner,
    pub(super) spec: Spec,
    pub(super) plans: Vec<TenantPlan>,
    pub(super) tenants: Vec<Tenant>,
    /// Each tenant's licensed groups (server ids).
    pub(super) licensed: Vec<BTreeSet<String>>,
    pub(super) log: PhaseLog,
    /// The probe phase's start and end, and the memberships its PATCHes changed.
    pub(super) probe_window: Option<(Instant, Instant, u64)>,
}

/// Creates one license per tenant through the admin API.
pub(super) async fn create_licenses(runner: &Runner, spec: &Spec) -> Result<Vec<Tenant>, String> {
    let mut tenants = Vec::new();
    // Tenants of one server share its connections.
    let mut endpoints: BTreeMap<String, Arc<Endpoint>> = BTreeMap::new();
    for t in 0..spec.tenants {
        let name = format!("loadgen {} tenant {t}", plan::run_tag(spec.seed));
        let body = json!({ "name": name, "seats": spec.seats }).to_string();
        let call = runner.admin_call(
            "POST /api/v1/licenses",
            Method::POST,
            "/api/v1/licenses",
            Some(body),
        );
        let answer = runner.call(call).await.ok_or("cannot reach the server")?;
        let body = answer.json();
        if answer.status != 201 {
            return Err(format!(
                "creating a license answered {}: {body}",
                answer.status
            ));
        }
        let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
        let tenant_url = field("tenant_url");
        let scim = match endpoints.get(&tenant_url) {
            Some(endpoint) => endpoint.clone(),
            None => {
                let endpoint = Arc::new(Endpoint::of(&tenant_url, runner.options.concurrency)?);
                endpoints.insert(tenant_url.clone(), endpoint.clone());
                endpoint
            }
        };
        let token = field("secret_token");
        tenants.push(Tenant {
            license_id: field("license_id"),
            tenant_url,
            authorization: format!("Bearer {token}"),
            token,
            scim,
            users: vec![None; spec.users],
            groups: vec![None; spec.groups],
        });
    }
    Ok(tenants)
}

/// `(tenant, index)` for `n` objects per tenant, tenants interleaved (as concurrent jobs are).
fn interleaved(n: usize, tenants: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |i| (0..tenants).map(move |t| (t, i)))
}

/// The tenant and user of the n-th lookup or entitlement check (seeded, so runs repeat).
fn pick(spec: &Spec, n: u64) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    (
        rng.random_range(0..spec.tenants),
        rng.random_range(0..spec.users.max(1)),
    )
}

impl Run {
    /// The connection check each tenant's provider sends first (Entra's Test Connection
    /// probes a random GUID user and group, `docs/providers/entra.md`).
    pub(super) async fn test_connection(&mut self) {
        let at = PhaseLog::start(&self.runner);
        let mut rng = StdRng::seed_from_u64(self.spec.seed ^ 0x7e57);
        for (t, tenant) in self.tenants.iter().enumerate() {
            flows::test_connection(&self.runner, t, tenant, &mut rng).await;
        }
        self.log.end(&self.runner, "test connection", at);
    }

    /// Initial cycle, users: the provider's lookup by userName (if it sends one), then POST
    /// (interleaving tenants).
    pub(super) async fn initial_users(&mut self) {
        let idp = self.runner.options.idp;
        let lookup_first = !self.runner.options.no_user_filter;
        let created = self
            .create_all("initial: users", self.spec.users, |_, plan, i| {
                flows::user_create(idp, &plan.users[i], lookup_first)
            })
            .await;
        for (t, i, id) in created {
            self.tenants[t].users[i] = id;
        }
    }

    /// Groups: the provider's match (filter, list or none), then POST (with no members, or
    /// with the first batch where the provider sends them there).
    pub(super) async fn initial_groups(&mut self) {
        let idp = self.runner.options.idp;
        let batch = self.spec.batch;
        let created = self
            .create_all("initial: groups", self.spec.groups, |tenant, plan, g| {
                let members = match plan.batches(g, batch).first() {
                    Some(first) if idp.members_in_group_post() => flows::known(tenant, plan, first)
                        .iter()
                        .map(|(id, _)| (*id).to_owned())
                        .collect(),
                    _ => Vec::new(),
                };
                flows::group_create(idp, &plan.groups[g], members)
            })
            .await;
        for (t, g, id) in created {
            self.tenants[t].groups[g] = id;
        }
    }

    /// A write phase creating `n` resources per tenant, tenants interleaved: `(tenant, index,
    /// the server's id once acknowledged)`.
    async fn create_all<'p>(
        &'p mut self,
        name: &str,
        n: usize,
        build: impl Fn(&'p Tenant, &'p TenantPlan, usize) -> flows::Create<'p>,
    ) -> Vec<(usize, usize, Option<String>)> {
        let at = PhaseLog::start(&self.runner);
        let runner = &self.runner;
        let tasks = interleaved(n, self.spec.tenants).map(|(t, i)| {
            let tenant = &self.tenants[t];
            let create = build(tenant, &self.plans[t], i);
            async move {
                let id = flows::create(runner, t, tenant, create).await;
                (t, i, id)
            }
        });
        let created = run_all(tasks, runner.concurrency()).await;
        self.log.end_writes(runner, name, at);
        created
    }

    /// The admin licenses the first groups (before members arrive: seats follow the PATCHes).
    pub(super) async fn license_groups(&mut self) -> Result<(), String> {
        let at = PhaseLog::start(&self.runner);
        for tenant in &self.tenants {
            let ids: BTreeSet<String> = tenant
                .groups
                .iter()
                .take(self.spec.licensed_groups)
                .flatten()
                .cloned()
                .collect();
            let call = self.runner.admin_call(
                "PUT /api/v1/licenses/{id}/licensed-groups",
                Method::PUT,
                &format!("/api/v1/licenses/{}/licensed-groups", tenant.license_id),
                Some(json!({ "group_ids": ids }).to_string()),
            );
            let answer = self.runner.call(call).await;
            if answer.as_ref().is_none_or(|a| a.status != 200) {
                return Err(format!("licensing groups failed: {answer:?}"));
            }
            self.licensed.push(ids);
        }
        self.log.end(&self.runner, "licensed groups", at);
        Ok(())
    }

    /// Member adds in batches, all groups of all tenants interleaved. A provider that PUTs
    /// whole groups sends a group's batches one after the other (each PUT carries the list so
    /// far, so they must arrive in order); one that POSTs a group with its first batch skips
    /// that batch here.
    pub(super) async fn member_adds(&mut self) {
        let at = PhaseLog::start(&self.runner);
        let idp = self.runner.options.idp;
        let skip = usize::from(idp.members_in_group_post());
        let mut tasks = Vec::new();
        for (t, plan) in self.plans.iter().enumerate() {
            for g in 0..self.spec.groups {
                let batches = plan.batches(g, self.spec.batch).into_iter().skip(skip);
                if idp.puts_whole_groups() {
                    tasks.push((0, t, g, batches.collect::<Vec<_>>()));
                } else {
                    tasks.extend(batches.enumerate().map(|(b, batch)| (b, t, g, vec![batch])));
                }
            }
        }
        tasks.sort_by_key(|(b, t, g, _)| (*b, *g, *t));
        let runner = &self.runner;
        run_all(
            tasks.iter().map(|(_, t, g, batches)| {
                let (tenant, plan) = (&self.tenants[*t], &self.plans[*t]);
                async move {
                    let Some(group) = &tenant.groups[*g] else {
                        return;
                    };
                    let mut so_far: Vec<&str> = Vec::new();
                    for batch in batches {
                        let members = flows::known(tenant, plan, batch);
                        so_far.extend(members.iter().map(|(id, _)| *id));
                        let steps = flows::member_push(idp, plan, *g, group, &members, &so_far);
                        runner.steps(*t, tenant, steps).await;
                    }
                }
            }),
            runner.concurrency(),
        )
        .await;
        self.log
            .end_writes(&self.runner, "initial: member adds", at);
    }

    /// How long after the initial cycle's last acknowledged write licensing converged (ms).
    pub(super) async fn initial_convergence(&self) -> Option<f64> {
        let initial_last_ack = *self.runner.last_ack.lock().expect("last ack");
        let ms = match (
            wait_converged(
                &self.runner,
                &self.tenants,
                self.runner.options.converge_timeout,
            )
            .await,
            initial_last_ack,
        ) {
            (Some(at), Some(last)) => {
                Some(at.saturating_duration_since(last).as_secs_f64() * 1000.0)
            }
            _ => None,
        };
        self.runner.bar.println(format!(
            "initial cycle: licensing converged {ms:?} ms after its last acknowledged write"
        ));
        ms
    }

    /// Probes: remove then re-add a batch of members at the group's full size.
    pub(super) async fn probes(&mut self) {
        let probes = self.runner.options.probe_patches;
        if probes == 0 {
            return;
        }
        let idp = self.runner.options.idp;
        let at = PhaseLog::start(&self.runner);
        let mut changed = 0u64;
        for (t, tenant) in self.tenants.iter().enumerate() {
            let plan = &self.plans[t];
            for g in 0..self.spec.groups {
                let Some(group) = &tenant.groups[g] else {
                    continue;
                };
                let size = plan.groups[g].members.len();
                let batches = plan.batches(g, self.spec.batch);
                for p in 0..probes {
                    let members = flows::known(tenant, plan, &batches[p % batches.len()]);
                    for add in [false, true] {
                        let step = flows::probe_patch(idp, group, add, &members, size);
                        changed += step.as_ref().map_or(0, |_| members.len() as u64);
                        self.runner
                            .steps(t, tenant, step.into_iter().collect())
                            .await;
                    }
                }
            }
        }
        self.probe_window = Some((at.0, Instant::now(), changed));
        self.log.end_writes(&self.runner, "member PATCH probes", at);
    }

    /// Lookups: the provider's query-before-update on existing users, closed loop for a while.
    pub(super) async fn lookups(&mut self) {
        let secs = self.runner.options.lookup_secs;
        let kind = "GET /Users?filter=userName (lookup)";
        self.timed("lookups", secs, |runner, tenant, user| {
            let lookup = Step::read(kind, runner.options.idp.user_lookup(&user.user_name));
            runner.scim_call(tenant, &lookup)
        })
        .await;
    }

    /// Entitlement checks, as the product's sign-in makes them, closed loop for a while.
    pub(super) async fn entitlement_checks(&mut self) {
        let secs = self.runner.options.entitlement_secs;
        self.timed("entitlement checks", secs, |runner, _, user| {
            let email: String =
                url::form_urlencoded::byte_serialize(user.user_name.as_bytes()).collect();
            let path = format!("/api/v1/entitlements?email={email}");
            runner.admin_call("GET /api/v1/entitlements", Method::GET, &path, None)
        })
        .await;
    }

    /// A phase of closed-loop GETs for `secs` seconds from `--concurrency` lanes, each about a
    /// seeded pick of tenant and user; `build` gives the request.
    async fn timed(
        &mut self,
        name: &str,
        secs: f64,
        build: impl Fn(&Runner, &Tenant, &UserSpec) -> Call + Sync,
    ) {
        if secs <= 0.0 || self.spec.users == 0 {
            return;
        }
        let at = PhaseLog::start(&self.runner);
        let (runner, build) = (&self.runner, &build);
        let (spec, tenants, plans) = (&self.spec, &self.tenants, &self.plans);
        let concurrency = runner.concurrency();
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let lanes = run_all(
            (0..concurrency as u64).map(|lane| async move {
                let mut n = lane;
                while Instant::now() < deadline {
                    let (t, i) = pick(spec, n);
                    runner
                        .call(build(runner, &tenants[t], &plans[t].users[i]))
                        .await;
                    n += concurrency as u64;
                }
            }),
            concurrency,
        );
        // Licensing may converge meanwhile: note when, for `final_convergence`.
        let watch = async {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
            if let Some(at) = wait_converged(runner, tenants, left).await {
                let mut seen = runner.converged_during_reads.lock().expect("converged");
                seen.get_or_insert(at);
            }
        };
        tokio::join!(lanes, watch);
        self.log.end(&self.runner, name, at);
    }

    /// Incremental cycles: `--incremental-cycles` of them, or more until `--duration`.
    pub(super) async fn incremental_cycles(&mut self) {
        let options = &self.runner.options;
        let mut states: Vec<PlanState> = self.plans.iter().map(PlanState::after_initial).collect();
        let mut cycle = 0u64;
        loop {
            let more_time = options
                .duration
                .is_some_and(|d| self.runner.start.elapsed().as_secs_f64() < d);
            if self.spec.changes_per_cycle == 0
                || (cycle >= options.incremental_cycles && !more_time)
            {
                break;
            }
            let at = PhaseLog::start(&self.runner);
            let mut changes = Vec::new();
            for (t, state) in states.iter_mut().enumerate() {
                for change in plan::incremental(&self.spec, t, cycle, state) {
                    changes.push((t, change));
                }
            }
            let idp = options.idp;
            let (runner, states) = (&self.runner, &states);
            run_all(
                changes.iter().map(|(t, change)| {
                    let (tenant, plan) = (&self.tenants[*t], &self.plans[*t]);
                    let steps = flows::change(idp, tenant, plan, &states[*t], change);
                    runner.steps(*t, tenant, steps)
                }),
                runner.concurrency(),
            )
            .await;
            self.log.end_writes(
                &self.runner,
                &format!("incremental cycle {}", cycle + 1),
                at,
            );
            cycle += 1;
        }
    }

    /// Convergence: every license without pending events, timed from the last acknowledged
    /// write.
    pub(super) async fn final_convergence(&mut self) -> Convergence {
        let waiting = PhaseLog::start(&self.runner);
        let last_ack = *self.runner.last_ack.lock().expect("last ack");
        let seen = *self
            .runner
            .converged_during_reads
            .lock()
            .expect("converged");
        // Seen converged in a read-only phase after the last write: that was the moment.
        let converged_when = match seen {
            Some(at) if last_ack.is_none_or(|last| at > last) => Some(at),
            _ => {
                wait_converged(
                    &self.runner,
                    &self.tenants,
                    self.runner.options.converge_timeout,
                )
                .await
            }
        };
        let converged = converged_when.is_some();
        let converged_at = converged_when.unwrap_or_else(Instant::now);
        let ms = (converged && last_ack.is_some()).then(|| {
            converged_at
                .saturating_duration_since(last_ack.unwrap_or(converged_at))
                .as_secs_f64()
                * 1000.0
        });
        self.log.end(&self.runner, "licensing convergence", waiting);
        Convergence { converged, ms }
    }
}

/// Polls every license's sync health until none has pending events; the moment it saw that.
async fn wait_converged(runner: &Runner, tenants: &[Tenant], timeout: f64) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    while Instant::now() < deadline {
        let mut pending = 0;
        for tenant in tenants {
            pending += runner
                .admin_get(&format!("/api/v1/licenses/{}/sync", tenant.license_id))
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
