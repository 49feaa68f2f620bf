//! Ends release grace periods: users whose `grace_until` passed get a licensing event, and the
//! reconcile it causes releases their seat (or place in the queue) and fills it. Any number of
//! API processes may run this; a duplicate event changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use seatflow_licensing::Change;
use seatflow_store::{seats, time};
use tokio::sync::watch;

use crate::http::request_id::RequestId;
use crate::state::AppState;

/// How often expired grace periods are looked for: a seat outlives its grace by at most this
/// (plus the worker's lag).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Users handled per sweep; the next sweep takes the rest.
const BATCH: i64 = 1000;

pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    let cause = RequestId("grace-period".into());
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let expired = match state
            .db
            .read(|c| seats::grace_expired(c, &time::now(), BATCH))
            .await
        {
            Ok(expired) => expired,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for expired grace periods");
                continue;
            }
        };
        let mut by_license: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (license_id, user_id) in expired {
            by_license.entry(license_id).or_default().push(user_id);
        }
        for (license_id, users) in by_license {
            let recorded = state
                .write_with_event(license_id, &cause, move |_, _| {
                    Ok(((), Change::users(users)))
                })
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not end a grace period");
            }
        }
    }
}
