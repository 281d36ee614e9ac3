//! The verified-token cache: facts (not decisions) about tokens that verified, keyed by
//! SHA-256(tenant ‖ 0x00 ‖ token) so no token is ever held in clear, each entry expiring no later
//! than the token's `exp`; plus a short negative cache so a flood of garbage costs one verification
//! per distinct token and interval.
//!
//! Every entry carries the generation of the tenant state it was verified under, and a lookup
//! names the lowest generation it accepts (raised whenever the tenant's keys or policy may have
//! changed: see `tenant_states::generations`). So a verification that was in flight when a key was
//! removed is never served after the removal, however late it lands in the cache.

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

/// SHA-256(tenant ‖ 0x00 ‖ token): the only form in which the cache knows a token.
pub type TokenCacheKey = [u8; 32];

/// The cache key for a tenant's token, the tenant named by its id. The 0x00 separator cannot occur
/// in a tenant slug, so no two (tenant, token) pairs share an input.
pub fn token_cache_key(tenant: &str, token: &str) -> TokenCacheKey {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_bytes());
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

/// The generations a lookup works with (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// The generation of the tenant state a verification now runs under: stamped on new
    /// entries.
    pub current: u64,
    /// The lowest generation an entry may carry to be served.
    pub floor: u64,
}

/// Stored by value: moka already keeps each value behind its own `Arc`, and a clone is one
/// reference count.
#[derive(Clone)]
struct Entry {
    token: Arc<VerifiedToken>,
    ttl: Duration,
    /// Wall-clock end of the TTL (Unix seconds, never past `exp`): served only before it.
    until: i64,
    generation: u64,
}

#[derive(Clone)]
struct Negative {
    rejection: Rejection,
    generation: u64,
}

/// Entries live for the TTL computed when they were verified: until `exp`, capped by `max_ttl`.
struct UntilExp;

impl Expiry<TokenCacheKey, Entry> for UntilExp {
    fn expire_after_create(
        &self,
        _: &TokenCacheKey,
        entry: &Entry,
        _: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &TokenCacheKey,
        entry: &Entry,
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
    /// Behind an `Arc` so a hit clones a pointer, not the entry.
    positive: Cache<TokenCacheKey, Entry, Seeded>,
    negative: Cache<TokenCacheKey, Negative, Seeded>,
    max_ttl: Duration,
}

impl VerifiedTokenCache {
    /// An empty cache.
    pub fn new(config: &TokenCacheConfig) -> Self {
        let positive = Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(UntilExp)
            .build_with_hasher(Seeded::default());
        let negative = Cache::builder()
            .max_capacity(config.negative_max_entries)
            .time_to_live(config.negative_ttl)
            .build_with_hasher(Seeded::default());
        Self {
            positive,
            negative,
            max_ttl: config.max_ttl,
        }
    }

    /// The cached facts for this tenant's token, else the result of `verify` (run once however many
    /// callers miss on the same token at once). Verified tokens are kept until their `exp`;
    /// cacheable rejections for the negative TTL. Entries below `generation.floor` are never
    /// served. An oversized token is refused before hashing.
    pub async fn get_or_verify<F, Fut>(
        &self,
        tenant: &str,
        token: &str,
        now_unix: i64,
        generation: Generation,
        verify: F,
    ) -> CachedVerification
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<VerifiedToken, Rejection>>,
    {
        self.get_or_load(tenant, token, now_unix, generation, self.max_ttl, verify)
            .await
    }

    /// [`Self::get_or_verify`] with entries kept at most `ttl_cap` (and never past the cache's
    /// own `max_ttl`): how upstream-introspected tokens bound the time a revocation at their
    /// authorization server goes unseen.
    pub async fn get_or_load<F, Fut>(
        &self,
        tenant: &str,
        token: &str,
        now_unix: i64,
        generation: Generation,
        ttl_cap: Duration,
        verify: F,
    ) -> CachedVerification
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<VerifiedToken, Rejection>>,
    {
        let max_ttl = ttl_cap.min(self.max_ttl);
        if token.len() > MAX_TOKEN_BYTES {
            return CachedVerification {
                result: Err(Rejection::TooLarge),
                source: CacheSource::Miss,
            };
        }
        let key = token_cache_key(tenant, token);
        let mut refused = false;
        if let Some(entry) = self.positive.get(&key).await {
            // Expiry runs on the monotonic clock; `exp` and the TTL's end are wall-clock too.
            if now_unix < entry.until && entry.generation >= generation.floor {
                return CachedVerification {
                    result: Ok(Arc::clone(&entry.token)),
                    source: CacheSource::Hit,
                };
            }
            refused = true;
        }
        if let Some(negative) = self.negative.get(&key).await
            && negative.generation >= generation.floor
        {
            return CachedVerification {
                result: Err(negative.rejection),
                source: CacheSource::NegativeHit,
            };
        }
        if refused {
            // Else `try_get_with` would hand back the entry we refused.
            self.positive.invalidate(&key).await;
        }
        let ran = AtomicBool::new(false);
        let init = async {
            ran.store(true, Ordering::Relaxed);
            self.verified(verify().await, now_unix, generation.current, max_ttl)
        };
        let joined = self.positive.try_get_with(key, init).await;
        let source = if ran.load(Ordering::Relaxed) {
            CacheSource::Miss
        } else {
            CacheSource::Hit
        };
        match joined {
            Ok(entry) if entry.generation >= generation.floor => CachedVerification {
                result: Ok(Arc::clone(&entry.token)),
                source,
            },
            // We joined a verification that ran under keys since replaced: verify ourselves.
            Ok(_) => {
                let fresh = self.verified(verify().await, now_unix, generation.current, max_ttl);
                self.settle(key, fresh, generation).await
            }
            Err(rejection) => self.settle(key, Err(*rejection), generation).await,
        }
    }

    fn verified(
        &self,
        result: Result<VerifiedToken, Rejection>,
        now_unix: i64,
        generation: u64,
        max_ttl: Duration,
    ) -> Result<Entry, Rejection> {
        let token = result?;
        let ttl = ttl_until_exp(token.exp, now_unix, max_ttl);
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Ok(Entry {
            until: now_unix.saturating_add(secs).min(token.exp),
            token: Arc::new(token),
            ttl,
            generation,
        })
    }

    /// Answers with a verification this call ran outside the coalesced load, caching it when
    /// it may be served later.
    async fn settle(
        &self,
        key: TokenCacheKey,
        result: Result<Entry, Rejection>,
        generation: Generation,
    ) -> CachedVerification {
        let servable = generation.current >= generation.floor;
        match result {
            Ok(entry) => {
                if servable {
                    self.positive.insert(key, entry.clone()).await;
                }
                CachedVerification {
                    result: Ok(Arc::clone(&entry.token)),
                    source: CacheSource::Miss,
                }
            }
            Err(rejection) => {
                if servable && rejection.is_cacheable() {
                    let negative = Negative {
                        rejection,
                        generation: generation.current,
                    };
                    self.negative.insert(key, negative).await;
                }
                CachedVerification {
                    result: Err(rejection),
                    source: CacheSource::Miss,
                }
            }
        }
    }

    /// Approximate number of verified tokens held (for metrics).
    pub fn entry_count(&self) -> u64 {
        self.positive.entry_count()
    }
}

impl std::fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokenCache")
            .field("entries", &self.positive.entry_count())
            .field("negative_entries", &self.negative.entry_count())
            .finish()
    }
}
