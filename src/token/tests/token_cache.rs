//! The verified-token cache: one verification per token however many ask, expiry at `exp`,
//! negative caching, and generations: an entry verified under keys since replaced is never
//! served, even when its verification was in flight while they were replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Map;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::support::NOW;
use crate::token::{
    BEARER, CacheSource, CachedVerification, Generation, MAX_TOKEN_BYTES, Rejection,
    TokenCacheConfig, VerifiedToken, VerifiedTokenCache, token_cache_key,
};

/// Keys unchanged since generation 0.
const STEADY: Generation = Generation {
    current: 0,
    floor: 0,
};

/// After a key change at generation 1, under the state loaded since.
const ROTATED: Generation = Generation {
    current: 1,
    floor: 1,
};

fn facts(jti: &str, sub: &str) -> VerifiedToken {
    VerifiedToken {
        iss: "https://idp.example".into(),
        sub: Some(sub.to_owned()),
        aud: vec!["api".to_owned()],
        exp: NOW + 300,
        iat: Some(NOW),
        nbf: None,
        jti: Some(jti.to_owned()),
        client_id: Some("client-1".to_owned()),
        username: None,
        scopes: ["openid"].into_iter().collect(),
        token_type: BEARER,
        alg: Some(Algorithm::ES256),
        kid: Some("k".to_owned()),
        other_claims: Map::new(),
        fingerprint: Default::default(),
    }
}

fn tenant(slug: &str) -> String {
    slug.to_owned()
}

/// A cache and a counter of how often the verifier ran.
struct Harness {
    cache: VerifiedTokenCache,
    calls: Arc<AtomicUsize>,
}

impl Harness {
    fn new() -> Self {
        Self {
            cache: VerifiedTokenCache::new(&TokenCacheConfig::default()),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn lookup(
        &self,
        tenant: &str,
        token: &str,
        now: i64,
        outcome: Result<VerifiedToken, Rejection>,
    ) -> CachedVerification {
        self.lookup_at(tenant, token, now, STEADY, outcome).await
    }

    async fn lookup_at(
        &self,
        tenant: &str,
        token: &str,
        now: i64,
        generation: Generation,
        outcome: Result<VerifiedToken, Rejection>,
    ) -> CachedVerification {
        let verify = || {
            let (calls, outcome) = (Arc::clone(&self.calls), outcome.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                outcome
            }
        };
        self.cache
            .get_or_verify(tenant, token, now, generation, verify)
            .await
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_verified_token_is_served_from_cache_until_its_exp() {
    let h = Harness::new();
    let t = tenant("tenant-a");
    let first = h.lookup(&t, "token-1", NOW, Ok(facts("j1", "u1"))).await;
    assert_eq!(
        (first.source, first.result.map(|f| f.jti.clone())),
        (CacheSource::Miss, Ok(Some("j1".to_owned())))
    );
    let second = h
        .lookup(&t, "token-1", NOW + 299, Err(Rejection::BadSignature))
        .await;
    assert_eq!(second.source, CacheSource::Hit);
    assert!(second.result.is_ok());
    assert_eq!(h.calls(), 1);
    // At `exp` the entry is not served, whatever the cache's own clock says.
    let expired = h
        .lookup(&t, "token-1", NOW + 300, Err(Rejection::Expired))
        .await;
    assert_eq!(
        (expired.source, expired.result.err()),
        (CacheSource::Miss, Some(Rejection::Expired))
    );
    assert_eq!(h.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_one_token_verify_once() {
    let h = Arc::new(Harness::new());
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let h = Arc::clone(&h);
        tasks.spawn(async move {
            h.lookup(&tenant("tenant-a"), "hot-token", NOW, Ok(facts("j", "u")))
                .await
        });
    }
    let mut misses = 0;
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.expect("task");
        assert!(answer.result.is_ok());
        misses += usize::from(answer.source == CacheSource::Miss);
    }
    assert_eq!((h.calls(), misses), (1, 1));
}

#[tokio::test]
async fn rejections_are_remembered_except_key_outages() {
    let h = Harness::new();
    let t = tenant("tenant-a");
    let first = h
        .lookup(&t, "garbage", NOW, Err(Rejection::BadSignature))
        .await;
    assert_eq!(first.result.err(), Some(Rejection::BadSignature));
    let again = h.lookup(&t, "garbage", NOW, Ok(facts("j", "u"))).await;
    assert_eq!(
        (again.source, again.result.err()),
        (CacheSource::NegativeHit, Some(Rejection::BadSignature))
    );
    assert_eq!(h.calls(), 1);

    h.lookup(&t, "while-idp-down", NOW, Err(Rejection::KeysUnavailable))
        .await;
    let recovered = h
        .lookup(&t, "while-idp-down", NOW, Ok(facts("j", "u")))
        .await;
    assert!(recovered.result.is_ok());
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn oversized_tokens_are_refused_without_hashing_or_verifying() {
    let h = Harness::new();
    let huge = "x".repeat(MAX_TOKEN_BYTES + 1);
    let answer = h
        .lookup(&tenant("tenant-a"), &huge, NOW, Ok(facts("j", "u")))
        .await;
    assert_eq!(answer.result.err(), Some(Rejection::TooLarge));
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn tenants_never_share_entries() {
    let h = Harness::new();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    h.lookup(&a, "same-token", NOW, Ok(facts("j", "u"))).await;
    let other = h
        .lookup(&b, "same-token", NOW, Err(Rejection::BadSignature))
        .await;
    assert_eq!(other.result.err(), Some(Rejection::BadSignature));
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn entries_verified_before_a_key_change_are_not_served_after_it() {
    let h = Harness::new();
    let t = tenant("tenant-a");
    h.lookup(&t, "verified", NOW, Ok(facts("j", "u"))).await;
    h.lookup(&t, "rejected", NOW, Err(Rejection::UnknownKid))
        .await;
    let after = h
        .lookup_at(&t, "verified", NOW, ROTATED, Err(Rejection::UnknownKid))
        .await;
    assert_eq!(
        (after.source, after.result.err()),
        (CacheSource::Miss, Some(Rejection::UnknownKid))
    );
    let after = h
        .lookup_at(&t, "rejected", NOW, ROTATED, Ok(facts("j", "u")))
        .await;
    assert_eq!(after.source, CacheSource::Miss);
    assert!(after.result.is_ok());
    // What was verified under the new keys is cached again.
    let again = h
        .lookup_at(&t, "rejected", NOW, ROTATED, Err(Rejection::BadSignature))
        .await;
    assert_eq!(again.source, CacheSource::Hit);
    assert_eq!(h.calls(), 4);
}

type Verifying = std::pin::Pin<Box<dyn Future<Output = Result<VerifiedToken, Rejection>> + Send>>;

/// A verifier that says when it started and then waits at a gate, so a test can change keys
/// while it is in flight.
fn gated(
    started: tokio::sync::watch::Sender<bool>,
    opened: tokio::sync::watch::Receiver<bool>,
    outcome: Result<VerifiedToken, Rejection>,
) -> impl Fn() -> Verifying {
    move || {
        let (started, mut opened, outcome) = (started.clone(), opened.clone(), outcome.clone());
        Box::pin(async move {
            started.send_replace(true);
            let _ = opened.wait_for(|open| *open).await;
            outcome
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_in_flight_while_the_keys_change_is_never_served_after_the_change() {
    let cache = VerifiedTokenCache::new(&TokenCacheConfig::default());
    let t = tenant("tenant-a");
    let (open, opened) = tokio::sync::watch::channel(false);
    let (started, mut old_started) = tokio::sync::watch::channel(false);
    // Verification under the old keys starts and is held at the gate …
    let old = tokio::spawn({
        let (cache, t) = (cache.clone(), t.clone());
        let verify = gated(started, opened.clone(), Ok(facts("j", "u")));
        async move { cache.get_or_verify(&t, "tok", NOW, STEADY, verify).await }
    });
    old_started.wait_for(|s| *s).await.expect("started");
    // … a second caller under the new keys joins it (same token, same moment) …
    let joined = tokio::spawn({
        let (cache, t) = (cache.clone(), t.clone());
        let verify = gated(
            tokio::sync::watch::channel(false).0,
            opened.clone(),
            Err(Rejection::UnknownKid),
        );
        async move { cache.get_or_verify(&t, "tok", NOW, ROTATED, verify).await }
    });
    // … the keys change and only then does the old verification land in the cache.
    open.send(true).expect("gate");
    assert!(
        old.await.expect("task").result.is_ok(),
        "it was valid when asked"
    );
    let joined = joined.await.expect("task");
    assert_eq!(
        joined.result.err(),
        Some(Rejection::UnknownKid),
        "a caller under the new keys never takes the old verification"
    );
    let verify = gated(
        tokio::sync::watch::channel(false).0,
        opened,
        Ok(facts("j", "u")),
    );
    let later = cache.get_or_verify(&t, "tok", NOW, ROTATED, verify).await;
    assert_eq!(
        later.result.err(),
        Some(Rejection::UnknownKid),
        "the old verification is not served, the new keys' answer is"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_key_changes_never_serve_an_old_verification() {
    // Each round: readers verify under whatever keys are current; a writer moves the floor at
    // a random moment. Any answer whose verifier saw a generation below the floor in force
    // when the reader started is stale.
    use std::sync::atomic::AtomicU64;
    let cache = VerifiedTokenCache::new(&TokenCacheConfig::default());
    let t = tenant("tenant-a");
    let floor = Arc::new(AtomicU64::new(0));
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut stale = 0;
    for round in 0..300u64 {
        let token = format!("tok-{}", round % 7);
        let mut readers = JoinSet::new();
        for _ in 0..4 {
            let (cache, t, floor, token) =
                (cache.clone(), t.clone(), Arc::clone(&floor), token.clone());
            let yields = next() % 5;
            readers.spawn(async move {
                let seen = floor.load(Ordering::SeqCst);
                let generation = Generation {
                    current: seen,
                    floor: seen,
                };
                let facts = facts("j", "u");
                // The verification records which keys it ran under.
                let verify = move || {
                    let mut facts = facts.clone();
                    facts.kid = Some(seen.to_string());
                    async move {
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                        Ok(facts)
                    }
                };
                let answer = cache
                    .get_or_verify(&t, &token, NOW, generation, verify)
                    .await;
                let used: u64 = answer
                    .result
                    .expect("verifies")
                    .kid
                    .as_deref()
                    .and_then(|k| k.parse().ok())
                    .expect("kid");
                used < seen
            });
        }
        for _ in 0..(next() % 3) {
            tokio::task::yield_now().await;
        }
        floor.fetch_add(1, Ordering::SeqCst);
        while let Some(was_stale) = readers.join_next().await {
            stale += usize::from(was_stale.expect("task"));
        }
    }
    assert_eq!(stale, 0, "answers verified under replaced keys");
}

#[test]
fn cache_keys_hash_tenant_and_token_unambiguously() {
    let key = token_cache_key(&tenant("a-b"), "c");
    assert_eq!(key, <[u8; 32]>::from(Sha256::digest(b"a-b\0c")));
    // Without the separator, ("a-b", "c") and ("a", "-bc") would hash the same bytes.
    assert_ne!(key, token_cache_key(&tenant("a"), "-bc"));
    assert_ne!(
        token_cache_key(&tenant("a"), "b"),
        token_cache_key(&tenant("b"), "b")
    );
}

#[test]
fn entries_live_until_exp_at_most_max_ttl() {
    use crate::token::cache::ttl_until_exp;
    let hour = Duration::from_secs(3600);
    assert_eq!(
        ttl_until_exp(NOW + 100, NOW, hour),
        Duration::from_secs(100)
    );
    assert_eq!(ttl_until_exp(NOW + 7200, NOW, hour), hour);
    assert_eq!(ttl_until_exp(NOW - 5, NOW, hour), Duration::ZERO);
    assert_eq!(ttl_until_exp(i64::MIN, i64::MAX, hour), Duration::ZERO);
}
