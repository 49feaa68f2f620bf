//! SCIM resources in and out: validating what a provider sends into stored fields, and
//! rendering stored rows back as SCIM JSON. The document is kept as the provider sent it
//! (Entra re-PATCHes anything that comes back different), less what the server owns.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::ScimType;
use crate::error::{Error, Result};
use crate::json::{get_ci, key_ci};
use crate::patch::{NewMember, new_members};
use crate::schema::{self, AttributeDef, Mutability, Returned};
use crate::{LICENSE_USER_SCHEMA, ResourceKind};
use crate::{typing, version};

/// What the server keeps beside a resource's attributes: rendered as its `id` and `meta`.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub id: &'a str,
    /// The document as the provider sent it, less what the server owns ([`normalize`]).
    pub document: &'a str,
    pub version: i64,
    pub created: &'a str,
    pub last_modified: &'a str,
}

/// The indexed fields and the document of a user, as validated from a request.
#[derive(Debug, Clone)]
pub struct UserFields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub document: String,
}

/// The indexed fields and the document of a group (its members are kept apart).
#[derive(Debug, Clone)]
pub struct GroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
    pub document: String,
}

/// A member as returned in a group resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub display_name: Option<String>,
}

/// The values of Seatflow's license extension (`seatStatus`, `seatReason`): the seat table's
/// vocabulary, which filters on the extension compare against.
pub mod seat {
    pub const ASSIGNED: &str = "assigned";
    pub const BLOCKED: &str = "blocked";
    /// No seat row: not entitled (inactive or in no licensed group), or not processed yet.
    pub const NONE: &str = "none";
    /// Why a blocked user waits: every seat is taken.
    pub const NO_SEATS_AVAILABLE: &str = "no_seats_available";
    /// Why a blocked user waits although a seat is free: automatic promotion is off.
    pub const AWAITING_ADMIN: &str = "awaiting_admin_reprocess";
    /// Why a user who lost entitlement still holds their seat (or place): the release grace period.
    pub const IN_GRACE: &str = "in_grace";
    /// Why a user without a seat row has none.
    pub const NOT_ENTITLED: &str = "not_entitled";
}

/// A user's seat as the extension shows it: status and reason.
pub type Seat = (String, Option<String>);

/// Validates a full User representation (POST or PUT body).
pub fn user_fields(body: Value) -> Result<UserFields> {
    let doc = normalize(ResourceKind::User, into_object(body)?)?;
    user_fields_from_doc(doc)
}

/// The indexed fields of a (normalized) user document; fails if `userName` is missing.
pub fn user_fields_from_doc(doc: Map<String, Value>) -> Result<UserFields> {
    let user_name = required_string(&doc, "userName")?;
    let active = match get_ci(&doc, "active") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid_value("active must be a boolean")),
    };
    Ok(UserFields {
        user_name,
        external_id: optional_string(&doc, "externalId")?,
        display_name: optional_string(&doc, "displayName")?,
        active,
        document: Value::Object(doc).to_string(),
    })
}

/// Validates a full Group representation; returns the fields and the members it lists, read as
/// PATCH reads them (`patch::new_members`: objects or bare id strings).
pub fn group_fields(body: Value) -> Result<(GroupFields, Vec<NewMember>)> {
    let mut doc = into_object(body)?;
    let members = match take_ci(&mut doc, "members") {
        Some(members) => new_members(&members)?,
        None => Vec::new(),
    };
    let doc = normalize(ResourceKind::Group, doc)?;
    Ok((group_fields_from_doc(doc)?, members))
}

/// The indexed fields of a (normalized) group document without members.
pub fn group_fields_from_doc(doc: Map<String, Value>) -> Result<GroupFields> {
    Ok(GroupFields {
        display_name: required_string(&doc, "displayName")?,
        external_id: optional_string(&doc, "externalId")?,
        document: Value::Object(doc).to_string(),
    })
}

/// The stored document of a row (always a JSON object written by this module).
pub fn stored_document(document: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(document) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::Corrupt(
            "stored document is not a JSON object".into(),
        )),
    }
}

fn into_object(body: Value) -> Result<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(Error::bad_request(
            ScimType::InvalidSyntax,
            "the request body must be a JSON object",
        )),
    }
}

/// Drops JSON nulls (Entra never means them as values), readOnly attributes (`id`, `meta`,
/// `groups`: RFC 7644 §3.5.1 says values sent for them are ignored) and never-returned ones,
/// and types known attributes against the schema (Entra's "True"/"False" strings become
/// booleans; a wrong JSON type is 400 `invalidValue`). Unknown attributes are kept.
pub fn normalize(kind: ResourceKind, doc: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (key, value) in doc {
        // Seatflow's license extension is the server's as a whole (every attribute readOnly):
        // not even an empty object of it is kept.
        if value.is_null() || key.eq_ignore_ascii_case(LICENSE_USER_SCHEMA) {
            continue;
        }
        let value = match extension_of(kind, &key) {
            // An extension's attributes live under its URN.
            Some(urn) => match value {
                Value::Object(ext) => Value::Object(normalize_attributes(ext, |name| {
                    schema::find_attribute(kind, Some(urn), name)
                })?),
                _ => return Err(invalid_value(format!("{key} must be an object"))),
            },
            None => {
                let Some(value) =
                    normalize_attribute(schema::find_attribute(kind, None, &key), &key, value)?
                else {
                    continue;
                };
                value
            }
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// The URN of `kind`'s extension schema named by `key`, if it names one.
fn extension_of(kind: ResourceKind, key: &str) -> Option<&'static str> {
    schema::schemas_for(kind)
        .iter()
        .map(|s| s.id.as_str())
        .find(|id| id.eq_ignore_ascii_case(key) && !id.eq_ignore_ascii_case(kind.core_schema()))
}

fn normalize_attributes<'a>(
    attributes: Map<String, Value>,
    lookup: impl Fn(&str) -> Option<&'a AttributeDef>,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (key, value) in attributes {
        if let Some(value) = normalize_attribute(lookup(&key), &key, value)? {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// One attribute's stored value, or None when it is not kept: null, readOnly (the server's own),
/// or never returned (Seatflow does not keep passwords).
fn normalize_attribute(
    def: Option<&AttributeDef>,
    name: &str,
    value: Value,
) -> Result<Option<Value>> {
    match def {
        _ if value.is_null() => Ok(None),
        Some(def) if def.returned == Returned::Never || def.mutability == Mutability::ReadOnly => {
            Ok(None)
        }
        Some(def) => typing::coerce_attribute(def, name, &value).map(Some),
        None => Ok(Some(typing::without_nulls(value))),
    }
}

fn take_ci(doc: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = key_ci(doc, name)?.to_owned();
    doc.shift_remove(&key)
}

fn required_string(doc: &Map<String, Value>, name: &str) -> Result<String> {
    match get_ci(doc, name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None => Err(invalid_value(format!("{name} is required"))),
        Some(_) => Err(invalid_value(format!("{name} must be a string"))),
    }
}

fn optional_string(doc: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match get_ci(doc, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_value(format!("{name} must be a string"))),
    }
}

fn invalid_value(detail: impl Into<String>) -> Error {
    Error::bad_request(ScimType::InvalidValue, detail)
}

/// The full SCIM representation of a stored user.
pub fn render_user(user: Stored<'_>, base_url: &str) -> Result<Value> {
    let doc = stored_document(user.document)?;
    Ok(assemble(
        ResourceKind::User,
        user.id,
        doc,
        None,
        Meta {
            created: user.created,
            last_modified: user.last_modified,
            version: user.version,
            location: format!("{base_url}/Users/{}", user.id),
        },
    ))
}

/// The full SCIM representation of a stored user with Seatflow's read-only license extension:
/// `seatStatus` (`assigned`, `blocked`, or `none`) and `seatReason`, so the identity provider's
/// admins can see seats (and filter on them: the store's SQL filters read the same from seats).
pub fn render_seated(user: Stored<'_>, seat: Option<&Seat>, base_url: &str) -> Result<Value> {
    let mut rendered = render_user(user, base_url)?;
    with_seat(&mut rendered, seat);
    Ok(rendered)
}

fn with_seat(user: &mut Value, seat: Option<&Seat>) {
    let Value::Object(object) = user else { return };
    let (status, reason) = seat.map_or(
        (seat::NONE, Some(seat::NOT_ENTITLED)),
        |(status, reason)| (status.as_str(), reason.as_deref()),
    );
    let mut extension = Map::new();
    extension.insert("seatStatus".into(), status.into());
    if let Some(reason) = reason {
        extension.insert("seatReason".into(), reason.into());
    }
    // Keep `meta` last, as in every other resource.
    let meta = object.shift_remove("meta");
    object.insert(LICENSE_USER_SCHEMA.into(), Value::Object(extension));
    if let Some(meta) = meta {
        object.insert("meta".into(), meta);
    }
    if let Some(Value::Array(schemas)) = object.get_mut("schemas") {
        schemas.push(LICENSE_USER_SCHEMA.into());
    }
}

/// A user as filters and sorts see it: rendered with its seat, and with `active` as licensing
/// counts it (a user created without `active` is active), so that memory agrees with SQL.
pub fn filterable_user(user: Stored<'_>, active: bool, seat: Option<&Seat>) -> Result<Value> {
    let mut rendered = render_seated(user, seat, "")?;
    if let Value::Object(object) = &mut rendered
        && key_ci(object, "active").is_none()
    {
        object.insert("active".into(), Value::Bool(active));
    }
    Ok(rendered)
}

/// The full SCIM representation of a stored group; `members` None leaves them out.
pub fn render_group(
    group: Stored<'_>,
    members: Option<&[Member]>,
    base_url: &str,
) -> Result<Value> {
    let doc = stored_document(group.document)?;
    let members = members.map(|members| {
        Value::Array(
            members
                .iter()
                .map(|m| {
                    let mut entry = Map::new();
                    entry.insert("value".into(), m.user_id.clone().into());
                    entry.insert(
                        "$ref".into(),
                        format!("{base_url}/Users/{}", m.user_id).into(),
                    );
                    if let Some(name) = &m.display_name {
                        entry.insert("display".into(), name.clone().into());
                    }
                    // Only users of the tenant are ever members.
                    entry.insert("type".into(), MEMBER_TYPE.into());
                    Value::Object(entry)
                })
                .collect(),
        )
    });
    Ok(assemble(
        ResourceKind::Group,
        group.id,
        doc,
        members,
        Meta {
            created: group.created,
            last_modified: group.last_modified,
            version: group.version,
            location: format!("{base_url}/Groups/{}", group.id),
        },
    ))
}

/// The `type` of every group member.
const MEMBER_TYPE: &str = "User";

/// RFC 7644 §3.5.1: a PUT must not change immutable attributes. A group's members hold the only
/// ones: a member that the group keeps may name its `$ref` and `type` again, but only as the
/// server has them (`…/Users/{id}`, "User"), else 400 `mutability`. Its `display` is readWrite.
/// New members' `$ref` and `type` are the server's to derive, so they are not checked.
pub fn check_kept_members(current: &[Member], replacement: &[NewMember]) -> Result<()> {
    let current: HashSet<&str> = current.iter().map(|m| m.user_id.as_str()).collect();
    let immutable = |member: &NewMember, detail: String| {
        Error::bad_request(
            ScimType::Mutability,
            format!("member {}: {detail}", member.id),
        )
    };
    for member in replacement
        .iter()
        .filter(|m| current.contains(m.id.as_str()))
    {
        if let Some(reference) = &member.reference
            && !refers_to_user(reference, &member.id)
        {
            return Err(immutable(
                member,
                format!(
                    "`$ref` is immutable and is …/Users/{}, not {reference}",
                    member.id
                ),
            ));
        }
        if let Some(kind) = &member.kind
            && !kind.eq_ignore_ascii_case(MEMBER_TYPE)
        {
            return Err(immutable(
                member,
                format!("`type` is immutable and is {MEMBER_TYPE}, not {kind}"),
            ));
        }
    }
    Ok(())
}

/// Whether a `$ref` is the URI of user `id`, whatever base URL (proxy) the client knows us by.
/// The id is matched as a whole suffix: a member id may itself contain `/`.
fn refers_to_user(reference: &str, id: &str) -> bool {
    reference
        .strip_suffix(id)
        .and_then(|base| base.strip_suffix('/'))
        .and_then(|base| base.rsplit('/').next())
        .is_some_and(|endpoint| endpoint.eq_ignore_ascii_case("Users"))
}

struct Meta<'a> {
    created: &'a str,
    last_modified: &'a str,
    version: i64,
    location: String,
}

fn assemble(
    kind: ResourceKind,
    id: &str,
    mut doc: Map<String, Value>,
    members: Option<Value>,
    meta: Meta<'_>,
) -> Value {
    let mut schemas = match take_ci(&mut doc, "schemas") {
        Some(Value::Array(s)) => s,
        _ => Vec::new(),
    };
    // `schemas` lists the core schema and every extension the resource carries, whatever the
    // client declared (a PATCH may add the first extension attribute).
    let declared = |schemas: &[Value], urn: &str| {
        schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    };
    let core = kind.core_schema();
    if !declared(&schemas, core) {
        schemas.insert(0, core.into());
    }
    for schema in schema::schemas_for(kind) {
        if key_ci(&doc, &schema.id).is_some() && !declared(&schemas, &schema.id) {
            schemas.push(schema.id.clone().into());
        }
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), id.into());
    out.extend(doc);
    if let Some(members) = members {
        out.insert("members".into(), members);
    }
    let mut m = Map::new();
    m.insert("resourceType".into(), kind.name().into());
    m.insert("created".into(), meta.created.into());
    m.insert("lastModified".into(), meta.last_modified.into());
    m.insert("location".into(), meta.location.into());
    m.insert("version".into(), version::etag(meta.version).into());
    out.insert("meta".into(), Value::Object(m));
    Value::Object(out)
}

/// What an `attributes` / `excludedAttributes` name designates.
#[derive(Debug)]
enum Target {
    /// A whole extension, named by its schema URN.
    Extension(&'static str),
    /// An attribute at the top level (`home` None) or in an extension, maybe one sub-attribute.
    Attribute {
        home: Option<String>,
        name: String,
        sub: Option<String>,
    },
}

impl Target {
    /// Reads a name; a value filter (`emails[type eq "work"]`, which Microsoft's Postman
    /// collection sends) designates the attribute it filters. Unreadable names designate nothing.
    fn parse(kind: ResourceKind, text: &str) -> Option<Target> {
        let text = match (text.find('['), text.rfind(']')) {
            (Some(open), Some(close)) if open < close => {
                format!("{}{}", &text[..open], &text[close + 1..])
            }
            _ => text.to_owned(),
        };
        if let Some(urn) = extension_of(kind, &text) {
            return Some(Target::Extension(urn));
        }
        let path = crate::filter::parse_attr_path(&text).ok()?;
        let (home, _) = crate::filter::attribute_home(kind, path.urn.as_deref(), &path.name);
        Some(Target::Attribute {
            home: home.map(str::to_owned),
            name: path.name,
            sub: path.sub,
        })
    }

    /// The sub-attribute this target names of attribute `name` in `home`: `Some(None)` for the
    /// whole attribute, `None` if it does not name the attribute.
    fn names(&self, home: Option<&str>, name: &str) -> Option<Option<&str>> {
        match self {
            Target::Extension(urn) => home
                .is_some_and(|h| h.eq_ignore_ascii_case(urn))
                .then_some(None),
            Target::Attribute {
                home: target_home,
                name: target_name,
                sub,
            } => {
                let same_home = match (home, target_home.as_deref()) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => false,
                };
                (same_home && target_name.eq_ignore_ascii_case(name)).then_some(sub.as_deref())
            }
        }
    }
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a rendered resource,
/// honouring each attribute's `returned`: `always` ones (`id`, `meta`, and `schemas`) are always
/// there, `request` ones only when `attributes` names them, `never` ones never. Names may be
/// `attr`, `attr.sub`, `urn:…:attr[.sub]` or an extension's URN, in any case.
pub fn project(
    kind: ResourceKind,
    resource: &mut Value,
    attributes: &[String],
    excluded: &[String],
) {
    let Value::Object(obj) = resource else { return };
    let wanted: Vec<Target> = attributes
        .iter()
        .filter_map(|a| Target::parse(kind, a))
        .collect();
    let unwanted: Vec<Target> = excluded
        .iter()
        .filter_map(|a| Target::parse(kind, a))
        .collect();
    let selection = Selection {
        kind,
        wanted: (!attributes.is_empty()).then_some(wanted.as_slice()),
        unwanted: &unwanted,
    };
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        // `schemas` is no attribute of a schema, but every resource has it.
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let keep = match extension_of(kind, &key) {
            Some(urn) => match obj.get_mut(&key) {
                Some(Value::Object(ext)) => {
                    let names: Vec<String> = ext.keys().cloned().collect();
                    for name in names {
                        if let Some(value) = ext.get_mut(&name)
                            && !selection.keep(Some(urn), &name, value)
                        {
                            ext.shift_remove(&name);
                        }
                    }
                    !ext.is_empty()
                }
                _ => false,
            },
            None => obj
                .get_mut(&key)
                .is_some_and(|value| selection.keep(None, &key, value)),
        };
        if !keep {
            obj.shift_remove(&key);
        }
    }
}

struct Selection<'a> {
    kind: ResourceKind,
    /// `attributes`, if given.
    wanted: Option<&'a [Target]>,
    unwanted: &'a [Target],
}

impl Selection<'_> {
    /// Whether attribute `name` of `home` stays, trimming its sub-attributes as asked.
    fn keep(&self, home: Option<&str>, name: &str, value: &mut Value) -> bool {
        let returned = schema::find_attribute(self.kind, home, name).map(|d| d.returned);
        match returned {
            Some(Returned::Always) => return true,
            Some(Returned::Never) => return false,
            _ => {}
        }
        if let Some(wanted) = self.wanted {
            let subs: Vec<Option<&str>> =
                wanted.iter().filter_map(|t| t.names(home, name)).collect();
            if subs.is_empty() {
                return false;
            }
            if !subs.contains(&None) {
                retain_subs(value, |sub| {
                    subs.iter().flatten().any(|s| s.eq_ignore_ascii_case(sub))
                });
            }
        } else if returned == Some(Returned::Request) {
            return false;
        }
        for sub in self.unwanted.iter().filter_map(|t| t.names(home, name)) {
            match sub {
                None => return false,
                Some(sub) => retain_subs(value, |s| !s.eq_ignore_ascii_case(sub)),
            }
        }
        true
    }
}

fn retain_subs(value: &mut Value, keep: impl Fn(&str) -> bool + Copy) {
    match value {
        Value::Object(obj) => obj.retain(|k, _| keep(k)),
        Value::Array(items) => items.iter_mut().for_each(|item| retain_subs(item, keep)),
        _ => {}
    }
}

/// A `ListResponse` (RFC 7644 §3.4.2) of one page of resources.
pub fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    serde_json::json!({
        "schemas": [crate::LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ENTERPRISE_USER_SCHEMA;

    /// A stored user `u1` with this document (kept alive by the caller).
    fn stored(document: &str) -> Stored<'_> {
        Stored {
            id: "u1",
            document,
            version: 3,
            created: "2026-01-01T00:00:00.000000Z",
            last_modified: "2026-01-02T00:00:00.000000Z",
        }
    }

    #[test]
    fn normalize_drops_nulls_passwords_and_server_owned_and_types_booleans() {
        let fields = user_fields(json!({
            "userName": "a@x", "active": "False", "password": "hunter2", "id": "x",
            "meta": {"created": "then"}, "title": null,
            "emails": [{"value": "a@x", "primary": "True", "display": null}, null],
            "custom": {"keep": 1, "drop": null}
        }))
        .unwrap();
        assert!(!fields.active);
        let doc: Value = serde_json::from_str(&fields.document).unwrap();
        assert_eq!(
            doc,
            json!({
                "userName": "a@x", "active": false,
                "emails": [{"value": "a@x", "primary": true}],
                "custom": {"keep": 1}
            })
        );
    }

    #[test]
    fn read_only_attributes_are_ignored() {
        let fields = user_fields(json!({
            "userName": "a@x", "groups": [{"value": "g1", "display": "Sales"}],
            ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m1", "displayName": "Boss"}}
        }))
        .unwrap();
        let doc: Value = serde_json::from_str(&fields.document).unwrap();
        assert_eq!(
            doc,
            json!({"userName": "a@x", ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m1"}}})
        );
    }

    #[test]
    fn group_members_come_in_every_form_patch_takes() {
        let (fields, members) = group_fields(json!({
            "displayName": "G",
            "Members": ["u1", {"value": "u2", "display": "Bea"}, null]
        }))
        .unwrap();
        assert_eq!(
            members,
            [
                NewMember::from("u1"),
                NewMember {
                    display: Some("Bea".into()),
                    ..NewMember::from("u2")
                }
            ]
        );
        assert_eq!(fields.document, json!({"displayName": "G"}).to_string());
        let lone = |members: Value| group_fields(json!({"displayName": "G", "members": members}));
        assert_eq!(lone(json!("u3")).unwrap().1, [NewMember::from("u3")]);
        assert_eq!(
            lone(json!({"value": "u3"})).unwrap().1,
            [NewMember::from("u3")]
        );
        assert!(lone(json!(null)).unwrap().1.is_empty());
        for bad in [json!([3]), json!([{"display": "x"}]), json!([{"value": 7}])] {
            let error = lone(bad.clone()).unwrap_err();
            assert_eq!(error.scim_type(), Some(ScimType::InvalidValue), "{bad}");
        }
    }

    fn member(id: &str, reference: Option<&str>, kind: Option<&str>) -> NewMember {
        NewMember {
            display: Some("anything".into()),
            reference: reference.map(str::to_owned),
            kind: kind.map(str::to_owned),
            ..NewMember::from(id)
        }
    }

    #[test]
    fn kept_members_keep_their_ref_and_type() {
        let current = [Member {
            user_id: "u1".into(),
            display_name: Some("Ann".into()),
        }];
        let ok = |m: NewMember| check_kept_members(&current, &[m]).is_ok();
        assert!(ok(member("u1", None, None)));
        assert!(ok(member(
            "u1",
            Some("https://proxy/scim/v2/users/u1"),
            Some("user")
        )));
        // Found by fuzzing: an id with a slash is still matched whole.
        let slashed = [Member {
            user_id: "T4/ee44".into(),
            display_name: None,
        }];
        let kept = member("T4/ee44", Some("https://h/scim/v2/Users/T4/ee44"), None);
        assert!(check_kept_members(&slashed, std::slice::from_ref(&kept)).is_ok());
        let other = member("T4/ee44", Some("https://h/scim/v2/Users/ee44"), None);
        assert!(check_kept_members(&slashed, &[other]).is_err());
        // New members' claims are not checked: the server derives them.
        assert!(ok(member("u2", Some("https://x/Groups/u2"), Some("Group"))));
        for changed in [
            member("u1", Some("https://h/scim/v2/Users/u2"), None),
            member("u1", Some("https://h/scim/v2/Groups/u1"), None),
            member("u1", Some("u1"), None),
            member("u1", None, Some("Group")),
        ] {
            let error = check_kept_members(&current, std::slice::from_ref(&changed)).unwrap_err();
            assert_eq!(error.scim_type(), Some(ScimType::Mutability), "{changed:?}");
        }
    }

    #[test]
    fn members_render_as_users() {
        let document = json!({"displayName": "G"}).to_string();
        let row = Stored {
            id: "g1",
            document: &document,
            version: 1,
            created: "2026-01-01T00:00:00.000000Z",
            last_modified: "2026-01-01T00:00:00.000000Z",
        };
        let members = [Member {
            user_id: "u1".into(),
            display_name: None,
        }];
        let group = render_group(row, Some(&members), "http://h/scim/v2").unwrap();
        assert_eq!(
            group["members"],
            json!([{"value": "u1", "$ref": "http://h/scim/v2/Users/u1", "type": "User"}])
        );
    }

    #[test]
    fn wrong_types_are_invalid_value() {
        for body in [
            json!({"userName": "a@x", "active": "maybe"}),
            json!({"userName": "a@x", "name": "not an object"}),
            json!({"userName": ["a@x"]}),
            json!({"userName": "a@x", ENTERPRISE_USER_SCHEMA: "flat"}),
        ] {
            let err = user_fields(body.clone()).err().unwrap();
            assert_eq!(err.scim_type(), Some(ScimType::InvalidValue), "{body}");
        }
    }

    #[test]
    fn rendered_schemas_list_the_extensions_present() {
        let document = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "a@x",
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7"}
        })
        .to_string();
        let rendered = render_user(stored(&document), "http://h/scim/v2").unwrap();
        assert_eq!(
            rendered["schemas"],
            json!([
                "urn:ietf:params:scim:schemas:core:2.0:User",
                ENTERPRISE_USER_SCHEMA
            ])
        );
        assert_eq!(rendered["meta"]["version"], "W/\"3\"");
        assert_eq!(rendered["meta"]["location"], "http://h/scim/v2/Users/u1");
    }

    #[test]
    fn projection_keeps_always_returned_attributes() {
        let document = json!({
            "userName": "a@x", "displayName": "A",
            "name": {"givenName": "G", "familyName": "F"}
        })
        .to_string();
        let mut only = render_user(stored(&document), "http://h").unwrap();
        project(
            ResourceKind::User,
            &mut only,
            &["name.givenName".into()],
            &[],
        );
        let keys: Vec<&str> = only
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["schemas", "id", "name", "meta"]);
        assert_eq!(only["name"], json!({"givenName": "G"}));

        let mut without = render_user(stored(&document), "http://h").unwrap();
        project(
            ResourceKind::User,
            &mut without,
            &[],
            &["displayName".into(), "id".into()],
        );
        assert!(without.get("displayName").is_none());
        assert_eq!(without["id"], "u1");
    }
}
