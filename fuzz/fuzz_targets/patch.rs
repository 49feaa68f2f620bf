//! The PATCH engine on arbitrary JSON, the way the API runs it: read the PatchOp message, apply
//! it to a stored user and a stored group, then type and index the result. Every failure is a
//! 400 and leaves the document unchanged; group members never land in the document.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use seatflow_scim::limits::Limits;
use seatflow_scim::patch::{self, PatchRequest};
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

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let request = match PatchRequest::from_json(&body, &Limits::DEFAULT) {
        Ok(request) => request,
        Err(error) => {
            assert!(
                matches!(error, seatflow_scim::Error::BadRequest(..)),
                "{error}"
            );
            return;
        }
    };

    let mut user = USER.clone();
    match patch::apply(
        ResourceKind::User,
        &mut user,
        &request.operations,
        &Limits::DEFAULT,
    ) {
        Ok(changes) => {
            assert!(
                changes.is_empty(),
                "a user PATCH changed members: {changes:?}"
            );
            let indexed = resource::normalize(ResourceKind::User, user)
                .and_then(resource::user_fields_from_doc);
            if let Err(error) = indexed {
                assert!(
                    matches!(error, seatflow_scim::Error::BadRequest(..)),
                    "{error}"
                );
            }
        }
        Err(error) => {
            assert!(
                matches!(error, seatflow_scim::Error::BadRequest(..)),
                "{error}"
            );
            assert_eq!(user, *USER, "a failed PATCH changed the user");
        }
    }

    let mut group = GROUP.clone();
    match patch::apply(
        ResourceKind::Group,
        &mut group,
        &request.operations,
        &Limits::DEFAULT,
    ) {
        Ok(_) => {
            assert!(
                group.keys().all(|key| !key.eq_ignore_ascii_case("members")),
                "members landed in the group document: {group:?}"
            );
            let indexed = resource::normalize(ResourceKind::Group, group)
                .and_then(resource::group_fields_from_doc);
            if let Err(error) = indexed {
                assert!(
                    matches!(error, seatflow_scim::Error::BadRequest(..)),
                    "{error}"
                );
            }
        }
        Err(error) => {
            assert!(
                matches!(error, seatflow_scim::Error::BadRequest(..)),
                "{error}"
            );
            assert_eq!(group, *GROUP, "a failed PATCH changed the group");
        }
    }
});
