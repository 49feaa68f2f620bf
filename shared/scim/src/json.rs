//! Reading JSON objects the SCIM way: attribute names are case-insensitive (RFC 7643 §2.1).

use serde_json::{Map, Value};

/// The key of `object` equal to `name` ignoring ASCII case (SCIM names are case-insensitive).
pub(crate) fn key_ci<'m>(object: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    match object.get_key_value(name) {
        Some((key, _)) => Some(key),
        None => object
            .keys()
            .find(|key| key.eq_ignore_ascii_case(name))
            .map(String::as_str),
    }
}

/// The value of `object`'s key equal to `name` ignoring ASCII case.
pub(crate) fn get_ci<'m>(object: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    object.get(key_ci(object, name)?)
}
