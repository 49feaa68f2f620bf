//! The sequencer: gives committed events their place in the feed (`seq`), in commit order.
//! Insert ids are not enough on PostgreSQL: a transaction that took id 7 may commit after one
//! that took id 8, and a reader past 8 would never see 7. Sequencing runs after commit, one
//! sequencer at a time (an advisory lock), so every event a reader sees has all lower
//! sequence numbers already visible. SQLite runs one writer at a time anyway.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use seatflow_store::Result;
use seatflow_store::db::DbConn;

/// Serialises sequencers of several processes on one PostgreSQL database.
const LOCK_KEY: i64 = 0x5ea7_feed;

/// Events sequenced per call; the rest wait for the next.
pub const BATCH: i64 = 5000;

/// Sequences the committed events that have no place yet, oldest insert first; returns how
/// many. Run it in a write transaction.
pub fn assign(conn: &mut DbConn) -> Result<usize> {
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({LOCK_KEY})")).execute(pg)?;
    }
    // On PostgreSQL each statement reads what was committed when it starts: after the lock,
    // so the last number given is the last sequencer's.
    let assigned = diesel::sql_query(
        "UPDATE feed_events AS f SET seq = top.last_seq + todo.n \
         FROM (SELECT last_seq FROM feed_sequence WHERE id = 1) AS top, \
              (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM feed_events \
               WHERE seq IS NULL ORDER BY id LIMIT $1) AS todo \
         WHERE f.id = todo.id",
    )
    .bind::<BigInt, _>(BATCH)
    .execute(conn)?;
    if assigned > 0 {
        diesel::sql_query("UPDATE feed_sequence SET last_seq = last_seq + $1 WHERE id = 1")
            .bind::<BigInt, _>(assigned as i64)
            .execute(conn)?;
    }
    Ok(assigned)
}
