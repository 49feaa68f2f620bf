//! The live setup checklist: each step of connecting an identity provider, ticked from the
//! sync-health data as the provider's traffic arrives, with what to check while it stays open.

use std::collections::BTreeMap;

use maud::{Markup, html};
use seatflow_queue::outbox::SyncStats;
use seatflow_store::licenses::License;
use seatflow_store::seats::SetupCounts;

use super::view::when;

pub struct SetupState {
    pub license: License,
    pub counts: SetupCounts,
    pub events: SyncStats,
    pub requests_last_hour: BTreeMap<String, u64>,
}

struct Step {
    id: &'static str,
    title: &'static str,
    done: bool,
    /// Set by the browser (the copy buttons), not by the server.
    client: bool,
    detail: String,
    hint: Markup,
}

impl Step {
    /// A step the server ticks, open until [`Step::done`] or [`Step::counted`] says otherwise.
    // A builder, so each step below states only what sets it apart.
    fn new(id: &'static str, title: &'static str) -> Step {
        Step {
            id,
            title,
            done: false,
            client: false,
            detail: String::new(),
            hint: html! {},
        }
    }

    /// Whether the server saw the step happen, and what it saw.
    fn done(self, done: bool, detail: String) -> Step {
        Step {
            done,
            detail,
            ..self
        }
    }

    /// A step the browser ticks (the copy buttons); its detail shows while it is open too.
    fn by_client(self, detail: &str) -> Step {
        Step {
            client: true,
            detail: detail.into(),
            ..self
        }
    }

    /// Done once there is at least one, the count as the detail: "2 users synced."
    fn counted(self, count: i64, noun: &str, tail: &str) -> Step {
        let plural = if count == 1 { "" } else { "s" };
        self.done(count > 0, format!("{count} {noun}{plural}{tail}"))
    }

    /// What to check while the step stays open.
    fn hint(self, hint: Markup) -> Step {
        Step { hint, ..self }
    }
}

fn steps(s: &SetupState) -> Vec<Step> {
    let license = &s.license;
    let c = &s.counts;
    let refused = s.requests_last_hour.get("401").copied().unwrap_or(0);
    let failures: u64 = s
        .requests_last_hour
        .iter()
        .filter(|(status, _)| status.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    let base = format!("/admin/licenses/{}", license.id);
    let last_test = license
        .last_test_connection_at
        .as_deref()
        .map(|t| format!("Last at {}.", when(t)));
    let seats = format!(
        "{} of {} seats assigned, {} waiting.",
        c.assigned, license.seats, c.blocked
    );
    vec![
        Step::new("tenant-url", "Tenant URL copied")
            .by_client("Copied on the Automatic provisioning page.")
            .hint(html! { "Copy it from " a href={ (base) "/provisioning" } { "Automatic provisioning" } " into Entra's Tenant URL field." }),
        Step::new("token", "Secret Token issued")
            .counted(c.live_tokens, "live token", ".")
            .hint(html! { "No live token: generate one on " a href={ (base) "/provisioning" } { "Automatic provisioning" } "." }),
        Step::new("test-connection", "Test Connection received")
            .done(last_test.is_some(), last_test.unwrap_or_default())
            .hint(html! {
                "In Entra: Provisioning → Admin Credentials → Test Connection. "
                @if refused > 0 {
                    strong { (refused) " request(s) were refused in the last hour" }
                    " — the Secret Token pasted there is wrong or revoked, or provisioning is disabled. "
                } @else {
                    "Nothing has reached Seatflow yet: check the Tenant URL is reachable over HTTPS from the internet. "
                }
            }),
        Step::new("first-user", "First user synced")
            .counted(c.users, "user", " synced.")
            .hint(html! {
                "Set Provisioning Status to On, scope \"Sync only assigned users and groups\", and assign a group "
                "under Users and groups. Entra's first cycle can take up to 40 minutes; \"Provision on demand\" is immediate."
                @if failures > 0 { " " strong { (failures) " request(s) failed on our side in the last hour; Entra retries them." } }
            }),
        Step::new("groups", "Groups synced")
            .counted(c.groups, "group", " synced.")
            .hint(html! { "Check that the group mapping (Provision Microsoft Entra ID Groups) is enabled and the group is assigned to the application." }),
        Step::new("licensed-group", "A licensed group selected")
            .counted(c.licensed_groups, "licensed group", ".")
            .hint(html! { "Pick the group whose members get seats on " a href={ (base) "/groups" } { "Licensed groups" } "." }),
        Step::new("seats", "Seats assigned")
            .done(c.assigned > 0, seats)
            .hint(html! {
                @if !license.provisioning_enabled {
                    "Provisioning is disabled for this license. "
                }
                @if s.events.pending_events > 0 {
                    (s.events.pending_events) " change(s) are being applied; this usually takes a second. "
                } @else if c.licensed_groups > 0 {
                    "The licensed groups have no active members yet, or there are no seats. "
                } @else {
                    "Seats are given to the active members of the licensed groups. "
                }
            }),
    ]
}

/// The checklist's section of a page, which the browser keeps up to date (`assets/app.js`).
pub fn section(s: &SetupState) -> Markup {
    let license = &s.license.id;
    html! {
        section aria-labelledby="setup-h" data-checklist-url={ "/admin/licenses/" (license) "/checklist" } data-license=(license) {
            h2 #setup-h { "Setup checklist" }
            p.muted { "Each step ticks itself as your identity provider's requests arrive — no need to wait and wonder." }
            div aria-live="polite" { (render(s)) }
        }
    }
}

/// The checklist as HTML (the page embeds it; the browser re-fetches it every few seconds).
pub fn render(s: &SetupState) -> Markup {
    let steps = steps(s);
    let server_done = steps.iter().filter(|s| !s.client && s.done).count();
    let server_total = steps.iter().filter(|s| !s.client).count();
    html! {
        div #checklist data-done=(server_done) data-total=(server_total) {
            ol.checklist {
                @for step in &steps {
                    li.step.done[step.done] data-step=(step.id) data-client-step=[step.client.then_some(step.id)] {
                        span.tick aria-hidden="true" { @if step.done { "✓" } @else { "" } }
                        div {
                            strong { (step.title) }
                            span.visually-hidden.state { @if step.done { " (done)" } @else { " (open)" } }
                            @if step.done || step.client {
                                " " span.detail { (step.detail) }
                            }
                            @if !step.done {
                                div.hint { (step.hint) }
                            }
                        }
                    }
                }
            }
            p.muted.small {
                "Last SCIM request: "
                @match &s.license.last_scim_request_at { Some(t) => (when(t)), None => "none yet" }
                " · pending changes: " (s.events.pending_events)
                @if s.events.dead_letters > 0 { " · failed changes: " (s.events.dead_letters) }
                " · updates every 3 seconds"
            }
        }
    }
}
