//! Seats: who holds one, who waits (with reason, priority and queue position), who keeps a
//! seat or place in their release grace period, and the CSV export.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use seatflow_store::seats::{self, SeatQuery};
use serde::Deserialize;

use crate::admin::licensing;
use crate::admin_ui::session::Session;
use crate::admin_ui::view::{PageResult, Tab, when};
use crate::http::body::Path;
use crate::state::AppState;

use crate::admin_ui::session::license_for;
use crate::admin_ui::view::{PAGE_ROWS, license_page};

#[derive(Debug, Deserialize)]
pub struct SeatFilter {
    pub search: Option<String>,
    pub status: Option<String>,
}

fn seat_query(filter: &SeatFilter, limit: i64) -> SeatQuery {
    SeatQuery {
        status: filter
            .status
            .clone()
            .filter(|s| s == seats::ASSIGNED || s == seats::BLOCKED),
        search: filter.search.clone().filter(|s| !s.is_empty()),
        offset: 0,
        limit,
    }
}

fn reason_text(reason: &str) -> &str {
    match reason {
        seats::NO_SEATS_AVAILABLE => "no seats available",
        seats::AWAITING_ADMIN => "a seat is free; waiting for a reprocess",
        seats::NOT_ENTITLED => "not entitled",
        seats::IN_GRACE => "no longer entitled; kept for the grace period",
        other => other,
    }
}

pub async fn seats(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(filter): Query<SeatFilter>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let query = seat_query(&filter, PAGE_ROWS);
    let id = license_id.clone();
    let rows = state.db.read(move |c| seats::list(c, &id, &query)).await?;
    let search = filter.search.clone().unwrap_or_default();
    let status = filter.status.clone().unwrap_or_default();
    let csv = format!(
        "/admin/licenses/{}/seats.csv?{}",
        license.id,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("search", &search)
            .append_pair("status", &status)
            .finish()
    );
    license_page(
        &state,
        &license,
        Tab::Seats,
        "Seats",
        html! {
            h1 { "Seats" }
            p { (license.seats_used) " of " (license.seats) " seats used." }
            form.search role="search" method="get" {
                label for="seat-search" { "userName contains" }
                input #seat-search type="search" name="search" value=(search);
                label for="seat-status" { "Status" }
                select #seat-status name="status" {
                    option value="" selected[status.is_empty()] { "all" }
                    option value="assigned" selected[status == "assigned"] { "assigned" }
                    option value="blocked" selected[status == "blocked"] { "waiting (blocked)" }
                }
                button type="submit" { "Filter" }
                a.button href=(csv) download { "Export CSV" }
            }
            @if rows.is_empty() {
                p.muted { "No seats match." }
            } @else {
                table #seats {
                    thead { tr { th scope="col" { "userName" } th scope="col" { "Status" } th scope="col" { "Priority" } th scope="col" { "Queue position" } th scope="col" { "Reason" } th scope="col" { "Since" } th scope="col" { span.visually-hidden { "History" } } } }
                    tbody {
                        @for s in &rows {
                            tr data-grace=[s.grace_until.is_some().then_some("true")] {
                                td { (s.user_name) }
                                td {
                                    span class={ "pill " (s.status) } { (s.status) }
                                    @if let Some(until) = &s.grace_until {
                                        " — " span.grace { "in grace until " time datetime=(until) { (when(until)) } }
                                    }
                                }
                                td { (s.priority) }
                                td { @if let Some(p) = s.queue_position { (p) } }
                                td { @if let Some(r) = &s.reason { (reason_text(r)) } }
                                td { (when(&s.since)) }
                                td { a href={ "/admin/licenses/" (license.id) "/audit?user=" (s.user_id) } aria-label={ "History of " (s.user_name) } { "history" } }
                            }
                        }
                    }
                }
                @if rows.len() as i64 == PAGE_ROWS { p.muted { "Showing the first " (PAGE_ROWS) "; narrow the search or export the CSV for all." } }
            }
        },
    )
    .await
}

pub async fn seats_csv(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(filter): Query<SeatFilter>,
) -> PageResult<Response> {
    license_for(&state, &session, &license_id).await?;
    let query = seat_query(&filter, i64::MAX);
    let id = license_id.clone();
    let rows = state.db.read(move |c| seats::list(c, &id, &query)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"seats-{license_id}.csv\""),
            ),
        ],
        licensing::seats_csv(&rows),
    )
        .into_response())
}
