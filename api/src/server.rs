//! A running server: the HTTP API plus its background tasks (`background`). Used by
//! `seatflow-api serve` and by the tests alike.

use std::io;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use seatflow_store::db::Db;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::background::Tasks;
use crate::config::Config;
use crate::dashboard::sampler;
use crate::http::wire::{self, NormalizedIo};
use crate::http::{self, telemetry};
use crate::routes::router;
use crate::state::AppState;

pub struct Server {
    stop: watch::Sender<bool>,
    http: JoinHandle<()>,
    tasks: Tasks,
    sampler: JoinHandle<()>,
}

impl Server {
    pub fn spawn(listener: TcpListener, db: Db, config: Config, admin_token: String) -> Server {
        let (stop, stopped) = watch::channel(false);
        let state = AppState::new(db, config.clone(), admin_token);
        let tasks = Tasks::spawn(&state, &stopped);
        // Installs the recorder before the first request is counted.
        telemetry::prometheus();
        let sampler = tokio::spawn(sampler::run(state.clone(), stopped.clone()));
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
            tasks,
            sampler,
        }
    }

    /// Stops taking requests, lets in-flight ones and the current batch finish, then returns.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        self.http.await.map_err(io::Error::other)?;
        self.tasks.join().await?;
        self.sampler.await.map_err(io::Error::other)
    }

    /// Stops at once, without waiting (for tests that drop a server).
    pub fn abort(&self) {
        let _ = self.stop.send(true);
        self.http.abort();
        self.tasks.abort();
        self.sampler.abort();
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
