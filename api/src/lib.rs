//! Seatflow's HTTP API: SCIM 2.0 for identity providers, the admin API and pages for operators
//! and license admins, and the command line that runs and administers it.
//!
//! `routes` names every route; handlers live by what they serve (`scim`, `admin`, `admin_ui`,
//! `dashboard`) and share the HTTP plumbing in `http`; every change an operator or a license
//! admin makes goes through `commands`. `docs/ARCHITECTURE.md` draws the whole picture.

pub mod admin;
pub mod admin_ui;
pub mod background;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod http;
pub mod routes;
pub mod scim;
pub mod server;
pub mod state;

pub use config::Config;
pub use state::{App, AppState};
