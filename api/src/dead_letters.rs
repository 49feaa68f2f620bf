//! Dead letters over the admin API: list them and put one back in line. The database is the
//! source of truth; in RabbitMQ mode the parked copy is dropped too, so the parking queue keeps
//! mirroring what is dead.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use seatflow_shared::Error;
use seatflow_shared::store::outbox::{self, DeadLetter};
use serde::Serialize;

use crate::app::AppState;
use crate::auth::Operator;
use crate::error::ApiResult;

/// Longest wait for the broker while dropping a parked copy; the replay stands regardless.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn list(_: Operator, State(state): State<AppState>) -> ApiResult<Json<Vec<DeadLetter>>> {
    Ok(Json(state.0.db.read(outbox::dead_letters).await?))
}

#[derive(Debug, Serialize)]
pub struct Replayed {
    pub replayed: Vec<i64>,
}

/// `POST /api/v1/dead-letters/{id}/replay`: the event gets fresh attempts.
pub async fn replay(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Replayed>> {
    let replayed = state
        .0
        .db
        .write(move |c| outbox::replay(c, Some(&[id])))
        .await?;
    if replayed.is_empty() {
        return Err(Error::NotFound(format!("no dead letter {id}")).into());
    }
    state.0.events_recorded.notify_one();
    if let Some(url) = &state.0.config.amqp_url {
        let discard =
            seatflow_worker::amqp::parking::discard(url, &state.0.config.worker, &replayed);
        // A parked copy left behind is only a stale mirror: the replay itself has happened.
        match tokio::time::timeout(DISCARD_TIMEOUT, discard).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(event = id, error = %e, "could not drop the parked copy"),
            Err(_) => tracing::warn!(event = id, "the broker did not answer; parked copy kept"),
        }
    }
    Ok(Json(Replayed { replayed }))
}
