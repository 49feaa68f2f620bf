//! Licensing policies: what happens when seats run out (block, notify, expand up to a cap),
//! the release grace period, the licensed groups' priorities and reserved seats — previewed by
//! the seat engine on the current data (rolled back) before they are applied — and the pending
//! true-up of the seats `expand` added, with "Mark settled".

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use seatflow_store::Error;
use seatflow_store::licenses::License;
use seatflow_store::policies::{
    self, GroupReservation, MAX_GRACE_MINUTES, Overflow, PRIORITY_RANGE, Policy, PolicyUpdate,
};

use crate::admin::policies::{PolicyOutcome, change_policy, settle};
use crate::admin_ui::form::{Form, see_other};
use crate::admin_ui::overview::{Notice, licensed_group_rows};
use crate::admin_ui::session::{LicenseForm, Session, license_for};
use crate::admin_ui::view::{PageResult, Tab, csrf_field, license_page, when};
use crate::commands::PolicyPreview;
use crate::http::body::Path;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The overflow policies as the form offers them: value, label, what it does.
const OVERFLOWS: [(Overflow, &str, &str, &str); 3] = [
    (
        Overflow::Block,
        "block",
        "Block",
        "Users wait in the queue until a seat is free.",
    ),
    (
        Overflow::Notify,
        "notify",
        "Notify",
        "Users wait, and these pages and the change feed say the license overflows.",
    ),
    (
        Overflow::Expand,
        "expand",
        "Expand",
        "Seats are added, up to the cap, and recorded for the true-up below.",
    ),
];

/// The policy form as saved or as the admin filled it in: a preview or an error shows it again
/// as typed, so nothing has to be re-entered.
struct Draft {
    overflow: String,
    expand_cap: String,
    grace_minutes: String,
    /// Licensed group id → the priority typed.
    priorities: BTreeMap<String, String>,
    /// One userName or id per line.
    reserved_users: String,
    /// One `group name or id: seats` per line.
    reserved_groups: String,
}

impl Draft {
    fn saved(policy: &Policy) -> Self {
        let overflow = OVERFLOWS
            .iter()
            .find(|(o, ..)| *o == policy.overflow)
            .map_or("block", |(_, value, ..)| value);
        Draft {
            overflow: overflow.to_owned(),
            expand_cap: policy
                .expand_cap
                .map(|cap| cap.to_string())
                .unwrap_or_default(),
            grace_minutes: policy.grace_minutes.to_string(),
            priorities: policy
                .group_priorities
                .iter()
                .map(|(group, priority)| (group.clone(), priority.to_string()))
                .collect(),
            reserved_users: policy.reserved_users.join("\n"),
            reserved_groups: policy
                .reserved_groups
                .iter()
                .map(|g| format!("{}: {}", g.group, g.seats))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn submitted(form: &Form) -> Self {
        let text = |name| form.get(name).unwrap_or_default().to_owned();
        Draft {
            overflow: text("overflow"),
            expand_cap: text("expand_cap"),
            grace_minutes: text("grace_minutes"),
            // Each priority input follows its group's hidden id.
            priorities: form
                .all("group_id")
                .into_iter()
                .zip(form.all("priority"))
                .collect(),
            reserved_users: text("reserved_users"),
            reserved_groups: text("reserved_groups"),
        }
    }

    /// The change the form asks for (every field given), or what to correct in it. The store
    /// validates the rest (`policies::update`).
    fn update(&self) -> Result<PolicyUpdate, String> {
        let overflow = OVERFLOWS
            .iter()
            .find(|(_, value, ..)| *value == self.overflow)
            .map(|(o, ..)| *o)
            .ok_or("Choose what happens when seats run out: block, notify or expand.")?;
        let expand_cap = match self.expand_cap.trim() {
            "" => None,
            cap => Some(number(cap, "The expand cap")?),
        };
        let group_priorities = self
            .priorities
            .iter()
            .map(|(group, priority)| Ok((group.clone(), number(priority, "A priority")?)))
            .collect::<Result<_, String>>()?;
        let reserved_groups = lines(&self.reserved_groups)
            .map(|line| {
                // The seats come last: a group's name may hold a colon.
                let (group, seats) = line.rsplit_once(':').ok_or_else(|| {
                    format!(
                        "Write each reserved group as \"group name or id: seats\" (not \"{line}\")."
                    )
                })?;
                Ok(GroupReservation {
                    group: group.trim().to_owned(),
                    seats: number(seats, "A reserved group's seats")?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(PolicyUpdate {
            overflow: Some(overflow),
            expand_cap,
            grace_minutes: Some(number(&self.grace_minutes, "The grace period")?),
            group_priorities: Some(group_priorities),
            reserved_users: Some(lines(&self.reserved_users).map(str::to_owned).collect()),
            reserved_groups: Some(reserved_groups),
        })
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what} must be a whole number (not \"{}\").", text.trim()))
}

/// What the page shows above the form.
enum Said {
    Nothing,
    Notice(&'static str),
    Preview(PolicyPreview),
    /// A change that cannot be made, and why (answered 400).
    Invalid(String),
}

pub async fn policies(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    Query(notice): Query<Notice>,
) -> PageResult<Response> {
    let license = license_for(&state, &session, &license_id).await?;
    let policy = state
        .db
        .read(move |c| policies::get(c, &license_id))
        .await?;
    let said = match notice.notice.as_deref() {
        Some("saved") => Said::Notice("Policies saved. Seats follow within seconds."),
        Some("settled") => Said::Notice("True-up settled."),
        _ => Said::Nothing,
    };
    render(&state, &session, &license, &Draft::saved(&policy), said).await
}

/// The form's change previewed (`dry_run`) or saved; `Err` with what the admin must correct
/// when the form or the store refuses it.
async fn submit(
    state: &AppState,
    license: &License,
    draft: &Draft,
    dry_run: bool,
    request: &RequestId,
) -> PageResult<Result<PolicyOutcome, String>> {
    let update = match draft.update() {
        Ok(update) => update,
        Err(correct) => return Ok(Err(correct)),
    };
    match change_policy(state, license.id.clone(), update, dry_run, request).await {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(Error::BadRequest(_, detail)) => Ok(Err(detail)),
        Err(other) => Err(other.into()),
    }
}

pub async fn policies_preview(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm {
        session,
        license,
        form,
    }: LicenseForm,
) -> PageResult<Response> {
    let draft = Draft::submitted(&form);
    let said = match submit(&state, &license, &draft, true, &request).await? {
        Ok(outcome) => Said::Preview(outcome.preview),
        Err(correct) => Said::Invalid(correct),
    };
    render(&state, &session, &license, &draft, said).await
}

pub async fn policies_apply(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm {
        session,
        license,
        form,
    }: LicenseForm,
) -> PageResult<Response> {
    let draft = Draft::submitted(&form);
    match submit(&state, &license, &draft, false, &request).await? {
        Ok(_) => Ok(see_other(&format!(
            "/admin/licenses/{}/policies?notice=saved",
            license.id
        ))),
        Err(correct) => render(&state, &session, &license, &draft, Said::Invalid(correct)).await,
    }
}

pub async fn true_up_settle(
    State(state): State<AppState>,
    request: RequestId,
    LicenseForm { license, .. }: LicenseForm,
) -> PageResult<Response> {
    let back = format!("/admin/licenses/{}/policies?notice=settled", license.id);
    settle(&state, license.id, &request).await?;
    Ok(see_other(&back))
}

async fn render(
    state: &AppState,
    session: &Session,
    license: &License,
    draft: &Draft,
    said: Said,
) -> PageResult<Response> {
    let groups = licensed_group_rows(state, &license.id).await?;
    let id = license.id.clone();
    let true_up = state.db.read(move |c| policies::true_up(c, &id)).await?;
    let csrf = session.csrf(state);
    let base = format!("/admin/licenses/{}/policies", license.id);
    let status = if matches!(said, Said::Invalid(_)) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = license_page(
        state,
        license,
        Tab::Policies,
        "Policies",
        html! {
            h1 { "Policies" }
            p { "How seats are shared when there are not enough: who is served first, seats held for some users or groups, what happens when seats run out, and how long a user who loses entitlement keeps their seat. Preview shows what a change does before you apply it." }
            @match &said {
                Said::Nothing => {}
                Said::Notice(text) => { p.notice #policy-notice role="status" { (text) } }
                Said::Invalid(detail) => {
                    p.error #policy-error role="alert" { "Not changed: " (detail) }
                }
                Said::Preview(preview) => {
                    div.impact #policy-preview role="status" {
                        h2 { "Preview" }
                        @let i = &preview.impact;
                        p.big { strong #preview-summary {
                            "assigns " (i.assigned) ", blocks " (i.blocked) ", releases " (i.released) ", " (i.grace) " in grace"
                        } }
                        ul {
                            li #preview-seats { "Seats: " (preview.seats_before) " → " (preview.seats_after)
                                @if preview.seats_after > preview.seats_before { " (added by the expand policy, for the true-up)" } }
                            li #preview-moved { (preview.queue_moved) " waiting user(s) change place in the line." }
                        }
                        @if preview.next_in_line.is_empty() {
                            p { "Nobody waits after this change." }
                        } @else {
                            p { "Next in line:" }
                            ol #next-in-line { @for name in &preview.next_in_line { li { (name) } } }
                        }
                        p.small.muted { "Computed by the seat engine on your current data; nothing is saved until you apply." }
                    }
                }
            }
            form #policy-form method="post" action=(base) {
                (csrf_field(&csrf))
                fieldset {
                    legend { "When seats run out" }
                    @for (_, value, label, help) in OVERFLOWS {
                        div.choice {
                            input id={ "overflow-" (value) } type="radio" name="overflow" value=(value) checked[draft.overflow == value];
                            label for={ "overflow-" (value) } { (label) }
                            span.small.muted { (help) }
                        }
                    }
                    label for="expand-cap" { "Expand cap" }
                    input #expand-cap type="number" name="expand_cap" min="0" value=(draft.expand_cap);
                    span.small.muted { " the most seats expand may raise the license to; it has " (license.seats) " now" }
                }
                fieldset {
                    legend { "Release grace period" }
                    label for="grace-minutes" { "Minutes" }
                    input #grace-minutes type="number" name="grace_minutes" min="0" max=(MAX_GRACE_MINUTES) required value=(draft.grace_minutes);
                    span.small.muted { " a user who loses entitlement keeps their seat, or place in the line (0: released at once; at most a week)" }
                }
                fieldset {
                    legend { "Licensed group priority" }
                    p.small.muted { "Higher is served first: a waiting user takes the priority of their highest licensed group; equal priorities keep first come, first served. Nobody loses a seat over a priority." }
                    @if groups.is_empty() {
                        p.muted { "No licensed group yet. " a href={ "/admin/licenses/" (license.id) "/groups" } { "Select a group" } "." }
                    } @else {
                        table #priorities {
                            thead { tr { th scope="col" { "Group" } th scope="col" { "Members" } th scope="col" { "Priority" } } }
                            tbody {
                                @for g in &groups {
                                    tr {
                                        td { (g.display_name) }
                                        td { (g.members) }
                                        td {
                                            input type="hidden" name="group_id" value=(g.id);
                                            input type="number" name="priority" required
                                                min=(PRIORITY_RANGE.start()) max=(PRIORITY_RANGE.end())
                                                value=(draft.priorities.get(&g.id).map_or("0", String::as_str))
                                                aria-label={ "Priority of " (g.display_name) };
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Reserved seats" }
                    p.small.muted { "A reserved seat is held for its user, or for a group's members, until they take it; nobody loses a seat for a reservation." }
                    label for="reserved-users" { "Reserved users: one userName or id per line" }
                    textarea #reserved-users name="reserved_users" rows="3" spellcheck="false" { (draft.reserved_users) }
                    label for="reserved-groups" { "Reserved groups: one \"group name or id: seats\" per line" }
                    textarea #reserved-groups name="reserved_groups" rows="3" spellcheck="false" placeholder="Sales: 2" { (draft.reserved_groups) }
                }
                div.actions {
                    button #preview type="submit" formaction={ (base) "/preview" } { "Preview" }
                    button.primary #apply type="submit" { "Apply" }
                    a href=(base) { "Discard changes" }
                }
            }
            section #true-up aria-labelledby="true-up-h" {
                h2 #true-up-h { "Pending true-up" }
                @if true_up.expansions.is_empty() {
                    p.muted #no-true-up { "Nothing to settle: the expand policy added no seats since the last settlement." }
                } @else {
                    p { "The expand policy added " strong #pending-seats { (true_up.pending_seats) } " seat(s) not settled yet." }
                    table #expansions {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Seats" } th scope="col" { "Added" } } }
                        tbody {
                            @for e in &true_up.expansions {
                                tr {
                                    td { time datetime=(e.expanded_at) { (when(&e.expanded_at)) } }
                                    td { (e.seats_from) " → " (e.seats_to) }
                                    td { "+" (e.seats_to - e.seats_from) }
                                }
                            }
                        }
                    }
                    form.actions method="post" action={ (base) "/settle" } data-confirm="Mark these seats as billed? They leave the pending true-up." {
                        (csrf_field(&csrf))
                        button.primary #settle type="submit" { "Mark settled" }
                    }
                }
            }
        },
    )
    .await?;
    Ok((status, body).into_response())
}
