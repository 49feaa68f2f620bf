//! The operator's API for per-license admin keys (`/api/v1/licenses/{id}/admin-keys`): a key
//! lets a license admin sign in to the `/admin` pages for that one license.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use seatflow_store::admin_keys::{self, AdminKeyInfo, IssuedAdminKey};
use serde::{Deserialize, Serialize};

use crate::commands;
use crate::http::auth::Operator;
use crate::http::body::{OptionalJsonBody, Path};
use crate::http::error::ApiResult;
use crate::http::request_id::RequestId;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdminKey {
    pub label: Option<String>,
}

/// A created key and where to use it; the key is shown only this once.
#[derive(Debug, Serialize)]
pub struct CreatedAdminKey {
    #[serde(flatten)]
    pub key: IssuedAdminKey,
    pub sign_in_url: String,
}

impl CreatedAdminKey {
    pub fn new(key: IssuedAdminKey, public_url: &str) -> Self {
        CreatedAdminKey {
            key,
            sign_in_url: format!("{}/admin/login", public_url.trim_end_matches('/')),
        }
    }
}

pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    request: RequestId,
    OptionalJsonBody(body): OptionalJsonBody<NewAdminKey>,
) -> ApiResult<(StatusCode, Json<CreatedAdminKey>)> {
    let label = body.and_then(|b| b.label);
    let request_id = request.0.clone();
    let key = state
        .db
        .write(move |c| {
            commands::create_admin_key(c, &license_id, label.as_deref(), Some(&request_id))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdminKey::new(key, &state.config.public_url)),
    ))
}

pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Vec<AdminKeyInfo>>> {
    Ok(Json(
        state
            .db
            .read(move |c| admin_keys::list(c, &license_id))
            .await?,
    ))
}

pub async fn revoke(
    _: Operator,
    State(state): State<AppState>,
    Path((license_id, key_id)): Path<(String, String)>,
    request: RequestId,
) -> ApiResult<StatusCode> {
    let request_id = request.0.clone();
    state
        .db
        .write(move |c| commands::revoke_admin_key(c, &license_id, &key_id, Some(&request_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
