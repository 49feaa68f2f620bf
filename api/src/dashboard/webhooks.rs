//! The dashboard's webhook readings: attempts by outcome, how far the endpoints are behind the
//! feed, and how many are failing. From the database, so every process's deliveries count (the
//! `seatflow_webhook_*` metrics are each process's own).

use seatflow_feed::webhooks::endpoints;
use seatflow_queue::monitor;
use seatflow_store::Result;
use seatflow_store::db::DbConn;
use seatflow_store::webhook_monitor::{self, Outcomes};
use serde::Serialize;

/// The webhook readings of one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reading {
    /// Over the last minute.
    pub deliveries_per_min: Outcomes,
    /// Age of the oldest event an enabled endpoint has yet to handle; None when all are up
    /// to date.
    pub lag_secs: Option<i64>,
    pub endpoints_failing: i64,
}

pub fn read(conn: &mut DbConn, minute_ago: &str, now: &str) -> Result<Reading> {
    Ok(Reading {
        deliveries_per_min: webhook_monitor::outcomes_since(conn, minute_ago)?,
        lag_secs: webhook_monitor::oldest_undelivered_at(conn)?
            .and_then(|at| monitor::millis_between(&at, now))
            .map(|ms| ms / 1000),
        endpoints_failing: endpoints::failing_count(conn)?,
    })
}
