//! Health checks for orchestrators and load balancers: `/healthz` (the process answers) and
//! `/readyz` (it can do its work: the database answers and, in distributed mode, the relay is
//! connected to the broker).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::AppState;

/// A database that takes longer than this to answer counts as down.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub database: Check,
    pub broker: Check,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    Down,
    /// Embedded mode: there is no broker.
    NotConfigured,
}

/// 200 when ready, 503 otherwise; the body says which dependency is down.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let ping = state.db.read(seatflow_store::db::ping);
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, ping).await {
        Ok(Ok(())) => Check::Ok,
        _ => Check::Down,
    };
    let broker = match state.config.amqp_url {
        None => Check::NotConfigured,
        Some(_) if state.broker_connected.load(Ordering::Relaxed) => Check::Ok,
        Some(_) => Check::Down,
    };
    let ready = database == Check::Ok && broker != Check::Down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            database,
            broker,
        }),
    )
}
