//! HTTP plumbing below the endpoints: the connection layer that normalises request heads, the
//! path normalisation every request gets before routing, errors and bodies, authentication and
//! the token cache, request ids, limits, paging and telemetry.

pub mod admission;
pub mod auth;
pub mod body;
pub mod error;
pub mod limits;
pub mod paging;
pub mod request_id;
pub mod telemetry;
pub mod token_cache;
pub mod wire;

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use crate::http::body::Path;
use crate::http::error::ApiError;
use crate::state::AppState;
use wire::Rejection;

/// Answers a head the connection layer refused ([`wire::REJECTED_PATH`]) in the SCIM error
/// format, and closes the connection.
pub async fn rejected(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let rejection = Rejection::from_slug(&slug).unwrap_or(Rejection::MalformedRequestLine);
    ApiError::Rejected(rejection, state.config.max_header_bytes).into_response()
}

/// Collapses `//` in the path to `/` before routing: no route has an empty segment, and
/// keycloak-scim joins a Tenant URL pasted with a trailing slash into `/scim/v2//Users`.
pub fn collapse_slashes<B>(mut request: Request<B>) -> Request<B> {
    let uri = request.uri();
    if !uri.path().contains("//") {
        return request;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let rebuilt = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    if let Ok(collapsed) = rebuilt.parse::<Uri>() {
        *request.uri_mut() = collapsed;
    }
    request
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collapsed(uri: &str) -> String {
        let request = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        collapse_slashes(request).uri().to_string()
    }

    #[test]
    fn double_slashes_in_the_path_collapse_and_the_query_is_kept() {
        assert_eq!(collapsed("/scim/v2//Users"), "/scim/v2/Users");
        assert_eq!(
            collapsed("//scim///v2/Users//x?a=//b"),
            "/scim/v2/Users/x?a=//b"
        );
        assert_eq!(collapsed("/scim/v2/Users?a=//b"), "/scim/v2/Users?a=//b");
    }
}
