//! How a list query runs: in SQL when the filter and `sortBy` name only indexed attributes,
//! else as a bounded scan.
//!
//! The scan asks SQL for the candidates that the filter's indexed `and`-conjuncts allow, refuses
//! with 400 `tooMany` if there are more than [`MAX_SCAN`], and evaluates the other conjuncts with
//! `filter::matches` on the rendered resources (the same semantics: a property test compares
//! both on random data), sorting in memory with `sort::key`. Candidates are read in pages of
//! [`SCAN_PAGE`] rows in creation order, so memory holds at most [`MAX_SCAN`] matching rows.

use serde_json::Value;

use crate::db::DbConn;
use crate::{Error, Result};
use crate::{Page, filter_sql};
use seatflow_scim::ResourceKind;
use seatflow_scim::ScimType;
use seatflow_scim::filter::{self, Filter};
use seatflow_scim::sort::{self, Sort, SortKey};

/// Most resources a filter on non-indexed attributes (or a sort on one) may have to examine.
pub const MAX_SCAN: i64 = 10_000;
/// Rows read per query while scanning.
pub const SCAN_PAGE: i64 = 500;

/// A list request: filter, sort and page, and the base URL resources are rendered with.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    pub filter: Option<&'a Filter>,
    pub sort: Option<&'a Sort>,
    pub page: Page,
}

/// How a list query runs.
pub(crate) enum Plan {
    /// All in SQL: the whole filter and an `ORDER BY` (None: creation order).
    Sql {
        filter: Option<Filter>,
        order: Option<String>,
    },
    /// SQL narrows to the candidates, memory evaluates `residual` and sorts.
    Scan {
        prefilter: Option<Filter>,
        residual: Option<Filter>,
    },
}

pub(crate) fn plan(kind: ResourceKind, query: &ListQuery<'_>) -> Result<Plan> {
    let order = match query.sort {
        None => Some(None),
        Some(s) => {
            if kind == ResourceKind::Group
                && s.by.urn.is_none()
                && s.by.name.eq_ignore_ascii_case("members")
            {
                return Err(Error::bad_request(
                    ScimType::InvalidValue,
                    "Groups cannot be sorted by members",
                ));
            }
            filter_sql::order_by(kind, &s.by, s.order).map(Some)
        }
    };
    let whole_in_sql = query.filter.is_none_or(|f| filter_sql::is_indexed(kind, f));
    if let (true, Some(order)) = (whole_in_sql, order) {
        return Ok(Plan::Sql {
            filter: query.filter.cloned(),
            order,
        });
    }
    let (mut indexed, mut rest) = (Vec::new(), Vec::new());
    if let Some(f) = query.filter {
        for conjunct in conjuncts(f) {
            if filter_sql::is_indexed(kind, conjunct) {
                indexed.push(conjunct.clone());
            } else {
                rest.push(conjunct.clone());
            }
        }
    }
    let residual = join(rest);
    if kind == ResourceKind::Group && residual.as_ref().is_some_and(filter_sql::names_members) {
        // Members are not in the stored document: they can only narrow the query in SQL.
        return Err(Error::bad_request(
            ScimType::InvalidFilter,
            "a filter on members can only be combined with `and` with filters on other attributes, \
             and only as `members eq \"id\"` or `members[value eq \"id\"]`",
        ));
    }
    Ok(Plan::Scan {
        prefilter: join(indexed),
        residual,
    })
}

/// Runs a query planned all in SQL: the page first, then `count` only when the page does not
/// tell the total already (a lookup by userName, the commonest query, needs no second one).
pub(crate) fn sql_page<R>(
    conn: &mut DbConn,
    page: Page,
    count: impl FnOnce(&mut DbConn) -> Result<i64>,
    load: impl FnOnce(&mut DbConn) -> Result<Vec<R>>,
) -> Result<(i64, Vec<R>)> {
    if page.count == 0 {
        return Ok((count(conn)?, Vec::new()));
    }
    let rows = load(conn)?;
    let seen = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let total = if seen < page.count && (seen > 0 || page.offset() == 0) {
        page.offset() + seen
    } else {
        count(conn)?
    };
    Ok((total, rows))
}

fn conjuncts(filter: &Filter) -> Vec<&Filter> {
    match filter {
        Filter::And(a, b) => {
            let mut all = conjuncts(a);
            all.extend(conjuncts(b));
            all
        }
        other => vec![other],
    }
}

fn join(filters: Vec<Filter>) -> Option<Filter> {
    filters
        .into_iter()
        .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
}

/// Runs a scan: `candidates` is the number of rows the prefilter allows, `load(offset, limit)`
/// reads them in creation order, `render` gives the resource the residual and the sort see.
pub(crate) fn scan<R>(
    kind: ResourceKind,
    query: &ListQuery<'_>,
    residual: Option<&Filter>,
    candidates: i64,
    mut load: impl FnMut(i64, i64) -> Result<Vec<R>>,
    render: impl Fn(&R) -> Result<Value>,
) -> Result<(i64, Vec<R>)> {
    if candidates > MAX_SCAN {
        return Err(Error::bad_request(
            ScimType::TooMany,
            format!(
                "this filter or sortBy needs {candidates} resources examined one by one, more than \
                 the limit of {MAX_SCAN}: add a condition on an indexed attribute (id, userName, \
                 externalId, displayName, active, meta.created, meta.lastModified, members, \
                 seatStatus, seatReason) with `and`"
            ),
        ));
    }
    let mut kept: Vec<(SortKey, R)> = Vec::new();
    let mut offset = 0;
    while offset < candidates {
        let rows = load(offset, SCAN_PAGE)?;
        if rows.is_empty() {
            break;
        }
        offset += SCAN_PAGE;
        for row in rows {
            let resource = render(&row)?;
            if residual.is_some_and(|f| !filter::matches(f, kind, &resource)) {
                continue;
            }
            let key = match query.sort {
                Some(s) => sort::key(kind, &s.by, &resource),
                None => SortKey::Missing,
            };
            kept.push((key, row));
        }
    }
    if let Some(s) = query.sort {
        sort::sort_by_key(&mut kept, s.order);
    }
    let total = i64::try_from(kept.len()).unwrap_or(i64::MAX);
    let page = &query.page;
    let rows = kept
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(page.count).unwrap_or(0))
        .map(|(_, row)| row)
        .collect();
    Ok((total, rows))
}
