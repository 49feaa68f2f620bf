//! Setup links (`/admin/setup/{secret}`): the customer's IT admin opens one and lands, signed
//! in to that one license, on its Automatic provisioning page.
//!
//! The GET only shows what the link opens, with a button; the link is spent by the button's
//! POST. Two reasons: mail and chat link scanners fetch every URL in a message and would spend
//! a single-use link before its reader clicks it, and the session cookie is `SameSite=Strict`,
//! which the browser does not send after a redirect that began on another site (the mail
//! client) — the POST comes from this site, so the page it leads to is signed in.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use seatflow_store::setup_links::{self, SetupLink, Status, Unusable};
use seatflow_store::{Error, licenses, time};

use crate::admin_ui::form::{Form, see_other};
use crate::admin_ui::session::{Credential, Scope};
use crate::admin_ui::sign_in::{pre_session_checked, pre_session_csrf, start_session};
use crate::admin_ui::view::{PageError, PageResult, csrf_field, page, when};
use crate::commands;
use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The error page of a link that opens nothing: 404 for a secret no link has, 410 for a link
/// used, expired or revoked. Nothing more is told about which secrets exist.
fn refused(unusable: Unusable) -> PageError {
    let ask = "Ask your vendor for a new setup link.";
    let detail = match unusable {
        Unusable::Unknown => {
            return PageError(ApiError::Domain(Error::NotFound(format!(
                "This setup link is not valid; check that the whole link was copied. {ask}"
            ))));
        }
        Unusable::Spent(Status::Expired) => format!("This setup link has expired. {ask}"),
        Unusable::Spent(Status::Revoked) => format!("This setup link has been revoked. {ask}"),
        // Active only if it expired between the redemption and the look that followed it.
        Unusable::Spent(Status::Used | Status::Active) => {
            format!("This setup link has already been used; it opens once. {ask}")
        }
    };
    PageError(ApiError::Gone(detail))
}

/// The link a secret names, if it can still be opened.
async fn usable(state: &AppState, secret: String) -> PageResult<SetupLink> {
    let link = state
        .db
        .read(move |c| setup_links::find(c, &secret))
        .await?;
    let link = link.ok_or(refused(Unusable::Unknown))?;
    match link.status(&time::now()) {
        Status::Active => Ok(link),
        spent => Err(refused(Unusable::Spent(spent))),
    }
}

/// The secret is in the address: no page of the link may pass it on, nor be cached.
const PRIVATE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

fn private(response: impl IntoResponse) -> Response {
    (PRIVATE, response).into_response()
}

pub async fn landing(
    State(state): State<AppState>,
    Path(secret): Path<String>,
) -> Result<Response, Response> {
    let link = usable(&state, secret.clone()).await.map_err(private)?;
    let license_id = link.license_id.clone();
    let license = state
        .db
        .read(move |c| licenses::get(c, &license_id))
        .await
        .map_err(|e| private(PageError::from(e)))?;
    let (csrf, nonce_cookie) = pre_session_csrf(&state);
    let body = page(
        "Set up provisioning",
        None,
        false,
        html! {
            section.narrow {
                h1 { "Set up provisioning for " (license.name) }
                p { "This link signs you in to " strong { (license.name) } "'s license admin pages for an hour, "
                    "to connect your identity provider (Microsoft Entra ID or Okta): the Tenant URL, the Secret Token "
                    "and a checklist that ticks as the first sync arrives." }
                p.muted.small { "The link works once and expires at " (when(&link.expires_at)) "." }
                form method="post" action={ "/admin/setup/" (secret) } {
                    (csrf_field(&csrf))
                    button.primary type="submit" { "Open the setup pages" }
                }
            }
        },
    );
    Ok(private(([(header::SET_COOKIE, nonce_cookie)], body)))
}

pub async fn open(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    request: RequestId,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    if !pre_session_checked(&state, &headers, &form) {
        // The landing page's form expired or came from elsewhere: show it afresh (the link is
        // still unspent).
        let again = format!("/admin/setup/{secret}");
        return Ok(private(see_other(&again)));
    }
    let request_id = request.0.clone();
    let opened = state
        .db
        .write(move |c| commands::open_setup_link(c, &secret, Some(&request_id)))
        .await
        .map_err(|e| private(PageError::from(e)))?;
    let link = opened.map_err(|unusable| private(refused(unusable)))?;
    let target = format!("/admin/licenses/{}/provisioning", link.license_id);
    let scope = Scope::License {
        license_id: link.license_id,
        via: Credential::SetupLink(link.id),
    };
    Ok(private(start_session(&state, scope, &target)))
}
