//! The one interface both transports implement: how a consumer receives events and settles
//! each one. The consumer loop (`consumer.rs`) is written once against it.

use std::future::Future;

use crate::events::Event;

/// Why a transport failed: the consumer reconnects and starts over (unacknowledged events come
/// back, and applying them again changes nothing).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Where events wait for a consumer: the outbox table itself (the `embedded` module) or
/// RabbitMQ (the `rabbitmq` module).
pub trait Transport: Send {
    /// The transport's handle on one received event.
    type Delivery: Send;

    /// The metrics and log label (`transport`).
    fn name(&self) -> &'static str;

    /// Waits for the next events, at most `max`; empty once the consumer is asked to stop.
    fn receive(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<(Event, Self::Delivery)>, TransportError>> + Send;

    /// The events were applied, and that is committed: they are done.
    fn ack(
        &mut self,
        deliveries: Vec<Self::Delivery>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// `event` failed its attempt number `attempt` (1-based) with `error`: try it again later.
    fn retry(
        &mut self,
        event: Event,
        delivery: Self::Delivery,
        attempt: u32,
        error: String,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// `event` failed its last allowed attempt: keep it aside, visible and replayable.
    fn park(
        &mut self,
        event: Event,
        delivery: Self::Delivery,
        error: String,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
}
