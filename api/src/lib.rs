//! Seatflow's HTTP API: SCIM 2.0 for identity providers, the admin API for operators, and the
//! command line that runs and administers it.

pub mod activity;
pub mod admin;
pub mod admin_keys;
pub mod admin_ui;
pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod dead_letters;
pub mod error;
pub mod health;
pub mod http;
pub mod licensing;
pub mod limits;
pub mod paging;
pub mod relay;
pub mod request_id;
pub mod scim;
pub mod server;
pub mod telemetry;
pub mod token_cache;

pub use app::{App, AppState};
pub use config::Config;
