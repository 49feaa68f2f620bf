//! The tasks an API process runs beside its HTTP server: the event pipeline's half that lives
//! here (the relay to RabbitMQ, or in the embedded default the licensing consumer itself), the
//! periodic safety-net reconcile, the token cache's epoch watcher, the SCIM request log's
//! writer, the error-rate warning, the change feed's sequencer, the end of release grace
//! periods, the seat history's pruning and,
//! in the embedded default, webhook delivery. (The dashboard's sampler is the dashboard's.)

mod error_rate;
mod feed;
mod grace;
mod request_log;
mod seat_history;

use std::time::Duration;

use seatflow_licensing::Change;
use seatflow_store::licenses;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::request_id::RequestId;
use crate::http::token_cache;
use crate::state::AppState;

/// Every background task of a server, stopped together.
pub struct Tasks {
    pipeline: JoinHandle<()>,
    token_cache: JoinHandle<()>,
    request_log: JoinHandle<()>,
    /// The tasks with nothing to finish on stop, aborted then: the safety net, the error-rate
    /// warning, the feed's sequencer, the grace sweep, the seat history's pruning (when a retention is set) and,
    /// in the embedded default, webhook delivery (`seatflow-worker` runs it otherwise; an event
    /// whose delivery is cut short is sent again: at least once).
    periodic: Vec<JoinHandle<()>>,
    /// For the request log's last flush, after the HTTP server stopped.
    state: AppState,
}

impl Tasks {
    pub fn spawn(state: &AppState, stopped: &watch::Receiver<bool>) -> Tasks {
        let config = &state.config;
        let wake = state.events_recorded.clone();
        let pipeline = match &config.amqp_url {
            Some(url) => tokio::spawn(seatflow_queue::relay::run(
                state.db.clone(),
                url.clone(),
                config.worker.clone(),
                wake,
                state.broker_connected.clone(),
                stopped.clone(),
            )),
            None => tokio::spawn(seatflow_licensing::consume_embedded(
                state.db.clone(),
                config.worker.clone(),
                wake,
                stopped.clone(),
            )),
        };
        let safety_net = (config.reconcile_interval_secs > 0).then(|| {
            tokio::spawn(safety_net(
                state.clone(),
                Duration::from_secs(config.reconcile_interval_secs),
                stopped.clone(),
            ))
        });
        let webhooks = config.amqp_url.is_none().then(|| {
            tokio::spawn(seatflow_feed::webhooks::deliver::run(
                state.db.clone(),
                config.webhooks.clone(),
                stopped.clone(),
            ))
        });
        let retention = config.seat_history_retention_days;
        let seat_history = (retention > 0)
            .then(|| tokio::spawn(seat_history::run(state.clone(), retention, stopped.clone())));
        let token_cache = tokio::spawn(token_cache::watch(
            state.db.clone(),
            state.tokens.clone(),
            stopped.clone(),
        ));
        let mut periodic = vec![
            tokio::spawn(error_rate::run(state.clone(), stopped.clone())),
            tokio::spawn(feed::run(state.clone(), stopped.clone())),
            tokio::spawn(grace::run(state.clone(), stopped.clone())),
        ];
        periodic.extend([safety_net, seat_history, webhooks].into_iter().flatten());
        Tasks {
            pipeline,
            token_cache,
            request_log: tokio::spawn(request_log::run(state.clone(), stopped.clone())),
            periodic,
            state: state.clone(),
        }
    }

    /// Waits for the tasks that finish their work on stop (the pipeline's current batch).
    pub async fn join(self) -> std::io::Result<()> {
        self.pipeline.await.map_err(std::io::Error::other)?;
        self.periodic.iter().for_each(JoinHandle::abort);
        self.request_log.await.map_err(std::io::Error::other)?;
        request_log::flush(&self.state).await;
        self.token_cache.await.map_err(std::io::Error::other)
    }

    pub fn abort(&self) {
        self.pipeline.abort();
        self.token_cache.abort();
        self.request_log.abort();
        self.periodic.iter().for_each(JoinHandle::abort);
    }
}

/// Periodically asks for a full reconcile of every license: whatever an event could have missed
/// (a bug, a manual database edit) is repaired within one interval. Each license's event is
/// recorded like any other write's.
async fn safety_net(state: AppState, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    let cause = RequestId("safety-net".into());
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let listed = state.db.read(|c| licenses::list(c, 0, i64::MAX)).await;
        let licenses = match listed {
            Ok(licenses) => licenses,
            Err(e) => {
                tracing::warn!(error = %e, "could not schedule the periodic reconcile");
                continue;
            }
        };
        for license in licenses {
            let recorded = state
                .write_with_event(license.id, &cause, |_, _| Ok(((), Change::full())))
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not schedule a periodic reconcile");
            }
        }
    }
}
