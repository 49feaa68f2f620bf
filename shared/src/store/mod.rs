//! Queries, as free functions over a `DbConn`, grouped by what they touch. Callers choose the
//! transaction (`Db::read` / `Db::write`).

pub mod audit;
pub mod filter_sql;
pub mod groups;
pub mod licensed_groups;
pub mod licenses;
pub mod listing;
pub mod outbox;
pub mod seats;
pub mod tokens;
pub mod users;

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
