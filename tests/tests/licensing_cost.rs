//! What licensing costs is proportional to what changed, not to the license: a membership PATCH
//! on a licensed group makes the seat engine look at the members it added or removed (plus the
//! head of the waiting line for freed seats), whatever the group's size. Before, a membership
//! event named only its group, so every such PATCH reconciled every member of the touched
//! licensed groups and every seat holder of the license — each probe of a 10,000-user sync cost
//! a whole-license reconcile, and its backlog drained at one per second. On SQLite and
//! PostgreSQL, counted by the engine's own metric.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use seatflow_runtime::telemetry::LICENSING_USERS_EXAMINED;
use seatflow_tests::{Backend, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

both_backends!(a_membership_patch_costs_its_changed_members_only);

const CONVERGE: Duration = Duration::from_secs(60);
/// Members of the licensed group before the PATCH.
const GROUP: usize = 600;
/// Members the PATCH adds, then removes.
const CHANGED: usize = 10;

/// The engine's running count of users it looked at, in this process.
fn examined() -> u64 {
    let text = seatflow_api::http::telemetry::prometheus().render();
    text.lines()
        .find_map(|line| line.strip_prefix(LICENSING_USERS_EXAMINED))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0)
}

async fn a_membership_patch_costs_its_changed_members_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server
        .create_license("Cost", (GROUP + 2 * CHANGED) as i64)
        .await;
    let mut ids = Vec::new();
    for i in 0..GROUP + CHANGED {
        let (status, user) = tenant
            .post("/Users", json!({"userName": format!("u{i}@cost.example")}))
            .await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let (newcomers, members) = (ids.split_off(GROUP), ids);
    let values =
        |ids: &[String]| -> Vec<Value> { ids.iter().map(|id| json!({"value": id})).collect() };
    let (_, group) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Everyone", "members": values(&members)}),
        )
        .await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    server
        .license_groups(&tenant.license_id, json!([group["id"]]))
        .await;
    let before = examined();
    server.converged(&tenant.license_id, CONVERGE).await;
    let full = examined() - before;
    assert_eq!(
        full, GROUP as u64,
        "licensing the group looks at all its members"
    );

    for op in ["Add", "Remove"] {
        let before = examined();
        let (status, _) = tenant
            .patch(
                &group_path,
                patch_op(json!([{"op": op, "path": "members", "value": values(&newcomers)}])),
            )
            .await;
        assert_eq!(status, 204);
        server.converged(&tenant.license_id, CONVERGE).await;
        let cost = examined() - before;
        println!(
            "{backend:?}: {op} of {CHANGED} members on a licensed group of {GROUP}: {cost} users examined"
        );
        assert_eq!(
            cost, CHANGED as u64,
            "{op}: only the changed members are examined, not the group of {GROUP}"
        );
    }
    let sync = server.sync(&tenant.license_id).await;
    assert_eq!(sync["dead_letters"], 0);
    let (_, license) = server
        .admin_get(&format!("/api/v1/licenses/{}", tenant.license_id))
        .await;
    assert_eq!(license["seats_used"], GROUP, "{license}");
}
