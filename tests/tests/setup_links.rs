//! Setup links on SQLite and PostgreSQL: issued by the operator (API and CLI), opened once by
//! the customer's IT admin into that one license's pages, refused when used, expired, revoked
//! or unknown, audited, and won by exactly one of two concurrent openings. (The journey in a
//! browser is scripts/browser.sh.)

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use seatflow_store::db::schema::setup_links;
use seatflow_store::time;
use seatflow_tests::admin_pages::{client, csrf_in};
use seatflow_tests::{Backend, TestServer, both_backends, read};
use serde_json::{Value, json};

both_backends!(
    a_link_opens_its_license_once,
    expired_revoked_and_unknown_links_open_nothing,
    revoking_a_used_link_ends_its_session,
    bad_input_is_refused,
    issuing_opening_and_revoking_are_audited,
    of_concurrent_openings_exactly_one_wins,
    the_cli_issues_lists_and_revokes,
);

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn issue(server: &TestServer, license_id: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/v1/licenses/{license_id}/setup-links");
    server.admin_send(Method::POST, &path, Some(body)).await
}

async fn issued(server: &TestServer, license_id: &str, body: Value) -> Value {
    let (status, link) = issue(server, license_id, body).await;
    assert_eq!(status, 201, "{link}");
    link
}

async fn statuses(server: &TestServer, license_id: &str) -> Vec<(String, String)> {
    let path = format!("/api/v1/licenses/{license_id}/setup-links");
    let (status, links) = server.admin_get(&path).await;
    assert_eq!(status, 200, "{links}");
    links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let text = l.to_string();
            assert!(!text.contains("token_hash"), "no digest listed: {text}");
            (
                l["id"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The landing page of a link: its status, body and pre-session cookie (`name=value`).
async fn land(url: &str) -> (u16, String, Option<String>) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let cookie = set_cookie(&response, "seatflow_login").map(|c| cookie_pair(&c));
    (status, response.text().await.unwrap(), cookie)
}

/// The landing page's form posted back: the answer (a redirect with the session, or an error).
async fn post_open(
    url: &str,
    login_cookie: &str,
    csrf: &str,
    request_id: &str,
) -> reqwest::Response {
    client()
        .post(url)
        .header(COOKIE, login_cookie)
        .header("x-request-id", request_id)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

/// Opens a link as a browser does (the landing page, then its button); returns the session
/// cookie (`name=value`) and the redirect's target.
async fn open(url: &str) -> (String, String) {
    let (status, page, cookie) = land(url).await;
    assert_eq!(status, 200, "{page}");
    let response = post_open(url, &cookie.unwrap(), &csrf_in(&page), "open-link").await;
    assert_eq!(response.status(), 303);
    let target = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let session = set_cookie(&response, "seatflow_admin").expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Max-Age=3600"),
        "a setup session lasts an hour: {session}"
    );
    (cookie_pair(&session), target)
}

async fn page(server: &TestServer, session: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", server.base_url))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn a_link_opens_its_license_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let own = server.create_license("Contoso", 5).await;
    let other = server.create_license("Fabrikam", 5).await;
    let link = issued(&server, &own.license_id, json!({})).await;
    let url = link["url"].as_str().unwrap();
    let secret = url
        .strip_prefix(&format!("{}/admin/setup/", server.base_url))
        .expect("the link is under the public URL");
    assert!(secret.len() >= 43, "at least 32 random bytes: {secret}");
    let expires_at = link["expires_at"].as_str().unwrap();
    assert!(
        time::after(Duration::from_secs(14 * 60)).as_str() < expires_at
            && expires_at <= time::after(Duration::from_secs(15 * 60)).as_str(),
        "valid for 15 minutes by default: {expires_at}"
    );

    // The landing page spends nothing (link scanners fetch it) and is not cached.
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert!(response.text().await.unwrap().contains("Contoso"));
    let link_id = link["id"].as_str().unwrap().to_owned();
    assert_eq!(
        statuses(&server, &own.license_id).await,
        [(link_id.clone(), "active".to_owned())]
    );

    // A post without the landing page's CSRF pair is sent back to it, the link unspent.
    let forged = client()
        .post(url)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
    assert_eq!(
        forged.headers()[LOCATION].to_str().unwrap(),
        url.replace(&server.base_url, "")
    );
    assert!(set_cookie(&forged, "seatflow_admin").is_none());
    assert_eq!(statuses(&server, &own.license_id).await[0].1, "active");

    let (session, target) = open(url).await;
    assert_eq!(
        target,
        format!("/admin/licenses/{}/provisioning", own.license_id)
    );
    let (status, provisioning) = page(&server, &session, &target).await;
    assert_eq!(status, 200);
    for shown in [
        own.tenant_url.as_str(),
        "value=\"issue\"",
        "Microsoft Entra ID",
        "Okta",
        "Setup checklist",
    ] {
        assert!(provisioning.contains(shown), "the setup page shows {shown}");
    }
    let (status, _) = page(&server, &session, "/admin").await;
    assert_eq!(status, 303, "the home page sends it to its license");

    // Only that license: another's pages are not found, and its forms refused.
    for tab in ["", "/provisioning", "/seats", "/audit", "/checklist"] {
        let path = format!("/admin/licenses/{}{tab}", other.license_id);
        assert_eq!(page(&server, &session, &path).await.0, 404, "{path}");
    }
    let csrf = csrf_in(&provisioning);
    let post = |license_id: String| {
        let (server, session, csrf) = (&server, &session, &csrf);
        async move {
            client()
                .post(format!(
                    "{}/admin/licenses/{license_id}/provisioning",
                    server.base_url
                ))
                .header(COOKIE, session)
                .form(&[("csrf", csrf.as_str()), ("action", "issue")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(other.license_id.clone()).await, 404);
    // The IT admin generates the Secret Token on its own license.
    assert_eq!(post(own.license_id.clone()).await, 303);
    let (_, tokens) = server
        .admin_get(&format!("/api/v1/licenses/{}/tokens", own.license_id))
        .await;
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    // The operator API stays the operator's.
    let response = client()
        .get(format!(
            "{}/api/v1/licenses/{}/tokens",
            server.base_url, own.license_id
        ))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Used: it opens nothing more, neither the landing page nor its form.
    let (status, gone, _) = land(url).await;
    assert_eq!(status, 410);
    assert!(gone.contains("already been used"), "{gone}");
    let (_, fresh, cookie) = land(&link_url_of(
        &issued(&server, &own.license_id, json!({})).await,
    ))
    .await;
    let again = post_open(url, &cookie.unwrap(), &csrf_in(&fresh), "again").await;
    assert_eq!(again.status(), 410);
    assert!(set_cookie(&again, "seatflow_admin").is_none());
    assert_eq!(
        statuses(&server, &own.license_id).await[0],
        (link_id, "used".to_owned())
    );
}

fn link_url_of(link: &Value) -> String {
    link["url"].as_str().unwrap().to_owned()
}

/// Moves a link's expiry into the past (rather than waiting a minute for it).
fn expire(server: &TestServer, link_id: &str) {
    let mut conn = server.db.checkout().unwrap();
    diesel::update(setup_links::table.find(link_id))
        .set(setup_links::expires_at.eq(time::before(Duration::from_secs(1))))
        .execute(&mut *conn)
        .unwrap();
}

async fn revoke(server: &TestServer, license_id: &str, link_id: &str) -> (u16, Value) {
    let path = format!("/api/v1/licenses/{license_id}/setup-links/{link_id}");
    server.admin_send(Method::DELETE, &path, None).await
}

async fn expired_revoked_and_unknown_links_open_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = server.create_license("Contoso", 5).await;
    let id = &license.license_id;

    let expiring = issued(&server, id, json!({ "ttl_minutes": 1 })).await;
    // The landing page is shown in time; its button is pressed after the expiry.
    let (status, landing, cookie) = land(&link_url_of(&expiring)).await;
    assert_eq!(status, 200);
    expire(&server, expiring["id"].as_str().unwrap());
    let late = post_open(
        &link_url_of(&expiring),
        &cookie.unwrap(),
        &csrf_in(&landing),
        "late",
    )
    .await;
    assert_eq!(late.status(), 410);
    assert!(late.text().await.unwrap().contains("expired"));
    let (status, page, _) = land(&link_url_of(&expiring)).await;
    assert_eq!(
        (status, page.contains("has expired")),
        (410, true),
        "{page}"
    );

    let revoked = issued(&server, id, json!({})).await;
    let revoked_id = revoked["id"].as_str().unwrap();
    assert_eq!(revoke(&server, id, revoked_id).await.0, 204);
    let (status, page, _) = land(&link_url_of(&revoked)).await;
    assert_eq!(
        (status, page.contains("has been revoked")),
        (410, true),
        "{page}"
    );
    assert_eq!(revoke(&server, id, revoked_id).await.0, 404, "revoked once");

    let listed = statuses(&server, id).await;
    let status_of = |link: &Value| {
        let id = link["id"].as_str().unwrap();
        listed.iter().find(|(l, _)| l == id).unwrap().1.clone()
    };
    assert_eq!(status_of(&expiring), "expired");
    assert_eq!(status_of(&revoked), "revoked");

    // An unknown secret: 404, and the same page whatever it looks like.
    for secret in ["nope", &seatflow_store::token::generate()] {
        let url = format!("{}/admin/setup/{secret}", server.base_url);
        let (status, page, _) = land(&url).await;
        assert_eq!((status, page.contains("not valid")), (404, true), "{page}");
    }
}

async fn revoking_a_used_link_ends_its_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = server.create_license("Contoso", 5).await;
    let link = issued(&server, &license.license_id, json!({})).await;
    let (session, target) = open(&link_url_of(&link)).await;
    assert_eq!(page(&server, &session, &target).await.0, 200);
    let link_id = link["id"].as_str().unwrap();
    assert_eq!(revoke(&server, &license.license_id, link_id).await.0, 204);
    let response = client()
        .get(format!("{}{target}", server.base_url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/admin/login");
}

async fn bad_input_is_refused(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.setup_link_ttl_mins = 30).await;
    let license = server.create_license("Contoso", 5).await;
    let other = server.create_license("Fabrikam", 5).await;
    let id = &license.license_id;

    for (body, detail) in [
        (json!({ "ttl_minutes": 0 }), "between 1 and 1440"),
        (json!({ "ttl_minutes": 1441 }), "between 1 and 1440"),
        (json!({ "ttl_minutes": -5 }), "between 1 and 1440 (got -5)"),
        (json!({ "ttl_minutes": "soon" }), "invalid type: string"),
        (json!({ "ttl": 5 }), "unknown field"),
    ] {
        let (status, answer) = issue(&server, id, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let said = answer["detail"].as_str().unwrap();
        assert!(said.contains(detail), "{body}: {said}");
    }
    let (status, _) = issue(&server, "no-such-license", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = server
        .admin_get("/api/v1/licenses/no-such-license/setup-links")
        .await;
    assert_eq!(status, 404);
    assert_eq!(revoke(&server, id, "no-such-link").await.0, 404);

    // Another license's path cannot reach a link.
    let link = issued(&server, id, json!({ "label": "  Alex at Contoso " })).await;
    let link_id = link["id"].as_str().unwrap();
    assert_eq!(revoke(&server, &other.license_id, link_id).await.0, 404);
    let listed = server
        .admin_get(&format!("/api/v1/licenses/{id}/setup-links"))
        .await
        .1;
    assert_eq!(listed[0]["label"], "Alex at Contoso");
    assert!(statuses(&server, &other.license_id).await.is_empty());

    // The configured default applies when no ttl_minutes is given; an empty body is fine.
    let response = server
        .admin(Method::POST, &format!("/api/v1/licenses/{id}/setup-links"))
        .send()
        .await
        .unwrap();
    let (status, link) = read(response).await;
    assert_eq!(status, 201, "{link}");
    let expires_at = link["expires_at"].as_str().unwrap();
    assert!(expires_at > time::after(Duration::from_secs(29 * 60)).as_str());

    // Operator only.
    let response = server
        .client
        .post(format!(
            "{}/api/v1/licenses/{id}/setup-links",
            server.base_url
        ))
        .bearer_auth(&license.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

async fn audit(server: &TestServer, license_id: &str) -> Vec<Value> {
    let (status, rows) = server
        .admin_get(&format!("/api/v1/licenses/{license_id}/audit"))
        .await;
    assert_eq!(status, 200, "{rows}");
    rows.as_array().unwrap().clone()
}

async fn issuing_opening_and_revoking_are_audited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = server.create_license("Contoso", 5).await;
    let id = &license.license_id;
    let response = server
        .admin(Method::POST, &format!("/api/v1/licenses/{id}/setup-links"))
        .header("x-request-id", "issue-link")
        .json(&json!({ "ttl_minutes": 20 }))
        .send()
        .await
        .unwrap();
    let (_, link) = read(response).await;
    let link_id = link["id"].as_str().unwrap();
    let url = link_url_of(&link);
    let (_, landing, cookie) = land(&url).await;
    let opened = post_open(&url, &cookie.unwrap(), &csrf_in(&landing), "open-link-42").await;
    assert_eq!(opened.status(), 303);
    assert_eq!(revoke(&server, id, link_id).await.0, 204);

    let trail = audit(&server, id).await;
    let entry = |action: &str| {
        trail
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {trail:?}"))
            .clone()
    };
    let issued = entry("setup_link_issued");
    assert_eq!(issued["request_id"], "issue-link");
    let detail: Value = serde_json::from_str(issued["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["link_id"], link_id);
    assert_eq!(detail["ttl_minutes"], 20);
    assert_eq!(detail["expires_at"], link["expires_at"]);
    let used = entry("setup_link_used");
    assert_eq!(used["request_id"], "open-link-42");
    assert!(used["detail"].as_str().unwrap().contains(link_id));
    assert!(
        entry("setup_link_revoked")["detail"]
            .as_str()
            .unwrap()
            .contains(link_id)
    );
    let secret = url.rsplit('/').next().unwrap();
    let everything = serde_json::to_string(&trail).unwrap();
    assert!(!everything.contains(secret), "the secret is never audited");
    assert!(!everything.contains(&seatflow_store::token::hash(secret)));
}

async fn of_concurrent_openings_exactly_one_wins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = server.create_license("Contoso", 5).await;
    let link = issued(&server, &license.license_id, json!({})).await;
    let url = link_url_of(&link);
    let (_, landing, cookie) = land(&url).await;
    let (csrf, cookie) = (csrf_in(&landing), cookie.unwrap());
    let openings = (0..8).map(|i| {
        let (url, cookie, csrf) = (url.clone(), cookie.clone(), csrf.clone());
        tokio::spawn(async move {
            let response = post_open(&url, &cookie, &csrf, &format!("race-{i}")).await;
            let session = set_cookie(&response, "seatflow_admin").is_some();
            (response.status().as_u16(), session)
        })
    });
    let mut answers: Vec<(u16, bool)> = Vec::new();
    for opening in openings.collect::<Vec<_>>() {
        answers.push(opening.await.unwrap());
    }
    answers.sort_unstable();
    let mut expected = vec![(410, false); 7];
    expected.insert(0, (303, true));
    assert_eq!(answers, expected);
    let used = audit(&server, &license.license_id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "setup_link_used")
        .count();
    assert_eq!(used, 1);
}

async fn the_cli_issues_lists_and_revokes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let license = server.create_license("Contoso", 5).await;
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(seatflow_tests::binary("seatflow-api"))
            .env_clear()
            .env("SEATFLOW_DATABASE_URL", server.config.database_url.as_str())
            .env("SEATFLOW_PUBLIC_URL", &server.base_url)
            .env("SEATFLOW_LOG", "warn")
            .arg("setup-link")
            .args(args)
            .output()
            .unwrap();
        let lines: Vec<Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (output.status.success(), lines)
    };
    let id = license.license_id.as_str();
    let (ok, issued) = cli(&["issue", "--license", id, "--ttl-minutes", "5"]);
    assert!(ok);
    let link = &issued[0];
    let expires_at = link["expires_at"].as_str().unwrap();
    assert!(expires_at <= time::after(Duration::from_secs(5 * 60)).as_str());
    // The CLI's link opens the license like the API's.
    let (_, target) = open(&link_url_of(link)).await;
    assert_eq!(target, format!("/admin/licenses/{id}/provisioning"));

    let (ok, listed) = cli(&["list", "--license", id]);
    assert!(ok);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "used");
    assert!(listed[0].get("url").is_none() && listed[0].get("token_hash").is_none());
    let link_id = link["id"].as_str().unwrap();
    let (ok, revoked) = cli(&["revoke", "--license", id, "--link-id", link_id]);
    assert!(ok);
    assert_eq!(revoked[0]["revoked"], link_id);
    assert_eq!(cli(&["list", "--license", id]).1[0]["status"], "revoked");

    assert!(!cli(&["issue", "--license", id, "--ttl-minutes", "0"]).0);
    assert!(!cli(&["issue", "--license", "no-such-license"]).0);
    assert!(!cli(&["revoke", "--license", id, "--link-id", link_id]).0);
}
