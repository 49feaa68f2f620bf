//! The application state every handler is given: the database, the configuration and the
//! process's shared parts (token cache, admission, counters). It knows no handler.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use seatflow_feed::NewEvent;
use seatflow_licensing::Change;
use seatflow_runtime::telemetry::EVENTS_RECORDED;
use seatflow_scim::limits::Limits;
use seatflow_store::Result;
use seatflow_store::db::{Db, DbConn};
use tokio::sync::Notify;

use crate::config::Config;
use crate::dashboard::history::{History, ScimCounters};
use crate::http::admission::{Admission, RateLimiter};
use crate::http::request_id::RequestId;
use crate::http::token_cache::TokenCache;
use crate::scim::request_buffer::PendingRequests;
use crate::scim::request_log::RequestLog;

pub struct App {
    pub db: Db,
    pub config: Config,
    /// What the filter parser and the PATCH engine accept, from `config`.
    pub limits: Limits,
    /// The operator's bearer token (configured, or generated at start in the embedded default).
    pub admin_token: String,
    /// Woken after each committed write, so the relay or embedded worker picks it up at once.
    pub events_recorded: Arc<Notify>,
    /// SCIM requests by license and status over the last hour (this process).
    pub requests: RequestLog,
    /// SCIM requests answered and not yet written to the request log (`background::request_log`).
    pub pending_requests: PendingRequests,
    /// Per-tenant request rate limits (this process).
    pub rate_limiter: RateLimiter,
    /// Per-tenant admission: each tenant's share of this process (limits.rs).
    pub admission: Admission,
    /// Secret tokens resolved by this process, dropped when the authentication epoch moves.
    pub tokens: Arc<TokenCache>,
    /// Whether the relay holds a broker connection (distributed mode), for `/readyz`.
    pub broker_connected: Arc<AtomicBool>,
    pub scim_requests: ScimCounters,
    pub history: History,
    /// Licenses whose first sync this process has seen recorded (`scim::feed::first_sync`), so
    /// later creates do not touch the license row again.
    pub first_synced: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What a write causes besides its own rows, recorded in its transaction: the licensing work
/// (`Change`) and the change feed's events.
#[derive(Debug, Default)]
pub struct Effects {
    pub change: Change,
    pub events: Vec<NewEvent>,
}

impl Effects {
    pub fn new(change: Change, events: Vec<NewEvent>) -> Effects {
        Effects { change, events }
    }
}

impl From<Change> for Effects {
    fn from(change: Change) -> Effects {
        Effects::new(change, Vec::new())
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, config: Config, admin_token: String) -> Self {
        AppState(Arc::new(App {
            db,
            rate_limiter: RateLimiter::new(config.rate_limit_per_sec, config.rate_limit_burst),
            tokens: Arc::default(),
            admission: Admission::new(
                config.tenant_max_in_flight,
                std::time::Duration::from_millis(config.tenant_max_wait_ms),
            ),
            limits: config.limits(),
            config,
            admin_token,
            events_recorded: Arc::new(Notify::new()),
            requests: RequestLog::default(),
            pending_requests: PendingRequests::default(),
            broker_connected: Arc::new(AtomicBool::new(false)),
            scim_requests: ScimCounters::default(),
            history: History::default(),
            first_synced: Default::default(),
        }))
    }

    /// Runs a SCIM write in one transaction together with what it causes ([`Effects`]): the
    /// licensing event (`seatflow_licensing::record`), so that nothing acknowledged can miss
    /// its licensing, and the change feed's events, so that the feed tells exactly what
    /// committed. `work` is given the license id and returns its result and its effects.
    pub async fn write_with_event<T, E, F>(
        &self,
        license_id: String,
        request: &RequestId,
        work: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        E: Into<Effects>,
        F: FnOnce(&mut DbConn, &str) -> Result<(T, E)> + Send + 'static,
    {
        let request_id = request.0.clone();
        let (result, recorded) = self
            .db
            .write(move |c| {
                let (result, effects) = work(c, &license_id)?;
                let Effects { change, events } = effects.into();
                let recorded =
                    seatflow_licensing::record(c, &license_id, &change, Some(&request_id))?;
                seatflow_feed::event::record(c, &license_id, &events, Some(&request_id))?;
                Ok((result, recorded))
            })
            .await?;
        if recorded {
            metrics::counter!(EVENTS_RECORDED).increment(1);
            self.events_recorded.notify_one();
        }
        Ok(result)
    }

    /// Runs an operator's or license admin's change (`commands`) like a write, then drops this
    /// process's cached tokens: a command may have ended a token's access, and the change must
    /// hold here at once (other processes see the authentication epoch move within
    /// `token_cache::POLL`).
    pub async fn command<T, E, F>(
        &self,
        license_id: String,
        request: &RequestId,
        work: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        E: Into<Effects>,
        F: FnOnce(&mut DbConn, &str) -> Result<(T, E)> + Send + 'static,
    {
        let result = self.write_with_event(license_id, request, work).await;
        self.tokens.forget();
        result
    }
}
