//! The license admin's web pages under `/admin`: sign-in (per-license admin key, setup link or
//! operator token), the license overview with a live setup checklist, automatic provisioning (Tenant URL,
//! tokens), licensed-group selection with a dry-run impact, seats, the licensing policies with
//! their preview and the true-up, the audit timeline, the SCIM request log, the change feed's
//! events and the license's webhooks.
//! Server-rendered with maud; the stylesheet and the little JavaScript are embedded.
//!
//! One module per tab. Every read goes through the same store functions as the admin API, and
//! every change through `commands` (`AppState::command`), as the API's do.

pub mod audit;
mod checklist;
pub mod events;
mod form;
pub mod groups;
pub mod overview;
pub mod policies;
pub mod provisioning;
pub mod requests;
pub mod seats;
pub mod session;
pub mod setup;
pub mod sign_in;
mod view;
pub mod webhooks;

use axum::http::header;
use axum::response::IntoResponse;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
}
