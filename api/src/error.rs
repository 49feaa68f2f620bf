//! The one place where errors become HTTP responses: the SCIM error schema (RFC 7644 §3.12)
//! with `status` as a string, for the SCIM and the admin API alike.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seatflow_shared::scim::ERROR_SCHEMA;
use seatflow_shared::{Error, ScimType};
use serde_json::json;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = match &error {
            // The cause is for the operator's log, not for the client.
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_owned()
            }
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = scim_error(status, error.scim_type(), &detail);
        if let Some(secs) = error.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A SCIM error response (RFC 7644 §3.12): every error of the service is answered through here.
pub fn scim_error(status: StatusCode, scim_type: Option<ScimType>, detail: &str) -> Response {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(scim_type) = scim_type {
        body["scimType"] = scim_type.as_str().into();
    }
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
