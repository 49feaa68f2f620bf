//! The page frame and the small pieces every admin page uses.

use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use seatflow_store::licenses::License;
use seatflow_store::{Error, policies, seats};

use crate::http::error::{ApiError, with_answer_headers};
use crate::state::AppState;

/// Which tab of a license is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Provisioning,
    Groups,
    Seats,
    Policies,
    Audit,
    Requests,
    Events,
    Webhooks,
}

const TABS: [(Tab, &str, &str); 9] = [
    (Tab::Overview, "", "Overview"),
    (Tab::Provisioning, "/provisioning", "Automatic provisioning"),
    (Tab::Groups, "/groups", "Licensed groups"),
    (Tab::Seats, "/seats", "Seats"),
    (Tab::Policies, "/policies", "Policies"),
    (Tab::Audit, "/audit", "Audit"),
    (Tab::Requests, "/requests", "Requests"),
    (Tab::Events, "/events", "Events"),
    (Tab::Webhooks, "/webhooks", "Webhooks"),
];

/// A whole page: header, optional license tabs, content.
pub fn page(
    title: &str,
    license: Option<(&License, Tab)>,
    signed_in: bool,
    content: Markup,
) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Seatflow" }
                link rel="stylesheet" href="/admin/assets/style.css";
                script src="/admin/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/admin" { "Seatflow" span.sub { " license admin" } }
                    @if signed_in {
                        form method="post" action="/admin/logout" {
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some((license, current)) = license {
                    nav.tabs aria-label="License pages" {
                        span.license-name { (license.name) }
                        ul {
                            @for (tab, path, label) in TABS {
                                li {
                                    a href={ "/admin/licenses/" (license.id) (path) }
                                      aria-current=[(tab == current).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                }
                main #main { (content) }
            }
        }
    };
    Html(markup.into_string())
}

/// A value with a copy button; `copy_id` names the copy step for the setup checklist.
pub fn copy_field(id: &str, label: &str, value: &str, copy_id: &str) -> Markup {
    html! {
        div.copy-field {
            label for=(id) { (label) }
            div.copy-row {
                input #(id) type="text" readonly value=(value) spellcheck="false";
                button.copy type="button" data-copy-target=(id) data-copy-step=(copy_id) {
                    "Copy"
                }
                span.copied role="status" aria-live="polite" {}
            }
        }
    }
}

/// A hidden CSRF field for a form.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// "2026-11-29T10:00:00.000000Z" → "2026-11-29 10:00:00 UTC".
pub fn when(ts: &str) -> String {
    let trimmed = ts.split('.').next().unwrap_or(ts).trim_end_matches('Z');
    format!("{} UTC", trimmed.replacen('T', " ", 1))
}

pub fn when_opt(ts: Option<&str>) -> Markup {
    match ts {
        Some(ts) => html! { time datetime=(ts) { (when(ts)) } },
        None => html! { span.muted { "never" } },
    }
}

/// Most rows a page lists (the CSV export has them all).
pub const PAGE_ROWS: i64 = 500;

/// A page of one license, with its tabs and, while the license overflows under the `notify`
/// policy, the banner saying so (whichever tab the admin is on).
pub async fn license_page(
    state: &AppState,
    license: &License,
    tab: Tab,
    title: &str,
    content: Markup,
) -> PageResult<Html<String>> {
    let id = license.id.clone();
    let overflowing = state
        .db
        .read(move |c| match policies::notify_banner(c, &id)? {
            // Counted as the seat engine counts an overflow: waiting and not in grace.
            Some(since) => Ok(Some((since, seats::promotable_count(c, &id)?))),
            None => Ok(None),
        })
        .await?;
    let content = html! {
        @if let Some((since, waiting)) = overflowing {
            p.warning #overflow-banner role="alert" {
                strong { "Seats are full: " (waiting) @if waiting == 1 { " user is" } @else { " users are" } " waiting" }
                " (since " time datetime=(since) { (when(&since)) } "). Overflow policy: notify. "
                a href={ "/admin/licenses/" (license.id) "/seats?status=blocked" } { "See who waits" }
                " or "
                a href={ "/admin/licenses/" (license.id) "/policies" } { "change the policy" } "."
            }
        }
        (content)
    };
    Ok(page(title, Some((license, tab)), true, content))
}

/// An error shown as a page: the same answer as the API's (`http::error`), rendered as HTML.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError(error.into())
    }
}

impl PageError {
    pub fn not_found() -> Self {
        PageError(ApiError::Domain(Error::NotFound("No such license.".into())))
    }

    pub fn forbidden(detail: &str) -> Self {
        PageError(ApiError::Forbidden(detail.into()))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let answer = self.0.answer();
        let title = answer.status.canonical_reason().unwrap_or("Error");
        let body = page(
            title,
            None,
            false,
            html! {
                h1 { (title) }
                p.error role="alert" { (answer.detail) }
                p { a href="/admin" { "Back to the admin pages" } }
            },
        );
        let mut response = (answer.status, body).into_response();
        with_answer_headers(response.headers_mut(), &answer);
        response
    }
}

pub type PageResult<T> = Result<T, PageError>;

/// `path` with the non-empty `params` as its query: a page's filters carried into a link.
pub fn link_with(path: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}
