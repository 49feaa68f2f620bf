//! The write ledger: every write the server acknowledged (2xx), folded into the state it must
//! leave behind, and the end-of-run check that the server shows each of them.

use std::collections::{BTreeMap, BTreeSet};

/// An acknowledged SCIM write (ids are the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    CreateUser {
        id: String,
        user_name: String,
    },
    CreateGroup {
        id: String,
    },
    AddMembers {
        group: String,
        users: Vec<String>,
    },
    /// The whole member list (a group PUT).
    SetMembers {
        group: String,
        users: Vec<String>,
    },
    RemoveMember {
        group: String,
        user: String,
    },
    SetActive {
        user: String,
        active: bool,
    },
    SetFamilyName {
        user: String,
        family_name: String,
    },
    DeleteUser {
        user: String,
    },
    DeleteGroup {
        group: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedUser {
    pub user_name: String,
    pub active: bool,
    pub deleted: bool,
    pub family_name: Option<String>,
}

/// What one tenant's acknowledged writes must have left on the server.
#[derive(Debug, Clone, Default)]
pub struct TenantLedger {
    pub writes: u64,
    pub users: BTreeMap<String, ExpectedUser>,
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Groups deleted (they must not be listed).
    pub deleted_groups: BTreeSet<String>,
}

/// What the server shows for one tenant at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// id → (userName, active, name.familyName)
    pub users: BTreeMap<String, (String, bool, Option<String>)>,
    /// group id → member ids
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

impl TenantLedger {
    pub fn record(&mut self, write: Write) {
        self.writes += 1;
        match write {
            Write::CreateUser { id, user_name } => {
                self.users.insert(
                    id,
                    ExpectedUser {
                        user_name,
                        active: true,
                        deleted: false,
                        family_name: None,
                    },
                );
            }
            Write::CreateGroup { id } => {
                self.groups.entry(id).or_default();
            }
            Write::AddMembers { group, users } => {
                self.groups.entry(group).or_default().extend(users);
            }
            Write::SetMembers { group, users } => {
                self.groups.insert(group, users.into_iter().collect());
            }
            Write::RemoveMember { group, user } => {
                self.groups.entry(group).or_default().remove(&user);
            }
            Write::SetActive { user, active } => {
                if let Some(u) = self.users.get_mut(&user) {
                    u.active = active;
                }
            }
            Write::SetFamilyName { user, family_name } => {
                if let Some(u) = self.users.get_mut(&user) {
                    u.family_name = Some(family_name);
                }
            }
            Write::DeleteUser { user } => {
                if let Some(u) = self.users.get_mut(&user) {
                    u.deleted = true;
                }
                for members in self.groups.values_mut() {
                    members.remove(&user);
                }
            }
            Write::DeleteGroup { group } => {
                self.groups.remove(&group);
                self.deleted_groups.insert(group);
            }
        }
    }

    /// Users entitled to a seat: active, not deleted, in at least one licensed group.
    pub fn entitled(&self, licensed: &BTreeSet<String>) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|(id, _)| licensed.contains(*id))
            .flat_map(|(_, members)| members.iter())
            .filter(|u| self.users.get(*u).is_some_and(|u| u.active && !u.deleted))
            .cloned()
            .collect()
    }

    /// Every acknowledged write that the observed state does not show (empty: all visible).
    pub fn verify(&self, observed: &Observed) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, expected) in &self.users {
            match (observed.users.get(id), expected.deleted) {
                (Some(_), true) => problems.push(format!("user {id} was deleted but is listed")),
                (None, true) => {}
                (None, false) => problems.push(format!(
                    "user {id} ({}) was acknowledged but is missing",
                    expected.user_name
                )),
                (Some((user_name, active, family_name)), false) => {
                    if *user_name != expected.user_name {
                        problems.push(format!("user {id}: userName {user_name}"));
                    }
                    if *active != expected.active {
                        problems.push(format!(
                            "user {id}: active {active}, expected {}",
                            expected.active
                        ));
                    }
                    if expected.family_name.is_some() && *family_name != expected.family_name {
                        problems.push(format!(
                            "user {id}: familyName {family_name:?}, expected {:?}",
                            expected.family_name
                        ));
                    }
                }
            }
        }
        for (id, members) in &self.groups {
            match observed.groups.get(id) {
                None => problems.push(format!("group {id} was acknowledged but is missing")),
                Some(seen) => {
                    for missing in members.difference(seen) {
                        problems.push(format!("group {id}: member {missing} missing"));
                    }
                    for extra in seen.difference(members) {
                        problems.push(format!("group {id}: member {extra} was removed"));
                    }
                }
            }
        }
        for id in &self.deleted_groups {
            if observed.groups.contains_key(id) {
                problems.push(format!("group {id} was deleted but is listed"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> TenantLedger {
        let mut ledger = TenantLedger::default();
        for (id, name) in [("u1", "a@x"), ("u2", "b@x"), ("u3", "c@x")] {
            ledger.record(Write::CreateUser {
                id: id.into(),
                user_name: name.into(),
            });
        }
        ledger.record(Write::CreateGroup { id: "g1".into() });
        ledger.record(Write::AddMembers {
            group: "g1".into(),
            users: vec!["u1".into(), "u2".into(), "u3".into()],
        });
        ledger.record(Write::SetActive {
            user: "u2".into(),
            active: false,
        });
        ledger.record(Write::DeleteUser { user: "u3".into() });
        ledger
    }

    fn observed() -> Observed {
        let mut observed = Observed::default();
        observed
            .users
            .insert("u1".into(), ("a@x".into(), true, None));
        observed
            .users
            .insert("u2".into(), ("b@x".into(), false, None));
        observed
            .groups
            .insert("g1".into(), ["u1", "u2"].map(String::from).into());
        observed
    }

    #[test]
    fn a_faithful_server_passes() {
        assert_eq!(ledger().verify(&observed()), Vec::<String>::new());
        assert_eq!(ledger().writes, 7);
    }

    #[test]
    fn a_missing_write_is_detected() {
        let mut lost_user = observed();
        lost_user.users.remove("u1");
        assert_eq!(ledger().verify(&lost_user).len(), 1);

        let mut lost_member = observed();
        if let Some(m) = lost_member.groups.get_mut("g1") {
            m.remove("u2");
        }
        assert_eq!(ledger().verify(&lost_member).len(), 1);

        let mut lost_disable = observed();
        if let Some(u) = lost_disable.users.get_mut("u2") {
            u.1 = true;
        }
        assert_eq!(ledger().verify(&lost_disable).len(), 1);

        let mut lost_delete = observed();
        lost_delete
            .users
            .insert("u3".into(), ("c@x".into(), true, None));
        assert_eq!(ledger().verify(&lost_delete).len(), 1);
    }

    #[test]
    fn a_member_list_replaces_the_members_and_a_deleted_group_must_be_gone() {
        let mut ledger = ledger();
        ledger.record(Write::SetMembers {
            group: "g1".into(),
            users: vec!["u2".into()],
        });
        let mut seen = observed();
        assert_eq!(ledger.verify(&seen).len(), 1, "u1 is no member any more");
        seen.groups
            .insert("g1".into(), ["u2"].map(String::from).into());
        assert_eq!(ledger.verify(&seen), Vec::<String>::new());

        ledger.record(Write::CreateGroup { id: "g2".into() });
        ledger.record(Write::DeleteGroup { group: "g2".into() });
        assert_eq!(ledger.verify(&seen), Vec::<String>::new());
        seen.groups.insert("g2".into(), BTreeSet::new());
        assert_eq!(ledger.verify(&seen).len(), 1);
    }

    #[test]
    fn entitlement_follows_the_licensed_groups() {
        let ledger = ledger();
        let licensed = BTreeSet::from(["g1".to_owned()]);
        assert_eq!(
            ledger.entitled(&licensed),
            BTreeSet::from(["u1".to_owned()])
        );
        assert!(ledger.entitled(&BTreeSet::new()).is_empty());
    }
}
