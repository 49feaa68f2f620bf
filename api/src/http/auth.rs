//! Who is calling: a SCIM tenant (secret token → license) or the operator (admin token).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use seatflow_store::Error;
use seatflow_store::licenses::License;
use seatflow_store::{licenses, tokens};
use seatflow_store::{time, token};

use crate::http::error::ApiError;
use crate::http::token_cache::Resolved;
use crate::scim::request_log;
use crate::state::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
        .filter(|c| !c.is_empty())
}

/// The license whose SCIM tenant the request is for, put in place by [`tenant`].
#[derive(Clone)]
pub struct Tenant(pub License);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<Tenant>().ok_or_else(|| {
            Error::Internal("a SCIM route is missing the auth::tenant layer".into()).into()
        })
    }
}

/// The SCIM resource routes' layer: authenticates the tenant (secret token → license, from the
/// process's token cache, so a request needs no query for it), applies its rate limit and
/// admission (its turn is held until the answer is ready), and hands the license to the
/// handler as [`Tenant`].
pub async fn tenant(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = bearer(request.headers())
        .ok_or_else(|| ApiError::Unauthorized("a Bearer secret token is required".into()))?;
    let digest = token::hash(secret);
    let Resolved { license, token } = match state.tokens.get(&digest) {
        Ok(resolved) => resolved,
        Err(miss) => {
            let key = digest.clone();
            let found = state
                .db
                .read(move |c| tokens::authenticate_digest(c, &key))
                .await?;
            let Some((license, token)) = found else {
                return Err(ApiError::Unauthorized(
                    "the secret token is not valid".into(),
                ));
            };
            let resolved = Resolved { license, token };
            state.tokens.store(digest.clone(), resolved.clone(), miss);
            resolved
        }
    };
    if let Some(slot) = request.extensions().get::<request_log::TenantSlot>() {
        let _ = slot.0.set(license.id.clone());
    }
    state.rate_limiter.check(&license.id)?;
    if !license.provisioning_enabled {
        return Err(ApiError::Unauthorized(
            "provisioning is disabled for this license".into(),
        ));
    }
    let _turn = state.admission.enter(&license.id).await?;
    let now = time::now();
    if tokens::needs_touch(&token, &now) {
        state.tokens.touched(&digest, &now);
        // Best effort and off the request path: a lost `last_used_at` update is harmless.
        let db = state.db.clone();
        let license_id = license.id.clone();
        tokio::spawn(async move {
            let recorded = db
                .write(move |c| {
                    tokens::touch(c, &token.id, &now)?;
                    licenses::record_activity(c, &license_id, &now, false)
                })
                .await;
            if let Err(e) = recorded {
                tracing::debug!(error = %e, "could not record token use");
            }
        });
    }
    request.extensions_mut().insert(Tenant(license));
    Ok(next.run(request).await)
}

/// Whether the request's bearer token is `expected`, compared in constant time.
fn presents(parts: &Parts, expected: &str) -> bool {
    bearer(&parts.headers).is_some_and(|presented| token::constant_time_eq(presented, expected))
}

/// A caller of the entitlement check: the product's service token
/// (`SEATFLOW_ENTITLEMENT_TOKEN`) or the operator's token. It can only read.
pub struct EntitlementReader;

// The callers below are decided by the bearer token alone; the router's state is always
// `AppState`, so they take it directly.
impl FromRequestParts<AppState> for EntitlementReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let service = state.config.entitlement_token.as_deref();
        let admitted =
            presents(parts, &state.admin_token) || service.is_some_and(|t| presents(parts, t));
        admit(
            EntitlementReader,
            admitted,
            "the entitlement or admin token is required",
        )
    }
}

/// The operator, authenticated by `SEATFLOW_ADMIN_TOKEN`.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let admitted = presents(parts, &state.admin_token);
        admit(Operator, admitted, "the admin token is required")
    }
}

/// A Prometheus scraper: anyone, unless `SEATFLOW_METRICS_TOKEN` is set, then that Bearer token.
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.metrics_token.as_deref();
        let admitted = expected.is_none_or(|t| presents(parts, t));
        admit(MetricsReader, admitted, "the metrics token is required")
    }
}

/// The caller when `admitted`, else a 401 saying which token was `required`.
fn admit<T>(caller: T, admitted: bool, required: &str) -> Result<T, ApiError> {
    if admitted {
        Ok(caller)
    } else {
        Err(ApiError::Unauthorized(required.into()))
    }
}
