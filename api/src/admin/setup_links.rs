//! The operator's API for setup links (`/api/v1/licenses/{id}/setup-links`): a single-use,
//! short-lived link that opens one license's admin pages for its IT admin.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use seatflow_store::setup_links::{self, IssuedSetupLink, SetupLink, Status};
use seatflow_store::time;
use serde::{Deserialize, Serialize};

use crate::commands;
use crate::http::auth::Operator;
use crate::http::body::{OptionalJsonBody, Path};
use crate::http::error::ApiResult;
use crate::http::request_id::RequestId;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSetupLink {
    /// Minutes the link stays valid; `SEATFLOW_SETUP_LINK_TTL_MINS` when left out.
    pub ttl_minutes: Option<i64>,
    pub label: Option<String>,
}

/// An issued link; its `url` (which holds the secret) is shown only this once.
#[derive(Debug, Serialize)]
pub struct CreatedSetupLink {
    pub id: String,
    pub license_id: String,
    pub url: String,
    pub expires_at: String,
}

impl CreatedSetupLink {
    pub fn new(issued: IssuedSetupLink, public_url: &str) -> Self {
        let IssuedSetupLink { link, secret } = issued;
        CreatedSetupLink {
            url: format!("{}/admin/setup/{secret}", public_url.trim_end_matches('/')),
            id: link.id,
            license_id: link.license_id,
            expires_at: link.expires_at,
        }
    }
}

/// A link as listed, with its status now.
#[derive(Debug, Serialize)]
pub struct ListedSetupLink {
    #[serde(flatten)]
    pub link: SetupLink,
    pub status: Status,
}

/// A license's links (never their secrets), oldest first.
pub fn listed(links: Vec<SetupLink>) -> Vec<ListedSetupLink> {
    let now = time::now();
    links
        .into_iter()
        .map(|link| ListedSetupLink {
            status: link.status(&now),
            link,
        })
        .collect()
}

pub async fn create(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    request: RequestId,
    OptionalJsonBody(body): OptionalJsonBody<NewSetupLink>,
) -> ApiResult<(StatusCode, Json<CreatedSetupLink>)> {
    let NewSetupLink { ttl_minutes, label } = body.unwrap_or_default();
    let ttl_minutes = ttl_minutes.unwrap_or(state.config.setup_link_ttl_mins);
    let request_id = request.0.clone();
    let issued = state
        .db
        .write(move |c| {
            commands::issue_setup_link(
                c,
                &license_id,
                ttl_minutes,
                label.as_deref(),
                Some(&request_id),
            )
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSetupLink::new(issued, &state.config.public_url)),
    ))
}

pub async fn list(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Vec<ListedSetupLink>>> {
    let links = state
        .db
        .read(move |c| setup_links::list(c, &license_id))
        .await?;
    Ok(Json(listed(links)))
}

pub async fn revoke(
    _: Operator,
    State(state): State<AppState>,
    Path((license_id, link_id)): Path<(String, String)>,
    request: RequestId,
) -> ApiResult<StatusCode> {
    let request_id = request.0.clone();
    state
        .db
        .write(move |c| commands::revoke_setup_link(c, &license_id, &link_id, Some(&request_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
