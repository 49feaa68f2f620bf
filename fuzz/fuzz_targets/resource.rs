//! Resource ingestion on arbitrary JSON (a POST or PUT body): `user_fields` and `group_fields`
//! accept it or answer 400. What they accept is stored; the stored resource, rendered as a GET
//! returns it and sent back unchanged as a PUT body, must be accepted with the same indexed
//! fields and members, and without changing the members' immutable sub-attributes (clients do
//! exactly that). Projection by the body's own keys never drops
//! `id`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seatflow_scim::patch::NewMember;
use seatflow_scim::{ResourceKind, resource};
use seatflow_store::groups::{GroupRow, Member};
use seatflow_store::users::UserRow;
use serde_json::Value;

const BASE: &str = "https://seatflow.example/scim/v2";
const CREATED: &str = "2026-01-01T00:00:00.000000Z";

fn project_by_own_keys(kind: ResourceKind, body: &Value, mut rendered: Value) {
    let keys: Vec<String> = body
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default();
    let mut only = rendered.clone();
    resource::project(kind, &mut only, &keys, &[]);
    resource::project(kind, &mut rendered, &[], &keys);
    for projected in [only, rendered] {
        assert!(
            projected.get("id").is_some(),
            "id is returned always: {projected}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    match resource::user_fields(body.clone()) {
        Ok(fields) => {
            let row = UserRow {
                id: "u1".into(),
                license_id: "l1".into(),
                user_name: fields.user_name.clone(),
                external_id: fields.external_id.clone(),
                display_name: fields.display_name.clone(),
                active: fields.active,
                document: fields.document.clone(),
                version: 1,
                created_at: CREATED.into(),
                updated_at: CREATED.into(),
            };
            let rendered =
                resource::render_user(row.stored(), BASE).expect("a stored user renders");
            let again = resource::user_fields(rendered.clone())
                .unwrap_or_else(|e| panic!("the rendered user {rendered} is refused: {e}"));
            assert_eq!(
                (
                    &again.user_name,
                    &again.external_id,
                    &again.display_name,
                    again.active
                ),
                (
                    &fields.user_name,
                    &fields.external_id,
                    &fields.display_name,
                    fields.active
                ),
                "{rendered}"
            );
            project_by_own_keys(ResourceKind::User, &body, rendered);
        }
        Err(error) => assert!(
            matches!(error, seatflow_scim::Error::BadRequest(..)),
            "{error}"
        ),
    }

    match resource::group_fields(body.clone()) {
        Ok((fields, members)) => {
            let row = GroupRow {
                id: "g1".into(),
                license_id: "l1".into(),
                display_name: fields.display_name.clone(),
                external_id: fields.external_id.clone(),
                document: fields.document.clone(),
                version: 1,
                created_at: CREATED.into(),
                updated_at: CREATED.into(),
            };
            let stored: Vec<Member> = members
                .iter()
                .map(|m| Member {
                    user_id: m.id.clone(),
                    display_name: m.display.clone(),
                })
                .collect();
            let rendered = resource::render_group(row.stored(), Some(&stored), BASE)
                .expect("a stored group renders");
            let (again, again_members) = resource::group_fields(rendered.clone())
                .unwrap_or_else(|e| panic!("the rendered group {rendered} is refused: {e}"));
            assert_eq!(
                (&again.display_name, &again.external_id),
                (&fields.display_name, &fields.external_id),
                "{rendered}"
            );
            // Read back, members also name their `$ref` and `type`: the same members otherwise.
            let named = |members: &[NewMember]| -> Vec<(String, Option<String>)> {
                members
                    .iter()
                    .map(|m| (m.id.clone(), m.display.clone()))
                    .collect()
            };
            assert_eq!(named(&again_members), named(&members), "{rendered}");
            resource::check_kept_members(&stored, &again_members)
                .unwrap_or_else(|e| panic!("{rendered} changes its own members: {e}"));
            project_by_own_keys(ResourceKind::Group, &body, rendered);
        }
        Err(error) => assert!(
            matches!(error, seatflow_scim::Error::BadRequest(..)),
            "{error}"
        ),
    }
});
