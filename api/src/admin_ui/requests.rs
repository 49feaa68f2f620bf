//! The SCIM request log: the identity provider's requests, newest first, searchable by status,
//! method, path and request id, each expandable to the events and seat decisions it caused.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};

use crate::admin::requests::{self, LoggedRequest, RequestSearch};
use crate::admin_ui::session::{Session, license_for};
use crate::admin_ui::view::{PAGE_ROWS, PageResult, Tab, license_page, link_with, when};
use crate::http::body::Path;
use crate::state::AppState;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

pub async fn requests(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(search): Query<RequestSearch>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let mut query = search.query()?;
    query.limit = query.limit.min(PAGE_ROWS);
    let page = requests::search(&state, license_id, query).await?;
    let field = |f: &Option<String>| f.clone().unwrap_or_default().trim().to_owned();
    let (status, method, path, request_id) = (
        field(&search.status),
        field(&search.method).to_ascii_uppercase(),
        field(&search.path),
        field(&search.request_id),
    );
    let base = format!("/admin/licenses/{}/requests", license.id);
    let filters = [
        ("status", status.as_str()),
        ("method", method.as_str()),
        ("path", path.as_str()),
        ("request_id", request_id.as_str()),
    ];
    let filtered = filters.iter().any(|(_, v)| !v.is_empty());
    license_page(
        &state,
        &license,
        Tab::Requests,
        "Requests",
        html! {
            h1 { "Requests" }
            p { "Your identity provider's SCIM requests, newest first, kept "
                (state.config.request_log_retention_days) " days. Query values that may hold personal data are not kept." }
            form.search role="search" method="get" {
                label for="req-status" { "Status" }
                input #req-status type="search" name="status" value=(status) placeholder="400 or 4xx" size="6";
                label for="req-method" { "Method" }
                select #req-method name="method" {
                    option value="" selected[method.is_empty()] { "any" }
                    @for m in METHODS { option value=(m) selected[method == m] { (m) } }
                }
                label for="req-path" { "Path contains" }
                input #req-path type="search" name="path" value=(path);
                label for="req-id" { "Request id" }
                input #req-id type="search" name="request_id" value=(request_id);
                button type="submit" { "Search" }
                @if filtered { a.button href=(base) { "Show all" } }
            }
            @if page.requests.is_empty() {
                p.muted { "No requests match." }
            } @else {
                table #requests {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Method" } th scope="col" { "Path" }
                        th scope="col" { "Status" } th scope="col" { "Latency" } th scope="col" { "Request id" }
                        th scope="col" { "Caused" }
                    } }
                    tbody { @for r in &page.requests { (row(&license.id, r)) } }
                }
            }
            @if let Some(before) = page.next_before {
                p { a #older href=(link_with(&base, &[filters.as_slice(), &[("before", before.to_string().as_str())]].concat())) { "Older requests →" } }
            }
        },
    )
    .await
}

fn row(license_id: &str, r: &LoggedRequest) -> Markup {
    let q = &r.request;
    let caused = r.events.len() + r.seat_decisions.len();
    html! {
        tr class=[r.failure.then_some("failed")] {
            td { (when(&q.created_at)) }
            td { (q.method) }
            td { code { (q.path) } }
            td { span class={ "pill " @if r.failure { "failed" } @else { "ok" } } { (q.status) } }
            td { (q.latency_us / 1000) "." ((q.latency_us % 1000) / 100) " ms" }
            td { @if let Some(id) = &q.request_id { code { (id) } } }
            td {
                @if caused == 0 {
                    span.muted { "nothing" }
                } @else {
                    details {
                        summary { (r.events.len()) " events, " (r.seat_decisions.len()) " seat decisions" }
                        @if !r.events.is_empty() {
                            ul.events { @for e in &r.events {
                                li { span class="pill" { (e.event_type) } @if let Some(s) = &e.subject { " " code { (s) } } }
                            } }
                        }
                        @if !r.seat_decisions.is_empty() {
                            ul.decisions { @for d in &r.seat_decisions {
                                li {
                                    span class={ "pill " (d.action) } { (d.action.replace('_', " ")) }
                                    @if let Some(subject) = &d.subject {
                                        " " a href={ "/admin/licenses/" (license_id) "/audit?user=" (subject) } { (subject) }
                                    }
                                }
                            } }
                        }
                    }
                }
            }
        }
    }
}
