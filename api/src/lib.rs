//! Seatflow's HTTP API: SCIM 2.0 for identity providers, the admin API for operators, and the
//! command line that runs and administers it.

pub mod activity;
pub mod admin;
pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod error;
pub mod licensing;
pub mod limits;
pub mod paging;
pub mod relay;
pub mod request_id;
pub mod scim;
pub mod server;

pub use app::{App, AppState};
pub use config::Config;
