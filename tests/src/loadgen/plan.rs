//! The request plan: what each simulated provisioning job changes, derived only from the
//! knobs and the seed (no server answers), so two runs with the same seed send the same
//! requests in the same per-tenant order.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The shape of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    pub seed: u64,
    pub tenants: usize,
    pub users: usize,
    pub groups: usize,
    pub members_per_group: usize,
    /// Members per add PATCH (Entra batches member adds).
    pub batch: usize,
    pub seats: i64,
    /// How many of each tenant's groups the admin licenses (the first ones).
    pub licensed_groups: usize,
    /// Changes per tenant in each incremental cycle.
    pub changes_per_cycle: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user_name: String,
    pub external_id: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub display_name: String,
    pub external_id: String,
    /// Indexes into the tenant's users, in the order Entra sends them.
    pub members: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPlan {
    pub index: usize,
    pub users: Vec<UserSpec>,
    pub groups: Vec<GroupSpec>,
}

impl TenantPlan {
    /// The member-add PATCH batches of one group.
    pub fn batches(&self, group: usize, batch: usize) -> Vec<Vec<usize>> {
        self.groups[group]
            .members
            .chunks(batch.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }
}

/// PATCH dialect: Entra's default (`"Replace"`, `"False"`, member removal by value list) or
/// the `aadOptscim062020` flag (lower-case ops, booleans, path-less replace, value-filter removal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Dialect {
    Default,
    Aad2020,
}

/// One change of an incremental cycle (user and group are indexes in the tenant's plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Attributes {
        user: usize,
        dialect: Dialect,
        family_name: String,
    },
    Disable {
        user: usize,
        dialect: Dialect,
    },
    Enable {
        user: usize,
        dialect: Dialect,
    },
    RemoveMember {
        group: usize,
        user: usize,
        dialect: Dialect,
    },
    Delete {
        user: usize,
    },
}

impl Change {
    pub fn user(&self) -> usize {
        match self {
            Change::Attributes { user, .. }
            | Change::Disable { user, .. }
            | Change::Enable { user, .. }
            | Change::RemoveMember { user, .. }
            | Change::Delete { user } => *user,
        }
    }
}

/// A short tag of the seed, so names differ between seeds but not between runs of one seed.
pub fn run_tag(seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_f10e);
    format!("{:08x}", rng.random::<u32>())
}

/// The initial cycle of every tenant.
pub fn initial(spec: &Spec) -> Vec<TenantPlan> {
    let tag = run_tag(spec.seed);
    (0..spec.tenants)
        .map(|t| {
            let mut rng =
                StdRng::seed_from_u64(spec.seed.wrapping_mul(1_000_003).wrapping_add(t as u64));
            let users = (0..spec.users)
                .map(|i| UserSpec {
                    user_name: format!("u{i}.{tag}@t{t}.loadgen.test"),
                    external_id: format!("{:032x}", rng.random::<u128>()),
                    given_name: format!("Given{i}"),
                    family_name: format!("Family{}", rng.random_range(0..100_000u32)),
                })
                .collect::<Vec<_>>();
            let groups = (0..spec.groups)
                .map(|g| {
                    let size = spec.members_per_group.min(spec.users);
                    let start = (g * spec.members_per_group) % spec.users.max(1);
                    let mut members: Vec<usize> =
                        (0..size).map(|k| (start + k) % spec.users).collect();
                    members.shuffle(&mut rng);
                    GroupSpec {
                        display_name: format!("Group {g} {tag}"),
                        external_id: format!("{:032x}", rng.random::<u128>()),
                        members,
                    }
                })
                .collect();
            TenantPlan {
                index: t,
                users,
                groups,
            }
        })
        .collect()
}

/// What the plan assumes about a tenant after its writes (every write succeeds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanState {
    pub active: Vec<bool>,
    pub deleted: Vec<bool>,
    pub members: Vec<BTreeSet<usize>>,
    /// Each user's current `name.familyName` (a whole-resource PUT carries it).
    pub family_names: Vec<String>,
}

impl PlanState {
    pub fn after_initial(plan: &TenantPlan) -> PlanState {
        PlanState {
            active: vec![true; plan.users.len()],
            deleted: vec![false; plan.users.len()],
            members: plan
                .groups
                .iter()
                .map(|g| g.members.iter().copied().collect())
                .collect(),
            family_names: plan.users.iter().map(|u| u.family_name.clone()).collect(),
        }
    }
}

/// The changes of incremental cycle `cycle` for one tenant; each user appears at most once,
/// so the changes of a cycle may run concurrently. Advances `state`.
pub fn incremental(spec: &Spec, tenant: usize, cycle: u64, state: &mut PlanState) -> Vec<Change> {
    let mut rng = StdRng::seed_from_u64(
        spec.seed ^ (tenant as u64).wrapping_mul(0x9e37_79b9) ^ cycle.wrapping_mul(0x85eb_ca6b),
    );
    let mut candidates: Vec<usize> = (0..state.active.len())
        .filter(|&u| !state.deleted[u])
        .collect();
    candidates.shuffle(&mut rng);
    let mut changes = Vec::new();
    for user in candidates.into_iter().take(spec.changes_per_cycle) {
        let dialect = if rng.random_bool(0.5) {
            Dialect::Default
        } else {
            Dialect::Aad2020
        };
        let roll = rng.random_range(0..100u32);
        let change = if !state.active[user] {
            // Disabled users come back (Entra re-enables; memberships were kept).
            state.active[user] = true;
            Change::Enable { user, dialect }
        } else if roll < 50 {
            Change::Attributes {
                user,
                dialect,
                family_name: format!("Family{}", rng.random_range(0..100_000u32)),
            }
        } else if roll < 70 {
            state.active[user] = false;
            Change::Disable { user, dialect }
        } else if roll < 90 {
            match state.members.iter().position(|m| m.contains(&user)) {
                Some(group) => {
                    state.members[group].remove(&user);
                    Change::RemoveMember {
                        group,
                        user,
                        dialect,
                    }
                }
                None => Change::Attributes {
                    user,
                    dialect,
                    family_name: format!("Family{}", rng.random_range(0..100_000u32)),
                },
            }
        } else {
            state.deleted[user] = true;
            state.active[user] = false;
            for members in &mut state.members {
                members.remove(&user);
            }
            Change::Delete { user }
        };
        if let Change::Attributes { family_name, .. } = &change {
            state.family_names[user] = family_name.clone();
        }
        changes.push(change);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> Spec {
        Spec {
            seed,
            tenants: 2,
            users: 50,
            groups: 3,
            members_per_group: 20,
            batch: 7,
            seats: 10,
            licensed_groups: 2,
            changes_per_cycle: 15,
        }
    }

    fn cycles(spec: &Spec) -> Vec<Vec<Change>> {
        let plans = initial(spec);
        let mut state = PlanState::after_initial(&plans[0]);
        (0..4)
            .map(|c| incremental(spec, 0, c, &mut state))
            .collect()
    }

    #[test]
    fn a_seed_always_gives_the_same_plan() {
        assert_eq!(initial(&spec(42)), initial(&spec(42)));
        assert_eq!(cycles(&spec(42)), cycles(&spec(42)));
        assert_ne!(initial(&spec(42)), initial(&spec(43)));
        assert_ne!(cycles(&spec(42)), cycles(&spec(43)));
    }

    #[test]
    fn groups_have_their_members_and_batches_cover_them() {
        let plans = initial(&spec(7));
        let plan = &plans[1];
        for (g, group) in plan.groups.iter().enumerate() {
            assert_eq!(group.members.len(), 20);
            let unique: BTreeSet<_> = group.members.iter().collect();
            assert_eq!(unique.len(), 20);
            let batches = plan.batches(g, 7);
            assert_eq!(batches.len(), 3);
            assert_eq!(batches.concat(), group.members);
        }
    }

    #[test]
    fn a_cycle_touches_each_user_once() {
        for cycle in cycles(&spec(9)) {
            let users: BTreeSet<_> = cycle.iter().map(Change::user).collect();
            assert_eq!(users.len(), cycle.len());
        }
    }
}
