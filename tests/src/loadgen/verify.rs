//! The end-of-run checks: the seats of every license against the ledger's entitled users, and
//! every acknowledged write against what the server shows through SCIM.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::SeatCheck;
use super::ledger::Observed;
use super::runner::{Runner, Tenant};

/// The ledger check of every tenant: its acknowledged writes and the ones the server does not
/// show (at most 100 problems are kept).
pub(super) async fn ledgers(runner: &Runner, tenants: &[Tenant]) -> (u64, Vec<String>) {
    let mut problems = Vec::new();
    let mut writes = 0;
    for (t, tenant) in tenants.iter().enumerate() {
        let observed = observe(runner, tenant, &runner.deleted_groups(t)).await;
        let ledger = runner.ledgers[t].lock().expect("ledger").clone();
        writes += ledger.writes;
        problems.extend(
            ledger
                .verify(&observed)
                .into_iter()
                .map(|p| format!("tenant {t}: {p}")),
        );
    }
    problems.truncate(100);
    (writes, problems)
}

/// Everything the server shows for a tenant: users by pages, each group's members (and
/// whether the `deleted` groups are still there).
async fn observe(runner: &Runner, tenant: &Tenant, deleted: &BTreeSet<String>) -> Observed {
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
    for group in tenant.groups.iter().flatten().chain(deleted) {
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

/// Seats per license against the ledger, and the seat invariants (`docs/ARCHITECTURE.md`): assigned =
/// min(entitled, seats) = `seats_used`, only entitled users hold or wait for seats, each at
/// most once, and the others wait in a queue numbered 1..n, each with a reason.
pub(super) async fn seat_check(
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
