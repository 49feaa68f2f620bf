//! The PATCH engine on arbitrary JSON, the way the API runs it: read the PatchOp message, apply
//! it to a stored user and a stored group, then type and index the result. Every failure is a
//! 400 and leaves the document unchanged; group members never land in the document.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use seatflow_scim::limits::Limits;
use seatflow_scim::patch::{self, MemberChange, PatchOp, PatchRequest};
use seatflow_scim::{ResourceKind, resource};
use serde_json::{Map, Value, json};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => unreachable!("the fixtures are objects"),
    }
}

/// Entra's create body (`docs/providers/entra.md`) as stored, with an enterprise manager and a role.
static USER: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    object(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb11bb@testuser.com"}],
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [{"primary": "True", "value": "Admin"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Sales",
            "manager": {"value": "26118915-6090"}
        }
    }))
});

/// Entra's group (`docs/providers/entra.md`) as stored: members live in their own table.
static GROUP: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    object(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
        ],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName"
    }))
});

/// The PATCH path's errors are all the client's to fix: a 400.
fn assert_bad_request(error: &seatflow_scim::Error) {
    assert!(
        matches!(error, seatflow_scim::Error::BadRequest(..)),
        "{error}"
    );
}

/// Applies `operations` to a copy of `stored`, as the API does to a stored `noun`. On success
/// `check` sees the member changes and the patched document, which must then type and index
/// (`fields`) or fail with a 400; a failed PATCH is a 400 and leaves the document unchanged.
fn patch_stored<T>(
    kind: ResourceKind,
    noun: &str,
    stored: &Map<String, Value>,
    operations: &[PatchOp],
    check: impl FnOnce(&[MemberChange], &Map<String, Value>),
    fields: impl FnOnce(Map<String, Value>) -> seatflow_scim::Result<T>,
) {
    let mut doc = stored.clone();
    match patch::apply(kind, &mut doc, operations, &Limits::DEFAULT) {
        Ok(changes) => {
            check(&changes, &doc);
            if let Err(error) = resource::normalize(kind, doc).and_then(fields) {
                assert_bad_request(&error);
            }
        }
        Err(error) => {
            assert_bad_request(&error);
            assert_eq!(doc, *stored, "a failed PATCH changed the {noun}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let request = match PatchRequest::from_json(&body, &Limits::DEFAULT) {
        Ok(request) => request,
        Err(error) => {
            assert_bad_request(&error);
            return;
        }
    };

    patch_stored(
        ResourceKind::User,
        "user",
        &USER,
        &request.operations,
        |changes, _| {
            assert!(
                changes.is_empty(),
                "a user PATCH changed members: {changes:?}"
            );
        },
        resource::user_fields_from_doc,
    );
    patch_stored(
        ResourceKind::Group,
        "group",
        &GROUP,
        &request.operations,
        |_, group| {
            assert!(
                group.keys().all(|key| !key.eq_ignore_ascii_case("members")),
                "members landed in the group document: {group:?}"
            );
        },
        resource::group_fields_from_doc,
    );
});
