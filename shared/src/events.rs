//! Licensing events. Every SCIM write records, in its own transaction, which users and groups of
//! a license it touched; the worker recomputes licensing for them from current state. Events are
//! state-based, not deltas: applying one twice, late or out of order has the same effect.

use serde::{Deserialize, Serialize};

/// What a write touched: the resources whose licensing may have changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Reconcile the whole license (e.g. a deleted group whose members are no longer known).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
    /// An admin's reprocess: promote waiting users into free seats even when automatic
    /// promotion is off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

impl Change {
    pub fn user(id: &str) -> Change {
        Change {
            users: vec![id.to_owned()],
            ..Change::default()
        }
    }

    pub fn group(id: &str) -> Change {
        Change {
            groups: vec![id.to_owned()],
            ..Change::default()
        }
    }

    pub fn full() -> Change {
        Change {
            full: true,
            ..Change::default()
        }
    }

    /// The admin's "reprocess": a full reconcile that also promotes waiting users.
    pub fn reprocess() -> Change {
        Change {
            full: true,
            promote: true,
            ..Change::default()
        }
    }

    /// Nothing whose licensing could change (e.g. a PATCH that changed nothing).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && !self.full
    }
}

/// An event as it travels: the outbox row's id and license with its change. This JSON is the
/// message body on the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: i64,
    pub license_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub change: Change,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_compactly() {
        let envelope = Envelope {
            id: 7,
            license_id: "l".into(),
            request_id: Some("r".into()),
            change: Change::user("u"),
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(
            json,
            r#"{"id":7,"license_id":"l","request_id":"r","change":{"users":["u"]}}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
    }
}
