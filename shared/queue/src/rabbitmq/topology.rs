//! Exchange and queue names, and their idempotent declaration. Every name starts with the
//! configured prefix, so deployments (and parallel tests) can share one broker.
//!
//! - `{prefix}.events`: durable direct exchange; routing key `work` → `{prefix}.work`.
//! - `{prefix}.work`: quorum queue the workers consume (delivery limit guards requeue loops).
//! - `{prefix}.delay.{ms}ms`: one classic queue per backoff tier with a queue-level TTL; expired
//!   messages dead-letter back to `{prefix}.events`/`work`. (A per-message TTL would only expire
//!   at the head and block the queue.)
//! - `{prefix}.parking`: quorum queue of dead letters.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

pub const WORK_ROUTING_KEY: &str = "work";
/// Redeliveries of one message (e.g. after crashes) before the broker drops it.
const DELIVERY_LIMIT: i64 = 50;

#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
    pub tiers: Vec<Duration>,
}

impl Topology {
    /// The one way a topology is made: the settings' prefix and the retry policy's tiers.
    pub fn of(settings: &crate::Settings) -> Topology {
        Topology {
            prefix: settings.amqp_prefix.clone(),
            tiers: settings.retry().tiers(),
        }
    }

    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn work_queue(&self) -> String {
        format!("{}.work", self.prefix)
    }

    pub fn parking_queue(&self) -> String {
        format!("{}.parking", self.prefix)
    }

    pub fn delay_queue(&self, tier: Duration) -> String {
        format!("{}.delay.{}ms", self.prefix, tier.as_millis())
    }

    /// Every queue this topology declares (for operators and test clean-up).
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.work_queue(), self.parking_queue()];
        queues.extend(self.tiers.iter().map(|t| self.delay_queue(*t)));
        queues
    }

    /// Messages ready in the work queue, in all delay queues together, and in parking, as the
    /// broker counts them (passive declares: the queues must exist).
    pub async fn depths(&self, channel: &Channel) -> Result<[u32; 3], lapin::Error> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let count = |name: String| async move {
            channel
                .queue_declare(name.into(), passive, FieldTable::default())
                .await
                .map(|q| q.message_count())
        };
        let mut delay = 0u32;
        for tier in &self.tiers {
            delay = delay.saturating_add(count(self.delay_queue(*tier)).await?);
        }
        Ok([
            count(self.work_queue()).await?,
            delay,
            count(self.parking_queue()).await?,
        ])
    }

    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = QueueDeclareOptions::durable();
        channel
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let quorum = table(&[
            (
                "x-queue-type",
                AMQPValue::LongString(LongString::from("quorum")),
            ),
            ("x-delivery-limit", AMQPValue::LongLongInt(DELIVERY_LIMIT)),
        ]);
        channel
            .queue_declare(self.work_queue().into(), durable, quorum)
            .await?;
        channel
            .queue_bind(
                self.work_queue().into(),
                self.exchange().into(),
                WORK_ROUTING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let parking = table(&[(
            "x-queue-type",
            AMQPValue::LongString(LongString::from("quorum")),
        )]);
        channel
            .queue_declare(self.parking_queue().into(), durable, parking)
            .await?;
        for tier in &self.tiers {
            let ttl = i64::try_from(tier.as_millis()).unwrap_or(i64::MAX);
            let arguments = table(&[
                ("x-message-ttl", AMQPValue::LongLongInt(ttl)),
                (
                    "x-dead-letter-exchange",
                    AMQPValue::LongString(LongString::from(self.exchange())),
                ),
                (
                    "x-dead-letter-routing-key",
                    AMQPValue::LongString(LongString::from(WORK_ROUTING_KEY)),
                ),
            ]);
            channel
                .queue_declare(self.delay_queue(*tier).into(), durable, arguments)
                .await?;
        }
        Ok(())
    }
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert(ShortString::from(*key), value.clone());
    }
    table
}
