//! Each owner's key set: inline sets parsed once (cached by a hash of the JSON), `jwks_uri` sets
//! fetched and cached per (owner, uri), refreshed when older than the keyring's interval and on
//! an unknown `kid` at most once per that interval, with concurrent refreshes coalesced into one
//! fetch and a failed refresh keeping the previous set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::claims::VerifiedToken;
use super::destination::NetworkPolicy;
use super::keys::{KeyError, KeyOrigin, KeySet, MAX_JWKS_BYTES};
use super::rejection::Rejection;
use super::remote::{Clock, Fetcher, KidRefresh, Remote, kid_refresh_decision, spawn_fetch};
use super::source::{KeySource, Keyring};
use super::verify::{VerifyPolicy, verify};
use super::{fetch, token_fingerprint};

/// How JWK sets are fetched.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// Whole-request timeout (connect included).
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_bytes: usize,
    /// Allow `http://` URIs. Off by default (https is required): keys fetched in clear text can
    /// be swapped on the path.
    pub allow_plain_http: bool,
    /// Which destination networks may be fetched from (loopback, private and link-local ranges
    /// are refused by default).
    pub networks: NetworkPolicy,
    /// After a failed fetch, how long to serve the previous set (or the error) before trying again;
    /// capped by the keyring's refresh interval.
    pub failure_backoff: Duration,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: MAX_JWKS_BYTES,
            allow_plain_http: false,
            networks: NetworkPolicy::default(),
            failure_backoff: Duration::from_secs(10),
        }
    }
}

/// Loads and caches owners' key sets. Cheap to clone; all clones share one cache.
#[derive(Clone)]
pub struct JwksProvider {
    fetcher: Arc<Fetcher>,
    inline: Cache<[u8; 32], Result<Arc<KeySet>, KeyError>>,
    remote: Cache<(String, String), Arc<Remote>>,
}

impl JwksProvider {
    /// A provider with its own HTTP client.
    pub fn new(config: JwksConfig) -> Result<Self, KeyError> {
        let http = fetch::build_client(&config)?;
        let fetcher = Fetcher {
            http,
            config,
            clock: Clock::default(),
            fetches: AtomicU64::new(0),
        };
        Ok(Self {
            fetcher: Arc::new(fetcher),
            inline: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            remote: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
        })
    }

    /// How many JWKS fetches this provider has attempted (for metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetcher.fetches.load(Ordering::Relaxed)
    }

    /// The keyring's current key set: parsed once for an inline set; for a `jwks_uri`, fetched on
    /// first use and again once older than the refresh interval (a stale set is served while a
    /// refresh is in flight, and kept when the refresh fails).
    pub async fn keys(&self, keyring: Keyring<'_>) -> Result<Arc<KeySet>, KeyError> {
        match keyring.source {
            KeySource::None => Err(KeyError::NoKeySource),
            KeySource::Inline(json) => {
                let digest: [u8; 32] = Sha256::digest(json.as_bytes()).into();
                let parse = async { KeySet::parse(json, KeyOrigin::Inline).map(Arc::new) };
                self.inline.get_with(digest, parse).await
            }
            KeySource::Uri(uri) => self.remote_keys(keyring, uri).await,
        }
    }

    /// Re-fetches a `jwks_uri` set because a token named an unknown `kid`: at most one such fetch per
    /// owner and refresh interval, however many tokens ask, and callers that arrive while one is
    /// in flight share its result. Returns the set to retry with (`None` for inline sets, or when
    /// there is no set at all).
    pub async fn refresh_on_unknown_kid(&self, keyring: Keyring<'_>) -> Option<Arc<KeySet>> {
        let KeySource::Uri(uri) = keyring.source else {
            return None;
        };
        let requested_at = self.fetcher.clock.now();
        let remote = self.remote(keyring.owner, uri).await;
        let mut gate = Arc::clone(&remote.gate).lock_owned().await;
        match kid_refresh_decision(&gate, requested_at, keyring.refresh_interval()) {
            KidRefresh::Coalesced | KidRefresh::Throttled => remote.snapshot().map(|s| s.keys),
            KidRefresh::Fetch => {
                gate.last_kid_refresh = Some(self.fetcher.clock.now());
                let (fetcher, owner) = (Arc::clone(&self.fetcher), keyring.owner.to_owned());
                spawn_fetch(fetcher, remote, gate, owner, uri.clone())
                    .await
                    .ok()
            }
        }
    }

    /// [`verify`] with `policy` and the keyring's keys; on [`Rejection::UnknownKid`] asks for one
    /// refresh and retries once with the new set. Key loading failures are
    /// [`Rejection::KeysUnavailable`].
    pub async fn verify_with(
        &self,
        token: &str,
        policy: &VerifyPolicy,
        keyring: Keyring<'_>,
        now_unix: i64,
    ) -> Result<VerifiedToken, Rejection> {
        let keys = self.keys(keyring).await.map_err(|error| {
            tracing::debug!(tenant = %keyring.owner, %error, "tenant keys unavailable");
            Rejection::KeysUnavailable
        })?;
        match verify(token, policy, &keys, now_unix) {
            Err(Rejection::UnknownKid) => {
                tracing::debug!(tenant = %keyring.owner, token = %token_fingerprint(token), "unknown kid");
                match self.refresh_on_unknown_kid(keyring).await {
                    Some(fresh) if !Arc::ptr_eq(&fresh, &keys) => {
                        verify(token, policy, &fresh, now_unix)
                    }
                    _ => Err(Rejection::UnknownKid),
                }
            }
            other => other,
        }
    }

    async fn remote(&self, owner: &str, uri: &str) -> Arc<Remote> {
        let key = (owner.to_owned(), uri.to_owned());
        self.remote
            .get_with(key, async { Arc::new(Remote::default()) })
            .await
    }

    async fn remote_keys(&self, keyring: Keyring<'_>, uri: &str) -> Result<Arc<KeySet>, KeyError> {
        let remote = self.remote(keyring.owner, uri).await;
        let interval = keyring.refresh_interval();
        let asked_at = self.fetcher.clock.now();
        if let Some(keys) = remote.fresh(asked_at, interval) {
            return Ok(keys);
        }
        let stale = remote.snapshot();
        let gate = match (stale, Arc::clone(&remote.gate).try_lock_owned()) {
            (_, Ok(gate)) => gate,
            // A refresh is in flight: serve the stale set rather than queue behind it.
            (Some(s), Err(_)) => return Ok(s.keys),
            (None, Err(_)) => Arc::clone(&remote.gate).lock_owned().await,
        };
        // The fetch we may have waited for could have answered already.
        if let Some(keys) = remote.fresh(self.fetcher.clock.now(), interval) {
            return Ok(keys);
        }
        let backoff = self.fetcher.config.failure_backoff.min(interval);
        if let Some((failed_at, error)) = &gate.last_failure
            && asked_at.saturating_duration_since(*failed_at) < backoff
        {
            return remote
                .snapshot()
                .map(|s| s.keys)
                .ok_or_else(|| error.clone());
        }
        let (fetcher, owner) = (Arc::clone(&self.fetcher), keyring.owner.to_owned());
        spawn_fetch(fetcher, remote, gate, owner, uri.to_owned()).await
    }

    /// Moves the provider's clock forward, standing in for the passing of time.
    #[cfg(test)]
    pub(crate) fn advance_clock(&self, seconds: u64) {
        self.fetcher.clock.advance(seconds);
    }
}

impl std::fmt::Debug for JwksProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksProvider")
            .field("config", &self.fetcher.config)
            .finish_non_exhaustive()
    }
}
