//! SCIM PATCH (RFC 7644 §3.5.2) with both of Microsoft Entra's dialects (`docs/providers/entra.md`):
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

use serde_json::Value;

use crate::PATCH_OP_SCHEMA;
use crate::error::{Error, ScimType};
use crate::json::get_ci;
use crate::limits::Limits;
use crate::path::{PatchPath, parse_path};
use crate::schema::AttributeDef;

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

/// An attribute's definition, when the schema knows it.
pub(super) type Def = Option<&'static AttributeDef>;

pub(super) fn bad(scim_type: ScimType, detail: impl Into<String>) -> Error {
    Error::bad_request(scim_type, detail)
}

/// Prefixes a 400 detail with the (1-based) operation it comes from.
pub(super) fn in_operation(index: usize, error: Error) -> Error {
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
pub(super) fn values(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        Value::Null => &[],
        value => std::slice::from_ref(value),
    }
}

mod apply;
pub use apply::apply;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
