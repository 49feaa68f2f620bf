//! The service's one error type: what storage, the queue, licensing and the API's own checks
//! fail with, in protocol terms, never in HTTP terms. The API maps it to responses in one place
//! (`seatflow_api::http::error`).

use seatflow_scim::ScimType;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the client must fix, with its SCIM error type.
    #[error("{1}")]
    BadRequest(ScimType, String),
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness conflict (SCIM `uniqueness`).
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` that names another version of the resource.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The database could not be reached or timed out: worth retrying.
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected storage failure. The detail is for the operator's log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The protocol layer's bad request, so the two error types build it in one place.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        seatflow_scim::Error::bad_request(scim_type, detail).into()
    }

    /// The `scimType` a client is told, where the protocol defines one.
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

impl From<seatflow_scim::Error> for Error {
    fn from(e: seatflow_scim::Error) -> Self {
        match e {
            seatflow_scim::Error::BadRequest(t, detail) => Error::BadRequest(t, detail),
            seatflow_scim::Error::PreconditionFailed(detail) => Error::PreconditionFailed(detail),
            seatflow_scim::Error::Corrupt(detail) => Error::Internal(detail),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as D};
        match e {
            // The server went away (or could not be reached), or a conflict that a retry resolves.
            D::DatabaseError(
                Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::SerializationFailure,
                info,
            ) => Error::Unavailable(info.message().to_owned()),
            D::DatabaseError(Kind::UniqueViolation, info) => {
                Error::Conflict(format!("already exists: {}", info.message()))
            }
            other => Error::Internal(other.to_string()),
        }
    }
}
