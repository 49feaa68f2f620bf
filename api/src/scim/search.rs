//! `POST /.search`, `POST /Users/.search` and `POST /Groups/.search` (RFC 7644 §3.4.3): the
//! list query as a SearchRequest body, answered like a GET list.
//!
//! At the root, users come first and then groups, as one list paged across both; `sortBy`
//! orders within each resource type (a documented deviation: the RFC leaves mixed sorting open).

use axum::extract::State;
use seatflow_scim::resource;
use seatflow_store::Page;
use serde_json::Value;

use crate::http::auth::Tenant;
use crate::http::body::{JsonBody, ScimJson};
use crate::http::error::ApiResult;
use crate::scim::query::ReadQuery;
use crate::scim::{groups, users};
use crate::state::AppState;

pub async fn users(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let query = ReadQuery::from_search(&body, &state.0)?;
    let base = state.config.tenant_url();
    let (total, resources) = users::search(&state, license.id, &query, &base).await?;
    Ok(list(resources, total, &query))
}

pub async fn groups(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let query = ReadQuery::from_search(&body, &state.0)?;
    let base = state.config.tenant_url();
    let (total, resources) = groups::search(&state, license.id, &query, &base).await?;
    Ok(list(resources, total, &query))
}

pub async fn root(
    Tenant(license): Tenant,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let query = ReadQuery::from_search(&body, &state.0)?;
    let base = state.config.tenant_url();
    let (user_total, mut resources) =
        users::search(&state, license.id.clone(), &query, &base).await?;
    // The groups' part of the page: what the users did not fill, starting after them.
    let taken = i64::try_from(resources.len()).unwrap_or(i64::MAX);
    let skipped_users = (query.page.offset()).min(user_total);
    let group_query = ReadQuery {
        page: Page {
            start_index: query.page.offset() - skipped_users + 1,
            count: query.page.count - taken,
        },
        ..query.clone()
    };
    let (group_total, group_resources) =
        groups::search(&state, license.id, &group_query, &base).await?;
    resources.extend(group_resources);
    Ok(list(resources, user_total + group_total, &query))
}

fn list(resources: Vec<Value>, total: i64, query: &ReadQuery) -> ScimJson {
    ScimJson::ok(resource::list_response(
        resources,
        total,
        query.page.start_index,
    ))
}
