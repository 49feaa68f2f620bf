//! Events as they travel: one wire format for what the outbox holds, what the relay publishes
//! and what a consumer receives. The payload is the producer's JSON object (for licensing,
//! `seatflow_licensing::Change`): the queue carries it without knowing its type.

use seatflow_store::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event, as the outbox records it and as a message body on the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The outbox row's id: unique, increasing in commit order within a license's writes.
    pub id: i64,
    pub license_id: String,
    /// The request that caused it, carried into the consumer's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: i32,
    /// When it was committed: the start of its lag.
    pub created_at: String,
    /// What the producer recorded. A stored payload that is not JSON travels as a JSON string,
    /// so the consumer fails it like any payload it cannot read (retried, then parked).
    pub payload: Value,
}

impl Event {
    /// The payload as the consumer's type.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            Error::Internal(format!("event {} has an unreadable payload: {e}", self.id))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_travels_as_json_not_as_text_in_json() {
        let event = Event {
            id: 7,
            license_id: "l".into(),
            request_id: Some("r".into()),
            attempts: 0,
            created_at: "t".into(),
            payload: json!({"users": ["u"]}),
        };
        let wire = serde_json::to_string(&event).unwrap();
        assert_eq!(
            wire,
            r#"{"id":7,"license_id":"l","request_id":"r","attempts":0,"created_at":"t","payload":{"users":["u"]}}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&wire).unwrap(), event);
        let unreadable = Event {
            payload: json!("{not json"),
            ..event
        };
        assert!(unreadable.payload::<Vec<String>>().is_err());
    }
}
