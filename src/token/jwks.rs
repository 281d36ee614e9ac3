//! Each tenant's key set: inline sets parsed once (cached by a hash of the JSON), `jwks_uri` sets
//! fetched and cached per (tenant, uri), refreshed when older than `jwks_refresh_seconds` and on
//! an unknown `kid` at most once per that interval, with concurrent refreshes coalesced into one
//! fetch and a failed refresh keeping the previous set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use moka::future::Cache;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::claims::VerifiedToken;
use super::keys::{KeyError, KeyOrigin, KeySet, MAX_JWKS_BYTES};
use super::rejection::Rejection;
use super::verify::{VerifyPolicy, verify};
use super::{fetch, token_fingerprint};
use crate::tenant::{KeySource, Tenant, TenantId};

/// How JWK sets are fetched.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// Whole-request timeout (connect included).
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_bytes: usize,
    /// Allow `http://` to non-loopback hosts. Off by default: keys fetched in clear text can be
    /// swapped on the path.
    pub allow_plain_http: bool,
    /// After a failed fetch, how long to serve the previous set (or the error) before trying again;
    /// capped by the tenant's refresh interval.
    pub failure_backoff: Duration,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: MAX_JWKS_BYTES,
            allow_plain_http: false,
            failure_backoff: Duration::from_secs(10),
        }
    }
}

/// Loads and caches tenants' key sets. Cheap to clone; all clones share one cache.
#[derive(Clone)]
pub struct JwksProvider {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: JwksConfig,
    inline: Cache<[u8; 32], Result<Arc<KeySet>, KeyError>>,
    remote: Cache<(TenantId, String), Arc<Remote>>,
    fetches: AtomicU64,
}

/// One (tenant, uri): the current set, readable without waiting, and the gate that serialises
/// fetches and remembers when they happened.
#[derive(Default)]
struct Remote {
    current: RwLock<Option<Snapshot>>,
    gate: Arc<Mutex<Gate>>,
}

#[derive(Clone)]
struct Snapshot {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

#[derive(Default)]
struct Gate {
    last_fetch_started: Option<Instant>,
    last_kid_refresh: Option<Instant>,
    last_failure: Option<(Instant, KeyError)>,
}

impl Remote {
    fn snapshot(&self) -> Option<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

fn kid_refresh_decision(gate: &Gate, requested_at: Instant, interval: Duration) -> KidRefresh {
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

/// The tenant's refresh interval; at least one second, so a zero can never mean "fetch always".
fn refresh_interval(tenant: &Tenant) -> Duration {
    Duration::from_secs(u64::from(tenant.jwks_refresh_seconds.max(1)))
}

impl JwksProvider {
    /// A provider with its own HTTP client.
    pub fn new(config: JwksConfig) -> Result<Self, KeyError> {
        let http = fetch::build_client(&config)?;
        let inline = Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(Duration::from_secs(3600))
            .build();
        let remote = Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(Duration::from_secs(86_400))
            .build();
        let inner = Inner {
            http,
            config,
            inline,
            remote,
            fetches: AtomicU64::new(0),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// How many JWKS fetches this provider has started (for metrics).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The tenant's current key set: parsed once for an inline set; for a `jwks_uri`, fetched on
    /// first use and again once older than the refresh interval (a stale set is served while a
    /// refresh is in flight, and kept when the refresh fails).
    pub async fn keys(&self, tenant: &Tenant) -> Result<Arc<KeySet>, KeyError> {
        match &tenant.key_source {
            KeySource::None => Err(KeyError::NoKeySource),
            KeySource::Inline(json) => {
                let digest: [u8; 32] = Sha256::digest(json.as_bytes()).into();
                let parse = async { KeySet::parse(json, KeyOrigin::Inline).map(Arc::new) };
                self.inner.inline.get_with(digest, parse).await
            }
            KeySource::Uri(uri) => self.remote_keys(tenant, uri).await,
        }
    }

    /// Re-fetches a `jwks_uri` set because a token named an unknown `kid`: at most one such fetch per
    /// tenant and refresh interval, however many tokens ask, and callers that arrive while one is
    /// in flight share its result. Returns the set to retry with (`None` for inline sets, or when
    /// there is no set at all).
    pub async fn refresh_on_unknown_kid(&self, tenant: &Tenant) -> Option<Arc<KeySet>> {
        let KeySource::Uri(uri) = &tenant.key_source else {
            return None;
        };
        let requested_at = Instant::now();
        let remote = self.remote(tenant, uri).await;
        let mut gate = Arc::clone(&remote.gate).lock_owned().await;
        match kid_refresh_decision(&gate, requested_at, refresh_interval(tenant)) {
            KidRefresh::Coalesced | KidRefresh::Throttled => remote.snapshot().map(|s| s.keys),
            KidRefresh::Fetch => {
                gate.last_kid_refresh = Some(Instant::now());
                self.spawn_fetch(remote, gate, tenant, uri).await.ok()
            }
        }
    }

    /// [`verify`] with the tenant's policy and keys; on [`Rejection::UnknownKid`] asks for one
    /// refresh and retries once with the new set. Key loading failures are
    /// [`Rejection::KeysUnavailable`].
    pub async fn verify_for_tenant(
        &self,
        token: &str,
        tenant: &Tenant,
        now_unix: i64,
    ) -> Result<VerifiedToken, Rejection> {
        let policy = VerifyPolicy::from_tenant(tenant);
        let keys = self.keys(tenant).await.map_err(|error| {
            tracing::debug!(tenant = %tenant.id, %error, "tenant keys unavailable");
            Rejection::KeysUnavailable
        })?;
        match verify(token, &policy, &keys, now_unix) {
            Err(Rejection::UnknownKid) => {
                tracing::debug!(tenant = %tenant.id, token = %token_fingerprint(token), "unknown kid");
                match self.refresh_on_unknown_kid(tenant).await {
                    Some(fresh) if !Arc::ptr_eq(&fresh, &keys) => {
                        verify(token, &policy, &fresh, now_unix)
                    }
                    _ => Err(Rejection::UnknownKid),
                }
            }
            other => other,
        }
    }

    async fn remote(&self, tenant: &Tenant, uri: &str) -> Arc<Remote> {
        let key = (tenant.id.clone(), uri.to_owned());
        self.inner
            .remote
            .get_with(key, async { Arc::new(Remote::default()) })
            .await
    }

    async fn remote_keys(&self, tenant: &Tenant, uri: &str) -> Result<Arc<KeySet>, KeyError> {
        let remote = self.remote(tenant, uri).await;
        let interval = refresh_interval(tenant);
        let asked_at = Instant::now();
        let stale = match remote.snapshot() {
            Some(s) if asked_at.saturating_duration_since(s.fetched_at) < interval => {
                return Ok(s.keys);
            }
            other => other,
        };
        let gate = match (stale, Arc::clone(&remote.gate).try_lock_owned()) {
            (_, Ok(gate)) => gate,
            // A refresh is in flight: serve the stale set rather than queue behind it.
            (Some(s), Err(_)) => return Ok(s.keys),
            (None, Err(_)) => Arc::clone(&remote.gate).lock_owned().await,
        };
        // The fetch we may have waited for could have answered already.
        let current = remote.snapshot();
        if let Some(s) = &current
            && Instant::now().saturating_duration_since(s.fetched_at) < interval
        {
            return Ok(Arc::clone(&s.keys));
        }
        let backoff = self.inner.config.failure_backoff.min(interval);
        if let Some((failed_at, error)) = &gate.last_failure
            && asked_at.saturating_duration_since(*failed_at) < backoff
        {
            return current.map(|s| s.keys).ok_or_else(|| error.clone());
        }
        self.spawn_fetch(remote, gate, tenant, uri).await
    }

    /// Fetches on a task of its own, holding the gate, so a caller that goes away (a cancelled
    /// request) neither aborts the fetch nor leaves the gate's bookkeeping half done.
    async fn spawn_fetch(
        &self,
        remote: Arc<Remote>,
        gate: OwnedMutexGuard<Gate>,
        tenant: &Tenant,
        uri: &str,
    ) -> Result<Arc<KeySet>, KeyError> {
        let task = run_fetch(
            Arc::clone(&self.inner),
            remote,
            gate,
            tenant.id.clone(),
            uri.to_owned(),
        );
        tokio::spawn(task)
            .await
            .unwrap_or_else(|_| Err(KeyError::Fetch("the refresh task failed".to_owned())))
    }
}

async fn run_fetch(
    inner: Arc<Inner>,
    remote: Arc<Remote>,
    mut gate: OwnedMutexGuard<Gate>,
    tenant: TenantId,
    uri: String,
) -> Result<Arc<KeySet>, KeyError> {
    let started = Instant::now();
    gate.last_fetch_started = Some(started);
    inner.fetches.fetch_add(1, Ordering::Relaxed);
    let fetched = fetch::fetch(&inner.http, &uri, &inner.config).await;
    match fetched.and_then(|body| KeySet::parse(&body, KeyOrigin::Published)) {
        Ok(set) => {
            for skipped in set.skipped() {
                tracing::warn!(%tenant, %uri, %skipped, "JWK set: key skipped");
            }
            tracing::info!(%tenant, %uri, keys = set.keys().len(), "JWK set fetched");
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
            tracing::warn!(%tenant, %uri, %error, "JWK set fetch failed; keeping the previous set");
            gate.last_failure = Some((Instant::now(), error.clone()));
            remote.snapshot().map(|s| s.keys).ok_or(error)
        }
    }
}

impl std::fmt::Debug for JwksProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksProvider")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
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
