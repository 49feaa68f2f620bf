//! The SCIM 2.0 endpoints of a tenant (mounted at `/scim/v2` and `/api/v1/scim`; the routes are
//! in `routes`).

pub mod activity;
pub mod discovery;
mod etag;
pub mod feed;
pub mod groups;
pub mod kind;
pub mod paths;
mod query;
pub mod request_buffer;
pub mod request_log;
pub mod search;
pub mod users;
