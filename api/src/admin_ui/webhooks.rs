//! The license's webhooks: its endpoints with their state (enabled, failing, last error, how
//! far behind the feed), create (the secret shown once), enable or disable, rotate the secret,
//! resume, delete, and each endpoint's delivery log with redelivery of an event. The same
//! store functions as the operator's webhook API (`admin::webhooks`).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use seatflow_feed::event::FeedEvent;
use seatflow_feed::log;
use seatflow_feed::webhooks::attempts;
use seatflow_feed::webhooks::deliver::{self, Sender};
use seatflow_feed::webhooks::endpoints::{self, Endpoint, EndpointChange, NewEndpoint, Status};
use seatflow_store::db::DbConn;
use seatflow_store::{Result, ScimType};
use serde::Deserialize;

use crate::admin_ui::form::see_other;
use crate::admin_ui::session::{self, LicenseForm, Session, license_for};
use crate::admin_ui::view::{
    PAGE_ROWS, PageResult, Tab, copy_field, csrf_field, license_page, when, when_opt,
};
use crate::commands;
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// A new or rotated secret travels to the page that shows it once in a short-lived cookie
/// (post/redirect/get, as provisioning's tokens do).
const SECRET_COOKIE: &str = "seatflow_webhook_secret";

/// Events behind counted at most (a longer backlog shows as "more than").
const LAG_COUNTED: i64 = 1000;

/// How far an endpoint is behind the license's feed: its undelivered events (up to
/// [`LAG_COUNTED`]) and the oldest one.
struct Lag {
    events: usize,
    oldest: Option<FeedEvent>,
}

fn lag(conn: &mut DbConn, endpoint: &Endpoint) -> Result<Lag> {
    let behind = log::list(
        conn,
        &log::Query {
            license_id: endpoint.license_id.clone(),
            after: endpoint.cursor,
            limit: LAG_COUNTED + 1,
            types: endpoint.filter()?,
        },
    )?;
    Ok(Lag {
        events: behind.len(),
        oldest: behind.into_iter().next(),
    })
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Retrying => "retrying",
        Status::Failing => "failing",
        Status::Disabled => "disabled",
    }
}

pub async fn webhooks(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    headers: HeaderMap,
) -> PageResult<Response> {
    let license = license_for(&state, &session, &license_id).await?;
    // "{license}:{endpoint}:{secret}"
    let shown = session::shown_once(&headers, SECRET_COOKIE, &license_id)
        .map(|[endpoint, secret]| (endpoint, secret));
    let id = license_id.clone();
    let listed = state
        .db
        .read(move |c| {
            let all = endpoints::list(c, Some(&id))?;
            all.into_iter()
                .map(|e| Ok((lag(c, &e)?, e)))
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    let csrf = session.csrf(&state);
    let action = format!("/admin/licenses/{}/webhooks", license.id);
    let button = |endpoint: &Endpoint,
                  name: &str,
                  label: &str,
                  class: &str,
                  confirm: Option<&str>| {
        html! {
            form.inline method="post" action=(action) data-confirm=[confirm] {
                (csrf_field(&csrf))
                input type="hidden" name="action" value=(name);
                input type="hidden" name="webhook_id" value=(endpoint.id);
                button class=(class) type="submit" aria-label={ (label) " " (endpoint.url) } { (label) }
            }
        }
    };
    let body = license_page(
        &state,
        &license,
        Tab::Webhooks,
        "Webhooks",
        html! {
            h1 { "Webhooks" }
            p { "Endpoints that receive this license's "
                a href={ "/admin/licenses/" (license.id) "/events" } { "events" }
                ", in order, signed with their secret (Standard Webhooks). A failing endpoint is retried with backoff, then stops until resumed." }
            @if let Some((endpoint, secret)) = &shown {
                div.secret role="region" aria-label="Webhook secret" {
                    (copy_field("webhook-secret", "Signing secret (shown only now — copy it to your receiver)", secret, "webhook-secret"))
                    p.small.muted { "Endpoint " code { (endpoint) } ". Seatflow shows it only once; if it is lost, rotate." }
                }
            }
            @if listed.is_empty() {
                p.muted { "No webhook yet." }
            } @else {
                table #webhooks {
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "State" }
                        th scope="col" { "Last error" } th scope="col" { "Behind" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for (lag, e) in &listed {
                            tr data-webhook=(e.id) {
                                td { code { (e.url) } }
                                td { @if e.event_types.is_empty() { "all" } @else { (e.event_types.join(", ")) } }
                                td {
                                    span class={ "pill " (status_text(e.status)) } { (status_text(e.status)) }
                                    @if let Some(since) = &e.failing_since { div.small.muted { "failing since " (when(since)) } }
                                }
                                td { @if let Some(error) = &e.last_error { span.small { (error) } } @else { span.muted { "none" } } }
                                td.behind data-events=(lag.events) {
                                    @if lag.events == 0 { "up to date" } @else {
                                        @if i64::try_from(lag.events).unwrap_or(i64::MAX) > LAG_COUNTED { "more than " (LAG_COUNTED) " events" }
                                        @else if lag.events == 1 { "1 event" } @else { (lag.events) " events" }
                                        @if let Some(oldest) = &lag.oldest { div.small.muted { "since " (when(&oldest.timestamp)) } }
                                    }
                                }
                                td.row-actions {
                                    a.button href={ (action) "/" (e.id) } { "Delivery log" }
                                    @if e.enabled { (button(e, "disable", "Disable", "", None)) } @else { (button(e, "enable", "Enable", "", None)) }
                                    @if matches!(e.status, Status::Failing | Status::Retrying) { (button(e, "resume", "Resume", "primary", None)) }
                                    (button(e, "rotate", "Rotate secret", "", Some("Issue a new secret? The current one keeps signing deliveries for 24 hours.")))
                                    (button(e, "delete", "Delete", "danger", Some("Delete this webhook and its delivery log?")))
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Add a webhook" }
            form method="post" action=(action) {
                (csrf_field(&csrf))
                input type="hidden" name="action" value="create";
                label for="webhook-url" { "URL" }
                input #webhook-url type="url" name="url" required placeholder="https://example.com/seatflow";
                label for="webhook-types" { "Event types (comma-separated; empty: all)" }
                input #webhook-types type="text" name="event_types" placeholder="seat.*, user.deleted";
                button.primary type="submit" { "Add webhook" }
            }
        },
    )
    .await?;
    Ok((
        [
            (
                header::SET_COOKIE,
                session::cookie(&state, SECRET_COOKIE, "", 0),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// `event_types` as typed: comma- or space-separated.
fn event_types(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn webhooks_action(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm { license, form, .. }: LicenseForm,
) -> PageResult<Response> {
    let request_id = request.0;
    let license_id = license.id;
    let back = format!("/admin/licenses/{license_id}/webhooks");
    let webhook_id = form.get("webhook_id").unwrap_or_default().to_owned();
    let id = license_id.clone();
    let enable = |enabled: bool| EndpointChange {
        enabled: Some(enabled),
        ..EndpointChange::default()
    };
    let secret = match form.get("action").unwrap_or_default() {
        "create" => {
            let new = NewEndpoint {
                url: form.get("url").unwrap_or_default().trim().to_owned(),
                event_types: event_types(form.get("event_types").unwrap_or_default()),
                enabled: true,
            };
            let created = state
                .db
                .write(move |c| commands::create_webhook(c, Some(&id), new, Some(&request_id)))
                .await?;
            Some((created.endpoint.id, created.secret))
        }
        "rotate" => {
            let rotated = state
                .db
                .write(move |c| {
                    commands::rotate_webhook_secret(c, Some(&id), &webhook_id, Some(&request_id))
                })
                .await?;
            Some((rotated.endpoint.id, rotated.secret))
        }
        action @ ("enable" | "disable") => {
            let change = enable(action == "enable");
            state
                .db
                .write(move |c| {
                    commands::change_webhook(c, Some(&id), &webhook_id, change, Some(&request_id))
                })
                .await?;
            None
        }
        "resume" => {
            state
                .db
                .write(move |c| {
                    commands::resume_webhook(c, Some(&id), &webhook_id, Some(&request_id))
                })
                .await?;
            None
        }
        "delete" => {
            state
                .db
                .write(move |c| {
                    commands::delete_webhook(c, Some(&id), &webhook_id, Some(&request_id))
                })
                .await?;
            None
        }
        "redeliver" => {
            let event_id = form.get("event_id").unwrap_or_default().to_owned();
            let sender = Sender::new(&state.config.webhooks)?;
            deliver::redeliver(&state.db, &sender, Some(id), webhook_id.clone(), event_id).await?;
            return Ok(see_other(&format!(
                "{back}/{webhook_id}?notice=redelivered"
            )));
        }
        _ => {
            return Err(ApiError::bad_request(ScimType::InvalidValue, "unknown action").into());
        }
    };
    Ok(match secret {
        Some((endpoint, secret)) => {
            let flash = format!("{license_id}:{endpoint}:{secret}");
            (
                [(
                    header::SET_COOKIE,
                    session::cookie(&state, SECRET_COOKIE, &flash, 60),
                )],
                see_other(&back),
            )
                .into_response()
        }
        None => see_other(&back),
    })
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub license_id: String,
    pub webhook_id: String,
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

/// One endpoint's delivery log, newest first, each attempt's event redeliverable.
pub async fn deliveries(
    State(state): State<AppState>,
    session: Session,
    Path(item): Path<Item>,
    axum::extract::Query(notice): axum::extract::Query<Notice>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &item.license_id).await?;
    let id = license.id.clone();
    let (endpoint, log) = state
        .db
        .read(move |c| {
            let endpoint = endpoints::get(c, Some(&id), &item.webhook_id)?;
            let log = attempts::list(c, &endpoint.id, None, PAGE_ROWS)?;
            Ok((endpoint, log))
        })
        .await?;
    let csrf = session.csrf(&state);
    let action = format!("/admin/licenses/{}/webhooks", license.id);
    license_page(
        &state,
        &license,
        Tab::Webhooks,
        "Delivery log",
        html! {
            h1 { "Delivery log" }
            p { "Endpoint " code { (endpoint.url) } " — " (status_text(endpoint.status)) ". "
                a href=(action) { "All webhooks" } }
            @if notice.notice.as_deref() == Some("redelivered") {
                p.notice role="status" { "Sent again; the attempt is at the top of the log." }
            }
            @if log.is_empty() {
                p.muted { "Nothing delivered yet." }
            } @else {
                table #deliveries {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Attempt" }
                        th scope="col" { "Answer" } th scope="col" { "Latency" } th scope="col" { "Error" }
                        th scope="col" { span.visually-hidden { "Redeliver" } }
                    } }
                    tbody {
                        @for a in &log {
                            tr {
                                td { (when(&a.created_at)) }
                                td { span.pill { (a.event_type) } " " code.small { (a.event_id) } }
                                td { (a.attempt) @if a.manual { " (manual)" } }
                                td { (answer(a.status_code)) }
                                td { (a.latency_ms) " ms" }
                                td { (when_error(a.error.as_deref())) }
                                td {
                                    form.inline method="post" action=(action) {
                                        (csrf_field(&csrf))
                                        input type="hidden" name="action" value="redeliver";
                                        input type="hidden" name="webhook_id" value=(endpoint.id);
                                        input type="hidden" name="event_id" value=(a.event_id);
                                        button type="submit" aria-label={ "Redeliver " (a.event_id) } { "Redeliver" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.small.muted { "Created " (when(&endpoint.created_at)) "; next attempt " (when_opt(Some(&endpoint.next_attempt_at))) "." }
        },
    )
    .await
}

fn answer(status_code: Option<i32>) -> Markup {
    match status_code {
        Some(code) if (200..300).contains(&code) => html! { span.pill.ok { (code) } },
        Some(code) => html! { span.pill.failed { (code) } },
        None => html! { span.muted { "no answer" } },
    }
}

fn when_error(error: Option<&str>) -> Markup {
    match error {
        Some(error) => html! { span.small { (error) } },
        None => html! { span.muted { "—" } },
    }
}
