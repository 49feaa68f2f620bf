//! What each provider sends for each step of the plan (shaped by `idp.rs`): its connection
//! probe, the creation of a user or group, a membership push, and the incremental changes,
//! each with the ledger entries its acknowledgement stands for.

use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::idp::{Before, GroupMatch, Idp, UserUpdate, patch_body};
use super::ledger::Write;
use super::plan::{Change, Dialect, GroupSpec, PlanState, TenantPlan, UserSpec};
use super::runner::{Runner, Tenant};

/// One SCIM request of a flow.
pub(super) struct Step {
    pub(super) kind: String,
    pub(super) method: &'static str,
    /// After the Tenant URL's path: `/Users?filter=…`.
    pub(super) target: String,
    pub(super) body: Option<String>,
    pub(super) write: bool,
    /// What its acknowledgement puts in the ledger.
    pub(super) ledger: Vec<Write>,
}

impl Step {
    pub(super) fn read(kind: impl Into<String>, target: String) -> Step {
        Step {
            kind: kind.into(),
            method: "GET",
            target,
            body: None,
            write: false,
            ledger: Vec::new(),
        }
    }

    fn write(
        kind: impl Into<String>,
        method: &'static str,
        target: String,
        body: Option<String>,
        ledger: Vec<Write>,
    ) -> Step {
        Step {
            kind: kind.into(),
            method,
            target,
            body,
            write: true,
            ledger,
        }
    }

    /// A PATCH of `operations`; None when there are none to send.
    fn patch(
        kind: impl Into<String>,
        target: String,
        operations: Vec<serde_json::Value>,
        ledger: Vec<Write>,
    ) -> Option<Step> {
        (!operations.is_empty())
            .then(|| Step::write(kind, "PATCH", target, Some(patch_body(operations)), ledger))
    }
}

/// The creation of one user or group: what the provider asks first, the POST, and the lookup
/// that adopts the resource after a 409 on a POST whose earlier attempt may have been applied.
pub(super) struct Create<'a> {
    pub(super) before: GroupMatch,
    pub(super) lookup_kind: &'static str,
    pub(super) lookup: String,
    pub(super) post_kind: &'static str,
    pub(super) post_path: &'static str,
    pub(super) body: String,
    /// The ledger's entries for the created resource, given its id.
    pub(super) ledger: Box<dyn FnOnce(String) -> Vec<Write> + Send + 'a>,
}

/// The POST of a plan user (`lookup_first`: unless `--no-user-filter`).
pub(super) fn user_create(idp: Idp, user: &UserSpec, lookup_first: bool) -> Create<'_> {
    let first = lookup_first && idp.looks_up_users_first();
    Create {
        before: if first {
            GroupMatch::Filter
        } else {
            GroupMatch::Nothing
        },
        lookup_kind: "GET /Users?filter=userName",
        lookup: idp.user_lookup(&user.user_name),
        post_kind: "POST /Users",
        post_path: "/Users",
        body: idp.user_post(user),
        ledger: Box::new(|id| {
            vec![Write::CreateUser {
                id,
                user_name: user.user_name.clone(),
            }]
        }),
    }
}

/// The POST of a plan group, with `members` (server ids) if the provider sends them there.
pub(super) fn group_create(idp: Idp, group: &GroupSpec, members: Vec<String>) -> Create<'_> {
    let ids: Vec<&str> = members.iter().map(String::as_str).collect();
    let body = idp.group_post(group, &ids);
    Create {
        before: idp.group_match(),
        lookup_kind: "GET /Groups?filter=displayName",
        lookup: idp.group_lookup(&group.display_name),
        post_kind: "POST /Groups",
        post_path: "/Groups",
        body,
        ledger: Box::new(move |id| {
            let mut writes = vec![Write::CreateGroup { id: id.clone() }];
            if !members.is_empty() {
                writes.push(Write::AddMembers {
                    group: id,
                    users: members,
                });
            }
            writes
        }),
    }
}

/// The first page of a list answer.
#[derive(Deserialize, Default)]
struct Page {
    #[serde(rename = "totalResults", default)]
    total: usize,
    #[serde(rename = "itemsPerPage", default)]
    items: usize,
}

/// A created or found resource.
#[derive(Deserialize)]
struct Resource {
    id: String,
}

#[derive(Deserialize)]
struct Found {
    #[serde(rename = "Resources", default)]
    resources: Vec<Resource>,
}

/// Reads a whole collection (`/Users`, `/Groups`) in pages of 100, as the providers that list
/// instead of filtering do.
pub(super) async fn list_all(runner: &Runner, tenant: &Tenant, kind: &str, collection: &str) {
    let mut start = 1;
    loop {
        let target = format!("{collection}?startIndex={start}&count=100");
        let Some(answer) = runner.scim(tenant, &Step::read(kind, target)).await else {
            return;
        };
        let page: Page = serde_json::from_slice(&answer.body).unwrap_or_default();
        start += page.items;
        if !answer.ok() || page.items == 0 || start > page.total {
            return;
        }
    }
}

/// Sends a [`Create`] for tenant `t`; the server's id once acknowledged (and recorded).
pub(super) async fn create(
    runner: &Runner,
    t: usize,
    tenant: &Tenant,
    create: Create<'_>,
) -> Option<String> {
    match create.before {
        GroupMatch::Nothing => {}
        GroupMatch::Filter => {
            let lookup = Step::read(create.lookup_kind, create.lookup.clone());
            runner.scim(tenant, &lookup).await;
        }
        GroupMatch::List => {
            list_all(
                runner,
                tenant,
                "GET /Groups?startIndex&count (match by name)",
                "/Groups",
            )
            .await;
        }
    }
    let post = Step::write(
        create.post_kind,
        "POST",
        create.post_path.to_owned(),
        Some(create.body),
        Vec::new(),
    );
    let answer = runner.scim(tenant, &post).await;
    let id = match answer {
        Some(a) if a.status == 201 => serde_json::from_slice::<Resource>(&a.body).ok()?.id,
        Some(a) if a.status == 409 && a.uncertain => {
            adopt(runner, tenant, create.lookup_kind, create.lookup).await?
        }
        _ => return None,
    };
    for write in (create.ledger)(id.clone()) {
        runner.record(t, write);
    }
    Some(id)
}

/// After a create answered 409 when an earlier attempt's fate was unknown: the resource the
/// lookup finds is that attempt's, and its id the acknowledgement (what Entra and authentik do
/// on a 409: look the resource up and take it over).
async fn adopt(runner: &Runner, tenant: &Tenant, kind: &str, lookup: String) -> Option<String> {
    let step = Step::read(format!("{kind} (after a 409)"), lookup);
    let answer = runner.scim(tenant, &step).await?;
    let found: Found = serde_json::from_slice(&answer.body).ok()?;
    let id = found.resources.into_iter().next()?.id;
    runner.resolved();
    Some(id)
}

/// The connection check the provider sends before its first cycle (`guid`: a random value
/// that matches nothing).
pub(super) async fn test_connection(runner: &Runner, t: usize, tenant: &Tenant, rng: &mut StdRng) {
    let idp = runner.options.idp;
    let guid = uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string();
    let kind = "test connection";
    let reads = match idp {
        Idp::Entra => vec![idp.user_lookup(&guid), idp.group_lookup(&guid)],
        Idp::Okta => vec![
            "/Users?startIndex=1&count=2".to_owned(),
            "/Groups?startIndex=1&count=100".to_owned(),
        ],
        Idp::Onelogin => vec![
            idp.user_lookup(&format!("onelogin-connection-test-{guid}@example.com")),
            "/Groups".to_owned(),
        ],
        Idp::Jumpcloud => vec!["/Users?startIndex=1&count=1".to_owned()],
        Idp::Pingone => vec![idp.user_lookup(&guid)],
        Idp::Rippling | Idp::Authentik => vec!["/ServiceProviderConfig".to_owned()],
        Idp::Keycloak => Vec::new(),
    };
    for target in reads {
        runner.scim(tenant, &Step::read(kind, target)).await;
    }
    match idp {
        Idp::Rippling => {
            list_all(runner, tenant, kind, "/Users").await;
            list_all(runner, tenant, kind, "/Groups").await;
        }
        Idp::Jumpcloud => jumpcloud_test_objects(runner, t, tenant, &guid[..8]).await,
        _ => {}
    }
}

/// JumpCloud's Test/Activate: a test user and a test group, created and deleted again.
async fn jumpcloud_test_objects(runner: &Runner, t: usize, tenant: &Tenant, tag: &str) {
    let idp = runner.options.idp;
    let user = UserSpec {
        user_name: format!("jc-test-user-{tag}@t{t}.loadgen.test"),
        external_id: format!("{tag}{tag}{tag}"),
        given_name: "Test".to_owned(),
        family_name: "User".to_owned(),
    };
    let group = GroupSpec {
        display_name: format!("JumpCloud Test Group {tag}"),
        external_id: format!("{tag}{tag}"),
        members: Vec::new(),
    };
    let user_id = create(runner, t, tenant, user_create(idp, &user, true)).await;
    let group_id = create(runner, t, tenant, group_create(idp, &group, Vec::new())).await;
    let mut deletes = Vec::new();
    if let Some(group) = group_id {
        let target = format!("/Groups/{group}");
        let ledger = vec![Write::DeleteGroup { group }];
        deletes.push(Step::write(
            "DELETE /Groups",
            "DELETE",
            target,
            None,
            ledger,
        ));
    }
    if let Some(user) = user_id {
        let target = format!("/Users/{user}");
        let ledger = vec![Write::DeleteUser { user }];
        deletes.push(Step::write("DELETE /Users", "DELETE", target, None, ledger));
    }
    runner.steps(t, tenant, deletes).await;
}

/// Members (server id, userName) of plan users, those the server acknowledged.
pub(super) fn known<'a>(
    tenant: &'a Tenant,
    plan: &'a TenantPlan,
    users: impl IntoIterator<Item = &'a usize>,
) -> Vec<(&'a str, &'a str)> {
    users
        .into_iter()
        .filter_map(|u| {
            let id = tenant.users[*u].as_deref()?;
            Some((id, plan.users[*u].user_name.as_str()))
        })
        .collect()
}

fn ids(members: &[(&str, &str)]) -> Vec<String> {
    members.iter().map(|(id, _)| (*id).to_owned()).collect()
}

/// One membership push of the initial cycle adding `members` to group `g` (server id
/// `group`); for a provider that PUTs whole groups, `so_far` is the member list after it.
pub(super) fn member_push(
    idp: Idp,
    plan: &TenantPlan,
    g: usize,
    group: &str,
    members: &[(&str, &str)],
    so_far: &[&str],
) -> Vec<Step> {
    let target = format!("/Groups/{group}");
    if idp.puts_whole_groups() {
        let body = idp.group_put(&plan.groups[g], group, so_far);
        let ledger = vec![Write::SetMembers {
            group: group.to_owned(),
            users: so_far.iter().map(|s| (*s).to_owned()).collect(),
        }];
        return vec![Step::write(
            "PUT /Groups members",
            "PUT",
            target,
            Some(body),
            ledger,
        )];
    }
    let ledger = vec![Write::AddMembers {
        group: group.to_owned(),
        users: ids(members),
    }];
    let add = Step::patch(
        "PATCH /Groups add members",
        target,
        idp.member_ops(true, members),
        ledger,
    );
    group_write(idp, &plan.groups[g], group, add)
}

/// A group write with what the provider sends around it: Okta's name push before it,
/// authentik's read of the group after it.
fn group_write(idp: Idp, spec: &GroupSpec, group: &str, write: Option<Step>) -> Vec<Step> {
    let Some(write) = write else {
        return Vec::new();
    };
    let target = format!("/Groups/{group}");
    let mut steps = Vec::new();
    if idp.pushes_group_name() {
        let ops = idp.group_name_ops(group, &spec.display_name);
        steps.extend(Step::patch(
            "PATCH /Groups name push",
            target.clone(),
            ops,
            Vec::new(),
        ));
    }
    steps.push(write);
    if idp.rereads_groups() {
        steps.push(Step::read("GET /Groups/{id} (re-read)", target));
    }
    steps
}

/// A member PATCH of the probes: `add` or remove `members` at the group's full size, in the
/// provider's operations (Keycloak's too, which PATCHes groups only when configured to).
pub(super) fn probe_patch(
    idp: Idp,
    group: &str,
    add: bool,
    members: &[(&str, &str)],
    size: usize,
) -> Option<Step> {
    let name = if add { "add" } else { "remove" };
    let kind = format!(
        "PATCH /Groups {name} {} members (group of {size})",
        members.len()
    );
    let group_id = group.to_owned();
    let ledger = if add {
        vec![Write::AddMembers {
            group: group_id,
            users: ids(members),
        }]
    } else {
        ids(members)
            .into_iter()
            .map(|user| Write::RemoveMember {
                group: group_id.clone(),
                user,
            })
            .collect()
    };
    Step::patch(
        kind,
        format!("/Groups/{group}"),
        idp.member_ops(add, members),
        ledger,
    )
}

/// The requests of one incremental change; `state` is the plan's state after the cycle.
pub(super) fn change(
    idp: Idp,
    tenant: &Tenant,
    plan: &TenantPlan,
    state: &PlanState,
    change: &Change,
) -> Vec<Step> {
    let u = change.user();
    let Some(user) = tenant.users[u].clone() else {
        return Vec::new();
    };
    let spec = &plan.users[u];
    let user_url = format!("/Users/{user}");
    let set_active = |active: bool| Write::SetActive {
        user: user.clone(),
        active,
    };
    // A PUT of the whole user, with what the provider reads first.
    let put = |kind: &str, before: Before, family_name: &str, active: bool| {
        let mut steps = Vec::new();
        match before {
            Before::Nothing => {}
            Before::Read => steps.push(Step::read("GET /Users/{id}", user_url.clone())),
            Before::Match => steps.push(Step::read(
                "GET /Users?filter=userName",
                idp.user_lookup(&spec.user_name),
            )),
        }
        let ledger = vec![
            Write::SetFamilyName {
                user: user.clone(),
                family_name: family_name.to_owned(),
            },
            set_active(active),
        ];
        let body = idp.user_put(spec, &user, family_name, active);
        steps.push(Step::write(
            kind,
            "PUT",
            user_url.clone(),
            Some(body),
            ledger,
        ));
        steps
    };
    let current_family = &state.family_names[u];
    match change {
        Change::Attributes {
            dialect,
            family_name,
            ..
        } => match idp.user_updates() {
            UserUpdate::Patch => {
                let kind = match (idp, dialect) {
                    (Idp::Entra, Dialect::Default) => "PATCH /Users attributes (default dialect)",
                    (Idp::Entra, Dialect::Aad2020) => "PATCH /Users attributes (aadOptscim062020)",
                    _ => "PATCH /Users attributes",
                };
                let ledger = vec![Write::SetFamilyName {
                    user: user.clone(),
                    family_name: family_name.clone(),
                }];
                let ops = idp.attribute_ops(*dialect, spec, family_name);
                Step::patch(kind, user_url.clone(), ops, ledger)
                    .into_iter()
                    .collect()
            }
            // Attribute changes are planned for active users only.
            UserUpdate::Put(before) => put("PUT /Users attributes", before, family_name, true),
        },
        Change::Disable { dialect, .. } | Change::Enable { dialect, .. } => {
            let active = matches!(change, Change::Enable { .. });
            let what = if active { "re-enable" } else { "disable" };
            match idp.active_updates() {
                UserUpdate::Patch => {
                    let ops = idp.active_ops(*dialect, active);
                    let kind = format!("PATCH /Users {what}");
                    Step::patch(kind, user_url.clone(), ops, vec![set_active(active)])
                        .into_iter()
                        .collect()
                }
                UserUpdate::Put(before) => put(
                    &format!("PUT /Users {what}"),
                    before,
                    current_family,
                    active,
                ),
            }
        }
        Change::RemoveMember { group, dialect, .. } => {
            let Some(group_id) = tenant.groups[*group].clone() else {
                return Vec::new();
            };
            let group_spec = &plan.groups[*group];
            let target = format!("/Groups/{group_id}");
            if idp.puts_whole_groups() {
                // The group as it is after the cycle: every PUT of the cycle carries the same
                // list, so their order does not matter.
                let members = known(tenant, plan, &state.members[*group]);
                let members: Vec<&str> = members.iter().map(|(id, _)| *id).collect();
                let body = idp.group_put(group_spec, &group_id, &members);
                let ledger = vec![Write::SetMembers {
                    group: group_id,
                    users: members.iter().map(|s| (*s).to_owned()).collect(),
                }];
                let kind = "PUT /Groups members (remove)";
                return vec![Step::write(kind, "PUT", target, Some(body), ledger)];
            }
            let ops = idp.remove_member_ops(*dialect, &user, &spec.user_name);
            let ledger = vec![Write::RemoveMember {
                group: group_id.clone(),
                user: user.clone(),
            }];
            let remove = Step::patch("PATCH /Groups remove member", target, ops, ledger);
            group_write(idp, group_spec, &group_id, remove)
        }
        Change::Delete { .. } if idp.deletes_users() => {
            let ledger = vec![Write::DeleteUser { user: user.clone() }];
            vec![Step::write(
                "DELETE /Users",
                "DELETE",
                user_url,
                None,
                ledger,
            )]
        }
        // Okta deactivates what it unassigns and never deletes it.
        Change::Delete { .. } if idp.active_updates() == UserUpdate::Patch => {
            let ops = idp.active_ops(Dialect::Default, false);
            let kind = "PATCH /Users deactivate (instead of a delete)";
            Step::patch(kind, user_url, ops, vec![set_active(false)])
                .into_iter()
                .collect()
        }
        // Rippling terminates.
        Change::Delete { .. } => put(
            "PUT /Users deactivate (instead of a delete)",
            Before::Nothing,
            current_family,
            false,
        ),
    }
}
