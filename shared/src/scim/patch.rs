//! SCIM PATCH (RFC 7644 §3.5.2) with both of Microsoft Entra's dialects (ENTRA.md §3):
//! capitalised ops, Booleans as "True"/"False", path-less add/replace whose keys are paths
//! (`name.givenName`, `urn:…:User:employeeNumber`), and member removal by value list or by
//! `members[value eq "…"]`.
//!
//! Choices where the RFC is open (or Entra needs more):
//! * A `null` add/replace value removes the target (RFC 7644 §3.5.2.3 "unassign"); `""` is stored.
//! * add and replace of a single-valued complex attribute both merge the given sub-attributes
//!   (RFC 7644 §3.5.2.3: the ones not given are left unchanged).
//! * A single-valued attribute given a one-element array takes its element (Entra's legacy
//!   `"path":"manager","value":[{"value":"id"}]`).
//! * add/replace through a value filter that matches nothing appends `{attr: "x", …}` when the
//!   filter is a single `attr eq "x"`; any other filter is 400 noTarget.
//! * remove that matches nothing is a no-op. remove of a multi-valued attribute with a `value`
//!   removes just those values (Entra's member-removal form, honoured for every attribute).
//! * A path-less key that is an unknown URN with an object value is a whole extension (the RFC
//!   form), unless the document already has the URN before its last `:` as an extension.

use serde_json::{Map, Value};

use crate::error::{Error, ScimType};
use crate::scim::filter::{self, AttrPath, CompValue, CompareOp, Filter, get_ci, key_ci};
use crate::scim::limits::Limits;
use crate::scim::path::{PatchPath, parse_path};
use crate::scim::schema::{self, AttrType, AttributeDef, Mutability};
use crate::scim::typing::coerce;
use crate::scim::{LICENSE_USER_SCHEMA, PATCH_OP_SCHEMA, ResourceKind};

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// A change of a group's membership, applied by the storage layer without loading the members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<NewMember>),
    Remove(Vec<String>),
    RemoveAll,
    ReplaceAll(Vec<NewMember>),
}

impl MemberChange {
    /// How many members the change names (for the per-request limit).
    pub fn len(&self) -> usize {
        match self {
            MemberChange::Add(members) | MemberChange::ReplaceAll(members) => members.len(),
            MemberChange::Remove(ids) => ids.len(),
            MemberChange::RemoveAll => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A member to add: the user's id and the `display` the client sent with it (Microsoft's
/// clients send `display` or `displayName` and expect it back), with the `$ref` and `type` it
/// named, which a PUT may not change (`resource::check_kept_members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub id: String,
    pub display: Option<String>,
    pub reference: Option<String>,
    pub kind: Option<String>,
}

impl From<&str> for NewMember {
    fn from(id: &str) -> Self {
        NewMember {
            id: id.to_owned(),
            display: None,
            reference: None,
            kind: None,
        }
    }
}

type Def = Option<&'static AttributeDef>;

fn bad(scim_type: ScimType, detail: impl Into<String>) -> Error {
    Error::bad_request(scim_type, detail)
}

/// Prefixes a 400 detail with the (1-based) operation it comes from.
fn in_operation(index: usize, error: Error) -> Error {
    match error {
        Error::BadRequest(scim_type, detail) => {
            Error::BadRequest(scim_type, format!("operation {}: {detail}", index + 1))
        }
        error => error,
    }
}

impl PatchRequest {
    /// Reads a PatchOp message. `schemas` may be absent (lenient) but not wrong; member names
    /// and op names are matched case-insensitively (Entra sends `Add`/`Replace`/`Remove`).
    /// `limits` bound the number of operations and their paths.
    pub fn from_json(body: &Value, limits: &Limits) -> Result<PatchRequest, Error> {
        let body = body.as_object().ok_or_else(|| {
            bad(
                ScimType::InvalidSyntax,
                "the PATCH body must be a JSON object",
            )
        })?;
        if let Some(schemas) = get_ci(body, "schemas") {
            let lists_patch_op = schemas.as_array().is_some_and(|schemas| {
                schemas.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                })
            });
            if !lists_patch_op {
                return Err(bad(
                    ScimType::InvalidSyntax,
                    format!("`schemas` must be [\"{PATCH_OP_SCHEMA}\"]"),
                ));
            }
        }
        let operations = match get_ci(body, "Operations") {
            Some(Value::Array(operations)) if !operations.is_empty() => operations,
            _ => {
                return Err(bad(
                    ScimType::InvalidSyntax,
                    "`Operations` must be a non-empty array of operations",
                ));
            }
        };
        if operations.len() > limits.patch_operations {
            return Err(bad(
                ScimType::InvalidValue,
                format!(
                    "a PATCH request may hold at most {} operations, this one has {}",
                    limits.patch_operations,
                    operations.len()
                ),
            ));
        }
        let operations = operations
            .iter()
            .enumerate()
            .map(|(i, op)| PatchOp::from_json(op, limits).map_err(|e| in_operation(i, e)))
            .collect::<Result<_, _>>()?;
        Ok(PatchRequest { operations })
    }
}

impl PatchOp {
    fn from_json(op: &Value, limits: &Limits) -> Result<PatchOp, Error> {
        let op = op.as_object().ok_or_else(|| {
            bad(
                ScimType::InvalidSyntax,
                "an operation must be a JSON object",
            )
        })?;
        let kind = match get_ci(op, "op").and_then(Value::as_str) {
            Some(name) if name.eq_ignore_ascii_case("add") => OpKind::Add,
            Some(name) if name.eq_ignore_ascii_case("replace") => OpKind::Replace,
            Some(name) if name.eq_ignore_ascii_case("remove") => OpKind::Remove,
            Some(name) => {
                return Err(bad(
                    ScimType::InvalidSyntax,
                    format!("unknown op `{name}`; expected add, replace or remove"),
                ));
            }
            None => return Err(bad(ScimType::InvalidSyntax, "`op` must be a string")),
        };
        // An empty path is treated as none, as some clients send `"path": ""` for path-less ops.
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) if path.is_empty() => None,
            Some(Value::String(path)) => Some(parse_path(path, limits)?),
            Some(_) => return Err(bad(ScimType::InvalidPath, "`path` must be a string")),
        };
        Ok(PatchOp {
            op: kind,
            path,
            value: get_ci(op, "value").cloned(),
        })
    }
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Replace => "replace",
            OpKind::Remove => "remove",
        }
    }
}

/// Applies `ops` in order to `doc`: the stored resource as the client sent it, without `id` and
/// `meta` (and for groups without `members`). All or nothing: the operations run on a copy, so
/// on error `doc` is unchanged. Operations on group `members` never touch `doc`; they come back,
/// in order, as [`MemberChange`]s. `limits` bound the paths that path-less add/replace values
/// use as keys.
pub fn apply(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    ops: &[PatchOp],
    limits: &Limits,
) -> Result<Vec<MemberChange>, Error> {
    let mut patcher = Patcher {
        kind,
        doc: doc.clone(),
        changes: Vec::new(),
        limits: *limits,
    };
    for (i, op) in ops.iter().enumerate() {
        patcher.operation(op).map_err(|e| in_operation(i, e))?;
    }
    *doc = patcher.doc;
    Ok(patcher.changes)
}

struct Patcher {
    kind: ResourceKind,
    doc: Map<String, Value>,
    changes: Vec<MemberChange>,
    limits: Limits,
}

impl Patcher {
    fn operation(&mut self, op: &PatchOp) -> Result<(), Error> {
        let Some(path) = &op.path else {
            return match (op.op, &op.value) {
                (OpKind::Remove, _) => Err(bad(
                    ScimType::NoTarget,
                    "remove needs a `path` (RFC 7644 §3.5.2.2)",
                )),
                (_, Some(Value::Object(attributes))) => self.attributes(op.op, None, attributes),
                _ => Err(bad(
                    ScimType::InvalidValue,
                    format!(
                        "{} without a `path` needs an object `value` of attributes",
                        op.op.as_str()
                    ),
                )),
            };
        };
        // A path naming a whole schema (`urn:…:enterprise:2.0:User`) parses as attribute `User`.
        if path.filter.is_none()
            && path.attr.sub.is_none()
            && let Some(urn) = &path.attr.urn
            && let Some(schema) =
                self.schema_key(&format!("{urn}:{}", path.attr.name), op.value.as_ref())
        {
            return self.schema_op(op.op, &schema, op.value.as_ref());
        }
        self.attribute(op.op, path, op.value.as_ref())
    }

    /// Whether `key` names a whole schema rather than an attribute: one of this resource type's
    /// schemas, or an unknown URN given an object.
    fn schema_key(&self, key: &str, value: Option<&Value>) -> Option<String> {
        if let Some(schema) = schema::schemas_for(self.kind)
            .iter()
            .find(|schema| schema.id.eq_ignore_ascii_case(key))
        {
            return Some(schema.id.clone());
        }
        let (prefix, _) = key.rsplit_once(':')?;
        let unknown_urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
            && schema::schema_by_id(prefix).is_none()
            && key_ci(&self.doc, prefix).is_none();
        (unknown_urn && value.is_some_and(Value::is_object)).then(|| key.to_owned())
    }

    /// An operation on a whole schema: the value's keys are attributes of that schema.
    fn schema_op(&mut self, op: OpKind, urn: &str, value: Option<&Value>) -> Result<(), Error> {
        if computed_by_server(urn) {
            return Ok(());
        }
        match (op, value) {
            (OpKind::Remove, _) | (_, Some(Value::Null)) => {
                if urn.eq_ignore_ascii_case(self.kind.core_schema()) {
                    return Err(bad(
                        ScimType::InvalidPath,
                        "the core schema cannot be removed",
                    ));
                }
                if let Some(key) = key_ci(&self.doc, urn).map(str::to_owned) {
                    self.doc.shift_remove(&key);
                }
                Ok(())
            }
            (_, Some(Value::Object(attributes))) => self.attributes(op, Some(urn), attributes),
            _ => Err(bad(
                ScimType::InvalidValue,
                format!("`{urn}` takes an object of its attributes"),
            )),
        }
    }

    /// add/replace of an object of attributes (path-less, or a whole schema's). Each key is a
    /// path: Entra sends `name.givenName` and `urn:…:User:employeeNumber` keys. Such a value is a
    /// partial representation, so its readOnly attributes are ignored as PUT ignores them (RFC
    /// 7644 §3.5.1): Okta renames a group with `{"id": …, "displayName": …}`.
    fn attributes(
        &mut self,
        op: OpKind,
        urn: Option<&str>,
        attributes: &Map<String, Value>,
    ) -> Result<(), Error> {
        for (key, value) in attributes {
            if urn.is_none()
                && let Some(schema) = self.schema_key(key, Some(value))
            {
                self.schema_op(op, &schema, Some(value))?;
                continue;
            }
            let mut path = parse_path(key, &self.limits)?;
            if path.attr.urn.is_none() {
                path.attr.urn = urn.map(str::to_owned);
            }
            let (_, def) =
                filter::attribute_home(self.kind, path.attr.urn.as_deref(), &path.attr.name);
            if def.is_some_and(|d| d.mutability == Mutability::ReadOnly) {
                continue;
            }
            self.attribute(op, &path, Some(value))?;
        }
        Ok(())
    }

    fn attribute(
        &mut self,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), Error> {
        let name = path.attr.name.as_str();
        let (home, def) = filter::attribute_home(self.kind, path.attr.urn.as_deref(), name);
        if home.is_some_and(computed_by_server) {
            return Ok(());
        }
        if self.kind == ResourceKind::Group
            && home.is_none()
            && name.eq_ignore_ascii_case("members")
        {
            return self.members(op, path, value);
        }
        check_path(path, def)?;
        match (op, value) {
            (OpKind::Remove, values) => self.update(home, name, def, |current| {
                remove(current, path, def, values)
            }),
            (_, Some(Value::Null)) => {
                self.update(home, name, def, |current| remove(current, path, def, None))
            }
            (_, Some(value)) => self.update(home, name, def, |current| {
                set(op, current, path, def, value)
            }),
            (_, None) => Err(bad(
                ScimType::InvalidValue,
                format!("{} needs a `value`", op.as_str()),
            )),
        }
    }

    /// Replaces attribute `name` (top-level, or in the extension object `home`) with what `next`
    /// makes of its current value (`None` removes it), enforcing mutability and required-ness.
    /// An existing key is kept whatever its case; a new one is spelt as the client did.
    fn update(
        &mut self,
        home: Option<&str>,
        name: &str,
        def: Def,
        next: impl FnOnce(Option<&Value>) -> Result<Option<Value>, Error>,
    ) -> Result<(), Error> {
        if def.is_some_and(|d| d.mutability == Mutability::ReadOnly) {
            return Err(bad(ScimType::Mutability, format!("`{name}` is read-only")));
        }
        let not_an_object = |key: &str| {
            bad(
                ScimType::InvalidValue,
                format!("`{key}` holds no object of extension attributes"),
            )
        };
        let home_key = home.map(|urn| key_ci(&self.doc, urn).unwrap_or(urn).to_owned());
        let container = match &home_key {
            None => Some(&self.doc),
            Some(key) => match self.doc.get(key) {
                None => None,
                Some(Value::Object(extension)) => Some(extension),
                Some(_) => return Err(not_an_object(key)),
            },
        };
        let key = container
            .and_then(|c| key_ci(c, name))
            .unwrap_or(name)
            .to_owned();
        let current = container.and_then(|c| c.get(&key));
        let next = next(current)?;
        if next.as_ref() == current {
            return Ok(());
        }
        if let Some(def) = def {
            if def.mutability == Mutability::Immutable && current.is_some_and(|v| !v.is_null()) {
                return Err(bad(
                    ScimType::Mutability,
                    format!("`{name}` is immutable: it can be set once but not changed"),
                ));
            }
            if def.required && next.is_none() {
                return Err(bad(
                    ScimType::InvalidValue,
                    format!("`{name}` is required and cannot be removed"),
                ));
            }
        }
        let container = match &home_key {
            None => &mut self.doc,
            Some(home_key) => match self
                .doc
                .entry(home_key.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                Value::Object(extension) => extension,
                _ => return Err(not_an_object(home_key)),
            },
        };
        match next {
            Some(value) => {
                container.insert(key, value);
            }
            None => {
                container.shift_remove(&key);
            }
        }
        // An emptied extension goes too, so the resource shows no `"urn:…": {}`.
        if let Some(home_key) = home_key
            && container.is_empty()
        {
            self.doc.shift_remove(&home_key);
        }
        Ok(())
    }

    /// Group membership never touches the document: it becomes a [`MemberChange`].
    fn members(
        &mut self,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), Error> {
        if path.attr.sub.is_some() || path.sub.is_some() {
            return Err(bad(
                ScimType::InvalidPath,
                "members are addressed as `members` or `members[value eq \"<id>\"]`",
            ));
        }
        let change = match (op, &path.filter, value) {
            (OpKind::Remove, Some(filter), _) => MemberChange::Remove(filter_ids(filter)?),
            (_, Some(_), _) => {
                return Err(bad(
                    ScimType::InvalidPath,
                    "a members filter only works with remove; add and replace take `members` \
                     with a list of members",
                ));
            }
            (OpKind::Remove, None, None | Some(Value::Null)) | (_, None, Some(Value::Null)) => {
                MemberChange::RemoveAll
            }
            (OpKind::Add, None, Some(value)) => MemberChange::Add(new_members(value)?),
            (OpKind::Replace, None, Some(value)) => MemberChange::ReplaceAll(new_members(value)?),
            (OpKind::Remove, None, Some(value)) => {
                MemberChange::Remove(new_members(value)?.into_iter().map(|m| m.id).collect())
            }
            (_, None, None) => {
                return Err(bad(
                    ScimType::InvalidValue,
                    format!("{} of members needs a `value`", op.as_str()),
                ));
            }
        };
        // Adding or removing no one changes nothing; an empty ReplaceAll still empties the group.
        let empty = match &change {
            MemberChange::Add(members) => members.is_empty(),
            MemberChange::Remove(ids) => ids.is_empty(),
            MemberChange::RemoveAll | MemberChange::ReplaceAll(_) => false,
        };
        if !empty {
            self.changes.push(change);
        }
        Ok(())
    }
}

/// Whether the extension `urn` is computed by Seatflow, never stored from the client: the
/// license seat extension, whose values licensing changes at any time. Operations on it are
/// accepted and ignored, so a generic client that writes back what it read never fails.
fn computed_by_server(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(LICENSE_USER_SCHEMA)
}

/// Rejects paths the schema rules out: sub-attributes of simple attributes, value filters on
/// single-valued ones, and read-only sub-attributes (`manager.displayName`).
fn check_path(path: &PatchPath, def: Def) -> Result<(), Error> {
    let Some(def) = def else { return Ok(()) };
    let name = &path.attr.name;
    if path.filter.is_some() && !def.multi_valued {
        return Err(bad(
            ScimType::InvalidPath,
            format!("`{name}` is single-valued, so it takes no value filter"),
        ));
    }
    if let Some(sub) = path.attr.sub.as_deref().or(path.sub.as_deref()) {
        if def.attr_type != AttrType::Complex {
            return Err(bad(
                ScimType::InvalidPath,
                format!("`{name}` has no sub-attributes"),
            ));
        }
        if def
            .sub_attribute(sub)
            .is_some_and(|s| s.mutability == Mutability::ReadOnly)
        {
            return Err(bad(
                ScimType::Mutability,
                format!("`{name}.{sub}` is read-only"),
            ));
        }
    }
    Ok(())
}

/// The ids of `value eq "<id>"` terms joined by `or`: the only members filter clients send.
fn filter_ids(filter: &Filter) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    let mut pending = vec![filter];
    while let Some(filter) = pending.pop() {
        match filter {
            Filter::Or(lhs, rhs) => {
                pending.push(rhs);
                pending.push(lhs);
            }
            Filter::Compare(
                AttrPath {
                    urn: None,
                    name,
                    sub: None,
                },
                CompareOp::Eq,
                CompValue::Str(id),
            ) if name.eq_ignore_ascii_case("value") => ids.push(id.clone()),
            _ => {
                return Err(bad(
                    ScimType::InvalidFilter,
                    format!(
                        "members are selected by `value eq \"<id>\"` terms joined with `or`, \
                         not by `{filter}`"
                    ),
                ));
            }
        }
    }
    Ok(ids)
}

/// Members from `[{"value": id, "display": …}, …]`; bare id strings are accepted too (Okta and
/// Microsoft's Postman collection send them), a lone member needs no array, and JSON nulls are
/// dropped. PATCH and a group's POST and PUT read members with this.
pub(crate) fn new_members(value: &Value) -> Result<Vec<NewMember>, Error> {
    values(value)
        .iter()
        .filter(|member| !member.is_null())
        .map(|member| match member {
            Value::String(id) => Ok(NewMember::from(id.as_str())),
            Value::Object(member) => match get_ci(member, "value") {
                Some(Value::String(id)) => {
                    let text = |key: &str| get_ci(member, key).and_then(Value::as_str);
                    Ok(NewMember {
                        id: id.clone(),
                        display: text("display")
                            .or_else(|| text("displayName"))
                            .map(str::to_owned),
                        reference: text("$ref").map(str::to_owned),
                        kind: text("type").map(str::to_owned),
                    })
                }
                _ => Err(bad(
                    ScimType::InvalidValue,
                    "each member needs a string `value`: the member's id",
                )),
            },
            _ => Err(bad(
                ScimType::InvalidValue,
                "members are objects like {\"value\": \"<id>\"}",
            )),
        })
        .collect()
}

/// The values of a JSON value: an array's elements, nothing for null, else the value itself.
fn values(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        Value::Null => &[],
        value => std::slice::from_ref(value),
    }
}

/// The attribute's value after add/replace of `value` at `path`.
fn set(
    op: OpKind,
    current: Option<&Value>,
    path: &PatchPath,
    def: Def,
    value: &Value,
) -> Result<Option<Value>, Error> {
    let name = path.attr.name.as_str();
    let current = current.filter(|v| !v.is_null());
    if let Some(filter) = &path.filter {
        return set_filtered(op, current, name, def, filter, path.sub.as_deref(), value).map(Some);
    }
    if let Some(sub) = &path.attr.sub {
        return set_sub(current, name, def, sub, value).map(Some);
    }
    let Some(def) = def else {
        // Unknown attributes are kept as sent; add to a list appends.
        return Ok(Some(match (op, current) {
            (OpKind::Add, Some(Value::Array(items))) => {
                let mut items = items.clone();
                append(&mut items, values(value).to_vec());
                Value::Array(items)
            }
            _ => value.clone(),
        }));
    };
    if def.multi_valued {
        let mut items = match (op, current) {
            (OpKind::Add, Some(current)) => values(current).to_vec(),
            _ => Vec::new(),
        };
        let new = values(value)
            .iter()
            .filter(|item| !item.is_null())
            .map(|item| coerce(def, name, item).map(strip_nulls))
            .collect::<Result<_, _>>()?;
        let touched = append(&mut items, new);
        settle_primary(&mut items, &touched);
        return Ok(Some(Value::Array(items)));
    }
    match coerce(def, name, single(name, value)?)? {
        Value::Object(new) => {
            let mut object = match current {
                Some(Value::Object(object)) => object.clone(),
                _ => Map::new(),
            };
            merge(&mut object, new);
            Ok((!object.is_empty()).then_some(Value::Object(object)))
        }
        value => Ok(Some(value)),
    }
}

/// Sets `name.sub`: on the object of a single-valued complex attribute (created if absent), or
/// on every value of a multi-valued one.
fn set_sub(
    current: Option<&Value>,
    name: &str,
    def: Def,
    sub: &str,
    value: &Value,
) -> Result<Value, Error> {
    let value = coerce_sub(def, name, sub, value)?;
    let multi_valued = def.map_or(matches!(current, Some(Value::Array(_))), |d| d.multi_valued);
    let mut next = match current {
        Some(current) => current.clone(),
        None if multi_valued => Value::Array(Vec::new()),
        None => Value::Object(Map::new()),
    };
    match &mut next {
        Value::Object(object) => set_key(object, sub, value),
        Value::Array(items) => {
            if items.is_empty() {
                items.push(Value::Object(Map::new()));
            }
            for item in items.iter_mut() {
                if let Value::Object(object) = item {
                    set_key(object, sub, value.clone());
                }
            }
        }
        _ => {
            return Err(bad(
                ScimType::InvalidPath,
                format!("`{name}` is not complex, so it has no sub-attribute `{sub}`"),
            ));
        }
    }
    Ok(next)
}

/// add/replace through a value filter: on every matching value, sets `sub`, or without one
/// replaces the value (replace) or merges into it (add).
fn set_filtered(
    op: OpKind,
    current: Option<&Value>,
    name: &str,
    def: Def,
    filter: &Filter,
    sub: Option<&str>,
    value: &Value,
) -> Result<Value, Error> {
    let new = match (sub, def) {
        (Some(sub), def) => coerce_sub(def, name, sub, value)?,
        (None, Some(def)) => coerce(def, name, value)?,
        (None, None) => value.clone(),
    };
    let mut items = current.map(|c| values(c).to_vec()).unwrap_or_default();
    let mut touched = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if filter::matches_element(filter, def, item) {
            touched.push(i);
            put(item, sub, &new, op == OpKind::Replace);
        }
    }
    if touched.is_empty() {
        // Entra sends `emails[type eq "work"].value` also for a user without a work email and
        // expects one to be created, which only a single `attr eq "x"` filter describes.
        let Some(mut item) = seed(filter, def, name)? else {
            return Err(bad(
                ScimType::NoTarget,
                format!("no value of `{name}` matches `{filter}`"),
            ));
        };
        put(&mut item, sub, &new, false);
        touched.push(items.len());
        items.push(item);
    }
    settle_primary(&mut items, &touched);
    Ok(Value::Array(items))
}

/// Puts `new` into one matched value: as its sub-attribute `sub`, else merged or replacing it.
fn put(item: &mut Value, sub: Option<&str>, new: &Value, replace: bool) {
    match (sub, item, new) {
        (Some(sub), Value::Object(object), _) => set_key(object, sub, new.clone()),
        (None, Value::Object(object), Value::Object(new)) if !replace => {
            merge(object, new.clone());
        }
        (None, item, _) => *item = strip_nulls(new.clone()),
        (Some(_), _, _) => {}
    }
}

/// The new value a single `attr eq "x"` filter describes: `{attr: "x"}`.
fn seed(filter: &Filter, def: Def, name: &str) -> Result<Option<Value>, Error> {
    let Filter::Compare(
        AttrPath {
            urn: None,
            name: attr,
            sub: None,
        },
        CompareOp::Eq,
        expected,
    ) = filter
    else {
        return Ok(None);
    };
    let expected = match expected {
        CompValue::Str(s) => Value::String(s.clone()),
        CompValue::Num(n) => Value::Number(n.clone()),
        CompValue::Bool(b) => Value::Bool(*b),
        CompValue::Null => return Ok(None),
    };
    let item = Value::Object(Map::from_iter([(attr.clone(), expected)]));
    // Typed like any value: `roles[primary eq "True"]` describes `"primary": true`.
    match def {
        Some(def) => coerce(def, name, &item).map(Some),
        None => Ok(Some(item)),
    }
}

/// The attribute's value after removing `path`, or just the listed `values` of a multi-valued
/// attribute (Entra's `{"op":"Remove","path":"members","value":[{"value":"id"}]}` form).
fn remove(
    current: Option<&Value>,
    path: &PatchPath,
    def: Def,
    values_to_remove: Option<&Value>,
) -> Result<Option<Value>, Error> {
    let Some(current) = current.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
    let next = match (&path.filter, sub) {
        (Some(filter), sub) => without(current, sub, |item| {
            filter::matches_element(filter, def, item)
        }),
        (None, Some(sub)) => without(current, Some(sub), |_| true),
        (None, None) => match (current, values_to_remove.filter(|v| !v.is_null())) {
            (Value::Array(_), Some(listed)) => without(current, None, |item| {
                values(listed).iter().any(|spec| selects(spec, item))
            }),
            _ => return Ok(None),
        },
    };
    Ok(is_assigned(&next).then_some(next))
}

/// `current` without the selected values, or without sub-attribute `sub` of them.
fn without(current: &Value, sub: Option<&str>, selected: impl Fn(&Value) -> bool) -> Value {
    let keep = |item: &Value| match (selected(item), sub, item) {
        (false, _, _) => Some(item.clone()),
        (true, None, _) => None,
        (true, Some(sub), Value::Object(object)) => {
            let mut object = object.clone();
            if let Some(key) = key_ci(&object, sub).map(str::to_owned) {
                object.shift_remove(&key);
            }
            (!object.is_empty()).then_some(Value::Object(object))
        }
        (true, Some(_), item) => Some(item.clone()),
    };
    match current {
        Value::Array(items) => Value::Array(items.iter().filter_map(keep).collect()),
        item => keep(item).unwrap_or(Value::Null),
    }
}

/// Whether a value listed for removal denotes `item`: an object by its non-null members
/// (`{"value": "id", "$ref": null}`), anything else by equality with the item or its `value`.
fn selects(spec: &Value, item: &Value) -> bool {
    match (spec, item) {
        (Value::Object(spec), Value::Object(item)) => {
            spec.values().any(|v| !v.is_null())
                && spec
                    .iter()
                    .all(|(key, v)| v.is_null() || get_ci(item, key) == Some(v))
        }
        (spec, Value::Object(item)) => get_ci(item, "value") == Some(spec),
        (spec, item) => spec == item,
    }
}

/// The value for sub-attribute `sub` of `name`, typed if the schema knows it.
fn coerce_sub(def: Def, name: &str, sub: &str, value: &Value) -> Result<Value, Error> {
    match def.and_then(|d| d.sub_attribute(sub)) {
        Some(sub_def) => coerce(sub_def, &format!("{name}.{sub}"), single(name, value)?),
        None => Ok(value.clone()),
    }
}

/// A single-valued attribute's value; a one-element array gives its element (Entra's legacy
/// `"path":"manager","value":[{"value":"id"}]`).
fn single<'v>(name: &str, value: &'v Value) -> Result<&'v Value, Error> {
    match value {
        Value::Array(items) => match items.as_slice() {
            [one] => Ok(one),
            _ => Err(bad(
                ScimType::InvalidValue,
                format!(
                    "`{name}` is single-valued, not a list of {} values",
                    items.len()
                ),
            )),
        },
        value => Ok(value),
    }
}

/// Appends the values not already present; returns the indices of those appended.
fn append(items: &mut Vec<Value>, new: Vec<Value>) -> Vec<usize> {
    let mut appended = Vec::new();
    for item in new {
        if !items.contains(&item) {
            appended.push(items.len());
            items.push(item);
        }
    }
    appended
}

/// Merges sub-attributes into `object`; a null one removes it.
fn merge(object: &mut Map<String, Value>, new: Map<String, Value>) {
    for (key, value) in new {
        if value.is_null() {
            if let Some(key) = key_ci(object, &key).map(str::to_owned) {
                object.shift_remove(&key);
            }
        } else {
            set_key(object, &key, value);
        }
    }
}

/// Sets `name` under its existing key whatever the case, or under `name`.
fn set_key(object: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(object, name).unwrap_or(name).to_owned();
    object.insert(key, value);
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(mut object) => {
            object.retain(|_, v| !v.is_null());
            Value::Object(object)
        }
        value => value,
    }
}

/// Whether a value still assigns something: removing the last value of a multi-valued
/// attribute (or sub-attribute of a complex one) unassigns it (RFC 7644 §3.5.2.2).
fn is_assigned(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(object) => !object.is_empty(),
        _ => true,
    }
}

/// RFC 7643 §2.4: at most one value is primary. The last value just set primary wins; the
/// others lose the flag.
fn settle_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |item: &Value| {
        item.as_object()
            .and_then(|object| get_ci(object, "primary"))
            .is_some_and(|p| match p {
                Value::Bool(b) => *b,
                Value::String(s) => filter::parse_bool(s) == Some(true),
                _ => false,
            })
    };
    let Some(&winner) = touched
        .iter()
        .rev()
        .find(|&&i| items.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner
            && is_primary(item)
            && let Value::Object(object) = item
        {
            set_key(object, "primary", Value::Bool(false));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scim::{ENTERPRISE_USER_SCHEMA as ENTERPRISE, USER_SCHEMA};
    use proptest::prelude::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            other => panic!("not an object: {other}"),
        }
    }

    /// The engine with the default limits.
    fn from_json(body: &Value) -> Result<PatchRequest, Error> {
        PatchRequest::from_json(body, &Limits::DEFAULT)
    }

    fn apply(
        kind: ResourceKind,
        doc: &mut Map<String, Value>,
        ops: &[PatchOp],
    ) -> Result<Vec<MemberChange>, Error> {
        super::apply(kind, doc, ops, &Limits::DEFAULT)
    }

    fn parse_path(input: &str) -> Result<PatchPath, Error> {
        super::parse_path(input, &Limits::DEFAULT)
    }

    fn body(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
    }

    /// Parses and applies a PATCH body; on error checks that the document is unchanged.
    fn patch(
        kind: ResourceKind,
        doc: &Value,
        body: &Value,
    ) -> Result<(Value, Vec<MemberChange>), Error> {
        let mut patched = object(doc.clone());
        let result =
            from_json(body).and_then(|request| apply(kind, &mut patched, &request.operations));
        match result {
            Ok(changes) => Ok((Value::Object(patched), changes)),
            Err(e) => {
                assert_eq!(
                    Value::Object(patched),
                    *doc,
                    "a failed PATCH changed the document"
                );
                Err(e)
            }
        }
    }

    fn patch_user(doc: &Value, operations: Value) -> Value {
        patch(ResourceKind::User, doc, &body(operations)).unwrap().0
    }

    fn patch_group(operations: Value) -> (Value, Vec<MemberChange>) {
        patch(ResourceKind::Group, &group(), &body(operations)).unwrap()
    }

    /// The scimType and detail of a failed PATCH on `doc`.
    fn error(kind: ResourceKind, doc: &Value, operations: Value) -> (ScimType, String) {
        match patch(kind, doc, &body(operations)) {
            Err(Error::BadRequest(scim_type, detail)) => (scim_type, detail),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    fn user_error(operations: Value) -> ScimType {
        error(ResourceKind::User, &user(), operations).0
    }

    /// Entra's create body (ENTRA.md §2.2) as stored: without `meta`.
    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
            }],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName"
        })
    }

    // ---- ENTRA.md §2.2 and §2.3, verbatim bodies

    #[test]
    fn entra_update_user() {
        let doc = patch_user(
            &user(),
            json!([
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" }
            ]),
        );
        assert_eq!(
            doc["emails"],
            json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}])
        );
        assert_eq!(doc["name"]["familyName"], "updatedFamilyName");
        assert_eq!(doc["name"]["givenName"], "givenName");

        let doc = patch_user(
            &user(),
            json!([
                { "op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" }
            ]),
        );
        assert_eq!(
            doc["userName"],
            "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
        );
    }

    #[test]
    fn entra_disable_user_with_booleans_and_strings() {
        for (value, active) in [
            (json!(false), false),
            (json!("False"), false),
            (json!("false"), false),
            (json!("True"), true),
            (json!(true), true),
        ] {
            let doc = patch_user(
                &user(),
                json!([{ "op": "Replace", "path": "active", "value": value }]),
            );
            assert_eq!(doc["active"], json!(active), "{value}");
        }
        let doc = patch_user(
            &user(),
            json!([{ "op": "replace", "value": {"active": "False"} }]),
        );
        assert_eq!(doc["active"], json!(false));
        assert_eq!(
            user_error(json!([{ "op": "Replace", "path": "active", "value": "no" }])),
            ScimType::InvalidValue
        );
        assert_eq!(
            user_error(json!([{ "op": "Replace", "path": "active", "value": "" }])),
            ScimType::InvalidValue
        );
        assert_eq!(
            user_error(json!([{ "op": "Replace", "path": "active", "value": 0 }])),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn entra_manager_legacy_array_form() {
        let doc = patch_user(
            &user(),
            json!([{
                "op": "Add", "path": "manager",
                "value": [{"$ref": "http://example.com/scim/Users/00aa00aa", "value": "00aa00aa"}]
            }]),
        );
        assert_eq!(
            doc[ENTERPRISE]["manager"],
            json!({"$ref": "http://example.com/scim/Users/00aa00aa", "value": "00aa00aa"})
        );
        assert!(doc.get("manager").is_none());
    }

    #[test]
    fn entra_group_requests() {
        let (doc, changes) = patch_group(
            json!([{ "op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" }]),
        );
        assert_eq!(
            doc["displayName"],
            "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
        );
        assert!(changes.is_empty());

        let (doc, changes) = patch_group(
            json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }]),
        );
        assert_eq!(doc, group());
        assert_eq!(
            changes,
            [MemberChange::Add(vec!["f648f8d5ea4e4cd38e9c".into()])]
        );

        let (doc, changes) = patch_group(
            json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }]),
        );
        assert_eq!(doc, group());
        assert_eq!(
            changes,
            [MemberChange::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
        );
    }

    // ---- ENTRA.md §3: both dialects

    #[test]
    fn dialects_add_single_value_string() {
        for op in ["Add", "add"] {
            let doc = patch_user(
                &user(),
                json!([{ "op": op, "path": "nickName", "value": "Babs" }]),
            );
            assert_eq!(doc["nickName"], "Babs");
        }
    }

    #[test]
    fn dialects_replace_several_attributes() {
        let default = patch_user(
            &user(),
            json!([
                {"op":"Replace","path":"displayName","value":"Pvlo"},
                {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
                {"op":"Replace","path":"name.givenName","value":"Kkom"},
                {"op":"Replace","path":"name.familyName","value":"Unua"},
                {"op":"Replace","path":"externalId","value":"e1"},
                {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Aklq"}
            ]),
        );
        let flagged = patch_user(
            &user(),
            json!([
                {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
                {"op":"replace","value":{"displayName":"Pvlo","name.givenName":"Kkom","name.familyName":"Unua","externalId":"e1",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}
            ]),
        );
        assert_eq!(default, flagged);
        assert_eq!(flagged["displayName"], "Pvlo");
        assert_eq!(
            flagged["name"],
            json!({"formatted": "givenName familyName", "familyName": "Unua", "givenName": "Kkom"})
        );
        assert_eq!(
            flagged["emails"][0]["value"],
            "TestMhvaes@test.microsoft.com"
        );
        assert_eq!(flagged[ENTERPRISE], json!({"employeeNumber": "Aklq"}));
    }

    #[test]
    fn dialects_remove_group_member() {
        let (_, default) =
            patch_group(json!([{"op":"Remove","path":"members","value":[{"value":"u1091"}]}]));
        assert_eq!(default, [MemberChange::Remove(vec!["u1091".into()])]);
        let (_, flagged) = patch_group(
            json!([{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]),
        );
        assert_eq!(
            flagged,
            [MemberChange::Remove(vec![
                "7f4bc1a3-285e-48ae-8202-5accb43efb0e".into()
            ])]
        );
    }

    #[test]
    fn dialects_2020_flagged_examples() {
        let (_, changes) = patch_group(
            json!([{"op":"add","path":"members","value":[{"value":"10263a6910a84ef9a581dd9b8dcc0eae"}]}]),
        );
        assert_eq!(
            changes,
            [MemberChange::Add(vec![
                "10263a6910a84ef9a581dd9b8dcc0eae".into()
            ])]
        );

        let doc = patch_user(
            &user(),
            json!([{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Tech Infrastructure"}]),
        );
        assert_eq!(doc[ENTERPRISE]["department"], "Tech Infrastructure");

        let mut start = user();
        start["emails"] = json!([{"type": "home", "value": "h@x", "primary": true}, {"type": "work", "value": "w@x"}]);
        let doc = patch_user(
            &start,
            json!([
                {"op":"replace","path":"emails[type eq \"work\"].primary","value":true},
                {"op":"replace","value":{"active":false,"userName":"someone"}}
            ]),
        );
        assert_eq!(
            doc["emails"],
            json!([{"type": "home", "value": "h@x", "primary": false}, {"type": "work", "value": "w@x", "primary": true}])
        );
        assert_eq!(doc["active"], json!(false));
        assert_eq!(doc["userName"], "someone");
    }

    // ---- the Microsoft SCIM Validator capture (ENTRA.md §8, peers/entra-scim-validator-results-sample.json)

    const VERBOSE_REQUEST: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true},{"op":"replace","path":"displayName","value":"GTNCXBFJAYYF"},{"op":"replace","path":"title","value":"NRMIMLXXPFCQ"},{"op":"replace","path":"emails[type eq \"work\"].value","value":"art@botsford.ca"},{"op":"replace","path":"emails[type eq \"work\"].primary","value":true},{"op":"replace","path":"preferredLanguage","value":"nus-SS"},{"op":"replace","path":"name.givenName","value":"Jaqueline"},{"op":"replace","path":"name.familyName","value":"Jaylin"},{"op":"replace","path":"name.formatted","value":"Alphonso"},{"op":"replace","path":"name.middleName","value":"Burley"},{"op":"replace","path":"name.honorificPrefix","value":"Jordan"},{"op":"replace","path":"name.honorificSuffix","value":"Carmelo"},{"op":"replace","path":"addresses[type eq \"work\"].formatted","value":"SLSIAOINWGKF"},{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"42543 Matteo Squares"},{"op":"replace","path":"addresses[type eq \"work\"].locality","value":"SRGBSNWYWKCE"},{"op":"replace","path":"addresses[type eq \"work\"].region","value":"TPUDYFKYCXZG"},{"op":"replace","path":"addresses[type eq \"work\"].postalCode","value":"cd4 6xm"},{"op":"replace","path":"addresses[type eq \"work\"].primary","value":true},{"op":"replace","path":"addresses[type eq \"work\"].country","value":"Tunisia"},{"op":"replace","path":"phoneNumbers[type eq \"work\"].value","value":"16-953-9121"},{"op":"replace","path":"phoneNumbers[type eq \"work\"].primary","value":true},{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"16-953-9121"},{"op":"replace","path":"phoneNumbers[type eq \"fax\"].value","value":"16-953-9121"},{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"YELOFEEPPTQS"},{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"BAGAJLIBBUNP"},{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter","value":"RFANDONCHLHU"},{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization","value":"JGHHQBCZMILV"},{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division","value":"REQRSGZKITYC"},{"op":"replace","path":"roles[primary eq \"True\"].display","value":"CFBCZENNYVAA"},{"op":"replace","path":"roles[primary eq \"True\"].value","value":"YJSPMLTGMQYP"},{"op":"replace","path":"roles[primary eq \"True\"].type","value":"GOHYCDLRADAY"},{"op":"replace","path":"userType","value":"GJZUUWCYFNGO"},{"op":"replace","path":"nickName","value":"KGTEXLURUSTJ"},{"op":"replace","path":"locale","value":"AESNOPDZYXPE"},{"op":"replace","path":"timezone","value":"America/Costa_Rica"},{"op":"replace","path":"profileUrl","value":"FPOCWAGSMIDK"}]}"#;
    const VERBOSE_CREATED: &str = r#"{"userName":"kraig_schuster@sanfordmedhurst.biz","active":true,"displayName":"CJHZFQUNUDHM","title":"YBYYOHMTBMIS","emails":[{"type":"work","value":"matilde.keeling@harris.ca","primary":true}],"preferredLanguage":"kk-KZ","name":{"givenName":"Frederic","familyName":"Verla","formatted":"Arthur","middleName":"Braden","honorificPrefix":"Kenny","honorificSuffix":"Orin"},"addresses":[{"type":"work","formatted":"PNKJJCJENSQL","streetAddress":"9336 Lebsack Neck","locality":"PGQNJVBDYBZD","region":"VASAORYOLQWN","postalCode":"is16 5ye","primary":true,"country":"Botswana"}],"phoneNumbers":[{"type":"work","value":"48-993-0552","primary":true},{"type":"mobile","value":"48-993-0552"},{"type":"fax","value":"48-993-0552"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"MCWISXZWTTCL","department":"SGOBSUPWRUBD","costCenter":"BODONZBGCDCW","organization":"DKOUSJPAWTCC","division":"YOKIMCKQYYET","manager":{"value":"GPOMMVNKQULW"}},"roles":[{"primary":"True","display":"WWWZGZQZOZVP","value":"DBNVIJEPUFQL","type":"CWVYEWYZISLG"}],"userType":"PCWZVYHVEOLO","nickName":"TXPHNTGGOFLX","locale":"ZLOZIOPOBNKG","timezone":"Africa/Lagos","profileUrl":"CHHKTXLGSCGH","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}"#;
    const VERBOSE_RESPONSE: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"id":"77255a36-b80e-4762-b36b-33b6aa76631d","userName":"kraig_schuster@sanfordmedhurst.biz","active":true,"displayName":"GTNCXBFJAYYF","title":"NRMIMLXXPFCQ","emails":[{"type":"work","value":"art@botsford.ca","primary":true}],"preferredLanguage":"nus-SS","name":{"givenName":"Jaqueline","familyName":"Jaylin","formatted":"Alphonso","middleName":"Burley","honorificPrefix":"Jordan","honorificSuffix":"Carmelo"},"addresses":[{"type":"work","formatted":"SLSIAOINWGKF","streetAddress":"42543 Matteo Squares","locality":"SRGBSNWYWKCE","region":"TPUDYFKYCXZG","postalCode":"cd4 6xm","primary":true,"country":"Tunisia"}],"phoneNumbers":[{"type":"work","value":"16-953-9121","primary":true},{"type":"mobile","value":"16-953-9121"},{"type":"fax","value":"16-953-9121"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"YELOFEEPPTQS","department":"BAGAJLIBBUNP","costCenter":"RFANDONCHLHU","organization":"JGHHQBCZMILV","division":"REQRSGZKITYC","manager":{"value":"GPOMMVNKQULW"}},"roles":[{"primary":true,"display":"CFBCZENNYVAA","value":"YJSPMLTGMQYP","type":"GOHYCDLRADAY"}],"userType":"GJZUUWCYFNGO","nickName":"KGTEXLURUSTJ","locale":"AESNOPDZYXPE","timezone":"America/Costa_Rica","profileUrl":"FPOCWAGSMIDK","meta":{"resourceType":"User","created":"2026-02-10T04:33:15.693Z","lastModified":"2026-02-10T04:33:15.888Z","location":"http://localhost:6000/scim/endpoints/cmlfuqaft0002i30tlv47pq1f/Users/77255a36-b80e-4762-b36b-33b6aa76631d","version":"W/\"2026-02-10T04:33:15.888Z\""}}"#;

    #[test]
    fn validator_replace_attributes_verbose_request() {
        let request: Value = serde_json::from_str(VERBOSE_REQUEST).unwrap();
        assert_eq!(request["Operations"].as_array().unwrap().len(), 36);
        // As created by the validator, and as stored once create has typed `"primary":"True"`.
        let created: Value = serde_json::from_str(VERBOSE_CREATED).unwrap();
        let mut typed = created.clone();
        typed["roles"][0]["primary"] = json!(true);
        let mut expected: Value = serde_json::from_str(VERBOSE_RESPONSE).unwrap();
        let expected_object = expected.as_object_mut().unwrap();
        expected_object.shift_remove("id");
        expected_object.shift_remove("meta");

        let (doc, changes) = patch(ResourceKind::User, &typed, &request).unwrap();
        assert!(changes.is_empty());
        assert_eq!(doc, expected);

        // With the string kept, `roles[primary eq "True"]` still finds the role.
        let (doc, _) = patch(ResourceKind::User, &created, &request).unwrap();
        assert_eq!(
            doc["roles"],
            json!([{"primary": "True", "display": "CFBCZENNYVAA", "value": "YJSPMLTGMQYP", "type": "GOHYCDLRADAY"}])
        );
    }

    #[test]
    fn validator_user_requests() {
        let doc = patch_user(
            &user(),
            json!([{"op":"replace","value":{"userName":"burdette@beer.co.uk"}}]),
        );
        assert_eq!(doc["userName"], "burdette@beer.co.uk");

        let doc = patch_user(
            &user(),
            json!([{"op":"replace","path":"active","value":false}]),
        );
        assert_eq!(doc["active"], json!(false));

        let doc = patch_user(
            &user(),
            json!([{"op":"add","path":"displayName","value":"FBPCNVCHETXV"},{"op":"replace","path":"title","value":"EBBINEPPNBDO"}]),
        );
        assert_eq!(
            (&doc["displayName"], &doc["title"]),
            (&json!("FBPCNVCHETXV"), &json!("EBBINEPPNBDO"))
        );
    }

    #[test]
    fn validator_manager_add_replace_remove() {
        let manager = |doc: &Value| doc[ENTERPRISE]["manager"].clone();
        let path = format!("{ENTERPRISE}:manager");
        let added = patch_user(
            &user(),
            json!([{"op":"add","path":path,"value":{"value":"1f556bd0"}}]),
        );
        assert_eq!(manager(&added), json!({"value": "1f556bd0"}));
        let replaced = patch_user(
            &added,
            json!([{"op":"replace","path":path,"value":{"value":"53db2194"}}]),
        );
        assert_eq!(manager(&replaced), json!({"value": "53db2194"}));
        // "Remove" is a replace with an empty value, stored as sent (the validator accepts that).
        let removed = patch_user(
            &replaced,
            json!([{"op":"replace","path":path,"value":{"value":""}}]),
        );
        assert_eq!(manager(&removed), json!({"value": ""}));
        // A real remove, by path or by null, takes the attribute and the emptied extension away.
        for operation in [
            json!({"op":"remove","path":path}),
            json!({"op":"replace","path":"manager","value":null}),
        ] {
            let removed = patch_user(&replaced, json!([operation]));
            assert!(removed.get(ENTERPRISE).is_none(), "{removed}");
        }
        let by_sub = patch_user(
            &replaced,
            json!([{"op":"replace","path":format!("{path}.value"),"value":"x"}]),
        );
        assert_eq!(manager(&by_sub), json!({"value": "x"}));
        assert_eq!(
            user_error(json!([{"op":"add","path":"manager.displayName","value":"x"}])),
            ScimType::Mutability
        );
    }

    #[test]
    fn validator_group_requests() {
        let (doc, _) = patch_group(json!([{"op":"replace","value":{"externalId":"663fa3a8"}}]));
        assert_eq!(doc["externalId"], "663fa3a8");
        let (doc, _) =
            patch_group(json!([{"op":"replace","value":{"displayName":"WUZPWMBDDCGI"}}]));
        assert_eq!(doc["displayName"], "WUZPWMBDDCGI");
        let (_, changes) = patch_group(
            json!([{"op":"replace","path":"members","value":[{"value":"ee90548a"},{"value":"35ddd382"}]}]),
        );
        assert_eq!(
            changes,
            [MemberChange::ReplaceAll(vec![
                "ee90548a".into(),
                "35ddd382".into()
            ])]
        );
        // Multiple operations on the same attribute, in order.
        let (doc, changes) = patch_group(json!([
            {"op":"add","path":"members","value":[{"value":"761ac150"}]},
            {"op":"remove","path":"members[value eq \"761ac150\"]"}
        ]));
        assert_eq!(doc, group());
        assert_eq!(
            changes,
            [
                MemberChange::Add(vec!["761ac150".into()]),
                MemberChange::Remove(vec!["761ac150".into()])
            ]
        );
    }

    // ---- group members

    #[test]
    fn member_forms() {
        let (doc, changes) = patch_group(json!([
            {"op":"add","value":{"members":["u1", {"value":"u2","display":"B"}],"displayName":"New"}},
            {"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\" or VALUE eq \"u3\"]"},
            {"op":"replace","path":"members","value":[]},
            {"op":"replace","path":"members","value":null},
            {"op":"remove","path":"members"},
            {"op":"add","path":"members","value":[]},
            {"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:Group:members","value":{"value":"u4"}}
        ]));
        assert_eq!(doc["displayName"], "New");
        assert!(doc.get("members").is_none());
        assert_eq!(
            changes,
            [
                MemberChange::Add(vec![
                    "u1".into(),
                    NewMember {
                        display: Some("B".into()),
                        ..NewMember::from("u2")
                    }
                ]),
                MemberChange::Remove(vec!["u1".into(), "u2".into(), "u3".into()]),
                MemberChange::ReplaceAll(vec![]),
                MemberChange::RemoveAll,
                MemberChange::RemoveAll,
                MemberChange::Remove(vec!["u4".into()]),
            ]
        );
    }

    #[test]
    fn member_errors() {
        let group_error = |operations| error(ResourceKind::Group, &group(), operations).0;
        assert_eq!(
            group_error(json!([{"op":"remove","path":"members[display eq \"x\"]"}])),
            ScimType::InvalidFilter
        );
        assert_eq!(
            group_error(
                json!([{"op":"remove","path":"members[value eq \"x\" and value eq \"y\"]"}])
            ),
            ScimType::InvalidFilter
        );
        assert_eq!(
            group_error(json!([{"op":"remove","path":"members[value ne \"x\"]"}])),
            ScimType::InvalidFilter
        );
        assert_eq!(
            group_error(
                json!([{"op":"replace","path":"members[value eq \"x\"]","value":{"value":"y"}}])
            ),
            ScimType::InvalidPath
        );
        assert_eq!(
            group_error(json!([{"op":"remove","path":"members[value eq \"x\"].display"}])),
            ScimType::InvalidPath
        );
        assert_eq!(
            group_error(json!([{"op":"add","path":"members.value","value":"x"}])),
            ScimType::InvalidPath
        );
        assert_eq!(
            group_error(json!([{"op":"add","path":"members","value":[{"value":7}]}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            group_error(json!([{"op":"add","path":"members","value":[{"display":"x"}]}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            group_error(json!([{"op":"add","path":"members","value":[3]}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            group_error(json!([{"op":"add","path":"members"}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            group_error(json!([{"op":"remove","path":"displayName"}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            group_error(json!([{"op":"replace","value":{"displayName":null}}])),
            ScimType::InvalidValue
        );
    }

    // ---- RFC semantics

    #[test]
    fn multi_valued_add_appends_and_replace_replaces() {
        let mut start = user();
        start["emails"] = json!([{"type": "work", "value": "w@x", "primary": true}]);
        let doc = patch_user(
            &start,
            json!([{"op":"add","path":"emails","value":[
                {"type":"work","value":"w@x","primary":true},
                {"type":"home","value":"h@x","primary":"True","display":null}
            ]}]),
        );
        // The duplicate is skipped; the new primary wins.
        assert_eq!(
            doc["emails"],
            json!([{"type": "work", "value": "w@x", "primary": false}, {"type": "home", "value": "h@x", "primary": true}])
        );

        let doc = patch_user(
            &doc,
            json!([{"op":"replace","path":"emails","value":{"type":"other","value":"o@x"}}]),
        );
        assert_eq!(doc["emails"], json!([{"type": "other", "value": "o@x"}]));
        let doc = patch_user(&doc, json!([{"op":"replace","path":"emails","value":[]}]));
        assert_eq!(doc["emails"], json!([]));
    }

    #[test]
    fn value_paths_update_create_or_fail() {
        let mut start = user();
        start["phoneNumbers"] =
            json!([{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}]);
        // Replace without sub swaps the element; add merges into it.
        let doc = patch_user(
            &start,
            json!([
                {"op":"replace","path":"phoneNumbers[type eq \"work\"]","value":{"type":"work","value":"3"}},
                {"op":"add","path":"phoneNumbers[type eq \"mobile\"]","value":{"display":"m"}}
            ]),
        );
        assert_eq!(
            doc["phoneNumbers"],
            json!([{"type": "work", "value": "3"}, {"type": "mobile", "value": "2", "display": "m"}])
        );
        // No match with a single `eq`: a new element (Entra's first work address).
        let doc = patch_user(
            &doc,
            json!([
                {"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"},
                {"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Springfield"},
                {"op":"replace","path":"roles[primary eq \"True\"].display","value":"Admin"}
            ]),
        );
        assert_eq!(
            doc["addresses"],
            json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}])
        );
        assert_eq!(doc["roles"], json!([{"primary": true, "display": "Admin"}]));
        // Other filters need a match.
        let (scim_type, detail) = error(
            ResourceKind::User,
            &user(),
            json!([
                {"op":"replace","path":"emails[type eq \"home\" and value pr].value","value":"x"}
            ]),
        );
        assert_eq!(scim_type, ScimType::NoTarget);
        assert!(
            detail.starts_with("operation 1: no value of `emails` matches"),
            "{detail}"
        );
        // Sub-attributes are typed.
        assert_eq!(
            user_error(
                json!([{"op":"replace","path":"emails[type eq \"work\"].primary","value":"maybe"}])
            ),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn removes() {
        let mut start = user();
        start["emails"] = json!([{"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x", "display": "H"}]);
        let doc = patch_user(
            &start,
            json!([{"op":"remove","path":"emails[type eq \"work\"]"}]),
        );
        assert_eq!(
            doc["emails"],
            json!([{"type": "home", "value": "h@x", "display": "H"}])
        );
        let doc = patch_user(
            &start,
            json!([{"op":"remove","path":"emails[type eq \"home\"].display"}]),
        );
        assert_eq!(doc["emails"][1], json!({"type": "home", "value": "h@x"}));
        let doc = patch_user(
            &start,
            json!([{"op":"remove","path":"emails","value":[{"value":"h@x","type":null}]}]),
        );
        assert_eq!(doc["emails"], json!([{"type": "work", "value": "w@x"}]));
        // Removing the last value, or the last sub-attribute, unassigns the attribute.
        let doc = patch_user(
            &start,
            json!([{"op":"remove","path":"emails[value co \"@x\"]"}]),
        );
        assert!(doc.get("emails").is_none());
        let doc = patch_user(
            &user(),
            json!([
                {"op":"remove","path":"name.givenName"}, {"op":"remove","path":"name.familyName"}, {"op":"remove","path":"NAME.formatted"}
            ]),
        );
        assert!(doc.get("name").is_none());
        // Absent targets and unmatched filters are no-ops.
        let doc = patch_user(
            &start,
            json!([
                {"op":"remove","path":"nickName"}, {"op":"remove","path":"emails[type eq \"other\"]"},
                {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}
            ]),
        );
        assert_eq!(doc, start);
        assert_eq!(user_error(json!([{"op":"remove"}])), ScimType::NoTarget);
        assert_eq!(
            user_error(json!([{"op":"Remove","path":"userName"}])),
            ScimType::InvalidValue
        );
        assert_eq!(
            user_error(json!([{"op":"remove","path":"USERNAME"}])),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn null_removes_and_empty_string_is_stored() {
        let doc = patch_user(
            &user(),
            json!([
                {"op":"replace","path":"externalId","value":null},
                {"op":"replace","value":{"name":null,"title":""}},
                {"op":"add","path":"nickName","value":""}
            ]),
        );
        assert!(doc.get("externalId").is_none() && doc.get("name").is_none());
        assert_eq!((&doc["title"], &doc["nickName"]), (&json!(""), &json!("")));
        let doc = patch_user(
            &user(),
            json!([{"op":"replace","path":"name","value":{"givenName":null,"middleName":"M"}}]),
        );
        assert_eq!(
            doc["name"],
            json!({"formatted": "givenName familyName", "familyName": "familyName", "middleName": "M"})
        );
        assert_eq!(
            user_error(json!([{"op":"replace","path":"userName","value":null}])),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn names_are_case_insensitive_and_keep_the_first_spelling() {
        let mut start = user();
        start["displayname"] = json!("old");
        let doc = patch_user(
            &start,
            json!([
                {"op":"replace","path":"displayName","value":"a"},
                {"op":"REPLACE","path":"Name.GivenName","value":"g"},
                {"op":"replace","value":{"DISPLAYNAME":"b","Emails[Type Eq \"work\"].Value":"e@x"}}
            ]),
        );
        assert_eq!(doc["displayname"], "b");
        assert!(doc.get("displayName").is_none());
        assert_eq!(doc["name"]["givenName"], "g");
        assert_eq!(doc["emails"][0]["value"], "e@x");
        let request = json!({"SCHEMAS": [PATCH_OP_SCHEMA.to_uppercase()], "operations": [{"OP": "Add", "PATH": "nickName", "VALUE": "n"}]});
        assert_eq!(
            patch(ResourceKind::User, &user(), &request).unwrap().0["nickName"],
            "n"
        );
    }

    #[test]
    fn extensions_in_every_form() {
        let doc = patch_user(
            &user(),
            json!([
                {"op":"add","value":{ENTERPRISE: {"department":"D","manager":{"value":"m1"}}}},
                {"op":"add","path":ENTERPRISE,"value":{"costCenter":"C"}},
                {"op":"replace","path":"employeeNumber","value":"E"},
                {"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m2"}},
                {"op":"replace","value":{USER_SCHEMA: {"nickName": "core"}}}
            ]),
        );
        assert_eq!(
            doc[ENTERPRISE],
            json!({"department": "D", "manager": {"value": "m2"}, "costCenter": "C", "employeeNumber": "E"})
        );
        assert_eq!(doc["nickName"], "core");
        let doc = patch_user(&doc, json!([{"op":"remove","path":ENTERPRISE}]));
        assert!(doc.get(ENTERPRISE).is_none());
        assert_eq!(
            user_error(json!([{"op":"remove","path":USER_SCHEMA}])),
            ScimType::InvalidPath
        );
        assert_eq!(
            user_error(json!([{"op":"add","path":ENTERPRISE,"value":"x"}])),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn unknown_attributes_are_stored_as_sent() {
        let doc = patch_user(
            &user(),
            json!([
                {"op":"add","path":"x-custom","value":{"any":[1,"two"]}},
                {"op":"add","path":"tags","value":["a"]},
                {"op":"add","path":"tags","value":["a","b"]},
                {"op":"add","value":{"urn:acme:params:ext:1.0:User":{"badge":7}}},
                {"op":"add","path":"urn:acme:params:ext:1.0:User:level","value":3}
            ]),
        );
        assert_eq!(doc["x-custom"], json!({"any": [1, "two"]}));
        assert_eq!(doc["tags"], json!(["a", "b"]));
        assert_eq!(
            doc["urn:acme:params:ext:1.0:User"],
            json!({"badge": 7, "level": 3})
        );
        assert_eq!(
            user_error(json!([{"op":"add","path":"http://x/y","value":"z"}])),
            ScimType::InvalidPath
        );
    }

    #[test]
    fn the_seat_extension_is_accepted_and_ignored() {
        let urn = LICENSE_USER_SCHEMA;
        for operations in [
            json!([{"op":"replace","path":format!("{urn}:seatStatus"),"value":"assigned"}]),
            json!([{"op":"Add","path":"seatReason","value":"x"}]),
            json!([{"op":"remove","path":format!("{urn}:seatReason")}]),
            json!([{"op":"replace","path":urn,"value":{"seatStatus":"assigned"}}]),
            json!([{"op":"remove","path":urn}]),
            json!([{"op":"replace","value":{urn:{"seatStatus":"blocked"}}}]),
        ] {
            assert_eq!(
                patch_user(&user(), operations.clone()),
                user(),
                "{operations}"
            );
        }
        // Beside a real change, only the real change is made.
        let doc = patch_user(
            &user(),
            json!([{"op":"replace","value":{"nickName":"B",urn:{"seatStatus":"x"}}}]),
        );
        assert_eq!(doc["nickName"], "B");
        assert!(doc.get(urn).is_none());
    }

    /// Okta's group rename and authentik's updates send the representation they hold, with
    /// `id`, `schemas` and `meta`: the readOnly parts are ignored, the rest applied.
    #[test]
    fn read_only_attributes_in_a_pathless_value_are_ignored() {
        let (doc, changes) = patch_group(json!([{"op":"replace","value":{
            "id":"g1","schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "meta":{"created":"2020-01-01T00:00:00Z"},"displayName":"Renamed"}}]));
        assert_eq!(doc["displayName"], "Renamed");
        assert!(doc.get("id").is_none() && doc.get("meta").is_none());
        assert!(changes.is_empty());
        // Named by a path they are still refused (RFC 7644 §3.5.2).
        assert_eq!(
            user_error(
                json!([{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}])
            ),
            ScimType::Mutability
        );
    }

    #[test]
    fn type_and_mutability_errors() {
        for (operation, expected) in [
            (
                json!({"op":"replace","path":"userName","value":42}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"replace","path":"displayName","value":{"a":1}}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"replace","path":"name","value":"x"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"replace","path":"name.givenName","value":["a","b"]}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"replace","path":"title","value":["a","b"]}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"replace","value":{"userName":true}}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"add","path":"emails","value":["x@y"]}),
                ScimType::InvalidValue,
            ),
            (
                json!({"op":"add","path":"userName"}),
                ScimType::InvalidValue,
            ),
            (json!({"op":"add","value":"x"}), ScimType::InvalidValue),
            (json!({"op":"remove","path":"id"}), ScimType::Mutability),
            (
                json!({"op":"replace","path":"id","value":"x"}),
                ScimType::Mutability,
            ),
            (
                json!({"op":"replace","path":"meta.lastModified","value":"2020-01-01T00:00:00Z"}),
                ScimType::Mutability,
            ),
            (
                json!({"op":"add","path":"groups","value":[{"value":"g"}]}),
                ScimType::Mutability,
            ),
            (
                json!({"op":"add","path":"active.value","value":true}),
                ScimType::InvalidPath,
            ),
            (
                json!({"op":"add","path":"userName[value eq \"x\"]","value":"y"}),
                ScimType::InvalidPath,
            ),
            (
                json!({"op":"add","path":"emails[type eq]","value":"y"}),
                ScimType::InvalidPath,
            ),
            (
                json!({"op":"add","path":7,"value":"y"}),
                ScimType::InvalidPath,
            ),
            (
                json!({"op":"add","value":{"bad key":"y"}}),
                ScimType::InvalidPath,
            ),
        ] {
            assert_eq!(user_error(json!([operation])), expected, "{operation}");
        }
    }

    #[test]
    fn request_errors() {
        let request_error = |body: Value| match from_json(&body) {
            Err(Error::BadRequest(scim_type, _)) => scim_type,
            other => panic!("{body}: {other:?}"),
        };
        let add = json!({"op": "add", "path": "title", "value": "t"});
        assert_eq!(request_error(json!([add])), ScimType::InvalidSyntax);
        assert_eq!(
            request_error(json!({"schemas": ["urn:wrong"], "Operations": [add]})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            request_error(json!({"schemas": PATCH_OP_SCHEMA, "Operations": [add]})),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            request_error(json!({"schemas": [PATCH_OP_SCHEMA]})),
            ScimType::InvalidSyntax
        );
        assert_eq!(request_error(body(json!([]))), ScimType::InvalidSyntax);
        assert_eq!(
            request_error(body(json!({"op": "add"}))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            request_error(body(json!([{"op": "move", "path": "title"}]))),
            ScimType::InvalidSyntax
        );
        assert_eq!(
            request_error(body(json!([{"path": "title"}]))),
            ScimType::InvalidSyntax
        );
        assert_eq!(request_error(body(json!(["add"]))), ScimType::InvalidSyntax);
        assert_eq!(
            request_error(body(json!([{"op": "add", "path": "a[b"}]))),
            ScimType::InvalidPath
        );
        assert_eq!(
            request_error(body(Value::Array(vec![
                add.clone();
                Limits::DEFAULT.patch_operations + 1
            ]))),
            ScimType::InvalidValue
        );
        // `schemas` may be left out; an empty path is no path.
        let request = from_json(
            &json!({"Operations": [{"op": "Replace", "path": "", "value": {"title": "t"}}]}),
        )
        .unwrap();
        assert_eq!(
            request.operations,
            [PatchOp {
                op: OpKind::Replace,
                path: None,
                value: Some(json!({"title": "t"}))
            }]
        );
        assert!(
            from_json(&body(Value::Array(vec![
                add;
                Limits::DEFAULT.patch_operations
            ])))
            .is_ok()
        );
    }

    #[test]
    fn limits_are_the_configured_ones() {
        let limits = Limits {
            filter_bytes: 16,
            filter_depth: 1,
            patch_operations: 2,
        };
        let add = json!({"op": "add", "path": "title", "value": "t"});
        let detail = |operations: Value| {
            let body = body(operations);
            let mut doc = object(user());
            let result = PatchRequest::from_json(&body, &limits).and_then(|request| {
                super::apply(ResourceKind::User, &mut doc, &request.operations, &limits)
            });
            match result {
                Err(Error::BadRequest(scim_type, detail)) => (scim_type, detail),
                other => panic!("{body}: {other:?}"),
            }
        };
        assert!(PatchRequest::from_json(&body(json!([add, add])), &limits).is_ok());
        assert_eq!(
            detail(json!([add, add, add])),
            (
                ScimType::InvalidValue,
                "a PATCH request may hold at most 2 operations, this one has 3".to_owned()
            )
        );
        let (scim_type, text) = detail(json!([{"op": "add", "path": "emails[type eq \"work\"]"}]));
        assert_eq!(scim_type, ScimType::InvalidPath);
        assert!(text.contains("limit of 16 bytes"), "{text}");
        // The keys of a path-less value are paths too.
        let (scim_type, text) =
            detail(json!([{"op": "add", "value": {"emails[(type eq \"w\")]": "x"}}]));
        assert_eq!(scim_type, ScimType::InvalidPath);
        assert!(text.contains("limit of 16 bytes"), "{text}");
        let (scim_type, text) = detail(json!([{"op": "add", "value": {"x[(a pr)]": "x"}}]));
        assert_eq!(scim_type, ScimType::InvalidPath);
        assert!(text.contains("limit of 1 levels"), "{text}");
    }

    #[test]
    fn a_later_failure_undoes_everything() {
        let (scim_type, detail) = error(
            ResourceKind::User,
            &user(),
            json!([
                {"op":"replace","path":"displayName","value":"changed"},
                {"op":"add","path":"emails","value":{"type":"home","value":"h@x"}},
                {"op":"remove","path":"userName"}
            ]),
        );
        assert_eq!(scim_type, ScimType::InvalidValue);
        assert!(detail.starts_with("operation 3: "), "{detail}");
        let (_, detail) = error(
            ResourceKind::Group,
            &group(),
            json!([
                {"op":"add","path":"members","value":["u1"]},
                {"op":"replace","path":"displayName","value":7}
            ]),
        );
        assert!(detail.starts_with("operation 2: "), "{detail}");
    }

    #[test]
    fn immutable_attributes_are_set_once() {
        // No top-level attribute of Seatflow's schemas is immutable, so define one.
        let def: AttributeDef = serde_json::from_value(json!({
            "name": "badge", "type": "string", "multiValued": false, "description": "test",
            "required": false, "caseExact": false, "mutability": "immutable",
            "returned": "default", "uniqueness": "none"
        }))
        .unwrap();
        let def: &'static AttributeDef = Box::leak(Box::new(def));
        let mut patcher = Patcher {
            kind: ResourceKind::User,
            doc: Map::new(),
            changes: Vec::new(),
            limits: Limits::DEFAULT,
        };
        let mut set =
            |value: Option<Value>| patcher.update(None, "badge", Some(def), |_| Ok(value));
        assert!(set(Some(json!("b1"))).is_ok());
        assert!(set(Some(json!("b1"))).is_ok());
        for value in [Some(json!("b2")), None] {
            match set(value) {
                Err(Error::BadRequest(ScimType::Mutability, _)) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    // ---- property test

    fn arb_op() -> impl Strategy<Value = PatchOp> {
        let paths = prop::sample::select(vec![
            "",
            "active",
            "Active",
            "userName",
            "USERNAME",
            "name",
            "name.givenName",
            "emails",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[type eq \"work\"].primary",
            "emails[value co \"@\"].primary",
            "roles[primary eq \"True\"].display",
            "manager",
            "manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:User:active",
            "title",
            "id",
            "meta",
            "groups",
            "x-custom",
            "phoneNumbers[type eq \"mobile\"]",
            "members",
        ]);
        let values = prop::sample::select(vec![
            json!(null),
            json!(true),
            json!(false),
            json!("True"),
            json!("False"),
            json!(""),
            json!("x"),
            json!(1),
            json!([]),
            json!(["a"]),
            json!({"value": "v"}),
            json!([{"value": "a", "primary": true}]),
            json!({"active": "False", "userName": "u2"}),
            json!({"active": 3}),
            json!({"userName": null}),
            json!({"USERNAME": "u3", "name.givenName": "g"}),
            json!({"type": "work", "value": "w", "primary": "true"}),
            json!({"urn:ietf:params:scim:schemas:core:2.0:User": {"active": "true"}}),
            json!({"urn:ietf:params:scim:schemas:core:2.0:User": {"userName": null}}),
            json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": null}}),
        ]);
        let kinds = prop::sample::select(vec![OpKind::Add, OpKind::Replace, OpKind::Remove]);
        (kinds, paths, prop::option::of(values)).prop_map(|(op, path, value)| PatchOp {
            op,
            path: (!path.is_empty()).then(|| parse_path(path).unwrap()),
            value,
        })
    }

    /// The user invariants: `userName` is a string under its original key, `active` a boolean.
    fn check_user(doc: &Map<String, Value>) -> Result<(), TestCaseError> {
        prop_assert!(doc.get("userName").is_some_and(Value::is_string), "{doc:?}");
        for (key, value) in doc {
            prop_assert!(
                !key.eq_ignore_ascii_case("active") || value.is_boolean(),
                "{doc:?}"
            );
            prop_assert!(
                !key.eq_ignore_ascii_case("userName") || key == "userName",
                "{doc:?}"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn random_operations_keep_the_user_valid(ops in prop::collection::vec(arb_op(), 1..12)) {
            // One request per operation, so that long runs of successful operations occur…
            let mut doc = object(user());
            for op in &ops {
                let before = doc.clone();
                match apply(ResourceKind::User, &mut doc, std::slice::from_ref(op)) {
                    Ok(changes) => {
                        prop_assert!(changes.is_empty());
                        check_user(&doc)?;
                    }
                    Err(e) => {
                        prop_assert_eq!(e.status(), 400);
                        prop_assert_eq!(&doc, &before);
                    }
                }
            }
            // …and all of them in one request, which succeeds or changes nothing.
            let start = object(user());
            let mut doc = start.clone();
            match apply(ResourceKind::User, &mut doc, &ops) {
                Ok(_) => check_user(&doc)?,
                Err(_) => prop_assert_eq!(doc, start),
            }
        }

        #[test]
        fn random_group_operations_never_store_members(ops in prop::collection::vec(arb_op(), 1..12)) {
            let mut doc = object(group());
            for op in &ops {
                if apply(ResourceKind::Group, &mut doc, std::slice::from_ref(op)).is_ok() {
                    prop_assert!(doc.keys().all(|k| !k.eq_ignore_ascii_case("members")));
                    prop_assert!(doc.get("displayName").is_some_and(Value::is_string));
                }
            }
        }
    }
}
