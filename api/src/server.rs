//! A running server: the HTTP API plus its background task — the outbox relay (with a broker)
//! or the embedded worker (without). Used by `seatflow-api serve` and by the tests alike.

use std::io;
use std::time::Duration;

use seatflow_shared::db::Db;
use seatflow_shared::events::Change;
use seatflow_shared::store::{licenses, outbox};
use seatflow_worker::amqp::Topology;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{AppState, router};
use crate::config::Config;
use crate::relay;

pub struct Server {
    stop: watch::Sender<bool>,
    http: JoinHandle<io::Result<()>>,
    background: JoinHandle<()>,
    safety_net: Option<JoinHandle<()>>,
}

impl Server {
    pub fn spawn(listener: TcpListener, db: Db, config: Config, admin_token: String) -> Server {
        let (stop, stopped) = watch::channel(false);
        let state = AppState::new(db.clone(), config.clone(), admin_token);
        let wake = state.0.events_recorded.clone();
        let background = match &config.amqp_url {
            Some(url) => {
                let topology = Topology {
                    prefix: config.worker.amqp_prefix.clone(),
                    tiers: config.worker.retry().tiers(),
                };
                tokio::spawn(relay::run(db, url.clone(), topology, wake, stopped.clone()))
            }
            None => tokio::spawn(seatflow_worker::embedded::run(
                db,
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
        let mut http_stopped = stopped;
        let http = tokio::spawn(async move {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        Server {
            stop,
            http,
            background,
            safety_net,
        }
    }

    /// Stops taking requests, lets in-flight ones and the current batch finish, then returns.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        let http = self.http.await.map_err(io::Error::other)?;
        self.background.await.map_err(io::Error::other)?;
        if let Some(task) = self.safety_net {
            task.abort();
        }
        http
    }

    /// Stops at once, without waiting (for tests that drop a server).
    pub fn abort(&self) {
        let _ = self.stop.send(true);
        self.http.abort();
        self.background.abort();
        if let Some(task) = &self.safety_net {
            task.abort();
        }
    }
}

/// Periodically asks for a full reconcile of every license: whatever an event could have missed
/// (a bug, a manual database edit) is repaired within one interval.
async fn safety_net(state: AppState, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let recorded = state
            .0
            .db
            .write(|c| {
                for license in licenses::list(c, 0, i64::MAX)? {
                    outbox::enqueue(c, &license.id, &Change::full(), None)?;
                }
                Ok(())
            })
            .await;
        match recorded {
            Ok(()) => state.0.events_recorded.notify_one(),
            Err(e) => tracing::warn!(error = %e, "could not schedule the periodic reconcile"),
        }
    }
}
