//! Replays Microsoft's SCIM Validator capture (`tests/fixtures/entra/validator-capture.json`;
//! see `docs/providers/entra.md`) against a real server, embedded on SQLite and distributed on
//! PostgreSQL + RabbitMQ: every request of `results.data.PassedTests[]` then `PreviewTests[]`,
//! in the capture's order, in one tenant, over one keep-alive raw TCP connection.
//!
//! Replay rules:
//! - Requests are parsed from the raw HTTP text (`METHOD URL 1.1\r\nHeaders…\r\n{body}`) and
//!   sent byte for byte as captured: the request target exactly as captured (e.g.
//!   `filter=userName+eq+"…%40…"` with its raw quotes) below our tenant path instead of the
//!   captured base URL, the captured header lines, and the captured body. The replay adds what
//!   the export leaves out of a message: `Authorization` with the tenant's token,
//!   `Content-Length` for a body, the `HTTP/1.1` version and the blank line ending the head.
//! - Every lookup whose target a strict client would percent-encode (the filters with raw
//!   quotes) is sent a second time as its percent-encoded twin (encoded by the
//!   `percent-encoding` crate, on a connection of its own); both answers must be the same.
//! - Ids: when a captured 201 carries an `id`, it is mapped to the id our server answered, and
//!   every later URL, request body and captured response is rewritten with the map. Ids never
//!   created (e.g. "Delete a non-existent User") are sent as captured.
//! - The export omits some of the validator's own setup; the replay restores it so that it needs
//!   nothing else:
//!   * a POST captured as 409 ("Create a duplicate …") is preceded by the same POST (201);
//!   * a GET whose captured answer shows a resource no replayed request created ("Filter for an
//!     existing user", "Get group by id excluding members") is preceded by a POST of that
//!     representation (201);
//!   * a GET by id captured as 404 on an id never created ("Delete a User/Group", of which the
//!     export keeps only the verifying GET) is preceded by a POST of a minimal resource and its
//!     DELETE (204).
//! - It also makes the checks the validator makes after a step but the export omits:
//!   * after a User PATCH, the user filtered by userName matches the captured PATCH response
//!     (so a disabled user must be found with `active: false`);
//!   * after a Group PATCH (captured without a body), GET by id shows the group with the
//!     captured operations applied;
//!   * after a DELETE answered 204, GET answers 404.
//! - Every step: the status equals the captured one. Error bodies have the Error schema, `status`
//!   as a string (RFC 7644 §3.12; the captured server's number is not checked by the validator)
//!   and, for 400/409, the captured `scimType`. ListResponses have the ListResponse schema, the
//!   captured totalResults/startIndex/itemsPerPage and the captured Resources (by mapped id).
//!   Resources have the required attributes, their core schema and every captured attribute
//!   with the captured value (multi-valued ones in any order), except `meta` timestamps, location
//!   and version; `excludedAttributes` are absent. Each validator message in `Results` is mapped
//!   to one of these checks; one this file does not know fails the replay.
//! - Allowed differences: only captured attributes are compared, so our extra `meta.version`,
//!   `meta.location`, members' `$ref`/`display` and the users' read-only seat extension (with
//!   its URN in `schemas`) pass; ids differ in format and are mapped; a
//!   Group PATCH answered 200 (capture) or 204 (ours, Entra's guidance) are equivalent, for Group
//!   PATCH only. Anything else that differs is a failure.
//! - All validator tests run; the test then fails listing each failing validator test with the
//!   requests, our responses and what differs.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};

use reqwest::Method;
use seatflow_tests::wire::{self, RawConnection, RawResponse};
use seatflow_tests::{Backend, Tenant, TestServer, Transport, embedded_and_distributed};
use serde_json::{Value, json};

embedded_and_distributed!(replays_the_validator_capture);

const CAPTURE: &str = include_str!("../fixtures/entra/validator-capture.json");
/// The captured server's tenant URL, replaced by ours.
const CAPTURED_BASE: &str = "http://localhost:6000/scim/endpoints/cmlfuqaft0002i30tlv47pq1f";
/// The Content-Type of the validator's requests; requests the replay adds send it too.
const SCIM_JSON: &str = "application/scim+json; charset=utf-8";

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn replays_the_validator_capture(transport: Transport) {
    let tests = load_capture();
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("SCIM Validator replay", 1000).await;
    let failures = replay(&server, &tenant, &tests).await;
    assert!(
        failures.is_empty(),
        "SCIM Validator replay on {transport:?}: {} of {} validator tests failed:\n\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n\n")
    );
}

/// The replay must be able to fail: a Disable User whose PATCH does not disable (as if the server
/// ignored it) is reported under the validator test's name, by the filter that follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_a_disable_that_did_not_disable() {
    let mut tests = load_capture();
    tests.retain(|t| t.description == "Patch User - Disable User");
    let patch = tests[0].steps.last_mut().unwrap();
    patch.body = patch
        .body
        .as_ref()
        .map(|b| b.replace(r#""value":false"#, r#""value":true"#));
    let server = TestServer::start(Backend::Sqlite).await;
    let tenant = server.create_license("SCIM Validator replay", 10).await;
    let failures = replay(&server, &tenant, &tests).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let report = &failures[0];
    assert!(report.contains("Patch User - Disable User"), "{report}");
    // Our PATCH answers the user (200): its answer, and the follow-up GET, show it still active.
    assert!(report.contains("PATCH /Users/Id"), "{report}");
    assert!(report.contains("request under test"), "{report}");
    assert!(report.contains("follow-up"), "{report}");
    assert!(report.contains("active: true, expected false"), "{report}");
}

/// Replays the validator tests in order in `tenant`; returns one report per failing test.
async fn replay(server: &TestServer, tenant: &Tenant, tests: &[ValidatorTest]) -> Vec<String> {
    let mut replay = Replay {
        tenant,
        tenant_path: url::Url::parse(&tenant.tenant_url)
            .unwrap()
            .path()
            .to_owned(),
        connection: RawConnection::open(&server.base_url).await,
        base_url: server.base_url.clone(),
        ids: HashMap::new(),
        groups: HashMap::new(),
    };
    let mut failures = Vec::new();
    for test in tests {
        let problems = replay.run(test).await;
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] {} — {}\n{}",
                test.section,
                test.name,
                test.description,
                problems.join("\n")
            ));
        }
    }
    failures
}

/// One entry of the capture.
struct ValidatorTest {
    section: &'static str,
    name: String,
    description: String,
    /// `InitialRequestBodies`, then `RequestBody`.
    steps: Vec<Step>,
    /// The validator's per-check messages (`Results[].Message`) on the request under test.
    checks: Vec<String>,
}

/// A request and the answer expected for it (captured, or derived by a replay rule).
#[derive(Clone)]
struct Step {
    method: Method,
    /// Below the tenant URL, with the query as captured.
    path: String,
    /// The header lines as captured (`Host`, `Content-Type`).
    headers: Vec<(String, String)>,
    body: Option<String>,
    expect_status: u16,
    expect_body: Option<Value>,
    origin: Origin,
}

impl Step {
    /// A request the replay adds, without a body.
    fn added(origin: Origin, method: Method, path: String, expect_status: u16) -> Step {
        Step {
            method,
            path,
            headers: vec![("Host".into(), "localhost".into())],
            body: None,
            expect_status,
            expect_body: None,
            origin,
        }
    }
}

#[derive(Clone, Copy)]
enum Origin {
    Initial,
    UnderTest,
    Setup(&'static str),
    FollowUp(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Initial => f.write_str("initial request"),
            Origin::UnderTest => f.write_str("request under test"),
            Origin::Setup(why) => write!(f, "setup ({why})"),
            Origin::FollowUp(why) => write!(f, "follow-up ({why})"),
        }
    }
}

fn load_capture() -> Vec<ValidatorTest> {
    let capture: Value = serde_json::from_str(CAPTURE).expect("the capture is JSON");
    let data = &capture["results"]["data"];
    ["PassedTests", "PreviewTests"]
        .into_iter()
        .flat_map(|section| {
            let tests = data[section].as_array().expect(section);
            tests.iter().map(move |test| parse_test(section, test))
        })
        .collect()
}

fn parse_test(section: &'static str, test: &Value) -> ValidatorTest {
    let text = |key: &str| test[key].as_str().unwrap_or_default();
    // The Initial* lists are null when the validator sent nothing first.
    let list = |key: &str| test[key].as_array().cloned().unwrap_or_default();
    let mut steps: Vec<Step> = list("InitialRequestBodies")
        .iter()
        .zip(list("InitialResponseStatuses"))
        .zip(list("InitialResponses"))
        .map(|((request, status), response)| {
            let (request, status) = (request.as_str().unwrap(), status.as_str().unwrap());
            captured_step(request, status, response.as_str().unwrap(), Origin::Initial)
        })
        .collect();
    steps.push(captured_step(
        text("RequestBody"),
        text("ResponseStatus"),
        text("ResponseBody"),
        Origin::UnderTest,
    ));
    let checks = list("Results")
        .iter()
        .map(|result| result["Message"].as_str().unwrap().to_owned())
        .collect();
    ValidatorTest {
        section,
        name: text("Name").to_owned(),
        description: text("Description").to_owned(),
        steps,
        checks,
    }
}

/// Parses `METHOD URL 1.1\r\nHeader: value…\r\n{body}\r\n` (no blank line before the body) and
/// the captured answer (`"201 Created"`, JSON or empty).
fn captured_step(request: &str, status: &str, response: &str, origin: Origin) -> Step {
    let mut lines = request.split("\r\n");
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let (url, _http_version) = rest.rsplit_once(' ').unwrap();
    let path = url
        .strip_prefix(CAPTURED_BASE)
        .unwrap_or_else(|| panic!("request outside the captured tenant: {request_line}"));
    let mut headers = Vec::new();
    let mut body = Vec::new();
    for line in lines {
        if !body.is_empty() || line.starts_with('{') {
            body.push(line);
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_owned(), value.trim_start().to_owned()));
        }
    }
    let body = body.join("\n");
    Step {
        method: Method::from_bytes(method.as_bytes()).unwrap(),
        path: path.to_owned(),
        headers,
        body: (!body.trim().is_empty()).then_some(body),
        expect_status: status
            .split(' ')
            .next()
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("captured status {status:?}")),
        expect_body: (!response.is_empty())
            .then(|| serde_json::from_str(response).expect("captured response is JSON")),
        origin,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn of(path: &str) -> Kind {
        if path.starts_with("/Groups") {
            Kind::Group
        } else {
            Kind::User
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Kind::User => "/Users",
            Kind::Group => "/Groups",
        }
    }

    fn core_schema(self) -> &'static str {
        match self {
            Kind::User => USER_SCHEMA,
            Kind::Group => GROUP_SCHEMA,
        }
    }

    /// The attribute RFC 7643 requires besides `id` and `schemas`.
    fn required(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

struct Replay<'a> {
    tenant: &'a Tenant,
    /// Where the tenant's endpoints are (`/scim/v2`): the captured base URL is replaced by it.
    tenant_path: String,
    /// One keep-alive connection for the whole replay, as the validator's client keeps one.
    connection: RawConnection,
    base_url: String,
    /// Captured id → the id our server gave the same resource.
    ids: HashMap<String, String>,
    /// Expected state of each group by our id: the capture shows no body after a Group PATCH.
    groups: HashMap<String, Value>,
}

impl Replay<'_> {
    /// Replays one validator test; returns what went wrong (nothing: it passed). A step whose
    /// status differs ends the test, since the steps after it depend on it.
    async fn run(&mut self, test: &ValidatorTest) -> Vec<String> {
        let mut problems = Vec::new();
        for step in &test.steps {
            let messages = match step.origin {
                Origin::UnderTest => &test.checks[..],
                _ => &[][..],
            };
            for setup in self.setup_for(step) {
                if !self.run_step(&setup, &[], &mut problems).await {
                    return problems;
                }
            }
            if !self.run_step(step, messages, &mut problems).await {
                return problems;
            }
            for follow_up in self.follow_ups(step) {
                if !self.run_step(&follow_up, &[], &mut problems).await {
                    return problems;
                }
            }
        }
        problems
    }

    /// The validator's setup that the export leaves out (see the rules at the top).
    fn setup_for(&self, step: &Step) -> Vec<Step> {
        let kind = Kind::of(&step.path);
        let unknown = |id: &str| !self.ids.contains_key(id);
        match (&step.method, step.expect_status) {
            (&Method::POST, 409) => vec![Step {
                expect_status: 201,
                expect_body: None,
                origin: Origin::Setup("the resource the duplicate collides with"),
                ..step.clone()
            }],
            (&Method::GET, 200) => (step.expect_body.iter())
                .flat_map(resources)
                .filter(|resource| resource["id"].as_str().is_some_and(unknown))
                .map(|resource| create(kind, resource, "the resource the captured answer shows"))
                .collect(),
            (&Method::GET, 404) => match resource_id(&step.path) {
                Some(id) if unknown(id) => {
                    // Named by the count of resources created so far: unique in the tenant,
                    // and not the captured id, which the expected answer would have rewritten.
                    let (schema, name) = (kind.core_schema(), kind.required());
                    let value = format!("deleted.{}", self.ids.len());
                    let resource = json!({"schemas": [schema], "id": id, name: value});
                    let delete = format!("{}/{id}", kind.collection());
                    vec![
                        create(kind, &resource, "the resource the validator deleted"),
                        Step::added(Origin::Setup("its DELETE"), Method::DELETE, delete, 204),
                    ]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The validator's checks after a captured step that the export leaves out.
    fn follow_ups(&self, step: &Step) -> Vec<Step> {
        let path = self.rewrite(&step.path);
        let get = |path, status, why| Step::added(Origin::FollowUp(why), Method::GET, path, status);
        match (&step.method, Kind::of(&path), &step.expect_body) {
            (&Method::PATCH, Kind::User, Some(patched)) => {
                let patched = self.rewrite_value(patched);
                let user_name = patched["userName"].as_str().unwrap().replace('@', "%40");
                let filter = format!("/Users?filter=userName+eq+\"{user_name}\"");
                let found =
                    json!({"schemas": [LIST_SCHEMA], "totalResults": 1, "Resources": [patched]});
                vec![Step {
                    expect_body: Some(found),
                    ..get(filter, 200, "the patched user, by filter")
                }]
            }
            (&Method::PATCH, Kind::Group, _) => {
                let group = resource_id(&path)
                    .and_then(|id| self.groups.get(id))
                    .cloned();
                vec![Step {
                    expect_body: group,
                    ..get(path, 200, "the patched group")
                }]
            }
            (&Method::DELETE, _, _) if step.expect_status == 204 => {
                vec![get(path, 404, "the deleted resource is gone")]
            }
            _ => Vec::new(),
        }
    }

    /// Sends one step and checks our answer; returns whether the status matched.
    async fn run_step(
        &mut self,
        step: &Step,
        messages: &[String],
        problems: &mut Vec<String>,
    ) -> bool {
        let path = self.rewrite(&step.path);
        let body = step.body.as_ref().map(|b| self.rewrite(b));
        let target = format!("{}{path}", self.tenant_path);
        let answer = self.send(step, &target, body.as_deref()).await;
        let (status, response) = (answer.response.status, answer.response.json());
        problems.extend(
            wire::twin_difference(&self.base_url, &answer.request, &answer.response)
                .await
                .map(|d| format!("  {}: {} {target}\n      ✗ {d}", step.origin, step.method)),
        );

        // The capture's server answers a Group PATCH 200, ours 204; the validator accepts both
        // (and the follow-up GET checks the result). For PATCH only.
        let either = |status| [200, 204].contains(&status);
        let is_patch = step.method == Method::PATCH;
        let status_ok = status == step.expect_status
            || (is_patch && either(step.expect_status) && either(status));
        let bodiless = is_patch && status == 204;
        let issues = if status_ok {
            self.check_answer(step, &path, body.as_deref(), messages, &response, bodiless)
        } else {
            vec![format!("status {status}, expected {}", step.expect_status)]
        };
        if !issues.is_empty() {
            let mut report = format!("  {}: {} {path}", step.origin, step.method);
            if let Some(body) = &body {
                write!(report, "\n      body: {body}").unwrap();
            }
            write!(report, "\n      ours: {status} {response}").unwrap();
            for issue in &issues {
                write!(report, "\n      ✗ {issue}").unwrap();
            }
            problems.push(report);
        }
        status_ok
    }

    /// Sends the step's request with `target` over the replay's connection, as captured plus
    /// what a message needs (see the rules at the top).
    async fn send(&mut self, step: &Step, target: &str, body: Option<&str>) -> Sent {
        let bearer = format!("Bearer {}", self.tenant.token);
        let mut headers: Vec<(&str, &str)> = (step.headers.iter())
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        if body.is_some()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type", SCIM_JSON));
        }
        headers.push(("Authorization", &bearer));
        let bytes = wire::request(
            step.method.as_str(),
            target,
            &headers,
            body.unwrap_or_default().as_bytes(),
        );
        let response = self.connection.exchange(&bytes).await;
        Sent {
            request: bytes,
            response,
        }
    }

    /// Maps the id of what the step created, checks our answer against the expected one and
    /// keeps the expected groups up to date; returns the differences.
    fn check_answer(
        &mut self,
        step: &Step,
        path: &str,
        body: Option<&str>,
        messages: &[String],
        response: &Value,
        bodiless: bool,
    ) -> Vec<String> {
        let kind = Kind::of(path);
        let created = (step.expect_status == 201)
            .then(|| response["id"].as_str())
            .flatten();
        // Map before comparing, so that the expected answer reads with our ids.
        let captured_id = step.expect_body.as_ref().and_then(|b| b["id"].as_str());
        if let (Some(ours), Some(captured)) = (created, captured_id) {
            self.ids.insert(captured.to_owned(), ours.to_owned());
        }
        let expected = step.expect_body.as_ref().map(|b| self.rewrite_value(b));
        let mut issues = Vec::new();
        if let Some(expected) = expected.as_ref().filter(|_| !bodiless) {
            for check in checks_for(step.expect_status, expected, path, messages, &mut issues) {
                check.run(kind, step.expect_status, expected, response, &mut issues);
            }
        }
        if let (Kind::Group, Some(id), Some(mut group)) = (kind, created, expected) {
            group.as_object_mut().unwrap().remove("meta");
            self.groups.insert(id.to_owned(), group);
        } else if kind == Kind::Group && step.method == Method::PATCH {
            let patch: Value = serde_json::from_str(body.unwrap()).unwrap();
            match resource_id(path).and_then(|id| self.groups.get_mut(id)) {
                Some(group) => issues.extend(apply_group_patch(group, &patch).err()),
                None => issues.push("this test cannot tell what the group should be".into()),
            }
        }
        issues
    }

    fn rewrite(&self, text: &str) -> String {
        (self.ids.iter()).fold(text.to_owned(), |text, (captured, ours)| {
            text.replace(captured, ours)
        })
    }

    fn rewrite_value(&self, value: &Value) -> Value {
        serde_json::from_str(&self.rewrite(&value.to_string())).unwrap()
    }
}

/// A request as sent and its answer.
struct Sent {
    request: Vec<u8>,
    response: RawResponse,
}

/// A POST of `resource` less its server-owned `id` and `meta`; the `id` gets mapped to ours.
fn create(kind: Kind, resource: &Value, why: &'static str) -> Step {
    let mut body = resource.clone();
    let fields = body.as_object_mut().unwrap();
    fields.remove("id");
    fields.remove("meta");
    Step {
        headers: vec![
            ("Host".into(), "localhost".into()),
            ("Content-Type".into(), SCIM_JSON.into()),
        ],
        body: Some(body.to_string()),
        expect_body: Some(resource.clone()),
        ..Step::added(
            Origin::Setup(why),
            Method::POST,
            kind.collection().to_owned(),
            201,
        )
    }
}

/// `abc` of `/Users/abc` or `/Groups/abc?excludedAttributes=members`.
fn resource_id(path: &str) -> Option<&str> {
    let path = path.split('?').next().unwrap();
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("Users" | "Groups"), Some(id), None) if !id.is_empty() => Some(id),
        _ => None,
    }
}

fn query_param<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn is_list(body: &Value) -> bool {
    has_schema(body, LIST_SCHEMA)
}

fn has_schema(body: &Value, schema: &str) -> bool {
    body["schemas"]
        .as_array()
        .is_some_and(|schemas| schemas.iter().any(|s| s == schema))
}

/// The resources of a ListResponse, or the resource itself.
fn resources(body: &Value) -> Vec<&Value> {
    if is_list(body) {
        body["Resources"]
            .as_array()
            .map(|r| r.iter().collect())
            .unwrap_or_default()
    } else {
        vec![body]
    }
}

/// What is checked on one answer. The validator's messages map to these (`for_message`); the
/// shape of the expected answer adds the ones the validator applies to every answer of its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    ErrorBody,
    ListAttributes,
    ListSchema,
    TotalResults,
    ResourcesWhenNonZero,
    AllMatches,
    RequiredFields,
    CoreSchema,
    MatchesCaptured,
    Excludes(String),
}

fn checks_for(
    expect_status: u16,
    expected: &Value,
    path: &str,
    messages: &[String],
    issues: &mut Vec<String>,
) -> BTreeSet<Check> {
    let mut checks: BTreeSet<Check> = if expect_status >= 400 {
        [Check::ErrorBody].into()
    } else if is_list(expected) {
        [
            Check::ListAttributes,
            Check::ListSchema,
            Check::TotalResults,
            Check::ResourcesWhenNonZero,
            Check::AllMatches,
            Check::RequiredFields,
            Check::CoreSchema,
            Check::MatchesCaptured,
        ]
        .into()
    } else {
        [
            Check::RequiredFields,
            Check::CoreSchema,
            Check::MatchesCaptured,
        ]
        .into()
    };
    if let Some(excluded) = query_param(path, "excludedAttributes") {
        checks.extend(
            excluded
                .split(',')
                .map(|name| Check::Excludes(name.to_owned())),
        );
    }
    for message in messages {
        match Check::for_message(message) {
            Ok(check) => checks.extend(check),
            Err(()) => issues.push(format!(
                "validator check not encoded in this test: {message:?}"
            )),
        }
    }
    checks
}

impl Check {
    /// The check behind a validator message; `None` for messages that check nothing here.
    fn for_message(message: &str) -> Result<Option<Check>, ()> {
        // A skipped test checks nothing; "…returns 404 NotFound…" is the status every step checks.
        if message.starts_with("Test skipped") || message.contains("returns 404 NotFound") {
            return Ok(None);
        }
        let check = if message.contains("required attributes for a list response") {
            Check::ListAttributes
        } else if message.contains("correct schema URI for a list response") {
            Check::ListSchema
        } else if message.starts_with("Total Results should be equal") {
            Check::TotalResults
        } else if message.contains("Resources attribute when totalResults is non-zero") {
            Check::ResourcesWhenNonZero
        } else if message.contains("should contain all the")
            && message.ends_with("that match the filter")
        {
            Check::AllMatches
        } else if message.contains("all the required fields for") {
            Check::RequiredFields
        } else if message.contains("serialized to SCIM2 Core") {
            Check::CoreSchema
        } else if message.contains("should match the created resource") {
            Check::MatchesCaptured
        } else if let Some(name) =
            message.strip_prefix("The response should exclude the attribute: ")
        {
            Check::Excludes(name.to_owned())
        } else {
            return Err(());
        };
        Ok(Some(check))
    }

    fn run(
        &self,
        kind: Kind,
        status: u16,
        expected: &Value,
        ours: &Value,
        issues: &mut Vec<String>,
    ) {
        match self {
            Check::ErrorBody => {
                if !has_schema(ours, ERROR_SCHEMA) {
                    issues.push(format!("the error lacks the schema {ERROR_SCHEMA}"));
                }
                // A string (RFC 7644 §3.12), not the number the captured server sent.
                if ours["status"].as_str() != Some(status.to_string().as_str()) {
                    issues.push(format!(
                        "the error's status must be the string \"{status}\""
                    ));
                }
                if [400, 409].contains(&status) && ours["scimType"] != expected["scimType"] {
                    issues.push(format!(
                        "scimType {}, expected {}",
                        ours["scimType"], expected["scimType"]
                    ));
                }
            }
            Check::ListAttributes => {
                if ours.get("schemas").is_none() || ours.get("totalResults").is_none() {
                    issues.push("a list response needs schemas and totalResults".into());
                }
            }
            Check::ListSchema => {
                if !is_list(ours) {
                    issues.push(format!("a list response's schemas must be [{LIST_SCHEMA}]"));
                }
            }
            Check::TotalResults => {
                if ours["totalResults"] != expected["totalResults"] {
                    let (got, want) = (&ours["totalResults"], &expected["totalResults"]);
                    issues.push(format!("totalResults {got}, expected {want}"));
                }
            }
            Check::ResourcesWhenNonZero => {
                let total = ours["totalResults"].as_u64().unwrap_or(0);
                if total > 0 && ours["Resources"].as_array().is_none_or(Vec::is_empty) {
                    issues.push(format!(
                        "totalResults is {total} but there are no Resources"
                    ));
                }
            }
            Check::AllMatches => {
                let ids = |body: &Value| -> BTreeSet<String> {
                    let ids = resources(body).into_iter().map(|r| r["id"].as_str());
                    ids.map(|id| id.unwrap_or_default().to_owned()).collect()
                };
                if ids(ours) != ids(expected) {
                    issues.push(format!(
                        "Resources ids {:?}, expected {:?}",
                        ids(ours),
                        ids(expected)
                    ));
                }
            }
            Check::RequiredFields => {
                for resource in resources(ours) {
                    for name in ["id", "schemas", kind.required()] {
                        if resource.get(name).is_none_or(|v| v.is_null() || v == "") {
                            issues
                                .push(format!("a resource lacks the required {name}: {resource}"));
                        }
                    }
                }
            }
            Check::CoreSchema => {
                for resource in resources(ours) {
                    if !has_schema(resource, kind.core_schema()) {
                        issues.push(format!("a resource's schemas lack {}", kind.core_schema()));
                    }
                }
            }
            Check::MatchesCaptured => compare(expected, Some(ours), "", issues),
            Check::Excludes(name) => {
                for resource in resources(ours) {
                    let object = resource.as_object().into_iter().flatten();
                    if object
                        .map(|(key, _)| key)
                        .any(|key| key.eq_ignore_ascii_case(name))
                    {
                        issues.push(format!(
                            "excludedAttributes={name}, but the resource has it"
                        ));
                    }
                }
            }
        }
    }
}

/// `meta` attributes that are the server's own: compared on neither side.
const OWN_META: [&str; 4] = ["created", "lastModified", "location", "version"];

/// Lists where `actual` lacks or differs from what `expected` has (see the rules at the top).
fn compare(expected: &Value, actual: Option<&Value>, at: &str, out: &mut Vec<String>) {
    let Some(actual) = actual else {
        out.push(format!("{at}: missing, expected {expected}"));
        return;
    };
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            let in_meta = at == "meta" || at.ends_with(".meta");
            for (key, value) in expected {
                if !(in_meta && OWN_META.contains(&key.as_str())) {
                    let here = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    compare(value, actual.get(key), &here, out);
                }
            }
        }
        // `schemas` may list more: Seatflow adds its read-only license extension to users.
        (Value::Array(items), Value::Array(actual_items)) if at.ends_with("schemas") => {
            if let Some(missing) = items.iter().find(|i| !actual_items.contains(i)) {
                out.push(format!("{at}: {actual} lacks {missing}"));
            }
        }
        // Multi-valued attributes are unordered: each expected item needs a matching one.
        (Value::Array(items), Value::Array(actual_items)) => {
            if items.len() != actual_items.len() {
                out.push(format!("{at}: {actual}, expected {expected}"));
                return;
            }
            for item in items {
                let matches = |candidate: &Value| {
                    let mut differences = Vec::new();
                    compare(item, Some(candidate), at, &mut differences);
                    differences.is_empty()
                };
                if actual_items.iter().any(matches) {
                    continue;
                }
                // Explain by the item with the same key when there is one.
                let key = ["id", "value", "type"]
                    .into_iter()
                    .find(|k| item.get(k).is_some());
                let same = key.and_then(|k| actual_items.iter().find(|c| c.get(k) == item.get(k)));
                match (key, same) {
                    (Some(k), Some(same)) => {
                        compare(item, Some(same), &format!("{at}[{k}={}]", item[k]), out)
                    }
                    _ => out.push(format!("{at}: no item matches {item}")),
                }
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{at}: {actual}, expected {expected}")),
    }
}

/// Applies a Group PATCH to the expected group: the operations the validator sends (path-less
/// add/replace, `members` add/replace, `members[value eq "…"]` remove, a simple path).
fn apply_group_patch(group: &mut Value, patch: &Value) -> Result<(), String> {
    for operation in patch["Operations"].as_array().into_iter().flatten() {
        let op = operation["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let value = &operation["value"];
        match (op.as_str(), operation["path"].as_str()) {
            ("add" | "replace", None) if value.is_object() => {
                for (key, v) in value.as_object().unwrap() {
                    group[key] = v.clone();
                }
            }
            ("replace", Some("members")) => group["members"] = value.clone(),
            ("add", Some("members")) => {
                let mut list = group["members"].as_array().cloned().unwrap_or_default();
                for member in value.as_array().into_iter().flatten() {
                    if !list.iter().any(|m| m["value"] == member["value"]) {
                        list.push(member.clone());
                    }
                }
                group["members"] = list.into();
            }
            ("remove", Some(path)) if member_filter(path).is_some() => {
                let id = member_filter(path).unwrap();
                if let Some(list) = group.get_mut("members").and_then(Value::as_array_mut) {
                    list.retain(|m| m["value"] != id);
                }
            }
            ("add" | "replace", Some(path)) if !path.contains(['[', '.', ':']) => {
                group[path] = value.clone();
            }
            _ => {
                return Err(format!(
                    "this test does not model the operation {operation}"
                ));
            }
        }
    }
    Ok(())
}

/// `id` of `members[value eq "id"]`.
fn member_filter(path: &str) -> Option<&str> {
    path.strip_prefix("members[value eq \"")?
        .strip_suffix("\"]")
}
