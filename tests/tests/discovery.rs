//! The discovery documents cross-checked against behaviour, over HTTP on both backends: what
//! `/ServiceProviderConfig` and `/Schemas` claim (maxResults, sort, ETags, PATCH, bulk,
//! changePassword; `returned`, `uniqueness`, `caseExact`, `mutability`) is what the server does.
//! The attributes under test are read from `/Schemas`, so a claim changed there is checked too.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestServer, both_backends, patch_op, read};
use serde_json::{Value, json};

both_backends!(
    service_provider_config_matches_behaviour,
    returned_never_attributes_never_appear,
    server_unique_attributes_conflict,
    case_exact_matches_filtering,
    read_only_attributes_refused_by_patch_and_ignored_by_put,
    put_keeps_immutable_member_attributes,
);

/// An attribute as `/Schemas` describes it, with the URN of the schema it belongs to.
struct Described {
    schema: String,
    core: bool,
    definition: Value,
}

impl Described {
    fn name(&self) -> &str {
        self.definition["name"].as_str().unwrap()
    }

    fn is(&self, characteristic: &str, value: &str) -> bool {
        self.definition[characteristic] == value
    }

    fn case_exact(&self) -> bool {
        self.definition["caseExact"].as_bool().unwrap()
    }

    /// The attribute path a client uses: bare for the core schema, URN-qualified otherwise.
    fn path(&self) -> String {
        if self.core {
            self.name().to_owned()
        } else {
            format!("{}:{}", self.schema, self.name())
        }
    }

    /// Its value in `resource`, looked up as clients would (case-insensitive names).
    fn value_in<'r>(&self, resource: &'r Value) -> Option<&'r Value> {
        let container = if self.core {
            resource.as_object()
        } else {
            get_ci(resource, &self.schema).and_then(Value::as_object)
        };
        container
            .and_then(|c| c.iter().find(|(k, _)| k.eq_ignore_ascii_case(self.name())))
            .map(|(_, v)| v)
    }

    /// Puts a value of the right shape into a request body.
    fn set(&self, body: &mut Value, value: Value) {
        let target = if self.core {
            body
        } else {
            body.as_object_mut()
                .unwrap()
                .entry(self.schema.clone())
                .or_insert_with(|| json!({}))
        };
        target[self.name()] = value;
    }

    /// A value of the attribute's type (string values are `text`).
    fn sample(&self, text: &str) -> Value {
        let single = match self.definition["type"].as_str().unwrap() {
            "boolean" => json!(true),
            "integer" | "decimal" => json!(7),
            "dateTime" => json!("2026-01-01T00:00:00Z"),
            "complex" => json!({"value": text}),
            _ => json!(text),
        };
        if self.definition["multiValued"] == true {
            json!([single])
        } else {
            single
        }
    }
}

fn get_ci<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Every top-level attribute of `resource_type`'s schemas, as `/ResourceTypes` and `/Schemas`
/// publish them.
async fn described(tenant: &Tenant, resource_type: &str) -> Vec<Described> {
    let (status, kind) = tenant.get(&format!("/ResourceTypes/{resource_type}")).await;
    assert_eq!(status, 200, "{kind}");
    let core = kind["schema"].as_str().unwrap().to_owned();
    let mut urns = vec![core.clone()];
    for extension in kind["schemaExtensions"].as_array().unwrap() {
        urns.push(extension["schema"].as_str().unwrap().to_owned());
    }
    let mut attributes = Vec::new();
    for urn in urns {
        let (status, schema) = tenant.get(&format!("/Schemas/{urn}")).await;
        assert_eq!(status, 200, "{schema}");
        for definition in schema["attributes"].as_array().unwrap() {
            attributes.push(Described {
                schema: urn.clone(),
                core: urn == core,
                definition: definition.clone(),
            });
        }
    }
    attributes
}

/// The smallest valid body of a resource type: its required attributes, with `tag` in them.
fn minimal(attributes: &[Described], tag: &str) -> Value {
    let mut body = json!({});
    for attribute in attributes {
        if attribute.definition["required"] == true {
            attribute.set(
                &mut body,
                attribute.sample(&format!("{}-{tag}", attribute.name())),
            );
        }
    }
    body
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}

async fn service_provider_config_matches_behaviour(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.max_page_size = 2).await;
    let tenant = server.create_license("Discovery", 10).await;
    let (status, config) = tenant.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cid"] {
        let (status, user) = tenant.post("/Users", json!({"userName": name})).await;
        assert_eq!(status, 201, "{user}");
        ids.push(id_of(&user));
    }

    // filter.maxResults: no response holds more, whatever `count` asks.
    assert_eq!(config["filter"]["supported"], true);
    let max_results = config["filter"]["maxResults"].as_u64().unwrap();
    assert_eq!(max_results, 2);
    for path in ["/Users?count=50", "/Users?filter=userName+pr&count=50"] {
        let (_, list) = tenant.get(path).await;
        assert_eq!(list["totalResults"], 3, "{path}");
        assert_eq!(list["itemsPerPage"], max_results, "{path}");
        assert_eq!(list["Resources"].as_array().unwrap().len(), 2, "{path}");
    }

    // sort
    assert_eq!(config["sort"]["supported"], true);
    let (_, sorted) = tenant
        .get("/Users?sortBy=userName&sortOrder=descending")
        .await;
    assert_eq!(sorted["Resources"][0]["userName"], "cid");

    // etag: every resource has a version, served as ETag, and If-Match is honoured.
    assert_eq!(config["etag"]["supported"], true);
    let path = format!("/Users/{}", ids[0]);
    let response = tenant.request(Method::GET, &path).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (_, user) = read(response).await;
    assert_eq!(user["meta"]["version"], etag.as_str());

    // patch
    assert_eq!(config["patch"]["supported"], true);
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "add", "path": "title", "value": "t"}])),
        )
        .await;
    assert_eq!(status, 200);

    // changePassword: not supported, so a password PATCH changes nothing, not even the version.
    assert_eq!(config["changePassword"]["supported"], false);
    let version = tenant.get(&path).await.1["meta"]["version"].clone();
    let (status, _) = tenant
        .patch(
            &path,
            patch_op(json!([{"op": "replace", "path": "password", "value": "n3w"}])),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tenant.get(&path).await.1["meta"]["version"], version);

    // bulk: not supported, so there is no /Bulk endpoint.
    assert_eq!(config["bulk"]["supported"], false);
    let (status, _) = tenant
        .post("/Bulk", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}))
        .await;
    assert_eq!(status, 404);

    // Every resource type is served at its endpoint.
    let (_, types) = tenant.get("/ResourceTypes").await;
    for kind in types["Resources"].as_array().unwrap() {
        let endpoint = kind["endpoint"].as_str().unwrap();
        let (status, list) = tenant.get(endpoint).await;
        assert_eq!(status, 200, "{endpoint}: {list}");
    }
}

/// Every attribute `/Schemas` marks `returned: "never"` is absent from every response that
/// carries the resource: create, get (even when asked for by name), list, search, replace and
/// patch.
async fn returned_never_attributes_never_appear(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Discovery", 10).await;
    let mut checked = Vec::new();
    for (resource_type, endpoint) in [("User", "/Users"), ("Group", "/Groups")] {
        let attributes = described(&tenant, resource_type).await;
        let never: Vec<&Described> = attributes
            .iter()
            .filter(|a| a.is("returned", "never"))
            .collect();
        if never.is_empty() {
            continue;
        }
        let mut body = minimal(&attributes, "never");
        for attribute in &never {
            attribute.set(&mut body, attribute.sample("secret"));
            checked.push(format!("{resource_type}:{}", attribute.name()));
        }
        let names: Vec<String> = never.iter().map(|a| a.path()).collect();
        let asked = names.join(",");

        let absent = |what: &str, resource: &Value| {
            for attribute in &never {
                assert!(
                    attribute.value_in(resource).is_none(),
                    "{what} returned {}: {resource}",
                    attribute.name()
                );
            }
        };
        let (status, created) = tenant.post(endpoint, body.clone()).await;
        assert_eq!(status, 201, "{created}");
        absent("POST", &created);
        let path = format!("{endpoint}/{}", id_of(&created));
        absent("GET", &tenant.get(&path).await.1);
        absent(
            "GET attributes",
            &tenant.get(&format!("{path}?attributes={asked}")).await.1,
        );
        let (_, list) = tenant.get(&format!("{endpoint}?attributes={asked}")).await;
        absent("list", &list["Resources"][0]);
        let (_, found) = tenant
            .post(&format!("{endpoint}/.search"), json!({"attributes": names}))
            .await;
        absent("search", &found["Resources"][0]);
        let (status, replaced) = tenant.put(&path, body.clone()).await;
        assert_eq!(status, 200, "{replaced}");
        absent("PUT", &replaced);
        for attribute in &never {
            let operations = json!([{"op": "add", "path": attribute.path(), "value": attribute.sample("again")}]);
            let response = tenant
                .request(Method::PATCH, &path)
                .header("content-type", "application/scim+json")
                .header("prefer", "return=representation")
                .body(patch_op(operations).to_string())
                .send()
                .await
                .unwrap();
            let (status, patched) = read(response).await;
            // Writable ones (password) are accepted and dropped; read-only ones are refused.
            if attribute.is("mutability", "readOnly") {
                assert_eq!(
                    (status, patched["scimType"].as_str()),
                    (400, Some("mutability"))
                );
            } else {
                assert_eq!(status, 200, "{patched}");
                absent("PATCH", &patched);
            }
        }
        absent("GET after all", &tenant.get(&path).await.1);
    }
    assert_eq!(checked, ["User:password", "User:groups"]);
}

/// Attributes marked `uniqueness: "server"` (other than the server's own `id`) cannot be shared
/// by two resources of a tenant, however they are written, and in any case when `caseExact` is
/// false: 409 `uniqueness`.
async fn server_unique_attributes_conflict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Discovery", 10).await;
    let mut checked = Vec::new();
    for (resource_type, endpoint) in [("User", "/Users"), ("Group", "/Groups")] {
        let attributes = described(&tenant, resource_type).await;
        for attribute in attributes
            .iter()
            .filter(|a| a.is("uniqueness", "server") && !a.is("mutability", "readOnly"))
        {
            checked.push(format!("{resource_type}:{}", attribute.name()));
            let taken = "Émile-Taken";
            let mut first = minimal(&attributes, "first");
            attribute.set(&mut first, json!(taken));
            let (status, created) = tenant.post(endpoint, first).await;
            assert_eq!(status, 201, "{created}");
            let (status, second) = tenant.post(endpoint, minimal(&attributes, "second")).await;
            assert_eq!(status, 201, "{second}");
            let second_path = format!("{endpoint}/{}", id_of(&second));

            let same = if !attribute.case_exact() {
                taken.to_uppercase()
            } else {
                taken.to_owned()
            };
            let conflict = |what: &str, (status, body): (u16, Value)| {
                assert_eq!(
                    (status, body["scimType"].as_str()),
                    (409, Some("uniqueness")),
                    "{what} {}: {body}",
                    attribute.name()
                );
            };
            let mut third = minimal(&attributes, "third");
            attribute.set(&mut third, json!(same));
            conflict("POST", tenant.post(endpoint, third).await);
            let mut replacement = minimal(&attributes, "second");
            attribute.set(&mut replacement, json!(same));
            conflict("PUT", tenant.put(&second_path, replacement).await);
            let operations = json!([{"op": "replace", "path": attribute.path(), "value": same}]);
            conflict(
                "PATCH",
                tenant.patch(&second_path, patch_op(operations)).await,
            );
            assert_eq!(
                attribute.value_in(&tenant.get(&second_path).await.1),
                attribute.value_in(&second),
                "a refused write changed nothing"
            );
        }
    }
    assert_eq!(checked, ["User:userName", "Group:displayName"]);
}

/// A filter on a string attribute matches a value in another case exactly when `/Schemas`
/// says `caseExact: false` (in SQL for these indexed attributes, with non-ASCII letters).
async fn case_exact_matches_filtering(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Discovery", 10).await;
    for (resource_type, endpoint, names) in [
        (
            "User",
            "/Users",
            &["userName", "displayName", "externalId"][..],
        ),
        ("Group", "/Groups", &["displayName", "externalId"][..]),
    ] {
        let attributes = described(&tenant, resource_type).await;
        let mut body = minimal(&attributes, "case");
        let value = "Émile-Ökonom";
        let tested: Vec<&Described> = attributes
            .iter()
            .filter(|a| a.core && names.contains(&a.name()))
            .collect();
        assert_eq!(tested.len(), names.len());
        for attribute in &tested {
            attribute.set(&mut body, json!(value));
        }
        let (status, created) = tenant.post(endpoint, body).await;
        assert_eq!(status, 201, "{created}");
        for attribute in tested {
            for probe in [value.to_lowercase(), value.to_uppercase()] {
                let filter = format!("{} eq \"{probe}\"", attribute.name());
                let encoded: String =
                    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
                let (status, list) = tenant.get(&format!("{endpoint}?filter={encoded}")).await;
                assert_eq!(status, 200, "{list}");
                let expected = u64::from(!attribute.case_exact());
                assert_eq!(list["totalResults"], expected, "{resource_type} {filter}");
            }
        }
    }
}

/// readOnly attributes: PATCH refuses them (400 `mutability`); POST and PUT ignore what is sent
/// for them (RFC 7644 §3.5.1), top-level or as a sub-attribute.
async fn read_only_attributes_refused_by_patch_and_ignored_by_put(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Discovery", 10).await;
    let attributes = described(&tenant, "User").await;
    let read_only: Vec<&Described> = attributes
        .iter()
        .filter(|a| a.is("mutability", "readOnly"))
        .collect();
    let names: Vec<&str> = read_only.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["id", "meta", "groups", "seatStatus", "seatReason"]);
    let sample = |attribute: &Described| attribute.sample(&format!("sent-{}", attribute.name()));
    let ignored = |what: &str, resource: &Value| {
        for attribute in &read_only {
            assert_ne!(
                attribute.value_in(resource),
                Some(&sample(attribute)),
                "{what} kept the {} sent: {resource}",
                attribute.name()
            );
        }
    };

    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut body =
        json!({"userName": "ro", enterprise: {"manager": {"value": "m1", "displayName": "Boss"}}});
    for attribute in &read_only {
        attribute.set(&mut body, sample(attribute));
    }
    let (status, created) = tenant.post("/Users", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    ignored("POST", &created);
    assert_eq!(created[enterprise]["manager"], json!({"value": "m1"}));
    let id = id_of(&created);
    let path = format!("/Users/{id}");

    // The core's read-only attributes named by a path: 400 `mutability` (RFC 7644 §3.5.2). The
    // seat extension is licensing's to compute: a PATCH of it succeeds and changes nothing.
    for attribute in &read_only {
        let operations =
            json!([{"op": "replace", "path": attribute.path(), "value": sample(attribute)}]);
        let (status, body) = tenant.patch(&path, patch_op(operations)).await;
        let expected = match attribute.name() {
            "seatStatus" | "seatReason" => (200, None),
            _ => (400, Some("mutability")),
        };
        assert_eq!(
            (status, body["scimType"].as_str()),
            expected,
            "PATCH {}: {body}",
            attribute.name()
        );
        if status == 200 {
            ignored("PATCH", &body);
        }
    }
    let operations = json!([{"op": "add", "path": format!("{enterprise}:manager.displayName"), "value": "Boss"}]);
    let (status, refused) = tenant.patch(&path, patch_op(operations)).await;
    assert_eq!(
        (status, refused["scimType"].as_str()),
        (400, Some("mutability"))
    );

    body["userName"] = json!("ro2");
    body[enterprise]["manager"]["value"] = json!("m2");
    let (status, replaced) = tenant.put(&path, body.clone()).await;
    assert_eq!(status, 200, "{replaced}");
    ignored("PUT", &replaced);
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["userName"], "ro2");
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    assert_eq!(replaced[enterprise]["manager"], json!({"value": "m2"}));
    let (_, read) = tenant.get(&path).await;
    ignored("GET", &read);
    assert_eq!(read[enterprise], replaced[enterprise]);
    // Nothing else of the tenant was touched through the id in the body.
    assert_eq!(tenant.get("/Users/sent-id").await.0, 404);
    body.as_object_mut().unwrap().remove("userName");
    let (status, body) = tenant.put(&path, body).await;
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
}

/// Group members' `value`, `$ref` and `type` are immutable (`/Schemas`): a PUT that keeps a
/// member may repeat them but not change them (400 `mutability`, nothing changed); `display`
/// is readWrite, and members may still come and go.
async fn put_keeps_immutable_member_attributes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = server.create_license("Discovery", 10).await;
    let attributes = described(&tenant, "Group").await;
    let members = attributes.iter().find(|a| a.name() == "members").unwrap();
    let mutability: Vec<(&str, &str)> = members.definition["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["mutability"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mutability,
        [
            ("value", "immutable"),
            ("$ref", "immutable"),
            ("display", "readWrite"),
            ("type", "immutable")
        ]
    );

    let mut users = Vec::new();
    for name in ["ann", "bob"] {
        users.push(id_of(
            &tenant.post("/Users", json!({"userName": name})).await.1,
        ));
    }
    let (status, group) = tenant
        .post(
            "/Groups",
            json!({"displayName": "Okta", "members": [{"value": users[0], "display": "Ann"}]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let path = format!("/Groups/{}", id_of(&group));
    let (_, before) = tenant.get(&path).await;
    let member = before["members"][0].clone();
    assert_eq!(member["type"], "User");
    assert!(
        member["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{}", users[0]))
    );

    let other_ref = format!("{}/Users/{}", tenant.tenant_url, users[1]);
    for (sub, changed) in [("type", json!("Group")), ("$ref", json!(other_ref))] {
        let mut kept = member.clone();
        kept[sub] = changed;
        let (status, body) = tenant
            .put(&path, json!({"displayName": "Okta", "members": [kept]}))
            .await;
        assert_eq!(
            (status, body["scimType"].as_str()),
            (400, Some("mutability")),
            "{sub}: {body}"
        );
        assert_eq!(
            tenant.get(&path).await.1,
            before,
            "a refused PUT changed nothing"
        );
    }

    // The GET body sent back with a new display and a new member is fine.
    let mut body = before.clone();
    body["members"][0]["display"] = json!("Ann A.");
    body["members"]
        .as_array_mut()
        .unwrap()
        .push(json!({"value": users[1], "type": "User"}));
    let (status, replaced) = tenant.put(&path, body).await;
    assert_eq!(status, 200, "{replaced}");
    let shown: Vec<(&str, &str)> = replaced["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["value"].as_str().unwrap(),
                m["display"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(shown.contains(&(users[0].as_str(), "Ann A.")), "{replaced}");
    assert_eq!(shown.len(), 2, "{replaced}");
}
