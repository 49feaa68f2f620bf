//! RFC 7643/7644 behaviour beyond Entra's needs, over HTTP on both backends: filters on
//! non-indexed attributes, sorting, projection, ETags, PATCH response rules, /.search, Okta's
//! requests and lenient endpoint paths.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op, read};
use serde_json::{Value, json};

both_backends!(
    filters_on_non_indexed_attributes,
    sorts_by_indexed_and_other_attributes,
    projection_and_returned,
    etags_and_conditional_requests,
    patch_response_rules,
    search_endpoints,
    okta_shapes_and_lenient_paths,
    group_members_in_the_forms_patch_takes,
    filters_on_the_seat_extension,
);

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn seed(tenant: &Tenant) -> Vec<String> {
    let mut ids = Vec::new();
    for (user_name, family, email, dept, title) in [
        ("ann", "Employee", "ann@example.com", "Sales", Some("b")),
        ("Bob", "Employee", "bob@example.org", "eng", None),
        ("cid", "Other", "cid@example.com", "Sales", Some("A")),
    ] {
        let mut body = json!({
            "userName": user_name,
            "name": {"familyName": family},
            "emails": [{"type": "work", "value": email, "primary": true}],
            ENTERPRISE: {"department": dept},
        });
        if let Some(title) = title {
            body["title"] = title.into();
        }
        let (status, user) = tenant.post("/Users", body).await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn names(list: &Value) -> Vec<&str> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect()
}

async fn filtered(tenant: &Tenant, filter: &str) -> Value {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let (status, body) = tenant.get(&format!("/Users?filter={encoded}")).await;
    assert_eq!(status, 200, "{filter}: {body}");
    body
}

async fn filters_on_non_indexed_attributes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    seed(&tenant).await;

    // Microsoft's Postman collection: unquoted values, sub-attributes, and/or with parentheses.
    let body = filtered(
        &tenant,
        "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
    )
    .await;
    assert_eq!(body["totalResults"], 2);
    assert_eq!(names(&body), ["ann", "Bob"]);

    // Value paths, extension attributes (caseExact false), mixed with indexed attributes.
    let body = filtered(&tenant, "emails[type eq \"work\" and value ew \".COM\"]").await;
    assert_eq!(names(&body), ["ann", "cid"]);
    let body = filtered(
        &tenant,
        &format!("{ENTERPRISE}:department eq \"sales\" and userName sw \"c\""),
    )
    .await;
    assert_eq!(names(&body), ["cid"]);
    let body = filtered(&tenant, "not (title pr) or userName eq \"ANN\"").await;
    assert_eq!(names(&body), ["ann", "Bob"]);
    // Paging applies after the in-memory part of the filter.
    let (_, page) = tenant
        .get("/Users?filter=title+pr&startIndex=2&count=1")
        .await;
    assert_eq!(
        (page["totalResults"].clone(), names(&page)),
        (json!(2), vec!["cid"])
    );

    // Too deep a filter is refused before any query runs.
    let deep = format!("{}title pr{}", "(".repeat(40), ")".repeat(40));
    let encoded: String = url::form_urlencoded::byte_serialize(deep.as_bytes()).collect();
    let (status, body) = tenant.get(&format!("/Users?filter={encoded}")).await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
}

async fn sorts_by_indexed_and_other_attributes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    seed(&tenant).await;
    // userName is caseExact false: "Bob" sorts between "ann" and "cid".
    assert_eq!(
        names(&tenant.get("/Users?sortBy=userName").await.1),
        ["ann", "Bob", "cid"]
    );
    assert_eq!(
        names(
            &tenant
                .get("/Users?sortBy=userName&sortOrder=descending")
                .await
                .1
        ),
        ["cid", "Bob", "ann"]
    );
    // title (not indexed) sorts in memory, case-insensitively, absent values last.
    assert_eq!(
        names(&tenant.get("/Users?sortBy=title").await.1),
        ["cid", "ann", "Bob"]
    );
    assert_eq!(
        names(
            &tenant
                .get("/Users?sortBy=title&sortOrder=descending")
                .await
                .1
        ),
        ["Bob", "ann", "cid"]
    );
    assert_eq!(
        names(
            &tenant
                .get("/Users?sortBy=emails.value&filter=userName+ne+%22cid%22&count=1")
                .await
                .1
        ),
        ["ann"]
    );
    let (status, body) = tenant
        .get("/Users?sortBy=userName&sortOrder=sideways")
        .await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
}

async fn projection_and_returned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    let ids = seed(&tenant).await;
    let (_, user) = tenant
        .get(&format!(
            "/Users/{}?attributes=emails.value,{ENTERPRISE}:department",
            ids[0]
        ))
        .await;
    // `id` is returned always; `userName` (default) only when asked for.
    assert_eq!(user["id"], ids[0].as_str());
    assert!(user.get("userName").is_none(), "{user}");
    assert_eq!(user["emails"], json!([{"value": "ann@example.com"}]));
    assert_eq!(user[ENTERPRISE], json!({"department": "Sales"}));
    let (_, user) = tenant
        .get(&format!(
            "/Users/{}?excludedAttributes=id,emails,{ENTERPRISE}",
            ids[0]
        ))
        .await;
    assert_eq!(user["id"], ids[0].as_str(), "id cannot be excluded");
    assert!(
        user.get("emails").is_none() && user.get(ENTERPRISE).is_none(),
        "{user}"
    );
    // A password is never returned (nor kept).
    let (_, created) = tenant
        .post("/Users", json!({"userName": "pw", "password": "hunter2"}))
        .await;
    assert!(created.get("password").is_none());
    let (_, again) = tenant
        .get(&format!(
            "/Users/{}?attributes=password",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert!(again.get("password").is_none());
}

async fn etags_and_conditional_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    let ids = seed(&tenant).await;
    let path = format!("/Users/{}", ids[0]);
    let response = tenant.request(Method::GET, &path).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (_, user) = read(response).await;
    assert_eq!(user["meta"]["version"], etag.as_str());

    // A request for the user that names a version in a conditional header.
    let conditional = |method: Method, header: &str, tag: &str| {
        let request = tenant.request(method, &path).header(header, tag);
        async move { request.send().await.unwrap() }
    };
    let not_modified = conditional(Method::GET, "if-none-match", &etag).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());

    let replace = |if_match: &str| {
        tenant
            .request(Method::PATCH, &path)
            .header("if-match", if_match)
            .header("content-type", "application/scim+json")
            .body(patch_op(json!([{"op": "replace", "path": "title", "value": "x"}])).to_string())
    };
    let (status, body) = read(replace("W/\"999\"").send().await.unwrap()).await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (412, Some("preconditionFailed"))
    );
    assert_eq!(
        tenant.get(&path).await.1["title"],
        "b",
        "a failed If-Match changes nothing"
    );
    let ok = replace(&etag).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let new_etag = ok.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(read(ok).await.1["meta"]["version"], new_etag.as_str());
    // The old tag no longer matches a read or a delete.
    let stale = conditional(Method::GET, "if-none-match", &etag).await;
    assert_eq!(stale.status(), 200);
    let (status, _) = read(conditional(Method::DELETE, "if-match", &etag).await).await;
    assert_eq!(status, 412);
    let (status, _) = read(conditional(Method::DELETE, "if-match", &new_etag).await).await;
    assert_eq!(status, 204);
}

async fn patch_response_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    let ids = seed(&tenant).await;
    let (_, group) = tenant.post("/Groups", json!({"displayName": "G"})).await;
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let add = patch_op(
        json!([{"op": "add", "path": "members", "value": [{"value": ids[0], "display": "Ann A."}]}]),
    );
    // Sends `body` as a PATCH of `path`, with `Prefer: prefer` if given.
    let patch = |path: &str, prefer: Option<&str>, body: &Value| {
        let mut request = tenant
            .request(Method::PATCH, path)
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        async move { request.send().await.unwrap() }
    };
    // Groups: 204 by default; the member keeps the display it was sent with.
    let (status, _) = read(patch(&group_path, None, &add).await).await;
    assert_eq!(status, 204);
    assert_eq!(
        tenant.get(&group_path).await.1["members"][0]["display"],
        "Ann A."
    );
    // `attributes` → 200 with the resource (RFC 7644 §3.5.2 MUST).
    let members = format!("{group_path}?attributes=members");
    let (status, body) = read(patch(&members, None, &add).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["members"][0]["value"], ids[0].as_str());
    assert!(body.get("displayName").is_none());
    // Users: 200 with the user by default (Okta reads it), 204 with Prefer: return=minimal,
    // 200 with Prefer: return=representation (and Preference-Applied).
    let user_path = format!("/Users/{}", ids[1]);
    let title = patch_op(json!([{"op": "replace", "path": "title", "value": "t"}]));
    let (status, body) = read(patch(&user_path, None, &title).await).await;
    assert_eq!((status, body["title"].as_str()), (200, Some("t")));
    let minimal = patch(&user_path, Some("return=minimal"), &title).await;
    assert_eq!(minimal.headers()["preference-applied"], "return=minimal");
    assert_eq!(read(minimal).await, (204, Value::Null));
    let response = patch(&user_path, Some("return=representation"), &title).await;
    assert_eq!(
        response.headers()["preference-applied"],
        "return=representation"
    );
    let (status, body) = read(response).await;
    assert_eq!((status, body["title"].as_str()), (200, Some("t")));
    // Minimal does not override `attributes`.
    let projected = format!("{user_path}?attributes=title");
    let (status, body) = read(patch(&projected, Some("return=minimal"), &title).await).await;
    assert_eq!((status, body["title"].as_str()), (200, Some("t")));
}

async fn search_endpoints(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    seed(&tenant).await;
    tenant
        .post("/Groups", json!({"displayName": "Sales team"}))
        .await;
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "emails co \"example.com\"",
        "attributes": ["userName"],
        "sortBy": "userName",
        "sortOrder": "descending",
        "startIndex": 1,
        "count": 10
    });
    let (status, body) = tenant.post("/Users/.search", request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["cid", "ann"]);
    assert!(body["Resources"][0].get("emails").is_none());

    let (status, body) = tenant
        .post(
            "/Groups/.search",
            json!({"filter": "displayName sw \"sales\""}),
        )
        .await;
    assert_eq!((status, body["totalResults"].clone()), (200, json!(1)));

    // The root searches every resource type: 3 users then 1 group, paged across both.
    let (status, body) = tenant
        .post("/.search", json!({"startIndex": 3, "count": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 4);
    let resources = body["Resources"].as_array().unwrap();
    assert_eq!(resources[0]["userName"], "cid");
    assert_eq!(resources[1]["displayName"], "Sales team");
}

async fn okta_shapes_and_lenient_paths(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Conformance", 10).await;
    let ids = seed(&tenant).await;
    // Okta's probe and headers.
    let response = tenant
        .request(Method::GET, "/Users?count=1&startIndex=1")
        .header("accept", "application/scim+json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["totalResults"].clone(), body["itemsPerPage"].clone()),
        (json!(3), json!(1))
    );
    let response = tenant
        .request(Method::POST, "/Groups")
        .header("content-type", "application/scim+json; charset=utf-8")
        .body(json!({"displayName": "Okta", "members": [{"value": ids[0]}]}).to_string())
        .send()
        .await
        .unwrap();
    let (status, group) = read(response).await;
    assert_eq!(status, 201, "{group}");
    // Okta's PUT /Groups replaces the membership.
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let (status, body) = tenant
        .put(
            &path,
            json!({"displayName": "Okta", "members": [{"value": ids[1]}, {"value": ids[2]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut expected = [ids[1].as_str(), ids[2].as_str()];
    expected.sort_unstable();
    assert_eq!(member_ids(&body), expected);
    // Endpoint names in any case, and a trailing slash (Microsoft's Postman collection).
    assert_eq!(tenant.get("/users").await.1["totalResults"], 3);
    assert_eq!(
        tenant.get("/Users/?filter=userName+eq+%22ann%22").await.1["totalResults"],
        1
    );
    assert_eq!(tenant.get("/nothing").await.0, 404);
}

fn member_ids(group: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = group["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {group}"))
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// A group's POST and PUT read members as PATCH does: objects, bare id strings (Okta, Microsoft's
/// Postman collection), a lone member without an array; what PATCH refuses they refuse alike.
async fn group_members_in_the_forms_patch_takes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Members", 10).await;
    let ids = seed(&tenant).await;
    fn sorted<'a>(some: &[&'a String]) -> Vec<&'a str> {
        let mut some: Vec<&str> = some.iter().map(|id| id.as_str()).collect();
        some.sort_unstable();
        some
    }

    let (status, group) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Bare", "members": [ids[0], {"value": ids[1]}]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(member_ids(&group), sorted(&[&ids[0], &ids[1]]));
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());

    let (status, body) = tenant
        .put(&path, json!({"displayName": "Bare", "members": [ids[2]]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(member_ids(&body), sorted(&[&ids[2]]));
    let (status, body) = tenant
        .put(&path, json!({"displayName": "Bare", "members": ids[0]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(member_ids(&tenant.get(&path).await.1), sorted(&[&ids[0]]));

    let (status, refused) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Bad", "members": [ids[1], 3]}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["scimType"], "invalidValue", "{refused}");
    let (status, patched) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "add", "path": "members", "value": [ids[1], 3]}])),
        )
        .await;
    assert_eq!(status, 400, "{patched}");
    assert_eq!(
        patched["detail"],
        format!("operation 1: {}", refused["detail"].as_str().unwrap()),
    );
    assert_eq!(member_ids(&tenant.get(&path).await.1), sorted(&[&ids[0]]));
    assert_eq!(tenant.get("/Groups").await.1["totalResults"], 1);
}

const LICENSE: &str = "urn:seatflow:params:scim:schemas:extension:license:2.0:User";

/// The string at `pointer` (a JSON pointer) in each resource of a list response.
fn each<'a>(list: &'a Value, pointer: &str) -> Vec<&'a str> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|resource| resource.pointer(pointer).and_then(Value::as_str).unwrap())
        .collect()
}

/// Who is waiting: filters (and sorting) on Seatflow's license extension, which is not in the
/// stored document, see the seats licensing gave out, with the total and paging right.
async fn filters_on_the_seat_extension(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Seats", 1).await;
    let ids = seed(&tenant).await;
    let (_, outsider) = tenant.post("/Users", json!({"userName": "dee"})).await;
    let (status, group) = tenant
        .post(
            "/Groups",
            json!({
                "displayName": "Licensed",
                "members": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()
            }),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    server
        .license_groups(&tenant.license_id, json!([group["id"]]))
        .await;
    server
        .converged(&tenant.license_id, std::time::Duration::from_secs(30))
        .await;

    // One seat for three entitled users: one holds it, two wait; the outsider is not entitled.
    let body = filtered(&tenant, &format!("{LICENSE}:seatStatus eq \"blocked\"")).await;
    assert_eq!(body["totalResults"], 2, "{body}");
    assert_eq!(
        each(&body, &format!("/{LICENSE}/seatStatus")),
        ["blocked"; 2]
    );
    let waiting = each(&body, "/id");
    assert!(waiting.iter().all(|id| ids.iter().any(|i| i == id)));
    let body = filtered(&tenant, "seatStatus eq \"assigned\"").await;
    assert_eq!(body["totalResults"], 1, "{body}");
    let holder = body["Resources"][0]["id"].as_str().unwrap();
    assert!(!waiting.contains(&holder));
    let body = filtered(&tenant, "seatStatus eq \"none\"").await;
    assert_eq!(body["Resources"][0]["id"], outsider["id"], "{body}");
    assert_eq!(body["totalResults"], 1);
    let body = filtered(&tenant, "seatReason eq \"no_seats_available\"").await;
    assert_eq!(body["totalResults"], 2, "{body}");
    // caseExact, as `/Schemas` says.
    assert_eq!(
        filtered(&tenant, "seatStatus eq \"BLOCKED\"").await["totalResults"],
        0
    );

    // Paging: the total counts every waiting user, each page holds its share.
    let filter = "seatStatus+eq+%22blocked%22";
    let mut paged = Vec::new();
    for start in 1..=3 {
        let (status, page) = tenant
            .get(&format!(
                "/Users?filter={filter}&startIndex={start}&count=1"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["totalResults"], 2, "{page}");
        paged.extend(each(&page, "/id").into_iter().map(str::to_owned));
    }
    assert_eq!(paged, waiting);

    // With a non-indexed attribute the filter runs in memory, on the same seats.
    let body = filtered(&tenant, "seatStatus eq \"blocked\" or title eq \"A\"").await;
    let mut expected: Vec<&str> = waiting.clone();
    if !expected.contains(&ids[2].as_str()) {
        expected.push(&ids[2]);
    }
    let mut found = each(&body, "/id");
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, expected, "{body}");

    // Sorting by seat: assigned, blocked, blocked, none.
    let (_, sorted) = tenant.get("/Users?sortBy=seatStatus").await;
    assert_eq!(
        each(&sorted, &format!("/{LICENSE}/seatStatus")),
        ["assigned", "blocked", "blocked", "none"]
    );

    // The same through /.search.
    let (status, body) = tenant
        .post(
            "/Users/.search",
            json!({"filter": "seatStatus eq \"blocked\"", "count": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["totalResults"].clone(), body["itemsPerPage"].clone()),
        (json!(2), json!(1))
    );
}
