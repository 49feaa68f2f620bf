//! Typing attribute values against their schema definition: the JSON type must fit, and
//! Entra's "True"/"False" strings become booleans. Used for full resources and for PATCH.

use chrono::DateTime;
use serde_json::{Map, Value};

use crate::error::{Error, ScimType};
use crate::filter;
use crate::schema::{AttrType, AttributeDef, Mutability};

/// Checks one value against its definition: the JSON type must fit, and Booleans may come as
/// "True"/"False" (Entra's default dialect), which become JSON booleans. Read-only
/// sub-attributes (`manager.displayName`) are the server's, so what a client sends for them is
/// dropped. Unknown sub-attributes are kept as sent; null ones are left for the caller (merge
/// removes them, others drop them).
pub(crate) fn coerce(def: &AttributeDef, name: &str, value: &Value) -> Result<Value, Error> {
    let fits = match (def.attr_type, value) {
        (AttrType::Complex, Value::Object(object)) => {
            let mut typed = Map::new();
            for (key, sub_value) in object {
                let sub_value = match def.sub_attribute(key) {
                    Some(sub) if sub.mutability == Mutability::ReadOnly => continue,
                    Some(sub) if !sub_value.is_null() => {
                        coerce(sub, &format!("{name}.{key}"), sub_value)?
                    }
                    _ => sub_value.clone(),
                };
                typed.insert(key.clone(), sub_value);
            }
            return Ok(Value::Object(typed));
        }
        (AttrType::Boolean, Value::String(s)) => {
            return filter::parse_bool(s)
                .map(Value::Bool)
                .ok_or_else(|| type_error(def, name, value));
        }
        (AttrType::Boolean, Value::Bool(_)) => true,
        (AttrType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (AttrType::Decimal, Value::Number(_)) => true,
        (AttrType::DateTime, Value::String(s)) => DateTime::parse_from_rfc3339(s).is_ok(),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => true,
        _ => false,
    };
    if fits {
        Ok(value.clone())
    } else {
        Err(type_error(def, name, value))
    }
}

/// A whole attribute as a resource carries it: every value of a multi-valued attribute (a lone
/// value counts as a list of one), or the single value; JSON nulls inside are dropped.
pub(crate) fn coerce_attribute(
    def: &AttributeDef,
    name: &str,
    value: &Value,
) -> Result<Value, Error> {
    if !def.multi_valued {
        return coerce(def, name, value).map(without_nulls);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    items
        .iter()
        .filter(|item| !item.is_null())
        .map(|item| coerce(def, name, item).map(without_nulls))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `value` with JSON nulls removed at every depth (Entra never means a null as a value).
pub(crate) fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other,
    }
}

fn type_error(def: &AttributeDef, name: &str, value: &Value) -> Error {
    let expected = match def.attr_type {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean (or \"True\"/\"False\")",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 date-time string",
        AttrType::Binary => "a base64 string",
        AttrType::Reference => "a URI string",
        AttrType::Complex => "an object",
    };
    let got = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::bad_request(
        ScimType::InvalidValue,
        format!("`{name}` must be {expected}, not {got}"),
    )
}
