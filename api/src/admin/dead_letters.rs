//! Dead letters over the admin API: list them and put one back in line
//! (`seatflow_queue::dead_letters`, which the worker's CLI uses too).

use axum::Json;
use axum::extract::State;
use seatflow_queue::dead_letters;
use seatflow_queue::outbox::{self, DeadLetter};
use seatflow_store::Error;
use serde::Serialize;

use crate::http::auth::Operator;
use crate::http::body::Path;
use crate::http::error::ApiResult;
use crate::state::AppState;

pub async fn list(_: Operator, State(state): State<AppState>) -> ApiResult<Json<Vec<DeadLetter>>> {
    Ok(Json(state.db.read(outbox::dead_letters).await?))
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
    let broker = (state.config.amqp_url.as_deref()).map(|url| (url, &state.config.worker));
    let replayed = dead_letters::replay(&state.db, broker, Some(vec![id])).await?;
    if replayed.is_empty() {
        return Err(Error::NotFound(format!("no dead letter {id}")).into());
    }
    state.events_recorded.notify_one();
    Ok(Json(Replayed { replayed }))
}
