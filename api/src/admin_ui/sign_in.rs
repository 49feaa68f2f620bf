//! Signing in to the admin pages (a license admin key, or the operator token) and out.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use seatflow_store::admin_keys;
use seatflow_store::licenses::{self};
use seatflow_store::{time, token};

use crate::admin_ui::session::{self, Credential, Scope, Session, SignIn};
use crate::admin_ui::view::{PageResult, csrf_field, page, when_opt};
use crate::state::AppState;

use crate::admin_ui::form::{Form, see_other};

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
    let all = state.db.read(|c| licenses::list(c, 0, 1000)).await?;
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

/// The CSRF token of a form shown before any session (sign-in, a setup link), and the cookie
/// holding its nonce: the post must come back with both.
pub fn pre_session_csrf(state: &AppState) -> (String, String) {
    let nonce = token::generate();
    let csrf = session::csrf_for(state, &nonce);
    (
        csrf,
        session::cookie(state, session::LOGIN_COOKIE, &nonce, 1800),
    )
}

/// Whether a form posted before any session carries the CSRF token of [`pre_session_csrf`].
pub fn pre_session_checked(state: &AppState, headers: &HeaderMap, form: &Form) -> bool {
    let nonce = session::read_cookie(headers, session::LOGIN_COOKIE).unwrap_or_default();
    let presented_csrf = form.get("csrf").unwrap_or_default();
    !nonce.is_empty() && token::constant_time_eq(presented_csrf, &session::csrf_for(state, nonce))
}

/// Starts a session (its cookie set, the pre-session nonce cleared) and sends it to `target`.
pub fn start_session(state: &AppState, scope: Scope, target: &str) -> Response {
    let session = Session::new(scope);
    let mut response = see_other(target);
    let headers = response.headers_mut();
    for cookie in [
        session.cookie(state),
        session::cookie(state, session::LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

fn login_page(state: &AppState, error: Option<&str>) -> Response {
    let (csrf, nonce_cookie) = pre_session_csrf(state);
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
    (status, [(header::SET_COOKIE, nonce_cookie)], body).into_response()
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, None)
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Form,
) -> PageResult<Response> {
    if !pre_session_checked(&state, &headers, &form) {
        return Ok(login_page(
            &state,
            Some("The sign-in form expired; please try again."),
        ));
    }
    let key = form.get("key").unwrap_or_default().trim().to_owned();
    let scope = if !key.is_empty() && token::constant_time_eq(&key, &state.admin_token) {
        Some(Scope::Operator)
    } else if key.is_empty() {
        None
    } else {
        let found = state
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
            via: Credential::AdminKey(k.id),
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
    Ok(start_session(&state, scope, &target))
}

pub async fn logout(State(state): State<AppState>) -> Response {
    let mut response = see_other("/admin/login");
    if let Ok(value) = session::cookie(&state, session::SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
