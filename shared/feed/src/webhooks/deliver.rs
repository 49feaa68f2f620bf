//! The deliverer: finds endpoints with events after their cursor, claims each with a lease
//! (so several processes can run it), and delivers its events one request at a time, in feed
//! order, from a task of its own: a slow or dead endpoint holds up only itself. An event that
//! fails is retried with backoff, and the events after it wait (strict order per endpoint),
//! until the retry window is over and the endpoint is marked failing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use seatflow_runtime::telemetry;
use seatflow_store::db::Db;
use seatflow_store::{Error, Result, time};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::event::FeedEvent;
use crate::log::{self, Query};
use crate::sequence;
use crate::webhooks::attempts::{self, Attempt, NewAttempt};
use crate::webhooks::endpoints::{self, Endpoint, Failure};
use crate::webhooks::{Settings, sign};

/// Events read per query of an endpoint's backlog.
const BATCH: i64 = 100;
/// How often the failing-endpoints gauge is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);
/// How often the delivery log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The most of a receiver's answer read (so its connection can be reused); the rest is dropped.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 500;

/// How an attempt ended (the deliveries metric's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Another answer, or none (refused, reset).
    Failed,
    /// No answer within the timeout.
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Timeout => "timeout",
        }
    }
}

/// What one request got.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outcome: Outcome,
    pub status_code: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// Signs and POSTs events: the HTTP client and its timeout.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    pub fn new(settings: &Settings) -> Result<Sender> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout())
            // A redirect is an answer to fix at the endpoint, not one to follow with the
            // signed payload.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Seatflow-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("webhook HTTP client: {e}")))?;
        Ok(Sender { client })
    }

    /// POSTs `event` to `endpoint`, signed with its live secrets.
    pub async fn send(&self, endpoint: &Endpoint, event: &FeedEvent) -> Sent {
        let started = Instant::now();
        let failed = |outcome, error: String| Sent {
            outcome,
            status_code: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        let body = match serde_json::to_string(event) {
            Ok(body) => body,
            Err(e) => return failed(Outcome::Failed, format!("cannot encode the event: {e}")),
        };
        let timestamp = Utc::now().timestamp();
        let now = time::now();
        let signature =
            match sign::header(&endpoint.live_secrets(&now), &event.id, timestamp, &body) {
                Ok(signature) => signature,
                Err(e) => return failed(Outcome::Failed, e.to_string()),
            };
        let request = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(outcome_of(&e), describe(e)),
        };
        let status = response.status();
        // The answer is read (within the timeout) so the connection can serve the next event.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) => break,
                Err(_) if !status.is_success() => break,
                Err(e) => return failed(outcome_of(&e), describe(e)),
            }
        }
        Sent {
            outcome: if status.is_success() {
                Outcome::Delivered
            } else {
                Outcome::Failed
            },
            status_code: Some(status.as_u16()),
            latency: started.elapsed(),
            error: (!status.is_success()).then(|| format!("HTTP {status}")),
        }
    }
}

fn outcome_of(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::Failed
    }
}

/// The error with its causes (reqwest's own message alone says only "error sending request").
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

fn attempt_of(
    endpoint: &Endpoint,
    event: &FeedEvent,
    number: i32,
    sent: &Sent,
    manual: bool,
) -> NewAttempt {
    NewAttempt {
        endpoint_id: endpoint.id.clone(),
        event_seq: event.sequence,
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt: number,
        status_code: sent.status_code.map(i32::from),
        latency_ms: i64::try_from(sent.latency.as_millis()).unwrap_or(i64::MAX),
        error: sent.error.clone(),
        manual,
        created_at: time::now(),
    }
}

/// How long ago `timestamp` (RFC 3339) was; zero if it cannot be read or is ahead.
fn age(timestamp: &str) -> Duration {
    DateTime::parse_from_rfc3339(timestamp)
        .ok()
        .and_then(|t| (Utc::now() - t.with_timezone(&Utc)).to_std().ok())
        .unwrap_or_default()
}

fn count(outcome: Outcome) {
    metrics::counter!(telemetry::WEBHOOK_DELIVERIES, "outcome" => outcome.as_str()).increment(1);
}

/// Sends one event to one endpoint now, on the operator's request, whatever the endpoint's
/// cursor and state (neither changes), and logs it as a manual attempt.
pub async fn redeliver(
    db: &Db,
    sender: &Sender,
    license_id: Option<String>,
    endpoint_id: String,
    event_id: String,
) -> Result<Attempt> {
    let (endpoint, event, earlier) = db
        .read(move |c| {
            let endpoint = endpoints::get(c, license_id.as_deref(), &endpoint_id)?;
            let event = log::get(c, &event_id)?
                .filter(|e| {
                    endpoint
                        .license_id
                        .as_ref()
                        .is_none_or(|l| *l == e.license_id)
                })
                .ok_or_else(|| Error::NotFound(format!("no event {event_id} for this webhook")))?;
            let earlier = attempts::count_for(c, &endpoint.id, &event.id)?;
            Ok((endpoint, event, earlier))
        })
        .await?;
    let sent = sender.send(&endpoint, &event).await;
    count(sent.outcome);
    let number = i32::try_from(earlier + 1).unwrap_or(i32::MAX);
    let attempt = attempt_of(&endpoint, &event, number, &sent, true);
    db.write(move |c| attempts::record_returning(c, &attempt))
        .await
}

/// What every endpoint task shares.
#[derive(Clone)]
struct Context {
    db: Db,
    sender: Sender,
    settings: Settings,
    stopped: watch::Receiver<bool>,
}

/// Runs the deliverer until `stopped`; endpoint tasks finish the request they are in.
pub async fn run(db: Db, settings: Settings, mut stopped: watch::Receiver<bool>) {
    let sender = match Sender::new(&settings) {
        Ok(sender) => sender,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery cannot start");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let context = Context {
        db,
        sender,
        settings,
        stopped: stopped.clone(),
    };
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut ticks = tokio::time::interval(context.settings.tick());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gauge_at = Instant::now();
    let mut prune_at = Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        while let Some(done) = tasks.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                Err(e) => {
                    tracing::error!(error = %e, "a webhook delivery task failed");
                    e.id()
                }
            };
            running.remove(&id);
        }
        let busy: HashSet<String> = running.values().cloned().collect();
        match claim_due(&context, &permits, &busy).await {
            Ok(claimed) => {
                for (endpoint, lease_until, permit) in claimed {
                    let endpoint_id = endpoint.id.clone();
                    let task = tasks.spawn(deliver_endpoint(
                        context.clone(),
                        endpoint,
                        lease_until,
                        permit,
                    ));
                    running.insert(task.id(), endpoint_id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for webhook deliveries"),
        }
        if Instant::now() >= gauge_at {
            gauge_at = Instant::now() + GAUGE_EVERY;
            match context.db.read(endpoints::failing_count).await {
                Ok(failing) => {
                    metrics::gauge!(telemetry::WEBHOOK_ENDPOINTS_FAILING).set(failing as f64);
                }
                Err(e) => tracing::warn!(error = %e, "could not count failing webhooks"),
            }
        }
        if Instant::now() >= prune_at {
            prune_at = Instant::now() + PRUNE_EVERY;
            let retention = context.settings.log_retention();
            match context
                .db
                .write(move |c| attempts::prune(c, retention))
                .await
            {
                Ok(pruned) if pruned > 0 => {
                    tracing::info!(pruned, "pruned the webhook delivery log")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune the webhook delivery log"),
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Sequences what committed since the last tick, then claims the due endpoints this process
/// has room for (a permit each) and is not already delivering.
async fn claim_due(
    context: &Context,
    permits: &Arc<Semaphore>,
    busy: &HashSet<String>,
) -> Result<Vec<(Endpoint, String, OwnedSemaphorePermit)>> {
    let db = &context.db;
    // A read first: most ticks find nothing new, and a write would queue behind writers.
    if db.read(log::unsequenced).await? {
        db.write(sequence::assign).await?;
    }
    let newest = db.read(log::newest).await?;
    let limit = i64::try_from(context.settings.concurrency.max(1) * 2).unwrap_or(i64::MAX);
    let due = db.read(move |c| endpoints::due(c, newest, limit)).await?;
    let mut claimed = Vec::new();
    for id in due {
        if busy.contains(&id) {
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            break;
        };
        let lease_until = time::after(context.settings.lease());
        let lease = lease_until.clone();
        if let Some(endpoint) = db.write(move |c| endpoints::claim(c, &id, &lease)).await? {
            claimed.push((endpoint, lease_until, permit));
        }
    }
    Ok(claimed)
}

/// One endpoint's task: delivers its backlog, then gives up its claim.
async fn deliver_endpoint(
    context: Context,
    endpoint: Endpoint,
    lease_until: String,
    _permit: OwnedSemaphorePermit,
) {
    let id = endpoint.id.clone();
    let lease_until = match deliver_backlog(&context, &endpoint, lease_until).await {
        Ok(lease_until) => lease_until,
        Err((lease_until, e)) => {
            tracing::warn!(webhook = %id, error = %e, "webhook delivery interrupted");
            lease_until
        }
    };
    let released = context
        .db
        .write(move |c| endpoints::release(c, &id, &lease_until))
        .await;
    if let Err(e) = released {
        // The lease runs out by itself.
        tracing::warn!(webhook = %endpoint.id, error = %e, "could not release a webhook claim");
    }
}

/// Delivers the events after the endpoint's cursor in order, until none are left, one fails,
/// the endpoint changes under it or the process stops. Returns the claim as last renewed.
async fn deliver_backlog(
    context: &Context,
    endpoint: &Endpoint,
    mut lease_until: String,
) -> std::result::Result<String, (String, Error)> {
    let db = &context.db;
    let filter = match endpoint.filter() {
        Ok(filter) => filter,
        Err(e) => return Err((lease_until, e)),
    };
    let mut cursor = endpoint.cursor;
    let mut failures = endpoint.attempts;
    let mut failing_since = endpoint.failing_since.clone();
    loop {
        // Every event up to `newest` is visible once it is read (the sequencer's promise), so
        // a short page means the cursor may move past all of them.
        let newest = match db.read(log::newest).await {
            Ok(newest) => newest,
            Err(e) => return Err((lease_until, e)),
        };
        let query = Query {
            license_id: endpoint.license_id.clone(),
            after: cursor,
            limit: BATCH,
            types: filter.clone(),
        };
        let events = match db.read(move |c| log::list(c, &query)).await {
            Ok(events) => events,
            Err(e) => return Err((lease_until, e)),
        };
        let complete = events.len() < usize::try_from(BATCH).unwrap_or(usize::MAX);
        for event in events {
            if *context.stopped.borrow() {
                return Ok(lease_until);
            }
            let sent = context.sender.send(endpoint, &event).await;
            count(sent.outcome);
            let attempt = attempt_of(endpoint, &event, failures + 1, &sent, false);
            if sent.outcome == Outcome::Delivered {
                metrics::histogram!(telemetry::WEBHOOK_DELIVERY_LAG)
                    .record(age(&event.timestamp).as_secs_f64());
                lease_until = time::after(context.settings.lease());
                let (id, lease, from, to) = (
                    endpoint.id.clone(),
                    lease_until.clone(),
                    cursor,
                    event.sequence,
                );
                let moved = db
                    .write(move |c| {
                        attempts::record(c, &attempt)?;
                        endpoints::advance(c, &id, from, to, &lease)
                    })
                    .await;
                match moved {
                    Ok(true) => {}
                    Ok(false) => return Ok(lease_until),
                    Err(e) => return Err((lease_until, e)),
                }
                cursor = event.sequence;
                failures = 0;
                failing_since = None;
            } else {
                let failure = next_failure(&context.settings, failures, failing_since, &sent);
                if failure.failed_at.is_some() {
                    tracing::warn!(webhook = %endpoint.id, error = %failure.error,
                        "webhook endpoint marked failing after its retry window");
                }
                let id = endpoint.id.clone();
                let recorded = db
                    .write(move |c| {
                        attempts::record(c, &attempt)?;
                        endpoints::failed(c, &id, cursor, &failure)
                    })
                    .await;
                return match recorded {
                    Ok(()) => Ok(lease_until),
                    Err(e) => Err((lease_until, e)),
                };
            }
        }
        if complete {
            if newest > cursor {
                let (id, lease) = (endpoint.id.clone(), lease_until.clone());
                let skipped = db
                    .write(move |c| endpoints::advance(c, &id, cursor, newest, &lease))
                    .await;
                if let Err(e) = skipped {
                    return Err((lease_until, e));
                }
            }
            return Ok(lease_until);
        }
    }
}

/// The endpoint's state after one more failed attempt: the next retry after the backoff, or
/// marked failing once the streak is older than the retry window.
fn next_failure(
    settings: &Settings,
    failures: i32,
    failing_since: Option<String>,
    sent: &Sent,
) -> Failure {
    let now = time::now();
    let failing_since = failing_since.unwrap_or_else(|| now.clone());
    let attempts = failures.saturating_add(1);
    let given_up = age(&failing_since) >= settings.retry_window();
    Failure {
        attempts,
        next_attempt_at: time::after(settings.backoff(u32::try_from(attempts).unwrap_or(1))),
        failed_at: given_up.then_some(now),
        failing_since,
        error: sent.error.clone().unwrap_or_else(|| "failed".into()),
    }
}
