//! HTTP plumbing below the endpoints: the connection layer that normalises request heads, and
//! the path normalisation every request gets before routing.

pub mod wire;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use seatflow_shared::ScimType;

use crate::app::AppState;
use crate::error::scim_error;
use wire::Rejection;

/// Answers a head the connection layer refused ([`wire::REJECTED_PATH`]), in the SCIM error
/// format, and closes the connection: after a malformed head nothing on it can be trusted.
pub async fn rejected(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let rejection = Rejection::from_slug(&slug).unwrap_or(Rejection::MalformedRequestLine);
    let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let scim_type = (status == StatusCode::BAD_REQUEST).then_some(ScimType::InvalidSyntax);
    let detail = rejection.detail(state.0.config.max_header_bytes);
    let mut response = scim_error(status, scim_type, &detail);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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
