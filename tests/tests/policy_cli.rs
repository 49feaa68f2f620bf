//! The licensing-policy commands of `seatflow-api` (`policy show|set`, `true-up show|settle`),
//! run as the real binary against the server's database on SQLite and PostgreSQL: they answer
//! what the admin API answers, a dry run changes nothing, a change is audited and its licensing
//! event reaches the server's worker (the queue reorders, `expand` raises seats into the
//! true-up), and bad input exits non-zero with the store's detail.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(30);

both_backends!(the_cli_shows_previews_and_changes_policies_like_the_api);

/// What one run of the binary did: exit status, stdout as JSON lines, stderr.
struct Run {
    ok: bool,
    lines: Vec<Value>,
    stderr: String,
}

impl Run {
    fn json(&self) -> &Value {
        assert!(self.ok, "{}", self.stderr);
        assert_eq!(self.lines.len(), 1, "{:?}", self.lines);
        &self.lines[0]
    }

    /// A refusal: non-zero, saying `detail`.
    fn refused(&self, detail: &str) {
        assert!(!self.ok, "accepted: {:?}", self.lines);
        assert!(self.stderr.contains(detail), "{}", self.stderr);
    }
}

fn cli(server: &TestServer, args: &[&str]) -> Run {
    let output = std::process::Command::new(seatflow_tests::binary("seatflow-api"))
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", server.config.database_url.as_str())
        .env("SEATFLOW_LOG", "warn")
        .args(args)
        .output()
        .unwrap();
    Run {
        ok: output.status.success(),
        lines: String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `policy set --license ID` with `extra`.
fn set(server: &TestServer, license_id: &str, extra: &[&str]) -> Run {
    let mut args = vec!["policy", "set", "--license", license_id];
    args.extend_from_slice(extra);
    cli(server, &args)
}

async fn user(tenant: &Tenant, user_name: &str) -> String {
    let (status, body) = tenant
        .post("/Users", json!({"userName": user_name, "active": true}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn group(tenant: &Tenant, name: &str) -> String {
    let (status, body) = tenant.post("/Groups", json!({"displayName": name})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn add_members(tenant: &Tenant, group: &str, ids: &[&String]) {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let operations = json!([{"op": "add", "path": "members", "value": value}]);
    let (status, body) = tenant
        .patch(&format!("/Groups/{group}"), patch_op(operations))
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn get(server: &TestServer, license_id: &str, path: &str) -> Value {
    let (status, body) = server
        .admin_get(&format!("/api/v1/licenses/{license_id}{path}"))
        .await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The userNames waiting, in queue order.
async fn waiting(server: &TestServer, license_id: &str) -> Vec<String> {
    let rows = get(server, license_id, "/seats?status=blocked").await;
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_name"].as_str().unwrap().to_owned())
        .collect()
}

async fn actions(server: &TestServer, license_id: &str, action: &str) -> Vec<Value> {
    let rows = get(server, license_id, "/audit?limit=1000").await;
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn the_cli_shows_previews_and_changes_policies_like_the_api(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 2).await;
    let id = tenant.license_id.as_str();
    // Ada and Bob hold the two seats, Cy waits; Dee, of another licensed group, waits behind.
    let eng = group(&tenant, "Eng").await;
    let ops = group(&tenant, "Ops").await;
    let (ada, bob, cy) = (
        user(&tenant, "ada@contoso.com").await,
        user(&tenant, "bob@contoso.com").await,
        user(&tenant, "cy@contoso.com").await,
    );
    let dee = user(&tenant, "dee@contoso.com").await;
    add_members(&tenant, &eng, &[&ada, &bob, &cy]).await;
    server.license_groups(id, json!([eng])).await;
    server.converged(id, CONVERGE).await;
    add_members(&tenant, &ops, &[&dee]).await;
    server.license_groups(id, json!([eng, ops])).await;
    server.converged(id, CONVERGE).await;
    assert_eq!(
        waiting(&server, id).await,
        ["cy@contoso.com", "dee@contoso.com"]
    );

    // `policy show` is the API's GET.
    let shown = cli(&server, &["policy", "show", "--license", id]);
    assert_eq!(shown.json(), &get(&server, id, "/policy").await);
    assert_eq!(shown.json()["overflow"], "block");
    assert_eq!(
        shown.json()["group_priorities"],
        json!({ &eng: 0, &ops: 0 })
    );

    // A dry run answers the policies after and the preview, and changes nothing.
    let priority = format!("{ops}=10");
    let dry = set(&server, id, &["--priority", &priority, "--dry-run"]);
    let outcome = dry.json();
    assert_eq!(outcome["dry_run"], true);
    assert_eq!(outcome["policy"]["group_priorities"][&ops], 10);
    assert_eq!(outcome["preview"]["queue_moved"], 2);
    assert_eq!(
        outcome["preview"]["next_in_line"],
        json!(["dee@contoso.com", "cy@contoso.com"])
    );
    assert_eq!(outcome["preview"]["seats_before"], 2);
    assert_eq!(outcome["preview"]["seats_after"], 2);
    assert_eq!(
        outcome["preview"]["impact"],
        json!({"assigned": 0, "blocked": 0, "released": 0, "grace": 0})
    );
    // The API's dry run answers the same.
    let path = format!("/api/v1/licenses/{id}/policy?dry_run=true");
    let body = json!({ "group_priorities": { &ops: 10 } });
    let (status, api) = server.admin_send(Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(&api, outcome);
    assert_eq!(
        get(&server, id, "/policy").await["group_priorities"][&ops],
        0
    );
    assert!(actions(&server, id, "policy_changed").await.is_empty());

    // Applied: saved, audited, and the full reconcile it records reorders the queue.
    let applied = set(&server, id, &["--priority", &priority]);
    assert_eq!(applied.json()["dry_run"], false);
    assert_eq!(
        get(&server, id, "/policy").await["group_priorities"][&ops],
        10
    );
    let changed = actions(&server, id, "policy_changed").await;
    assert_eq!(changed.len(), 1);
    server.converged(id, CONVERGE).await;
    assert_eq!(
        waiting(&server, id).await,
        ["dee@contoso.com", "cy@contoso.com"]
    );

    // `expand` raises the seats for whoever waits, up to the cap: Dee first, by priority.
    let expand = set(&server, id, &["--overflow", "expand", "--expand-cap", "3"]);
    assert_eq!(expand.json()["preview"]["seats_after"], 3);
    server.converged(id, CONVERGE).await;
    assert_eq!(get(&server, id, "").await["seats"], 3);
    assert_eq!(waiting(&server, id).await, ["cy@contoso.com"]);

    // `true-up show` is the API's GET; `settle` bills it, audited.
    let pending = cli(&server, &["true-up", "show", "--license", id]);
    assert_eq!(pending.json(), &get(&server, id, "/true-up").await);
    assert_eq!(pending.json()["pending_seats"], 1);
    let expansion = &pending.json()["expansions"][0];
    assert_eq!(
        (&expansion["seats_from"], &expansion["seats_to"]),
        (&json!(2), &json!(3))
    );
    let settled = cli(&server, &["true-up", "settle", "--license", id]);
    assert_eq!(settled.json(), &json!({"settled": 1}));
    let none = json!({"pending_seats": 0, "expansions": []});
    assert_eq!(
        cli(&server, &["true-up", "show", "--license", id]).json(),
        &none
    );
    assert_eq!(actions(&server, id, "true_up_settled").await.len(), 1);

    // Reservations: targets as stored (trimmed, lowercased), lists replaced, then cleared.
    let reserved = set(
        &server,
        id,
        &[
            "--grace-minutes",
            "30",
            "--reserve-user",
            " Cy@Contoso.com",
            "--reserve-group",
            "Eng=1",
        ],
    );
    let policy = &reserved.json()["policy"];
    assert_eq!(policy["grace_minutes"], 30);
    assert_eq!(policy["reserved_users"], json!(["cy@contoso.com"]));
    assert_eq!(
        policy["reserved_groups"],
        json!([{"group": "eng", "seats": 1}])
    );
    let only_groups = set(&server, id, &["--reserve-group", "Ops=2"]);
    let policy = &only_groups.json()["policy"];
    assert_eq!(policy["reserved_users"], json!(["cy@contoso.com"]));
    assert_eq!(
        policy["reserved_groups"],
        json!([{"group": "ops", "seats": 2}])
    );
    let cleared = set(&server, id, &["--clear-reservations"]);
    let policy = &cleared.json()["policy"];
    assert_eq!(policy["reserved_users"], json!([]));
    assert_eq!(policy["reserved_groups"], json!([]));
    assert_eq!(policy["overflow"], "expand");
    server.converged(id, CONVERGE).await;

    // Bad input: non-zero, with the store's detail, and nothing changed.
    let before = get(&server, id, "/policy").await;
    let audited = actions(&server, id, "policy_changed").await.len();
    let too_high = format!("{eng}=1001");
    for (extra, detail) in [
        (
            vec!["--grace-minutes", "10081"],
            "grace_minutes must be between 0 and 10080",
        ),
        (
            vec!["--grace-minutes", "-1"],
            "grace_minutes must be between 0 and 10080",
        ),
        (
            vec!["--expand-cap", "1"],
            "expand_cap (1) must be at least the license's seats (3)",
        ),
        (
            vec!["--priority", "no-such-group=1"],
            "is not a licensed group of this license",
        ),
        (
            vec!["--priority", &too_high],
            "must be between -1000 and 1000",
        ),
        (
            vec!["--reserve-group", "Eng=0"],
            "a reserved group needs at least 1 seat",
        ),
        (
            vec!["--reserve-group", "Eng=4"],
            "4 reserved seats exceed the license's 3 seats",
        ),
        (
            vec!["--reserve-user", "ada", "--reserve-user", "ADA"],
            "'ada' is reserved twice",
        ),
        (
            vec!["--overflow", "sometimes"],
            "expected block, notify or expand",
        ),
        (vec!["--priority", "nonumber"], "expected NAME=NUMBER"),
    ] {
        set(&server, id, &extra).refused(detail);
    }
    assert_eq!(get(&server, id, "/policy").await, before);
    assert_eq!(actions(&server, id, "policy_changed").await.len(), audited);
    let unknown = "no-such-license";
    cli(&server, &["policy", "show", "--license", unknown]).refused("not found");
    cli(
        &server,
        &[
            "policy",
            "set",
            "--license",
            unknown,
            "--grace-minutes",
            "1",
        ],
    )
    .refused("not found");
    cli(&server, &["true-up", "show", "--license", unknown]).refused("not found");
    cli(&server, &["true-up", "settle", "--license", unknown]).refused("not found");
}
