//! Sessions of the admin pages: a signed cookie (HMAC-SHA-256 with a key derived from the
//! operator token, so every API process of a deployment accepts it) holding who signed in, until
//! when, and a nonce from which the CSRF token of every form is derived. Nothing is stored on
//! the server; a license admin's session ends when their key (or setup link) is revoked
//! (checked per request).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use seatflow_store::licenses::{self, License};
use seatflow_store::{Error, admin_keys, setup_links, token};
use sha2::{Digest, Sha256};

use crate::admin_ui::form::Form;
use crate::admin_ui::view::{PageError, PageResult};
use crate::http::body::Path;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "seatflow_admin";
pub const LOGIN_COOKIE: &str = "seatflow_login";
/// Sessions last a working day.
pub const SESSION_SECS: i64 = 8 * 3600;
/// A setup link's session lasts an hour: long enough to walk the provider's steps and watch
/// the first sync arrive, short enough that a link forwarded by mistake is not a standing way
/// in. For more, the operator issues another link or an admin key.
pub const SETUP_SESSION_SECS: i64 = 3600;

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The operator (signed in with `SEATFLOW_ADMIN_TOKEN`): every license.
    Operator,
    /// A license admin: that license only.
    License { license_id: String, via: Credential },
}

/// What a license admin's session was opened with; revoking it ends the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A per-license admin key (its id).
    AdminKey(String),
    /// A setup link (its id), opened once.
    SetupLink(String),
}

#[derive(Debug, Clone)]
pub struct Session {
    pub scope: Scope,
    pub nonce: String,
}

impl Session {
    pub fn new(scope: Scope) -> Self {
        Session {
            scope,
            nonce: token::generate(),
        }
    }

    /// Whether this session may see and change the license.
    pub fn may_access(&self, license_id: &str) -> bool {
        match &self.scope {
            Scope::Operator => true,
            Scope::License {
                license_id: own, ..
            } => own == license_id,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.scope == Scope::Operator
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self, state: &AppState) -> String {
        csrf_for(state, &self.nonce)
    }

    pub fn check_csrf(&self, state: &AppState, presented: &str) -> bool {
        token::constant_time_eq(presented, &self.csrf(state))
    }

    fn encode(&self, state: &AppState, expires: i64) -> String {
        let scope = match &self.scope {
            Scope::Operator => "operator|".to_owned(),
            Scope::License {
                license_id,
                via: Credential::AdminKey(key_id),
            } => format!("license:{license_id}|{key_id}"),
            Scope::License {
                license_id,
                via: Credential::SetupLink(link_id),
            } => format!("setup:{license_id}|{link_id}"),
        };
        let payload = URL_SAFE_NO_PAD.encode(format!("{scope}|{expires}|{}", self.nonce));
        let mac = sign(state, &format!("session|{payload}"));
        format!("{payload}.{mac}")
    }

    fn decode(state: &AppState, cookie: &str, now: i64) -> Option<Session> {
        let (payload, mac) = cookie.split_once('.')?;
        if !token::constant_time_eq(mac, &sign(state, &format!("session|{payload}"))) {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mut parts = raw.split('|');
        let (scope, credential, expires, nonce) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if expires.parse::<i64>().ok()? <= now {
            return None;
        }
        let license = |license_id: &str, via| Scope::License {
            license_id: license_id.to_owned(),
            via,
        };
        let scope = if scope == "operator" {
            Scope::Operator
        } else if let Some(license_id) = scope.strip_prefix("license:") {
            license(license_id, Credential::AdminKey(credential.to_owned()))
        } else {
            let license_id = scope.strip_prefix("setup:")?;
            license(license_id, Credential::SetupLink(credential.to_owned()))
        };
        Some(Session {
            scope,
            nonce: nonce.to_owned(),
        })
    }

    /// The `Set-Cookie` value that signs this session in, for as long as its scope allows.
    pub fn cookie(&self, state: &AppState) -> String {
        let lifetime = match &self.scope {
            Scope::License {
                via: Credential::SetupLink(_),
                ..
            } => SETUP_SESSION_SECS,
            _ => SESSION_SECS,
        };
        let value = self.encode(state, now_secs() + lifetime);
        cookie(state, SESSION_COOKIE, &value, lifetime)
    }
}

/// The CSRF token for a nonce (the session's, or the sign-in form's pre-session nonce).
pub fn csrf_for(state: &AppState, nonce: &str) -> String {
    sign(state, &format!("csrf|{nonce}"))
}

/// A cookie with this deployment's attributes: `HttpOnly`, `SameSite=Strict`, `Path=/admin`,
/// and `Secure` when the public URL is https.
pub fn cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The `N` fields of a secret shown once (post/redirect/get: a short-lived cookie
/// `{license}:{field}:…`), if the cookie is there and is this license's; the last field may
/// hold `:`.
pub fn shown_once<const N: usize>(
    headers: &HeaderMap,
    name: &str,
    license_id: &str,
) -> Option<[String; N]> {
    let (license, rest) = read_cookie(headers, name)?.split_once(':')?;
    if license != license_id {
        return None;
    }
    let fields: Vec<String> = rest.splitn(N, ':').map(str::to_owned).collect();
    fields.try_into().ok()
}

fn sign(state: &AppState, message: &str) -> String {
    // The key is derived from the operator token, so rotating that token ends every session.
    let key = Sha256::digest(format!("seatflow admin pages\0{}", state.admin_token));
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn now_secs() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

/// Not signed in (or the session ended): pages send the browser to the sign-in page.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/admin/login").into_response()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = SignIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SignIn> {
        let session = read_cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|c| Session::decode(state, c, now_secs()))
            .ok_or(SignIn)?;
        if let Scope::License { license_id, via } = &session.scope {
            let (license_id, via) = (license_id.clone(), via.clone());
            let live = state
                .db
                .read(move |c| match &via {
                    Credential::AdminKey(key_id) => admin_keys::is_live(c, &license_id, key_id),
                    Credential::SetupLink(link_id) => {
                        setup_links::session_live(c, &license_id, link_id)
                    }
                })
                .await
                .unwrap_or(false);
            if !live {
                return Err(SignIn);
            }
        }
        Ok(session)
    }
}

/// The license, if this session may see it; another license is "not found" (no existence leak).
pub async fn license_for(
    state: &AppState,
    session: &Session,
    license_id: &str,
) -> PageResult<License> {
    if !session.may_access(license_id) {
        return Err(PageError::not_found());
    }
    let id = license_id.to_owned();
    state
        .db
        .read(move |c| licenses::get(c, &id))
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => PageError::not_found(),
            other => other.into(),
        })
}

/// A form posted to one license's pages (the path's `{id}`): by a session that may access that
/// license, with the form's CSRF token checked. Every such post makes these checks, in this order.
pub struct LicenseForm {
    pub session: Session,
    pub license: License,
    pub form: Form,
}

impl FromRequest<AppState> for LicenseForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(license_id) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let license = license_for(state, &session, &license_id)
            .await
            .map_err(IntoResponse::into_response)?;
        form.check_csrf(state, &session)
            .map_err(IntoResponse::into_response)?;
        Ok(LicenseForm {
            session,
            license,
            form,
        })
    }
}
