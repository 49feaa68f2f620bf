//! The Events API: a license's change feed (or the whole deployment's, for the operator) after
//! a cursor, so a product that missed webhooks catches up. The cursor is the last event's
//! `sequence`: stable across restarts, and events appear in it in commit order.

use axum::Json;
use axum::extract::State;
use seatflow_feed::event::{FeedEvent, TypeFilter};
use seatflow_feed::log::{self, Query};
use seatflow_store::{ScimType, licenses};
use serde::{Deserialize, Serialize};

use crate::http::auth::EntitlementReader;
use crate::http::body::{Path, QueryParams};
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The `next_cursor` of the previous page; absent: from the oldest retained event.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// Comma-separated event types or families (`seat.*`).
    #[serde(default)]
    pub types: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventPage {
    pub data: Vec<FeedEvent>,
    /// Where the next page starts; the same cursor again when there was nothing new.
    pub next_cursor: String,
    pub has_more: bool,
}

impl EventsQuery {
    fn query(&self, license_id: Option<String>) -> Result<Query, ApiError> {
        let after = match self.after.as_deref() {
            None | Some("") => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ScimType::InvalidValue,
                        format!("invalid cursor {cursor:?}"),
                    )
                })?,
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                ScimType::InvalidValue,
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let entries = self
            .types
            .as_deref()
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let types = TypeFilter::new(entries)
            .map_err(|e| ApiError::bad_request(ScimType::InvalidValue, e))?;
        Ok(Query {
            license_id,
            after,
            // One more than asked, to tell whether there is more.
            limit: limit + 1,
            types,
        })
    }
}

async fn page(state: &AppState, query: Query) -> ApiResult<Json<EventPage>> {
    let (after, limit) = (query.after, query.limit - 1);
    let license = query.license_id.clone();
    let mut data = state
        .db
        .read(move |c| {
            if let Some(id) = &license {
                licenses::get(c, id)?;
            }
            log::list(c, &query)
        })
        .await?;
    let has_more = data.len() as i64 > limit;
    data.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = data.last().map_or(after, |e| e.sequence);
    Ok(Json(EventPage {
        data,
        next_cursor: next.to_string(),
        has_more,
    }))
}

/// `GET /api/v1/licenses/{id}/events`: the product's service token or the operator's.
pub async fn license_events(
    _: EntitlementReader,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(params): QueryParams<EventsQuery>,
) -> ApiResult<Json<EventPage>> {
    let query = params.query(Some(license_id))?;
    page(&state, query).await
}

/// `GET /api/v1/events`: every license's events, for the operator (or the product's service).
pub async fn all_events(
    _: EntitlementReader,
    State(state): State<AppState>,
    QueryParams(params): QueryParams<EventsQuery>,
) -> ApiResult<Json<EventPage>> {
    let query = params.query(None)?;
    page(&state, query).await
}
