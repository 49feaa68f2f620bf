//! The application state and the router: every route the server answers, in one place.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use seatflow_shared::Error;
use seatflow_shared::db::Db;

use crate::config::Config;
use crate::error::ApiError;
use crate::{admin, scim};

pub struct App {
    pub db: Db,
    pub config: Config,
    /// The operator's bearer token (configured, or generated at start in the embedded default).
    pub admin_token: String,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl AppState {
    pub fn new(db: Db, config: Config, admin_token: String) -> Self {
        AppState(Arc::new(App {
            db,
            config,
            admin_token,
        }))
    }
}

pub fn router(state: AppState) -> Router {
    let scim = scim::routes();
    Router::new()
        // `/scim/v2` is the Tenant URL we hand out; `/api/v1/scim` is the seed product's path.
        .nest("/scim/v2", scim.clone())
        .nest("/api/v1/scim", scim)
        .route(
            "/api/v1/licenses",
            post(admin::create_license).get(admin::list_licenses),
        )
        .route("/api/v1/licenses/{license_id}", get(admin::get_license))
        .route(
            "/api/v1/licenses/{license_id}/tokens",
            post(admin::issue_token).get(admin::list_tokens),
        )
        .route(
            "/api/v1/licenses/{license_id}/tokens/{token_id}",
            axum::routing::delete(admin::revoke_token),
        )
        .fallback(|| async { ApiError(Error::NotFound("no such endpoint".into())) })
        .with_state(state)
}
