//! The identity providers' SCIM clients `seatflow-loadgen` can play (`--idp`): how each puts its
//! requests on the wire (request lines, headers) and what its bodies hold, from
//! `docs/providers/<provider>.md` and `tests/fixtures/idp/<provider>.http`. Which requests a
//! provider sends when is in `flows.rs`; this file only shapes them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::plan::{Dialect, GroupSpec, UserSpec};

/// The SCIM client a run plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Idp {
    /// Microsoft Entra ID. Test Connection filters for a random userName and group
    /// displayName; every object is looked up before its POST (`+` for spaces, raw `"`,
    /// `%40`); members are added by PATCH in batches (`"$ref": null`); attribute changes,
    /// disables, re-enables and member removals are PATCHes in both dialects (default and
    /// `aadOptscim062020`); deletes are DELETEs. Headers: only `Content-Type:
    /// application/scim+json; charset=utf-8` on bodies (the SCIM Validator's); Accept and
    /// User-Agent are undocumented, so none is sent.
    #[default]
    #[value(help = "Microsoft Entra ID: lookups with raw quotes, PATCH for every change")]
    Entra,
    /// Okta (OIN SCIM 2.0 template). Headers of Okta's samples (`User-Agent: Okta SCIM Client
    /// 1.0.0`, `Accept: application/scim+json`, `Accept-Charset: utf-8`, `Content-Type:
    /// application/scim+json; charset=utf-8`, `Connection: Keep-Alive`; its `Accept-Encoding:
    /// gzip,deflate` is left out because the loadgen does not decode compressed answers).
    /// Probes `GET /Users?startIndex=1&count=2` and `GET /Groups?startIndex=1&count=100`;
    /// looks users up with `%20`/`%22`/`%40` and `&startIndex=1&count=100` before the POST;
    /// Push Groups POSTs with `members: []` and no lookup, and every membership push is the
    /// name PATCH (path-less replace whose value carries the group's `id`) followed by the
    /// member PATCH (`{value, display}` adds, `members[value eq "…"]` removals); profile
    /// changes are `GET /Users/{id}` then a PUT of the whole user (`id`, `meta`, `groups: []`);
    /// (de)activation is the path-less `{"op":"replace","value":{"active":false}}`. Okta never
    /// DELETEs users: the plan's deletes are deactivations.
    #[value(help = "Okta: GET + PUT updates, path-less active PATCH, never DELETEs users")]
    Okta,
    /// OneLogin (SCIM v2 connector). Its docs name the calls but not their wire form; this is
    /// the fixture's reading: `Accept` and `Content-Type: application/json`; the Enable probe
    /// is a userName lookup for a user that does not exist, then `GET /Groups` (Get Groups);
    /// lookups `%20`/`%22`/`%40` without paging before each user POST; the user body is a
    /// rendered SCIM JSON Template (empty strings for unset parameters, no `active`); groups
    /// are POSTed without a lookup (OneLogin works from its groups list) and members added by
    /// PATCH value arrays and removed by `members[value eq "…"]`; Update User is `GET
    /// /Users/{id}` then a PUT of the template; Suspend and restore are that PUT with
    /// `active`; Delete is DELETE.
    #[value(help = "OneLogin (assumed shapes): JSON template bodies, PUT updates")]
    Onelogin,
    /// JumpCloud. JumpCloud documents behaviour, not requests; these are the shapes SCIM servers
    /// report receiving from it (the fixture's): Accept and Content-Type
    /// `application/scim+json` on every request, GET and DELETE included; Test/Activate reads
    /// `/Users?startIndex=1&count=1`, then creates and deletes a test user and a test group;
    /// lookups `%20`/`%22`/`%40` before each POST, users and groups; attribute changes are one
    /// PATCH with a `replace` and a path per attribute; `active` as a boolean; members added
    /// as `[{value}]` and removed by value array; deletes are DELETEs.
    #[value(help = "JumpCloud (reported shapes): test objects at activation, PATCH updates")]
    Jumpcloud,
    /// PingOne / PingFederate SCIM provisioner. `Accept: application/scim+json`; its Test
    /// Connection is undocumented, so the probe is the fixture's first request, a userName
    /// match (here for a random value); users are matched by `userName%20eq%20…` before the
    /// POST and before every PUT (the match decides create or update); updates, disables and
    /// re-enables are PUTs of the whole user (the connector has no user PATCH); groups are
    /// matched by reading the whole `/Groups?startIndex=…&count=100` list, then POSTed, and
    /// ("Use PATCH for group updates") members added by value arrays and removed by
    /// `members[value eq "…"]`; remove action "Delete": DELETE.
    #[value(help = "PingOne / PingFederate: match then PUT, groups matched by listing")]
    Pingone,
    /// Rippling custom SCIM app. Nothing on the wire is documented; this is the fixture's RFC
    /// reading of the documented options: `Accept: application/scim+json`; Test connection
    /// reads `/ServiceProviderConfig` and pages through `/Users` and `/Groups` (Supports
    /// Pagination); a userName lookup (`%20`) before each user POST; groups are POSTed with
    /// their first `--batch` members and edited by PATCH (Use PATCH to edit Groups: value-array
    /// adds, `members[value eq "…"]` removals); updates are PUTs; a termination is a PUT with
    /// `active: false`, and since Rippling deprovisions by terminating (its docs describe no
    /// user DELETE) the plan's deletes are terminations.
    #[value(help = "Rippling (assumed shapes): PUT updates, terminations instead of deletes")]
    Rippling,
    /// authentik SCIM provider (read from its source). `User-Agent: authentik@2025.10.1`,
    /// Accept and Content-Type `application/scim+json` on every request, `Connection:
    /// keep-alive`; reads `/ServiceProviderConfig` first; POSTs users and groups without a
    /// search and looks them up (`+`, `%22`, `%40`) only after a 409; users are updated and
    /// deactivated by a PUT of the whole resource with `id` (compared with the stored answer
    /// of its last write, so no GET first); group members are added one `add` operation per
    /// user, in chunks of `--batch` (standing in for `bulk.maxOperations`), removed one
    /// value-array `remove` per user, and after every group write the group is read back
    /// (`GET /Groups/{id}`; on a correct server its diff is empty, so no PATCH follows and the
    /// answer is not parsed); deletes are DELETEs.
    #[value(help = "authentik: POST first, PUT updates, one member op per user, re-reads")]
    Authentik,
    /// Keycloak with the keycloak-scim extension (its source, default settings). `Content-Type:
    /// application/scim+json` on every request, Apache HttpClient's User-Agent, no Accept; no
    /// probe and no search (after a 409 on a retried POST the loadgen, not Keycloak, looks the
    /// resource up, so the ledger stays exact); users are updated and disabled by a PUT of the
    /// whole resource with `id`, no GET first; groups are POSTed without members, then every
    /// membership change is a PUT of the whole group with its member list (`"$ref":
    /// "Users/<id>"`): one per `--batch` members joining, in order per group, and one per
    /// removal; deletes are DELETEs.
    #[value(help = "Keycloak (keycloak-scim): no probe or search, PUT users and whole groups")]
    Keycloak,
}

/// How a provider finds out whether a group exists before it POSTs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupMatch {
    /// It does not ask.
    Nothing,
    /// A displayName filter.
    Filter,
    /// It reads the whole group list and compares the names itself.
    List,
}

/// How a provider changes a user's attributes and `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserUpdate {
    /// PATCH operations.
    Patch,
    /// A PUT of the whole user, preceded by a read of it (Okta, OneLogin), by the userName
    /// match (PingOne), or by nothing (the others).
    Put(Before),
}

/// What a provider reads before a PUT of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Before {
    Nothing,
    /// `GET /Users/{id}`.
    Read,
    /// The userName lookup.
    Match,
}

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCIM_JSON: &str = "application/scim+json";
const SCIM_JSON_UTF8: &str = "application/scim+json; charset=utf-8";

/// A filter value as `encodeURIComponent` encodes it: `%20` for spaces, `%22`, `%40`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One line of a request head: fixed, or the request's own Host, Authorization or body type.
#[derive(Clone, Copy)]
enum Line {
    Host,
    Authorization,
    /// The profile's Content-Type, on requests with a body only.
    BodyType(&'static str),
    /// The profile's Content-Type on every request (authentik, JumpCloud, Keycloak).
    AlwaysType(&'static str),
    Fixed(&'static str, &'static str),
}

impl Idp {
    /// The profile's name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Idp::Entra => "entra",
            Idp::Okta => "okta",
            Idp::Onelogin => "onelogin",
            Idp::Jumpcloud => "jumpcloud",
            Idp::Pingone => "pingone",
            Idp::Rippling => "rippling",
            Idp::Authentik => "authentik",
            Idp::Keycloak => "keycloak",
        }
    }

    /// Every profile, for tests that run them all.
    pub const ALL: [Idp; 8] = [
        Idp::Entra,
        Idp::Okta,
        Idp::Onelogin,
        Idp::Jumpcloud,
        Idp::Pingone,
        Idp::Rippling,
        Idp::Authentik,
        Idp::Keycloak,
    ];

    /// The head lines after the request line, in the provider's order.
    fn lines(self) -> &'static [Line] {
        use Line::*;
        match self {
            Idp::Entra => &[Host, Authorization, BodyType(SCIM_JSON_UTF8)],
            Idp::Okta => &[
                Host,
                Fixed("Accept", SCIM_JSON),
                Fixed("Accept-Charset", "utf-8"),
                BodyType(SCIM_JSON_UTF8),
                Fixed("User-Agent", "Okta SCIM Client 1.0.0"),
                Authorization,
                Fixed("Connection", "Keep-Alive"),
            ],
            Idp::Onelogin => &[
                Host,
                Authorization,
                Fixed("Accept", "application/json"),
                BodyType("application/json"),
            ],
            Idp::Jumpcloud => &[
                Host,
                Authorization,
                Fixed("Accept", SCIM_JSON),
                AlwaysType(SCIM_JSON),
            ],
            Idp::Pingone | Idp::Rippling => &[
                Host,
                Authorization,
                Fixed("Accept", SCIM_JSON),
                BodyType(SCIM_JSON),
            ],
            Idp::Authentik => &[
                Host,
                Fixed("User-Agent", "authentik@2025.10.1"),
                Fixed("Accept", SCIM_JSON),
                AlwaysType(SCIM_JSON),
                Authorization,
                Fixed("Connection", "keep-alive"),
            ],
            Idp::Keycloak => &[
                Host,
                Authorization,
                AlwaysType(SCIM_JSON),
                Fixed("User-Agent", "Apache-HttpClient/4.5.14 (Java/21.0.5)"),
            ],
        }
    }

    /// The header fields of a request to `host` with `authorization` (`Bearer …`).
    pub(super) fn head<'a>(
        self,
        host: &'a str,
        authorization: &'a str,
        has_body: bool,
    ) -> Vec<(&'a str, &'a str)> {
        self.lines()
            .iter()
            .filter_map(|line| match *line {
                Line::Host => Some(("Host", host)),
                Line::Authorization => Some(("Authorization", authorization)),
                Line::BodyType(t) => has_body.then_some(("Content-Type", t)),
                Line::AlwaysType(t) => Some(("Content-Type", t)),
                Line::Fixed(name, value) => Some((name, value)),
            })
            .collect()
    }

    /// `attribute eq "value"` encoded for a query string as the provider encodes it.
    pub(super) fn eq_filter(self, attribute: &str, value: &str) -> String {
        let filter = format!("{attribute} eq \"{value}\"");
        let form = || url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        match self {
            // Form encoding, but the quotes go out raw.
            Idp::Entra => form().replace("%22", "\""),
            // Python's urlencode.
            Idp::Authentik => form(),
            _ => percent_encoding::utf8_percent_encode(&filter, COMPONENT).to_string(),
        }
    }

    /// The lookup of a user by userName (also the one after a 409).
    pub(super) fn user_lookup(self, user_name: &str) -> String {
        let filter = self.eq_filter("userName", user_name);
        match self {
            Idp::Okta => format!("/Users?filter={filter}&startIndex=1&count=100"),
            _ => format!("/Users?filter={filter}"),
        }
    }

    /// The lookup of a group by displayName (also the one after a 409).
    pub(super) fn group_lookup(self, display_name: &str) -> String {
        let filter = self.eq_filter("displayName", display_name);
        match self {
            Idp::Entra => format!("/Groups?excludedAttributes=members&filter={filter}"),
            Idp::Okta => format!("/Groups?filter={filter}&startIndex=1&count=100"),
            _ => format!("/Groups?filter={filter}"),
        }
    }

    /// Whether it looks a user up before POSTing it (authentik and Keycloak POST first).
    pub(super) fn looks_up_users_first(self) -> bool {
        !matches!(self, Idp::Authentik | Idp::Keycloak)
    }

    pub(super) fn group_match(self) -> GroupMatch {
        match self {
            Idp::Entra | Idp::Jumpcloud => GroupMatch::Filter,
            Idp::Pingone => GroupMatch::List,
            _ => GroupMatch::Nothing,
        }
    }

    /// Whether a group's POST carries its first members (Rippling).
    pub(super) fn members_in_group_post(self) -> bool {
        self == Idp::Rippling
    }

    /// Whether every membership change is a PUT of the whole group (Keycloak).
    pub(super) fn puts_whole_groups(self) -> bool {
        self == Idp::Keycloak
    }

    /// Whether every membership push is preceded by the group-name PATCH (Okta).
    pub(super) fn pushes_group_name(self) -> bool {
        self == Idp::Okta
    }

    /// Whether every group write is followed by a read of the group (authentik).
    pub(super) fn rereads_groups(self) -> bool {
        self == Idp::Authentik
    }

    pub(super) fn user_updates(self) -> UserUpdate {
        match self {
            Idp::Entra | Idp::Jumpcloud => UserUpdate::Patch,
            Idp::Okta | Idp::Onelogin => UserUpdate::Put(Before::Read),
            Idp::Pingone => UserUpdate::Put(Before::Match),
            Idp::Rippling | Idp::Authentik | Idp::Keycloak => UserUpdate::Put(Before::Nothing),
        }
    }

    /// How `active` changes: Okta PATCHes it even though it PUTs profiles; OneLogin's
    /// Suspend is a PUT without the read of an Update User.
    pub(super) fn active_updates(self) -> UserUpdate {
        match self {
            Idp::Okta => UserUpdate::Patch,
            Idp::Onelogin => UserUpdate::Put(Before::Nothing),
            _ => self.user_updates(),
        }
    }

    /// Whether it ever DELETEs a user (Okta never does; Rippling terminates instead).
    pub(super) fn deletes_users(self) -> bool {
        !matches!(self, Idp::Okta | Idp::Rippling)
    }

    /// The body of a user's POST.
    pub(super) fn user_post(self, user: &UserSpec) -> String {
        self.user_resource(user, &user.family_name, true, None)
            .to_string()
    }

    /// The body of a user's PUT: the whole resource with the given familyName and `active`.
    pub(super) fn user_put(
        self,
        user: &UserSpec,
        id: &str,
        family_name: &str,
        active: bool,
    ) -> String {
        self.user_resource(user, family_name, active, Some(id))
            .to_string()
    }

    /// The user as this provider maps it; `id` for a PUT.
    fn user_resource(self, user: &UserSpec, family: &str, active: bool, id: Option<&str>) -> Value {
        let user_name = &user.user_name;
        let given = &user.given_name;
        let display = format!("{given} {family}");
        let resource = match self {
            Idp::Entra => json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "externalId": user.external_id,
                "userName": user_name,
                "active": active,
                "emails": [{ "primary": true, "type": "work", "value": user_name }],
                "meta": { "resourceType": "User" },
                "name": { "formatted": display, "familyName": family, "givenName": given },
                "roles": []
            }),
            Idp::Okta if id.is_some() => json!({
                "schemas": [CORE_USER],
                "userName": user_name,
                "name": { "givenName": given, "familyName": family },
                "emails": [{ "primary": true, "value": user_name, "type": "work", "display": user_name }],
                "displayName": display,
                "locale": "en-US",
                "externalId": user.external_id,
                "active": active,
                "groups": [],
                "meta": { "resourceType": "User" }
            }),
            Idp::Okta => json!({
                "schemas": [CORE_USER],
                "userName": user_name,
                "name": { "givenName": given, "familyName": family },
                "emails": [{ "primary": true, "value": user_name, "type": "work" }],
                "displayName": display,
                "locale": "en-US",
                "externalId": user.external_id,
                "groups": [],
                // Random unless password sync is on; derived here so runs repeat.
                "password": format!("p{}", &user.external_id[..12]),
                "active": active
            }),
            Idp::Onelogin => {
                let mut template = json!({
                    "schemas": [CORE_USER, ENTERPRISE_USER],
                    "userName": user_name,
                    "name": { "familyName": family, "givenName": given },
                    "title": "",
                    "userType": "",
                    "timezone": "",
                    "emails": [{ "value": user_name, "type": "work", "primary": true }],
                    "addresses": [{ "locality": "", "region": "", "country": "" }],
                    ENTERPRISE_USER: {
                        "organization": "",
                        "division": "",
                        "department": "",
                        "manager": { "value": "", "displayName": " " }
                    }
                });
                // The template has no `active`; Suspend and restore send it.
                if id.is_some() {
                    template = insert_after(template, "name", "active", json!(active));
                }
                // OneLogin's template carries no id: the PUT's URL names the user.
                return template;
            }
            Idp::Jumpcloud => json!({
                "schemas": [CORE_USER],
                "userName": user_name,
                "externalId": user.external_id,
                "name": { "givenName": given, "familyName": family },
                "displayName": display,
                "emails": [{ "value": user_name, "type": "work", "primary": true }],
                "active": active
            }),
            Idp::Pingone => json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "userName": user_name,
                "externalId": user.external_id,
                "name": { "givenName": given, "familyName": family, "formatted": display },
                "displayName": display,
                "emails": [{ "value": user_name, "type": "work", "primary": true }],
                "active": active,
                ENTERPRISE_USER: { "department": "Loadgen" }
            }),
            Idp::Rippling => json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "userName": user_name,
                "externalId": user.external_id,
                "name": { "givenName": given, "familyName": family },
                "emails": [{ "value": user_name, "primary": true }],
                "active": active,
                ENTERPRISE_USER: { "employeeNumber": &user.external_id[..8] }
            }),
            Idp::Authentik => json!({
                "schemas": [CORE_USER],
                "userName": user_name,
                "name": { "formatted": display, "givenName": given, "familyName": family },
                "displayName": display,
                "photos": [],
                "active": active,
                "emails": [{ "value": user_name, "type": "other", "primary": true }],
                "externalId": user.external_id
            }),
            Idp::Keycloak => json!({
                "schemas": [CORE_USER],
                "externalId": user.external_id,
                "userName": user_name,
                "displayName": display,
                "name": { "givenName": given, "familyName": family },
                "emails": [{ "value": user_name, "type": "work", "primary": true }],
                "active": active,
                "roles": []
            }),
        };
        match id {
            Some(id) => insert_after(resource, "schemas", "id", json!(id)),
            None => resource,
        }
    }

    /// The body of a group's POST, with `members` (server ids) when the provider sends some.
    pub(super) fn group_post(self, group: &GroupSpec, members: &[&str]) -> String {
        let name = &group.display_name;
        let external_id = &group.external_id;
        match self {
            Idp::Entra => json!({
                "schemas": [
                    CORE_GROUP,
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
                ],
                "externalId": external_id,
                "displayName": name,
                "meta": { "resourceType": "Group" }
            }),
            Idp::Okta => json!({ "schemas": [CORE_GROUP], "displayName": name, "members": [] }),
            Idp::Onelogin => json!({ "schemas": [CORE_GROUP], "displayName": name }),
            Idp::Rippling => json!({
                "schemas": [CORE_GROUP],
                "displayName": name,
                "externalId": external_id,
                "members": values(members)
            }),
            Idp::Keycloak => {
                json!({ "schemas": [CORE_GROUP], "externalId": external_id, "displayName": name })
            }
            Idp::Jumpcloud | Idp::Pingone | Idp::Authentik => {
                json!({ "schemas": [CORE_GROUP], "displayName": name, "externalId": external_id })
            }
        }
        .to_string()
    }

    /// Keycloak's PUT of a whole group with its members (the list omitted when empty).
    pub(super) fn group_put(self, group: &GroupSpec, id: &str, members: &[&str]) -> String {
        let mut body = json!({
            "schemas": [CORE_GROUP],
            "id": id,
            "externalId": group.external_id,
            "displayName": group.display_name
        });
        if !members.is_empty() {
            body["members"] = members
                .iter()
                .map(|m| json!({ "value": m, "$ref": format!("Users/{m}") }))
                .collect();
        }
        body.to_string()
    }

    /// The operations adding (or removing) `members` (server id and userName) to a group;
    /// empty when nothing would be sent.
    pub(super) fn member_ops(self, add: bool, members: &[(&str, &str)]) -> Vec<Value> {
        let ids: Vec<&str> = members.iter().map(|(id, _)| *id).collect();
        let (add_op, remove_op) = match self {
            Idp::Entra => ("Add", "Remove"),
            _ => ("add", "remove"),
        };
        let op = if add { add_op } else { remove_op };
        let one_op = |value: Value| vec![json!({ "op": op, "path": "members", "value": value })];
        match (self, add) {
            // One operation listing them all, `"$ref": null` as Entra sends it.
            (Idp::Entra, _) => one_op(
                ids.iter()
                    .map(|id| json!({ "$ref": null, "value": id }))
                    .collect(),
            ),
            (Idp::Okta, true) => one_op(
                members
                    .iter()
                    .map(|(id, name)| json!({ "value": id, "display": name }))
                    .collect(),
            ),
            // One operation per member.
            (Idp::Authentik, _) => ids
                .iter()
                .map(|id| json!({ "op": op, "path": "members", "value": [{ "value": id }] }))
                .collect(),
            (Idp::Okta | Idp::Onelogin | Idp::Pingone | Idp::Rippling, false) => ids
                .iter()
                .map(|id| json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") }))
                .collect(),
            _ => one_op(values(&ids)),
        }
        .into_iter()
        .filter(|_| !ids.is_empty() || self == Idp::Entra)
        .collect()
    }

    /// Okta's group-name push: a path-less replace whose value repeats the group's id.
    pub(super) fn group_name_ops(self, id: &str, display_name: &str) -> Vec<Value> {
        vec![json!({ "op": "replace", "value": { "id": id, "displayName": display_name } })]
    }

    /// The operations setting `active` (PATCH-updating providers).
    pub(super) fn active_ops(self, dialect: Dialect, active: bool) -> Vec<Value> {
        match (self, dialect) {
            (Idp::Entra, Dialect::Default) => {
                vec![
                    json!({ "op": "Replace", "path": "active", "value": if active { "True" } else { "False" } }),
                ]
            }
            (Idp::Okta, _) => vec![json!({ "op": "replace", "value": { "active": active } })],
            _ => vec![json!({ "op": "replace", "path": "active", "value": active })],
        }
    }

    /// The operations changing the familyName (PATCH-updating providers).
    pub(super) fn attribute_ops(
        self,
        dialect: Dialect,
        user: &UserSpec,
        family: &str,
    ) -> Vec<Value> {
        let email = &user.user_name;
        let display = format!("{} {family}", user.given_name);
        match (self, dialect) {
            (Idp::Entra, Dialect::Default) => vec![
                json!({ "op": "Replace", "path": "name.familyName", "value": family }),
                json!({ "op": "Replace", "path": "emails[type eq \"work\"].value", "value": email }),
            ],
            (Idp::Entra, Dialect::Aad2020) => vec![
                json!({ "op": "replace", "path": "emails[type eq \"work\"].value", "value": email }),
                json!({ "op": "replace", "value": { "name.familyName": family, "displayName": display } }),
            ],
            _ => vec![
                json!({ "op": "replace", "path": "name.givenName", "value": user.given_name }),
                json!({ "op": "replace", "path": "name.familyName", "value": family }),
                json!({ "op": "replace", "path": "displayName", "value": display }),
            ],
        }
    }

    /// The operations removing one member in the incremental cycles.
    pub(super) fn remove_member_ops(
        self,
        dialect: Dialect,
        id: &str,
        user_name: &str,
    ) -> Vec<Value> {
        match (self, dialect) {
            (Idp::Entra, Dialect::Default) => {
                vec![json!({ "op": "Remove", "path": "members", "value": [{ "value": id }] })]
            }
            (Idp::Entra, Dialect::Aad2020) => {
                vec![json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") })]
            }
            _ => self.member_ops(false, &[(id, user_name)]),
        }
    }
}

/// A PATCH request's body.
pub(super) fn patch_body(operations: Vec<Value>) -> String {
    json!({ "schemas": [PATCH_OP], "Operations": operations }).to_string()
}

/// Minimal member objects, `[{"value": id}, …]`.
fn values(ids: &[&str]) -> Value {
    ids.iter().map(|id| json!({ "value": id })).collect()
}

/// `object` with `key: value` inserted right after `after` (bodies keep the provider's order).
fn insert_after(object: Value, after: &str, key: &str, value: Value) -> Value {
    let Value::Object(fields) = object else {
        return object;
    };
    let mut out = Map::new();
    let mut value = Some(value);
    for (k, v) in fields {
        let found = k == after;
        out.insert(k, v);
        if found && let Some(value) = value.take() {
            out.insert(key.to_owned(), value);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_encoded_as_each_provider_sends_them() {
        let entra = Idp::Entra.user_lookup("megan.bowen@contoso.example.com");
        assert_eq!(
            entra,
            r#"/Users?filter=userName+eq+"megan.bowen%40contoso.example.com""#
        );
        assert_eq!(
            Idp::Entra.group_lookup("MindManager Users"),
            r#"/Groups?excludedAttributes=members&filter=displayName+eq+"MindManager+Users""#
        );
        assert_eq!(
            Idp::Okta.user_lookup("john.doe@example.com"),
            "/Users?filter=userName%20eq%20%22john.doe%40example.com%22&startIndex=1&count=100"
        );
        assert_eq!(
            Idp::Authentik.user_lookup("alice"),
            "/Users?filter=userName+eq+%22alice%22"
        );
        assert_eq!(
            Idp::Jumpcloud.group_lookup("Finance"),
            "/Groups?filter=displayName%20eq%20%22Finance%22"
        );
    }

    #[test]
    fn heads_follow_the_fixtures() {
        let head = Idp::Okta.head("h:1", "Bearer t", false);
        assert_eq!(head[0], ("Host", "h:1"));
        assert!(head.contains(&("User-Agent", "Okta SCIM Client 1.0.0")));
        assert!(!head.iter().any(|(n, _)| *n == "Content-Type"));
        let head = Idp::Okta.head("h:1", "Bearer t", true);
        assert!(head.contains(&("Content-Type", SCIM_JSON_UTF8)));
        let head = Idp::Keycloak.head("h:1", "Bearer t", false);
        assert!(
            head.contains(&("Content-Type", SCIM_JSON)),
            "on GET and DELETE too"
        );
        assert!(!head.iter().any(|(n, _)| *n == "Accept"));
    }

    fn user() -> UserSpec {
        UserSpec {
            user_name: "u1@x.test".into(),
            external_id: "0123456789abcdef0123456789abcdef".into(),
            given_name: "Given1".into(),
            family_name: "Family1".into(),
        }
    }

    #[test]
    fn puts_carry_the_id_after_the_schemas_and_the_given_state() {
        for idp in Idp::ALL {
            let put: Value =
                serde_json::from_str(&idp.user_put(&user(), "id-1", "New", false)).unwrap();
            if idp == Idp::Onelogin {
                assert!(put.get("id").is_none(), "OneLogin's template has no id");
            } else {
                assert_eq!(
                    put.as_object().unwrap().keys().nth(1).unwrap(),
                    "id",
                    "{idp:?}"
                );
            }
            assert_eq!(put["active"], false, "{idp:?}");
            assert_eq!(put["name"]["familyName"], "New", "{idp:?}");
            assert_eq!(put["userName"], "u1@x.test", "{idp:?}");
        }
        let post: Value = serde_json::from_str(&Idp::Onelogin.user_post(&user())).unwrap();
        assert!(post.get("active").is_none());
        assert_eq!(post["title"], "");
    }

    #[test]
    fn member_operations_per_provider() {
        let members = [("a", "a@x"), ("b", "b@x")];
        assert_eq!(Idp::Entra.member_ops(true, &members).len(), 1);
        assert_eq!(
            Idp::Authentik.member_ops(true, &members).len(),
            2,
            "one per user"
        );
        assert_eq!(
            Idp::Okta.member_ops(true, &members)[0]["value"][1],
            json!({ "value": "b", "display": "b@x" })
        );
        assert_eq!(
            Idp::Okta.member_ops(false, &members)[1],
            json!({ "op": "remove", "path": "members[value eq \"b\"]" })
        );
        assert_eq!(
            Idp::Jumpcloud.member_ops(false, &members)[0]["value"],
            json!([{ "value": "a" }, { "value": "b" }])
        );
        assert!(
            Idp::Okta.member_ops(true, &[]).is_empty(),
            "nothing to send"
        );
        assert_eq!(
            Idp::Entra.member_ops(true, &[]).len(),
            1,
            "as Entra always did"
        );
    }
}
