//! `POST /.search`, `POST /Users/.search` and `POST /Groups/.search` (RFC 7644 §3.4.3): the
//! list query as a SearchRequest body, answered like a GET list.
//!
//! At the root, users come first and then groups, as one list paged across both; `sortBy`
//! orders within each resource type (a documented deviation: the RFC leaves mixed sorting open).

use seatflow_store::Page;
use seatflow_store::users::Seated;
use serde_json::Value;

use crate::http::body::{JsonBody, ScimJson};
use crate::http::error::ApiResult;
use crate::scim::groups::WithMembers;
use crate::scim::kind::{self, Resource, Scim, list_response};
use crate::scim::query::ReadQuery;

pub async fn users(scim: Scim, body: JsonBody<Value>) -> ApiResult<ScimJson> {
    search_one::<Seated>(scim, body).await
}

pub async fn groups(scim: Scim, body: JsonBody<Value>) -> ApiResult<ScimJson> {
    search_one::<WithMembers>(scim, body).await
}

/// `POST /Users/.search` and `POST /Groups/.search`: a list of one resource type.
async fn search_one<R: Resource>(
    scim: Scim,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<ScimJson> {
    let query = ReadQuery::from_search(&body, &scim.state.0)?;
    let (total, resources) = kind::search::<R>(&scim, &query).await?;
    Ok(list_response(resources, total, &query))
}

pub async fn root(scim: Scim, JsonBody(body): JsonBody<Value>) -> ApiResult<ScimJson> {
    let query = ReadQuery::from_search(&body, &scim.state.0)?;
    let (user_total, mut resources) = kind::search::<Seated>(&scim, &query).await?;
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
    let (group_total, group_resources) = kind::search::<WithMembers>(&scim, &group_query).await?;
    resources.extend(group_resources);
    Ok(list_response(resources, user_total + group_total, &query))
}
