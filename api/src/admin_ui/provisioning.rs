//! Automatic provisioning: the Tenant URL, Secret Tokens (issue, rotate, reset, revoke), the
//! identity providers' steps beside the live setup checklist (where a setup link lands), and
//! provisioning on or off.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use seatflow_licensing::Change;
use seatflow_store::ScimType;
use seatflow_store::licenses::{License, LicenseUpdate};
use seatflow_store::tokens::{self, IssuedToken};

use crate::admin::licensing;
use crate::admin_ui::checklist;
use crate::admin_ui::overview::setup_state;
use crate::admin_ui::session::{self, Session};
use crate::admin_ui::view::{PageError, PageResult, Tab, copy_field, csrf_field, when, when_opt};
use crate::commands;
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::state::AppState;

use crate::admin_ui::form::see_other;
use crate::admin_ui::session::{LicenseForm, license_for};
use crate::admin_ui::view::license_page;

async fn provisioning_page(
    state: &AppState,
    session: &Session,
    license: License,
    issued: Option<IssuedToken>,
    message: Option<&str>,
) -> PageResult<Html<String>> {
    let id = license.id.clone();
    let all = state.db.read(move |c| tokens::list(c, &id)).await?;
    let live: Vec<_> = all.iter().filter(|t| t.revoked_at.is_none()).collect();
    let csrf = session.csrf(state);
    let tenant_url = state.config.tenant_url();
    let setup = setup_state(state, license.clone()).await?;
    let action = |name: &str, label: &str, class: &str, confirm: Option<&str>| {
        html! {
            form.inline method="post" action={ "/admin/licenses/" (license.id) "/provisioning" } data-confirm=[confirm] {
                (csrf_field(&csrf))
                input type="hidden" name="action" value=(name);
                button class=(class) type="submit" { (label) }
            }
        }
    };
    license_page(
        state,
        &license,
        Tab::Provisioning,
        "Automatic provisioning",
        html! {
            h1 { "Automatic provisioning" }
            p { "In Microsoft Entra ID: Enterprise applications → your application → Provisioning → Automatic. Paste these two values into Admin Credentials and press Test Connection; the "
                a href="#setup-h" { "setup checklist" } " ticks when it arrives." }
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
            h2 { "Connect your identity provider" }
            (provider_steps())
            (checklist::section(&setup))
            h2 { "Provisioning" }
            p { "Provisioning is " strong { @if license.provisioning_enabled { "enabled" } @else { "disabled" } } ". "
                "While disabled, every SCIM request is refused and seats stay as they are." }
            @if license.provisioning_enabled {
                (action("disable", "Disable provisioning", "danger", Some("Refuse all SCIM requests for this license?")))
            } @else {
                (action("enable", "Enable provisioning", "primary", None))
            }
        },
    )
    .await
}

/// Where the Tenant URL and the Secret Token go in Microsoft Entra ID and in Okta.
fn provider_steps() -> Markup {
    html! {
        details #entra-steps open {
            summary { strong { "Microsoft Entra ID" } }
            ol {
                li { "Entra admin center → Enterprise applications → your application (or New application → Create your own application, non-gallery) → Provisioning → Get started; Provisioning Mode: " strong { "Automatic" } "." }
                li { "Admin Credentials: paste the " strong { "Tenant URL" } " and the " strong { "Secret Token" } " above, press " strong { "Test Connection" } ", then Save." }
                li { "Mappings: keep Provision Microsoft Entra ID Users and Groups enabled." }
                li { "Settings → Scope: \"Sync only assigned users and groups\"; under Users and groups, assign the groups whose members need seats." }
                li { "Provisioning Status: " strong { "On" } ", Save. The first cycle can take up to 40 minutes; \"Provision on demand\" is immediate." }
            }
        }
        details #okta-steps {
            summary { strong { "Okta" } }
            ol {
                li { "Admin Console → Applications → your SCIM application (or Browse App Catalog → \"SCIM 2.0 Test App (OAuth Bearer Token)\") → Provisioning → Configure API Integration → Enable API integration." }
                li { "Base URL: the " strong { "Tenant URL" } "; API Token: the " strong { "Secret Token" } ". Press " strong { "Test API Credentials" } ", then Save." }
                li { "Provisioning → To App: enable Create Users, Update User Attributes and Deactivate Users." }
                li { "Assignments: assign the groups; Push Groups: push the groups whose members need seats." }
            }
        }
    }
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
    let issued = session::shown_once(&headers, ISSUED_COOKIE, &license_id).map(
        |[reset, token_id, secret_token]| {
            let token = IssuedToken {
                token_id,
                secret_token,
            };
            (reset == "1", token)
        },
    );
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
    request: RequestId,
    LicenseForm { license, form, .. }: LicenseForm,
) -> PageResult<Response> {
    let license_id = license.id;
    let back = format!("/admin/licenses/{license_id}/provisioning");
    let request_id = request.0.clone();
    match form.get("action").unwrap_or_default() {
        action @ ("issue" | "reset") => {
            let reset = action == "reset";
            let issued = state
                .command(license_id.clone(), &request, move |c, id| {
                    let issued = if reset {
                        commands::reset_tokens(c, id, Some(&request_id))?
                    } else {
                        commands::issue_token(c, id, Some(&request_id))?
                    };
                    Ok((issued, Change::default()))
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
            state
                .command(license_id.clone(), &request, move |c, id| {
                    commands::revoke_token(c, id, &token_id, Some(&request_id))?;
                    Ok(((), Change::default()))
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
        _ => Err(PageError(ApiError::bad_request(
            ScimType::InvalidValue,
            "unknown action",
        ))),
    }
}
