//! The parking queue mirrors the dead letters recorded in the database (which are the source of
//! truth: replay resets them there and the relay publishes them again). Replaying therefore
//! also removes the replayed events' copies from the parking queue.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};

use super::AmqpError;
use crate::Settings;
use crate::events::Event;

/// Removes the parked copies of `ids`; other parked messages stay.
pub async fn discard(url: &str, settings: &Settings, ids: &[i64]) -> Result<usize, AmqpError> {
    let topology = super::Topology::of(settings);
    let connection = super::connect(url, &format!("{}-replay", topology.prefix)).await;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    let mut kept = Vec::new();
    let mut discarded = 0;
    // Messages stay unacked until the end, so each is seen once.
    while let Some(message) = channel
        .basic_get(topology.parking_queue().into(), BasicGetOptions::default())
        .await?
    {
        let id = serde_json::from_slice::<Event>(&message.delivery.data).map(|event| event.id);
        if id.is_ok_and(|id| ids.contains(&id)) {
            message.delivery.ack(BasicAckOptions::default()).await?;
            discarded += 1;
        } else {
            kept.push(message.delivery);
        }
    }
    for delivery in kept {
        delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await?;
    }
    Ok(discarded)
}
