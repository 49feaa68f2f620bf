//! The license overview: seats (held, in grace, waiting, reserved), licensed groups and the live
//! setup checklist.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use seatflow_queue::outbox;
use seatflow_store::groups::{self, SyncedGroup};
use seatflow_store::licenses::License;
use seatflow_store::seats::{self};
use serde::Deserialize;

use crate::admin::seat_history;
use crate::admin_ui::checklist::{self, SetupState};
use crate::admin_ui::session::{Session, SignIn};
use crate::admin_ui::view::{PageError, PageResult, Tab};
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::state::AppState;

use crate::admin_ui::session::license_for;
use crate::admin_ui::view::license_page;

/// What the setup checklist shows of a license now.
pub(crate) async fn setup_state(state: &AppState, license: License) -> PageResult<SetupState> {
    let requests_last_hour = state.requests.last_hour(&license.id);
    let id = license.id.clone();
    let (counts, events) = state
        .db
        .read(move |c| Ok((seats::setup_counts(c, &id)?, outbox::stats(c, &id)?)))
        .await?;
    Ok(SetupState {
        license,
        counts,
        events,
        requests_last_hour,
    })
}

pub(crate) async fn licensed_group_rows(
    state: &AppState,
    license_id: &str,
) -> PageResult<Vec<SyncedGroup>> {
    let id = license_id.to_owned();
    let all = state
        .db
        .read(move |c| groups::synced(c, &id, None, 0, 100_000))
        .await?;
    Ok(all.into_iter().filter(|g| g.licensed).collect())
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(notice): Query<Notice>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let licensed = licensed_group_rows(&state, &license_id).await?;
    let setup = setup_state(&state, license.clone()).await?;
    let id = license_id.clone();
    let totals = state
        .db
        .read(move |c| seat_history::current_totals(c, &id))
        .await?;
    let pct = if totals.seats > 0 {
        (totals.used * 100 / totals.seats).min(100)
    } else {
        100
    };
    license_page(
        &state,
        &license,
        Tab::Overview,
        &license.name,
        html! {
            h1 { (license.name) }
            @if license.error_rate_warned {
                p.warning #error-rate-warning role="alert" {
                    strong { "Many of your identity provider's requests are failing." }
                    " Microsoft Entra quarantines an application when more than 40% of its requests fail. "
                    a href={ "/admin/licenses/" (license.id) "/requests?status=4xx" } { "See the failed requests" }
                    " (and " a href={ "/admin/licenses/" (license.id) "/requests?status=5xx" } { "server errors" } ")."
                }
            }
            @if notice.notice.as_deref() == Some("groups") {
                p.notice role="status" { "Licensed groups saved. Seats follow within seconds — watch the checklist." }
            }
            section aria-labelledby="seats-h" {
                h2 #seats-h { "Seats" }
                div.bar role="progressbar" aria-label="Seats used" aria-valuemin="0" aria-valuemax=(totals.seats) aria-valuenow=(totals.used) {
                    div.fill style={ "width:" (pct) "%" } {}
                }
                p.big { strong #seats-used { (totals.used) } " of " (totals.seats) " seats used" }
                dl.stats {
                    div { dt { "Assigned" } dd #assigned-count { (totals.used) } }
                    div { dt { "In grace" } dd #in-grace-count { (totals.in_grace) } }
                    div { dt { "Waiting (blocked)" } dd #blocked-count { a href={ "/admin/licenses/" (license.id) "/seats?status=blocked" } { (totals.blocked) } } }
                    div { dt { "Reserved" } dd #reserved-count { a href={ "/admin/licenses/" (license.id) "/policies" } { (totals.reserved) } } }
                    div { dt { "Available" } dd #available-count { (totals.available) } }
                    div { dt { "Provisioning" } dd { @if license.provisioning_enabled { "enabled" } @else { "disabled" } } }
                }
            }
            section aria-labelledby="groups-h" {
                h2 #groups-h { "Licensed groups" }
                @if licensed.is_empty() {
                    p { "No licensed group yet. " a href={ "/admin/licenses/" (license.id) "/groups" } { "Select a group" } " whose members get seats." }
                } @else {
                    ul #licensed-groups {
                        @for g in &licensed { li { strong { (g.display_name) } " — " (g.members) " members" } }
                    }
                    p { a href={ "/admin/licenses/" (license.id) "/groups" } { "Change licensed groups" } }
                }
            }
            (checklist::section(&setup))
        },
    )
    .await
}

pub async fn checklist_fragment(
    State(state): State<AppState>,
    session: Result<Session, SignIn>,
    Path(license_id): Path<String>,
) -> PageResult<Response> {
    let session = session.map_err(|_| PageError(ApiError::Unauthorized("signed out".into())))?;
    let license = license_for(&state, &session, &license_id).await?;
    let setup = setup_state(&state, license).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(checklist::render(&setup).into_string()),
    )
        .into_response())
}
