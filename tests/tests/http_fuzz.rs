//! Property-based HTTP fuzzing of the SCIM routes: random methods, paths, filters, query
//! parameters and JSON bodies (random, and mutations of Entra's real shapes) against a real
//! server. Every answer must be a valid SCIM response and never a 5xx; errors carry the SCIM
//! error schema with `status` as a string. Fixed seed, bounded cases, both backends.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::Method;
use seatflow_tests::{Backend, Tenant, TestServer, patch_op, read};
use serde_json::{Value, json};

const CASES: u32 = 400;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 @.\"'%_\\\\:\\[\\]-]{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("True"),
            Just("False"),
            Just("members"),
            Just("userName"),
            Just("active"),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z.$:]{1,12}",
                    Just("userName".to_owned()),
                    Just("displayName".to_owned()),
                    Just("members".to_owned()),
                    Just("active".to_owned()),
                    Just("emails".to_owned()),
                    Just("Operations".to_owned()),
                    Just("op".to_owned()),
                    Just("path".to_owned()),
                    Just("value".to_owned()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A PATCH whose structure is Entra-like but whose parts are random.
fn patch_body() -> impl Strategy<Value = Value> {
    let op = prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("bogus")];
    let path = prop_oneof![
        Just(None),
        Just(Some("active".to_owned())),
        Just(Some("members".to_owned())),
        Just(Some("emails[type eq \"work\"].value".to_owned())),
        Just(Some("name.givenName".to_owned())),
        "[a-zA-Z\\[\\]\" .=]{0,24}".prop_map(Some),
    ];
    prop::collection::vec((op, path, json_value()), 0..4).prop_map(|ops| {
        let ops: Vec<Value> = ops
            .into_iter()
            .map(|(op, path, value)| {
                let mut o = json!({"op": op, "value": value});
                if let Some(path) = path {
                    o["path"] = json!(path);
                }
                o
            })
            .collect();
        patch_op(json!(ops))
    })
}

#[derive(Debug, Clone)]
enum Target {
    Users,
    User(bool),
    Groups,
    Group(bool),
    Other(String),
}

#[derive(Debug, Clone)]
struct Case {
    method: Method,
    target: Target,
    query: String,
    body: Option<Value>,
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
    ];
    let target = prop_oneof![
        Just(Target::Users),
        any::<bool>().prop_map(Target::User),
        Just(Target::Groups),
        any::<bool>().prop_map(Target::Group),
        prop_oneof![
            Just("/ServiceProviderConfig".to_owned()),
            Just("/Schemas".to_owned()),
            Just("/ResourceTypes/User".to_owned()),
            Just("/.search".to_owned()),
            "/[a-zA-Z/.]{0,16}".prop_map(|s| s),
        ]
        .prop_map(Target::Other),
    ];
    let query = prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 \"()\\[\\].@]{0,40}".prop_map(|f| format!("?filter={}", urlencode(&f))),
        prop_oneof![
            Just("userName eq \"x@y.z\"".to_owned()),
            Just("members[value eq \"a\" or value eq \"b\"]".to_owned()),
            Just("not (active eq true) and meta.created gt \"2020-01-01T00:00:00Z\"".to_owned()),
            Just("emails[type eq \"work\" and value co \"@\"]".to_owned()),
        ]
        .prop_map(|f| format!("?filter={}", urlencode(&f))),
        ("-?[0-9]{1,3}", "[a-z0-9-]{0,4}").prop_map(|(s, c)| format!("?startIndex={s}&count={c}")),
        "[a-zA-Z.,:]{0,20}".prop_map(|a| format!("?attributes={a}&sortBy={a}")),
    ];
    let body = prop_oneof![
        Just(None),
        json_value().prop_map(Some),
        patch_body().prop_map(Some),
        Just(Some(
            json!({"userName": "fuzz@example.com", "active": "False"})
        )),
        Just(Some(
            json!({"displayName": "Fuzzers", "members": [{"value": "nobody"}]})
        )),
    ];
    (method, target, query, body).prop_map(|(method, target, query, body)| Case {
        method,
        target,
        query,
        body,
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn path(case: &Case, user: &str, group: &str) -> String {
    let resource = match &case.target {
        Target::Users => "/Users".to_owned(),
        Target::User(real) => format!("/Users/{}", if *real { user } else { "no-such-id" }),
        Target::Groups => "/Groups".to_owned(),
        Target::Group(real) => format!("/Groups/{}", if *real { group } else { "no-such-id" }),
        Target::Other(path) => path.clone(),
    };
    format!("{resource}{}", case.query)
}

async fn send(tenant: &Tenant, case: &Case, user: &str, group: &str) -> (u16, Value, String) {
    let path = path(case, user, group);
    let mut request = tenant.request(case.method.clone(), &path);
    if let Some(body) = &case.body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let (status, body) = read(response).await;
    (
        status,
        body,
        format!("{} {path} ({content_type})", case.method),
    )
}

fn run(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, tenant, user, group) = runtime.block_on(async {
        let server = TestServer::start(backend).await;
        let tenant = server.create_license("Fuzz", 3).await;
        let (_, user) = tenant
            .post("/Users", json!({"userName": "seed@example.com"}))
            .await;
        let (_, group) = tenant.post("/Groups", json!({"displayName": "Seed"})).await;
        let ids = (
            user["id"].as_str().unwrap().to_owned(),
            group["id"].as_str().unwrap().to_owned(),
        );
        (server, tenant, ids.0, ids.1)
    });
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]));
    let result = runner.run(&case(), |case| {
        let (status, body, what) = runtime.block_on(send(&tenant, &case, &user, &group));
        prop_assert!(status < 500, "{what}: {status} {body}");
        if status >= 400 {
            prop_assert!(
                what.ends_with("(application/scim+json)"),
                "{what}: error content type"
            );
            prop_assert_eq!(
                &body["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error",
                "{}: {}",
                what,
                body
            );
            prop_assert_eq!(&body["status"], &json!(status.to_string()), "{}", what);
        }
        Ok(())
    });
    drop(server);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn scim_routes_never_answer_5xx_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn scim_routes_never_answer_5xx_on_postgres() {
    run(Backend::Postgres);
}
