//! Microsoft Entra ID's provisioning flows (`docs/providers/entra.md`) over HTTP, on SQLite
//! and PostgreSQL.

#![allow(clippy::unwrap_used)]

use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

both_backends!(
    test_connection_probes_answer_empty_lists,
    create_after_case_varied_filter_miss_then_duplicate_is_findable,
    patch_both_dialects_update_user,
    disable_keeps_user_findable_and_reenable_works,
    group_lifecycle_members_rename_delete,
    delete_user_then_404,
);

fn new_user(user_name: &str, object_id: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": object_id,
        "userName": user_name,
        "active": true,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "roles": []
    })
}

fn filter_path(resource: &str, attribute: &str, value: &str) -> String {
    // Entra's wire form: `+` for spaces, raw quotes, `@` percent-encoded.
    format!(
        "/{resource}?filter={attribute}+eq+\"{}\"",
        value.replace('@', "%40")
    )
}

async fn find_user(tenant: &Tenant, user_name: &str) -> Value {
    let (status, body) = tenant
        .get(&filter_path("Users", "userName", user_name))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    body
}

async fn create_user(tenant: &Tenant, user_name: &str) -> String {
    let (status, body) = tenant.post("/Users", new_user(user_name, &uuid())).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn test_connection_probes_answer_empty_lists(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;
    let probe = uuid();

    let users = find_user(&tenant, &probe).await;
    assert_eq!(users["totalResults"], 0);
    assert_eq!(users["Resources"], json!([]));

    let path = format!("/Groups?excludedAttributes=members&filter=displayName+eq+\"{probe}\"");
    let (status, groups) = tenant.get(&path).await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups["totalResults"], 0);

    // The sync health shows the Test Connection and counts the requests (recorded off the
    // request path, so poll briefly).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let sync = loop {
        let sync = server.sync(&tenant.license_id).await;
        if sync["last_test_connection_at"].is_string() || std::time::Instant::now() > deadline {
            break sync;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(sync["last_test_connection_at"].is_string(), "{sync}");
    assert!(sync["last_scim_request_at"].is_string(), "{sync}");
    assert_eq!(sync["requests_last_hour"]["200"], 2, "{sync}");

    // A wrong token is a 401 with a SCIM error, which Entra reports as invalid credentials.
    let mut stranger = tenant.clone();
    stranger.token = "not-a-token".into();
    let response = stranger
        .request(reqwest::Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "401");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
}

async fn create_after_case_varied_filter_miss_then_duplicate_is_findable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;

    assert_eq!(
        find_user(&tenant, "Grace.Hopper@Contoso.com").await["totalResults"],
        0
    );
    let (status, created) = tenant
        .post("/Users", new_user("grace.hopper@contoso.com", "oid-1"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["userName"], "grace.hopper@contoso.com");
    assert_eq!(created["meta"]["resourceType"], "User");
    // Returned as sent: Entra diffs what comes back against what it sent.
    assert_eq!(created["name"]["givenName"], "Ada");
    assert_eq!(created["roles"], json!([]));

    // Case-insensitive match on userName, exactly one result.
    let found = find_user(&tenant, "GRACE.HOPPER@CONTOSO.COM").await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], created["id"]);

    // The duplicate conflicts, and the filter Entra ran first finds what it conflicts with.
    let (status, conflict) = tenant
        .post("/Users", new_user("Grace.Hopper@contoso.com", "oid-2"))
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["scimType"], "uniqueness");
    assert_eq!(conflict["status"], "409");
    assert_eq!(
        find_user(&tenant, "Grace.Hopper@contoso.com").await["totalResults"],
        1
    );

    // Matching by externalId (objectId) also works.
    let (status, by_oid) = tenant
        .get(&filter_path("Users", "externalId", "oid-1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(by_oid["totalResults"], 1);
}

async fn patch_both_dialects_update_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;
    let id = create_user(&tenant, "alan@contoso.com").await;
    let path = format!("/Users/{id}");

    // Default dialect: capitalised ops, one op per attribute, value paths.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alan.t@contoso.com"},
                {"op": "Replace", "path": "name.familyName", "value": "Turing"},
                {"op": "Add", "path": "nickName", "value": "Al"},
                {"op": "Replace", "path": "displayName", "value": "Alan Turing"}
            ])),
        )
        .await;
    // Users PATCH answers 200 with the user (README "SCIM compliance"); it shows the changes.
    assert_eq!(status, 200, "{body}");
    let body = tenant.get(&path).await.1;
    assert_eq!(body["emails"][0]["value"], "alan.t@contoso.com");
    assert_eq!(body["name"]["familyName"], "Turing");
    assert_eq!(body["nickName"], "Al");
    assert_eq!(body["displayName"], "Alan Turing");

    // aadOptscim062020 dialect: one path-less replace with dotted and URN keys.
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let (status, body) = tenant
        .patch(
            &format!("{path}?aadOptscim062020"),
            patch_op(json!([{
                "op": "replace",
                "value": {
                    "displayName": "A. M. Turing",
                    "name.givenName": "Alan Mathison",
                    format!("{enterprise}:employeeNumber"): "42"
                }
            }])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let body = tenant.get(&path).await.1;
    assert_eq!(body["displayName"], "A. M. Turing");
    assert_eq!(body["name"]["givenName"], "Alan Mathison");
    assert_eq!(body["name"]["familyName"], "Turing");
    assert_eq!(body[enterprise]["employeeNumber"], "42");
    assert!(
        body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(enterprise))
    );

    // Path-less userName change keeps the user findable under the new name only.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "replace", "value": {"userName": "turing@contoso.com"}}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        find_user(&tenant, "turing@contoso.com").await["totalResults"],
        1
    );
    assert_eq!(
        find_user(&tenant, "alan@contoso.com").await["totalResults"],
        0
    );

    // GET returns what the PATCHes made, with a bumped version.
    let (status, fetched) = tenant.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["name"]["givenName"], "Alan Mathison");
    assert_ne!(fetched["meta"]["version"], json!("W/\"1\""));
}

async fn disable_keeps_user_findable_and_reenable_works(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;
    let id = create_user(&tenant, "kathy@contoso.com").await;
    let path = format!("/Users/{id}");

    // Default dialect sends the string "False".
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tenant.get(&path).await.1["active"], false);
    let found = find_user(&tenant, "kathy@contoso.com").await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["active"], false);
    let (_, inactive) = tenant.get("/Users?filter=active+eq+false").await;
    assert_eq!(inactive["totalResults"], 1);

    // The flagged dialect sends a JSON boolean.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        find_user(&tenant, "kathy@contoso.com").await["Resources"][0]["active"],
        true
    );

    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "Replace", "path": "active", "value": "maybe"}])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["scimType"], "invalidValue");
}

async fn group_lifecycle_members_rename_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;
    let u1 = create_user(&tenant, "u1@contoso.com").await;
    let u2 = create_user(&tenant, "u2@contoso.com").await;
    let u3 = create_user(&tenant, "u3@contoso.com").await;

    let probe = "/Groups?excludedAttributes=members&filter=displayName+eq+\"Engineering\"";
    assert_eq!(tenant.get(probe).await.1["totalResults"], 0);
    let (status, group) = tenant
        .post(
            "/Groups",
            json!({
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
                ],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Engineering",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");

    // Case-insensitive displayName match, without members.
    let (_, found) = tenant
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+\"ENGINEERING\"")
        .await;
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());
    let (status, dup) = tenant
        .post("/Groups", json!({"displayName": "engineering"}))
        .await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["scimType"], "uniqueness");

    // Add members Entra's way: several values, `$ref: null`, answered 204.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "Add", "path": "members", "value": [
                {"$ref": null, "value": u1}, {"$ref": null, "value": u2}, {"$ref": null, "value": u3}
            ]}])),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let mut all = vec![u1.clone(), u2.clone(), u3.clone()];
    all.sort();
    assert_eq!(member_ids(&tenant, &path).await, all);

    // Remove: default dialect (value array) and flagged dialect (value filter).
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}])),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}])),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(member_ids(&tenant, &path).await, vec![u3.clone()]);

    // Membership filter, as a reference check would send it.
    let (_, by_member) = tenant
        .get(&format!("/Groups?filter=members+eq+\"{u3}\"&attributes=id"))
        .await;
    assert_eq!(by_member["totalResults"], 1);

    // A member id that is not a user of this tenant is skipped (README "SCIM compliance").
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([
                {"op": "Add", "path": "members", "value": [{"value": "no-such-user"}]}
            ])),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(member_ids(&tenant, &path).await, vec![u3.clone()]);

    // Rename.
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Platform"}])),
        )
        .await;
    assert_eq!(status, 204);
    let (_, renamed) = tenant
        .get(&format!("{path}?excludedAttributes=members"))
        .await;
    assert_eq!(renamed["displayName"], "Platform");
    assert!(renamed.get("members").is_none());

    // Deleting a member user removes the membership.
    assert_eq!(tenant.delete(&format!("/Users/{u3}")).await.0, 204);
    assert!(member_ids(&tenant, &path).await.is_empty());

    assert_eq!(tenant.delete(&path).await.0, 204);
    assert_eq!(tenant.get(&path).await.0, 404);
    assert_eq!(tenant.delete(&path).await.0, 404);
}

/// The group's member ids, sorted.
async fn member_ids(tenant: &Tenant, path: &str) -> Vec<String> {
    let (status, group) = tenant.get(path).await;
    assert_eq!(status, 200, "{group}");
    group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .map(|mut ids| {
            ids.sort();
            ids
        })
        .unwrap_or_default()
}

async fn delete_user_then_404(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Contoso", 10).await;
    let id = create_user(&tenant, "gone@contoso.com").await;
    let path = format!("/Users/{id}");
    assert_eq!(tenant.delete(&path).await.0, 204);
    let (status, body) = tenant.get(&path).await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], "404");
    assert_eq!(tenant.delete(&path).await.0, 404);
    assert_eq!(
        find_user(&tenant, "gone@contoso.com").await["totalResults"],
        0
    );
}
