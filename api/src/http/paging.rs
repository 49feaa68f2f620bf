//! `offset`/`limit` paging of the admin API's lists.

use serde::Deserialize;

/// Largest page of an admin list.
const MAX_LIMIT: i64 = 1000;
const DEFAULT_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

impl Paging {
    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }

    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(0, MAX_LIMIT)
    }
}
