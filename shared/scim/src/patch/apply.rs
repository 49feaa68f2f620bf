//! Applying parsed operations to a resource document: the `Patcher` walks each operation's
//! path (attributes, sub-attributes, value filters, extension URNs) and enforces the schema's
//! mutability and required-ness; group members come back as [`MemberChange`]s.

use serde_json::{Map, Value};

use crate::error::{Error, ScimType};
use crate::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use crate::json::{get_ci, key_ci};
use crate::limits::Limits;
use crate::path::{PatchPath, parse_path};
use crate::schema::{self, AttrType, Mutability};
use crate::typing::coerce;
use crate::{LICENSE_USER_SCHEMA, ResourceKind};

use super::{Def, MemberChange, OpKind, PatchOp, bad, in_operation, new_members, values};

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

/// The operations' state while they run: a copy of the document and the member changes so far.
pub(super) struct Patcher {
    pub(super) kind: ResourceKind,
    pub(super) doc: Map<String, Value>,
    pub(super) changes: Vec<MemberChange>,
    pub(super) limits: Limits,
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
    pub(super) fn update(
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
