//! Dead letters: events that exhausted their attempts, listed and put back in line. The
//! database is the source of truth; with a broker, the parked copies are dropped too, so the
//! parking queue keeps mirroring what is dead. The API and the worker's CLI both replay here.

use std::time::Duration;

use seatflow_store::Result;
use seatflow_store::db::Db;

use crate::Settings;
use crate::outbox;
use crate::rabbitmq::parking;

/// Longest wait for the broker while dropping parked copies; the replay stands regardless.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Gives the dead events `ids` (every one with None) fresh attempts; returns the ids replayed.
/// `broker`: the AMQP URL and settings of a distributed deployment, whose parked copies go.
pub async fn replay(
    db: &Db,
    broker: Option<(&str, &Settings)>,
    ids: Option<Vec<i64>>,
) -> Result<Vec<i64>> {
    let replayed = db.write(move |c| outbox::replay(c, ids.as_deref())).await?;
    if let Some((url, settings)) = broker
        && !replayed.is_empty()
    {
        // A parked copy left behind is only a stale mirror: the replay itself has happened.
        match tokio::time::timeout(DISCARD_TIMEOUT, parking::discard(url, settings, &replayed))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not drop the parked copies"),
            Err(_) => tracing::warn!("the broker did not answer; parked copies kept"),
        }
    }
    Ok(replayed)
}
