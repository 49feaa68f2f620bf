//! Applying events: the one place both transports hand their batches to. A batch is grouped by
//! license and each license is reconciled in one transaction; if that fails, its events are
//! retried one by one so that a poison event fails alone.

use std::collections::BTreeMap;

use seatflow_shared::db::{Db, DbConn};
use seatflow_shared::events::Envelope;
use seatflow_shared::store::outbox::{self, OutboxRow};
use seatflow_shared::{Error, Result, licensing};

/// An event of a batch that could not be applied, with why.
#[derive(Debug)]
pub struct Failed {
    pub row: OutboxRow,
    pub error: String,
}

/// Applies the events and returns those that failed (the rest are applied and marked so).
pub async fn apply_batch(db: &Db, rows: Vec<OutboxRow>) -> Vec<Failed> {
    let mut failed = Vec::new();
    let mut by_license: BTreeMap<String, Vec<(OutboxRow, Envelope)>> = BTreeMap::new();
    for row in rows {
        match row.envelope() {
            Ok(envelope) => by_license
                .entry(row.license_id.clone())
                .or_default()
                .push((row, envelope)),
            Err(error) => failed.push(Failed {
                row,
                error: error.to_string(),
            }),
        }
    }
    for (license_id, events) in by_license {
        let envelopes: Vec<Envelope> = events.iter().map(|(_, e)| e.clone()).collect();
        match apply_license(db, &license_id, envelopes).await {
            Ok(()) => {}
            // A database outage fails every event alike (no point in splitting), and so does
            // the failure of a single event.
            Err(error) if matches!(error, Error::Unavailable(_)) || events.len() == 1 => {
                let error = error.to_string();
                failed.extend(events.into_iter().map(|(row, _)| Failed {
                    row,
                    error: error.clone(),
                }));
            }
            Err(_) => {
                for (row, envelope) in events {
                    if let Err(error) = apply_license(db, &license_id, vec![envelope]).await {
                        failed.push(Failed {
                            row,
                            error: error.to_string(),
                        });
                    }
                }
            }
        }
    }
    failed
}

async fn apply_license(db: &Db, license_id: &str, events: Vec<Envelope>) -> Result<()> {
    let license_id = license_id.to_owned();
    db.write(move |c| reconcile(c, &license_id, &events)).await
}

/// Reconciles one license for its events (the seat engine), in the caller's transaction, and
/// marks the events applied with it.
pub fn reconcile(conn: &mut DbConn, license_id: &str, events: &[Envelope]) -> Result<()> {
    licensing::reconcile(conn, license_id, events)?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    outbox::mark_applied(conn, &ids)
}
