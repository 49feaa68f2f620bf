//! The license's change feed: its events, newest first, filterable by type or family, each
//! with its data and the request that caused it.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use seatflow_feed::EventType;
use seatflow_feed::event::TypeFilter;
use seatflow_store::ScimType;
use serde::Deserialize;

use crate::admin_ui::session::{Session, license_for};
use crate::admin_ui::view::{PAGE_ROWS, PageResult, Tab, license_page, link_with, when};
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct EventFilter {
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// A sequence number: events before it (the next, older page).
    pub before: Option<String>,
}

/// The families (`seat.*`) of the catalogue, in its order.
fn families() -> Vec<&'static str> {
    let mut families: Vec<&str> = Vec::new();
    for t in EventType::ALL {
        let family = t.as_str().split('.').next().unwrap_or_default();
        if !families.contains(&family) {
            families.push(family);
        }
    }
    families
}

pub async fn events(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(filter): Query<EventFilter>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let chosen = filter
        .event_type
        .clone()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let types = if chosen.is_empty() {
        TypeFilter::default()
    } else {
        TypeFilter::new(vec![chosen.clone()])
            .map_err(|e| ApiError::bad_request(ScimType::InvalidValue, e))?
    };
    let before = match filter
        .before
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| {
            ApiError::bad_request(
                ScimType::InvalidValue,
                "before must be an event's sequence number",
            )
        })?),
    };
    let id = license_id.clone();
    let rows = state
        .db
        .read(move |c| seatflow_feed::log::newest_first(c, &id, &types, before, PAGE_ROWS))
        .await?;
    let base = format!("/admin/licenses/{}/events", license.id);
    let requests = format!("/admin/licenses/{}/requests", license.id);
    license_page(
        &state,
        &license,
        Tab::Events,
        "Events",
        html! {
            h1 { "Events" }
            p { "Every change to this license as the change feed tells it (and webhooks deliver it), newest first." }
            form.search role="search" method="get" {
                label for="event-type" { "Type" }
                select #event-type name="type" {
                    option value="" selected[chosen.is_empty()] { "all" }
                    @for family in families() {
                        @let value = format!("{family}.*");
                        option value=(value) selected[chosen == value] { (family) ".* (all " (family) " events)" }
                    }
                    @for t in EventType::ALL {
                        option value=(t.as_str()) selected[chosen == t.as_str()] { (t.as_str()) }
                    }
                }
                button type="submit" { "Filter" }
                @if !chosen.is_empty() { a.button href=(base) { "Show all" } }
            }
            @if rows.is_empty() {
                p.muted { "No events yet." }
            } @else {
                table #events {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Type" } th scope="col" { "Subject" }
                        th scope="col" { "Caused by" } th scope="col" { "Data" }
                    } }
                    tbody {
                        @for e in &rows {
                            tr data-sequence=(e.sequence) {
                                td { (when(&e.timestamp)) }
                                td { span class={ "pill " (e.event_type.replace('.', "-")) } { (e.event_type) } }
                                td { @if let Some(s) = &e.subject { code { (s) } } }
                                td { @if let Some(r) = &e.request_id {
                                    a href=(link_with(&requests, &[("request_id", r)])) { code { (r) } }
                                } }
                                td { details { summary { "data" } pre { code { (serde_json::to_string_pretty(&e.data).unwrap_or_default()) } } } }
                            }
                        }
                    }
                }
                @if i64::try_from(rows.len()).unwrap_or(i64::MAX) == PAGE_ROWS {
                    @if let Some(last) = rows.last() {
                        p { a #older href=(link_with(&base, &[("type", chosen.as_str()), ("before", last.sequence.to_string().as_str())])) { "Older events →" } }
                    }
                }
            }
        },
    )
    .await
}
