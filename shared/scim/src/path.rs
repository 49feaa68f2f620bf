//! PATCH paths (RFC 7644 §3.5.2): `PATH = attrPath / valuePath [subAttr]`.

use crate::error::{Error, ScimType};
use crate::filter::{self, AttrPath, Filter};
use crate::limits::Limits;

/// `name.givenName` is `attr` with a sub; `emails[type eq "work"].value` is `attr` `emails`,
/// a `filter` and a `sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses a PATCH `path` within `limits` (its length is bounded as a filter's). Every error is
/// `400 invalidPath`, naming the path.
pub fn parse_path(input: &str, limits: &Limits) -> Result<PatchPath, Error> {
    parse(input, limits).map_err(|error| match error {
        Error::BadRequest(_, detail) => Error::bad_request(
            ScimType::InvalidPath,
            format!("invalid path `{input}`: {detail}"),
        ),
        error => error,
    })
}

fn parse(input: &str, limits: &Limits) -> Result<PatchPath, Error> {
    let invalid = |detail: &str| Error::bad_request(ScimType::InvalidPath, detail);
    if input.len() > limits.filter_bytes {
        return Err(invalid(&format!(
            "{} bytes long, longer than the limit of {} bytes",
            input.len(),
            limits.filter_bytes
        )));
    }
    let attr_path = |text: &str| filter::parse_attr_path(text).map_err(|e| invalid(&e));
    let Some(open) = input.find('[') else {
        return Ok(PatchPath {
            attr: attr_path(input)?,
            filter: None,
            sub: None,
        });
    };
    // The filter runs to the last `]`: a trailing `.sub` holds no bracket, and a `]` inside a
    // quoted filter value is left to the filter parser.
    let Some(close) = input.rfind(']').filter(|&close| close > open) else {
        return Err(invalid("the value filter has no closing `]`"));
    };
    let attr = attr_path(input.get(..open).unwrap_or_default())?;
    if attr.sub.is_some() {
        return Err(invalid(
            "a value filter must follow an attribute, not `attr.sub`",
        ));
    }
    let filter = filter::parse_value_filter(input, open + 1..close, ScimType::InvalidPath, limits)?;
    let sub = match input.get(close + 1..).unwrap_or_default() {
        "" => None,
        rest => match rest.strip_prefix('.') {
            Some(sub) if filter::is_attr_name(sub) => Some(sub.to_owned()),
            _ => return Err(invalid("only `.subAttribute` may follow the value filter")),
        },
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::filter::{CompValue, CompareOp};
    use proptest::prelude::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn attr(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        }
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare(
            attr(None, name, None),
            CompareOp::Eq,
            CompValue::Str(value.to_owned()),
        )
    }

    /// The parser with the default limits.
    fn parse_path(input: &str) -> Result<PatchPath, Error> {
        super::parse_path(input, &Limits::DEFAULT)
    }

    fn invalid(input: &str) -> String {
        match parse_path(input) {
            Err(Error::BadRequest(ScimType::InvalidPath, detail)) => detail,
            other => panic!("{input:?} should be invalidPath, got {other:?}"),
        }
    }

    #[test]
    fn parses_attribute_paths() {
        let plain = |input: &str, expected: AttrPath| {
            assert_eq!(
                parse_path(input).unwrap(),
                PatchPath {
                    attr: expected,
                    filter: None,
                    sub: None
                }
            );
        };
        plain("userName", attr(None, "userName", None));
        plain("name.givenName", attr(None, "name", Some("givenName")));
        plain(
            &format!("{ENTERPRISE}:manager"),
            attr(Some(ENTERPRISE), "manager", None),
        );
        plain(
            &format!("{ENTERPRISE}:manager.value"),
            attr(Some(ENTERPRISE), "manager", Some("value")),
        );
        // A bare schema URN parses as its last segment; the PATCH engine recognises it.
        plain(
            ENTERPRISE,
            attr(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"),
                "User",
                None,
            ),
        );
    }

    #[test]
    fn parses_value_paths() {
        assert_eq!(
            parse_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap(),
            PatchPath {
                attr: attr(None, "members", None),
                filter: Some(eq("value", "2819c223-7f76-453a-919d-413861904646")),
                sub: None,
            }
        );
        assert_eq!(
            parse_path(r#"roles[primary eq "True"].display"#).unwrap(),
            PatchPath {
                attr: attr(None, "roles", None),
                filter: Some(eq("primary", "True")),
                sub: Some("display".into()),
            }
        );
        assert_eq!(
            parse_path(r#"addresses[type eq "work"].streetAddress"#).unwrap(),
            PatchPath {
                attr: attr(None, "addresses", None),
                filter: Some(eq("type", "work")),
                sub: Some("streetAddress".into()),
            }
        );
        let path = parse_path(r#"emails[type eq "work" and value ew "]"].value"#).unwrap();
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert_eq!(
            path.filter.unwrap().to_string(),
            r#"type eq "work" and value ew "]""#
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for input in [
            "",
            "emails[",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]value"#,
            r#"emails[type eq "work"].value.x"#,
            r#"emails[type eq "work"]]"#,
            r#"emails[type eq "work"][value pr]"#,
            r#"name.givenName[type eq "work"]"#,
            r#"emails[type eq]"#,
            r#"emails[x[y pr]]"#,
            "display Name",
            "a.b.c",
            "foo:bar",
            "a]b[c",
        ] {
            invalid(input);
        }
        let detail = invalid(r#"emails[type eq "work" "x"]"#);
        assert!(
            detail.starts_with(r#"invalid path `emails[type eq "work" "x"]`: "#),
            "{detail}"
        );
        assert!(detail.contains("column 23"), "{detail}");
        assert!(invalid(&"a".repeat(Limits::DEFAULT.filter_bytes + 1)).contains("longer"));
    }

    #[test]
    fn limits_are_the_configured_ones() {
        let limits = Limits {
            filter_bytes: 20,
            filter_depth: 1,
            ..Limits::DEFAULT
        };
        assert!(super::parse_path(r#"emails[type eq "w"]"#, &limits).is_ok());
        let detail = |input: &str| match super::parse_path(input, &limits) {
            Err(Error::BadRequest(ScimType::InvalidPath, detail)) => detail,
            other => panic!("{input:?} should be invalidPath, got {other:?}"),
        };
        assert!(detail(r#"emails[(type eq "w")]"#).contains("21 bytes long"));
        assert!(detail(r#"emails[(type pr)]"#).contains("limit of 1 levels"));
    }

    proptest! {
        #[test]
        fn random_paths_never_panic(input in "[a-z\\[\\]\". :]{0,30}|\\PC{0,20}") {
            if let Err(e) = parse_path(&input) {
                prop_assert_eq!(e.scim_type(), Some(ScimType::InvalidPath));
            }
        }
    }
}
