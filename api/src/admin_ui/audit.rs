//! The audit timeline: seat decisions and admin actions, filterable by user.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use seatflow_store::audit::{self, AuditQuery};
use seatflow_store::users;
use serde::Deserialize;

use crate::admin_ui::session::Session;
use crate::admin_ui::view::{PageResult, Tab, when};
use crate::http::body::Path;
use crate::state::AppState;

use crate::admin_ui::session::license_for;
use crate::admin_ui::view::{PAGE_ROWS, license_page};

#[derive(Debug, Deserialize)]
pub struct AuditFilter {
    pub user: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(filter): Query<AuditFilter>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let user = filter.user.clone().unwrap_or_default().trim().to_owned();
    let id = license_id.clone();
    let u = user.clone();
    let (rows, names) = state
        .db
        .read(move |c| {
            // The filter takes a userName or a user id.
            let subject = if u.is_empty() {
                None
            } else {
                Some(users::id_by_user_name(c, &id, &u)?.unwrap_or(u))
            };
            let query = AuditQuery {
                subject,
                since: None,
                until: None,
                offset: 0,
                limit: PAGE_ROWS,
            };
            let rows = audit::list(c, &id, &query)?;
            let ids: Vec<String> = rows.iter().filter_map(|r| r.subject.clone()).collect();
            Ok((rows, users::user_names(c, &id, &ids)?))
        })
        .await?;
    license_page(
        &state,
        &license,
        Tab::Audit,
        "Audit",
        html! {
            h1 { "Audit" }
            p { "Every seat decision and admin action, newest first." }
            form.search role="search" method="get" {
                label for="audit-user" { "User (userName or id)" }
                input #audit-user type="search" name="user" value=(user);
                button type="submit" { "Filter" }
                @if !user.is_empty() { a.button href={ "/admin/licenses/" (license.id) "/audit" } { "Show all" } }
            }
            @if rows.is_empty() {
                p.muted { "Nothing recorded yet." }
            } @else {
                ol.timeline #audit {
                    @for r in &rows {
                        li class={ "actor-" (r.actor) } {
                            time datetime=(r.created_at) { (when(&r.created_at)) }
                            " "
                            span class={ "pill " (r.action) } { (r.action.replace('_', " ")) }
                            " "
                            @if let Some(subject) = &r.subject {
                                a href={ "/admin/licenses/" (license.id) "/audit?user=" (subject) } {
                                    (names.get(subject).cloned().unwrap_or_else(|| subject.clone()))
                                }
                            }
                            span.muted { " by " (r.actor) }
                            @if let Some(detail) = r.detail.as_deref().filter(|d| *d != "{}" && *d != "null") {
                                div.small.muted { code { (detail) } }
                            }
                        }
                    }
                }
            }
        },
    )
    .await
}
