//! The operator's admin API under `/api/v1`: licenses and their SCIM tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use seatflow_licensing::Change;
use seatflow_queue::outbox::{self, SyncStats};
use seatflow_store::licenses::{self, License};
use seatflow_store::tokens::{self, IssuedToken, TokenInfo};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::commands;
use crate::http::auth::Operator;
use crate::http::body::{JsonBody, Path, QueryParams};
use crate::http::error::ApiResult;
use crate::http::paging::Paging;
use crate::http::request_id::RequestId;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLicense {
    pub name: String,
    pub seats: i64,
}

/// What creating a license returns: everything an identity provider needs, shown once.
#[derive(Debug, Serialize)]
pub struct CreatedLicense {
    pub license_id: String,
    pub tenant_url: String,
    pub secret_token: String,
    pub token_id: String,
}

pub async fn create_license(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    JsonBody(new): JsonBody<NewLicense>,
) -> ApiResult<(StatusCode, Json<CreatedLicense>)> {
    let request_id = request.0.clone();
    let (license, token) = state
        .db
        .write(move |c| commands::create_license(c, &new.name, new.seats, Some(&request_id)))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedLicense {
            license_id: license.id,
            tenant_url: state.config.tenant_url(),
            secret_token: token.secret_token,
            token_id: token.token_id,
        }),
    ))
}

pub async fn list_licenses(
    _: Operator,
    State(state): State<AppState>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Vec<License>>> {
    let (offset, limit) = (paging.offset(), paging.limit());
    Ok(Json(
        state
            .db
            .read(move |c| licenses::list(c, offset, limit))
            .await?,
    ))
}

pub async fn get_license(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<License>> {
    Ok(Json(
        state
            .db
            .read(move |c| licenses::get(c, &license_id))
            .await?,
    ))
}

/// Where a license's sync stands: what the identity provider did lately, and how far licensing
/// has caught up with it.
#[derive(Debug, Serialize)]
pub struct SyncHealth {
    pub last_scim_request_at: Option<String>,
    pub last_test_connection_at: Option<String>,
    /// SCIM requests of the last hour by HTTP status (counted by this API process).
    pub requests_last_hour: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub events: SyncStats,
}

pub async fn sync_health(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<SyncHealth>> {
    let requests_last_hour = state.requests.last_hour(&license_id);
    let (license, events) = state
        .db
        .read(move |c| {
            Ok((
                licenses::get(c, &license_id)?,
                outbox::stats(c, &license_id)?,
            ))
        })
        .await?;
    Ok(Json(SyncHealth {
        last_scim_request_at: license.last_scim_request_at,
        last_test_connection_at: license.last_test_connection_at,
        requests_last_hour,
        events,
    }))
}

/// Issues a further token (rotation): the existing one stays valid until revoked.
pub async fn issue_token(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path(license_id): Path<String>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let request_id = request.0.clone();
    let issued = state
        .command(license_id, &request, move |c, license_id| {
            Ok((
                commands::issue_token(c, license_id, Some(&request_id))?,
                Change::default(),
            ))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

pub async fn list_tokens(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(
        state.db.read(move |c| tokens::list(c, &license_id)).await?,
    ))
}

pub async fn revoke_token(
    _: Operator,
    State(state): State<AppState>,
    request: RequestId,
    Path((license_id, token_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let request_id = request.0.clone();
    state
        .command(license_id, &request, move |c, license_id| {
            commands::revoke_token(c, license_id, &token_id, Some(&request_id))?;
            Ok(((), Change::default()))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
