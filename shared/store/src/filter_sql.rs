//! Translates SCIM filters on indexed attributes into SQL predicates that run unchanged on
//! PostgreSQL and SQLite. Values are always bound parameters; LIKE patterns are escaped.
//!
//! Every leaf predicate is written so that it is never SQL NULL (absent attributes compare as
//! false, `ne` as true), so `not` keeps SCIM's two-valued meaning.

use diesel::expression::{
    AppearsOnTable, BoxableExpression, Expression, SelectableExpression, ValidGrouping,
    is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Text};
use diesel::{BoolExpressionMethods, QueryResult};

use crate::db::MultiBackend;
use crate::{Error, Result};
use seatflow_scim::filter::{AttrPath, CompValue, CompareOp, Filter, attribute_home};
use seatflow_scim::sort::SortOrder;
use seatflow_scim::{LICENSE_USER_SCHEMA, ResourceKind};

pub type Predicate<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;

/// How an indexed attribute is stored.
#[derive(Debug, Clone, Copy)]
enum Column {
    /// Text compared as stored (caseExact): `nullable` says whether the column may be NULL.
    Exact {
        column: &'static str,
        nullable: bool,
    },
    /// Text compared case-insensitively against a lower-cased column or expression.
    Folded {
        column: &'static str,
        nullable: bool,
    },
    Boolean(&'static str),
    /// A timestamp stored as fixed-width UTC text.
    Timestamp(&'static str),
    /// `members` / `members.value` of a group: an id looked up in `group_members`.
    Members,
}

/// A user's `seatStatus` as `resource::render_seated` shows it: its seat row's, else `none`.
const SEAT_STATUS: &str = "COALESCE((SELECT s.status FROM seats s \
     WHERE s.license_id = users.license_id AND s.user_id = users.id), 'none')";
/// A user's `seatReason`: its seat row's (absent when NULL), else `not_entitled`.
const SEAT_REASON: &str = "NULLIF(COALESCE((SELECT COALESCE(s.reason, '') FROM seats s \
     WHERE s.license_id = users.license_id AND s.user_id = users.id), 'not_entitled'), '')";

fn resolve(kind: ResourceKind, path: &AttrPath) -> Result<Column> {
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    // Where the in-memory evaluation looks the attribute up: the core schema, or an extension
    // (a name without URN that the core schema lacks is an extension's).
    match attribute_home(kind, path.urn.as_deref(), &path.name).0 {
        None => {}
        Some(urn)
            if kind == ResourceKind::User && urn.eq_ignore_ascii_case(LICENSE_USER_SCHEMA) =>
        {
            return match (name.as_str(), sub) {
                ("seatstatus", None) => Ok(Column::Exact {
                    column: SEAT_STATUS,
                    nullable: false,
                }),
                ("seatreason", None) => Ok(Column::Exact {
                    column: SEAT_REASON,
                    nullable: true,
                }),
                _ => Err(unsupported(path)),
            };
        }
        Some(_) => return Err(unsupported(path)),
    }
    let column = match (kind, name.as_str(), sub.as_deref()) {
        (_, "id", None) => Column::Exact {
            column: "id",
            nullable: false,
        },
        (_, "externalid", None) => Column::Exact {
            column: "external_id",
            nullable: true,
        },
        (_, "meta", Some("created")) => Column::Timestamp("created_at"),
        (_, "meta", Some("lastmodified")) => Column::Timestamp("updated_at"),
        (ResourceKind::User, "username", None) => Column::Folded {
            column: "user_name_key",
            nullable: false,
        },
        (ResourceKind::User, "displayname", None) => Column::Folded {
            column: "display_name_key",
            nullable: true,
        },
        (ResourceKind::User, "active", None) => Column::Boolean("active"),
        (ResourceKind::Group, "displayname", None) => Column::Folded {
            column: "display_name_key",
            nullable: false,
        },
        (ResourceKind::Group, "members", None | Some("value")) => Column::Members,
        _ => return Err(unsupported(path)),
    };
    Ok(column)
}

fn unsupported(path: &AttrPath) -> Error {
    invalid(format!(
        "filtering on attribute '{}' is not supported",
        display_path(path)
    ))
}

fn invalid(detail: String) -> Error {
    Error::bad_request(seatflow_scim::ScimType::InvalidFilter, detail)
}

fn display_path(path: &AttrPath) -> String {
    let mut out = String::new();
    if let Some(urn) = &path.urn {
        out.push_str(urn);
        out.push(':');
    }
    out.push_str(&path.name);
    if let Some(sub) = &path.sub {
        out.push('.');
        out.push_str(sub);
    }
    out
}

/// Whether every attribute `filter` names is indexed, so [`predicate`] can evaluate it whole.
pub fn is_indexed(kind: ResourceKind, filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => is_indexed(kind, a) && is_indexed(kind, b),
        Filter::Not(inner) => is_indexed(kind, inner),
        Filter::Present(path) | Filter::Compare(path, ..) => resolve(kind, path).is_ok(),
        Filter::ValuePath(path, inner) => {
            matches!(resolve(kind, path), Ok(Column::Members)) && is_member_value_filter(inner)
        }
    }
}

fn is_member_value_filter(inner: &Filter) -> bool {
    match inner {
        Filter::Or(a, b) => is_member_value_filter(a) && is_member_value_filter(b),
        Filter::Compare(sub, CompareOp::Eq, _) => {
            sub.urn.is_none() && sub.sub.is_none() && sub.name.eq_ignore_ascii_case("value")
        }
        _ => false,
    }
}

/// Whether `filter` names a group's `members` anywhere (they are not in the stored document).
pub fn names_members(filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => names_members(a) || names_members(b),
        Filter::Not(inner) => names_members(inner),
        Filter::Present(path) | Filter::Compare(path, ..) | Filter::ValuePath(path, _) => {
            path.urn.is_none() && path.name.eq_ignore_ascii_case("members")
        }
    }
}

/// The SQL `ORDER BY` terms for sorting by `path` (RFC 7644 §3.4.2.3: absent values last when
/// ascending, first when descending, on both backends), or None if the attribute is not indexed.
pub fn order_by(kind: ResourceKind, path: &AttrPath, order: SortOrder) -> Option<String> {
    let column = match resolve(kind, path).ok()? {
        Column::Exact { column, .. } | Column::Folded { column, .. } => column,
        Column::Boolean(column) | Column::Timestamp(column) => column,
        Column::Members => return None,
    };
    let direction = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    // Empty strings sort as absent, as in memory (`sort::key`); absent values tie (NULLIF), so
    // creation order decides between them.
    let absent = format!("({column} IS NULL OR {column} = '')");
    Some(match resolve(kind, path).ok()? {
        Column::Boolean(_) | Column::Timestamp(_) => format!("{column} {direction}"),
        _ => format!("{absent} {direction}, NULLIF({column}, '') {direction}"),
    })
}

/// The SQL predicate for `filter` on the table of `kind`.
///
/// A filter of one comparison (Entra's `userName eq "…"`, by far the most frequent query) runs
/// as a cached prepared statement: planning it anew cost PostgreSQL more than running it. Filters
/// with `and`/`or`/`not` are not cached, because their shapes are unbounded and each cached
/// shape is a prepared statement kept on every pooled connection.
pub fn predicate<QS: 'static>(kind: ResourceKind, filter: &Filter) -> Result<Predicate<QS>> {
    let cache = match filter {
        Filter::Present(_) | Filter::Compare(..) => Cache::Yes,
        Filter::ValuePath(_, inner) if matches!(**inner, Filter::Compare(..)) => Cache::Yes,
        _ => Cache::No,
    };
    build(kind, filter, cache)
}

fn build<QS: 'static>(kind: ResourceKind, filter: &Filter, cache: Cache) -> Result<Predicate<QS>> {
    Ok(match filter {
        Filter::And(a, b) => {
            Box::new(build::<QS>(kind, a, cache)?.and(build::<QS>(kind, b, cache)?))
        }
        Filter::Or(a, b) => Box::new(build::<QS>(kind, a, cache)?.or(build::<QS>(kind, b, cache)?)),
        Filter::Not(inner) => Box::new(diesel::dsl::not(build::<QS>(kind, inner, cache)?)),
        Filter::Present(path) => present(resolve(kind, path)?, cache),
        Filter::Compare(path, op, value) => compare(resolve(kind, path)?, path, *op, value, cache)?,
        Filter::ValuePath(path, inner) => value_path(kind, path, inner, cache)?,
    })
}

/// `members[value eq "id"]` (and `or` of such) is the only value path on an indexed attribute.
fn value_path<QS: 'static>(
    kind: ResourceKind,
    path: &AttrPath,
    inner: &Filter,
    cache: Cache,
) -> Result<Predicate<QS>> {
    if !matches!(resolve(kind, path)?, Column::Members) {
        return Err(unsupported(path));
    }
    match inner {
        Filter::Or(a, b) => Ok(Box::new(
            value_path::<QS>(kind, path, a, cache)?.or(value_path::<QS>(kind, path, b, cache)?),
        )),
        Filter::Compare(sub, CompareOp::Eq, value)
            if sub.urn.is_none() && sub.sub.is_none() && sub.name.eq_ignore_ascii_case("value") =>
        {
            compare(Column::Members, path, CompareOp::Eq, value, cache)
        }
        _ => Err(invalid(format!(
            "only 'value eq' is supported inside {}[...]",
            display_path(path)
        ))),
    }
}

fn present<QS>(column: Column, cache: Cache) -> Predicate<QS> {
    let text = match column {
        Column::Exact { column, .. } | Column::Folded { column, .. } => {
            format!("({column} IS NOT NULL AND {column} <> '')")
        }
        Column::Boolean(_) | Column::Timestamp(_) => "1 = 1".to_owned(),
        Column::Members => {
            "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id)".to_owned()
        }
    };
    Box::new(Leaf::new(text, None, "", cache))
}

fn compare<QS>(
    column: Column,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    cache: Cache,
) -> Result<Predicate<QS>> {
    match column {
        Column::Boolean(name) => {
            let wanted = match value {
                CompValue::Bool(b) => *b,
                CompValue::Str(s) if s.eq_ignore_ascii_case("true") => true,
                CompValue::Str(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(invalid(format!(
                        "{} takes true or false",
                        display_path(path)
                    )));
                }
            };
            let sql_op = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                _ => {
                    return Err(invalid(format!(
                        "{} supports only eq and ne",
                        display_path(path)
                    )));
                }
            };
            Ok(Box::new(Leaf::new(
                format!("{name} {sql_op} "),
                Some(Bound::Bool(wanted)),
                "",
                cache,
            )))
        }
        Column::Timestamp(name) => {
            let text = string_value(path, value)?;
            let instant = chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|_| invalid(format!("'{text}' is not an RFC 3339 date-time")))?
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            text_compare(name, false, op, instant, cache)
        }
        Column::Exact { column, nullable } => {
            text_compare(column, nullable, op, string_value(path, value)?, cache)
        }
        Column::Folded { column, nullable } => text_compare(
            column,
            nullable,
            op,
            string_value(path, value)?.to_lowercase(),
            cache,
        ),
        Column::Members => {
            if op != CompareOp::Eq {
                return Err(invalid("members supports only eq".to_owned()));
            }
            Ok(Box::new(Leaf::new(
                "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND m.user_id = "
                    .to_owned(),
                Some(Bound::Text(string_value(path, value)?)),
                ")",
                cache,
            )))
        }
    }
}

fn string_value(path: &AttrPath, value: &CompValue) -> Result<String> {
    match value {
        CompValue::Str(s) => Ok(s.clone()),
        CompValue::Num(n) => Ok(n.to_string()),
        CompValue::Bool(_) | CompValue::Null => Err(invalid(format!(
            "{} is compared with a string",
            display_path(path)
        ))),
    }
}

fn text_compare<QS>(
    column: &str,
    nullable: bool,
    op: CompareOp,
    value: String,
    cache: Cache,
) -> Result<Predicate<QS>> {
    let (sql_op, operand) = match op {
        CompareOp::Eq => ("=", value),
        CompareOp::Ne => ("<>", value),
        CompareOp::Gt => (">", value),
        CompareOp::Ge => (">=", value),
        CompareOp::Lt => ("<", value),
        CompareOp::Le => ("<=", value),
        CompareOp::Co => ("LIKE", format!("%{}%", escape_like(&value))),
        CompareOp::Sw => ("LIKE", format!("{}%", escape_like(&value))),
        CompareOp::Ew => ("LIKE", format!("%{}", escape_like(&value))),
    };
    let tail = if sql_op == "LIKE" {
        " ESCAPE '\\')"
    } else {
        ")"
    };
    // An absent value matches `ne` and nothing else.
    let guard = match (nullable, op) {
        (false, _) => "(",
        (true, CompareOp::Ne) => "({column} IS NULL OR ",
        (true, _) => "({column} IS NOT NULL AND ",
    }
    .replace("{column}", column);
    Ok(Box::new(Leaf::new(
        format!("{guard}{column} {sql_op} "),
        Some(Bound::Text(operand)),
        tail,
        cache,
    )))
}

/// Whether a predicate's statement may be kept prepared (see [`predicate`]).
#[derive(Debug, Clone, Copy)]
enum Cache {
    Yes,
    No,
}

/// A value bound into a [`Leaf`].
#[derive(Debug, Clone)]
enum Bound {
    Text(String),
    Bool(bool),
}

/// One comparison: SQL text, at most one bound value, more SQL text. Unlike diesel's `sql()`
/// literal it can be part of a cached prepared statement, which is sound because its text is
/// made of column names and operators only, never of values.
#[derive(Debug, Clone)]
struct Leaf {
    head: String,
    value: Option<Bound>,
    tail: &'static str,
    cache: Cache,
}

impl Leaf {
    fn new(head: String, value: Option<Bound>, tail: &'static str, cache: Cache) -> Leaf {
        Leaf {
            head,
            value,
            tail,
            cache,
        }
    }
}

impl Expression for Leaf {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for Leaf {}

impl<QS> SelectableExpression<QS> for Leaf {}

impl ValidGrouping<()> for Leaf {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Leaf {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<MultiBackend> for Leaf {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        if matches!(self.cache, Cache::No) {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql(&self.head);
        match &self.value {
            Some(Bound::Text(text)) => out.push_bind_param::<Text, String>(text)?,
            Some(Bound::Bool(flag)) => out.push_bind_param::<Bool, bool>(flag)?,
            None => {}
        }
        out.push_sql(self.tail);
        Ok(())
    }
}

/// `value` with LIKE's metacharacters escaped (for `ESCAPE '\\'`), so it matches literally.
pub(crate) fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_metacharacters_are_literal() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
