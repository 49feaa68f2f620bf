//! Licenses, tokens and tenant isolation over HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use seatflow_tests::{Backend, TestServer, both_backends, patch_op};
use serde_json::{Value, json};

both_backends!(
    admin_api_requires_the_operator_token,
    token_rotation_keeps_old_token_until_revoked,
    tenants_never_see_each_others_resources,
    same_user_name_in_two_licenses_is_fine,
    every_admin_route_rejects_scim_and_entitlement_tokens,
);

async fn admin_api_requires_the_operator_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Fabrikam", 25).await;
    assert!(tenant.tenant_url.ends_with("/scim/v2"));
    assert!(tenant.tenant_url.starts_with(&server.base_url));

    let (status, license) = server
        .admin_get(&format!("/api/v1/licenses/{}", tenant.license_id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(license["name"], "Fabrikam");
    assert_eq!(license["seats"], 25);

    // The list pages with offset and limit.
    server.create_license("Second", 1).await;
    server.create_license("Third", 1).await;
    let page = |query: &'static str| {
        let server = &server;
        async move {
            server
                .admin_get(&format!("/api/v1/licenses{query}"))
                .await
                .1
        }
    };
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(page("?limit=2").await), ["Fabrikam", "Second"]);
    assert_eq!(names(page("?offset=2&limit=2").await), ["Third"]);
    assert_eq!(page("?limit=x").await["status"], "400");

    // No token, a SCIM token, or a wrong token: 401.
    let url = format!("{}/api/v1/licenses", server.base_url);
    let anonymous = server.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let with_scim_token = server
        .client
        .get(&url)
        .bearer_auth(&tenant.token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_scim_token.status(), 401);
    // And the operator token is not a SCIM token.
    let mut operator_as_tenant = tenant.clone();
    operator_as_tenant.token = server.admin_token.clone();
    assert_eq!(operator_as_tenant.get("/Users").await.0, 401);

    let bad = json!({"name": "Bad", "seats": -1});
    let (status, body) = server
        .admin_send(Method::POST, "/api/v1/licenses", Some(bad))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.admin_get("/api/v1/licenses/no-such-license").await;
    assert_eq!(status, 404);
}

async fn token_rotation_keeps_old_token_until_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let old = server.create_license("Northwind", 5).await;
    let tokens_path = format!("/api/v1/licenses/{}/tokens", old.license_id);

    let (status, issued) = server.admin_send(Method::POST, &tokens_path, None).await;
    assert_eq!(status, 201, "{issued}");
    let mut new = old.clone();
    new.token = issued["secret_token"].as_str().unwrap().to_owned();

    // Both tokens work during the switch.
    assert_eq!(old.get("/Users").await.0, 200);
    assert_eq!(new.get("/Users").await.0, 200);

    // A third live token is refused: at most two.
    let (status, body) = server.admin_send(Method::POST, &tokens_path, None).await;
    assert_eq!(status, 409, "{body}");

    // Listing never shows secrets.
    let (_, listed) = server.admin_get(&tokens_path).await;
    let text = listed.to_string();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!text.contains(&old.token) && !text.contains(&new.token));
    assert!(!text.contains("hash"));

    // Revoking the old token takes effect at once.
    let revoke = format!("{tokens_path}/{}", old.token_id);
    let (status, _) = server.admin_send(Method::DELETE, &revoke, None).await;
    assert_eq!(status, 204);
    assert_eq!(old.get("/Users").await.0, 401);
    assert_eq!(new.get("/Users").await.0, 200);
    let (status, _) = server.admin_send(Method::DELETE, &revoke, None).await;
    assert_eq!(status, 404);
}

async fn tenants_never_see_each_others_resources(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.create_license("A", 5).await;
    let b = server.create_license("B", 5).await;
    let (_, user) = a
        .post("/Users", json!({"userName": "alice@a.example"}))
        .await;
    let (_, group) = a.post("/Groups", json!({"displayName": "A team"})).await;
    let user_path = format!("/Users/{}", user["id"].as_str().unwrap());
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());

    for (method, path) in [
        (Method::GET, &user_path),
        (Method::DELETE, &user_path),
        (Method::GET, &group_path),
        (Method::DELETE, &group_path),
    ] {
        assert_eq!(
            b.send(method.clone(), path, None).await.0,
            404,
            "{method} {path}"
        );
    }
    let (status, _) = b
        .patch(
            &user_path,
            patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        b.put(&user_path, json!({"userName": "mallory@b.example"}))
            .await
            .0,
        404
    );
    assert_eq!(
        b.put(&group_path, json!({"displayName": "B team"})).await.0,
        404
    );
    let (status, _) = b
        .patch(
            &group_path,
            patch_op(json!([{"op": "replace", "path": "displayName", "value": "x"}])),
        )
        .await;
    assert_eq!(status, 404);

    // B cannot add A's user to its own group: the unknown member is skipped.
    let (_, b_group) = b.post("/Groups", json!({"displayName": "B team"})).await;
    let b_group_path = format!("/Groups/{}", b_group["id"].as_str().unwrap());
    let (status, _) = b
        .patch(
            &b_group_path,
            patch_op(json!([{"op": "add", "path": "members", "value": [{"value": user["id"]}]}])),
        )
        .await;
    assert_eq!(status, 204);
    let b_members = b.get(&b_group_path).await.1["members"].clone();
    assert!(
        b_members.as_array().is_none_or(Vec::is_empty),
        "{b_members}"
    );

    // Lists and filters are scoped too.
    assert_eq!(b.get("/Users").await.1["totalResults"], 0);
    assert_eq!(
        b.get("/Users?filter=userName+eq+\"alice%40a.example\"")
            .await
            .1["totalResults"],
        0
    );
    assert_eq!(b.get("/Groups").await.1["totalResults"], 1);

    // A's resources are intact.
    assert_eq!(a.get(&user_path).await.0, 200);
    assert_eq!(a.get(&group_path).await.0, 200);
}

async fn same_user_name_in_two_licenses_is_fine(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.create_license("A", 5).await;
    let b = server.create_license("B", 5).await;
    for (tenant, path, body) in [
        (&a, "/Users", json!({"userName": "shared@example.com"})),
        (&b, "/Users", json!({"userName": "Shared@Example.com"})),
        (&a, "/Groups", json!({"displayName": "Everyone"})),
        (&b, "/Groups", json!({"displayName": "Everyone"})),
    ] {
        assert_eq!(
            tenant.post(path, body.clone()).await.0,
            201,
            "{path} {body}"
        );
    }
}

async fn every_admin_route_rejects_scim_and_entitlement_tokens(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.entitlement_token = Some("product-read-token".into());
    })
    .await;
    let tenant = server.create_license("Guarded", 5).await;
    let l = &tenant.license_id;
    let routes = [
        (Method::GET, "/api/v1/licenses".to_owned()),
        (Method::POST, "/api/v1/licenses".to_owned()),
        (Method::GET, format!("/api/v1/licenses/{l}")),
        (Method::PATCH, format!("/api/v1/licenses/{l}")),
        (Method::GET, format!("/api/v1/licenses/{l}/tokens")),
        (Method::POST, format!("/api/v1/licenses/{l}/tokens")),
        (
            Method::DELETE,
            format!("/api/v1/licenses/{l}/tokens/{}", tenant.token_id),
        ),
        (Method::GET, format!("/api/v1/licenses/{l}/admin-keys")),
        (Method::POST, format!("/api/v1/licenses/{l}/admin-keys")),
        (Method::GET, format!("/api/v1/licenses/{l}/sync")),
        (Method::GET, format!("/api/v1/licenses/{l}/groups")),
        (Method::GET, format!("/api/v1/licenses/{l}/licensed-groups")),
        (Method::PUT, format!("/api/v1/licenses/{l}/licensed-groups")),
        (Method::GET, format!("/api/v1/licenses/{l}/seats")),
        (Method::GET, format!("/api/v1/licenses/{l}/audit")),
        (Method::POST, format!("/api/v1/licenses/{l}/reconcile")),
        (Method::GET, "/api/v1/dead-letters".to_owned()),
        (Method::POST, "/api/v1/dead-letters/1/replay".to_owned()),
        (Method::GET, "/api/v1/dashboard".to_owned()),
    ];
    for token in [tenant.token.as_str(), "product-read-token", ""] {
        for (method, path) in &routes {
            let response = server
                .client
                .request(method.clone(), format!("{}{path}", server.base_url))
                .bearer_auth(token)
                .json(&json!({"group_ids": [], "name": "x", "seats": 1}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                401,
                "{method} {path} with token {token:?}"
            );
        }
    }
    // The entitlement token can read entitlements, and nothing else (above).
    let read_only = server
        .client
        .get(format!(
            "{}/api/v1/entitlements?email=a%40b.c",
            server.base_url
        ))
        .bearer_auth("product-read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(read_only.status(), 200);
    // Nothing changed: the SCIM token still works and the license is as it was.
    assert_eq!(tenant.get("/Users").await.0, 200);
    let (_, license) = server.admin_get(&format!("/api/v1/licenses/{l}")).await;
    assert_eq!(license["name"], "Guarded");
}
