//! `/Users`: create, read, list, replace, patch and delete a tenant's users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use seatflow_licensing::Change;
use seatflow_scim::patch::{self, PatchRequest};
use seatflow_scim::version::{self, check_if_match};
use seatflow_scim::{ResourceKind, resource};
use seatflow_store::db::DbConn;
use seatflow_store::seats;
use seatflow_store::users::{self, Seated, UserRow};
use serde_json::Value;

use crate::http::auth::Tenant;
use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::ApiResult;
use crate::http::request_id::RequestId;
use crate::scim::activity;
use crate::scim::etag::{Bodiless, Conditions, Reply, Return, with_preference};
use crate::scim::query::ReadQuery;
use crate::state::AppState;

fn seated(c: &mut DbConn, row: UserRow) -> seatflow_store::Result<Seated> {
    let seat = seats::statuses(c, &row.license_id, std::slice::from_ref(&row.id))?.remove(&row.id);
    Ok((row, seat))
}

/// What an update changes for licensing: only `active` can move a seat (a rename, new e-mails
/// or names cannot).
fn seat_change(before: &UserRow, after: &UserRow) -> Change {
    if before.active == after.active {
        Change::default()
    } else {
        Change::user(&after.id)
    }
}

fn respond(
    state: &AppState,
    seated: &Seated,
    status: StatusCode,
    query: &ReadQuery,
) -> ApiResult<ScimJson> {
    let (row, _) = seated;
    let base = state.config.tenant_url();
    let mut body = resource::render_seated(seated.0.stored(), seated.1.as_ref(), &base)?;
    resource::project(
        ResourceKind::User,
        &mut body,
        &query.attributes,
        &query.excluded,
    );
    Ok(ScimJson {
        status,
        body,
        etag: Some(version::etag(row.version)),
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
        .write_with_event(license.id, &request, move |c, license_id| {
            let row = users::insert(c, license_id, fields)?;
            // A new user is in no group yet: no seat can move, so licensing has no work.
            Ok(((row, None), Change::default()))
        })
        .await?;
    respond(&state, &row, StatusCode::CREATED, &query)
}

pub async fn get(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: ReadQuery,
    conditions: Conditions,
) -> ApiResult<Reply> {
    let row = state
        .db
        .read(move |c| {
            let row = users::get(c, &license.id, &id)?;
            seated(c, row)
        })
        .await?;
    check_if_match(conditions.if_match.as_ref(), row.0.version)?;
    if conditions.not_modified(row.0.version) {
        return Ok(Reply::Empty(Bodiless {
            status: StatusCode::NOT_MODIFIED,
            version: row.0.version,
        }));
    }
    Ok(Reply::Resource(respond(
        &state,
        &row,
        StatusCode::OK,
        &query,
    )?))
}

pub async fn list(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    query: ReadQuery,
) -> ApiResult<ScimJson> {
    let base = state.config.tenant_url();
    let (total, resources) = search(&state, license.id.clone(), &query, &base).await?;
    if activity::is_test_connection(query.filter.as_ref(), total) {
        activity::record_test_connection(&state.db, license.id);
    }
    Ok(ScimJson::ok(resource::list_response(
        resources,
        total,
        query.page.start_index,
    )))
}

/// One page of the tenant's users matching `query` and their total.
pub async fn search(
    state: &AppState,
    license_id: String,
    query: &ReadQuery,
    base: &str,
) -> ApiResult<(i64, Vec<Value>)> {
    let owned = query.clone();
    let (total, rows) = state
        .db
        .read(move |c| users::list(c, &license_id, &owned.list_query()))
        .await?;
    let resources = rows
        .iter()
        .map(|seated| {
            let mut body = resource::render_seated(seated.0.stored(), seated.1.as_ref(), base)?;
            resource::project(
                ResourceKind::User,
                &mut body,
                &query.attributes,
                &query.excluded,
            );
            Ok(body)
        })
        .collect::<seatflow_store::Result<Vec<_>>>()?;
    Ok((total, resources))
}

/// PUT replaces the user: what the body lacks is removed, `id`/`meta` stay the server's, and a
/// body without `userName` is 400.
pub async fn replace(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    query: ReadQuery,
    conditions: Conditions,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let fields = resource::user_fields(body)?;
    let row = state
        .write_with_event(license.id, &request, move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(conditions.if_match.as_ref(), current.version)?;
            let row = users::update(c, &current, fields)?;
            let change = seat_change(&current, &row);
            Ok((seated(c, row)?, change))
        })
        .await?;
    respond(&state, &row, StatusCode::OK, &query)
}

/// Answers 200 with the updated user (Okta reads it; RFC 7644 §3.5.2), projected by
/// `attributes`/`excludedAttributes`; 204 only when the client asks `Prefer: return=minimal`.
pub async fn patch(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    query: ReadQuery,
    conditions: Conditions,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let limits = state.limits;
    let patch = PatchRequest::from_json(&body, &limits)?;
    let if_match = conditions.if_match.clone();
    let row = state
        .write_with_event(license.id, &request, move |c, license_id| {
            let current = users::get(c, license_id, &id)?;
            check_if_match(if_match.as_ref(), current.version)?;
            let mut doc = resource::stored_document(&current.document)?;
            patch::apply(ResourceKind::User, &mut doc, &patch.operations, &limits)?;
            let doc = resource::normalize(ResourceKind::User, doc)?;
            let fields = resource::user_fields_from_doc(doc)?;
            if fields.document == current.document {
                return Ok((seated(c, current)?, Change::default()));
            }
            let row = users::update(c, &current, fields)?;
            let change = seat_change(&current, &row);
            Ok((seated(c, row)?, change))
        })
        .await?;
    let reply = if conditions.patch_returns_body(&query, Return::Representation) {
        Reply::Resource(respond(&state, &row, StatusCode::OK, &query)?)
    } else {
        Reply::Empty(Bodiless {
            status: StatusCode::NO_CONTENT,
            version: row.0.version,
        })
    };
    Ok(with_preference(conditions.prefer, reply))
}

pub async fn delete(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    conditions: Conditions,
) -> ApiResult<StatusCode> {
    state
        .write_with_event(license.id, &request, move |c, license_id| {
            if let Some(tags) = &conditions.if_match {
                check_if_match(Some(tags), users::get(c, license_id, &id)?.version)?;
            }
            // A user without a seat row (not entitled) frees nothing when it goes.
            let had_seat = !seats::rows_for(c, license_id, std::slice::from_ref(&id))?.is_empty();
            users::delete(c, license_id, &id)?;
            Ok((
                (),
                if had_seat {
                    Change::user(&id)
                } else {
                    Change::default()
                },
            ))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
