//! The PATCH engine's tests: RFC 7644 semantics, both Entra dialects with their verbatim
//! bodies, the SCIM Validator capture's requests (`fixtures/`), and a property test.

use serde_json::{Map, Value};

use super::apply::Patcher;
use super::*;
use crate::error::{Error, ScimType};
use crate::limits::Limits;
use crate::schema::AttributeDef;
use crate::{ENTERPRISE_USER_SCHEMA as ENTERPRISE, USER_SCHEMA};
use crate::{LICENSE_USER_SCHEMA, PATCH_OP_SCHEMA, ResourceKind};
use proptest::prelude::*;
use serde_json::json;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

/// The engine with the default limits.
fn from_json(body: &Value) -> Result<PatchRequest, Error> {
    PatchRequest::from_json(body, &Limits::DEFAULT)
}

fn apply(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    ops: &[PatchOp],
) -> Result<Vec<MemberChange>, Error> {
    super::apply(kind, doc, ops, &Limits::DEFAULT)
}

fn parse_path(input: &str) -> Result<PatchPath, Error> {
    super::parse_path(input, &Limits::DEFAULT)
}

fn body(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

/// Parses and applies a PATCH body; on error checks that the document is unchanged.
fn patch(
    kind: ResourceKind,
    doc: &Value,
    body: &Value,
) -> Result<(Value, Vec<MemberChange>), Error> {
    let mut patched = object(doc.clone());
    let result = from_json(body).and_then(|request| apply(kind, &mut patched, &request.operations));
    match result {
        Ok(changes) => Ok((Value::Object(patched), changes)),
        Err(e) => {
            assert_eq!(
                Value::Object(patched),
                *doc,
                "a failed PATCH changed the document"
            );
            Err(e)
        }
    }
}

fn patch_user(doc: &Value, operations: Value) -> Value {
    patch(ResourceKind::User, doc, &body(operations)).unwrap().0
}

fn patch_group(operations: Value) -> (Value, Vec<MemberChange>) {
    patch(ResourceKind::Group, &group(), &body(operations)).unwrap()
}

/// The scimType and detail of a failed PATCH on `doc`.
fn error(kind: ResourceKind, doc: &Value, operations: Value) -> (ScimType, String) {
    match patch(kind, doc, &body(operations)) {
        Err(Error::BadRequest(scim_type, detail)) => (scim_type, detail),
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn user_error(operations: Value) -> ScimType {
    error(ResourceKind::User, &user(), operations).0
}

/// Entra's create body (`docs/providers/entra.md`) as stored: without `meta`.
fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
        }],
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName"
    })
}

// ---- `docs/providers/entra.md`, verbatim bodies

#[test]
fn entra_update_user() {
    let doc = patch_user(
        &user(),
        json!([
            { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
            { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" }
        ]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    assert_eq!(doc["name"]["familyName"], "updatedFamilyName");
    assert_eq!(doc["name"]["givenName"], "givenName");

    let doc = patch_user(
        &user(),
        json!([
            { "op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" }
        ]),
    );
    assert_eq!(
        doc["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
}

#[test]
fn entra_disable_user_with_booleans_and_strings() {
    for (value, active) in [
        (json!(false), false),
        (json!("False"), false),
        (json!("false"), false),
        (json!("True"), true),
        (json!(true), true),
    ] {
        let doc = patch_user(
            &user(),
            json!([{ "op": "Replace", "path": "active", "value": value }]),
        );
        assert_eq!(doc["active"], json!(active), "{value}");
    }
    let doc = patch_user(
        &user(),
        json!([{ "op": "replace", "value": {"active": "False"} }]),
    );
    assert_eq!(doc["active"], json!(false));
    assert_eq!(
        user_error(json!([{ "op": "Replace", "path": "active", "value": "no" }])),
        ScimType::InvalidValue
    );
    assert_eq!(
        user_error(json!([{ "op": "Replace", "path": "active", "value": "" }])),
        ScimType::InvalidValue
    );
    assert_eq!(
        user_error(json!([{ "op": "Replace", "path": "active", "value": 0 }])),
        ScimType::InvalidValue
    );
}

#[test]
fn entra_manager_legacy_array_form() {
    let doc = patch_user(
        &user(),
        json!([{
            "op": "Add", "path": "manager",
            "value": [{"$ref": "http://example.com/scim/Users/00aa00aa", "value": "00aa00aa"}]
        }]),
    );
    assert_eq!(
        doc[ENTERPRISE]["manager"],
        json!({"$ref": "http://example.com/scim/Users/00aa00aa", "value": "00aa00aa"})
    );
    assert!(doc.get("manager").is_none());
}

#[test]
fn entra_group_requests() {
    let (doc, changes) = patch_group(
        json!([{ "op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" }]),
    );
    assert_eq!(
        doc["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
    assert!(changes.is_empty());

    let (doc, changes) = patch_group(
        json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }]),
    );
    assert_eq!(doc, group());
    assert_eq!(
        changes,
        [MemberChange::Add(vec!["f648f8d5ea4e4cd38e9c".into()])]
    );

    let (doc, changes) = patch_group(
        json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }]),
    );
    assert_eq!(doc, group());
    assert_eq!(
        changes,
        [MemberChange::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
    );
}

// ---- `docs/providers/entra.md`: both dialects

#[test]
fn dialects_add_single_value_string() {
    for op in ["Add", "add"] {
        let doc = patch_user(
            &user(),
            json!([{ "op": op, "path": "nickName", "value": "Babs" }]),
        );
        assert_eq!(doc["nickName"], "Babs");
    }
}

#[test]
fn dialects_replace_several_attributes() {
    let default = patch_user(
        &user(),
        json!([
            {"op":"Replace","path":"displayName","value":"Pvlo"},
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
            {"op":"Replace","path":"name.givenName","value":"Kkom"},
            {"op":"Replace","path":"name.familyName","value":"Unua"},
            {"op":"Replace","path":"externalId","value":"e1"},
            {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Aklq"}
        ]),
    );
    let flagged = patch_user(
        &user(),
        json!([
            {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
            {"op":"replace","value":{"displayName":"Pvlo","name.givenName":"Kkom","name.familyName":"Unua","externalId":"e1",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}
        ]),
    );
    assert_eq!(default, flagged);
    assert_eq!(flagged["displayName"], "Pvlo");
    assert_eq!(
        flagged["name"],
        json!({"formatted": "givenName familyName", "familyName": "Unua", "givenName": "Kkom"})
    );
    assert_eq!(
        flagged["emails"][0]["value"],
        "TestMhvaes@test.microsoft.com"
    );
    assert_eq!(flagged[ENTERPRISE], json!({"employeeNumber": "Aklq"}));
}

#[test]
fn dialects_remove_group_member() {
    let (_, default) =
        patch_group(json!([{"op":"Remove","path":"members","value":[{"value":"u1091"}]}]));
    assert_eq!(default, [MemberChange::Remove(vec!["u1091".into()])]);
    let (_, flagged) = patch_group(
        json!([{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]),
    );
    assert_eq!(
        flagged,
        [MemberChange::Remove(vec![
            "7f4bc1a3-285e-48ae-8202-5accb43efb0e".into()
        ])]
    );
}

#[test]
fn dialects_2020_flagged_examples() {
    let (_, changes) = patch_group(
        json!([{"op":"add","path":"members","value":[{"value":"10263a6910a84ef9a581dd9b8dcc0eae"}]}]),
    );
    assert_eq!(
        changes,
        [MemberChange::Add(vec![
            "10263a6910a84ef9a581dd9b8dcc0eae".into()
        ])]
    );

    let doc = patch_user(
        &user(),
        json!([{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Tech Infrastructure"}]),
    );
    assert_eq!(doc[ENTERPRISE]["department"], "Tech Infrastructure");

    let mut start = user();
    start["emails"] = json!([{"type": "home", "value": "h@x", "primary": true}, {"type": "work", "value": "w@x"}]);
    let doc = patch_user(
        &start,
        json!([
            {"op":"replace","path":"emails[type eq \"work\"].primary","value":true},
            {"op":"replace","value":{"active":false,"userName":"someone"}}
        ]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"type": "home", "value": "h@x", "primary": false}, {"type": "work", "value": "w@x", "primary": true}])
    );
    assert_eq!(doc["active"], json!(false));
    assert_eq!(doc["userName"], "someone");
}

// ---- the Microsoft SCIM Validator capture (`tests/fixtures/entra/validator-capture.json`)

const VERBOSE_REQUEST: &str = include_str!("fixtures/verbose-request.json");
const VERBOSE_CREATED: &str = include_str!("fixtures/verbose-created.json");
const VERBOSE_RESPONSE: &str = include_str!("fixtures/verbose-response.json");

#[test]
fn validator_replace_attributes_verbose_request() {
    let request: Value = serde_json::from_str(VERBOSE_REQUEST).unwrap();
    assert_eq!(request["Operations"].as_array().unwrap().len(), 36);
    // As created by the validator, and as stored once create has typed `"primary":"True"`.
    let created: Value = serde_json::from_str(VERBOSE_CREATED).unwrap();
    let mut typed = created.clone();
    typed["roles"][0]["primary"] = json!(true);
    let mut expected: Value = serde_json::from_str(VERBOSE_RESPONSE).unwrap();
    let expected_object = expected.as_object_mut().unwrap();
    expected_object.shift_remove("id");
    expected_object.shift_remove("meta");

    let (doc, changes) = patch(ResourceKind::User, &typed, &request).unwrap();
    assert!(changes.is_empty());
    assert_eq!(doc, expected);

    // With the string kept, `roles[primary eq "True"]` still finds the role.
    let (doc, _) = patch(ResourceKind::User, &created, &request).unwrap();
    assert_eq!(
        doc["roles"],
        json!([{"primary": "True", "display": "CFBCZENNYVAA", "value": "YJSPMLTGMQYP", "type": "GOHYCDLRADAY"}])
    );
}

#[test]
fn validator_user_requests() {
    let doc = patch_user(
        &user(),
        json!([{"op":"replace","value":{"userName":"burdette@beer.co.uk"}}]),
    );
    assert_eq!(doc["userName"], "burdette@beer.co.uk");

    let doc = patch_user(
        &user(),
        json!([{"op":"replace","path":"active","value":false}]),
    );
    assert_eq!(doc["active"], json!(false));

    let doc = patch_user(
        &user(),
        json!([{"op":"add","path":"displayName","value":"FBPCNVCHETXV"},{"op":"replace","path":"title","value":"EBBINEPPNBDO"}]),
    );
    assert_eq!(
        (&doc["displayName"], &doc["title"]),
        (&json!("FBPCNVCHETXV"), &json!("EBBINEPPNBDO"))
    );
}

#[test]
fn validator_manager_add_replace_remove() {
    let manager = |doc: &Value| doc[ENTERPRISE]["manager"].clone();
    let path = format!("{ENTERPRISE}:manager");
    let added = patch_user(
        &user(),
        json!([{"op":"add","path":path,"value":{"value":"1f556bd0"}}]),
    );
    assert_eq!(manager(&added), json!({"value": "1f556bd0"}));
    let replaced = patch_user(
        &added,
        json!([{"op":"replace","path":path,"value":{"value":"53db2194"}}]),
    );
    assert_eq!(manager(&replaced), json!({"value": "53db2194"}));
    // "Remove" is a replace with an empty value, stored as sent (the validator accepts that).
    let removed = patch_user(
        &replaced,
        json!([{"op":"replace","path":path,"value":{"value":""}}]),
    );
    assert_eq!(manager(&removed), json!({"value": ""}));
    // A real remove, by path or by null, takes the attribute and the emptied extension away.
    for operation in [
        json!({"op":"remove","path":path}),
        json!({"op":"replace","path":"manager","value":null}),
    ] {
        let removed = patch_user(&replaced, json!([operation]));
        assert!(removed.get(ENTERPRISE).is_none(), "{removed}");
    }
    let by_sub = patch_user(
        &replaced,
        json!([{"op":"replace","path":format!("{path}.value"),"value":"x"}]),
    );
    assert_eq!(manager(&by_sub), json!({"value": "x"}));
    assert_eq!(
        user_error(json!([{"op":"add","path":"manager.displayName","value":"x"}])),
        ScimType::Mutability
    );
}

#[test]
fn validator_group_requests() {
    let (doc, _) = patch_group(json!([{"op":"replace","value":{"externalId":"663fa3a8"}}]));
    assert_eq!(doc["externalId"], "663fa3a8");
    let (doc, _) = patch_group(json!([{"op":"replace","value":{"displayName":"WUZPWMBDDCGI"}}]));
    assert_eq!(doc["displayName"], "WUZPWMBDDCGI");
    let (_, changes) = patch_group(
        json!([{"op":"replace","path":"members","value":[{"value":"ee90548a"},{"value":"35ddd382"}]}]),
    );
    assert_eq!(
        changes,
        [MemberChange::ReplaceAll(vec![
            "ee90548a".into(),
            "35ddd382".into()
        ])]
    );
    // Multiple operations on the same attribute, in order.
    let (doc, changes) = patch_group(json!([
        {"op":"add","path":"members","value":[{"value":"761ac150"}]},
        {"op":"remove","path":"members[value eq \"761ac150\"]"}
    ]));
    assert_eq!(doc, group());
    assert_eq!(
        changes,
        [
            MemberChange::Add(vec!["761ac150".into()]),
            MemberChange::Remove(vec!["761ac150".into()])
        ]
    );
}

// ---- group members

#[test]
fn member_forms() {
    let (doc, changes) = patch_group(json!([
        {"op":"add","value":{"members":["u1", {"value":"u2","display":"B"}],"displayName":"New"}},
        {"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\" or VALUE eq \"u3\"]"},
        {"op":"replace","path":"members","value":[]},
        {"op":"replace","path":"members","value":null},
        {"op":"remove","path":"members"},
        {"op":"add","path":"members","value":[]},
        {"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:Group:members","value":{"value":"u4"}}
    ]));
    assert_eq!(doc["displayName"], "New");
    assert!(doc.get("members").is_none());
    assert_eq!(
        changes,
        [
            MemberChange::Add(vec![
                "u1".into(),
                NewMember {
                    display: Some("B".into()),
                    ..NewMember::from("u2")
                }
            ]),
            MemberChange::Remove(vec!["u1".into(), "u2".into(), "u3".into()]),
            MemberChange::ReplaceAll(vec![]),
            MemberChange::RemoveAll,
            MemberChange::RemoveAll,
            MemberChange::Remove(vec!["u4".into()]),
        ]
    );
}

#[test]
fn member_errors() {
    let group_error = |operations| error(ResourceKind::Group, &group(), operations).0;
    assert_eq!(
        group_error(json!([{"op":"remove","path":"members[display eq \"x\"]"}])),
        ScimType::InvalidFilter
    );
    assert_eq!(
        group_error(json!([{"op":"remove","path":"members[value eq \"x\" and value eq \"y\"]"}])),
        ScimType::InvalidFilter
    );
    assert_eq!(
        group_error(json!([{"op":"remove","path":"members[value ne \"x\"]"}])),
        ScimType::InvalidFilter
    );
    assert_eq!(
        group_error(
            json!([{"op":"replace","path":"members[value eq \"x\"]","value":{"value":"y"}}])
        ),
        ScimType::InvalidPath
    );
    assert_eq!(
        group_error(json!([{"op":"remove","path":"members[value eq \"x\"].display"}])),
        ScimType::InvalidPath
    );
    assert_eq!(
        group_error(json!([{"op":"add","path":"members.value","value":"x"}])),
        ScimType::InvalidPath
    );
    assert_eq!(
        group_error(json!([{"op":"add","path":"members","value":[{"value":7}]}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group_error(json!([{"op":"add","path":"members","value":[{"display":"x"}]}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group_error(json!([{"op":"add","path":"members","value":[3]}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group_error(json!([{"op":"add","path":"members"}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group_error(json!([{"op":"remove","path":"displayName"}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group_error(json!([{"op":"replace","value":{"displayName":null}}])),
        ScimType::InvalidValue
    );
}

// ---- RFC semantics

#[test]
fn multi_valued_add_appends_and_replace_replaces() {
    let mut start = user();
    start["emails"] = json!([{"type": "work", "value": "w@x", "primary": true}]);
    let doc = patch_user(
        &start,
        json!([{"op":"add","path":"emails","value":[
            {"type":"work","value":"w@x","primary":true},
            {"type":"home","value":"h@x","primary":"True","display":null}
        ]}]),
    );
    // The duplicate is skipped; the new primary wins.
    assert_eq!(
        doc["emails"],
        json!([{"type": "work", "value": "w@x", "primary": false}, {"type": "home", "value": "h@x", "primary": true}])
    );

    let doc = patch_user(
        &doc,
        json!([{"op":"replace","path":"emails","value":{"type":"other","value":"o@x"}}]),
    );
    assert_eq!(doc["emails"], json!([{"type": "other", "value": "o@x"}]));
    let doc = patch_user(&doc, json!([{"op":"replace","path":"emails","value":[]}]));
    assert_eq!(doc["emails"], json!([]));
}

#[test]
fn value_paths_update_create_or_fail() {
    let mut start = user();
    start["phoneNumbers"] =
        json!([{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}]);
    // Replace without sub swaps the element; add merges into it.
    let doc = patch_user(
        &start,
        json!([
            {"op":"replace","path":"phoneNumbers[type eq \"work\"]","value":{"type":"work","value":"3"}},
            {"op":"add","path":"phoneNumbers[type eq \"mobile\"]","value":{"display":"m"}}
        ]),
    );
    assert_eq!(
        doc["phoneNumbers"],
        json!([{"type": "work", "value": "3"}, {"type": "mobile", "value": "2", "display": "m"}])
    );
    // No match with a single `eq`: a new element (Entra's first work address).
    let doc = patch_user(
        &doc,
        json!([
            {"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"},
            {"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Springfield"},
            {"op":"replace","path":"roles[primary eq \"True\"].display","value":"Admin"}
        ]),
    );
    assert_eq!(
        doc["addresses"],
        json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}])
    );
    assert_eq!(doc["roles"], json!([{"primary": true, "display": "Admin"}]));
    // Other filters need a match.
    let (scim_type, detail) = error(
        ResourceKind::User,
        &user(),
        json!([
            {"op":"replace","path":"emails[type eq \"home\" and value pr].value","value":"x"}
        ]),
    );
    assert_eq!(scim_type, ScimType::NoTarget);
    assert!(
        detail.starts_with("operation 1: no value of `emails` matches"),
        "{detail}"
    );
    // Sub-attributes are typed.
    assert_eq!(
        user_error(
            json!([{"op":"replace","path":"emails[type eq \"work\"].primary","value":"maybe"}])
        ),
        ScimType::InvalidValue
    );
}

#[test]
fn removes() {
    let mut start = user();
    start["emails"] =
        json!([{"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x", "display": "H"}]);
    let doc = patch_user(
        &start,
        json!([{"op":"remove","path":"emails[type eq \"work\"]"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"type": "home", "value": "h@x", "display": "H"}])
    );
    let doc = patch_user(
        &start,
        json!([{"op":"remove","path":"emails[type eq \"home\"].display"}]),
    );
    assert_eq!(doc["emails"][1], json!({"type": "home", "value": "h@x"}));
    let doc = patch_user(
        &start,
        json!([{"op":"remove","path":"emails","value":[{"value":"h@x","type":null}]}]),
    );
    assert_eq!(doc["emails"], json!([{"type": "work", "value": "w@x"}]));
    // Removing the last value, or the last sub-attribute, unassigns the attribute.
    let doc = patch_user(
        &start,
        json!([{"op":"remove","path":"emails[value co \"@x\"]"}]),
    );
    assert!(doc.get("emails").is_none());
    let doc = patch_user(
        &user(),
        json!([
            {"op":"remove","path":"name.givenName"}, {"op":"remove","path":"name.familyName"}, {"op":"remove","path":"NAME.formatted"}
        ]),
    );
    assert!(doc.get("name").is_none());
    // Absent targets and unmatched filters are no-ops.
    let doc = patch_user(
        &start,
        json!([
            {"op":"remove","path":"nickName"}, {"op":"remove","path":"emails[type eq \"other\"]"},
            {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}
        ]),
    );
    assert_eq!(doc, start);
    assert_eq!(user_error(json!([{"op":"remove"}])), ScimType::NoTarget);
    assert_eq!(
        user_error(json!([{"op":"Remove","path":"userName"}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        user_error(json!([{"op":"remove","path":"USERNAME"}])),
        ScimType::InvalidValue
    );
}

#[test]
fn null_removes_and_empty_string_is_stored() {
    let doc = patch_user(
        &user(),
        json!([
            {"op":"replace","path":"externalId","value":null},
            {"op":"replace","value":{"name":null,"title":""}},
            {"op":"add","path":"nickName","value":""}
        ]),
    );
    assert!(doc.get("externalId").is_none() && doc.get("name").is_none());
    assert_eq!((&doc["title"], &doc["nickName"]), (&json!(""), &json!("")));
    let doc = patch_user(
        &user(),
        json!([{"op":"replace","path":"name","value":{"givenName":null,"middleName":"M"}}]),
    );
    assert_eq!(
        doc["name"],
        json!({"formatted": "givenName familyName", "familyName": "familyName", "middleName": "M"})
    );
    assert_eq!(
        user_error(json!([{"op":"replace","path":"userName","value":null}])),
        ScimType::InvalidValue
    );
}

#[test]
fn names_are_case_insensitive_and_keep_the_first_spelling() {
    let mut start = user();
    start["displayname"] = json!("old");
    let doc = patch_user(
        &start,
        json!([
            {"op":"replace","path":"displayName","value":"a"},
            {"op":"REPLACE","path":"Name.GivenName","value":"g"},
            {"op":"replace","value":{"DISPLAYNAME":"b","Emails[Type Eq \"work\"].Value":"e@x"}}
        ]),
    );
    assert_eq!(doc["displayname"], "b");
    assert!(doc.get("displayName").is_none());
    assert_eq!(doc["name"]["givenName"], "g");
    assert_eq!(doc["emails"][0]["value"], "e@x");
    let request = json!({"SCHEMAS": [PATCH_OP_SCHEMA.to_uppercase()], "operations": [{"OP": "Add", "PATH": "nickName", "VALUE": "n"}]});
    assert_eq!(
        patch(ResourceKind::User, &user(), &request).unwrap().0["nickName"],
        "n"
    );
}

#[test]
fn extensions_in_every_form() {
    let doc = patch_user(
        &user(),
        json!([
            {"op":"add","value":{ENTERPRISE: {"department":"D","manager":{"value":"m1"}}}},
            {"op":"add","path":ENTERPRISE,"value":{"costCenter":"C"}},
            {"op":"replace","path":"employeeNumber","value":"E"},
            {"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m2"}},
            {"op":"replace","value":{USER_SCHEMA: {"nickName": "core"}}}
        ]),
    );
    assert_eq!(
        doc[ENTERPRISE],
        json!({"department": "D", "manager": {"value": "m2"}, "costCenter": "C", "employeeNumber": "E"})
    );
    assert_eq!(doc["nickName"], "core");
    let doc = patch_user(&doc, json!([{"op":"remove","path":ENTERPRISE}]));
    assert!(doc.get(ENTERPRISE).is_none());
    assert_eq!(
        user_error(json!([{"op":"remove","path":USER_SCHEMA}])),
        ScimType::InvalidPath
    );
    assert_eq!(
        user_error(json!([{"op":"add","path":ENTERPRISE,"value":"x"}])),
        ScimType::InvalidValue
    );
}

#[test]
fn unknown_attributes_are_stored_as_sent() {
    let doc = patch_user(
        &user(),
        json!([
            {"op":"add","path":"x-custom","value":{"any":[1,"two"]}},
            {"op":"add","path":"tags","value":["a"]},
            {"op":"add","path":"tags","value":["a","b"]},
            {"op":"add","value":{"urn:acme:params:ext:1.0:User":{"badge":7}}},
            {"op":"add","path":"urn:acme:params:ext:1.0:User:level","value":3}
        ]),
    );
    assert_eq!(doc["x-custom"], json!({"any": [1, "two"]}));
    assert_eq!(doc["tags"], json!(["a", "b"]));
    assert_eq!(
        doc["urn:acme:params:ext:1.0:User"],
        json!({"badge": 7, "level": 3})
    );
    assert_eq!(
        user_error(json!([{"op":"add","path":"http://x/y","value":"z"}])),
        ScimType::InvalidPath
    );
}

#[test]
fn the_seat_extension_is_accepted_and_ignored() {
    let urn = LICENSE_USER_SCHEMA;
    for operations in [
        json!([{"op":"replace","path":format!("{urn}:seatStatus"),"value":"assigned"}]),
        json!([{"op":"Add","path":"seatReason","value":"x"}]),
        json!([{"op":"remove","path":format!("{urn}:seatReason")}]),
        json!([{"op":"replace","path":urn,"value":{"seatStatus":"assigned"}}]),
        json!([{"op":"remove","path":urn}]),
        json!([{"op":"replace","value":{urn:{"seatStatus":"blocked"}}}]),
    ] {
        assert_eq!(
            patch_user(&user(), operations.clone()),
            user(),
            "{operations}"
        );
    }
    // Beside a real change, only the real change is made.
    let doc = patch_user(
        &user(),
        json!([{"op":"replace","value":{"nickName":"B",urn:{"seatStatus":"x"}}}]),
    );
    assert_eq!(doc["nickName"], "B");
    assert!(doc.get(urn).is_none());
}

/// Okta's group rename and authentik's updates send the representation they hold, with
/// `id`, `schemas` and `meta`: the readOnly parts are ignored, the rest applied.
#[test]
fn read_only_attributes_in_a_pathless_value_are_ignored() {
    let (doc, changes) = patch_group(json!([{"op":"replace","value":{
        "id":"g1","schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "meta":{"created":"2020-01-01T00:00:00Z"},"displayName":"Renamed"}}]));
    assert_eq!(doc["displayName"], "Renamed");
    assert!(doc.get("id").is_none() && doc.get("meta").is_none());
    assert!(changes.is_empty());
    // Named by a path they are still refused (RFC 7644 §3.5.2).
    assert_eq!(
        user_error(json!([{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}])),
        ScimType::Mutability
    );
}

#[test]
fn type_and_mutability_errors() {
    for (operation, expected) in [
        (
            json!({"op":"replace","path":"userName","value":42}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"replace","path":"displayName","value":{"a":1}}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"replace","path":"name","value":"x"}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"replace","path":"name.givenName","value":["a","b"]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"replace","path":"title","value":["a","b"]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"replace","value":{"userName":true}}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"add","path":"emails","value":["x@y"]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"op":"add","path":"userName"}),
            ScimType::InvalidValue,
        ),
        (json!({"op":"add","value":"x"}), ScimType::InvalidValue),
        (json!({"op":"remove","path":"id"}), ScimType::Mutability),
        (
            json!({"op":"replace","path":"id","value":"x"}),
            ScimType::Mutability,
        ),
        (
            json!({"op":"replace","path":"meta.lastModified","value":"2020-01-01T00:00:00Z"}),
            ScimType::Mutability,
        ),
        (
            json!({"op":"add","path":"groups","value":[{"value":"g"}]}),
            ScimType::Mutability,
        ),
        (
            json!({"op":"add","path":"active.value","value":true}),
            ScimType::InvalidPath,
        ),
        (
            json!({"op":"add","path":"userName[value eq \"x\"]","value":"y"}),
            ScimType::InvalidPath,
        ),
        (
            json!({"op":"add","path":"emails[type eq]","value":"y"}),
            ScimType::InvalidPath,
        ),
        (
            json!({"op":"add","path":7,"value":"y"}),
            ScimType::InvalidPath,
        ),
        (
            json!({"op":"add","value":{"bad key":"y"}}),
            ScimType::InvalidPath,
        ),
    ] {
        assert_eq!(user_error(json!([operation])), expected, "{operation}");
    }
}

#[test]
fn request_errors() {
    let request_error = |body: Value| match from_json(&body) {
        Err(Error::BadRequest(scim_type, _)) => scim_type,
        other => panic!("{body}: {other:?}"),
    };
    let add = json!({"op": "add", "path": "title", "value": "t"});
    assert_eq!(request_error(json!([add])), ScimType::InvalidSyntax);
    assert_eq!(
        request_error(json!({"schemas": ["urn:wrong"], "Operations": [add]})),
        ScimType::InvalidSyntax
    );
    assert_eq!(
        request_error(json!({"schemas": PATCH_OP_SCHEMA, "Operations": [add]})),
        ScimType::InvalidSyntax
    );
    assert_eq!(
        request_error(json!({"schemas": [PATCH_OP_SCHEMA]})),
        ScimType::InvalidSyntax
    );
    assert_eq!(request_error(body(json!([]))), ScimType::InvalidSyntax);
    assert_eq!(
        request_error(body(json!({"op": "add"}))),
        ScimType::InvalidSyntax
    );
    assert_eq!(
        request_error(body(json!([{"op": "move", "path": "title"}]))),
        ScimType::InvalidSyntax
    );
    assert_eq!(
        request_error(body(json!([{"path": "title"}]))),
        ScimType::InvalidSyntax
    );
    assert_eq!(request_error(body(json!(["add"]))), ScimType::InvalidSyntax);
    assert_eq!(
        request_error(body(json!([{"op": "add", "path": "a[b"}]))),
        ScimType::InvalidPath
    );
    assert_eq!(
        request_error(body(Value::Array(vec![
            add.clone();
            Limits::DEFAULT.patch_operations + 1
        ]))),
        ScimType::InvalidValue
    );
    // `schemas` may be left out; an empty path is no path.
    let request =
        from_json(&json!({"Operations": [{"op": "Replace", "path": "", "value": {"title": "t"}}]}))
            .unwrap();
    assert_eq!(
        request.operations,
        [PatchOp {
            op: OpKind::Replace,
            path: None,
            value: Some(json!({"title": "t"}))
        }]
    );
    assert!(
        from_json(&body(Value::Array(vec![
            add;
            Limits::DEFAULT.patch_operations
        ])))
        .is_ok()
    );
}

#[test]
fn limits_are_the_configured_ones() {
    let limits = Limits {
        filter_bytes: 16,
        filter_depth: 1,
        patch_operations: 2,
    };
    let add = json!({"op": "add", "path": "title", "value": "t"});
    let detail = |operations: Value| {
        let body = body(operations);
        let mut doc = object(user());
        let result = PatchRequest::from_json(&body, &limits).and_then(|request| {
            super::apply(ResourceKind::User, &mut doc, &request.operations, &limits)
        });
        match result {
            Err(Error::BadRequest(scim_type, detail)) => (scim_type, detail),
            other => panic!("{body}: {other:?}"),
        }
    };
    assert!(PatchRequest::from_json(&body(json!([add, add])), &limits).is_ok());
    assert_eq!(
        detail(json!([add, add, add])),
        (
            ScimType::InvalidValue,
            "a PATCH request may hold at most 2 operations, this one has 3".to_owned()
        )
    );
    let (scim_type, text) = detail(json!([{"op": "add", "path": "emails[type eq \"work\"]"}]));
    assert_eq!(scim_type, ScimType::InvalidPath);
    assert!(text.contains("limit of 16 bytes"), "{text}");
    // The keys of a path-less value are paths too.
    let (scim_type, text) =
        detail(json!([{"op": "add", "value": {"emails[(type eq \"w\")]": "x"}}]));
    assert_eq!(scim_type, ScimType::InvalidPath);
    assert!(text.contains("limit of 16 bytes"), "{text}");
    let (scim_type, text) = detail(json!([{"op": "add", "value": {"x[(a pr)]": "x"}}]));
    assert_eq!(scim_type, ScimType::InvalidPath);
    assert!(text.contains("limit of 1 levels"), "{text}");
}

#[test]
fn a_later_failure_undoes_everything() {
    let (scim_type, detail) = error(
        ResourceKind::User,
        &user(),
        json!([
            {"op":"replace","path":"displayName","value":"changed"},
            {"op":"add","path":"emails","value":{"type":"home","value":"h@x"}},
            {"op":"remove","path":"userName"}
        ]),
    );
    assert_eq!(scim_type, ScimType::InvalidValue);
    assert!(detail.starts_with("operation 3: "), "{detail}");
    let (_, detail) = error(
        ResourceKind::Group,
        &group(),
        json!([
            {"op":"add","path":"members","value":["u1"]},
            {"op":"replace","path":"displayName","value":7}
        ]),
    );
    assert!(detail.starts_with("operation 2: "), "{detail}");
}

#[test]
fn immutable_attributes_are_set_once() {
    // No top-level attribute of Seatflow's schemas is immutable, so define one.
    let def: AttributeDef = serde_json::from_value(json!({
        "name": "badge", "type": "string", "multiValued": false, "description": "test",
        "required": false, "caseExact": false, "mutability": "immutable",
        "returned": "default", "uniqueness": "none"
    }))
    .unwrap();
    let def: &'static AttributeDef = Box::leak(Box::new(def));
    let mut patcher = Patcher {
        kind: ResourceKind::User,
        doc: Map::new(),
        changes: Vec::new(),
        limits: Limits::DEFAULT,
    };
    let mut set = |value: Option<Value>| patcher.update(None, "badge", Some(def), |_| Ok(value));
    assert!(set(Some(json!("b1"))).is_ok());
    assert!(set(Some(json!("b1"))).is_ok());
    for value in [Some(json!("b2")), None] {
        match set(value) {
            Err(Error::BadRequest(ScimType::Mutability, _)) => {}
            other => panic!("{other:?}"),
        }
    }
}

// ---- property test

fn arb_op() -> impl Strategy<Value = PatchOp> {
    let paths = prop::sample::select(vec![
        "",
        "active",
        "Active",
        "userName",
        "USERNAME",
        "name",
        "name.givenName",
        "emails",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[type eq \"work\"].primary",
        "emails[value co \"@\"].primary",
        "roles[primary eq \"True\"].display",
        "manager",
        "manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:User:active",
        "title",
        "id",
        "meta",
        "groups",
        "x-custom",
        "phoneNumbers[type eq \"mobile\"]",
        "members",
    ]);
    let values = prop::sample::select(vec![
        json!(null),
        json!(true),
        json!(false),
        json!("True"),
        json!("False"),
        json!(""),
        json!("x"),
        json!(1),
        json!([]),
        json!(["a"]),
        json!({"value": "v"}),
        json!([{"value": "a", "primary": true}]),
        json!({"active": "False", "userName": "u2"}),
        json!({"active": 3}),
        json!({"userName": null}),
        json!({"USERNAME": "u3", "name.givenName": "g"}),
        json!({"type": "work", "value": "w", "primary": "true"}),
        json!({"urn:ietf:params:scim:schemas:core:2.0:User": {"active": "true"}}),
        json!({"urn:ietf:params:scim:schemas:core:2.0:User": {"userName": null}}),
        json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": null}}),
    ]);
    let kinds = prop::sample::select(vec![OpKind::Add, OpKind::Replace, OpKind::Remove]);
    (kinds, paths, prop::option::of(values)).prop_map(|(op, path, value)| PatchOp {
        op,
        path: (!path.is_empty()).then(|| parse_path(path).unwrap()),
        value,
    })
}

/// The user invariants: `userName` is a string under its original key, `active` a boolean.
fn check_user(doc: &Map<String, Value>) -> Result<(), TestCaseError> {
    prop_assert!(doc.get("userName").is_some_and(Value::is_string), "{doc:?}");
    for (key, value) in doc {
        prop_assert!(
            !key.eq_ignore_ascii_case("active") || value.is_boolean(),
            "{doc:?}"
        );
        prop_assert!(
            !key.eq_ignore_ascii_case("userName") || key == "userName",
            "{doc:?}"
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_operations_keep_the_user_valid(ops in prop::collection::vec(arb_op(), 1..12)) {
        // One request per operation, so that long runs of successful operations occur…
        let mut doc = object(user());
        for op in &ops {
            let before = doc.clone();
            match apply(ResourceKind::User, &mut doc, std::slice::from_ref(op)) {
                Ok(changes) => {
                    prop_assert!(changes.is_empty());
                    check_user(&doc)?;
                }
                Err(e) => {
                    prop_assert!(matches!(e, Error::BadRequest(..)), "{e:?}");
                    prop_assert_eq!(&doc, &before);
                }
            }
        }
        // …and all of them in one request, which succeeds or changes nothing.
        let start = object(user());
        let mut doc = start.clone();
        match apply(ResourceKind::User, &mut doc, &ops) {
            Ok(_) => check_user(&doc)?,
            Err(_) => prop_assert_eq!(doc, start),
        }
    }

    #[test]
    fn random_group_operations_never_store_members(ops in prop::collection::vec(arb_op(), 1..12)) {
        let mut doc = object(group());
        for op in &ops {
            if apply(ResourceKind::Group, &mut doc, std::slice::from_ref(op)).is_ok() {
                prop_assert!(doc.keys().all(|k| !k.eq_ignore_ascii_case("members")));
                prop_assert!(doc.get("displayName").is_some_and(Value::is_string));
            }
        }
    }
}
