//! One license as its admin drives it in the licensing tests: users and groups synced the way
//! Entra sends them, the licensed groups and settings changed through the admin API, and the
//! seat rows read once licensing has converged.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Tenant, TestServer, patch_op, read};

/// How long licensing may take to apply every event of a license.
pub const CONVERGE: Duration = Duration::from_secs(30);

pub struct License<'a> {
    pub server: &'a TestServer,
    pub tenant: Tenant,
}

impl License<'_> {
    /// A request to the admin API under `/api/v1/licenses/{id}` (`path` "" for the license).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("/api/v1/licenses/{}{path}", self.tenant.license_id);
        let mut request = self.server.admin(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("admin request")).await
    }

    /// Creates `{name}@contoso.com`; its id.
    pub async fn user(&self, name: &str) -> String {
        let (status, body) = self
            .tenant
            .post(
                "/Users",
                json!({"userName": format!("{name}@contoso.com"), "active": true}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// Creates a group, then adds its members in one PATCH (Entra's order); its id.
    pub async fn group(&self, name: &str, members: &[String]) -> String {
        let (status, body) = self
            .tenant
            .post("/Groups", json!({"displayName": name}))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("group id").to_owned();
        if !members.is_empty() {
            self.members(&id, "Add", members).await;
        }
        id
    }

    /// Entra's membership change: `op` "Add" or "Remove" of `members` in one PATCH.
    pub async fn members(&self, group: &str, op: &str, members: &[String]) {
        let value: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, body) = self
            .tenant
            .patch(
                &format!("/Groups/{group}"),
                patch_op(json!([{"op": op, "path": "members", "value": value}])),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    pub async fn license_groups(&self, groups: &[&String]) -> Value {
        let (status, body) = self
            .admin(
                Method::PUT,
                "/licensed-groups",
                Some(json!({"group_ids": groups})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Changes the license (`PATCH /api/v1/licenses/{id}`), which must succeed.
    pub async fn set(&self, change: Value) {
        let (status, body) = self.admin(Method::PATCH, "", Some(change)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Entra's deactivation: `active` replaced by the string "False".
    pub async fn disable(&self, user: &str) {
        let (status, _) = self
            .tenant
            .patch(
                &format!("/Users/{user}"),
                patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            )
            .await;
        assert_eq!(status, 200);
    }

    /// Waits for licensing to converge; every seat row (assigned first, then the queue).
    pub async fn rows(&self) -> Vec<Value> {
        self.server
            .converged(&self.tenant.license_id, CONVERGE)
            .await;
        let (status, rows) = self.admin(Method::GET, "/seats?limit=1000", None).await;
        assert_eq!(status, 200, "{rows}");
        rows.as_array().expect("seat rows").clone()
    }

    /// Waits for licensing to converge, checks the invariants, returns (assigned, queue).
    pub async fn seats(&self) -> (Vec<String>, Vec<String>) {
        let rows = self.rows().await;
        let (_, license) = self.admin(Method::GET, "", None).await;
        let ids = |status: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r["status"] == status)
                .map(|r| r["user_id"].as_str().expect("user_id").to_owned())
                .collect()
        };
        let (assigned, queue) = (ids("assigned"), ids("blocked"));
        // Invariants: seats_used counts the assigned rows; the queue is numbered 1..n.
        assert_eq!(license["seats_used"], assigned.len(), "{license}");
        for (i, row) in rows.iter().filter(|r| r["status"] == "blocked").enumerate() {
            assert_eq!(row["queue_position"], i + 1, "{row}");
            assert!(row["reason"].is_string());
        }
        (assigned, queue)
    }
}
