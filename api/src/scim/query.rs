//! The query parameters of SCIM requests: `filter`, paging and attribute projection.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use seatflow_shared::scim::filter::{self, Filter};
use seatflow_shared::store::Page;
use seatflow_shared::{Error, Result, ScimType};

use crate::app::AppState;
use crate::config::Config;
use crate::error::ApiError;

/// Parsed list/get parameters. Unknown parameters (e.g. Entra's `aadOptscim062020` flag) are
/// ignored.
#[derive(Debug)]
pub struct ReadQuery {
    pub filter: Option<Filter>,
    pub page: Page,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl<S> FromRequestParts<S> for ReadQuery
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // `+` decodes to a space, as Entra encodes filters.
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        Ok(ReadQuery::parse(
            &params,
            &AppState::from_ref(state).0.config,
        )?)
    }
}

impl ReadQuery {
    fn parse(params: &HashMap<String, String>, config: &Config) -> Result<ReadQuery> {
        let filter = match params.get("filter").map(|f| f.trim()) {
            Some(text) if !text.is_empty() => Some(filter::parse(text)?),
            _ => None,
        };
        let start_index = number(params, "startIndex")?.unwrap_or(1).max(1);
        let count = number(params, "count")?
            .unwrap_or(config.default_page_size)
            .clamp(0, config.max_page_size);
        Ok(ReadQuery {
            filter,
            page: Page { start_index, count },
            attributes: names(params, "attributes"),
            excluded: names(params, "excludedAttributes"),
        })
    }

    /// Whether the rendered resource will include `attribute` (so it is worth loading).
    pub fn wants(&self, attribute: &str) -> bool {
        let matches = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(attribute));
        !matches(&self.excluded) && (self.attributes.is_empty() || matches(&self.attributes))
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
