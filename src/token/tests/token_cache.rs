//! The verified-token cache: one verification per token however many ask, expiry at `exp`,
//! negative caching, and invalidation by tenant, by token and by predicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Map;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::support::NOW;
use crate::tenant::TenantId;
use crate::token::{
    BEARER, CacheSource, CachedVerification, MAX_TOKEN_BYTES, Rejection, TokenCacheConfig,
    VerifiedToken, VerifiedTokenCache, token_cache_key,
};

fn facts(jti: &str, sub: &str) -> VerifiedToken {
    VerifiedToken {
        iss: "https://idp.example".to_owned(),
        sub: Some(sub.to_owned()),
        aud: vec!["api".to_owned()],
        exp: NOW + 300,
        iat: Some(NOW),
        nbf: None,
        jti: Some(jti.to_owned()),
        client_id: Some("client-1".to_owned()),
        username: None,
        scopes: vec!["openid".to_owned()],
        token_type: BEARER,
        alg: Algorithm::ES256,
        kid: Some("k".to_owned()),
        other_claims: Map::new(),
    }
}

fn tenant(slug: &str) -> TenantId {
    TenantId::parse(slug).expect("slug")
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
        tenant: &TenantId,
        token: &str,
        now: i64,
        outcome: Result<VerifiedToken, Rejection>,
    ) -> CachedVerification {
        let calls = Arc::clone(&self.calls);
        let verify = || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            outcome
        };
        self.cache.get_or_verify(tenant, token, now, verify).await
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
async fn tenants_never_share_entries_and_invalidation_is_per_tenant() {
    let h = Harness::new();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    h.lookup(&a, "same-token", NOW, Ok(facts("j", "u"))).await;
    h.lookup(&b, "same-token", NOW, Ok(facts("j", "u"))).await;
    h.lookup(&a, "rejected", NOW, Err(Rejection::UnknownKid))
        .await;
    assert_eq!(h.calls(), 3);

    h.cache.invalidate_tenant(&a).expect("invalidation");
    assert_eq!(
        h.lookup(&a, "same-token", NOW, Ok(facts("j", "u")))
            .await
            .source,
        CacheSource::Miss
    );
    assert_eq!(
        h.lookup(&a, "rejected", NOW, Ok(facts("j", "u")))
            .await
            .source,
        CacheSource::Miss
    );
    assert_eq!(
        h.lookup(&b, "same-token", NOW, Ok(facts("j", "u")))
            .await
            .source,
        CacheSource::Hit
    );
    assert_eq!(h.calls(), 5);
}

#[tokio::test]
async fn revocation_by_predicate_or_token_forgets_only_matching_entries() {
    let h = Harness::new();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    h.lookup(&a, "t1", NOW, Ok(facts("jti-1", "alice"))).await;
    h.lookup(&a, "t2", NOW, Ok(facts("jti-2", "bob"))).await;
    h.lookup(&b, "t3", NOW, Ok(facts("jti-1", "carol"))).await;

    h.cache
        .invalidate_matching(&a, |t| t.jti.as_deref() == Some("jti-1"))
        .expect("invalidation");
    assert_eq!(
        h.lookup(&a, "t1", NOW, Ok(facts("jti-1", "alice")))
            .await
            .source,
        CacheSource::Miss
    );
    assert_eq!(
        h.lookup(&a, "t2", NOW, Ok(facts("jti-2", "bob")))
            .await
            .source,
        CacheSource::Hit
    );
    assert_eq!(
        h.lookup(&b, "t3", NOW, Ok(facts("jti-1", "carol")))
            .await
            .source,
        CacheSource::Hit
    );

    // A subject not-before: every token of bob's issued before it.
    h.cache
        .invalidate_matching(&a, |t| {
            t.sub.as_deref() == Some("bob") && t.iat.is_some_and(|iat| iat < NOW + 1)
        })
        .expect("invalidation");
    assert_eq!(
        h.lookup(&a, "t2", NOW, Ok(facts("jti-2", "bob")))
            .await
            .source,
        CacheSource::Miss
    );

    h.cache.invalidate_token(&b, "t3").await;
    assert_eq!(
        h.lookup(&b, "t3", NOW, Ok(facts("jti-1", "carol")))
            .await
            .source,
        CacheSource::Miss
    );
    assert_eq!(h.calls(), 6);
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
