//! The page handlers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use seatflow_shared::Error;
use seatflow_shared::store::admin_keys;
use seatflow_shared::store::audit::{self, AuditQuery};
use seatflow_shared::store::groups::{self, SyncedGroup};
use seatflow_shared::store::licenses::{self, License, LicenseUpdate};
use seatflow_shared::store::seats::{self, SeatQuery};
use seatflow_shared::store::tokens::{self, IssuedToken};
use seatflow_shared::store::{licensed_groups, outbox, users};
use seatflow_shared::{time, token};
use serde::Deserialize;

use super::checklist::{self, SetupState};
use super::session::{self, Scope, Session, SignIn};
use super::view::{PageError, PageResult, Tab, copy_field, csrf_field, page, when, when_opt};
use crate::app::AppState;
use crate::request_id::RequestId;
use crate::{commands, licensing};

/// Most rows a page lists (the CSV export has them all).
const PAGE_ROWS: i64 = 500;

/// A submitted form, as name/value pairs (repeated names allowed).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn check_csrf(&self, state: &AppState, session: &Session) -> PageResult<()> {
        if session.check_csrf(state, self.get("csrf").unwrap_or_default()) {
            Ok(())
        } else {
            Err(PageError::forbidden(
                "The form expired or did not come from this site; reload the page and try again.",
            ))
        }
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The license, if this session may see it; another license is "not found" (no existence leak).
async fn license_for(state: &AppState, session: &Session, license_id: &str) -> PageResult<License> {
    if !session.may_access(license_id) {
        return Err(PageError::not_found());
    }
    let id = license_id.to_owned();
    state
        .0
        .db
        .read(move |c| licenses::get(c, &id))
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => PageError::not_found(),
            other => other.into(),
        })
}

fn license_page(license: &License, tab: Tab, title: &str, content: Markup) -> Html<String> {
    page(title, Some((license, tab)), true, content)
}

// ---- sign-in --------------------------------------------------------------------------------

pub async fn home(
    State(state): State<AppState>,
    session: Result<Session, SignIn>,
) -> PageResult<Response> {
    let Ok(session) = session else {
        return Ok(see_other("/admin/login"));
    };
    if let Scope::License { license_id, .. } = &session.scope {
        return Ok(see_other(&format!("/admin/licenses/{license_id}")));
    }
    let all = state.0.db.read(|c| licenses::list(c, 0, 1000)).await?;
    Ok(page(
        "Licenses",
        None,
        true,
        html! {
            h1 { "Licenses" }
            p.muted { "Signed in as the operator: every license is shown." }
            @if all.is_empty() {
                p { "No licenses yet. Create one with " code { "seatflow-api license create" } "." }
            } @else {
                table {
                    thead { tr { th scope="col" { "License" } th scope="col" { "Seats used" } th scope="col" { "Provisioning" } th scope="col" { "Last SCIM request" } } }
                    tbody {
                        @for l in &all {
                            tr {
                                td { a href={ "/admin/licenses/" (l.id) } { (l.name) } }
                                td { (l.seats_used) " / " (l.seats) }
                                td { @if l.provisioning_enabled { "enabled" } @else { "disabled" } }
                                td { (when_opt(l.last_scim_request_at.as_deref())) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

fn login_page(state: &AppState, error: Option<&str>) -> Response {
    let nonce = token::generate();
    let csrf = session::csrf_for(state, &nonce);
    let body = page(
        "Sign in",
        None,
        false,
        html! {
            section.narrow {
                h1 { "Sign in" }
                p { "Use the admin key your vendor gave you for your license (or the operator token)." }
                @if let Some(error) = error {
                    p.error role="alert" { (error) }
                }
                form method="post" action="/admin/login" {
                    (csrf_field(&csrf))
                    label for="key" { "Admin key" }
                    input #key name="key" type="password" autocomplete="current-password" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (
        status,
        [(
            header::SET_COOKIE,
            session::cookie(state, session::LOGIN_COOKIE, &nonce, 1800),
        )],
        body,
    )
        .into_response()
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, None)
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::parse(&body);
    let nonce = session::read_cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    let presented_csrf = form.get("csrf").unwrap_or_default();
    if nonce.is_empty()
        || !token::constant_time_eq(presented_csrf, &session::csrf_for(&state, nonce))
    {
        return Ok(login_page(
            &state,
            Some("The sign-in form expired; please try again."),
        ));
    }
    let key = form.get("key").unwrap_or_default().trim().to_owned();
    let scope = if !key.is_empty() && token::constant_time_eq(&key, &state.0.admin_token) {
        Some(Scope::Operator)
    } else if key.is_empty() {
        None
    } else {
        let found = state
            .0
            .db
            .write(move |c| {
                let found = admin_keys::authenticate(c, &key)?;
                if let Some(k) = &found {
                    admin_keys::touch(c, &k.id, &time::now())?;
                }
                Ok(found)
            })
            .await?;
        found.map(|k| Scope::License {
            license_id: k.license_id,
            key_id: k.id,
        })
    };
    let Some(scope) = scope else {
        return Ok(login_page(
            &state,
            Some("That key is not valid (or has been revoked)."),
        ));
    };
    let target = match &scope {
        Scope::Operator => "/admin".to_owned(),
        Scope::License { license_id, .. } => format!("/admin/licenses/{license_id}"),
    };
    let session = Session::new(scope);
    let mut response = see_other(&target);
    let headers = response.headers_mut();
    for cookie in [
        session.cookie(&state),
        session::cookie(&state, session::LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

pub async fn logout(State(state): State<AppState>) -> Response {
    let mut response = see_other("/admin/login");
    if let Ok(value) = session::cookie(&state, session::SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

// ---- overview and checklist -------------------------------------------------------------------

async fn setup_state(state: &AppState, license: License) -> PageResult<SetupState> {
    let requests_last_hour = state.0.requests.last_hour(&license.id);
    let id = license.id.clone();
    let (counts, events) = state
        .0
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

async fn licensed_group_rows(state: &AppState, license_id: &str) -> PageResult<Vec<SyncedGroup>> {
    let id = license_id.to_owned();
    let all = state
        .0
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
    let c = &setup.counts;
    let pct = if license.seats > 0 {
        (c.assigned * 100 / license.seats).min(100)
    } else {
        100
    };
    let available = (license.seats - c.assigned).max(0);
    Ok(license_page(
        &license,
        Tab::Overview,
        &license.name,
        html! {
            h1 { (license.name) }
            @if notice.notice.as_deref() == Some("groups") {
                p.notice role="status" { "Licensed groups saved. Seats follow within seconds — watch the checklist." }
            }
            section aria-labelledby="seats-h" {
                h2 #seats-h { "Seats" }
                div.bar role="progressbar" aria-label="Seats used" aria-valuemin="0" aria-valuemax=(license.seats) aria-valuenow=(c.assigned) {
                    div.fill style={ "width:" (pct) "%" } {}
                }
                p.big { strong #seats-used { (c.assigned) } " of " (license.seats) " seats used" }
                dl.stats {
                    div { dt { "Assigned" } dd #assigned-count { (c.assigned) } }
                    div { dt { "Waiting (blocked)" } dd #blocked-count { a href={ "/admin/licenses/" (license.id) "/seats?status=blocked" } { (c.blocked) } } }
                    div { dt { "Available" } dd { (available) } }
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
            section aria-labelledby="setup-h" data-checklist-url={ "/admin/licenses/" (license.id) "/checklist" } data-license=(license.id) {
                h2 #setup-h { "Setup checklist" }
                p.muted { "Each step ticks itself as your identity provider's requests arrive — no need to wait and wonder." }
                div aria-live="polite" { (checklist::render(&setup)) }
            }
        },
    ))
}

pub async fn checklist_fragment(
    State(state): State<AppState>,
    session: Result<Session, SignIn>,
    Path(license_id): Path<String>,
) -> PageResult<Response> {
    let session = session.map_err(|_| PageError(StatusCode::UNAUTHORIZED, "signed out".into()))?;
    let license = license_for(&state, &session, &license_id).await?;
    let setup = setup_state(&state, license).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(checklist::render(&setup).into_string()),
    )
        .into_response())
}

// ---- automatic provisioning -------------------------------------------------------------------

async fn provisioning_page(
    state: &AppState,
    session: &Session,
    license: License,
    issued: Option<IssuedToken>,
    message: Option<&str>,
) -> PageResult<Html<String>> {
    let id = license.id.clone();
    let all = state.0.db.read(move |c| tokens::list(c, &id)).await?;
    let live: Vec<_> = all.iter().filter(|t| t.revoked_at.is_none()).collect();
    let csrf = session.csrf(state);
    let tenant_url = state.0.config.tenant_url();
    let action = |name: &str, label: &str, class: &str, confirm: Option<&str>| {
        html! {
            form.inline method="post" action={ "/admin/licenses/" (license.id) "/provisioning" } data-confirm=[confirm] {
                (csrf_field(&csrf))
                input type="hidden" name="action" value=(name);
                button class=(class) type="submit" { (label) }
            }
        }
    };
    Ok(license_page(
        &license,
        Tab::Provisioning,
        "Automatic provisioning",
        html! {
            h1 { "Automatic provisioning" }
            p { "In Microsoft Entra ID: Enterprise applications → your application → Provisioning → Automatic. Paste these two values into Admin Credentials and press Test Connection; the "
                a href={ "/admin/licenses/" (license.id) } { "setup checklist" } " ticks when it arrives." }
            @if let Some(message) = message { p.notice role="status" { (message) } }
            (copy_field("tenant-url", "Tenant URL", &tenant_url, "tenant-url"))
            @if let Some(issued) = &issued {
                div.secret role="region" aria-label="New Secret Token" {
                    (copy_field("secret-token", "Secret Token (shown only now — copy it into Entra)", &issued.secret_token, "token"))
                    p.small.muted { "Token id " code { (issued.token_id) } ". Seatflow keeps only a digest; if it is lost, rotate." }
                }
            }
            h2 { "Secret Tokens" }
            @if live.is_empty() {
                p.warning { "No live token: the identity provider cannot connect. Generate one." }
            }
            table {
                thead { tr { th scope="col" { "Token id" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for t in all.iter().rev() {
                        tr {
                            td { code { (t.id) } }
                            td { (when(&t.created_at)) }
                            td { (when_opt(t.last_used_at.as_deref())) }
                            td { @match &t.revoked_at { Some(r) => { "revoked " (when(r)) }, None => strong { "live" } } }
                            td {
                                @if t.revoked_at.is_none() {
                                    form.inline method="post" action={ "/admin/licenses/" (license.id) "/provisioning" } data-confirm="Revoke this token? An identity provider still using it stops syncing at once." {
                                        (csrf_field(&csrf))
                                        input type="hidden" name="action" value="revoke";
                                        input type="hidden" name="token_id" value=(t.id);
                                        button.danger type="submit" aria-label={ "Revoke token " (t.id) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.actions {
                @if live.is_empty() {
                    (action("issue", "Generate token", "primary", None))
                } @else if live.len() == 1 {
                    (action("issue", "Rotate: issue a second token", "primary", None))
                    p.small.muted { "Both tokens work until you revoke the old one after switching Entra to the new one." }
                } @else {
                    p.small.muted { "Two live tokens: once Entra uses the new one (see Last used), revoke the old one." }
                }
                (action("reset", "Reset: revoke all and issue a new token", "danger", Some("Revoke every token and issue a new one? Syncing stops until Entra has the new token.")))
            }
            h2 { "Provisioning" }
            p { "Provisioning is " strong { @if license.provisioning_enabled { "enabled" } @else { "disabled" } } ". "
                "While disabled, every SCIM request is refused and seats stay as they are." }
            @if license.provisioning_enabled {
                (action("disable", "Disable provisioning", "danger", Some("Refuse all SCIM requests for this license?")))
            } @else {
                (action("enable", "Enable provisioning", "primary", None))
            }
        },
    ))
}

/// A just-issued token travels to the page that shows it once in a short-lived cookie
/// (post/redirect/get, so reloading the page neither shows it again nor issues another).
const ISSUED_COOKIE: &str = "seatflow_issued";

pub async fn provisioning(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    headers: HeaderMap,
) -> PageResult<Response> {
    let license = license_for(&state, &session, &license_id).await?;
    // "{license}:{reset}:{token_id}:{secret}"
    let mut parts = session::read_cookie(&headers, ISSUED_COOKIE)
        .unwrap_or_default()
        .splitn(4, ':');
    let issued = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(license), Some(reset), Some(token_id), Some(secret)) if license == license_id => {
            Some((
                reset == "1",
                IssuedToken {
                    token_id: token_id.to_owned(),
                    secret_token: secret.to_owned(),
                },
            ))
        }
        _ => None,
    };
    let message = issued.as_ref().map(|(reset, _)| {
        if *reset {
            "All earlier tokens are revoked; here is the new one."
        } else {
            "New token issued."
        }
    });
    let body =
        provisioning_page(&state, &session, license, issued.map(|(_, t)| t), message).await?;
    Ok((
        [
            (
                header::SET_COOKIE,
                session::cookie(&state, ISSUED_COOKIE, "", 0),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

pub async fn provisioning_action(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    request: RequestId,
    body: Bytes,
) -> PageResult<Response> {
    license_for(&state, &session, &license_id).await?;
    let form = Form::parse(&body);
    form.check_csrf(&state, &session)?;
    let back = format!("/admin/licenses/{license_id}/provisioning");
    let request_id = request.0.clone();
    match form.get("action").unwrap_or_default() {
        action @ ("issue" | "reset") => {
            let reset = action == "reset";
            let id = license_id.clone();
            let issued = state
                .write_credentials(move |c| {
                    if reset {
                        commands::reset_tokens(c, &id, Some(&request_id))
                    } else {
                        commands::issue_token(c, &id, Some(&request_id))
                    }
                })
                .await?;
            let flash = format!(
                "{license_id}:{}:{}:{}",
                u8::from(reset),
                issued.token_id,
                issued.secret_token
            );
            Ok((
                [(
                    header::SET_COOKIE,
                    session::cookie(&state, ISSUED_COOKIE, &flash, 60),
                )],
                see_other(&back),
            )
                .into_response())
        }
        "revoke" => {
            let token_id = form.get("token_id").unwrap_or_default().to_owned();
            let id = license_id.clone();
            state
                .write_credentials(move |c| {
                    commands::revoke_token(c, &id, &token_id, Some(&request_id))
                })
                .await?;
            Ok(see_other(&back))
        }
        action @ ("enable" | "disable") => {
            let change = LicenseUpdate {
                provisioning_enabled: Some(action == "enable"),
                ..LicenseUpdate::default()
            };
            licensing::change_license(&state, license_id, change, &request).await?;
            Ok(see_other(&back))
        }
        _ => Err(PageError(StatusCode::BAD_REQUEST, "unknown action".into())),
    }
}

// ---- licensed groups --------------------------------------------------------------------------

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
        .0
        .db
        .read(move |c| groups::synced(c, &id, Some(&t), 0, PAGE_ROWS))
        .await?;
    let csrf = session.csrf(&state);
    Ok(license_page(
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
    ))
}

pub async fn groups_preview(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    request: RequestId,
    body: Bytes,
) -> PageResult<Html<String>> {
    let license = license_for(&state, &session, &license_id).await?;
    let form = Form::parse(&body);
    form.check_csrf(&state, &session)?;
    let id = license_id.clone();
    let current = state
        .0
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
        (None, None) => return Err(PageError(StatusCode::BAD_REQUEST, "choose a group".into())),
    };
    let (id, gid) = (license_id.clone(), group_id.clone());
    let group = state.0.db.read(move |c| groups::get(c, &id, &gid)).await?;
    let outcome = licensing::select_groups(
        &state,
        license_id.clone(),
        selection.clone(),
        true,
        &request,
    )
    .await?;
    let impact = &outcome.impact;
    let csrf = session.csrf(&state);
    Ok(license_page(
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
    ))
}

pub async fn groups_confirm(
    State(state): State<AppState>,
    session: Session,
    Path(license_id): Path<String>,
    request: RequestId,
    body: Bytes,
) -> PageResult<Response> {
    license_for(&state, &session, &license_id).await?;
    let form = Form::parse(&body);
    form.check_csrf(&state, &session)?;
    let selection = form.all("group_id");
    licensing::select_groups(&state, license_id.clone(), selection, false, &request).await?;
    Ok(see_other(&format!(
        "/admin/licenses/{license_id}?notice=groups"
    )))
}

// ---- seats ------------------------------------------------------------------------------------

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
    let rows = state
        .0
        .db
        .read(move |c| seats::list(c, &id, &query))
        .await?;
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
    Ok(license_page(
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
                    thead { tr { th scope="col" { "userName" } th scope="col" { "Status" } th scope="col" { "Queue position" } th scope="col" { "Reason" } th scope="col" { "Since" } th scope="col" { span.visually-hidden { "History" } } } }
                    tbody {
                        @for s in &rows {
                            tr {
                                td { (s.user_name) }
                                td { span class={ "pill " (s.status) } { (s.status) } }
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
    ))
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
    let rows = state
        .0
        .db
        .read(move |c| seats::list(c, &id, &query))
        .await?;
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

// ---- audit ------------------------------------------------------------------------------------

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
        .0
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
    Ok(license_page(
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
    ))
}
