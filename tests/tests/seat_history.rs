//! The seat history ledger, as an operator reads it for a true-up: every seat from when it was
//! taken until it was given up and why, checked interval by interval against the audit trail
//! on every transport; who held seats at an instant, on a day and in a period, the peak per day
//! and month, the CSV, the totals; bad input; the rows the migration opens for seats already
//! held; and, after a loadgen burst with incremental cycles, "who held seats at D" for
//! instants D across the run against a replay of the audit trail.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use reqwest::Method;
use seatflow_store::time;
use seatflow_tests::loadgen::{self, Options};
use seatflow_tests::patch_op;
use seatflow_tests::{Backend, Tenant, TestServer, Transport, all_transports, both_backends};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(30);

all_transports!(every_seat_is_recorded_from_assignment_to_release);
both_backends!(
    bad_input_is_refused_and_unknown_licenses_are_not_found,
    the_migration_opens_rows_for_seats_already_held,
    pruning_keeps_held_seats_and_recent_history,
    after_a_burst_the_ledger_matches_the_audit_trail
);

struct License<'a> {
    server: &'a TestServer,
    tenant: Tenant,
}

impl License<'_> {
    fn path(&self, path: &str) -> String {
        format!("/api/v1/licenses/{}{path}", self.tenant.license_id)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.server.admin_get(&self.path(path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The user ids of a seat-history answer.
    async fn holders(&self, query: &str) -> BTreeSet<String> {
        let body = self.get(&format!("/seat-history{query}")).await;
        ids(&body)
    }

    async fn user(&self, user_name: &str) -> String {
        let body = json!({"userName": user_name, "active": true});
        let (status, body) = self.tenant.post("/Users", body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn members(&self, group: &str, op: &str, ids: &[&String]) {
        let value: Vec<Value> = ids.iter().map(|m| json!({"value": m})).collect();
        let operation = json!([{"op": op, "path": "members", "value": value}]);
        let (status, body) = self
            .tenant
            .patch(&format!("/Groups/{group}"), patch_op(operation))
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn converged(&self) -> String {
        self.server
            .converged(&self.tenant.license_id, CONVERGE)
            .await;
        time::now()
    }

    /// The audit trail's `(action, created_at, reason)` of one user, oldest first.
    async fn audit_of(&self, user: &str) -> Vec<(String, String, String)> {
        let body = self.get(&format!("/audit?user={user}&limit=100")).await;
        let mut entries: Vec<(String, String, String)> = body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "assigned" || e["action"] == "released")
            .map(|e| {
                let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["created_at"].as_str().unwrap().to_owned(),
                    detail["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        entries.reverse();
        entries
    }

    async fn text(&self, path: &str, accept: Option<&str>) -> (String, String) {
        let mut request = self.server.admin(Method::GET, &self.path(path));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (content_type, response.text().await.unwrap())
    }
}

fn ids(body: &Value) -> BTreeSet<String> {
    body["users"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

/// Assign, block, deactivate (release and promotion), delete a holder, join, leave the group:
/// each interval with its reasons and the instants of its audit entries.
async fn every_seat_is_recorded_from_assignment_to_release(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let license = License {
        tenant: server.create_license("History", 2).await,
        server: &server,
    };
    let start = time::now();
    let ada = license.user("ada@contoso.com").await;
    let bob = license.user("bob@contoso.com").await;
    let cy = license.user("cy@contoso.com").await;
    let (status, body) = license
        .tenant
        .post("/Groups", json!({"displayName": "Staff"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let staff = body["id"].as_str().unwrap().to_owned();
    license.members(&staff, "add", &[&ada, &bob, &cy]).await;
    server
        .license_groups(&license.tenant.license_id, json!([staff]))
        .await;
    let t1 = license.converged().await;
    let totals = license.get("/seats/totals").await;
    assert_eq!(
        totals,
        json!({"seats": 2, "used": 2, "available": 0, "blocked": 1, "in_grace": 0, "reserved": 0})
    );

    // Ada leaves the company: her seat goes to Cy, who waited.
    let disable = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    let (status, body) = license
        .tenant
        .patch(&format!("/Users/{ada}"), disable)
        .await;
    assert_eq!(status, 200, "{body}");
    let t2 = license.converged().await;
    // Bob is deleted while holding a seat: the row goes with him, without the engine.
    let (status, body) = license.tenant.delete(&format!("/Users/{bob}")).await;
    assert_eq!(status, 204, "{body}");
    let t3 = license.converged().await;
    // Dee (a name a CSV must quote) joins; then Cy leaves the licensed group.
    let dee = license.user("dee,quoted@contoso.com").await;
    license.members(&staff, "add", &[&dee]).await;
    license.converged().await;
    license.members(&staff, "remove", &[&cy]).await;
    let t4 = license.converged().await;

    let history = license.get(&format!("/seat-history?from={start}")).await;
    let users: BTreeMap<String, &Value> = history["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user_id"].as_str().unwrap().to_owned(), u))
        .collect();
    assert_eq!(users.len(), 4, "{history}");
    let expected = [
        (&ada, "entitled", Some("user_deactivated")),
        (&bob, "entitled", Some("user_deleted")),
        (&cy, "promoted", Some("left_licensed_groups")),
        (&dee, "entitled", None),
    ];
    for (user, start_reason, end_reason) in expected {
        let holder = users[user];
        let intervals = holder["intervals"].as_array().unwrap();
        assert_eq!(intervals.len(), 1, "{holder}");
        let interval = &intervals[0];
        assert_eq!(interval["start_reason"], start_reason, "{holder}");
        assert_eq!(interval["end_reason"], json!(end_reason), "{holder}");
        // The audit trail tells the same story at the same instants.
        let audit = license.audit_of(user).await;
        assert_eq!(audit[0].0, "assigned", "{audit:?}");
        assert_eq!(interval["started_at"], audit[0].1, "{holder} {audit:?}");
        assert_eq!(audit[0].2, start_reason);
        match end_reason {
            Some(_) => {
                assert_eq!(audit.len(), 2, "{audit:?}");
                assert_eq!(audit[1].0, "released");
                assert_eq!(interval["ended_at"], audit[1].1, "{holder} {audit:?}");
            }
            None => {
                assert_eq!(audit.len(), 1, "{audit:?}");
                assert!(interval["ended_at"].is_null());
            }
        }
    }
    assert_eq!(users[&bob]["user_name"], "bob@contoso.com");
    // The deletion is audited as the seat decision it is.
    assert_eq!(license.audit_of(&bob).await[1].2, "user_deleted");

    // Held at an instant; held now.
    assert_eq!(
        license.holders(&format!("?at={t1}")).await,
        set(&[&ada, &bob])
    );
    assert_eq!(
        license.holders(&format!("?at={t2}")).await,
        set(&[&bob, &cy])
    );
    assert_eq!(license.holders(&format!("?at={t3}")).await, set(&[&cy]));
    assert_eq!(license.holders(&format!("?at={t4}")).await, set(&[&dee]));
    assert_eq!(license.holders("").await, set(&[&dee]));
    // Held at any moment of a day, or of a period.
    let today = &t1[..10];
    let everyone = set(&[&ada, &bob, &cy, &dee]);
    assert_eq!(
        license.holders(&format!("?held_on={today}")).await,
        everyone
    );
    assert!(license.holders("?held_on=2020-01-01").await.is_empty());
    assert_eq!(
        license.holders(&format!("?from={t1}&to={t2}")).await,
        set(&[&ada, &bob, &cy])
    );
    assert_eq!(
        license.holders(&format!("?from={t3}&to={t4}")).await,
        set(&[&cy, &dee])
    );
    assert_eq!(
        license.holders(&format!("?from={today}&to={today}")).await,
        everyone
    );

    // Never more than the two seats at once.
    let peak = license
        .get(&format!(
            "/seat-history/peak?by=day&from={today}&to={today}"
        ))
        .await;
    assert_eq!(
        peak["peaks"],
        json!([{"period": today, "peak": 2}]),
        "{peak}"
    );
    let peak = license
        .get(&format!("/seat-history/peak?by=month&from={today}"))
        .await;
    assert_eq!(
        peak["peaks"],
        json!([{"period": &t1[..7], "peak": 2}]),
        "{peak}"
    );
    let peak = license
        .get("/seat-history/peak?from=2020-01-01&to=2020-01-03")
        .await;
    assert_eq!(peak["peaks"].as_array().unwrap().len(), 3, "{peak}");
    assert!(
        peak["peaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["peak"] == 0)
    );

    // The CSV: one line per interval, quoted where needed; by parameter or by Accept.
    let (content_type, csv) = license
        .text(&format!("/seat-history?from={start}&format=csv"), None)
        .await;
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "user_id,user_name,started_at,ended_at,start_reason,end_reason"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    let dee_line = lines.iter().find(|l| l.starts_with(dee.as_str())).unwrap();
    assert!(
        dee_line.contains(",\"dee,quoted@contoso.com\","),
        "{dee_line}"
    );
    assert!(dee_line.ends_with(",entitled,"), "{dee_line}");
    let (_, by_accept) = license
        .text(&format!("/seat-history?from={start}"), Some("text/csv"))
        .await;
    assert_eq!(by_accept, csv);

    let totals = license.get("/seats/totals").await;
    assert_eq!(
        totals,
        json!({"seats": 2, "used": 1, "available": 1, "blocked": 0, "in_grace": 0, "reserved": 0})
    );

    // The command line answers the same: one JSON object per user, or the CSV.
    let from = format!("--from={start}");
    let cli = |extra: &[&str]| {
        let output = std::process::Command::new(seatflow_tests::binary("seatflow-api"))
            .env_clear()
            .env("SEATFLOW_DATABASE_URL", server.config.database_url.as_str())
            .env("SEATFLOW_LOG", "warn")
            .args(["seat-history", "--license", &license.tenant.license_id])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        (output.status.success(), stdout, output.stderr)
    };
    let (ok, lines, stderr) = cli(&[&from]);
    assert!(ok, "{}", String::from_utf8_lossy(&stderr));
    let lines: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json!(lines), history["users"]);
    let (ok, cli_csv, _) = cli(&[&from, "--csv"]);
    assert!(ok);
    assert_eq!(cli_csv, csv);
    let (ok, held_on, _) = cli(&[&format!("--held-on={today}")]);
    assert!(ok);
    assert_eq!(held_on.lines().count(), 4);
    let (ok, _, stderr) = cli(&["--held-on=someday"]);
    assert!(!ok);
    assert!(String::from_utf8_lossy(&stderr).contains("held_on must be a date"));
}

async fn bad_input_is_refused_and_unknown_licenses_are_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = License {
        tenant: server.create_license("History", 2).await,
        server: &server,
    };
    for query in [
        "/seat-history?held_on=2026-13-01",
        "/seat-history?held_on=yesterday",
        "/seat-history?at=2026-12-03",
        "/seat-history?at=noon",
        "/seat-history?held_on=2026-12-03&at=2026-12-03T10:00:00Z",
        "/seat-history?to=2026-12-03",
        "/seat-history?from=2026-12-04&to=2026-12-03",
        "/seat-history?from=soon",
        "/seat-history?format=xml",
        "/seat-history/peak",
        "/seat-history/peak?from=2026-12-01&by=week",
        "/seat-history/peak?from=2020-01-01&to=2026-01-01&by=day",
    ] {
        let (status, body) = server.admin_get(&license.path(query)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
    }
    for path in [
        "/seat-history",
        "/seat-history/peak?from=2026-12-01",
        "/seats/totals",
    ] {
        let (status, body) = server
            .admin_get(&format!("/api/v1/licenses/no-such-license{path}"))
            .await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let response = server
        .client
        .get(format!(
            "{}{}",
            server.base_url,
            license.path("/seat-history")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// A database that had seats before the ledger: the migration opens a row for each.
async fn the_migration_opens_rows_for_seats_already_held(backend: Backend) {
    use diesel::RunQueryDsl;
    let server = TestServer::start(backend).await;
    let license = License {
        tenant: server.create_license("Before", 1).await,
        server: &server,
    };
    let ada = license.user("ada@contoso.com").await;
    let bob = license.user("bob@contoso.com").await;
    let (status, body) = license
        .tenant
        .post(
            "/Groups",
            json!({"displayName": "Staff", "members": [{"value": ada}, {"value": bob}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let group = body["id"].as_str().unwrap();
    server
        .license_groups(&license.tenant.license_id, json!([group]))
        .await;
    license.converged().await;
    // As the database was before the ledger's migration.
    let mut conn = server.db.checkout().unwrap();
    diesel::sql_query("DROP TABLE seat_history")
        .execute(&mut *conn)
        .unwrap();
    let forgotten = diesel::sql_query(
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261204000002'",
    )
    .execute(&mut *conn)
    .unwrap();
    assert_eq!(forgotten, 1);
    drop(conn);
    assert_eq!(seatflow_store::migrations::run(&server.db).unwrap(), 1);

    let seats = license.get("/seats?status=assigned").await;
    let history = license.get("/seat-history").await;
    assert_eq!(ids(&history), set(&[&ada]), "{history}");
    let interval = &history["users"][0]["intervals"][0];
    assert_eq!(interval["start_reason"], "before_history");
    assert_eq!(interval["started_at"], seats[0]["since"]);
    assert_eq!(history["users"][0]["user_name"], "ada@contoso.com");
}

/// `SEATFLOW_SEAT_HISTORY_RETENTION_DAYS`' pruning: only seats given up longer ago than that.
async fn pruning_keeps_held_seats_and_recent_history(backend: Backend) {
    use seatflow_store::seat_history::{self, Opened};
    let server = TestServer::start(backend).await;
    let license = License {
        tenant: server.create_license("Pruned", 5).await,
        server: &server,
    };
    let id = license.tenant.license_id.clone();
    let pruned = server
        .db
        .write(move |c| {
            let seat = |user_id| Opened {
                user_id,
                user_name: user_id,
                reason: "entitled",
            };
            let long_ago = "2020-01-01T00:00:00.000000Z";
            seat_history::open(c, &id, &[seat("old"), seat("held")], long_ago)?;
            seat_history::close(
                c,
                &id,
                &[("old", "user_deleted")],
                "2020-02-01T00:00:00.000000Z",
            )?;
            seat_history::open(c, &id, &[seat("recent")], long_ago)?;
            seat_history::close(c, &id, &[("recent", "user_deleted")], &time::now())?;
            // A seat the ledger shows held already keeps its row (and the reconcile goes on).
            seat_history::open(c, &id, &[seat("held")], &time::now())?;
            seat_history::prune(c, Duration::from_secs(30 * 86_400))
        })
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let left = license.get("/seat-history?from=2019-01-01").await;
    assert_eq!(ids(&left), ["held", "recent"].map(String::from).into());
    let held = &left["users"][0];
    assert_eq!(held["user_id"], "held", "{left}");
    assert_eq!(held["intervals"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(
        held["intervals"][0]["started_at"],
        "2020-01-01T00:00:00.000000Z"
    );
}

/// The check: a loadgen burst with incremental cycles (disables, re-enables, members
/// leaving, holders deleted), then for instants D across the run, the ledger's holders at D
/// equal the audit trail's assignments and releases replayed up to D; and the open rows are
/// the assigned seats.
async fn after_a_burst_the_ledger_matches_the_audit_trail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = format!("--admin-token={}", server.admin_token);
    let options = Options::parse_from([
        "seatflow-loadgen",
        "--url",
        &server.base_url,
        &token,
        "--tenants",
        "2",
        "--users",
        "40",
        "--groups",
        "3",
        "--licensed-groups",
        "2",
        "--members-per-group",
        "15",
        "--batch",
        "4",
        "--seats",
        "12",
        "--concurrency",
        "8",
        "--incremental-cycles",
        "8",
        "--changes-per-cycle",
        "20",
        "--converge-timeout",
        "30",
        "--seed",
        "11",
        "--quiet",
    ]);
    let start = time::now();
    // Instants D taken while the burst runs, so most fall between seat decisions.
    let running = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let running = running.clone();
        async move {
            let mut instants = Vec::new();
            while running.load(Ordering::Relaxed) {
                instants.push(time::now());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            instants
        }
    });
    let report = loadgen::run(options).await.expect("loadgen runs");
    running.store(false, Ordering::Relaxed);
    let mut instants = sampler.await.unwrap();
    assert!(report.converged, "{}", loadgen::summary(&report));
    instants.push(time::now());
    // At most 30 of them, spread over the run.
    let step = instants.len().div_ceil(30);
    let instants: Vec<String> = instants
        .iter()
        .rev()
        .step_by(step)
        .cloned()
        .collect::<Vec<_>>();

    let (status, licenses) = server.admin_get("/api/v1/licenses").await;
    assert_eq!(status, 200, "{licenses}");
    let mut deleted_holders = 0;
    for license in licenses.as_array().unwrap() {
        let id = license["id"].as_str().unwrap().to_owned();
        server.converged(&id, CONVERGE).await;
        let base = format!("/api/v1/licenses/{id}");
        let audit = seat_decisions(&server, &id).await;
        // The sampled instants, and the instants of some decisions themselves (a seat taken at D
        // is held at D; one given up at D is not).
        let decided = audit.iter().step_by(7).map(|(_, _, at)| at.clone());
        let mut seen = BTreeSet::new();
        for at in instants.iter().cloned().chain(decided) {
            let mut replayed = BTreeSet::new();
            for (action, subject, created_at) in &audit {
                if *created_at > at {
                    break;
                }
                if action == "assigned" {
                    replayed.insert(subject.clone());
                } else {
                    replayed.remove(subject);
                }
            }
            let (status, body) = server
                .admin_get(&format!("{base}/seat-history?at={at}"))
                .await;
            assert_eq!(status, 200, "{body}");
            let held = ids(&body);
            assert_eq!(held, replayed, "license {id}, held at {at}");
            seen.insert(held);
        }
        assert!(seen.len() > 3, "the instants missed the run: {seen:?}");
        // Open rows are the assigned seats.
        let (_, seats) = server
            .admin_get(&format!("{base}/seats?status=assigned&limit=1000"))
            .await;
        let assigned: BTreeSet<String> = seats
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["user_id"].as_str().unwrap().to_owned())
            .collect();
        let (_, now) = server.admin_get(&format!("{base}/seat-history")).await;
        assert_eq!(ids(&now), assigned, "license {id}");
        let (_, all) = server
            .admin_get(&format!("{base}/seat-history?from={start}"))
            .await;
        deleted_holders += all["users"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|u| u["intervals"].as_array().unwrap())
            .filter(|i| i["end_reason"] == "user_deleted")
            .count();
    }
    assert!(deleted_holders > 0, "the burst deleted no seat holder");
}

/// The license's assignments and releases from the audit table: `(action, user, created_at)`
/// in the order they were made.
async fn seat_decisions(server: &TestServer, license_id: &str) -> Vec<(String, String, String)> {
    use diesel::prelude::*;
    use seatflow_store::db::schema::audit;
    let license_id = license_id.to_owned();
    server
        .db
        .read(move |c| {
            let rows: Vec<(String, Option<String>, String)> = audit::table
                .filter(audit::license_id.eq(&license_id))
                .filter(audit::action.eq_any(["assigned", "released"]))
                .order((audit::created_at, audit::id))
                .select((audit::action, audit::subject, audit::created_at))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(action, subject, at)| (action, subject.unwrap_or_default(), at))
                .collect())
        })
        .await
        .unwrap()
}
