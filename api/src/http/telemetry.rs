//! Request telemetry: a log span per request carrying its request id, the request counter and
//! latency histogram by matched route, and `/metrics` in Prometheus text format.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use seatflow_runtime::telemetry::{self, HTTP_DURATION, HTTP_REQUESTS};
use tracing::Instrument;

use crate::http::auth::MetricsReader;
use crate::http::request_id::RequestId;
use crate::state::AppState;

/// The process's Prometheus recorder, installed on first use (the recorder is process-global,
/// and tests run several servers in one process).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = telemetry::prometheus()
            .install_recorder()
            .expect("the only metrics recorder of this process");
        telemetry::describe();
        handle
    })
}

/// The route template a request matched, handed from the routing layer to `observe`.
#[derive(Clone)]
struct MatchedRoute(String);

/// A route layer: records which route matched (only known after routing).
pub async fn matched_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(MatchedRoute(route));
    }
    response
}

/// Runs the request in a span with its request id and records its outcome.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let method = request.method().clone();
    // The path only: query strings carry filter values, which are customer data.
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id, %method, path = logged_path(&path));
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or("unmatched", |r| r.0.as_str())
        .to_owned();
    let elapsed = started.elapsed();
    let labels = [
        ("route", route),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
    if is_scim(&path) {
        state.scim_requests.record(status);
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_millis() as u64,
            "request finished"
        );
    });
    response
}

/// A path as the logs may show it: a setup link's path is its secret, which no log may hold.
fn logged_path(path: &str) -> &str {
    if path.starts_with(SETUP_LINK_PATH) {
        SETUP_LINK_PATH
    } else {
        path
    }
}

const SETUP_LINK_PATH: &str = "/admin/setup/";

fn is_scim(path: &str) -> bool {
    path.starts_with("/scim/v2") || path.starts_with("/api/v1/scim")
}

/// `GET /metrics`: open unless `SEATFLOW_METRICS_TOKEN` is set, then that Bearer token.
pub async fn metrics(_: MetricsReader) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
        .into_response()
}
