//! Seatflow's licensing worker: consumes licensing events and applies them, with retries,
//! backoff and dead letters. Two transports share the same apply and retry code: RabbitMQ
//! (`amqp`, distributed mode) and the outbox table itself (`embedded`, the default, run inside
//! `seatflow-api`).

pub mod amqp;
pub mod apply;
pub mod embedded;
pub mod observe;
pub mod settings;

pub use settings::Settings;
