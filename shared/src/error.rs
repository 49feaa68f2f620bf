//! The one error type of the domain and storage layers. The API maps it to HTTP responses in one
//! place (`seatflow_api::error`); everything else only constructs it.

use std::fmt;

/// RFC 7644 §3.12 `scimType` values for 400 responses (and `uniqueness` for 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    /// Not in RFC 7644 Table 9 (which defines none for 412): named after the status so that
    /// clients that branch on `scimType` can tell a stale `If-Match` apart.
    PreconditionFailed,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::PreconditionFailed => "preconditionFailed",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the client must fix (400), with its SCIM error type.
    #[error("{1}")]
    BadRequest(ScimType, String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this endpoint does not support that method")]
    MethodNotAllowed,
    /// A uniqueness conflict (409 `uniqueness`).
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` that names another version of the resource (412).
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A body in a media type other than JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The tenant's request rate is over its limit; retry after the given seconds (429).
    #[error("too many requests for this tenant; retry after {0} s")]
    TooManyRequests(u64),
    /// The database could not be reached or timed out; the client should retry (503).
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected storage failure (500). The detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Error::BadRequest(scim_type, detail.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(..) => 400,
            Error::Unauthorized(_) => 401,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed => 405,
            Error::Conflict(_) => 409,
            Error::PreconditionFailed(_) => 412,
            Error::PayloadTooLarge(_) => 413,
            Error::UnsupportedMediaType(_) => 415,
            Error::TooManyRequests(_) => 429,
            Error::Unavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// Seconds a client should wait before retrying, for the errors that are about load.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests(secs) => Some(*secs),
            Error::Unavailable(_) => Some(5),
            _ => None,
        }
    }

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            Error::BadRequest(t, _) => Some(*t),
            Error::Conflict(_) => Some(ScimType::Uniqueness),
            Error::PreconditionFailed(_) => Some(ScimType::PreconditionFailed),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
