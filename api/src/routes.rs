//! Every route the server answers, in one place, with the layers around them.

use axum::Router;
use axum::routing::{delete, get, post};

use crate::admin::{
    admin_keys, dead_letters, events, health, licenses, licensing, policies, requests,
    seat_history, setup_links, webhooks,
};
use crate::admin_ui::{
    self, audit, events as event_pages, groups as group_pages, overview, policies as policy_pages,
    provisioning, requests as request_pages, seats as seat_pages, setup, sign_in,
    webhooks as webhook_pages,
};
use crate::http::error::ApiError;
use crate::http::{self, limits, request_id, telemetry};
use crate::scim::{discovery, groups, search, users};
use crate::state::AppState;
use crate::{dashboard, scim};

pub fn router(state: AppState) -> Router {
    let scim = scim_routes(&state).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        scim::activity::count_requests,
    ));
    Router::new()
        // `/scim/v2` is the Tenant URL we hand out; `/api/v1/scim` is the seed product's path.
        .nest("/scim/v2", scim.clone())
        .nest("/api/v1/scim", scim)
        .route(
            "/api/v1/licenses",
            post(licenses::create_license).get(licenses::list_licenses),
        )
        .route(
            "/api/v1/licenses/{license_id}",
            get(licenses::get_license).patch(licensing::update_license),
        )
        .route(
            "/api/v1/licenses/{license_id}/sync",
            get(licenses::sync_health),
        )
        .route(
            "/api/v1/licenses/{license_id}/groups",
            get(licensing::synced_groups),
        )
        .route(
            "/api/v1/licenses/{license_id}/licensed-groups",
            get(licensing::licensed_groups).put(licensing::set_licensed_groups),
        )
        .route(
            "/api/v1/licenses/{license_id}/policy",
            get(policies::get_policy).patch(policies::patch_policy),
        )
        .route(
            "/api/v1/licenses/{license_id}/true-up",
            get(policies::true_up),
        )
        .route(
            "/api/v1/licenses/{license_id}/true-up/settle",
            post(policies::settle_true_up),
        )
        .route("/api/v1/licenses/{license_id}/seats", get(licensing::seats))
        .route(
            "/api/v1/licenses/{license_id}/seats/totals",
            get(seat_history::totals),
        )
        .route(
            "/api/v1/licenses/{license_id}/seat-history",
            get(seat_history::list),
        )
        .route(
            "/api/v1/licenses/{license_id}/seat-history/peak",
            get(seat_history::peak),
        )
        .route(
            "/api/v1/licenses/{license_id}/audit",
            get(licensing::audit_trail),
        )
        .route(
            "/api/v1/licenses/{license_id}/requests",
            get(requests::list),
        )
        .route(
            "/api/v1/licenses/{license_id}/reconcile",
            post(licensing::reconcile),
        )
        .route("/api/v1/entitlements", get(licensing::entitlements))
        .route(
            "/api/v1/licenses/{license_id}/events",
            get(events::license_events),
        )
        .route("/api/v1/events", get(events::all_events))
        .route(
            "/api/v1/licenses/{license_id}/tokens",
            post(licenses::issue_token).get(licenses::list_tokens),
        )
        .route(
            "/api/v1/licenses/{license_id}/tokens/{token_id}",
            delete(licenses::revoke_token),
        )
        // License admin keys (operator API) and the license admin's web pages under /admin.
        .route(
            "/api/v1/licenses/{license_id}/admin-keys",
            post(admin_keys::create).get(admin_keys::list),
        )
        .route(
            "/api/v1/licenses/{license_id}/admin-keys/{key_id}",
            delete(admin_keys::revoke),
        )
        // Setup links (operator API): a single-use link into one license's admin pages.
        .route(
            "/api/v1/licenses/{license_id}/setup-links",
            post(setup_links::create).get(setup_links::list),
        )
        .route(
            "/api/v1/licenses/{license_id}/setup-links/{link_id}",
            delete(setup_links::revoke),
        )
        // Webhooks: a license's, and the deployment-wide ones (the operator's).
        .merge(webhook_routes("/api/v1/licenses/{license_id}/webhooks"))
        .merge(webhook_routes("/api/v1/webhooks"))
        .merge(admin_pages())
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
        .fallback(|| async { ApiError::no_such_endpoint() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
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

/// A tenant's SCIM endpoints: its resources (authenticated by its secret token, and admitted in
/// turn), then the discovery documents (public: the same for every tenant). A path no route
/// matched is tried once more in its canonical form (`scim::paths`).
fn scim_routes(state: &AppState) -> Router<AppState> {
    let endpoints = Router::new()
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
            http::auth::tenant,
        ))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema));
    let canonical = endpoints
        .clone()
        .fallback(|| async { ApiError::no_such_endpoint() })
        .with_state(state.clone());
    endpoints.fallback(move |request| scim::paths::retry_canonical(canonical.clone(), request))
}

/// The webhook endpoints under `base`, with or without a license in the path.
fn webhook_routes(base: &str) -> Router<AppState> {
    let item = format!("{base}/{{webhook_id}}");
    Router::new()
        .route(base, post(webhooks::create).get(webhooks::list))
        .route(
            &item,
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            &format!("{item}/rotate-secret"),
            post(webhooks::rotate_secret),
        )
        .route(&format!("{item}/resume"), post(webhooks::resume))
        .route(&format!("{item}/deliveries"), get(webhooks::deliveries))
        .route(&format!("{item}/redeliver"), post(webhooks::redeliver))
}

/// The license admin's pages under `/admin`.
fn admin_pages() -> Router<AppState> {
    Router::new()
        .route("/admin", get(sign_in::home))
        .route("/admin/", get(sign_in::home))
        .route(
            "/admin/login",
            get(sign_in::login_form).post(sign_in::login),
        )
        .route("/admin/logout", post(sign_in::logout))
        .route(
            "/admin/setup/{secret}",
            get(setup::landing).post(setup::open),
        )
        .route("/admin/assets/style.css", get(admin_ui::style))
        .route("/admin/assets/app.js", get(admin_ui::script))
        .route("/admin/licenses/{license_id}", get(overview::overview))
        .route(
            "/admin/licenses/{license_id}/checklist",
            get(overview::checklist_fragment),
        )
        .route(
            "/admin/licenses/{license_id}/provisioning",
            get(provisioning::provisioning).post(provisioning::provisioning_action),
        )
        .route(
            "/admin/licenses/{license_id}/groups",
            get(group_pages::groups).post(group_pages::groups_confirm),
        )
        .route(
            "/admin/licenses/{license_id}/groups/preview",
            post(group_pages::groups_preview),
        )
        .route("/admin/licenses/{license_id}/seats", get(seat_pages::seats))
        .route(
            "/admin/licenses/{license_id}/seats.csv",
            get(seat_pages::seats_csv),
        )
        .route(
            "/admin/licenses/{license_id}/policies",
            get(policy_pages::policies).post(policy_pages::policies_apply),
        )
        .route(
            "/admin/licenses/{license_id}/policies/preview",
            post(policy_pages::policies_preview),
        )
        .route(
            "/admin/licenses/{license_id}/policies/settle",
            post(policy_pages::true_up_settle),
        )
        .route("/admin/licenses/{license_id}/audit", get(audit::audit))
        .route(
            "/admin/licenses/{license_id}/requests",
            get(request_pages::requests),
        )
        .route(
            "/admin/licenses/{license_id}/events",
            get(event_pages::events),
        )
        .route(
            "/admin/licenses/{license_id}/webhooks",
            get(webhook_pages::webhooks).post(webhook_pages::webhooks_action),
        )
        .route(
            "/admin/licenses/{license_id}/webhooks/{webhook_id}",
            get(webhook_pages::deliveries),
        )
}
