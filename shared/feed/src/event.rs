//! The events of the change feed and how a write records them. An event says what changed
//! (`type`), on which object (`subject`), and carries the object after the change and the
//! changed attributes before it (`data.object`, `data.previous`); seat and license events carry
//! the decision and why.

use diesel::prelude::*;
use seatflow_store::db::DbConn;
use seatflow_store::db::schema::feed_events;
use seatflow_store::{Result, time};
use serde::Serialize;
use serde_json::{Map, Value};

/// Every event type of the feed (README, "Event catalogue").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMembersAdded,
    GroupMembersRemoved,
    SeatAssigned,
    SeatBlocked,
    SeatPromoted,
    SeatReleased,
    /// A waiting user left the queue (lost entitlement before getting a seat).
    SeatDequeued,
    LicenseUsageThreshold,
    LicenseSeatsChanged,
    LicenseProvisioningDisabled,
    LicenseProvisioningEnabled,
    DirectoryTestConnection,
    DirectoryFirstSync,
    DirectoryTokenRotated,
    DirectoryTokenRevoked,
    DirectoryErrorRateHigh,
}

impl EventType {
    pub const ALL: [EventType; 24] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::GroupMembersAdded,
        EventType::GroupMembersRemoved,
        EventType::SeatAssigned,
        EventType::SeatBlocked,
        EventType::SeatPromoted,
        EventType::SeatReleased,
        EventType::SeatDequeued,
        EventType::LicenseUsageThreshold,
        EventType::LicenseSeatsChanged,
        EventType::LicenseProvisioningDisabled,
        EventType::LicenseProvisioningEnabled,
        EventType::DirectoryTestConnection,
        EventType::DirectoryFirstSync,
        EventType::DirectoryTokenRotated,
        EventType::DirectoryTokenRevoked,
        EventType::DirectoryErrorRateHigh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupMembersAdded => "group.members_added",
            EventType::GroupMembersRemoved => "group.members_removed",
            EventType::SeatAssigned => "seat.assigned",
            EventType::SeatBlocked => "seat.blocked",
            EventType::SeatPromoted => "seat.promoted",
            EventType::SeatReleased => "seat.released",
            EventType::SeatDequeued => "seat.dequeued",
            EventType::LicenseUsageThreshold => "license.usage_threshold",
            EventType::LicenseSeatsChanged => "license.seats_changed",
            EventType::LicenseProvisioningDisabled => "license.provisioning_disabled",
            EventType::LicenseProvisioningEnabled => "license.provisioning_enabled",
            EventType::DirectoryTestConnection => "directory.test_connection",
            EventType::DirectoryFirstSync => "directory.first_sync",
            EventType::DirectoryTokenRotated => "directory.token_rotated",
            EventType::DirectoryTokenRevoked => "directory.token_revoked",
            EventType::DirectoryErrorRateHigh => "directory.error_rate_high",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Which event types a reader or an endpoint wants: exact names, or a family such as `seat.*`.
/// Empty: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFilter(Vec<String>);

impl TypeFilter {
    /// Checks every entry names a type or a family of types.
    pub fn new(entries: Vec<String>) -> std::result::Result<TypeFilter, String> {
        for entry in &entries {
            let known = match entry.strip_suffix(".*") {
                Some(family) => EventType::ALL
                    .iter()
                    .any(|t| t.as_str().split('.').next() == Some(family)),
                None => EventType::parse(entry).is_some(),
            };
            if !known {
                return Err(format!("unknown event type {entry:?}"));
            }
        }
        Ok(TypeFilter(entries))
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|entry| match entry.strip_suffix(".*") {
                Some(family) => event_type
                    .strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => entry == event_type,
            })
    }

    /// The event types it admits, for a query's `IN` list.
    pub fn types(&self) -> Vec<&'static str> {
        EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .filter(|t| self.matches(t))
            .collect()
    }
}

/// An event a write emits, recorded with [`record`] in the write's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    /// The object's id (a user, a group, a token), if the event is about one.
    pub subject: Option<String>,
    pub data: Value,
}

impl NewEvent {
    pub fn new(event_type: EventType, subject: Option<&str>, data: Value) -> NewEvent {
        NewEvent {
            event_type,
            subject: subject.map(str::to_owned),
            data,
        }
    }

    /// An event about `object` (a rendered resource) after a change, with `previous`: what
    /// the changed attributes were before it (none for a creation).
    pub fn about(
        event_type: EventType,
        subject: &str,
        object: Value,
        previous: Option<Map<String, Value>>,
    ) -> NewEvent {
        let mut data = Map::new();
        data.insert("object".into(), object);
        if let Some(previous) = previous {
            data.insert("previous".into(), Value::Object(previous));
        }
        NewEvent::new(event_type, Some(subject), Value::Object(data))
    }
}

/// The top-level attributes of `before` that differ in `after`, with their values before
/// (`null` for one `after` added); `meta` is the server's and left out.
pub fn changed_before(before: &Value, after: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut previous = Map::new();
    for (key, old) in before {
        if key != "meta" && after.get(key) != Some(old) {
            previous.insert(key.clone(), old.clone());
        }
    }
    for key in after.keys() {
        if key != "meta" && !before.contains_key(key) {
            previous.insert(key.clone(), Value::Null);
        }
    }
    previous
}

#[derive(Insertable)]
#[diesel(table_name = feed_events)]
struct Row<'a> {
    event_id: String,
    license_id: &'a str,
    event_type: &'static str,
    subject: Option<&'a str>,
    data: String,
    request_id: Option<&'a str>,
    created_at: &'a str,
}

/// Rows bound per insert statement (SQLite and PostgreSQL cap bind parameters).
const CHUNK: usize = 500;

/// Records `events` of a license in the caller's transaction, in the order given: the feed
/// tells only what commits, and all of it.
pub fn record(
    conn: &mut DbConn,
    license_id: &str,
    events: &[NewEvent],
    request_id: Option<&str>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let rows: Vec<Row<'_>> = events
        .iter()
        .map(|e| Row {
            event_id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            license_id,
            event_type: e.event_type.as_str(),
            subject: e.subject.as_deref(),
            data: e.data.to_string(),
            request_id,
            created_at: &now,
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(feed_events::table)
                .values(chunk)
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(feed_events::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(())
}

/// An event as the Events API lists it and a webhook delivers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    /// Unique; the `webhook-id` of its deliveries.
    pub id: String,
    /// Its position in the deployment's feed (commit order): the cursor.
    pub sequence: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    pub license_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub data: Value,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_parses_back() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("seat.stolen"), None);
    }

    #[test]
    fn type_filters_take_names_and_families() {
        let filter = TypeFilter::new(vec!["seat.*".into(), "user.deleted".into()]).unwrap();
        assert!(filter.matches("seat.assigned"));
        assert!(filter.matches("user.deleted"));
        assert!(!filter.matches("user.created"));
        assert!(!filter.matches("seatx.assigned"));
        assert_eq!(filter.types().len(), 6);
        assert!(TypeFilter::default().matches("group.created"));
        assert!(TypeFilter::new(vec!["seat.stolen".into()]).is_err());
        assert!(TypeFilter::new(vec!["nothing.*".into()]).is_err());
    }

    #[test]
    fn previous_holds_the_changed_attributes_as_they_were() {
        let before = json!({"userName": "a", "active": true, "title": "x", "meta": {"version": 1}});
        let after =
            json!({"userName": "a", "active": false, "nickName": "n", "meta": {"version": 2}});
        let previous = changed_before(&before, &after);
        assert_eq!(
            Value::Object(previous),
            json!({"active": true, "title": "x", "nickName": null})
        );
    }
}
