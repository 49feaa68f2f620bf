//! The SCIM request log of a license (`GET /api/v1/licenses/{id}/requests`, operator token):
//! its identity provider's requests, newest first, each with the change-feed events and the
//! seat decisions it caused. The license admin's Requests tab reads the same.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use seatflow_feed::event::FeedEvent;
use seatflow_store::ScimType;
use seatflow_store::audit::{self, AuditRow};
use seatflow_store::scim_requests::{self, RequestQuery, RequestRow, StatusFilter};
use serde::{Deserialize, Serialize};

use crate::admin::licensing::read_license;
use crate::http::auth::Operator;
use crate::http::body::{Path, QueryParams};
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// The search as given (a form sends empty fields, which mean "any").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestSearch {
    pub status: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

fn given(field: Option<&String>) -> Option<&str> {
    field.map(|f| f.trim()).filter(|f| !f.is_empty())
}

fn invalid(detail: &str) -> ApiError {
    ApiError::bad_request(ScimType::InvalidValue, detail)
}

impl RequestSearch {
    /// The store's query; a field that does not parse is a 400 saying which.
    pub fn query(&self) -> ApiResult<RequestQuery> {
        let status = match given(self.status.as_ref()) {
            None => None,
            Some(text) => Some(parse_status(text).ok_or_else(|| {
                invalid("status must be an HTTP status such as 400, or a class such as 4xx")
            })?),
        };
        let method = match given(self.method.as_ref()) {
            None => None,
            Some(m) if m.len() <= 16 && m.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(m.to_ascii_uppercase())
            }
            Some(_) => return Err(invalid("method must be an HTTP method such as PATCH")),
        };
        let before = match given(self.before.as_ref()) {
            None => None,
            Some(id) => Some(
                id.parse::<i64>()
                    .map_err(|_| invalid("before must be a request's id (a number)"))?,
            ),
        };
        let limit = match given(self.limit.as_ref()) {
            None => DEFAULT_LIMIT,
            Some(n) => n
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| invalid("limit must be a number from 1 to 1000"))?,
        };
        Ok(RequestQuery {
            status,
            method,
            path: given(self.path.as_ref()).map(str::to_owned),
            request_id: given(self.request_id.as_ref()).map(str::to_owned),
            before,
            limit,
        })
    }
}

/// `400` or `4xx`.
fn parse_status(text: &str) -> Option<StatusFilter> {
    let status = match text.to_ascii_lowercase().strip_suffix("xx") {
        Some(class) => StatusFilter::Class(class.parse().ok()?),
        None => StatusFilter::Exactly(text.parse().ok()?),
    };
    let valid = match status {
        StatusFilter::Class(class) => (1..=5).contains(&class),
        StatusFilter::Exactly(status) => (100..=599).contains(&status),
    };
    valid.then_some(status)
}

/// A logged request and what it caused.
#[derive(Debug, Serialize)]
pub struct LoggedRequest {
    #[serde(flatten)]
    pub request: RequestRow,
    /// Whether it counts against the error rate (`scim_requests::counts_as_failure`).
    pub failure: bool,
    pub events: Vec<FeedEvent>,
    pub seat_decisions: Vec<AuditRow>,
}

#[derive(Debug, Serialize)]
pub struct RequestPage {
    pub requests: Vec<LoggedRequest>,
    /// The `before` of the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// The page of requests `query` asks for, each with its events and seat decisions (two
/// queries for the whole page, by request id). A license that does not exist is a 404.
pub async fn search(
    state: &AppState,
    license_id: String,
    query: RequestQuery,
) -> ApiResult<RequestPage> {
    let limit = query.limit;
    let (rows, events, decisions) = read_license(state, license_id, move |c, id| {
        let rows = scim_requests::list(c, id, &query)?;
        let ids: Vec<String> = rows.iter().filter_map(|r| r.request_id.clone()).collect();
        let events = seatflow_feed::log::caused_by(c, id, &ids)?;
        let decisions = audit::caused_by(c, id, &ids)?;
        Ok((rows, events, decisions))
    })
    .await?;
    let mut events_of: HashMap<String, Vec<FeedEvent>> = HashMap::new();
    for event in events {
        if let Some(request_id) = event.request_id.clone() {
            events_of.entry(request_id).or_default().push(event);
        }
    }
    let mut decisions_of: HashMap<String, Vec<AuditRow>> = HashMap::new();
    for decision in decisions {
        if let Some(request_id) = decision.request_id.clone() {
            decisions_of.entry(request_id).or_default().push(decision);
        }
    }
    let next_before = (i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let requests = rows
        .into_iter()
        .map(|request| LoggedRequest {
            failure: scim_requests::counts_as_failure(&request.method, request.status),
            events: caused(&events_of, request.request_id.as_ref()),
            seat_decisions: caused(&decisions_of, request.request_id.as_ref()),
            request,
        })
        .collect();
    Ok(RequestPage {
        requests,
        next_before,
    })
}

fn caused<T: Clone>(by_request: &HashMap<String, Vec<T>>, request_id: Option<&String>) -> Vec<T> {
    request_id
        .and_then(|id| by_request.get(id).cloned())
        .unwrap_or_default()
}

pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(search_params): QueryParams<RequestSearch>,
) -> ApiResult<Json<RequestPage>> {
    let query = search_params.query()?;
    Ok(Json(search(&state, license_id, query).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_numbers_or_classes() {
        assert_eq!(parse_status("404"), Some(StatusFilter::Exactly(404)));
        assert_eq!(parse_status("4xx"), Some(StatusFilter::Class(4)));
        assert_eq!(parse_status("5XX"), Some(StatusFilter::Class(5)));
        assert_eq!(parse_status("9xx"), None);
        assert_eq!(parse_status("42"), None);
        assert_eq!(parse_status("bad"), None);
    }

    #[test]
    fn bad_fields_are_refused_and_empty_ones_ignored() {
        let search = RequestSearch {
            status: Some(String::new()),
            method: Some("patch".into()),
            ..RequestSearch::default()
        };
        let query = search.query().ok();
        assert_eq!(
            query.as_ref().and_then(|q| q.method.as_deref()),
            Some("PATCH")
        );
        assert_eq!(query.map(|q| q.limit), Some(DEFAULT_LIMIT));
        for bad in [
            RequestSearch {
                before: Some("x".into()),
                ..RequestSearch::default()
            },
            RequestSearch {
                limit: Some("0".into()),
                ..RequestSearch::default()
            },
            RequestSearch {
                method: Some("GET /".into()),
                ..RequestSearch::default()
            },
        ] {
            assert!(bad.query().is_err());
        }
    }
}
