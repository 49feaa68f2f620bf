//! Seatflow's event pipeline. Every SCIM write records, in its own transaction, an event in the
//! outbox; events travel over one of two transports behind one interface — the outbox table
//! itself (embedded, the default) or RabbitMQ (distributed) — and a consumer applies them in
//! batches with a handler it is given, retrying failures with backoff and parking the ones that
//! exhaust their attempts.

pub mod consumer;
pub mod dead_letters;
pub mod embedded;
pub mod events;
pub mod monitor;
pub mod observe;
pub mod outbox;
pub mod rabbitmq;
pub mod relay;
pub mod retry;
pub mod settings;
pub mod transport;

pub use settings::Settings;
