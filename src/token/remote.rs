//! One (owner, `jwks_uri`) entry of the JWKS provider: the current set (readable without waiting),
//! the gate that serialises fetches and remembers when they happened, and the refresh rules.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::fetch;
use super::jwks::JwksConfig;
use super::keys::{KeyError, KeyOrigin, KeySet};

/// Monotonic time for refresh decisions. Tests move it forward instead of sleeping.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: AtomicU64,
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.offset_secs.load(Ordering::Relaxed))
    }

    #[cfg(test)]
    pub(crate) fn advance(&self, seconds: u64) {
        self.offset_secs.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// What fetching needs, shared by the provider and its fetch tasks.
pub(crate) struct Fetcher {
    pub http: reqwest::Client,
    pub config: JwksConfig,
    pub clock: Clock,
    pub fetches: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Remote {
    current: RwLock<Option<Snapshot>>,
    pub gate: Arc<Mutex<Gate>>,
}

#[derive(Clone)]
pub(crate) struct Snapshot {
    pub keys: Arc<KeySet>,
    /// When the fetch that produced it started (so its age is never underestimated).
    pub fetched_at: Instant,
}

#[derive(Default)]
pub(crate) struct Gate {
    pub last_fetch_started: Option<Instant>,
    pub last_kid_refresh: Option<Instant>,
    pub last_failure: Option<(Instant, KeyError)>,
}

impl Remote {
    pub(crate) fn snapshot(&self) -> Option<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current set if it is younger than `interval` at `now`.
    pub(crate) fn fresh(&self, now: Instant, interval: Duration) -> Option<Arc<KeySet>> {
        self.snapshot()
            .filter(|s| now.saturating_duration_since(s.fetched_at) < interval)
            .map(|s| s.keys)
    }
}

/// What an unknown-`kid` refresh request should do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KidRefresh {
    /// A fetch started after the request: its result already answers it.
    Coalesced,
    /// An unknown-`kid` refresh happened less than one interval ago.
    Throttled,
    /// Fetch now.
    Fetch,
}

pub(crate) fn kid_refresh_decision(
    gate: &Gate,
    requested_at: Instant,
    interval: Duration,
) -> KidRefresh {
    if gate
        .last_fetch_started
        .is_some_and(|started| started >= requested_at)
    {
        KidRefresh::Coalesced
    } else if gate
        .last_kid_refresh
        .is_some_and(|at| requested_at.saturating_duration_since(at) < interval)
    {
        KidRefresh::Throttled
    } else {
        KidRefresh::Fetch
    }
}

/// Fetches on a task of its own, holding the gate, so a caller that goes away (a cancelled request)
/// neither aborts the fetch nor leaves the gate's bookkeeping half done. A failure keeps the
/// previous set, which is returned when there is one.
pub(crate) async fn spawn_fetch(
    fetcher: Arc<Fetcher>,
    remote: Arc<Remote>,
    gate: OwnedMutexGuard<Gate>,
    owner: String,
    uri: String,
) -> Result<Arc<KeySet>, KeyError> {
    tokio::spawn(run_fetch(fetcher, remote, gate, owner, uri))
        .await
        .unwrap_or_else(|_| Err(KeyError::Fetch("the refresh task failed".to_owned())))
}

async fn run_fetch(
    fetcher: Arc<Fetcher>,
    remote: Arc<Remote>,
    mut gate: OwnedMutexGuard<Gate>,
    owner: String,
    uri: String,
) -> Result<Arc<KeySet>, KeyError> {
    let started = fetcher.clock.now();
    gate.last_fetch_started = Some(started);
    fetcher.fetches.fetch_add(1, Ordering::Relaxed);
    let fetched = fetch::fetch(&fetcher.http, &uri, &fetcher.config).await;
    match fetched.and_then(|body| KeySet::parse(&body, KeyOrigin::Published)) {
        Ok(set) => {
            for skipped in set.skipped() {
                tracing::warn!(tenant = %owner, %uri, %skipped, "JWK set: key skipped");
            }
            tracing::info!(tenant = %owner, %uri, keys = set.keys().len(), "JWK set fetched");
            let keys = Arc::new(set);
            let snapshot = Snapshot {
                keys: Arc::clone(&keys),
                fetched_at: started,
            };
            *remote
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
            gate.last_failure = None;
            Ok(keys)
        }
        Err(error) => {
            tracing::warn!(tenant = %owner, %uri, %error, "JWK set fetch failed; keeping the previous set");
            gate.last_failure = Some((fetcher.clock.now(), error.clone()));
            remote.snapshot().map(|s| s.keys).ok_or(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kid_refreshes_are_throttled_and_coalesced() {
        let interval = Duration::from_secs(60);
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut gate = Gate::default();
        assert_eq!(kid_refresh_decision(&gate, t0, interval), KidRefresh::Fetch);

        gate.last_fetch_started = Some(at(10));
        gate.last_kid_refresh = Some(at(10));
        // Asked before that fetch started: its answer is already there.
        assert_eq!(
            kid_refresh_decision(&gate, at(9), interval),
            KidRefresh::Coalesced
        );
        // Asked after it, within the interval: no new fetch.
        assert_eq!(
            kid_refresh_decision(&gate, at(11), interval),
            KidRefresh::Throttled
        );
        assert_eq!(
            kid_refresh_decision(&gate, at(69), interval),
            KidRefresh::Throttled
        );
        // One interval later a made-up kid may cost one more fetch, no more.
        assert_eq!(
            kid_refresh_decision(&gate, at(70), interval),
            KidRefresh::Fetch
        );

        // A scheduled refresh does not use up the unknown-kid allowance.
        gate.last_kid_refresh = None;
        assert_eq!(
            kid_refresh_decision(&gate, at(11), interval),
            KidRefresh::Fetch
        );
    }
}
