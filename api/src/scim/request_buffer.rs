//! The persisted SCIM request log's in-memory side: each authenticated request is pushed here as
//! it is answered (no database write on the request path) and written in batches by
//! `background::request_log`. Paths are redacted before they are kept: no query value that may
//! carry personal data, no body, no header.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use seatflow_scim::filter::{self, CompValue, Filter};
use seatflow_scim::limits::Limits;
use seatflow_store::scim_requests::NewRequest;

/// Requests held between two flushes; past it new ones are dropped (and counted) rather than
/// letting a stalled database grow the process without bound.
const CAPACITY: usize = 20_000;

/// Longest path kept, in bytes.
const MAX_PATH: usize = 512;

/// Longest value kept of a parameter whose value is kept.
const MAX_VALUE: usize = 200;

/// Query parameters whose values are kept: paging, projection and sorting, never personal data.
const KEPT_VALUES: [&str; 6] = [
    "startIndex",
    "count",
    "attributes",
    "excludedAttributes",
    "sortBy",
    "sortOrder",
];

/// Requests waiting to be written.
#[derive(Default)]
pub struct PendingRequests {
    pending: Mutex<Vec<NewRequest>>,
    dropped: AtomicU64,
}

impl PendingRequests {
    pub fn push(&self, request: NewRequest) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.len() < CAPACITY {
            pending.push(request);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Everything pushed so far, and how many were dropped since the last take.
    pub fn take(&self) -> (Vec<NewRequest>, u64) {
        let taken = self
            .pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default();
        (taken, self.dropped.swap(0, Ordering::Relaxed))
    }

    /// Puts back a batch that could not be written, as far as there is room.
    pub fn restore(&self, mut batch: Vec<NewRequest>) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let room = CAPACITY.saturating_sub(pending.len());
        if batch.len() > room {
            let lost = batch.len() - room;
            batch.truncate(room);
            self.dropped
                .fetch_add(u64::try_from(lost).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        // The older batch goes first, so the log keeps arrival order.
        batch.append(&mut pending);
        *pending = batch;
    }
}

/// A request target as the log keeps it: the path (resource ids are fine) and the query's
/// parameter names (those that look like names); values only of [`KEPT_VALUES`], and a
/// `filter` reduced to its attributes and operators (`filter=userName eq "…"`).
pub fn redact(path: &str, query: Option<&str>, limits: &Limits) -> String {
    let mut kept = truncate(path, MAX_PATH).to_owned();
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return kept;
    };
    let params: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("filter") {
                format!("{name}={}", redact_filter(&value, limits))
            } else if KEPT_VALUES.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
                format!("{name}={}", truncate(&value, MAX_VALUE))
            } else if is_plain_name(&name) {
                format!("{name}=…")
            } else {
                // A "name" such as `?ada@contoso.com` is a value in disguise.
                "(parameter)=…".to_owned()
            }
        })
        .collect();
    kept.push('?');
    kept.push_str(&params.join("&"));
    truncate(&kept, MAX_PATH * 2).to_owned()
}

/// Whether a parameter name looks like one (`startIndex`, `excludedAttributes`, `x-y.z`) and
/// not like data: short, a letter first, then letters, digits and `_.-`.
fn is_plain_name(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The filter with every compared value replaced; one that does not parse keeps nothing.
fn redact_filter(text: &str, limits: &Limits) -> String {
    fn blank(filter: Filter) -> Filter {
        match filter {
            Filter::Compare(path, op, _) => Filter::Compare(path, op, CompValue::Str("…".into())),
            Filter::Present(path) => Filter::Present(path),
            Filter::And(lhs, rhs) => Filter::And(Box::new(blank(*lhs)), Box::new(blank(*rhs))),
            Filter::Or(lhs, rhs) => Filter::Or(Box::new(blank(*lhs)), Box::new(blank(*rhs))),
            Filter::Not(inner) => Filter::Not(Box::new(blank(*inner))),
            Filter::ValuePath(path, inner) => Filter::ValuePath(path, Box::new(blank(*inner))),
        }
    }
    match filter::parse(text, limits) {
        Ok(parsed) => blank(parsed).to_string(),
        Err(_) => "(unparsable)".into(),
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(n: usize) -> NewRequest {
        NewRequest {
            license_id: "l".into(),
            method: "GET".into(),
            path: format!("/{n}"),
            status: 200,
            latency_us: 1,
            request_id: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn query_values_are_kept_only_where_they_carry_no_personal_data() {
        let limits = Limits::DEFAULT;
        assert_eq!(
            redact(
                "/scim/v2/Users",
                Some(
                    "filter=userName%20eq%20%22ada%40contoso.com%22&startIndex=1&count=10&token=s3cret"
                ),
                &limits
            ),
            r#"/scim/v2/Users?filter=userName eq "…"&startIndex=1&count=10&token=…"#
        );
        assert_eq!(
            redact(
                "/scim/v2/Groups",
                Some(
                    "filter=members[value eq \"x\"] and displayName sw \"Sales\"&excludedAttributes=members"
                ),
                &limits
            ),
            r#"/scim/v2/Groups?filter=members[value eq "…"] and displayName sw "…"&excludedAttributes=members"#
        );
        assert_eq!(
            redact("/scim/v2/Users", Some("filter=userName eq"), &limits),
            "/scim/v2/Users?filter=(unparsable)"
        );
        assert_eq!(
            redact("/scim/v2/Users/7", None, &limits),
            "/scim/v2/Users/7"
        );
    }

    #[test]
    fn long_paths_are_cut_at_a_character() {
        let long = "é".repeat(MAX_PATH);
        assert!(redact(&long, None, &Limits::DEFAULT).len() <= MAX_PATH);
    }

    #[test]
    fn a_failed_batch_goes_back_before_newer_requests() {
        let pending = PendingRequests::default();
        pending.push(new(1));
        let (batch, dropped) = pending.take();
        assert_eq!(dropped, 0);
        pending.push(new(2));
        pending.restore(batch);
        let (all, _) = pending.take();
        let paths: Vec<_> = all.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/1", "/2"]);
    }
}
