//! The tasks an API process runs beside its HTTP server: the event pipeline's half that lives
//! here (the relay to RabbitMQ, or in the embedded default the licensing consumer itself), the
//! periodic safety-net reconcile, and the token cache's epoch watcher. (The dashboard's sampler
//! is the dashboard's.)

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
    safety_net: Option<JoinHandle<()>>,
    token_cache: JoinHandle<()>,
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
        let token_cache = tokio::spawn(token_cache::watch(
            state.db.clone(),
            state.tokens.clone(),
            stopped.clone(),
        ));
        Tasks {
            pipeline,
            safety_net,
            token_cache,
        }
    }

    /// Waits for the tasks that finish their work on stop (the pipeline's current batch).
    pub async fn join(self) -> std::io::Result<()> {
        self.pipeline.await.map_err(std::io::Error::other)?;
        if let Some(task) = self.safety_net {
            task.abort();
        }
        self.token_cache.await.map_err(std::io::Error::other)
    }

    pub fn abort(&self) {
        self.pipeline.abort();
        if let Some(task) = &self.safety_net {
            task.abort();
        }
        self.token_cache.abort();
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
