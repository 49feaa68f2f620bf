//! What the provider's writes tell the change feed: `user.*`, `group.*` and
//! `directory.first_sync` events, built in the write's transaction from the rows before and
//! after it. An object is rendered as SCIM renders it (without members or seat: the feed tells
//! those apart, as member ids and `seat.*` events).

use seatflow_feed::event::changed_before;
use seatflow_feed::{EventType, NewEvent};
use seatflow_scim::resource;
use seatflow_store::Result;
use seatflow_store::db::DbConn;
use seatflow_store::groups::{GroupRow, MemberDelta};
use seatflow_store::licenses;
use seatflow_store::users::UserRow;
use serde_json::{Value, json};

/// Member ids per `group.members_*` event: a 10,000-member PUT is ten events, not one huge body.
const MEMBERS_PER_EVENT: usize = 1000;

pub fn user_created(row: &UserRow, base: &str) -> Result<NewEvent> {
    let object = resource::render_user(row.stored(), base)?;
    Ok(NewEvent::about(
        EventType::UserCreated,
        &row.id,
        object,
        None,
    ))
}

/// The event of an update: `user.deactivated` / `user.reactivated` when `active` changed, else
/// `user.updated`; none when nothing changed.
pub fn user_changed(before: &UserRow, after: &UserRow, base: &str) -> Result<Option<NewEvent>> {
    if before.document == after.document && before.active == after.active {
        return Ok(None);
    }
    let event_type = match (before.active, after.active) {
        (true, false) => EventType::UserDeactivated,
        (false, true) => EventType::UserReactivated,
        _ => EventType::UserUpdated,
    };
    let old = resource::render_user(before.stored(), base)?;
    let new = resource::render_user(after.stored(), base)?;
    let previous = changed_before(&old, &new);
    Ok(Some(NewEvent::about(
        event_type,
        &after.id,
        new,
        Some(previous),
    )))
}

pub fn user_deleted(row: &UserRow) -> NewEvent {
    let object = json!({ "id": row.id, "userName": row.user_name, "externalId": row.external_id });
    NewEvent::about(EventType::UserDeleted, &row.id, object, None)
}

pub fn group_created(row: &GroupRow, delta: &MemberDelta, base: &str) -> Result<Vec<NewEvent>> {
    let object = resource::render_group(row.stored(), None, base)?;
    let mut events = vec![NewEvent::about(
        EventType::GroupCreated,
        &row.id,
        object,
        None,
    )];
    events.extend(members(row, delta));
    Ok(events)
}

/// `group.updated` when the group's own attributes changed, then its members' events.
pub fn group_changed(
    before: &GroupRow,
    after: &GroupRow,
    delta: &MemberDelta,
    base: &str,
) -> Result<Vec<NewEvent>> {
    let mut events = Vec::new();
    if before.document != after.document {
        let old = resource::render_group(before.stored(), None, base)?;
        let new = resource::render_group(after.stored(), None, base)?;
        let previous = changed_before(&old, &new);
        events.push(NewEvent::about(
            EventType::GroupUpdated,
            &after.id,
            new,
            Some(previous),
        ));
    }
    events.extend(members(after, delta));
    Ok(events)
}

pub fn group_deleted(row: &GroupRow) -> NewEvent {
    let object =
        json!({ "id": row.id, "displayName": row.display_name, "externalId": row.external_id });
    NewEvent::about(EventType::GroupDeleted, &row.id, object, None)
}

/// `group.members_added` and `group.members_removed`, with member ids, in chunks.
fn members(group: &GroupRow, delta: &MemberDelta) -> Vec<NewEvent> {
    let sides = [
        (EventType::GroupMembersAdded, &delta.added),
        (EventType::GroupMembersRemoved, &delta.removed),
    ];
    let mut events = Vec::new();
    for (event_type, ids) in sides {
        let ids: Vec<&String> = ids.iter().collect();
        for chunk in ids.chunks(MEMBERS_PER_EVENT) {
            let data = json!({
                "group": { "id": group.id, "displayName": group.display_name },
                "members": chunk,
            });
            events.push(NewEvent::new(event_type, Some(&group.id), data));
        }
    }
    events
}

/// `directory.first_sync` with the first resource the provider created, if it is the first.
/// `known` says the license's first sync is already known (its cached row, or this process).
pub fn first_sync(
    c: &mut DbConn,
    license_id: &str,
    known: bool,
    kind: &str,
    id: &str,
) -> Result<Option<NewEvent>> {
    if known || !licenses::mark_first_sync(c, license_id)? {
        return Ok(None);
    }
    let data = json!({ "resource": kind, "id": id });
    Ok(Some(NewEvent::new(
        EventType::DirectoryFirstSync,
        Some(license_id),
        data,
    )))
}

/// A `directory.test_connection` event (Entra's probe for a random userName found nobody).
pub fn test_connection(license_id: &str) -> NewEvent {
    NewEvent::new(
        EventType::DirectoryTestConnection,
        Some(license_id),
        Value::Object(Default::default()),
    )
}
