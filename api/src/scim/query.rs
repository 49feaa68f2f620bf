//! The query parameters of SCIM requests (`filter`, `sortBy`/`sortOrder`, paging, attribute
//! projection), from the URL or from a `POST …/.search` body.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use seatflow_scim::filter::{self, Filter};
use seatflow_scim::sort::Sort;
use seatflow_store::Page;
use seatflow_store::listing::ListQuery;
use seatflow_store::{Error, Result, ScimType};
use serde_json::Value;

use crate::http::error::ApiError;
use crate::state::{App, AppState};

/// Parsed list/get parameters. Unknown parameters (e.g. Entra's `aadOptscim062020` flag) are
/// ignored.
#[derive(Debug, Clone)]
pub struct ReadQuery {
    pub filter: Option<Filter>,
    pub sort: Option<Sort>,
    pub page: Page,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl FromRequestParts<AppState> for ReadQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // `+` decodes to a space, as Entra encodes filters.
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        Ok(ReadQuery::parse(&params, &state.0)?)
    }
}

impl ReadQuery {
    /// Reads a SearchRequest body (RFC 7644 §3.4.3): the same parameters as JSON members,
    /// `attributes`/`excludedAttributes` as arrays (or comma-separated strings).
    pub fn from_search(body: &Value, app: &App) -> Result<ReadQuery> {
        let object = body.as_object().ok_or_else(|| {
            Error::bad_request(
                ScimType::InvalidSyntax,
                "a SearchRequest must be a JSON object",
            )
        })?;
        let mut params = HashMap::new();
        for (key, value) in object {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                // `schemas` and anything else that is not a parameter.
                _ => continue,
            };
            params.insert(key.clone(), text);
        }
        ReadQuery::parse(&params, app)
    }

    pub fn list_query(&self) -> ListQuery<'_> {
        ListQuery {
            filter: self.filter.as_ref(),
            sort: self.sort.as_ref(),
            page: self.page,
        }
    }

    fn parse(params: &HashMap<String, String>, app: &App) -> Result<ReadQuery> {
        let config = &app.config;
        let filter = match params.get("filter").map(|f| f.trim()) {
            Some(text) if !text.is_empty() => Some(filter::parse(text, &app.limits)?),
            _ => None,
        };
        let start_index = number(params, "startIndex")?.unwrap_or(1).max(1);
        let count = number(params, "count")?
            .unwrap_or(config.default_page_size)
            .clamp(0, config.max_page_size);
        let sort = Sort::parse(
            params.get("sortBy").map(String::as_str),
            params.get("sortOrder").map(String::as_str),
        )?;
        Ok(ReadQuery {
            filter,
            sort,
            page: Page { start_index, count },
            attributes: names(params, "attributes"),
            excluded: names(params, "excludedAttributes"),
        })
    }

    /// Whether the rendered resource will include (part of) the top-level `attribute`, so it
    /// is worth loading.
    pub fn wants(&self, attribute: &str) -> bool {
        let top = |name: &str| {
            let end = name.find(['.', '[']).unwrap_or(name.len());
            name[..end].eq_ignore_ascii_case(attribute)
        };
        let whole = |name: &String| name.eq_ignore_ascii_case(attribute);
        !self.excluded.iter().any(whole)
            && (self.attributes.is_empty() || self.attributes.iter().any(|a| top(a)))
    }
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>> {
    params
        .get(name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                Error::bad_request(ScimType::InvalidValue, format!("{name} must be an integer"))
            })
        })
        .transpose()
}

fn names(params: &HashMap<String, String>, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}
