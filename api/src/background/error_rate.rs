//! `directory.error_rate_high`: tells the change feed when a license's identity provider sees
//! many of its SCIM requests fail, before Entra quarantines the application (it does at more
//! than 40% failures over a window). Evaluated from the request log, so the requests of every
//! API process count. A failure is what `scim_requests::counts_as_failure` says.

use std::time::Duration;

use seatflow_feed::{EventType, NewEvent};
use seatflow_store::scim_requests::{self, WindowStats};
use seatflow_store::{Result, time};
use serde_json::json;
use tokio::sync::watch;

use crate::state::AppState;

/// Failure statuses named in the event, most frequent first.
const TOP_STATUSES: usize = 3;

pub async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.config.error_rate_interval_ms.max(1));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        if let Err(e) = evaluate(&state).await {
            tracing::warn!(error = %e, "could not evaluate the SCIM error rates");
        }
    }
}

/// What to do about one license's warning.
#[derive(Debug, PartialEq)]
enum Verdict {
    Raise,
    Clear,
    Keep,
}

/// Raised at `threshold` with enough requests to mean something; cleared below half of it, so
/// a share hovering at the threshold does not warn again and again.
fn verdict(stats: &WindowStats, warned: bool, threshold: f64, min_requests: i64) -> Verdict {
    let share = stats.failure_share();
    if !warned && stats.requests >= min_requests && share >= threshold {
        Verdict::Raise
    } else if warned && share < threshold / 2.0 {
        Verdict::Clear
    } else {
        Verdict::Keep
    }
}

async fn evaluate(state: &AppState) -> Result<()> {
    let config = &state.config;
    let window = Duration::from_secs(config.error_rate_window_secs);
    let (threshold, min_requests) = (config.error_rate_warn_share, config.error_rate_min_requests);
    let since = time::before(window);
    let (by_license, warned) = state
        .db
        .read(move |c| {
            Ok((
                scim_requests::window(c, &since)?,
                scim_requests::warned_licenses(c)?,
            ))
        })
        .await?;
    let quiet = WindowStats::default();
    let licenses = by_license
        .keys()
        .chain(warned.iter().filter(|id| !by_license.contains_key(*id)));
    for license_id in licenses {
        let stats = by_license.get(license_id).unwrap_or(&quiet);
        let is_warned = warned.contains(license_id);
        match verdict(stats, is_warned, threshold, min_requests) {
            Verdict::Raise => {
                let event = NewEvent::new(
                    EventType::DirectoryErrorRateHigh,
                    Some(license_id),
                    event_data(stats, window, threshold),
                );
                let id = license_id.clone();
                // The flag and the event in one transaction: of several API processes
                // evaluating at once, only the one that raised the flag tells the feed.
                state
                    .db
                    .write(move |c| {
                        if scim_requests::set_error_rate_warned(c, &id, true)? {
                            seatflow_feed::event::record(c, &id, &[event], None)?;
                        }
                        Ok(())
                    })
                    .await?;
            }
            Verdict::Clear => {
                let id = license_id.clone();
                state
                    .db
                    .write(move |c| scim_requests::set_error_rate_warned(c, &id, false))
                    .await?;
            }
            Verdict::Keep => {}
        }
    }
    Ok(())
}

fn event_data(stats: &WindowStats, window: Duration, threshold: f64) -> serde_json::Value {
    let mut statuses: Vec<(i32, i64)> = stats
        .failure_statuses
        .iter()
        .map(|(s, n)| (*s, *n))
        .collect();
    statuses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<_> = statuses
        .into_iter()
        .take(TOP_STATUSES)
        .map(|(status, count)| json!({ "status": status, "count": count }))
        .collect();
    json!({
        "failure_share": (stats.failure_share() * 1000.0).round() / 1000.0,
        "requests": stats.requests,
        "failures": stats.failures,
        "window_seconds": window.as_secs(),
        "threshold": threshold,
        "top_statuses": top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(requests: i64, failures: i64) -> WindowStats {
        WindowStats {
            requests,
            failures,
            failure_statuses: [(400, failures)].into(),
        }
    }

    #[test]
    fn warns_once_at_the_threshold_and_rearms_below_half_of_it() {
        assert_eq!(verdict(&stats(19, 19), false, 0.25, 20), Verdict::Keep);
        assert_eq!(verdict(&stats(20, 5), false, 0.25, 20), Verdict::Raise);
        assert_eq!(verdict(&stats(20, 5), true, 0.25, 20), Verdict::Keep);
        assert_eq!(verdict(&stats(100, 13), true, 0.25, 20), Verdict::Keep);
        assert_eq!(verdict(&stats(100, 12), true, 0.25, 20), Verdict::Clear);
        assert_eq!(
            verdict(&WindowStats::default(), true, 0.25, 20),
            Verdict::Clear
        );
    }

    #[test]
    fn the_event_names_the_most_frequent_failures() {
        let stats = WindowStats {
            requests: 40,
            failures: 12,
            failure_statuses: [(400, 6), (404, 1), (429, 3), (500, 2)].into(),
        };
        let data = event_data(&stats, Duration::from_secs(300), 0.25);
        assert_eq!(data["failure_share"], 0.3);
        assert_eq!(
            data["top_statuses"],
            json!([{"status": 400, "count": 6}, {"status": 429, "count": 3}, {"status": 500, "count": 2}])
        );
    }
}
