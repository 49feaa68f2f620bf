//! Lenient endpoint paths: clients send `/users` (Microsoft's Postman collection) and
//! `/Users/?filter=…` (trailing slash). A request no route matched is retried once with the
//! endpoint name in its canonical case and without a trailing slash. (`//` never gets here:
//! `http::collapse_slashes` rewrites it before routing.)

use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::http::error::ApiError;

const ENDPOINTS: [&str; 5] = [
    "Users",
    "Groups",
    "ServiceProviderConfig",
    "ResourceTypes",
    "Schemas",
];

/// `path` with its first segment's endpoint name in canonical case and no empty segments (no
/// trailing slash), or None if that changes nothing.
fn canonical(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(first) = segments.first_mut()
        && let Some(name) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(first))
    {
        *first = name;
    }
    let canonical: String = segments.iter().flat_map(|s| ["/", s]).collect();
    (canonical != path && !canonical.is_empty()).then_some(canonical)
}

/// The fallback of the SCIM routes (which see paths without the mount prefix): `endpoints` is
/// the SCIM router itself, which answers the canonical path.
pub async fn retry_canonical(endpoints: Router, mut request: Request) -> Response {
    let Some(path) = canonical(request.uri().path()) else {
        return ApiError::no_such_endpoint().into_response();
    };
    let uri = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    match uri.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return ApiError::no_such_endpoint().into_response(),
    }
    match endpoints.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical("/users").as_deref(), Some("/Users"));
        assert_eq!(canonical("/Users/").as_deref(), Some("/Users"));
        assert_eq!(canonical("/GROUPS/abc/").as_deref(), Some("/Groups/abc"));
        assert_eq!(
            canonical("/serviceproviderconfig").as_deref(),
            Some("/ServiceProviderConfig")
        );
        assert_eq!(canonical("/Users"), None);
        assert_eq!(canonical("/nothing"), None);
        assert_eq!(canonical("/"), None);
    }
}
