//! A license's licensing policies under `/api/v1/licenses/{id}` (operator token): read them,
//! change them with a dry-run preview (`PATCH …/policy?dry_run=true`), and the true-up of
//! seats the `expand` policy added.

use axum::Json;
use axum::extract::State;
use seatflow_store::policies::{self, Policy, PolicyUpdate, TrueUp};
use serde::Serialize;

use crate::admin::licensing::{DryRun, read_license};
use crate::commands::{self, PolicyPreview};
use crate::http::auth::Operator;
use crate::http::body::{JsonBody, Path, QueryParams};
use crate::http::error::ApiResult;
use crate::http::request_id::RequestId;
use crate::state::AppState;

pub async fn get_policy(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(read_license(&state, license_id, policies::get).await?))
}

/// What a policy change does (dry run) or will do (the reconcile runs through the worker).
#[derive(Debug, Serialize)]
pub struct PolicyOutcome {
    pub policy: Policy,
    pub dry_run: bool,
    /// The impact computed now, from the real engine in a rolled-back transaction.
    pub preview: PolicyPreview,
}

/// `PATCH …/policy[?dry_run=true]`.
pub async fn patch_policy(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    QueryParams(mode): QueryParams<DryRun>,
    request: RequestId,
    JsonBody(change): JsonBody<PolicyUpdate>,
) -> ApiResult<Json<PolicyOutcome>> {
    Ok(Json(
        change_policy(&state, license_id, change, mode.dry_run, &request).await?,
    ))
}

/// A policy change for the admin API and the admin pages alike: the preview, then (unless a
/// dry run) the change saved with its audit entry and licensing event.
pub async fn change_policy(
    state: &AppState,
    license_id: String,
    change: PolicyUpdate,
    dry_run: bool,
    request: &RequestId,
) -> seatflow_store::Result<PolicyOutcome> {
    let (policy, preview) = {
        let (license_id, change) = (license_id.clone(), change.clone());
        state
            .db
            .read(move |c| commands::preview_policy(c, &license_id, &change))
            .await?
    };
    let policy = if dry_run {
        policy
    } else {
        let request_id = request.0.clone();
        state
            .command(license_id, request, move |c, license_id| {
                commands::change_policy(c, license_id, &change, Some(&request_id))
            })
            .await?
    };
    Ok(PolicyOutcome {
        policy,
        dry_run,
        preview,
    })
}

pub async fn true_up(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
) -> ApiResult<Json<TrueUp>> {
    Ok(Json(
        read_license(&state, license_id, policies::true_up).await?,
    ))
}

#[derive(Debug, Serialize)]
pub struct Settled {
    pub settled: usize,
}

/// `POST …/true-up/settle`: the pending expansions are billed.
pub async fn settle_true_up(
    _: Operator,
    State(state): State<AppState>,
    Path(license_id): Path<String>,
    request: RequestId,
) -> ApiResult<Json<Settled>> {
    Ok(Json(Settled {
        settled: settle(&state, license_id, &request).await?,
    }))
}

/// Settles the true-up (the admin API and the admin pages).
pub async fn settle(
    state: &AppState,
    license_id: String,
    request: &RequestId,
) -> seatflow_store::Result<usize> {
    let request_id = request.0.clone();
    state
        .command(license_id, request, move |c, license_id| {
            let settled = commands::settle_true_up(c, license_id, Some(&request_id))?;
            Ok((settled, seatflow_licensing::Change::default()))
        })
        .await
}
