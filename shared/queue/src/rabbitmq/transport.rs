//! The RabbitMQ transport: deliveries taken in batches (manual acks, a prefetch window); a
//! failed one is republished to its delay tier (or, after the last attempt, to the parking
//! queue) before it is acked, so a crash anywhere means redelivery, never loss.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use seatflow_store::db::Db;
use tokio::sync::watch;

use super::{AmqpError, Publisher, Route, Topology};
use crate::Settings;
use crate::events::Event;
use crate::outbox;
use crate::retry::RetryPolicy;
use crate::transport::{Transport, TransportError};

/// How long to wait for more deliveries to join a batch once one has arrived.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

pub struct RabbitMq {
    db: Db,
    policy: RetryPolicy,
    publisher: Publisher,
    // Kept so the channel lives as long as the consumer.
    _connection: lapin::Connection,
    channel: Channel,
    tag: String,
    deliveries: lapin::Consumer,
    stop: watch::Receiver<bool>,
}

impl From<AmqpError> for TransportError {
    fn from(e: AmqpError) -> Self {
        TransportError(e.to_string())
    }
}

impl From<lapin::Error> for TransportError {
    fn from(e: lapin::Error) -> Self {
        TransportError(format!("broker error: {e}"))
    }
}

impl RabbitMq {
    /// Connects (retrying until the broker answers), declares the topology and starts consuming
    /// the work queue.
    pub async fn connect(
        db: Db,
        settings: &Settings,
        url: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<RabbitMq, AmqpError> {
        let topology = Topology::of(settings);
        let name = format!("{}-worker", topology.prefix);
        let publisher = Publisher::connect(url, &name, topology.clone()).await?;
        let connection = super::connect(url, &name).await;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("{name}-{}", std::process::id());
        let deliveries = channel
            .basic_consume(
                topology.work_queue().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %topology.work_queue(), "consuming");
        Ok(RabbitMq {
            db,
            policy: settings.retry(),
            publisher,
            _connection: connection,
            channel,
            tag,
            deliveries,
            stop,
        })
    }

    /// The next delivery that is a Seatflow event; anything else is dropped loudly (there is
    /// nothing to retry or record for it).
    async fn decode(delivery: Delivery) -> Result<Option<(Event, Delivery)>, TransportError> {
        match serde_json::from_slice::<Event>(&delivery.data) {
            Ok(event) => Ok(Some((event, delivery))),
            Err(e) => {
                tracing::error!(error = %e, "dropping a message that is not a Seatflow event");
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
                Ok(None)
            }
        }
    }

    /// Republishes a failed event to `route` with its attempts and error, records the failure
    /// in the outbox, then acks the delivery it replaces.
    async fn republish(
        &self,
        event: Event,
        delivery: Delivery,
        route: Route,
        error: String,
        dead: bool,
    ) -> Result<(), TransportError> {
        self.publisher
            .publish(std::slice::from_ref(&event), route, Some(&error))
            .await?;
        let (id, attempts) = (event.id, event.attempts);
        let recorded = self
            .db
            .write(move |c| {
                if dead {
                    outbox::mark_dead(c, id, attempts, &error)
                } else {
                    outbox::record_failure(c, id, attempts, &error, None)
                }
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(event = id, error = %e, "could not record an event failure");
        }
        delivery.ack(BasicAckOptions::default()).await?;
        Ok(())
    }
}

impl Transport for RabbitMq {
    type Delivery = Delivery;

    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<(Event, Delivery)>, TransportError> {
        let mut batch = Vec::new();
        while batch.is_empty() {
            let next = tokio::select! {
                next = self.deliveries.next() => Some(next),
                _ = self.stop.wait_for(|stop| *stop) => None,
            };
            let Some(first) = next else {
                // Stop taking work; unacked deliveries go back to the queue.
                self.channel
                    .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
                    .await?;
                return Ok(Vec::new());
            };
            let Some(first) = first else {
                return Err(TransportError(
                    "the consumer was cancelled by the broker".into(),
                ));
            };
            batch.extend(Self::decode(first?).await?);
            while batch.len() < max {
                match tokio::time::timeout(BATCH_WINDOW, self.deliveries.next()).await {
                    Ok(Some(delivery)) => batch.extend(Self::decode(delivery?).await?),
                    _ => break,
                }
            }
        }
        Ok(batch)
    }

    async fn ack(&mut self, deliveries: Vec<Delivery>) -> Result<(), TransportError> {
        for delivery in deliveries {
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Ok(())
    }

    async fn retry(
        &mut self,
        event: Event,
        delivery: Delivery,
        attempt: u32,
        error: String,
    ) -> Result<(), TransportError> {
        let tier = self.policy.tier(attempt);
        self.republish(event, delivery, Route::Delay(tier), error, false)
            .await
    }

    async fn park(
        &mut self,
        event: Event,
        delivery: Delivery,
        error: String,
    ) -> Result<(), TransportError> {
        self.republish(event, delivery, Route::Parking, error, true)
            .await
    }
}
