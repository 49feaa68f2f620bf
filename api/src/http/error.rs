//! The one place where errors become answers. [`ApiError::answer`] is the table: status,
//! `scimType`, detail and `Retry-After` for every error. The API answers it in the SCIM error
//! schema (RFC 7644 §3.12, `status` as a string); the admin pages render the same answer as an
//! HTML page (`admin_ui::view::PageError`).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seatflow_scim::ERROR_SCHEMA;
use seatflow_store::{Error, ScimType};
use serde_json::json;

use crate::http::wire::Rejection;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// An error on its way to the client: the domain's, or one only HTTP knows.
#[derive(Debug)]
pub enum ApiError {
    /// What the domain refused or failed with.
    Domain(Error),
    /// No (valid) credentials for this request.
    Unauthorized(String),
    /// Valid credentials, but not for this (a license admin on another license).
    Forbidden(String),
    /// It existed but can no longer be used (a setup link used, expired or revoked).
    Gone(String),
    MethodNotAllowed,
    PayloadTooLarge(usize),
    UnsupportedMediaType(String),
    /// The tenant's requests are over its limit; retry after the given seconds.
    TooManyRequests(u64),
    /// A request head the connection layer refused (`http::wire`), under this head limit.
    Rejected(Rejection, usize),
}

/// How an error is answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ApiError::Domain(Error::bad_request(scim_type, detail))
    }

    pub fn no_such_endpoint() -> Self {
        ApiError::Domain(Error::NotFound("no such endpoint".into()))
    }

    /// The table.
    pub fn answer(&self) -> Answer {
        let answer = |status, detail: String| Answer {
            status,
            scim_type: None,
            detail,
            retry_after: None,
        };
        match self {
            ApiError::Domain(error) => {
                let status = match error {
                    Error::BadRequest(..) => StatusCode::BAD_REQUEST,
                    Error::NotFound(_) => StatusCode::NOT_FOUND,
                    Error::Conflict(_) => StatusCode::CONFLICT,
                    Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
                    Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let detail = match error {
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
                Answer {
                    status,
                    scim_type: error.scim_type(),
                    detail,
                    retry_after: matches!(error, Error::Unavailable(_)).then_some(5),
                }
            }
            ApiError::Unauthorized(detail) => answer(StatusCode::UNAUTHORIZED, detail.clone()),
            ApiError::Forbidden(detail) => answer(StatusCode::FORBIDDEN, detail.clone()),
            ApiError::Gone(detail) => answer(StatusCode::GONE, detail.clone()),
            ApiError::MethodNotAllowed => answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not support that method".into(),
            ),
            ApiError::PayloadTooLarge(limit) => answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the limit of {limit} bytes"),
            ),
            ApiError::UnsupportedMediaType(detail) => {
                answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail.clone())
            }
            ApiError::TooManyRequests(secs) => Answer {
                retry_after: Some(*secs),
                ..answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many requests for this tenant; retry after {secs} s"),
                )
            },
            ApiError::Rejected(rejection, max_head_bytes) => {
                let status =
                    StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
                Answer {
                    status,
                    scim_type: (status == StatusCode::BAD_REQUEST)
                        .then_some(ScimType::InvalidSyntax),
                    detail: rejection.detail(*max_head_bytes),
                    retry_after: None,
                }
            }
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

impl From<seatflow_scim::Error> for ApiError {
    fn from(e: seatflow_scim::Error) -> Self {
        ApiError::Domain(e.into())
    }
}

// axum's own extractors answer in the same format.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::bad_request(ScimType::InvalidSyntax, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(ScimType::InvalidValue, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(ScimType::InvalidValue, rejection.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let answer = self.answer();
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": answer.status.as_u16().to_string(),
            "detail": answer.detail,
        });
        if let Some(scim_type) = answer.scim_type {
            body["scimType"] = scim_type.as_str().into();
        }
        let mut response = (answer.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        with_answer_headers(headers, &answer);
        if matches!(self, ApiError::Rejected(..)) {
            // After a malformed head nothing more on the connection can be trusted.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The headers an answer carries whatever its format: `Retry-After` (429, 503) and, for 401,
/// `WWW-Authenticate`.
pub fn with_answer_headers(headers: &mut axum::http::HeaderMap, answer: &Answer) {
    if let Some(secs) = answer.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if answer.status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
}
