//! Publishing with confirms: a publish succeeds only once the broker has taken responsibility
//! for the message (confirmed, and not returned as unroutable), so callers may then mark the
//! event published, or ack the delivery it replaces. The body is the [`Event`] as JSON.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use super::topology::WORK_ROUTING_KEY;
use super::{AmqpError, Topology};
use crate::events::Event;

/// Header carrying how many attempts an event has had.
pub const ATTEMPTS_HEADER: &str = "x-seatflow-attempts";
/// Header carrying a dead letter's last error.
pub const ERROR_HEADER: &str = "x-seatflow-error";

/// Where a message goes.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    Work,
    Delay(Duration),
    Parking,
}

pub struct Publisher {
    // Kept so the connection lives as long as the channel.
    _connection: Connection,
    channel: Channel,
    topology: Topology,
}

impl Publisher {
    /// Connects (retrying until the broker answers), declares the topology and enables confirms.
    pub async fn connect(
        url: &str,
        name: &str,
        topology: Topology,
    ) -> Result<Publisher, AmqpError> {
        let connection = super::connect(url, name).await;
        let channel = connection.create_channel().await?;
        topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            _connection: connection,
            channel,
            topology,
        })
    }

    /// Whether the channel is still open (the relay reports it to `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.channel.status().connected()
    }

    /// Publishes the events and waits until the broker confirmed every one of them.
    pub async fn publish(
        &self,
        events: &[Event],
        route: Route,
        error: Option<&str>,
    ) -> Result<(), AmqpError> {
        let (exchange, routing_key) = match route {
            Route::Work => (self.topology.exchange(), WORK_ROUTING_KEY.to_owned()),
            Route::Delay(tier) => (String::new(), self.topology.delay_queue(tier)),
            Route::Parking => (String::new(), self.topology.parking_queue()),
        };
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_vec(event)?;
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from(ATTEMPTS_HEADER),
                AMQPValue::LongInt(event.attempts),
            );
            if let Some(error) = error {
                headers.insert(
                    ShortString::from(ERROR_HEADER),
                    AMQPValue::LongString(LongString::from(error)),
                );
            }
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(event.id.to_string().into())
                .with_headers(headers);
            let confirm = self
                .channel
                .basic_publish(
                    exchange.as_str().into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    properties,
                )
                .await?;
            confirms.push((event.id, confirm));
        }
        for (id, confirm) in confirms {
            let confirmation = confirm.await?;
            if confirmation.is_nack() {
                return Err(AmqpError::Nacked(format!("event {id}")));
            }
            if confirmation.take_message().is_some() {
                return Err(AmqpError::Unroutable(format!("event {id}")));
            }
        }
        Ok(())
    }
}
