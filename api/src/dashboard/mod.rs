//! The operators' live dashboard: `/dashboard` serves a static page (embedded in the binary, no
//! build step) that signs in with the operator token and polls `/api/v1/dashboard`.
//!
//! Sign-in keeps the token in the tab's `sessionStorage` and sends it as a Bearer header, like
//! every other admin call: no cookie means no CSRF exposure for the replay button, the token
//! never appears in a URL, and closing the tab forgets it.

pub mod history;
pub mod sampler;
pub mod webhooks;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use seatflow_queue::monitor::{self, LicenseLoad};
use seatflow_queue::outbox::DeadLetter;
use seatflow_store::{time, webhook_monitor};
use serde::Serialize;

use crate::http::auth::Operator;
use crate::http::error::ApiResult;
use crate::state::AppState;
use history::{Sample, StatusCounts};

/// Dead letters listed on the page (the newest); the count is always complete.
const DEAD_LETTERS_SHOWN: i64 = 50;

pub async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("dashboard.js"),
    )
}

pub async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("dashboard.css"),
    )
}

#[derive(Debug, Serialize)]
pub struct Dashboard {
    /// `embedded` or `rabbitmq`.
    pub mode: &'static str,
    pub sample_every_secs: u64,
    /// SCIM responses of this process since it started, by status class.
    pub scim_requests_total: StatusCounts<u64>,
    /// Oldest first; the last is the current reading.
    pub samples: Vec<Sample>,
    /// The licenses with the most seats (`SEATFLOW_METRICS_MAX_LICENSES`), read now.
    pub licenses: Vec<LicenseLoad>,
    pub dead_letter_count: i64,
    pub dead_letters: Vec<DeadLetter>,
    /// Webhook delivery attempts of the last hour, read now.
    pub webhook_deliveries_last_hour: webhook_monitor::Outcomes,
}

/// `GET /api/v1/dashboard`: everything the page shows.
pub async fn data(_: Operator, State(state): State<AppState>) -> ApiResult<Json<Dashboard>> {
    let limit = state.config.metrics_max_licenses;
    let hour_ago = time::before(Duration::from_secs(3600));
    let (licenses, dead_letter_count, dead_letters, webhook_deliveries_last_hour) = state
        .db
        .read(move |c| {
            Ok((
                monitor::top_licenses(c, limit)?,
                monitor::dead_count(c)?,
                monitor::recent_dead_letters(c, DEAD_LETTERS_SHOWN)?,
                webhook_monitor::outcomes_since(c, &hour_ago)?,
            ))
        })
        .await?;
    Ok(Json(Dashboard {
        mode: if state.config.amqp_url.is_some() {
            "rabbitmq"
        } else {
            "embedded"
        },
        sample_every_secs: sampler::EVERY.as_secs(),
        scim_requests_total: state.scim_requests.totals(),
        samples: state.history.samples(),
        licenses,
        dead_letter_count,
        dead_letters,
        webhook_deliveries_last_hour,
    }))
}
