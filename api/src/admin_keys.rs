//! The operator's API for per-license admin keys (`/api/v1/licenses/{id}/admin-keys`): a key
//! lets a license admin sign in to the `/admin` pages for that one license.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use seatflow_shared::store::admin_keys::{self, AdminKeyInfo, IssuedAdminKey};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::Operator;
use crate::error::ApiResult;

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
    body: Option<Json<NewAdminKey>>,
) -> ApiResult<(StatusCode, Json<CreatedAdminKey>)> {
    let label = body.and_then(|Json(b)| b.label);
    let key = state
        .0
        .db
        .write(move |c| admin_keys::create(c, &license_id, label.as_deref()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdminKey::new(key, &state.0.config.public_url)),
    ))
}

pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Vec<AdminKeyInfo>>> {
    Ok(Json(
        state
            .0
            .db
            .read(move |c| admin_keys::list(c, &license_id))
            .await?,
    ))
}

pub async fn revoke(
    _: Operator,
    State(state): State<AppState>,
    Path((license_id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .0
        .db
        .write(move |c| admin_keys::revoke(c, &license_id, &key_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
