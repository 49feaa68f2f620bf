//! Request lines as real clients send them, over raw TCP sockets (and through curl), embedded on
//! SQLite and distributed on PostgreSQL + RabbitMQ: raw `"`, `<`, `>`, `{`, `}`, `|`, `\`, `^`
//! and `` ` `` in the query and the path reach the router and decode exactly as their
//! percent-encoded twins; truly malformed request lines get a SCIM error and a closed
//! connection; keep-alive connections carry bodies and further raw request lines intact.

#![allow(clippy::unwrap_used)]

use seatflow_tests::wire::{self, RawConnection, RawResponse};
use seatflow_tests::{Tenant, TestServer, Transport, embedded_and_distributed};
use serde_json::{Value, json};

embedded_and_distributed!(
    the_entra_probe_with_raw_quotes_is_answered,
    raw_bytes_decode_as_their_percent_encoded_twins,
    malformed_request_lines_get_a_scim_error_and_a_closed_connection,
    keep_alive_carries_bodies_and_raw_request_lines,
    curl_with_raw_characters_is_understood,
);

/// The bytes the issue names, each sent raw.
const RAW: [char; 9] = ['"', '<', '>', '{', '}', '|', '\\', '^', '`'];

fn host(server: &TestServer) -> &str {
    server.base_url.trim_start_matches("http://")
}

fn get(server: &TestServer, tenant: &Tenant, target: &str) -> Vec<u8> {
    let bearer = format!("Bearer {}", tenant.token);
    wire::request(
        "GET",
        target,
        &[("Host", host(server)), ("Authorization", &bearer)],
        b"",
    )
}

/// Sends `request` and its percent-encoded twin; asserts both get the same answer.
async fn as_twin(server: &TestServer, request: &[u8]) -> RawResponse {
    let answer = wire::exchange(&server.base_url, request).await;
    let difference = wire::twin_difference(&server.base_url, request, &answer).await;
    assert!(difference.is_none(), "{}", difference.unwrap());
    answer
}

fn assert_scim_error(answer: &RawResponse, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/scim+json"),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], status.to_string());
    assert_eq!(
        body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{body}"
    );
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// The request line: Entra's Test Connection probe, raw quotes and all. It used to get
/// an empty 400 from the HTTP layer, with any token.
async fn the_entra_probe_with_raw_quotes_is_answered(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("Contoso", 10).await;
    let line = "/scim/v2/Users?filter=userName+eq+\"3f1c5c2e-0000-4000-8000-000000000000\"";
    let answer = as_twin(&server, &get(&server, &tenant, line)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(body["totalResults"], 0);
    let sync = server.sync(&tenant.license_id).await;
    assert!(sync["last_test_connection_at"].is_string(), "{sync}");

    // A wrong or missing token is answered 401 in the SCIM format, not refused by the HTTP layer.
    for authorization in [Some("Bearer wrong"), None] {
        let mut headers = vec![("Host", host(&server))];
        headers.extend(authorization.map(|a| ("Authorization", a)));
        let request = wire::request("GET", line, &headers, b"");
        let answer = as_twin(&server, &request).await;
        assert_scim_error(&answer, 401, None);
    }
}

/// Each raw byte in a filter value finds the group whose name holds it, and in a path it is
/// the id that is not found; the answers equal those of the percent-encoded twins.
async fn raw_bytes_decode_as_their_percent_encoded_twins(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("Contoso", 10).await;
    for c in RAW {
        let name = format!("team {c} one");
        let (status, group) = tenant
            .post("/Groups", json!({"displayName": name.clone()}))
            .await;
        assert_eq!(status, 201, "{group}");
        // Quotes inside a filter's string are escaped with a backslash, sent raw too.
        let literal = match c {
            '"' | '\\' => format!("team+\\{c}+one"),
            _ => format!("team+{c}+one"),
        };
        let target = format!("/scim/v2/Groups?filter=displayName+eq+\"{literal}\"");
        let answer = as_twin(&server, &get(&server, &tenant, &target)).await;
        assert_eq!(answer.status, 200, "{c}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["totalResults"], 1, "{c}: {body}");
        assert_eq!(body["Resources"][0]["id"], group["id"], "{c}");

        let target = format!("/scim/v2/Users/x{c}y");
        let answer = as_twin(&server, &get(&server, &tenant, &target)).await;
        let body = assert_scim_error(&answer, 404, None);
        assert!(
            body["detail"].as_str().unwrap().contains(&format!("x{c}y")),
            "the id decodes to the raw character: {body}"
        );
    }
    // Several at once, with `+` for spaces and `%40`, as the validator sends them.
    let (_, user) = tenant
        .post("/Users", json!({"userName": "a{b}|c^d`e@example.com"}))
        .await;
    let target =
        "/scim/v2/Users?filter=userName+eq+\"A{B}|C^D`E%40EXAMPLE.COM\"&attributes=userName";
    let answer = as_twin(&server, &get(&server, &tenant, target)).await;
    assert_eq!(answer.json()["Resources"][0]["id"], user["id"]);
}

/// Control characters, a space inside the target, a bad version or method, and a request line
/// over the limit: a SCIM error from the connection layer, then the connection is closed.
async fn malformed_request_lines_get_a_scim_error_and_a_closed_connection(transport: Transport) {
    const LIMIT: usize = 4096;
    let (server, _broker) = transport.start(|c| c.max_header_bytes = LIMIT).await;
    let tenant = server.create_license("Contoso", 10).await;
    let long = format!("/scim/v2/Users?filter={}", "a".repeat(LIMIT));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"/scim/v2/Users?filter=userName eq \"x\"".to_vec(), 400),
        (b"/scim/v2/Users?filter=a\x01b".to_vec(), 400),
        (b"/scim/v2/Users?filter=a\tb".to_vec(), 400),
        (b"/scim/v2/Users?filter=a\x7fb".to_vec(), 400),
        (long.into_bytes(), 414),
    ];
    for (target, status) in cases {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(&target);
        request.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
                host(&server),
                tenant.token
            )
            .as_bytes(),
        );
        let mut connection = RawConnection::open(&server.base_url).await;
        let answer = connection.exchange(&request).await;
        let scim_type = (status == 400).then_some("invalidSyntax");
        assert_scim_error(&answer, status, scim_type);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(connection.closed_by_server().await);
    }
    for request in [
        "GET /scim/v2/Users HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET /scim/v2/Users\r\nHost: x\r\n\r\n",
        "G(T /scim/v2/Users HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let answer = wire::exchange(&server.base_url, request.as_bytes()).await;
        let body = assert_scim_error(&answer, 400, Some("invalidSyntax"));
        assert!(body["detail"].as_str().unwrap().contains("request line"));
    }
    // The server is unharmed.
    assert_eq!(tenant.get("/Users").await.0, 200);
}

/// One connection, as a provider keeps it: a POST whose body looks like a request line, a raw
/// lookup, a chunked POST with raw quotes in its body, and another raw lookup.
async fn keep_alive_carries_bodies_and_raw_request_lines(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("Contoso", 10).await;
    let bearer = format!("Bearer {}", tenant.token);
    let headers = [
        ("Host", host(&server)),
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/scim+json; charset=utf-8"),
    ];
    let mut connection = RawConnection::open(&server.base_url).await;

    let tricky = json!({"userName": "ada@example.com", "title": "GET /x?\"y\" HTTP/1.1\r\n\r\n"});
    let answer = connection
        .exchange(&wire::request(
            "POST",
            "/scim/v2/Users",
            &headers,
            tricky.to_string().as_bytes(),
        ))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.json()["title"], tricky["title"]);

    let lookup = |name: &str| format!("/scim/v2/Users?filter=userName+eq+\"{name}%40example.com\"");
    let answer = connection
        .exchange(&wire::request("GET", &lookup("ada"), &headers[..2], b""))
        .await;
    assert_eq!(answer.json()["totalResults"], 1, "{}", answer.text());

    let body = json!({"userName": "grace@example.com", "displayName": "Grace \"Amazing\" Hopper"})
        .to_string();
    let (first, second) = body.split_at(body.len() / 2);
    let mut chunked = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {}\r\nAuthorization: {bearer}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n",
        host(&server)
    );
    for chunk in [first, second] {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let answer = connection.exchange(chunked.as_bytes()).await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.json()["displayName"], "Grace \"Amazing\" Hopper");

    let answer = connection
        .exchange(&wire::request("GET", &lookup("grace"), &headers[..2], b""))
        .await;
    assert_eq!(answer.json()["totalResults"], 1, "{}", answer.text());
}

/// curl sends a URL's raw characters as given (`--globoff` keeps `{}` from its URL globbing):
/// the same lookup an admin would try by hand.
async fn curl_with_raw_characters_is_understood(transport: Transport) {
    let (server, _broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("Contoso", 10).await;
    let (_, group) = tenant
        .post("/Groups", json!({"displayName": "Sales {EMEA} | \"Core\""}))
        .await;
    let url = format!(
        "{}/scim/v2/Groups?filter=displayName+eq+\"Sales+{{EMEA}}+|+\\\"Core\\\"\"",
        server.base_url
    );
    let output = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--globoff", "--header"])
        .arg(format!("Authorization: Bearer {}", tenant.token))
        .arg(&url)
        .output()
        .await
        .expect("curl is installed (scripts/test.sh needs it)");
    assert!(output.status.success(), "{output:?}");
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["totalResults"], 1, "{body}");
    assert_eq!(body["Resources"][0]["id"], group["id"]);
}
