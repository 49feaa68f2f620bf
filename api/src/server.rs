//! A running server: the HTTP API plus its background task — the outbox relay (with a broker)
//! or the embedded worker (without). Used by `seatflow-api serve` and by the tests alike.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use seatflow_shared::db::Db;
use seatflow_shared::events::Change;
use seatflow_shared::store::{licenses, outbox};
use seatflow_worker::amqp::Topology;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::app::{AppState, router};
use crate::config::Config;
use crate::dashboard::sampler;
use crate::http::{
    self,
    wire::{self, NormalizedIo},
};
use crate::{relay, token_cache};

pub struct Server {
    stop: watch::Sender<bool>,
    http: JoinHandle<()>,
    background: JoinHandle<()>,
    safety_net: Option<JoinHandle<()>>,
    sampler: JoinHandle<()>,
    token_cache: JoinHandle<()>,
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
        let safety_net = (config.reconcile_interval_secs > 0).then(|| {
            tokio::spawn(safety_net(
                state.clone(),
                Duration::from_secs(config.reconcile_interval_secs),
                stopped.clone(),
            ))
        });
        // Installs the recorder before the first request is counted.
        crate::telemetry::prometheus();
        let sampler = tokio::spawn(sampler::run(state.clone(), stopped.clone()));
        let token_cache = tokio::spawn(token_cache::watch(
            state.0.db.clone(),
            state.0.tokens.clone(),
            stopped.clone(),
        ));
        let mut http = http1::Builder::new();
        // The connection layer enforces SEATFLOW_MAX_HEADER_BYTES on the head as received;
        // hyper sees it normalised, percent-encoding up to triples the request line. (hyper
        // refuses a buffer under 8 KiB.)
        let normalized_max = config.max_header_bytes.saturating_mul(3).max(8192);
        http.max_buf_size(normalized_max)
            .max_header_size(normalized_max)
            .max_headers(wire::MAX_HEADERS);
        let http = tokio::spawn(serve(
            listener,
            router(state),
            http,
            config.max_header_bytes,
            stopped,
        ));
        Server {
            stop,
            http,
            background,
            safety_net,
            sampler,
            token_cache,
        }
    }

    /// Stops taking requests, lets in-flight ones and the current batch finish, then returns.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        self.http.await.map_err(io::Error::other)?;
        self.background.await.map_err(io::Error::other)?;
        if let Some(task) = self.safety_net {
            task.abort();
        }
        self.token_cache.await.map_err(io::Error::other)?;
        self.sampler.await.map_err(io::Error::other)
    }

    /// Stops at once, without waiting (for tests that drop a server).
    pub fn abort(&self) {
        let _ = self.stop.send(true);
        self.http.abort();
        self.background.abort();
        if let Some(task) = &self.safety_net {
            task.abort();
        }
        self.sampler.abort();
        self.token_cache.abort();
    }
}

/// Serves HTTP/1 until `stopped`, then lets the requests in flight finish. Every connection's
/// request heads pass the connection layer (`http::wire`) before hyper parses them.
async fn serve(
    mut listener: TcpListener,
    router: Router,
    http: http1::Builder,
    max_head_bytes: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let connections = GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            // axum's accept: retries transient errors (e.g. too many open files) after a pause.
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let service = TowerToHyperService::new(router.clone().map_request(http::collapse_slashes));
        let io = TokioIo::new(NormalizedIo::new(stream, max_head_bytes));
        let connection = connections.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
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
