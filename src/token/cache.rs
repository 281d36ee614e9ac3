//! The verified-token cache: facts (not decisions) about tokens that verified, keyed by
//! SHA-256(tenant ‖ 0x00 ‖ token) so no token is ever held in clear, each entry expiring no later
//! than the token's `exp`; plus a short negative cache so a flood of garbage costs one verification
//! per distinct token and interval.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::MAX_TOKEN_BYTES;
use super::claims::VerifiedToken;
use super::rejection::Rejection;
use crate::tenant::TenantId;

/// SHA-256(tenant ‖ 0x00 ‖ token): the only form in which the cache knows a token.
pub type TokenCacheKey = [u8; 32];

/// The cache key for a tenant's token. The 0x00 separator cannot occur in a tenant slug, so no two
/// (tenant, token) pairs share an input.
pub fn token_cache_key(tenant: &TenantId, token: &str) -> TokenCacheKey {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_str().as_bytes());
    hasher.update([0u8]);
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

/// Sizes and lifetimes of the verified-token cache.
#[derive(Debug, Clone)]
pub struct TokenCacheConfig {
    /// Most verified tokens kept.
    pub max_entries: u64,
    /// Longest an entry lives, whatever its `exp` (revocation propagated by TTL is bounded by it).
    pub max_ttl: Duration,
    /// Most rejected tokens remembered.
    pub negative_max_entries: u64,
    /// How long a rejection is remembered.
    pub negative_ttl: Duration,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_ttl: Duration::from_secs(3600),
            negative_max_entries: 10_000,
            negative_ttl: Duration::from_secs(10),
        }
    }
}

/// Where an answer came from (for the explain trace and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSource {
    /// A verified token from the cache (or from a concurrent verification of the same token).
    Hit,
    /// A rejection remembered by the negative cache.
    NegativeHit,
    /// Verified by this call.
    Miss,
}

/// The outcome of [`VerifiedTokenCache::get_or_verify`].
#[derive(Debug, Clone)]
pub struct CachedVerification {
    /// The verified facts, or why the token is inactive.
    pub result: Result<Arc<VerifiedToken>, Rejection>,
    /// Where the answer came from.
    pub source: CacheSource,
}

/// The cache could not register an invalidation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache invalidation failed: {0}")]
pub struct InvalidationError(String);

#[derive(Clone)]
struct Entry {
    tenant: TenantId,
    token: Arc<VerifiedToken>,
    ttl: Duration,
}

#[derive(Clone)]
struct Negative {
    tenant: TenantId,
    rejection: Rejection,
}

/// Entries live for the TTL computed when they were verified: until `exp`, capped by `max_ttl`.
struct UntilExp;

impl Expiry<TokenCacheKey, Arc<Entry>> for UntilExp {
    fn expire_after_create(
        &self,
        _: &TokenCacheKey,
        entry: &Arc<Entry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &TokenCacheKey,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Time an entry may live: until `exp` (never past it, leeway or not), at most `max_ttl`.
pub(crate) fn ttl_until_exp(exp: i64, now_unix: i64, max_ttl: Duration) -> Duration {
    let remaining = u64::try_from(exp.saturating_sub(now_unix)).unwrap_or(0);
    Duration::from_secs(remaining).min(max_ttl)
}

/// Hashes the cache's keys (SHA-256 digests) with foldhash seeded per process: SipHash showed
/// in profiles, and the unknown seed keeps buckets as unpredictable as SipHash's does.
type Seeded = foldhash::fast::RandomState;

/// The verified-token cache. Cheap to clone; clones share entries.
#[derive(Clone)]
pub struct VerifiedTokenCache {
    /// Behind an `Arc` so a hit clones a pointer, not the entry (its tenant id allocates).
    positive: Cache<TokenCacheKey, Arc<Entry>, Seeded>,
    negative: Cache<TokenCacheKey, Negative, Seeded>,
    max_ttl: Duration,
}

impl VerifiedTokenCache {
    /// An empty cache.
    pub fn new(config: &TokenCacheConfig) -> Self {
        let positive = Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(UntilExp)
            .support_invalidation_closures()
            .build_with_hasher(Seeded::default());
        let negative = Cache::builder()
            .max_capacity(config.negative_max_entries)
            .time_to_live(config.negative_ttl)
            .support_invalidation_closures()
            .build_with_hasher(Seeded::default());
        Self {
            positive,
            negative,
            max_ttl: config.max_ttl,
        }
    }

    /// The cached facts for this tenant's token, else the result of `verify` (run once however many
    /// callers miss on the same token at once). Verified tokens are kept until their `exp`;
    /// cacheable rejections for the negative TTL. An oversized token is refused before hashing.
    pub async fn get_or_verify<F, Fut>(
        &self,
        tenant: &TenantId,
        token: &str,
        now_unix: i64,
        verify: F,
    ) -> CachedVerification
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<VerifiedToken, Rejection>>,
    {
        if token.len() > MAX_TOKEN_BYTES {
            return CachedVerification {
                result: Err(Rejection::TooLarge),
                source: CacheSource::Miss,
            };
        }
        let key = token_cache_key(tenant, token);
        if let Some(entry) = self.positive.get(&key).await {
            // Expiry runs on the monotonic clock; `exp` is wall-clock. Trust the latter.
            if now_unix < entry.token.exp {
                return CachedVerification {
                    result: Ok(Arc::clone(&entry.token)),
                    source: CacheSource::Hit,
                };
            }
            self.positive.invalidate(&key).await;
        }
        if let Some(negative) = self.negative.get(&key).await {
            return CachedVerification {
                result: Err(negative.rejection),
                source: CacheSource::NegativeHit,
            };
        }
        let ran = AtomicBool::new(false);
        let max_ttl = self.max_ttl;
        let init = async {
            ran.store(true, Ordering::Relaxed);
            let token = verify().await?;
            let ttl = ttl_until_exp(token.exp, now_unix, max_ttl);
            Ok(Arc::new(Entry {
                tenant: tenant.clone(),
                token: Arc::new(token),
                ttl,
            }))
        };
        match self.positive.try_get_with(key, init).await {
            Ok(entry) => {
                let source = if ran.load(Ordering::Relaxed) {
                    CacheSource::Miss
                } else {
                    CacheSource::Hit
                };
                CachedVerification {
                    result: Ok(Arc::clone(&entry.token)),
                    source,
                }
            }
            Err(rejection) => {
                let rejection: Rejection = *rejection;
                if rejection.is_cacheable() {
                    self.negative
                        .insert(
                            key,
                            Negative {
                                tenant: tenant.clone(),
                                rejection,
                            },
                        )
                        .await;
                }
                CachedVerification {
                    result: Err(rejection),
                    source: CacheSource::Miss,
                }
            }
        }
    }

    /// Forgets one token (e.g. revoked by value).
    pub async fn invalidate_token(&self, tenant: &TenantId, token: &str) {
        let key = token_cache_key(tenant, token);
        self.positive.invalidate(&key).await;
        self.negative.invalidate(&key).await;
    }

    /// Forgets every entry of a tenant, positive and negative (keys or settings changed).
    pub fn invalidate_tenant(&self, tenant: &TenantId) -> Result<(), InvalidationError> {
        let t = tenant.clone();
        self.positive
            .invalidate_entries_if(move |_, e| e.tenant == t)
            .map_err(failed)?;
        let t = tenant.clone();
        self.negative
            .invalidate_entries_if(move |_, n| n.tenant == t)
            .map_err(failed)?;
        Ok(())
    }

    /// Forgets the tenant's verified tokens that match `predicate` (revocation of a `jti`, or a
    /// not-before for a client or subject). Matching entries are never served again; memory is
    /// reclaimed in the background.
    pub fn invalidate_matching<P>(
        &self,
        tenant: &TenantId,
        predicate: P,
    ) -> Result<(), InvalidationError>
    where
        P: Fn(&VerifiedToken) -> bool + Send + Sync + 'static,
    {
        let t = tenant.clone();
        self.positive
            .invalidate_entries_if(move |_, e| e.tenant == t && predicate(&e.token))
            .map(|_| ())
            .map_err(failed)
    }

    /// Approximate number of verified tokens held (for metrics).
    pub fn entry_count(&self) -> u64 {
        self.positive.entry_count()
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(failed)`
fn failed(error: moka::PredicateError) -> InvalidationError {
    InvalidationError(error.to_string())
}

impl std::fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokenCache")
            .field("entries", &self.positive.entry_count())
            .field("negative_entries", &self.negative.entry_count())
            .finish()
    }
}
