//! The license admin's web pages under `/admin`: sign-in (per-license admin key or operator
//! token), the license overview with a live setup checklist, automatic provisioning (Tenant URL,
//! tokens), licensed-group selection with a dry-run impact, seats and the audit timeline.
//! Server-rendered with maud; the stylesheet and the little JavaScript are embedded.
//!
//! Every read and write goes through the same store functions as the admin API, and licensing
//! writes through `licensing::select_groups` / `licensing::change_license`
//! (`AppState::write_with_event`).

mod checklist;
mod pages;
pub mod session;
mod view;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::app::AppState;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(pages::home))
        .route("/admin/", get(pages::home))
        .route("/admin/login", get(pages::login_form).post(pages::login))
        .route("/admin/logout", post(pages::logout))
        .route("/admin/assets/style.css", get(style))
        .route("/admin/assets/app.js", get(script))
        .route("/admin/licenses/{license_id}", get(pages::overview))
        .route(
            "/admin/licenses/{license_id}/checklist",
            get(pages::checklist_fragment),
        )
        .route(
            "/admin/licenses/{license_id}/provisioning",
            get(pages::provisioning).post(pages::provisioning_action),
        )
        .route(
            "/admin/licenses/{license_id}/groups",
            get(pages::groups).post(pages::groups_confirm),
        )
        .route(
            "/admin/licenses/{license_id}/groups/preview",
            post(pages::groups_preview),
        )
        .route("/admin/licenses/{license_id}/seats", get(pages::seats))
        .route(
            "/admin/licenses/{license_id}/seats.csv",
            get(pages::seats_csv),
        )
        .route("/admin/licenses/{license_id}/audit", get(pages::audit))
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
}
