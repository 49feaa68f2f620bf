//! The license admin pages (`/admin`) over HTTP, on SQLite and PostgreSQL: per-license admin
//! keys, sign-in, CSRF, cookie attributes, and that a license admin sees and changes only their
//! own license. (The full journey in a browser is scripts/browser.sh.)

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use seatflow_tests::admin_pages::{client, csrf_in};
use seatflow_tests::{Backend, TestServer, both_backends, read};
use serde_json::Value;

both_backends!(
    a_license_admin_sees_and_changes_only_their_own_license,
    admin_keys_are_operator_only_and_revocable,
);

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Signs in with `key`; returns the session cookie (`name=value`) and its full Set-Cookie line.
async fn sign_in(server: &TestServer, key: &str) -> Option<(String, String)> {
    let http = client();
    let form = http
        .get(format!("{}/admin/login", server.base_url))
        .send()
        .await
        .unwrap();
    let login_cookie = cookie_pair(form.headers()[SET_COOKIE].to_str().unwrap());
    let csrf = csrf_in(&form.text().await.unwrap());
    let response = http
        .post(format!("{}/admin/login", server.base_url))
        .header(COOKIE, login_cookie)
        .form(&[("csrf", csrf.as_str()), ("key", key)])
        .send()
        .await
        .unwrap();
    if response.status() != 303 {
        return None;
    }
    let line = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("seatflow_admin="))?;
    Some((cookie_pair(&line), line))
}

async fn get(server: &TestServer, session: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", server.base_url))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(server: &TestServer, session: &str, path: &str, form: &[(&str, &str)]) -> u16 {
    client()
        .post(format!("{}{path}", server.base_url))
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn create_key(server: &TestServer, license_id: &str) -> Value {
    let (status, body) = read(
        server
            .admin(
                Method::POST,
                &format!("/api/v1/licenses/{license_id}/admin-keys"),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn live_tokens(server: &TestServer, license_id: &str) -> usize {
    let (_, tokens) = read(
        server
            .admin(
                Method::GET,
                &format!("/api/v1/licenses/{license_id}/tokens"),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null())
        .count()
}

async fn a_license_admin_sees_and_changes_only_their_own_license(backend: Backend) {
    let server = TestServer::start(backend).await;
    let own = server.create_license("Contoso", 5).await;
    let other = server.create_license("Fabrikam", 5).await;
    let key = create_key(&server, &own.license_id).await;
    assert!(
        key["sign_in_url"]
            .as_str()
            .unwrap()
            .ends_with("/admin/login")
    );

    assert!(
        sign_in(&server, "wrong").await.is_none(),
        "a wrong key is refused"
    );
    let (session, line) = sign_in(&server, key["admin_key"].as_str().unwrap())
        .await
        .expect("signed in");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain http: {line}");

    // Home sends a license admin to their license; every page of it is there.
    let home = client()
        .get(format!("{}/admin", server.base_url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        home.headers()[LOCATION],
        format!("/admin/licenses/{}", own.license_id)
    );
    for page in [
        "",
        "/provisioning",
        "/groups",
        "/seats",
        "/seats.csv",
        "/audit",
        "/checklist",
    ] {
        let (status, _) = get(
            &server,
            &session,
            &format!("/admin/licenses/{}{page}", own.license_id),
        )
        .await;
        assert_eq!(status, 200, "own license page {page}");
        let (status, body) = get(
            &server,
            &session,
            &format!("/admin/licenses/{}{page}", other.license_id),
        )
        .await;
        assert_eq!(status, 404, "other license page {page}: {body}");
        assert!(
            !body.contains("Fabrikam"),
            "nothing of the other license leaks"
        );
    }

    // Writes to the other license are refused, even with this session's valid CSRF token.
    let (_, page) = get(
        &server,
        &session,
        &format!("/admin/licenses/{}/provisioning", own.license_id),
    )
    .await;
    let csrf = csrf_in(&page);
    let before = live_tokens(&server, &other.license_id).await;
    for action in ["issue", "reset", "disable"] {
        let status = post(
            &server,
            &session,
            &format!("/admin/licenses/{}/provisioning", other.license_id),
            &[("csrf", &csrf), ("action", action)],
        )
        .await;
        assert_eq!(status, 404, "{action} on the other license");
    }
    let status = post(
        &server,
        &session,
        &format!("/admin/licenses/{}/groups", other.license_id),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(live_tokens(&server, &other.license_id).await, before);

    // Forms need the CSRF token.
    let status = post(
        &server,
        &session,
        &format!("/admin/licenses/{}/provisioning", own.license_id),
        &[("action", "issue")],
    )
    .await;
    assert_eq!(status, 403, "no CSRF token");
    assert_eq!(live_tokens(&server, &own.license_id).await, 1);
    let status = post(
        &server,
        &session,
        &format!("/admin/licenses/{}/provisioning", own.license_id),
        &[("csrf", &csrf), ("action", "issue")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(live_tokens(&server, &own.license_id).await, 2, "rotated");

    // A forged session cookie is not a session.
    let forged = session.replace('.', ".0");
    let (status, _) = get(
        &server,
        &forged,
        &format!("/admin/licenses/{}", own.license_id),
    )
    .await;
    assert_eq!(status, 303, "back to sign-in");

    // The operator token signs in to every license.
    let (operator, _) = sign_in(&server, &server.admin_token)
        .await
        .expect("operator");
    let (status, body) = get(&server, &operator, "/admin").await;
    assert_eq!(status, 200);
    assert!(body.contains("Contoso") && body.contains("Fabrikam"));
    let (status, _) = get(
        &server,
        &operator,
        &format!("/admin/licenses/{}/seats", other.license_id),
    )
    .await;
    assert_eq!(status, 200);
}

async fn admin_keys_are_operator_only_and_revocable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let own = server.create_license("Contoso", 5).await;
    let path = format!("/api/v1/licenses/{}/admin-keys", own.license_id);
    let unauthenticated = client()
        .post(format!("{}{path}", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let key = create_key(&server, &own.license_id).await;
    let (status, listed) = read(server.admin(Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed
            .to_string()
            .contains(key["admin_key"].as_str().unwrap()),
        "never the secret"
    );
    let (status, _) = read(
        server
            .admin(Method::POST, "/api/v1/licenses/nope/admin-keys")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let (session, _) = sign_in(&server, key["admin_key"].as_str().unwrap())
        .await
        .unwrap();
    let page = format!("/admin/licenses/{}", own.license_id);
    assert_eq!(get(&server, &session, &page).await.0, 200);
    let revoke = server
        .admin(
            Method::DELETE,
            &format!("{path}/{}", key["key_id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(
        get(&server, &session, &page).await.0,
        303,
        "the session ended with its key"
    );
    assert!(
        sign_in(&server, key["admin_key"].as_str().unwrap())
            .await
            .is_none()
    );
}
