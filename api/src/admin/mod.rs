//! The admin API under `/api/v1`, for the operator (and the product's entitlement check):
//! licenses and their tokens, license admin keys and setup links, licensing and its policies, the SCIM request log, the
//! Events API, webhooks, dead letters, health.

pub mod admin_keys;
pub mod dead_letters;
pub mod events;
pub mod health;
pub mod licenses;
pub mod licensing;
pub mod policies;
pub mod requests;
pub mod seat_history;
pub mod setup_links;
pub mod webhooks;
