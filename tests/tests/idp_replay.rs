//! Replays each identity provider's fixture (`tests/fixtures/idp/<provider>.http`, format in
//! that folder's README) byte for byte over a raw TCP socket against a fresh tenant, embedded on
//! SQLite and distributed on PostgreSQL + RabbitMQ, and checks every answer. A lookup whose
//! target a strict client would percent-encode is also sent as its encoded twin, and must get
//! the same answer. What each provider sends and why is in `docs/providers/`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use seatflow_tests::wire::{self, RawConnection, RawResponse};
use seatflow_tests::{Tenant, TestServer, Transport, embedded_and_distributed};
use serde_json::Value;

macro_rules! providers {
    ($($name:ident),* $(,)?) => {
        const PROVIDERS: &[&str] = &[$(stringify!($name)),*];
        $(
            async fn $name(transport: Transport) {
                replays_the_fixture(stringify!($name), transport).await
            }
        )*
        embedded_and_distributed!($($name),*);
    };
}

providers!(
    entra, okta, onelogin, jumpcloud, pingone, rippling, authentik, keycloak
);

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/idp")
}

async fn replays_the_fixture(provider: &str, transport: Transport) {
    let path = fixture_dir().join(format!("{provider}.http"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let exchanges = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license(provider, 1000).await;
    let failures = replay(&server, &tenant, &exchanges).await;
    assert!(
        failures.is_empty(),
        "{provider} replay on {transport:?}: {} of {} exchanges failed:\n\n{}",
        failures.len(),
        exchanges.len(),
        failures.join("\n\n")
    );
}

/// Every fixture in the folder is replayed: one without a test would pass silently.
#[test]
fn every_fixture_has_a_test() {
    let found: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".http").map(str::to_owned)
        })
        .collect();
    let tested: BTreeSet<String> = PROVIDERS.iter().map(|p| (*p).to_owned()).collect();
    assert_eq!(found, tested);
}

/// The runner must be able to fail: wrong expectations, an unknown directive and a missing
/// variable are each reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_reports_what_differs() {
    let fixture = "### probe\nGET {{base}}/Users?filter=userName+eq+\"nobody\" HTTP/1.1\nHost: {{host}}\nAuthorization: Bearer {{token}}\n\n>>> status 200\n>>> json /totalResults == 1\n>>> header content-type contains text/html\n>>> json /Resources len 2\n\n\
                   ### unknown variable\nGET {{base}}/Users/{{nobody}} HTTP/1.1\nHost: {{host}}\n\n>>> status 404\n";
    let exchanges = parse(fixture).unwrap();
    let (server, _broker) = Transport::EmbeddedSqlite.start(|_| {}).await;
    let tenant = server.create_license("runner", 10).await;
    let failures = replay(&server, &tenant, &exchanges).await;
    assert_eq!(failures.len(), 2, "{failures:#?}");
    for expected in [
        "/totalResults is 0, expected 1",
        "content-type",
        "/Resources has 0 items, expected 2",
    ] {
        assert!(failures[0].contains(expected), "{}", failures[0]);
    }
    assert!(failures[1].contains("{{nobody}}"), "{}", failures[1]);
    assert!(parse("### x\nGET / HTTP/1.1\n\n>>> status 200\n>>> jsn /a exists\n").is_err());
    assert!(parse("### x\nGET / HTTP/1.1\n\n>>> json /a == 1\n").is_err());
}

/// One exchange of a fixture.
struct Exchange {
    title: String,
    /// Line number of its `###` line, for reports.
    line: usize,
    request_line: String,
    headers: Vec<String>,
    body: String,
    expectations: Vec<Expectation>,
}

enum Expectation {
    Status(u16),
    HeaderContains(String, String),
    HeaderAbsent(String),
    /// A pointer and the expected JSON, as text: variables in it are substituted when checked.
    JsonEq(String, String),
    JsonExists(String),
    JsonAbsent(String),
    JsonLen(String, usize),
    BodyEmpty,
    Save(String, String),
}

fn parse(text: &str) -> Result<Vec<Exchange>, String> {
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let Some(title) = line.strip_prefix("### ") else {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            return Err(format!("line {}: expected `### title`: {line}", number + 1));
        };
        let request_line = match lines.next() {
            Some((_, l)) if !l.trim().is_empty() => l.to_owned(),
            _ => return Err(format!("line {}: no request line", number + 2)),
        };
        let mut headers = Vec::new();
        for (_, l) in lines.by_ref() {
            if l.is_empty() {
                break;
            }
            headers.push(l.to_owned());
        }
        let mut body = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.starts_with(">>>") {
                break;
            }
            body.push(*l);
            lines.next();
        }
        let mut expectations = Vec::new();
        while let Some((n, l)) = lines.peek().copied() {
            let Some(directive) = l.strip_prefix(">>>") else {
                break;
            };
            lines.next();
            expectations.push(
                expectation(directive.trim()).map_err(|e| format!("line {}: {e}: {l}", n + 1))?,
            );
        }
        let statuses = expectations
            .iter()
            .filter(|e| matches!(e, Expectation::Status(_)))
            .count();
        if statuses != 1 {
            return Err(format!(
                "line {}: `{title}` needs exactly one `>>> status`",
                number + 1
            ));
        }
        exchanges.push(Exchange {
            title: title.to_owned(),
            line: number + 1,
            request_line,
            headers,
            body: body.join("\n").trim_end_matches('\n').to_owned(),
            expectations,
        });
    }
    Ok(exchanges)
}

fn expectation(directive: &str) -> Result<Expectation, String> {
    let words: Vec<&str> = directive.splitn(4, ' ').collect();
    Ok(match words.as_slice() {
        ["status", code] => Expectation::Status(code.parse().map_err(|_| "bad status")?),
        ["header", name, "contains", text] => {
            Expectation::HeaderContains(name.to_ascii_lowercase(), (*text).to_owned())
        }
        ["header", name, "absent"] => Expectation::HeaderAbsent(name.to_ascii_lowercase()),
        ["json", pointer, "==", value] => {
            serde_json::from_str::<Value>(value).map_err(|e| format!("bad JSON value: {e}"))?;
            Expectation::JsonEq((*pointer).to_owned(), (*value).to_owned())
        }
        ["json", pointer, "exists"] => Expectation::JsonExists((*pointer).to_owned()),
        ["json", pointer, "absent"] => Expectation::JsonAbsent((*pointer).to_owned()),
        ["json", pointer, "len", n] => {
            Expectation::JsonLen((*pointer).to_owned(), n.parse().map_err(|_| "bad length")?)
        }
        ["body", "empty"] => Expectation::BodyEmpty,
        ["save", name, "=", pointer] => {
            Expectation::Save((*name).to_owned(), (*pointer).to_owned())
        }
        _ => return Err("unknown directive".into()),
    })
}

/// Replays the exchanges in order on one keep-alive connection; one report per failing one.
async fn replay(server: &TestServer, tenant: &Tenant, exchanges: &[Exchange]) -> Vec<String> {
    let mut variables: HashMap<String, String> = HashMap::from([
        (
            "base".to_owned(),
            url::Url::parse(&tenant.tenant_url)
                .unwrap()
                .path()
                .to_owned(),
        ),
        (
            "host".to_owned(),
            server.base_url.trim_start_matches("http://").to_owned(),
        ),
        ("token".to_owned(), tenant.token.clone()),
    ]);
    let mut connection = RawConnection::open(&server.base_url).await;
    let mut failures = Vec::new();
    for exchange in exchanges {
        let report = |problems: Vec<String>| {
            format!(
                "[line {}] {}: {}\n  ✗ {}",
                exchange.line,
                exchange.title,
                exchange.request_line,
                problems.join("\n  ✗ ")
            )
        };
        let bytes = match request_bytes(exchange, &variables) {
            Ok(bytes) => bytes,
            Err(e) => {
                failures.push(report(vec![e]));
                continue;
            }
        };
        let answer = connection.exchange(&bytes).await;
        let mut problems = check(exchange, &answer, &mut variables);
        problems.extend(wire::twin_difference(&server.base_url, &bytes, &answer).await);
        if !problems.is_empty() {
            problems.push(format!("answer: {} {}", answer.status, answer.text()));
            failures.push(report(problems));
        }
        if answer.header("connection") == Some("close") {
            connection = RawConnection::open(&server.base_url).await;
        }
    }
    failures
}

/// `text` with every `{{name}}` replaced by the variable's value.
fn substitute(text: &str, variables: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unclosed variable in {text}"))?;
        let name = &rest[start + 2..start + end];
        let value = variables
            .get(name)
            .ok_or_else(|| format!("unknown variable {{{{{name}}}}}"))?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The exchange's request as bytes, variables substituted.
fn request_bytes(
    exchange: &Exchange,
    variables: &HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let substitute = |text: &str| substitute(text, variables);
    let mut bytes = substitute(&exchange.request_line)?.into_bytes();
    bytes.extend_from_slice(b"\r\n");
    let mut framed = false;
    for header in &exchange.headers {
        let header = substitute(header)?;
        let name = header.split(':').next().unwrap_or_default().trim();
        framed |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    let body = substitute(&exchange.body)?;
    if !framed && !body.is_empty() {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body.as_bytes());
    Ok(bytes)
}

fn check(
    exchange: &Exchange,
    answer: &RawResponse,
    variables: &mut HashMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let json = || serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    for expectation in &exchange.expectations {
        match expectation {
            Expectation::Status(code) if answer.status != *code => {
                problems.push(format!("status {}, expected {code}", answer.status));
            }
            Expectation::Status(_) => {}
            Expectation::HeaderContains(name, text) => match answer.header(name) {
                Some(value) if value.contains(text.as_str()) => {}
                other => problems.push(format!("header {name} is {other:?}, expected {text:?}")),
            },
            Expectation::HeaderAbsent(name) => {
                if let Some(value) = answer.header(name) {
                    problems.push(format!("header {name} is {value:?}, expected none"));
                }
            }
            Expectation::JsonEq(pointer, want) => {
                let want: Value = match substitute(want, variables) {
                    Ok(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    Err(e) => {
                        problems.push(e);
                        continue;
                    }
                };
                match json().pointer(pointer) {
                    Some(got) if *got == want => {}
                    Some(got) => problems.push(format!("{pointer} is {got}, expected {want}")),
                    None => problems.push(format!("{pointer} is missing, expected {want}")),
                }
            }
            Expectation::JsonExists(pointer) => {
                if json().pointer(pointer).is_none() {
                    problems.push(format!("{pointer} is missing"));
                }
            }
            Expectation::JsonAbsent(pointer) => {
                if let Some(got) = json().pointer(pointer) {
                    problems.push(format!("{pointer} is {got}, expected none"));
                }
            }
            Expectation::JsonLen(pointer, n) => match json().pointer(pointer) {
                Some(Value::Array(items)) if items.len() == *n => {}
                Some(Value::Array(items)) => {
                    problems.push(format!("{pointer} has {} items, expected {n}", items.len()))
                }
                other => problems.push(format!("{pointer} is {other:?}, expected an array")),
            },
            Expectation::BodyEmpty => {
                if !answer.body.is_empty() {
                    problems.push("the body is not empty".into());
                }
            }
            Expectation::Save(name, pointer) => match json().pointer(pointer) {
                Some(Value::String(value)) => {
                    variables.insert(name.clone(), value.clone());
                }
                other => problems.push(format!("cannot save {name}: {pointer} is {other:?}")),
            },
        }
    }
    problems
}
