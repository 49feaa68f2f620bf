//! Bad requests get a clear SCIM error (status, scimType, detail), never a 500, and change
//! nothing. Runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

both_backends!(
    malformed_and_invalid_bodies_are_400,
    bad_filters_are_invalid_filter,
    oversized_body_is_413,
    unknown_attributes_and_nulls_are_ignored,
    failed_patch_changes_nothing,
    paging_and_discovery,
    tenant_over_its_rate_gets_429_with_retry_after,
    too_many_members_in_one_request_is_refused,
);

async fn raw(tenant: &Tenant, method: Method, path: &str, body: &str) -> (u16, Value) {
    let response = tenant
        .request(method, path)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    seatflow_tests::read(response).await
}

fn assert_scim_error(body: &Value, status: &str, scim_type: Option<&str>) {
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], t, "{body}");
    }
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

async fn malformed_and_invalid_bodies_are_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("T", 1).await;

    let (status, body) = raw(&tenant, Method::POST, "/Users", "{\"userName\": ").await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidSyntax"));

    let (status, body) = raw(&tenant, Method::POST, "/Users", "[1,2]").await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidSyntax"));

    let (status, body) = tenant
        .post("/Users", json!({"displayName": "No Name"}))
        .await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidValue"));

    let (status, body) = tenant.post("/Users", json!({"userName": 7})).await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidValue"));

    let (status, body) = tenant.post("/Groups", json!({"externalId": "x"})).await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidValue"));

    let (status, body) = tenant
        .patch("/Users/whatever", json!({"Operations": "not-a-list"}))
        .await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(
        tenant.get("/Users").await.1["totalResults"],
        0,
        "nothing was created"
    );
}

async fn bad_filters_are_invalid_filter(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("T", 1).await;
    for filter in [
        "userName+eq",
        "userName+zz+\"x\"",
        "(userName+eq+\"x\"",
        "userName+eq+\"unterminated",
    ] {
        let (status, body) = tenant.get(&format!("/Users?filter={filter}")).await;
        assert_eq!(status, 400, "{filter}: {body}");
        assert_scim_error(&body, "400", Some("invalidFilter"));
    }
    let deep = format!("{}userName+eq+\"x\"{}", "(".repeat(200), ")".repeat(200));
    let (status, body) = tenant.get(&format!("/Users?filter={deep}")).await;
    assert_eq!(status, 400);
    assert_scim_error(&body, "400", Some("invalidFilter"));

    // SQL and LIKE metacharacters are literal values.
    assert_eq!(
        tenant
            .post("/Users", json!({"userName": "o'brien%_@x.com"}))
            .await
            .0,
        201
    );
    assert_eq!(
        tenant
            .post("/Users", json!({"userName": "other@x.com"}))
            .await
            .0,
        201
    );
    let (status, body) = tenant
        .get("/Users?filter=userName+eq+\"o'brien%25_%40x.com\"")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1);
    let (_, body) = tenant.get("/Users?filter=userName+sw+\"o'brien%25\"").await;
    assert_eq!(body["totalResults"], 1);
    let (_, body) = tenant.get("/Users?filter=userName+co+\"%25\"").await;
    assert_eq!(body["totalResults"], 1);
    let (_, body) = tenant
        .get("/Users?filter=userName+eq+\"x'+or+'1'='1\"")
        .await;
    assert_eq!(body["totalResults"], 0);
}

async fn oversized_body_is_413(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.max_body_bytes = 4096).await;
    let tenant = server.create_license("T", 1).await;
    let big = json!({"userName": "big@x.com", "title": "x".repeat(10_000)});
    let (status, body) = tenant.post("/Users", big).await;
    assert_eq!(status, 413);
    assert_scim_error(&body, "413", None);
    assert_eq!(tenant.get("/Users").await.1["totalResults"], 0);
}

async fn unknown_attributes_and_nulls_are_ignored(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("T", 1).await;
    // Entra's legacy create: explicit nulls and a typo'd extension URN.
    let (status, body) = tenant
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
                "userName": "legacy@x.com",
                "addresses": null, "phoneNumbers": null, "title": null, "manager": null,
                "favouriteColour": "teal",
                "id": "client-chosen-id",
                "meta": {"resourceType": "User", "created": "1999-01-01T00:00:00Z"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("addresses").is_none() && body.get("title").is_none());
    assert_eq!(body["favouriteColour"], "teal");
    assert_ne!(body["id"], "client-chosen-id");
    assert_ne!(body["meta"]["created"], "1999-01-01T00:00:00Z");
    assert_eq!(
        body["active"],
        Value::Null,
        "active is returned only as sent"
    );
}

async fn failed_patch_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("T", 1).await;
    let (_, user) = tenant
        .post(
            "/Users",
            json!({"userName": "atomic@x.com", "displayName": "Before"}),
        )
        .await;
    let (_, _) = tenant
        .post("/Users", json!({"userName": "taken@x.com"}))
        .await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());

    // The first op is fine, the second collides: neither applies.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([
                {"op": "replace", "path": "displayName", "value": "After"},
                {"op": "replace", "path": "userName", "value": "TAKEN@x.com"}
            ])),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, after) = tenant.get(&path).await;
    assert_eq!(after["displayName"], "Before");
    assert_eq!(after["userName"], "atomic@x.com");
    assert_eq!(after["meta"]["version"], user["meta"]["version"]);

    // Removing the required userName is refused.
    let (status, body) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "remove", "path": "userName"}])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(tenant.get(&path).await.1["userName"], "atomic@x.com");
}

async fn paging_and_discovery(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("T", 1).await;
    for i in 0..7 {
        let (status, _) = tenant
            .post("/Users", json!({"userName": format!("p{i}@x.com")}))
            .await;
        assert_eq!(status, 201);
    }
    let (_, page) = tenant.get("/Users?startIndex=6&count=5").await;
    assert_eq!(page["totalResults"], 7);
    assert_eq!(page["startIndex"], 6);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "p5@x.com");
    let (_, none) = tenant.get("/Users?count=0").await;
    assert_eq!(none["totalResults"], 7);
    assert_eq!(none["Resources"], json!([]));
    let (status, body) = tenant.get("/Users?count=abc").await;
    assert_eq!(status, 400, "{body}");

    let (status, config) = tenant.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    let (_, types) = tenant.get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let (_, schemas) = tenant.get("/Schemas").await;
    assert_eq!(
        schemas["totalResults"], 4,
        "core User, Enterprise User, Seatflow license, Group"
    );
    let (status, user_schema) = tenant
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        user_schema["id"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
    assert_eq!(tenant.get("/Schemas/urn:nope").await.0, 404);
    assert_eq!(tenant.get("/NoSuchEndpoint").await.0, 404);
}

async fn tenant_over_its_rate_gets_429_with_retry_after(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 5;
    })
    .await;
    let busy = server.create_license("Busy", 1).await;
    let calm = server.create_license("Calm", 1).await;
    for _ in 0..5 {
        assert_eq!(busy.get("/Users").await.0, 200);
    }
    let response = busy.request(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let (_, body) = seatflow_tests::read(response).await;
    assert_scim_error(&body, "429", None);
    assert_eq!(
        calm.get("/Users").await.0,
        200,
        "another tenant is not limited"
    );
}

async fn too_many_members_in_one_request_is_refused(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.max_members_per_request = 2).await;
    let tenant = server.create_license("T", 5).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, user) = tenant
            .post("/Users", json!({"userName": format!("m{i}@x.com")}))
            .await;
        ids.push(json!({"value": user["id"]}));
    }
    let (status, body) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Big", "members": ids.clone()}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_scim_error(&body, "400", Some("invalidValue"));
    let (_, group) = tenant
        .post("/Groups", json!({"displayName": "Small"}))
        .await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "add", "path": "members", "value": ids}])),
        )
        .await;
    assert_eq!(status, 400);
    let (_, group) = tenant.get(&path).await;
    assert!(
        group["members"].as_array().is_none_or(|m| m.is_empty()),
        "nothing was applied"
    );
}
