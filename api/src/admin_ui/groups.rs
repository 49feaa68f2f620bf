//! Licensed groups: the synced groups with member counts, and a licensed-group change with
//! its dry-run impact before it is confirmed.

use axum::extract::{Query, State};
use axum::response::{Html, Response};
use maud::html;
use seatflow_store::ScimType;
use seatflow_store::groups::{self};
use seatflow_store::licensed_groups;
use serde::Deserialize;

use crate::admin::licensing;
use crate::admin_ui::session::Session;
use crate::admin_ui::view::{PageError, PageResult, Tab, csrf_field};
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::state::AppState;

use crate::admin_ui::form::see_other;
use crate::admin_ui::session::{LicenseForm, license_for};
use crate::admin_ui::view::{PAGE_ROWS, license_page};

#[derive(Debug, Deserialize)]
pub struct Search {
    pub search: Option<String>,
}

pub async fn groups(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(search): Query<Search>,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let term = search.search.unwrap_or_default();
    let (id, t) = (license_id.clone(), term.clone());
    let rows = state
        .db
        .read(move |c| groups::synced(c, &id, Some(&t), 0, PAGE_ROWS))
        .await?;
    let csrf = session.csrf(&state);
    license_page(
        &state,
        &license,
        Tab::Groups,
        "Licensed groups",
        html! {
            h1 { "Licensed groups" }
            p { "The active members of the licensed groups get seats, first come first served. Choose among the groups your identity provider synced; you see the impact before anything changes." }
            form.search role="search" method="get" {
                label for="group-search" { "Search groups" }
                input #group-search type="search" name="search" value=(term);
                button type="submit" { "Search" }
            }
            @if rows.is_empty() {
                p.warning { @if term.is_empty() { "No groups synced yet. Assign a group to the application in Entra (Users and groups) and make sure the group mapping is enabled; the checklist on the overview shows when the first group arrives." } @else { "No group matches." } }
            } @else {
                table #groups {
                    thead { tr { th scope="col" { "Group" } th scope="col" { "Members" } th scope="col" { "Licensed" } th scope="col" { span.visually-hidden { "Action" } } } }
                    tbody {
                        @for g in &rows {
                            tr {
                                td { (g.display_name) }
                                td { (g.members) }
                                td { @if g.licensed { strong { "yes" } } @else { "no" } }
                                td {
                                    form.inline method="post" action={ "/admin/licenses/" (license.id) "/groups/preview" } {
                                        (csrf_field(&csrf))
                                        @if g.licensed {
                                            input type="hidden" name="remove" value=(g.id);
                                            button type="submit" aria-label={ "Remove " (g.display_name) "…" } { "Remove…" }
                                        } @else {
                                            input type="hidden" name="add" value=(g.id);
                                            button.primary type="submit" aria-label={ "Select " (g.display_name) "…" } { "Select…" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .await
}

pub async fn groups_preview(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm {
        session,
        license,
        form,
    }: LicenseForm,
) -> PageResult<Html<String>> {
    let id = license.id.clone();
    let current = state
        .db
        .read(move |c| licensed_groups::list(c, &id))
        .await?;
    let mut selection = current.clone();
    let (verb, group_id) = match (form.get("add"), form.get("remove")) {
        (Some(add), _) => {
            if !selection.iter().any(|g| g == add) {
                selection.push(add.to_owned());
            }
            ("Selecting", add.to_owned())
        }
        (None, Some(remove)) => {
            selection.retain(|g| g != remove);
            ("Removing", remove.to_owned())
        }
        (None, None) => {
            return Err(PageError(ApiError::bad_request(
                ScimType::InvalidValue,
                "choose a group",
            )));
        }
    };
    let (id, gid) = (license.id.clone(), group_id.clone());
    let group = state.db.read(move |c| groups::get(c, &id, &gid)).await?;
    let outcome = licensing::select_groups(
        &state,
        license.id.clone(),
        selection.clone(),
        true,
        &request,
    )
    .await?;
    let impact = &outcome.impact;
    let csrf = session.csrf(&state);
    license_page(
        &state,
        &license,
        Tab::Groups,
        "Confirm licensed groups",
        html! {
            h1 { "Confirm: " (verb.to_lowercase()) " " (group.display_name) }
            div.impact role="status" #impact {
                p.big { (verb) " " strong { (group.display_name) } " "
                    strong #impact-summary { "assigns " (impact.assigned) ", blocks " (impact.blocked) ", releases " (impact.released) } "." }
                ul {
                    li { (impact.assigned) " user(s) get a seat now." }
                    li { (impact.blocked) " user(s) wait for a seat (in a fair queue: who became entitled first, then the order Entra sent them)." }
                    li { (impact.released) " seat(s) are released." }
                }
                p.small.muted { "Computed by the seat engine on your current data, without changing anything. "
                    (license.seats) " seats on this license." }
            }
            form.inline method="post" action={ "/admin/licenses/" (license.id) "/groups" } {
                (csrf_field(&csrf))
                @for g in &selection { input type="hidden" name="group_id" value=(g); }
                @if selection.is_empty() { input type="hidden" name="none" value="1"; }
                button.primary #confirm type="submit" { "Confirm" }
            }
            " "
            a.button href={ "/admin/licenses/" (license.id) "/groups" } { "Cancel" }
        },
    )
    .await
}

pub async fn groups_confirm(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm { license, form, .. }: LicenseForm,
) -> PageResult<Response> {
    let selection = form.all("group_id");
    let back = format!("/admin/licenses/{}?notice=groups", license.id);
    licensing::select_groups(&state, license.id, selection, false, &request).await?;
    Ok(see_other(&back))
}
