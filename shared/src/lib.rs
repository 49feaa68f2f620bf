//! Seatflow's shared core: storage, the SCIM protocol and the domain rules. Both the API and
//! the worker build on this crate.

pub mod db;
pub mod error;
pub mod events;
pub mod licensing;
pub mod retry;
pub mod scim;
pub mod shutdown;
pub mod store;
pub mod time;
pub mod token;

pub use error::{Error, Result, ScimType};
