//! Seatflow's storage: one diesel connection type over PostgreSQL and SQLite (`db`), the
//! migrations, and the queries, as free functions over a `DbConn` grouped by what they touch.
//! Callers choose the transaction (`Db::read` / `Db::write`).

pub mod admin_keys;
pub mod audit;
pub mod auth_epoch;
pub mod db;
pub mod error;
pub mod filter_sql;
pub mod groups;
pub mod licensed_groups;
pub mod licenses;
pub mod listing;
pub mod migrations;
pub mod policies;
pub mod scim_requests;
pub mod seat_history;
pub mod seats;
pub mod setup_links;
pub mod time;
pub mod token;
pub mod tokens;
pub mod users;
pub mod webhook_monitor;

pub use error::{Error, Result};
pub use seatflow_scim::ScimType;

/// A write's outcome, with a violation of a unique index turned into the SCIM `uniqueness`
/// conflict `taken` describes. The index is the one check of a name's uniqueness: it also holds
/// between concurrent writers, and costs no extra query.
pub(crate) fn unique(
    written: diesel::QueryResult<usize>,
    taken: impl FnOnce() -> String,
) -> crate::Result<usize> {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match written {
        Err(D::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(crate::Error::Conflict(taken()))
        }
        other => Ok(other?),
    }
}

/// Paging of a list query (1-based `startIndex`, RFC 7644 §3.4.2.4).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub start_index: i64,
    pub count: i64,
}

impl Page {
    pub fn offset(self) -> i64 {
        self.start_index.max(1) - 1
    }
}
