//! The application state and the router: every route the server answers, in one place.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::{get, post};
use seatflow_shared::db::{Db, DbConn};
use seatflow_shared::events::Change;
use seatflow_shared::scim::limits::Limits;
use seatflow_shared::store::outbox;
use seatflow_shared::telemetry::EVENTS_RECORDED;
use seatflow_shared::{Error, Result};
use tokio::sync::Notify;

use crate::activity::{self, RequestLog};
use crate::config::Config;
use crate::dashboard::sampler::{History, ScimCounters};
use crate::error::ApiError;
use crate::limits::{self, Admission, RateLimiter};
use crate::request_id::{self, RequestId};
use crate::token_cache::TokenCache;
use crate::{
    admin, admin_keys, admin_ui, dashboard, dead_letters, health, http, licensing, scim, telemetry,
};

pub struct App {
    pub db: Db,
    pub config: Config,
    /// What the filter parser and the PATCH engine accept, from `config`.
    pub limits: Limits,
    /// The operator's bearer token (configured, or generated at start in the embedded default).
    pub admin_token: String,
    /// Woken after each committed write, so the relay or embedded worker picks it up at once.
    pub events_recorded: Arc<Notify>,
    /// SCIM requests by license and status over the last hour (this process).
    pub requests: RequestLog,
    /// Per-tenant request rate limits (this process).
    pub rate_limiter: RateLimiter,
    /// Per-tenant admission: each tenant's share of this process (limits.rs).
    pub admission: Admission,
    /// Secret tokens resolved by this process, dropped when the authentication epoch moves.
    pub tokens: Arc<TokenCache>,
    /// Whether the relay holds a broker connection (distributed mode), for `/readyz`.
    pub broker_connected: Arc<AtomicBool>,
    pub scim_requests: ScimCounters,
    pub history: History,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl AppState {
    pub fn new(db: Db, config: Config, admin_token: String) -> Self {
        AppState(Arc::new(App {
            db,
            rate_limiter: RateLimiter::new(config.rate_limit_per_sec, config.rate_limit_burst),
            tokens: Arc::default(),
            admission: Admission::new(
                config.tenant_max_in_flight,
                std::time::Duration::from_millis(config.tenant_max_wait_ms),
            ),
            limits: config.limits(),
            config,
            admin_token,
            events_recorded: Arc::new(Notify::new()),
            requests: RequestLog::default(),
            broker_connected: Arc::new(AtomicBool::new(false)),
            scim_requests: ScimCounters::default(),
            history: History::default(),
        }))
    }

    /// Runs a write (SCIM or admin) in one transaction together with the licensing event it
    /// causes, so that nothing acknowledged can miss its licensing. `work` is given the license
    /// id and returns its result and what it touched.
    pub async fn write_with_event<T, F>(
        &self,
        license_id: String,
        request: &RequestId,
        work: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, &str) -> Result<(T, Change)> + Send + 'static,
    {
        let request_id = request.0.clone();
        let result = self
            .0
            .db
            .write(move |c| {
                let (result, change) = work(c, &license_id)?;
                let recorded = !change.is_empty();
                if recorded {
                    outbox::enqueue(c, &license_id, &change, Some(&request_id))?;
                }
                Ok((result, recorded))
            })
            .await?;
        let (result, recorded) = result;
        if recorded {
            metrics::counter!(EVENTS_RECORDED).increment(1);
        }
        self.0.events_recorded.notify_one();
        Ok(result)
    }
}

impl AppState {
    /// Runs a change of credentials or license settings (`commands`, `licenses::update`) in one
    /// write transaction, then drops this process's cached tokens, so the change holds here at
    /// once (and on other processes within `token_cache::POLL`).
    pub async fn write_credentials<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let result = self.0.db.write(work).await;
        self.0.tokens.forget();
        result
    }
}

pub fn router(state: AppState) -> Router {
    let scim = scim::routes(&state).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        activity::count_requests,
    ));
    Router::new()
        // `/scim/v2` is the Tenant URL we hand out; `/api/v1/scim` is the seed product's path.
        .nest("/scim/v2", scim.clone())
        .nest("/api/v1/scim", scim)
        .route(
            "/api/v1/licenses",
            post(admin::create_license).get(admin::list_licenses),
        )
        .route(
            "/api/v1/licenses/{license_id}",
            get(admin::get_license).patch(licensing::update_license),
        )
        .route(
            "/api/v1/licenses/{license_id}/sync",
            get(admin::sync_health),
        )
        .route(
            "/api/v1/licenses/{license_id}/groups",
            get(licensing::synced_groups),
        )
        .route(
            "/api/v1/licenses/{license_id}/licensed-groups",
            get(licensing::licensed_groups).put(licensing::set_licensed_groups),
        )
        .route("/api/v1/licenses/{license_id}/seats", get(licensing::seats))
        .route(
            "/api/v1/licenses/{license_id}/audit",
            get(licensing::audit_trail),
        )
        .route(
            "/api/v1/licenses/{license_id}/reconcile",
            post(licensing::reconcile),
        )
        .route("/api/v1/entitlements", get(licensing::entitlements))
        .route(
            "/api/v1/licenses/{license_id}/tokens",
            post(admin::issue_token).get(admin::list_tokens),
        )
        .route(
            "/api/v1/licenses/{license_id}/tokens/{token_id}",
            axum::routing::delete(admin::revoke_token),
        )
        // License admin keys (operator API) and the license admin's web pages under /admin.
        .route(
            "/api/v1/licenses/{license_id}/admin-keys",
            post(admin_keys::create).get(admin_keys::list),
        )
        .route(
            "/api/v1/licenses/{license_id}/admin-keys/{key_id}",
            axum::routing::delete(admin_keys::revoke),
        )
        .merge(admin_ui::routes())
        // Operator surfaces: health, metrics, dashboard, dead letters.
        .route(
            &format!("{}/{{reason}}", http::wire::REJECTED_PATH),
            get(http::rejected),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(telemetry::metrics))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/dashboard.js", get(dashboard::script))
        .route("/dashboard/dashboard.css", get(dashboard::style))
        .route("/api/v1/dashboard", get(dashboard::data))
        .route("/api/v1/dead-letters", get(dead_letters::list))
        .route(
            "/api/v1/dead-letters/{id}/replay",
            post(dead_letters::replay),
        )
        .route_layer(axum::middleware::from_fn(telemetry::matched_route))
        .fallback(|| async { ApiError(Error::NotFound("no such endpoint".into())) })
        .method_not_allowed_fallback(|| async { ApiError(Error::MethodNotAllowed) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}
