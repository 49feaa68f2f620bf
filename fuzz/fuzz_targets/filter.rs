//! The filter parser on arbitrary text: every input parses or is 400 `invalidFilter`, a parsed
//! filter prints to text that parses back to the same filter, and evaluating it (in memory, and
//! the SQL planner's check) never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use seatflow_scim::ResourceKind;
use seatflow_scim::filter;
use seatflow_scim::limits::Limits;
use seatflow_store::ScimType;
use seatflow_store::filter_sql;
use serde_json::{Value, json};

/// Entra's user (`docs/providers/entra.md`) as the server renders it, with the enterprise extension.
static USER: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2441309d85324e7793ae",
        "externalId": "7fce0092-d52e-4f76-b727-3955bd72c939",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "displayName": "Émile Zola",
        "name": {"familyName": "familyName", "givenName": "givenName"},
        "active": true,
        "emails": [
            {"value": "Test_User_11bb11bb@testuser.com", "type": "work", "primary": true},
            {"value": "home@example.org", "type": "home"}
        ],
        "roles": [{"primary": "True", "value": "Admin"}],
        "x-score": 7,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090"}
        },
        "meta": {
            "resourceType": "User",
            "created": "2018-03-27T19:59:26.000Z",
            "lastModified": "2018-03-27T19:59:26.000Z",
            "version": "W/\"3\""
        }
    })
});

static GROUP: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "927fa2c08dcb4a7fae9e",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "members": [{"value": "2441309d85324e7793ae", "display": "Émile"}, {"value": "u2"}],
        "meta": {"resourceType": "Group", "created": "2018-03-27T19:59:26.000Z"}
    })
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match filter::parse(text, &Limits::DEFAULT) {
        Ok(filter) => filter,
        Err(error) => {
            assert_eq!(error.scim_type(), Some(ScimType::InvalidFilter), "{error}");
            return;
        }
    };
    // Printing quotes Microsoft's unquoted values, so a filter just under the length limit may
    // print longer than the parser accepts; within the limit it must parse back the same.
    let printed = filter.to_string();
    if printed.len() <= Limits::DEFAULT.filter_bytes {
        match filter::parse(&printed, &Limits::DEFAULT) {
            Ok(reparsed) => assert_eq!(reparsed, filter, "{text:?} printed as {printed:?}"),
            Err(error) => panic!("{text:?} printed as {printed:?}, which does not parse: {error}"),
        }
    }
    for (kind, resource) in [(ResourceKind::User, &*USER), (ResourceKind::Group, &*GROUP)] {
        filter::matches(&filter, kind, resource);
        filter_sql::is_indexed(kind, &filter);
    }
});
