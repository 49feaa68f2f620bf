//! The SCIM 2.0 endpoints of a tenant (mounted at `/scim/v2` and `/api/v1/scim`).

mod discovery;
mod etag;
mod groups;
mod paths;
mod query;
mod search;
mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::auth;

pub fn routes(state: &AppState) -> Router<AppState> {
    endpoints(state).fallback(paths::retry_canonical)
}

/// The tenant's resources (authenticated by its secret token, and admitted in turn), then the
/// discovery documents (public: the same for every tenant).
fn endpoints(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/.search", post(search::root))
        .route("/Users/.search", post(search::users))
        .route("/Groups/.search", post(search::groups))
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::tenant,
        ))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
}
