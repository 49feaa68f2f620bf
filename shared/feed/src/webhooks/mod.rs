//! Webhook delivery: endpoints (per license, or deployment-wide for the operator) get every
//! event of the feed their filter admits, at least once, in feed order, signed per the
//! Standard Webhooks specification.
//!
//! - `endpoints`: the endpoints in the store, the operator's changes and the deliverer's
//!   claims and progress (a cursor per endpoint: the last event handled).
//! - `deliver`: the delivery loop (`run`, in `seatflow-worker` in distributed mode and in
//!   `seatflow-api` in the embedded default) and the manual redelivery of one event.
//! - `attempts`: the delivery log.
//! - `sign`: the signatures.
//!
//! Order is strict per endpoint: an event is sent only after every earlier one it takes was
//! answered 2xx, so a failing event holds back the ones after it (and their receiver sees
//! every object's changes in order) until it is delivered or the endpoint is marked failing.

pub mod attempts;
pub mod deliver;
pub mod endpoints;
mod settings;
pub mod sign;

pub use settings::Settings;
