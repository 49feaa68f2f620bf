//! The RabbitMQ transport: topology, a confirming publisher (used by the relay, and by the
//! transport for retries and parking), the transport itself and the parking queue's upkeep.

pub mod parking;
pub mod publisher;
pub mod topology;
mod transport;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::{Connection, ConnectionProperties};

pub use publisher::{Publisher, Route};
pub use topology::Topology;
pub use transport::RabbitMq;

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker returned an unroutable message for {0}")]
    Unroutable(String),
    #[error("the broker refused (nacked) a message for {0}")]
    Nacked(String),
    #[error("could not encode a message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Connects to the broker, retrying with exponential backoff (and jitter) until it answers.
/// `name` shows up in the broker's connection list, which is how operators and tests find us.
pub async fn connect(url: &str, name: &str) -> Connection {
    let attempt = || async {
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        Connection::connect(url, properties).await
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times();
    attempt
        .retry(backoff)
        .notify(|e, wait| tracing::warn!(error = %e, ?wait, "broker unreachable; retrying"))
        .await
        .unwrap_or_else(|_| unreachable!("retries without a limit"))
}
