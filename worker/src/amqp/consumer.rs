//! The worker's consumer: takes deliveries in batches (manual acks, a prefetch window), applies
//! them, then settles each: applied → ack; failed → republished to its delay tier (or, after
//! the last attempt, to the parking queue) and then acked. Every ack comes after the outcome is
//! safe, so a crash anywhere means redelivery, never loss; reconnects with backoff.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use seatflow_shared::db::Db;
use seatflow_shared::store::outbox::{self, OutboxRow};
use tokio::sync::watch;

use super::{AmqpError, Publisher, Route, Topology};
use crate::Settings;
use crate::apply::Failed;
use crate::observe::{self, Transport};

/// How long to wait for more deliveries to join a batch once one has arrived.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Consumes until `shutdown` turns true, reconnecting after broker or connection failures.
pub async fn run(db: Db, settings: Settings, url: String, mut shutdown: watch::Receiver<bool>) {
    let topology = Topology {
        prefix: settings.amqp_prefix.clone(),
        tiers: settings.retry().tiers(),
    };
    while !*shutdown.borrow() {
        match consume(&db, &settings, &url, &topology, &mut shutdown).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "consumer lost the broker; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    tracing::info!("worker stopped");
}

async fn consume(
    db: &Db,
    settings: &Settings,
    url: &str,
    topology: &Topology,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), AmqpError> {
    let name = format!("{}-worker", topology.prefix);
    let publisher = Publisher::connect(url, &name, topology.clone()).await?;
    let connection = super::connect(url, &name).await;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{name}-{}", std::process::id());
    let mut deliveries = channel
        .basic_consume(
            topology.work_queue().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %topology.work_queue(), "worker consuming");
    loop {
        let first = tokio::select! {
            next = deliveries.next() => next,
            _ = shutdown.changed() => {
                // Stop taking work; unacked deliveries go back to the queue.
                channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await?;
                return Ok(());
            }
        };
        let Some(first) = first else {
            return Err(AmqpError::Unroutable(
                "the consumer was cancelled by the broker".into(),
            ));
        };
        let mut batch = vec![first?];
        while batch.len() < settings.batch.max(1) {
            match tokio::time::timeout(BATCH_WINDOW, deliveries.next()).await {
                Ok(Some(delivery)) => batch.push(delivery?),
                _ => break,
            }
        }
        settle(db, settings, &publisher, batch).await?;
    }
}

/// Applies a batch and settles every delivery in it.
async fn settle(
    db: &Db,
    settings: &Settings,
    publisher: &Publisher,
    batch: Vec<Delivery>,
) -> Result<(), AmqpError> {
    let mut rows = Vec::with_capacity(batch.len());
    let mut by_id = Vec::with_capacity(batch.len());
    for delivery in batch {
        match serde_json::from_slice::<OutboxRow>(&delivery.data) {
            Ok(row) => {
                by_id.push((row.id, delivery));
                rows.push(row);
            }
            Err(e) => {
                // Not one of our events: nothing to retry or record, so drop it loudly.
                tracing::error!(error = %e, "dropping a message that is not a Seatflow event");
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
            }
        }
    }
    let failed = observe::apply_batch(db, rows, Transport::Amqp).await;
    let policy = settings.retry();
    for Failed { mut row, error } in failed {
        row.attempts = row.attempts.saturating_add(1);
        let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let message = error;
        let exhausted = policy.exhausted(attempt);
        observe::failure(&row, row.attempts, exhausted, &message, Transport::Amqp);
        let route = if exhausted {
            Route::Parking
        } else {
            Route::Delay(policy.tier(attempt))
        };
        publisher
            .publish(std::slice::from_ref(&row), route, Some(&message))
            .await?;
        let (id, attempts) = (row.id, row.attempts);
        let recorded = db
            .write(move |c| {
                if exhausted {
                    outbox::mark_dead(c, id, attempts, &message)
                } else {
                    outbox::record_failure(c, id, attempts, &message, None)
                }
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(event = id, error = %e, "could not record an event failure");
        }
    }
    for (_, delivery) in by_id {
        delivery.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}
