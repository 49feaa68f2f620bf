//! Secret tokens resolved once per process, so a SCIM request needs no query to authenticate.
//!
//! Every change that can end a token's access (revocation, reset, a license changed) bumps the
//! database's authentication epoch in its own transaction. Each process polls the epoch every
//! [`POLL`] and drops its whole cache when it moved, so a revoked or rotated token stops working
//! on every process within about that long, on PostgreSQL and on SQLite (where the CLI is a
//! second process on the same file). While the epoch cannot be read the cache is not used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use seatflow_store::auth_epoch;
use seatflow_store::db::Db;
use seatflow_store::licenses::License;
use seatflow_store::tokens::TokenInfo;
use tokio::sync::watch;

/// How often each process reads the epoch: the bound on how long a revoked token still works.
pub const POLL: Duration = Duration::from_millis(250);
/// An entry is read again from the database after this long, whatever the epoch says.
const TTL: Duration = Duration::from_secs(300);
/// Entries kept at most; past it the cache starts over (one query per tenant to refill).
const MAX_ENTRIES: usize = 100_000;

/// A resolved token: its license, and the token row as it was read.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub license: License,
    pub token: TokenInfo,
}

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The epoch last read; None until the first read, and after a failed one.
    epoch: Option<i64>,
    /// Bumped whenever the entries are dropped: a lookup that read the database before a drop
    /// must not store what it read.
    generation: u64,
    entries: HashMap<String, (Resolved, Instant)>,
}

/// What a lookup needs to store its result if the cache missed.
pub struct Miss {
    generation: u64,
}

impl TokenCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map is plain data; a panicked holder left it usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token with this digest, or what a later [`TokenCache::store`] needs.
    pub fn get(&self, digest: &str) -> Result<Resolved, Miss> {
        let inner = self.lock();
        match inner.entries.get(digest) {
            Some((resolved, at)) if inner.epoch.is_some() && at.elapsed() < TTL => {
                Ok(resolved.clone())
            }
            _ => Err(Miss {
                generation: inner.generation,
            }),
        }
    }

    /// Keeps what a lookup read, unless the cache was dropped since the lookup began (what it
    /// read may predate the change that dropped it) or the epoch is unknown.
    pub fn store(&self, digest: String, resolved: Resolved, miss: Miss) {
        let mut inner = self.lock();
        if inner.generation != miss.generation || inner.epoch.is_none() {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(digest, (resolved, Instant::now()));
    }

    /// Notes that the token's `last_used_at` was just recorded.
    pub fn touched(&self, digest: &str, now: &str) {
        if let Some((resolved, _)) = self.lock().entries.get_mut(digest) {
            resolved.token.last_used_at = Some(now.to_owned());
        }
    }

    /// Drops every entry: this process just made a change that can end a token's access
    /// (other processes see it move the epoch).
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.generation += 1;
    }

    /// Takes a fresh reading of the epoch (None: it could not be read); drops every entry
    /// unless it is the same as the last one.
    fn observe(&self, epoch: Option<i64>) {
        let mut inner = self.lock();
        if epoch.is_none() || inner.epoch != epoch {
            inner.entries.clear();
            inner.generation += 1;
        }
        inner.epoch = epoch;
    }
}

/// Polls the epoch until `stopped`.
pub async fn watch(db: Db, cache: Arc<TokenCache>, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let epoch = db.read(auth_epoch::current).await;
        if let Err(e) = &epoch {
            tracing::debug!(error = %e, "could not read the authentication epoch");
        }
        cache.observe(epoch.ok());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn resolved() -> Resolved {
        let license = License {
            id: "l".into(),
            name: "n".into(),
            seats: 1,
            seats_used: 0,
            auto_promote: true,
            provisioning_enabled: true,
            created_at: String::new(),
            updated_at: String::new(),
            last_scim_request_at: None,
            last_test_connection_at: None,
            full_reconcile_due: false,
            usage_level: 0,
            error_rate_warned: false,
            first_synced_at: None,
        };
        let token = TokenInfo {
            id: "t".into(),
            license_id: "l".into(),
            token_hash: "d".into(),
            created_at: String::new(),
            last_used_at: None,
            revoked_at: None,
        };
        Resolved { license, token }
    }

    #[test]
    fn nothing_is_kept_before_the_epoch_is_known_or_when_it_moves() {
        let cache = TokenCache::default();
        let miss = cache.get("d").err().unwrap();
        cache.store("d".into(), resolved(), miss);
        assert!(cache.get("d").is_err(), "epoch unknown: not kept");

        cache.observe(Some(1));
        let miss = cache.get("d").err().unwrap();
        cache.store("d".into(), resolved(), miss);
        assert!(cache.get("d").is_ok());
        cache.observe(Some(1));
        assert!(cache.get("d").is_ok(), "the same epoch keeps it");
        cache.observe(Some(2));
        assert!(cache.get("d").is_err(), "a moved epoch drops it");

        let miss = cache.get("d").err().unwrap();
        cache.observe(Some(3));
        cache.store("d".into(), resolved(), miss);
        assert!(
            cache.get("d").is_err(),
            "read before the epoch moved: not kept"
        );

        let miss = cache.get("d").err().unwrap();
        cache.store("d".into(), resolved(), miss);
        cache.observe(None);
        assert!(cache.get("d").is_err(), "an unreadable epoch drops it");
    }
}
