//! Resource versions (RFC 7644 §3.14): `meta.version` and the `ETag` header are the weak tag
//! `W/"n"` of the row's version counter; `If-Match` and `If-None-Match` name versions.
//!
//! SCIM uses weak tags with `If-Match` (RFC 7644 §3.14's own examples), so tags are compared
//! ignoring the `W/` prefix.

use crate::error::Error;

/// `meta.version` and the ETag header value of a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The entity tags of an `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// `*`: any current version.
    Any,
    /// The opaque parts of the listed tags (without `W/` and quotes).
    List(Vec<String>),
}

impl Tags {
    /// Parses a header value: `*` or a comma-separated list of (weak or strong) quoted tags.
    /// Unquoted tags are accepted as their text, for lenient clients.
    pub fn parse(header: &str) -> Tags {
        if header.trim() == "*" {
            return Tags::Any;
        }
        Tags::List(
            header
                .split(',')
                .map(|tag| {
                    let tag = tag.trim();
                    let tag = tag.strip_prefix("W/").unwrap_or(tag);
                    tag.trim_matches('"').to_owned()
                })
                .filter(|tag| !tag.is_empty())
                .collect(),
        )
    }

    /// Whether the tags name `version`.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Tags::Any => true,
            Tags::List(tags) => tags.iter().any(|t| *t == version.to_string()),
        }
    }
}

/// `If-Match` on a write: the write proceeds only if the tags name the current version.
pub fn check_if_match(if_match: Option<&Tags>, version: i64) -> Result<(), Error> {
    match if_match {
        Some(tags) if !tags.matches(version) => Err(Error::PreconditionFailed(format!(
            "the resource is at version {}, not the one in If-Match",
            etag(version)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_weakly_and_star_matches_anything() {
        assert!(Tags::parse("W/\"3\"").matches(3));
        assert!(Tags::parse("\"3\"").matches(3));
        assert!(Tags::parse("W/\"1\", W/\"3\"").matches(3));
        assert!(!Tags::parse("W/\"2\"").matches(3));
        assert!(Tags::parse(" * ").matches(7));
        assert!(!Tags::parse("").matches(1));
    }

    #[test]
    fn stale_if_match_is_412() {
        let err = check_if_match(Some(&Tags::parse("W/\"1\"")), 2)
            .err()
            .unwrap();
        assert!(matches!(err, Error::PreconditionFailed(_)), "{err:?}");
        assert!(check_if_match(None, 2).is_ok());
        assert!(check_if_match(Some(&Tags::Any), 2).is_ok());
    }
}
