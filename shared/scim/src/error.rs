//! The protocol's errors: RFC 7644 §3.12 `scimType` values and what this crate refuses.

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

/// What the protocol layer refuses: a request that breaks RFC 7643/7644 or the server's
/// limits, or a version that does not match. It knows nothing of HTTP; the API maps it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the client must fix, with its SCIM error type.
    #[error("{1}")]
    BadRequest(ScimType, String),
    /// An `If-Match` that names another version of the resource.
    #[error("{0}")]
    PreconditionFailed(String),
    /// A stored document that does not read back: a bug or a manual edit, not the client's.
    #[error("{0}")]
    Corrupt(String),
}

impl Error {
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Error::BadRequest(scim_type, detail.into())
    }

    /// The `scimType` a client is told, where the protocol defines one.
    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            Error::BadRequest(t, _) => Some(*t),
            Error::PreconditionFailed(_) => Some(ScimType::PreconditionFailed),
            Error::Corrupt(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
