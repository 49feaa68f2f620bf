//! The seat engine as a license admin sees it, over HTTP, on every transport: assignment in
//! join order, the waitlist, promotion, release, seat changes, automatic promotion off, the
//! dry-run preview, and the entitlement check. After each step the seat invariants (`docs/ARCHITECTURE.md`) hold.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::Method;
use seatflow_tests::license::License;
use seatflow_tests::{Tenant, TestServer, Transport, all_transports, patch_op, read};
use serde_json::{Value, json};

all_transports!(
    five_seats_eight_members_then_promotion_release_and_seat_changes,
    removing_a_group_releases_only_users_not_licensed_elsewhere,
    auto_promote_off_waits_for_the_admin,
    dry_run_matches_the_real_outcome,
    entitlement_check_for_the_product,
    put_of_the_same_members_keeps_the_queue,
);

async fn setup(
    transport: Transport,
    seats: i64,
) -> (
    TestServer,
    Option<seatflow_tests::Broker>,
    String,
    String,
    String,
) {
    let (server, broker) = transport.start(|_| {}).await;
    let tenant = server.create_license("Seats", seats).await;
    let (id, url, token) = (
        tenant.license_id.clone(),
        tenant.tenant_url.clone(),
        tenant.token.clone(),
    );
    (server, broker, id, url, token)
}

fn license(server: &TestServer, id: String, url: String, token: String) -> License<'_> {
    License {
        server,
        tenant: Tenant {
            license_id: id,
            tenant_url: url,
            token,
            token_id: String::new(),
            client: server.client.clone(),
        },
    }
}

async fn five_seats_eight_members_then_promotion_release_and_seat_changes(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 5).await;
    let l = license(&server, id, url, token);
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(l.user(&format!("u{i}")).await);
    }
    // Join order differs from creation order: the queue follows the provider's sync order.
    let join_order: Vec<String> = [3, 0, 7, 1, 6, 2, 5, 4]
        .iter()
        .map(|&i| users[i].clone())
        .collect();
    let group = l.group("Licensed", &join_order).await;
    l.license_groups(&[&group]).await;

    let (assigned, queue) = l.seats().await;
    assert_eq!(assigned.len(), 5);
    let mut expected_assigned = join_order[..5].to_vec();
    expected_assigned.sort();
    let mut got = assigned.clone();
    got.sort();
    assert_eq!(got, expected_assigned, "the first five to join get seats");
    assert_eq!(
        queue,
        join_order[5..],
        "the rest wait in join order, positions 1-3"
    );

    // Disabling an assigned user frees a seat for position 1.
    l.disable(&join_order[1]).await;
    let (assigned, queue) = l.seats().await;
    assert!(!assigned.contains(&join_order[1]));
    assert!(assigned.contains(&join_order[5]), "position 1 promoted");
    assert_eq!(queue, join_order[6..]);

    // Deleting an assigned user frees a seat too.
    assert_eq!(
        l.tenant
            .delete(&format!("/Users/{}", join_order[0]))
            .await
            .0,
        204
    );
    let (assigned, queue) = l.seats().await;
    assert!(assigned.contains(&join_order[6]));
    assert_eq!(queue, join_order[7..]);

    // Lowering seats evicts nobody; nothing new is assigned until usage falls below.
    l.set(json!({"seats": 3})).await;
    let (assigned, _) = l.seats().await;
    assert_eq!(assigned.len(), 5);
    l.disable(&join_order[2]).await;
    let (assigned, queue) = l.seats().await;
    assert_eq!(
        assigned.len(),
        4,
        "over the limit: the freed seat is not refilled"
    );
    assert_eq!(queue, join_order[7..]);

    // Raising seats promotes the waiting user at once.
    l.set(json!({"seats": 10})).await;
    let (assigned, queue) = l.seats().await;
    assert_eq!(assigned.len(), 5);
    assert!(queue.is_empty());

    // Every decision is audited with its reason.
    let (_, trail) = l
        .admin(Method::GET, &format!("/audit?user={}", join_order[5]), None)
        .await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"blocked") && actions.contains(&"assigned"),
        "{trail}"
    );

    // CSV export of the same list.
    let csv = server
        .admin(
            Method::GET,
            &format!("/api/v1/licenses/{}/seats", l.tenant.license_id),
        )
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("user_id,user_name,status,reason,since,queue_position\n"));
    assert_eq!(text.lines().count(), 1 + 5);
}

async fn removing_a_group_releases_only_users_not_licensed_elsewhere(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 10).await;
    let l = license(&server, id, url, token);
    let both = l.user("both").await;
    let only_a = l.user("only-a").await;
    let only_b = l.user("only-b").await;
    let a = l.group("A", &[both.clone(), only_a.clone()]).await;
    let b = l.group("B", &[both.clone(), only_b.clone()]).await;
    l.license_groups(&[&a, &b]).await;
    assert_eq!(l.seats().await.0.len(), 3);

    l.license_groups(&[&b]).await;
    let (assigned, _) = l.seats().await;
    assert!(assigned.contains(&both) && assigned.contains(&only_b));
    assert!(!assigned.contains(&only_a));

    // Removing a member releases its seat; deleting the group releases the rest.
    let (status, _) = l
        .tenant
        .patch(
            &format!("/Groups/{b}"),
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": only_b}]}])),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(l.seats().await.0, vec![both.clone()]);
    assert_eq!(l.tenant.delete(&format!("/Groups/{b}")).await.0, 204);
    assert!(l.seats().await.0.is_empty());
}

async fn auto_promote_off_waits_for_the_admin(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 2).await;
    let l = license(&server, id, url, token);
    l.set(json!({"auto_promote": false})).await;
    let users = [l.user("a").await, l.user("b").await, l.user("c").await];
    let group = l.group("G", &users).await;
    l.license_groups(&[&group]).await;
    let (_, queue) = l.seats().await;
    assert_eq!(queue, [users[2].clone()]);

    l.disable(&users[0]).await;
    let (assigned, queue) = l.seats().await;
    assert_eq!(
        assigned,
        [users[1].clone()],
        "the free seat is not refilled automatically"
    );
    assert_eq!(queue, [users[2].clone()]);

    let (status, _) = l.admin(Method::POST, "/reconcile", None).await;
    assert_eq!(status, 202);
    let (assigned, queue) = l.seats().await;
    assert_eq!(assigned.len(), 2);
    assert!(queue.is_empty());
}

async fn dry_run_matches_the_real_outcome(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 3).await;
    let l = license(&server, id, url, token);
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(l.user(&format!("d{i}")).await);
    }
    let group = l.group("Dry", &members).await;
    let (status, preview) = l
        .admin(
            Method::PUT,
            "/licensed-groups?dry_run=true",
            Some(json!({"group_ids": [group]})),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["impact"],
        json!({"assigned": 3, "blocked": 2, "released": 0, "grace": 0})
    );
    // Nothing changed.
    let (_, selected) = l.admin(Method::GET, "/licensed-groups", None).await;
    assert_eq!(selected["group_ids"], json!([]));
    assert!(l.seats().await.0.is_empty());

    l.license_groups(&[&group]).await;
    let (assigned, queue) = l.seats().await;
    assert_eq!((assigned.len(), queue.len()), (3, 2));

    // Removing it previews the release of everyone.
    let (_, preview) = l
        .admin(
            Method::PUT,
            "/licensed-groups?dry_run=true",
            Some(json!({"group_ids": []})),
        )
        .await;
    assert_eq!(
        preview["impact"],
        json!({"assigned": 0, "blocked": 0, "released": 3, "grace": 0})
    );
    let (status, _) = l
        .admin(
            Method::PUT,
            "/licensed-groups",
            Some(json!({"group_ids": ["not-a-group"]})),
        )
        .await;
    assert_eq!(status, 400);
}

async fn entitlement_check_for_the_product(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 1).await;
    let l = license(&server, id, url, token);
    let first = l.user("first").await;
    let second = l.user("second").await;
    let group = l.group("G", &[first.clone(), second.clone()]).await;
    l.license_groups(&[&group]).await;
    l.seats().await;

    let check = |email: &str| {
        let request = server.admin(Method::GET, &format!("/api/v1/entitlements?email={email}"));
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = check("FIRST%40contoso.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["licensed"], true);
    assert_eq!(body["licenses"][0]["status"], "assigned");
    assert_eq!(body["licenses"][0]["license_name"], "Seats");

    let (_, body) = check("second%40contoso.com").await;
    assert_eq!(body["licensed"], false);
    assert_eq!(body["licenses"][0]["status"], "blocked");
    assert_eq!(body["licenses"][0]["reason"], "no_seats_available");

    // The identity provider's admins see the same through SCIM, read-only.
    let seat_urn = "urn:seatflow:params:scim:schemas:extension:license:2.0:User";
    let (_, scim_user) = l.tenant.get(&format!("/Users/{second}")).await;
    assert_eq!(scim_user[seat_urn]["seatStatus"], "blocked");
    assert_eq!(scim_user[seat_urn]["seatReason"], "no_seats_available");
    let (_, listed) = l
        .tenant
        .get("/Users?filter=userName+eq+\"first%40contoso.com\"")
        .await;
    assert_eq!(listed["Resources"][0][seat_urn]["seatStatus"], "assigned");
    let (status, body) = l
        .tenant
        .patch(
            &format!("/Users/{second}"),
            patch_op(json!([{"op": "replace", "path": format!("{seat_urn}:seatStatus"), "value": "assigned"}])),
        )
        .await;
    // The seat is licensing's to decide: the PATCH succeeds and changes nothing.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[seat_urn]["seatStatus"], "blocked");

    let (_, body) = check("nobody%40contoso.com").await;
    assert_eq!(body["licenses"], json!([]));

    // A SCIM token cannot read entitlements.
    let denied = server
        .client
        .get(format!(
            "{}/api/v1/entitlements?email=first%40contoso.com",
            server.base_url
        ))
        .bearer_auth(&l.tenant.token)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}

/// The periodic full reconcile repairs what no event announced (here: a seat row deleted
/// behind the engine's back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_reconcile_repairs_what_events_missed() {
    use diesel::prelude::*;
    use seatflow_store::db::schema::seats;
    let (server, _broker) = Transport::EmbeddedSqlite
        .start(|c| c.reconcile_interval_secs = 1)
        .await;
    let tenant = server.create_license("Safety net", 5).await;
    let l = license(
        &server,
        tenant.license_id.clone(),
        tenant.tenant_url.clone(),
        tenant.token.clone(),
    );
    let user = l.user("kept").await;
    let group = l.group("G", std::slice::from_ref(&user)).await;
    l.license_groups(&[&group]).await;
    assert_eq!(l.seats().await.0, std::slice::from_ref(&user));

    let license_id = tenant.license_id.clone();
    server
        .db
        .write(move |c| {
            diesel::delete(seats::table.filter(seats::license_id.eq(&license_id))).execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let seat_rows = || {
        let mut conn = server.db.checkout().unwrap();
        seats::table
            .filter(seats::license_id.eq(&tenant.license_id))
            .count()
            .get_result::<i64>(&mut *conn)
            .unwrap()
    };
    while seat_rows() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the safety net did not repair the seat"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Repaired, invariants included (seats_used matches again).
    assert_eq!(l.seats().await.0, [user]);
}

/// Okta sets membership with a PUT of the whole list each cycle: members who stay keep their
/// join time (their place when the queue breaks ties); only newcomers join behind them.
async fn put_of_the_same_members_keeps_the_queue(transport: Transport) {
    let (server, _broker, id, url, token) = setup(transport, 1).await;
    let l = license(&server, id, url, token);
    let users = [l.user("a").await, l.user("b").await, l.user("c").await];
    let group = l.group("Okta", &users).await;

    // The next cycle's PUT lists the same members in another order, plus a newcomer.
    let newcomer = l.user("d").await;
    let reordered: Vec<Value> = [&newcomer, &users[2], &users[1], &users[0]]
        .iter()
        .map(|id| json!({"value": id}))
        .collect();
    let (status, body) = l
        .tenant
        .put(
            &format!("/Groups/{group}"),
            json!({"displayName": "Okta", "members": reordered}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Licensing the group now entitles everyone at once: ties go by join time.
    l.license_groups(&[&group]).await;
    let (assigned, queue) = l.seats().await;
    assert_eq!(assigned, [users[0].clone()]);
    assert_eq!(queue, [users[1].clone(), users[2].clone(), newcomer]);
}
