//! Sorting of list results (RFC 7644 §3.4.2.3): `sortBy` any attribute path, `sortOrder`
//! `ascending` (the default) or `descending`.
//!
//! * Strings compare case-insensitively unless the schema says `caseExact`, by code point (as
//!   PostgreSQL's `C`/`C.UTF-8` collations and SQLite do, so SQL and memory agree).
//! * A multi-valued attribute sorts by its primary value, else its first (RFC 7644 §3.4.2.3); a
//!   complex one by its `value` sub-attribute.
//! * Resources without a value sort last when ascending and first when descending (the RFC).
//! * Ties keep creation order, so paging through a sorted list is stable.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::ResourceKind;
use crate::error::{Error, ScimType};
use crate::filter::{AttrPath, attribute_home, parse_attr_path};
use crate::json::get_ci;
use crate::schema::{AttrType, AttributeDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub by: AttrPath,
    pub order: SortOrder,
}

impl Sort {
    /// Reads `sortBy` and `sortOrder`; `sortOrder` without `sortBy` is ignored (RFC: it only
    /// applies to `sortBy`). Bad values are 400 `invalidValue`.
    pub fn parse(sort_by: Option<&str>, sort_order: Option<&str>) -> Result<Option<Sort>, Error> {
        let Some(sort_by) = sort_by.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let by = parse_attr_path(sort_by).map_err(|detail| {
            Error::bad_request(ScimType::InvalidValue, format!("sortBy: {detail}"))
        })?;
        let order = match sort_order.map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(o) if o.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(o) if o.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(o) => {
                return Err(Error::bad_request(
                    ScimType::InvalidValue,
                    format!("sortOrder must be 'ascending' or 'descending', not '{o}'"),
                ));
            }
        };
        Ok(Some(Sort { by, order }))
    }
}

/// What a resource sorts by. `Missing` is greater than every value.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Bool(bool),
    Number(f64),
    Date(DateTime<FixedOffset>),
    Text(String),
    Missing,
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::Date(_) => 2,
            SortKey::Text(_) => 3,
            SortKey::Missing => 4,
        }
    }

    fn cmp(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Date(a), SortKey::Date(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

/// The sort key of a rendered resource of `kind`.
pub fn key(kind: ResourceKind, by: &AttrPath, resource: &Value) -> SortKey {
    let (home, mut def) = attribute_home(kind, by.urn.as_deref(), &by.name);
    let object = resource.as_object().and_then(|top| match home {
        None => Some(top),
        Some(urn) => get_ci(top, urn).and_then(Value::as_object),
    });
    let mut value = object.and_then(|o| get_ci(o, &by.name));
    if let Some(sub) = &by.sub {
        value = value
            .map(representative)
            .and_then(|v| v.as_object().and_then(|o| get_ci(o, sub)));
        def = def.and_then(|d| d.sub_attribute(sub));
    }
    let Some(mut value) = value.map(representative) else {
        return SortKey::Missing;
    };
    if let Value::Object(complex) = value {
        def = def.and_then(|d| d.sub_attribute("value"));
        match get_ci(complex, "value") {
            Some(v) => value = v,
            None => return SortKey::Missing,
        }
    }
    scalar_key(value, def)
}

/// The primary value of a multi-valued attribute, else its first; a single value itself.
fn representative(value: &Value) -> &Value {
    match value {
        Value::Array(items) => items
            .iter()
            .find(|item| {
                item.as_object()
                    .and_then(|o| get_ci(o, "primary"))
                    .is_some_and(|p| p == &Value::Bool(true))
            })
            .or_else(|| items.first())
            .unwrap_or(&Value::Null),
        value => value,
    }
}

fn scalar_key(value: &Value, def: Option<&AttributeDef>) -> SortKey {
    match value {
        Value::Bool(b) => SortKey::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(SortKey::Missing, SortKey::Number),
        Value::String(s) if s.is_empty() => SortKey::Missing,
        Value::String(s) => {
            if def.is_some_and(|d| d.attr_type == AttrType::DateTime)
                && let Ok(instant) = DateTime::parse_from_rfc3339(s)
            {
                return SortKey::Date(instant);
            }
            if def.is_some_and(|d| d.case_exact) {
                SortKey::Text(s.clone())
            } else {
                SortKey::Text(s.to_lowercase())
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => SortKey::Missing,
    }
}

/// Orders two keys for `order`: missing values last when ascending, first when descending.
pub fn compare(a: &SortKey, b: &SortKey, order: SortOrder) -> Ordering {
    match order {
        SortOrder::Ascending => a.cmp(b),
        SortOrder::Descending => b.cmp(a),
    }
}

/// Sorts `(key, item)` pairs in place; equal keys keep their current (creation) order.
pub fn sort_by_key<T>(items: &mut [(SortKey, T)], order: SortOrder) {
    items.sort_by(|(a, _), (b, _)| compare(a, b, order));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sort(by: &str, order: Option<&str>) -> Sort {
        Sort::parse(Some(by), order).unwrap().unwrap()
    }

    fn sorted(by: &str, order: Option<&str>, resources: Vec<Value>) -> Vec<String> {
        let s = sort(by, order);
        let mut keyed: Vec<(SortKey, Value)> = resources
            .into_iter()
            .map(|r| (key(ResourceKind::User, &s.by, &r), r))
            .collect();
        sort_by_key(&mut keyed, s.order);
        keyed
            .into_iter()
            .map(|(_, r)| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn parses_sort_parameters() {
        assert_eq!(Sort::parse(None, Some("descending")).unwrap(), None);
        assert_eq!(sort("userName", None).order, SortOrder::Ascending);
        assert_eq!(
            sort("name.familyName", Some("DESCENDING")).order,
            SortOrder::Descending
        );
        let err = Sort::parse(Some("userName"), Some("up")).err().unwrap();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidValue));
        assert!(Sort::parse(Some("a b"), None).is_err());
    }

    #[test]
    fn strings_sort_case_insensitively_and_missing_values_last() {
        let users = vec![
            json!({"id": "1", "userName": "bob"}),
            json!({"id": "2", "userName": "Alice"}),
            json!({"id": "3"}),
            json!({"id": "4", "userName": "carol"}),
        ];
        assert_eq!(
            sorted("username", None, users.clone()),
            ["2", "1", "4", "3"]
        );
        assert_eq!(
            sorted("userName", Some("descending"), users),
            ["3", "4", "1", "2"]
        );
    }

    #[test]
    fn case_exact_attributes_sort_by_code_point() {
        let users = vec![
            json!({"id": "1", "externalId": "b"}),
            json!({"id": "2", "externalId": "B"}),
        ];
        assert_eq!(sorted("externalId", None, users), ["2", "1"]);
    }

    #[test]
    fn multi_valued_attributes_sort_by_primary_then_first_value() {
        let users = vec![
            json!({"id": "1", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            json!({"id": "2", "emails": [{"value": "m@x"}, {"value": "b@x"}]}),
        ];
        assert_eq!(sorted("emails", None, users.clone()), ["1", "2"]);
        assert_eq!(
            sorted("emails.value", Some("descending"), users),
            ["2", "1"]
        );
    }

    #[test]
    fn dates_sort_as_instants_and_extensions_resolve() {
        let users = vec![
            json!({"id": "1", "meta": {"created": "2026-01-01T10:00:00+02:00"}}),
            json!({"id": "2", "meta": {"created": "2026-01-01T09:00:00Z"}}),
        ];
        // 10:00+02:00 is 08:00Z: earlier, although its text sorts later.
        assert_eq!(sorted("meta.created", None, users), ["1", "2"]);
        let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let users = vec![
            json!({"id": "1", ext: {"department": "Sales"}}),
            json!({"id": "2", ext: {"department": "eng"}}),
        ];
        assert_eq!(sorted("department", None, users.clone()), ["2", "1"]);
        assert_eq!(
            sorted(&format!("{ext}:department"), None, users),
            ["2", "1"]
        );
    }
}
