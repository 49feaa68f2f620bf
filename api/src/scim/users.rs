//! `/Users`: create, read, list, replace, patch and delete a tenant's users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use seatflow_shared::events::Change;
use seatflow_shared::scim::patch::{self, PatchRequest};
use seatflow_shared::scim::{ResourceKind, resource};
use seatflow_shared::store::users::{self, UserRow};
use serde_json::Value;

use crate::app::AppState;
use crate::auth::Tenant;
use crate::body::{JsonBody, ScimJson};
use crate::error::ApiResult;
use crate::request_id::RequestId;
use crate::scim::query::ReadQuery;

fn respond(
    state: &AppState,
    row: &UserRow,
    status: StatusCode,
    query: &ReadQuery,
) -> ApiResult<ScimJson> {
    let base = state.0.config.tenant_url();
    let mut body = resource::render_user(row, &base)?;
    resource::project(&mut body, &query.attributes, &query.excluded);
    Ok(ScimJson {
        status,
        body,
        etag: Some(resource::etag(row.version)),
        location: (status == StatusCode::CREATED).then(|| format!("{base}/Users/{}", row.id)),
    })
}

pub async fn create(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let row = state
        .scim_write(license.id, &request, move |c, license_id| {
            let row = users::insert(c, license_id, fields)?;
            let change = Change::user(&row.id);
            Ok((row, change))
        })
        .await?;
    respond(&state, &row, StatusCode::CREATED, &query)
}

pub async fn get(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: ReadQuery,
) -> ApiResult<ScimJson> {
    let row = state
        .0
        .db
        .read(move |c| users::get(c, &license.id, &id))
        .await?;
    respond(&state, &row, StatusCode::OK, &query)
}

pub async fn list(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    query: ReadQuery,
) -> ApiResult<ScimJson> {
    let (filter, page) = (query.filter.clone(), query.page);
    let (total, rows) = state
        .0
        .db
        .read(move |c| users::list(c, &license.id, filter.as_ref(), page))
        .await?;
    let base = state.0.config.tenant_url();
    let resources = rows
        .iter()
        .map(|row| {
            let mut body = resource::render_user(row, &base)?;
            resource::project(&mut body, &query.attributes, &query.excluded);
            Ok(body)
        })
        .collect::<seatflow_shared::Result<Vec<_>>>()?;
    Ok(ScimJson::ok(resource::list_response(
        resources,
        total,
        page.start_index,
    )))
}

pub async fn replace(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let row = state
        .scim_write(license.id, &request, move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            Ok((users::update(c, &current, fields)?, Change::user(&id)))
        })
        .await?;
    respond(&state, &row, StatusCode::OK, &query)
}

/// Answers 200 with the updated user (Entra's documented shape).
pub async fn patch(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let patch = PatchRequest::from_json(&body)?;
    let row = state
        .scim_write(license.id, &request, move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            let mut doc = resource::stored_document(&current.document)?;
            patch::apply(ResourceKind::User, &mut doc, &patch.operations)?;
            let doc = resource::normalize(ResourceKind::User, doc)?;
            let fields = resource::user_fields_from_doc(doc)?;
            if fields.document == current.document {
                return Ok((current, Change::default()));
            }
            Ok((users::update(c, &current, fields)?, Change::user(&id)))
        })
        .await?;
    respond(&state, &row, StatusCode::OK, &query)
}

pub async fn delete(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .scim_write(license.id, &request, move |c, license_id| {
            users::delete(c, license_id, &id)?;
            Ok(((), Change::user(&id)))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
