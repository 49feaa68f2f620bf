//! `/Groups`: create, read, list, replace, patch and delete a tenant's groups. Members are
//! loaded only when the response includes them (Entra always excludes them).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use seatflow_licensing::Change;
use seatflow_scim::patch::{self, MemberChange, PatchRequest};
use seatflow_scim::version::{self, check_if_match};
use seatflow_scim::{ResourceKind, resource};
use seatflow_store::db::DbConn;
use seatflow_store::groups::{self, GroupRow, Member};
use seatflow_store::licensed_groups;
use serde_json::Value;

use crate::http::auth::Tenant;
use crate::http::body::{JsonBody, Path, ScimJson};
use crate::http::error::ApiResult;
use crate::http::limits;
use crate::http::request_id::RequestId;
use crate::scim::etag::{Bodiless, Conditions, Reply, Return, with_preference};
use crate::scim::query::ReadQuery;
use crate::state::AppState;

/// A group row with its members when the response needs them.
type Loaded = (GroupRow, Option<Vec<Member>>);

fn load_members(c: &mut DbConn, row: GroupRow, wanted: bool) -> seatflow_store::Result<Loaded> {
    if !wanted {
        return Ok((row, None));
    }
    let members = groups::members_of(c, std::slice::from_ref(&row.id))?
        .remove(&row.id)
        .unwrap_or_default();
    Ok((row, Some(members)))
}

fn render(base: &str, (row, members): &Loaded, query: &ReadQuery) -> seatflow_store::Result<Value> {
    let mut body = resource::render_group(row.stored(), members.as_deref(), base)?;
    resource::project(
        ResourceKind::Group,
        &mut body,
        &query.attributes,
        &query.excluded,
    );
    Ok(body)
}

fn respond(
    state: &AppState,
    loaded: &Loaded,
    status: StatusCode,
    query: &ReadQuery,
) -> ApiResult<ScimJson> {
    let row = &loaded.0;
    Ok(ScimJson {
        status,
        body: render(&state.config.tenant_url(), loaded, query)?,
        etag: Some(version::etag(row.version)),
        location: (status == StatusCode::CREATED)
            .then(|| format!("{}/Groups/{}", state.config.tenant_url(), row.id)),
    })
}

pub async fn create(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    query: ReadQuery,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let wanted = query.wants("members");
    let (fields, members) = resource::group_fields(body)?;
    let members = [MemberChange::Add(members)];
    limits::check_members(&members, state.config.max_members_per_request)?;
    let loaded = state
        .write_with_event(license.id, &request, move |c, license_id| {
            let row = groups::insert(c, license_id, fields)?;
            groups::apply_member_changes(c, &row, &members)?;
            // A new group is licensed by nobody yet: its members' seats cannot move.
            Ok((load_members(c, row, wanted)?, Change::default()))
        })
        .await?;
    respond(&state, &loaded, StatusCode::CREATED, &query)
}

pub async fn get(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: ReadQuery,
    conditions: Conditions,
) -> ApiResult<Reply> {
    let wanted = query.wants("members");
    let if_none_match = conditions.clone();
    let loaded = state
        .db
        .read(move |c| {
            let row = groups::get(c, &license.id, &id)?;
            // A 304 needs no members.
            let wanted = wanted && !if_none_match.not_modified(row.version);
            load_members(c, row, wanted)
        })
        .await?;
    check_if_match(conditions.if_match.as_ref(), loaded.0.version)?;
    if conditions.not_modified(loaded.0.version) {
        return Ok(Reply::Empty(Bodiless {
            status: StatusCode::NOT_MODIFIED,
            version: loaded.0.version,
        }));
    }
    Ok(Reply::Resource(respond(
        &state,
        &loaded,
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
    let (total, resources) = search(&state, license.id, &query, &base).await?;
    Ok(ScimJson::ok(resource::list_response(
        resources,
        total,
        query.page.start_index,
    )))
}

/// One page of the tenant's groups matching `query` and their total.
pub async fn search(
    state: &AppState,
    license_id: String,
    query: &ReadQuery,
    base: &str,
) -> ApiResult<(i64, Vec<Value>)> {
    let (owned, wanted) = (query.clone(), query.wants("members"));
    let (total, loaded) = state
        .db
        .read(move |c| {
            let (total, rows) = groups::list(c, &license_id, &owned.list_query())?;
            let mut members = if wanted {
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                groups::members_of(c, &ids)?
            } else {
                HashMap::new()
            };
            let loaded: Vec<Loaded> = rows
                .into_iter()
                .map(|row| {
                    let m = wanted.then(|| members.remove(&row.id).unwrap_or_default());
                    (row, m)
                })
                .collect();
            Ok((total, loaded))
        })
        .await?;
    let resources = loaded
        .iter()
        .map(|l| render(base, l, query))
        .collect::<seatflow_store::Result<Vec<_>>>()?;
    Ok((total, resources))
}

/// PUT replaces the group, members included (Okta's way of setting membership); members it
/// keeps may not change their immutable `$ref` or `type` (400 `mutability`).
pub async fn replace(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    request: RequestId,
    Path(id): Path<String>,
    query: ReadQuery,
    conditions: Conditions,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let wanted = query.wants("members");
    let (fields, members) = resource::group_fields(body)?;
    let members = [MemberChange::ReplaceAll(members)];
    limits::check_members(&members, state.config.max_members_per_request)?;
    let loaded = state
        .write_with_event(license.id, &request, move |c, license_id| {
            let current = groups::get(c, license_id, &id)?;
            check_if_match(conditions.if_match.as_ref(), current.version)?;
            if let [MemberChange::ReplaceAll(replacement)] = &members {
                let kept = groups::members_of(c, std::slice::from_ref(&current.id))?
                    .remove(&current.id)
                    .unwrap_or_default();
                resource::check_kept_members(&kept, replacement)?;
            }
            let row = groups::update(c, &current, fields)?;
            let changed = groups::apply_member_changes(c, &row, &members)?;
            Ok((load_members(c, row, wanted)?, Change::members(&id, changed)))
        })
        .await?;
    respond(&state, &loaded, StatusCode::OK, &query)
}

/// Answers 204 (Entra's guidance; the cost does not depend on the group's size) unless the
/// request asks for the group with `attributes`, `excludedAttributes` or
/// `Prefer: return=representation`.
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
    let with_body = conditions.patch_returns_body(&query, Return::Minimal);
    let wanted = with_body && query.wants("members");
    let if_match = conditions.if_match.clone();
    let max_members = state.config.max_members_per_request;
    let loaded = state
        .write_with_event(license.id, &request, move |c, license_id| {
            let current = groups::get(c, license_id, &id)?;
            check_if_match(if_match.as_ref(), current.version)?;
            let mut doc = resource::stored_document(&current.document)?;
            let changes = patch::apply(ResourceKind::Group, &mut doc, &patch.operations, &limits)?;
            limits::check_members(&changes, max_members)?;
            let doc = resource::normalize(ResourceKind::Group, doc)?;
            let fields = resource::group_fields_from_doc(doc)?;
            if fields.document == current.document && changes.is_empty() {
                return Ok((load_members(c, current, wanted)?, Change::default()));
            }
            let changed = groups::apply_member_changes(c, &current, &changes)?;
            let row = groups::update(c, &current, fields)?;
            Ok((load_members(c, row, wanted)?, Change::members(&id, changed)))
        })
        .await?;
    let reply = if with_body {
        Reply::Resource(respond(&state, &loaded, StatusCode::OK, &query)?)
    } else {
        Reply::Empty(Bodiless {
            status: StatusCode::NO_CONTENT,
            version: loaded.0.version,
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
                check_if_match(Some(tags), groups::get(c, license_id, &id)?.version)?;
            }
            // A licensed group's members may lose their seats with it; nobody else's can move.
            let licensed = licensed_groups::list(c, license_id)?.contains(&id);
            let members = if licensed {
                groups::member_ids(c, &id)?
            } else {
                Vec::new()
            };
            groups::delete(c, license_id, &id)?;
            Ok(((), Change::users(members)))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
