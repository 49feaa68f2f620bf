//! The admin API under `/api/v1`, for the operator (and the product's entitlement check):
//! licenses and their tokens, license admin keys, licensing, dead letters, health.

pub mod admin_keys;
pub mod dead_letters;
pub mod health;
pub mod licenses;
pub mod licensing;
