//! Limits on a single request, answered in the SCIM error format: members per group request,
//! and the request timeout (503 with `Retry-After`). Each tenant's share of the process is
//! `admission`'s.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use seatflow_scim::patch::MemberChange;
use seatflow_store::{Error, ScimType};

use crate::http::error::ApiError;
use crate::state::AppState;

/// Refuses a group request that names more members than `max` (400 `invalidValue`), before
/// anything is written.
pub fn check_members(changes: &[MemberChange], max: usize) -> Result<(), Error> {
    let named: usize = changes.iter().map(MemberChange::len).sum();
    if named > max {
        return Err(Error::bad_request(
            ScimType::InvalidValue,
            format!("the request names {named} members; at most {max} are allowed per request"),
        ));
    }
    Ok(())
}

/// Answers 503 when a request takes longer than `SEATFLOW_REQUEST_TIMEOUT_SECS`, well inside
/// the 60 s after which Entra gives up on a request.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = Duration::from_secs(state.config.request_timeout_secs.max(1));
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Domain(Error::Unavailable(format!(
            "the request did not finish within {} s",
            limit.as_secs()
        )))
        .into_response(),
    }
}
