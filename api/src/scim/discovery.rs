//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`: public, as RFC 7644 §4 allows,
//! so clients can discover the server before they hold a token.

use axum::extract::State;
use seatflow_scim::discovery::{self, DiscoveryLimits};
use seatflow_store::Error;

use crate::http::body::{Path, ScimJson};
use crate::http::error::ApiResult;
use crate::state::AppState;

pub async fn service_provider_config(State(state): State<AppState>) -> ScimJson {
    let config = &state.config;
    let limits = DiscoveryLimits {
        max_results: usize::try_from(config.max_page_size).unwrap_or(0),
        max_payload_bytes: config.max_body_bytes,
    };
    ScimJson::ok(discovery::service_provider_config(
        &config.tenant_url(),
        &limits,
    ))
}

pub async fn resource_types(State(state): State<AppState>) -> ScimJson {
    ScimJson::ok(discovery::resource_types(&state.config.tenant_url()))
}

pub async fn resource_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<ScimJson> {
    discovery::resource_type(&state.config.tenant_url(), &name)
        .map(ScimJson::ok)
        .ok_or_else(|| Error::NotFound(format!("resource type {name} not found")).into())
}

pub async fn schemas(State(state): State<AppState>) -> ScimJson {
    ScimJson::ok(discovery::schemas_list(&state.config.tenant_url()))
}

pub async fn schema(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<ScimJson> {
    discovery::schema_document(&state.config.tenant_url(), &id)
        .map(ScimJson::ok)
        .ok_or_else(|| Error::NotFound(format!("schema {id} not found")).into())
}
