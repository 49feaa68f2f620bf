//! A running server: the HTTP API plus its background task — the outbox relay (with a broker)
//! or the embedded worker (without). Used by `seatflow-api serve` and by the tests alike.

use std::io;

use seatflow_shared::db::Db;
use seatflow_worker::amqp::Topology;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{AppState, router};
use crate::config::Config;
use crate::dashboard::sampler;
use crate::relay;

pub struct Server {
    stop: watch::Sender<bool>,
    http: JoinHandle<io::Result<()>>,
    background: JoinHandle<()>,
    sampler: JoinHandle<()>,
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
                tokio::spawn(relay::run(
                    db,
                    url.clone(),
                    topology,
                    wake,
                    state.0.broker_connected.clone(),
                    stopped.clone(),
                ))
            }
            None => tokio::spawn(seatflow_worker::embedded::run(
                db,
                config.worker.clone(),
                wake,
                stopped.clone(),
            )),
        };
        // Installs the recorder before the first request is counted.
        crate::telemetry::prometheus();
        let sampler = tokio::spawn(sampler::run(state.clone(), stopped.clone()));
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
            sampler,
        }
    }

    /// Stops taking requests, lets in-flight ones and the current batch finish, then returns.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        let http = self.http.await.map_err(io::Error::other)?;
        self.background.await.map_err(io::Error::other)?;
        self.sampler.await.map_err(io::Error::other)?;
        http
    }

    /// Stops at once, without waiting (for tests that drop a server).
    pub fn abort(&self) {
        let _ = self.stop.send(true);
        self.http.abort();
        self.background.abort();
        self.sampler.abort();
    }
}
