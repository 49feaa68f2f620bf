//! Conditional requests and response preferences: `If-Match` (412 on a stale version),
//! `If-None-Match` on reads (304), and RFC 7240 `Prefer: return=minimal|representation` on PATCH.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seatflow_scim::version::{self, Tags};

use crate::http::body::ScimJson;
use crate::scim::query::ReadQuery;

/// The conditional and preference headers of a SCIM request.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<Tags>,
    pub if_none_match: Option<Tags>,
    pub prefer: Option<Return>,
}

/// RFC 7240 `return` preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    Representation,
}

impl<S: Send + Sync> FromRequestParts<S> for Conditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Conditions::from_headers(&parts.headers))
    }
}

impl Conditions {
    fn from_headers(headers: &HeaderMap) -> Conditions {
        let text = |name| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        let prefer = text(header::HeaderName::from_static("prefer")).and_then(|p| {
            p.split([',', ';'])
                .filter_map(|token| token.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("return"))
                .and_then(|(_, value)| match value.trim().trim_matches('"') {
                    v if v.eq_ignore_ascii_case("minimal") => Some(Return::Minimal),
                    v if v.eq_ignore_ascii_case("representation") => Some(Return::Representation),
                    _ => None,
                })
        });
        Conditions {
            if_match: text(header::IF_MATCH).map(|t| Tags::parse(&t)),
            if_none_match: text(header::IF_NONE_MATCH).map(|t| Tags::parse(&t)),
            prefer,
        }
    }

    /// Whether a read of `version` is answered 304 Not Modified.
    pub fn not_modified(&self, version: i64) -> bool {
        self.if_none_match
            .as_ref()
            .is_some_and(|t| t.matches(version))
    }

    /// Whether a PATCH answers with the resource: always when `attributes` or
    /// `excludedAttributes` is given (RFC 7644 §3.5.2 MUST for `attributes`), else as `Prefer`
    /// asks, else as the endpoint's `default` (Users: the resource; Groups: 204).
    pub fn patch_returns_body(&self, query: &ReadQuery, default: Return) -> bool {
        let projected = !query.attributes.is_empty() || !query.excluded.is_empty();
        projected || self.prefer.unwrap_or(default) == Return::Representation
    }
}

/// A response without a body (204, 304) that still names the resource's version.
pub struct Bodiless {
    pub status: StatusCode,
    pub version: i64,
}

impl IntoResponse for Bodiless {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Ok(etag) = HeaderValue::from_str(&version::etag(self.version)) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    }
}

/// A read or write answer: the resource, or no body.
pub enum Reply {
    Resource(ScimJson),
    Empty(Bodiless),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Resource(json) => json.into_response(),
            Reply::Empty(empty) => empty.into_response(),
        }
    }
}

/// Adds `Preference-Applied` when the client's `return` preference was honoured.
pub fn with_preference(prefer: Option<Return>, reply: Reply) -> Response {
    let applied = match (&reply, prefer) {
        (Reply::Resource(_), Some(Return::Representation)) => Some("return=representation"),
        (Reply::Empty(_), Some(Return::Minimal)) => Some("return=minimal"),
        _ => None,
    };
    let mut response = reply.into_response();
    if let Some(applied) = applied {
        response.headers_mut().insert(
            header::HeaderName::from_static("preference-applied"),
            HeaderValue::from_static(applied),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(pairs: &[(&'static str, &'static str)]) -> Conditions {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        Conditions::from_headers(&headers)
    }

    #[test]
    fn reads_prefer_and_conditions() {
        assert_eq!(
            conditions(&[("prefer", "return=minimal")]).prefer,
            Some(Return::Minimal)
        );
        assert_eq!(
            conditions(&[("Prefer", "respond-async, return=\"representation\"")]).prefer,
            Some(Return::Representation)
        );
        assert_eq!(conditions(&[("prefer", "handling=lenient")]).prefer, None);
        let c = conditions(&[("if-none-match", "W/\"4\"")]);
        assert!(c.not_modified(4));
        assert!(!c.not_modified(5));
        assert!(
            conditions(&[("if-match", "*")])
                .if_match
                .is_some_and(|t| t.matches(9))
        );
    }
}
