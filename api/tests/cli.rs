//! The `seatflow-api` binary as an operator runs it: license commands, start-up errors, and the
//! embedded-default server started with no configuration.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_seatflow-api");

struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        TempDb(
            std::env::temp_dir().join(format!("seatflow-cli-{}.db", uuid::Uuid::new_v4().simple())),
        )
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn seatflow(db: &TempDb, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", db.url())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json(line: &str) -> Value {
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn license_commands_create_list_rotate_revoke() {
    let db = TempDb::new();
    let (ok, out, err) = seatflow(
        &db,
        &["license", "create", "--name", "Contoso", "--seats", "50"],
    );
    assert!(ok, "{err}");
    let created = json(&out);
    assert_eq!(created["tenant_url"], "http://127.0.0.1:8080/scim/v2");
    assert_eq!(
        created["secret_token"].as_str().unwrap().len(),
        43,
        "32 bytes, base64url"
    );
    let license_id = created["license_id"].as_str().unwrap();

    let (ok, out, _) = seatflow(&db, &["license", "list"]);
    assert!(ok);
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], license_id);
    assert_eq!(lines[0]["seats"], 50);

    let (ok, out, err) = seatflow(
        &db,
        &["license", "token", "rotate", "--license", license_id],
    );
    assert!(ok, "{err}");
    let rotated = json(&out);
    assert_ne!(rotated["secret_token"], created["secret_token"]);

    let token_id = created["token_id"].as_str().unwrap();
    let args = [
        "license",
        "token",
        "revoke",
        "--license",
        license_id,
        "--token-id",
        token_id,
    ];
    let (ok, _, err) = seatflow(&db, &args);
    assert!(ok, "{err}");
    let (ok, _, err) = seatflow(&db, &args);
    assert!(!ok, "revoking twice fails");
    assert!(err.contains("no live token"), "{err}");
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let out = Command::new(BIN)
        .args(["license", "list"])
        .env_clear()
        .env(
            "SEATFLOW_DATABASE_URL",
            "postgres://seat:hunter2@127.0.0.1:1/seatflow",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot connect to database postgres://seat:***@127.0.0.1:1/seatflow"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2")
            && !err.contains("Invalid connection url")
            && !err.contains("panicked"),
        "{err}"
    );

    let out = Command::new(BIN)
        .env_clear()
        .env("SEATFLOW_DATABASE_URL", "mysql://h/db")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn distributed_mode_requires_an_admin_token() {
    let out = Command::new(BIN)
        .env_clear()
        .env(
            "SEATFLOW_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("SEATFLOW_ADMIN_TOKEN must be set")
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn embedded_default_serves_with_a_generated_admin_token() {
    let db = TempDb::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server(
        Command::new(BIN)
            .env_clear()
            .env("SEATFLOW_DATABASE_URL", db.url())
            .env("SEATFLOW_BIND", format!("127.0.0.1:{port}"))
            .env("SEATFLOW_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut token = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(t) = line.split("generated admin token for this run: ").nth(1) {
            token = Some(t.trim().to_owned());
        }
        if line.contains("listening on http://127.0.0.1:") {
            break;
        }
    }
    let token = token.expect("the generated admin token is printed once");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let created: Value = client
        .post(format!("{base}/api/v1/licenses"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Quickstart", "seats": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant_url = created["tenant_url"].as_str().unwrap();
    let probe = client
        .get(format!(
            "{tenant_url}/Users?filter=userName+eq+\"{}\"",
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(created["secret_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    // The seed's Tenant URL path serves the same routes.
    let seed_path = client
        .get(format!(
            "{base}/api/v1/scim/Groups?excludedAttributes=members"
        ))
        .bearer_auth(created["secret_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(seed_path.status(), 200);
}
