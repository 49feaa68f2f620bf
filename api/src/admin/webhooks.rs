//! The operator's API for webhooks: a license's endpoints under
//! `/api/v1/licenses/{id}/webhooks`, the deployment-wide ones (every license's events) under
//! `/api/v1/webhooks`, with the same handlers. Secrets are shown on creation and rotation
//! only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use seatflow_feed::webhooks::attempts::{self, Attempt};
use seatflow_feed::webhooks::deliver::{self, Sender};
use seatflow_feed::webhooks::endpoints::{self, Endpoint, EndpointChange, NewEndpoint, WithSecret};
use seatflow_store::{Error, ScimType};
use serde::{Deserialize, Serialize};

use crate::commands;
use crate::http::auth::Operator;
use crate::http::body::{JsonBody, Path, QueryParams};
use crate::http::error::ApiResult;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// Whose endpoints: a license's, or (no `license_id` in the path) the deployment's.
#[derive(Debug, Deserialize)]
pub struct Scope {
    pub license_id: Option<String>,
}

/// One endpoint of a scope.
#[derive(Debug, Deserialize)]
pub struct Item {
    pub license_id: Option<String>,
    pub webhook_id: String,
}

pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(scope): Path<Scope>,
    JsonBody(new): JsonBody<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    let license_id = scope.license_id;
    let created = state
        .db
        .write(move |c| commands::create_webhook(c, license_id.as_deref(), new, Some(&request.0)))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(scope): Path<Scope>,
) -> ApiResult<Json<Vec<Endpoint>>> {
    let listed = state
        .db
        .read(move |c| endpoints::list(c, scope.license_id.as_deref()))
        .await?;
    Ok(Json(listed))
}

pub async fn get(
    _: Operator,
    State(state): State<AppState>,
    Path(item): Path<Item>,
) -> ApiResult<Json<Endpoint>> {
    let endpoint = state
        .db
        .read(move |c| endpoints::get(c, item.license_id.as_deref(), &item.webhook_id))
        .await?;
    Ok(Json(endpoint))
}

pub async fn update(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(item): Path<Item>,
    JsonBody(change): JsonBody<EndpointChange>,
) -> ApiResult<Json<Endpoint>> {
    let endpoint = state
        .db
        .write(move |c| {
            let (license, id) = (item.license_id.as_deref(), &item.webhook_id);
            commands::change_webhook(c, license, id, change, Some(&request.0))
        })
        .await?;
    Ok(Json(endpoint))
}

pub async fn delete(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(item): Path<Item>,
) -> ApiResult<StatusCode> {
    state
        .db
        .write(move |c| {
            let (license, id) = (item.license_id.as_deref(), &item.webhook_id);
            commands::delete_webhook(c, license, id, Some(&request.0))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret; deliveries are signed with both for `ROTATION_OVERLAP` (24 h).
pub async fn rotate_secret(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(item): Path<Item>,
) -> ApiResult<Json<WithSecret>> {
    let rotated = state
        .db
        .write(move |c| {
            let (license, id) = (item.license_id.as_deref(), &item.webhook_id);
            commands::rotate_webhook_secret(c, license, id, Some(&request.0))
        })
        .await?;
    Ok(Json(rotated))
}

/// Ends a failure streak (or a failing mark): delivery goes on from the cursor.
pub async fn resume(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(item): Path<Item>,
) -> ApiResult<Json<Endpoint>> {
    let endpoint = state
        .db
        .write(move |c| {
            let (license, id) = (item.license_id.as_deref(), &item.webhook_id);
            commands::resume_webhook(c, license, id, Some(&request.0))
        })
        .await?;
    Ok(Json(endpoint))
}

/// A page of the delivery log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPage {
    /// At most this many attempts (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Attempts older than the one with this id (the previous page's last).
    pub before: Option<i64>,
}

pub const MAX_LOG_PAGE: i64 = 1000;

pub async fn deliveries(
    _: Operator,
    State(state): State<AppState>,
    Path(item): Path<Item>,
    QueryParams(page): QueryParams<LogPage>,
) -> ApiResult<Json<Vec<Attempt>>> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(Error::bad_request(
            ScimType::InvalidValue,
            format!("limit must be between 1 and {MAX_LOG_PAGE}"),
        )
        .into());
    }
    let log = state
        .db
        .read(move |c| {
            let endpoint = endpoints::get(c, item.license_id.as_deref(), &item.webhook_id)?;
            attempts::list(c, &endpoint.id, page.before, limit)
        })
        .await?;
    Ok(Json(log))
}

/// What to redeliver: one event now (`event_id`), or everything since a time (`since`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    pub event_id: Option<String>,
    pub since: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Redelivered {
    /// The one event's attempt, sent before the answer.
    Attempt(Attempt),
    /// The endpoint rewound: its deliverer sends everything since then, in order.
    Rewound(Endpoint),
}

pub async fn redeliver(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(item): Path<Item>,
    JsonBody(what): JsonBody<Redeliver>,
) -> ApiResult<Json<Redelivered>> {
    let Item {
        license_id,
        webhook_id,
    } = item;
    match (what.event_id, what.since) {
        (Some(event_id), None) => {
            let sender = Sender::new(&state.config.webhooks)?;
            let attempt =
                deliver::redeliver(&state.db, &sender, license_id, webhook_id, event_id).await?;
            Ok(Json(Redelivered::Attempt(attempt)))
        }
        (None, Some(since)) => {
            let endpoint = state
                .db
                .write(move |c| {
                    let (license, id) = (license_id.as_deref(), &webhook_id);
                    commands::rewind_webhook(c, license, id, &since, Some(&request.0))
                })
                .await?;
            Ok(Json(Redelivered::Rewound(endpoint)))
        }
        _ => Err(Error::bad_request(
            ScimType::InvalidValue,
            "give either event_id (redeliver one event now) or since (redeliver everything since an RFC 3339 time)",
        )
        .into()),
    }
}
