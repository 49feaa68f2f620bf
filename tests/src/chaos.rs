//! Chaos under an Entra-shaped burst: the real `seatflow-api` and `seatflow-worker` on
//! PostgreSQL and RabbitMQ, `seatflow-loadgen` riding out outages against them while a test
//! kills, cuts or stops something, then the checks: the loadgen's own (licensing converged,
//! seats = min(entitled, seats) with the seat invariants (`docs/ARCHITECTURE.md`), every ledger entry visible
//! through SCIM), plus the outbox, the queues and the seat counts read from the database.
//!
//! The plan is small for CI; `scripts/chaos.sh` runs bigger ones through these variables:
//! `SEATFLOW_CHAOS_TENANTS` (2), `SEATFLOW_CHAOS_USERS` per tenant (200),
//! `SEATFLOW_CHAOS_CYCLES` incremental cycles (3), `SEATFLOW_CHAOS_SEED` (1) and
//! `SEATFLOW_CHAOS_AT`, the acknowledged writes after which the chaos strikes (default: just
//! after the users and groups are created, when the membership writes, which carry licensing
//! events, are under way).

use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use diesel::prelude::*;
use seatflow_api::Config;
use seatflow_queue::outbox::{APPLIED, DEAD};
use seatflow_store::db::Db;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::{feed_events, licenses, outbox, seats, users};
use serde_json::json;

use crate::loadgen::{self, Options, Report};
use crate::{
    Backend, ChildProcess, Tenant, TestDb, TestQueues, queue_depth, spawn_api_at, spawn_worker,
    test_config, unique_amqp_prefix,
};

/// Small worker batches, so a kill lands in the middle of one.
const WORKER_ENV: [(&str, &str); 3] = [
    ("SEATFLOW_WORKER_BATCH", "8"),
    ("SEATFLOW_WORKER_PREFETCH", "16"),
    // Outages make every process log each failed attempt; only errors matter here.
    ("SEATFLOW_LOG", "error"),
];

/// An API and a worker as separate processes on a database and queue prefix of their own; the
/// API keeps its port across restarts, so the loadgen's URL stays valid.
pub struct Deployment {
    pub base_url: String,
    pub admin_token: String,
    /// The deployment's settings as the test harness knows them (database, queue prefix).
    pub config: Config,
    /// A pool of the test's own, for the checks.
    pub db: Db,
    port: u16,
    api_env: Vec<(String, String)>,
    // Dropped in this order: the processes, then the queues, then the database.
    api: Option<ChildProcess>,
    workers: Vec<ChildProcess>,
    queues: TestQueues,
    _test_db: TestDb,
}

impl Deployment {
    /// Starts the API (publishing to the broker at `api_amqp`, with `api_env` added to its
    /// environment) and one worker.
    pub async fn start(api_amqp: &str, api_env: &[(&str, &str)]) -> Deployment {
        let test_db = TestDb::create(Backend::Postgres);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut config = test_config(test_db.url.clone(), base_url.clone());
        config.worker.amqp_prefix = unique_amqp_prefix();
        let mut deployment = Deployment {
            base_url,
            admin_token: seatflow_store::token::generate(),
            db: Db::connect(&test_db.url, 2).expect("connect test db"),
            port,
            api_env: [("SEATFLOW_LOG", "error")]
                .iter()
                .chain(api_env)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            api: None,
            workers: Vec::new(),
            queues: TestQueues::of(&config),
            config,
            _test_db: test_db,
        };
        deployment.start_api(api_amqp).await;
        deployment.start_worker();
        deployment
    }

    /// Starts the API on the deployment's port, publishing to the broker at `amqp`.
    pub async fn start_api(&mut self, amqp: &str) {
        let env: Vec<(&str, &str)> = self
            .api_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.api = Some(
            spawn_api_at(
                self.port,
                &self.config.database_url,
                amqp,
                &self.config.worker.amqp_prefix,
                &self.admin_token,
                &env,
                Stdio::inherit(),
            )
            .await,
        );
    }

    /// `kill -9` of the API.
    pub fn kill_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.kill_hard();
        }
    }

    pub fn start_worker(&mut self) {
        self.workers.push(spawn_worker(&self.config, &WORKER_ENV));
    }

    /// `kill -9` of every worker.
    pub fn kill_workers(&mut self) {
        for mut worker in self.workers.drain(..) {
            worker.kill_hard();
        }
    }

    /// SIGTERM to the workers; each must exit 0.
    pub fn stop_workers(&mut self) {
        for mut worker in self.workers.drain(..) {
            assert!(
                worker.terminate().success(),
                "the worker exits 0 on SIGTERM"
            );
        }
    }

    /// Events recorded and not applied yet.
    pub fn pending_events(&self) -> i64 {
        let mut conn = self.db.checkout().expect("test db");
        outbox::table
            .filter(outbox::status.ne(APPLIED))
            .count()
            .get_result(&mut *conn)
            .expect("outbox")
    }

    /// A license of the test's own (outside the burst), with a SCIM client for it.
    pub async fn create_license(&self, name: &str, seats: i64) -> Tenant {
        let client = reqwest::Client::new();
        let (status, body) = crate::read(
            client
                .post(format!("{}/api/v1/licenses", self.base_url))
                .bearer_auth(&self.admin_token)
                .json(&json!({ "name": name, "seats": seats }))
                .send()
                .await
                .expect("create license"),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let field = |name: &str| body[name].as_str().expect(name).to_owned();
        Tenant {
            license_id: field("license_id"),
            tenant_url: field("tenant_url"),
            token: field("secret_token"),
            token_id: field("token_id"),
            client,
        }
    }

    /// The burst: a small Entra-shaped plan (see the module's variables) that rides out
    /// outages.
    pub fn burst(&self) -> Options {
        use clap::Parser;
        let users = env_or("SEATFLOW_CHAOS_USERS", 200);
        Options::parse_from([
            "seatflow-loadgen".to_owned(),
            format!("--url={}", self.base_url),
            format!("--admin-token={}", self.admin_token),
            format!("--tenants={}", env_or("SEATFLOW_CHAOS_TENANTS", 2)),
            format!("--users={users}"),
            "--groups=3".to_owned(),
            format!("--members-per-group={}", users * 2 / 5),
            "--batch=20".to_owned(),
            // Fewer seats than entitled users: some wait, and freed seats are handed on.
            format!("--seats={}", users / 2),
            "--licensed-groups=2".to_owned(),
            "--concurrency=16".to_owned(),
            format!(
                "--incremental-cycles={}",
                env_or("SEATFLOW_CHAOS_CYCLES", 3)
            ),
            format!("--changes-per-cycle={}", (users / 10).max(1)),
            format!("--seed={}", env_or("SEATFLOW_CHAOS_SEED", 1)),
            // A killed relay's claimed events wait for their lease (30 s) to expire.
            "--converge-timeout=90".to_owned(),
            "--retry-outages".to_owned(),
            "--quiet".to_owned(),
        ])
    }

    /// The checks after the burst, and the figures printed for CI's log: the loadgen's report
    /// is clean (no failure, no write left unacknowledged, converged, seats and ledger right);
    /// every outbox event is applied and none waits in a queue; `seats_used` counts the
    /// assigned rows and never exceeds the seats.
    pub async fn check(&self, chaos: &str, report: &Report, started: Instant) {
        let summary = loadgen::summary(report);
        println!("== {chaos}\n{summary}");
        assert!(report.ok, "{chaos}: the burst's checks failed:\n{summary}");
        assert_eq!(report.outages.gave_up, 0, "{summary}");

        let licenses: Vec<String> = report
            .seat_checks
            .iter()
            .map(|s| s.license_id.clone())
            .collect();
        let mut conn = self.db.checkout().expect("test db");
        let events: Vec<String> = outbox::table
            .filter(outbox::license_id.eq_any(&licenses))
            .select(outbox::status)
            .load(&mut *conn)
            .expect("outbox");
        let stuck = events
            .iter()
            .filter(|s| *s != APPLIED && *s != DEAD)
            .count();
        let dead = events.iter().filter(|s| *s == DEAD).count();
        assert_eq!(stuck, 0, "{chaos}: events neither applied nor parked");
        assert_eq!(dead, 0, "{chaos}: an outage must not dead-letter an event");
        for license in &licenses {
            let (limit, used): (i64, i64) = licenses::table
                .find(license)
                .select((licenses::seats, licenses::seats_used))
                .first(&mut *conn)
                .expect("license");
            let assigned: i64 = seats::table
                .filter(seats::license_id.eq(license))
                .filter(seats::status.eq("assigned"))
                .count()
                .get_result(&mut *conn)
                .expect("seats");
            assert_eq!(
                used, assigned,
                "{chaos}: seats_used counts the assigned rows"
            );
            assert!(assigned <= limit, "{chaos}: {assigned} of {limit} seats");
            feed_agrees(&mut conn, license, chaos);
        }
        drop(conn);
        let parked = self.drain_queues(chaos).await;
        assert_eq!(
            parked, dead,
            "{chaos}: the parking queue holds the dead events"
        );

        let statuses = &report.statuses;
        let count = |status: &str| statuses.get(status).copied().unwrap_or_default();
        println!(
            "chaos figures [{chaos}]: {} writes acked ({} ledger entries, all visible), \
             {} unacknowledged; {} attempts retried over an outage window of {:.1} s {:?}; \
             {} answers 503, {} answers 500; {} writes found applied after an unknown outcome; \
             {} events, all applied; converged {:.0} ms after the last acknowledged write; \
             the test took {:.1} s",
            report.writes_acked,
            report.ledger_writes,
            report.writes_unacknowledged,
            report.outages.retries,
            report.outages.window_secs,
            report.outages.causes,
            count("503"),
            count("500"),
            report.outages.resolved_unknown,
            events.len(),
            report.convergence_ms.unwrap_or(f64::NAN),
            started.elapsed().as_secs_f64(),
        );
    }

    /// Waits until the work and delay queues are empty (duplicates of applied events may
    /// still be in flight after convergence); returns the parking queue's depth.
    async fn drain_queues(&self, chaos: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        let parking = format!("{}.parking", self.config.worker.amqp_prefix);
        loop {
            let mut waiting = 0;
            for name in self.queues.names.iter().filter(|n| **n != parking) {
                waiting += queue_depth(name).await;
            }
            if waiting == 0 {
                return queue_depth(&parking).await as usize;
            }
            assert!(
                Instant::now() < deadline,
                "{chaos}: {waiting} messages stuck outside the parking queue"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The change feed tells exactly what committed, crashes and redeliveries included: replaying
/// a license's events in their order gives its users, its seat holders and its waiting line.
fn feed_agrees(conn: &mut DbConn, license: &str, chaos: &str) {
    let events: Vec<(String, Option<String>)> = feed_events::table
        .filter(feed_events::license_id.eq(license))
        .order(feed_events::id)
        .select((feed_events::event_type, feed_events::subject))
        .load(conn)
        .expect("feed");
    let (mut people, mut holders, mut waiting) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (event_type, subject) in events {
        let Some(id) = subject else { continue };
        match event_type.as_str() {
            "user.created" => assert!(people.insert(id), "{chaos}: a user created twice"),
            "user.deleted" => assert!(people.remove(&id), "{chaos}: an unknown user deleted"),
            "seat.assigned" => assert!(holders.insert(id), "{chaos}: a seat given twice"),
            "seat.promoted" => {
                assert!(waiting.remove(&id), "{chaos}: promoted without waiting");
                holders.insert(id);
            }
            "seat.released" => assert!(holders.remove(&id), "{chaos}: released without a seat"),
            "seat.blocked" => assert!(waiting.insert(id), "{chaos}: queued twice"),
            "seat.dequeued" => assert!(waiting.remove(&id), "{chaos}: dequeued without waiting"),
            _ => {}
        }
    }
    let mut rows = |status: Option<&str>| -> BTreeSet<String> {
        match status {
            Some(status) => seats::table
                .filter(seats::license_id.eq(license))
                .filter(seats::status.eq(status))
                .select(seats::user_id)
                .load::<String>(conn),
            None => users::table
                .filter(users::license_id.eq(license))
                .select(users::id)
                .load::<String>(conn),
        }
        .expect("rows")
        .into_iter()
        .collect()
    };
    assert_eq!(people, rows(None), "{chaos}: the feed's users");
    assert_eq!(holders, rows(Some("assigned")), "{chaos}: the feed's seats");
    assert_eq!(waiting, rows(Some("blocked")), "{chaos}: the feed's queue");
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the burst, strikes with `chaos` once it is under way (`SEATFLOW_CHAOS_AT`
/// acknowledged writes, default just after the users and groups are created), and returns the
/// burst's report after its own end-of-run checks.
pub async fn during_burst(options: Options, chaos: impl Future<Output = ()>) -> Report {
    let at = env_or(
        "SEATFLOW_CHAOS_AT",
        (options.tenants * (options.users + options.groups + 2)) as u64,
    );
    during_burst_after(options, at, chaos).await
}

/// [`during_burst`], striking after `at` acknowledged writes.
pub async fn during_burst_after(
    options: Options,
    at: u64,
    chaos: impl Future<Output = ()>,
) -> Report {
    let progress = options.progress.clone();
    let under_way = async {
        while progress.writes_acked() < at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // One task for both: the chaos can borrow the test's deployment.
    let burst = loadgen::run(options);
    tokio::pin!(burst);
    tokio::select! {
        report = &mut burst => panic!("the burst ended before the chaos: {report:?}"),
        () = under_way => {}
    }
    let (report, ()) = tokio::join!(burst, chaos);
    report.expect("the burst runs")
}
