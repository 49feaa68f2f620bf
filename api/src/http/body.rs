//! What handlers take from a request, each refused in the SCIM error format (never axum's own
//! plain-text rejections): JSON bodies with a size limit, declared as `application/scim+json`
//! or `application/json` (with any parameters, e.g. `charset=utf-8`) or not declared at all
//! (some scripts omit it; any other media type is 415), query parameters and path parameters.
//! And the JSON responses.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seatflow_store::{Error, ScimType};
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, SCIM_CONTENT_TYPE};
use crate::http::paging::Paging;
use crate::state::AppState;

/// A JSON request body deserialized into `T`.
pub struct JsonBody<T>(pub T);

// The router's state is always `AppState` (it holds the body size limit).
impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_json(req, state).await?;
        Ok(JsonBody(parse(&bytes)?))
    }
}

/// A JSON body that may be left out (an empty body is `None`), e.g. optional settings.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_json(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        Ok(OptionalJsonBody(Some(parse(&bytes)?)))
    }
}

/// The body of a request declared as JSON (or not declared), within the size limit.
async fn read_json(req: Request, state: &AppState) -> Result<axum::body::Bytes, ApiError> {
    check_media_type(req.headers().get(header::CONTENT_TYPE))?;
    read_limited(req.into_body(), state.config.max_body_bytes).await
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::bad_request(ScimType::InvalidSyntax, format!("malformed JSON: {e}")))?;
    Ok(serde_json::from_value(value)
        .map_err(|e| Error::bad_request(ScimType::InvalidValue, e.to_string()))?)
}

/// The media types a JSON body may be declared as.
const JSON_MEDIA_TYPES: [&str; 2] = [SCIM_CONTENT_TYPE, "application/json"];

fn check_media_type(content_type: Option<&HeaderValue>) -> Result<(), ApiError> {
    let Some(value) = content_type else {
        return Ok(());
    };
    let declared = value.to_str().unwrap_or_default();
    let media_type = declared.split(';').next().unwrap_or_default().trim();
    if JSON_MEDIA_TYPES
        .iter()
        .any(|t| media_type.eq_ignore_ascii_case(t))
    {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "the body is declared as {declared:?}; send application/scim+json or application/json"
    )))
}

pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|e| {
        // Anything but the limit is a client that went away mid-body.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge(limit)
        } else {
            ApiError::bad_request(ScimType::InvalidSyntax, "could not read the request body")
        }
    })
}

/// A SCIM JSON response with an optional ETag and Location.
pub struct ScimJson {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub etag: Option<String>,
    pub location: Option<String>,
}

impl ScimJson {
    pub fn ok(body: serde_json::Value) -> Self {
        ScimJson {
            status: StatusCode::OK,
            body,
            etag: None,
            location: None,
        }
    }
}

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        for (name, value) in [(header::ETAG, self.etag), (header::LOCATION, self.location)] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Query parameters deserialized into `T`; a malformed query is a 400 in our error format.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(ApiError::from)?;
        Ok(QueryParams(value))
    }
}

/// One page of a filtered list: the filter `F` and the [`Paging`], both from the query string
/// (two structs, as a flattened one would not parse the numbers).
pub struct Listing<F> {
    pub filter: F,
    pub paging: Paging,
}

impl<S: Send + Sync, F: DeserializeOwned + Send> FromRequestParts<S> for Listing<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let QueryParams(filter) = QueryParams::from_request_parts(parts, state).await?;
        let QueryParams(paging) = QueryParams::from_request_parts(parts, state).await?;
        Ok(Listing { filter, paging })
    }
}

/// Path parameters deserialized into `T`; one that does not parse is a 400 in our format.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}
