//! In-process micro-benchmarks of the cached hot path: the token-cache key and a hit, the whole
//! token pipeline on a hit (tenant state from the catalog cache, cached facts, the policy
//! re-check, revocations), the decision on top of it, and compiling a preset-sized catalog.
//! A real SQLite store in a temporary directory backs the caches; nothing is timed on a miss.
//! Run: `cargo bench --bench caches`.

use std::{hint::black_box, sync::Arc, time::Duration};

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use scopegate::{
    pipeline::TokenPipeline,
    preset::{self, CatalogFile},
    scope::{AdminStyle, CompiledCatalog, Requirement},
    store::{self, Actor, Store},
    tenant::{KeySource, Tenant, TenantId},
    tenant_states::{CacheLimits, TenantStates},
    token::{
        Generation, JwksConfig, Rejection, TokenCacheConfig, VerifiedToken, VerifiedTokenCache,
        token_cache_key,
    },
};
use serde_json::json;

const ISSUER: &str = "https://id.bench.test";
const AUDIENCE: &str = "https://api.bench.test";
const SCOPE: &str = "openid profile courses:read students:read school:read analytics:read";

/// A `loopwise` tenant trusting a fresh Ed25519 key, in a SQLite store, and a token from it.
struct Fixture {
    _dir: tempfile::TempDir,
    id: TenantId,
    pipeline: TokenPipeline,
    token: String,
}

async fn fixture() -> Fixture {
    let pair = Ed25519KeyPair::generate().expect("Ed25519");
    let enc = EncodingKey::from_ed_der(pair.to_pkcs8v1().expect("PKCS#8").as_ref());
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&enc, Algorithm::EdDSA).expect("JWK"))
            .expect("JSON");
    jwk["kid"] = json!("k1");
    jwk["alg"] = json!("EdDSA");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = store::connect(&url).await.expect("SQLite store");
    let id = TenantId::parse("school").expect("slug");
    let now_ms = store::now_ms();
    let tenant = Tenant {
        id: id.clone(),
        display_name: "School".into(),
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        key_source: KeySource::Inline(json!({ "keys": [jwk] }).to_string()),
        algorithms: vec!["EdDSA".into()],
        leeway_seconds: 60,
        require_at_jwt_typ: false,
        jwks_refresh_seconds: 300,
        admin_style: AdminStyle::Colon,
        drop_unknown_scopes: false,
        resources: Vec::new(),
        scope_claims: Default::default(),
        dpop: Default::default(),
        upstream: None,
        preset: "loopwise".into(),
        revision: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    };
    let file = CatalogFile::preset("loopwise").expect("preset");
    let seed = preset::seed(&file, AdminStyle::Colon, now_ms).expect("seed");
    store
        .create_tenant(&tenant, &seed, &Actor("bench".into()))
        .await
        .expect("tenant created");
    let limits = CacheLimits {
        capacity: 100,
        ttl: Duration::from_secs(3600),
        stale_if_error: Duration::ZERO,
    };
    let states = TenantStates::new(store, limits);
    let pipeline = TokenPipeline::new(states, JwksConfig::default(), &TokenCacheConfig::default())
        .expect("pipeline");
    let now = now_ms / 1000;
    let header = json!({ "typ": "at+jwt", "alg": "EdDSA", "kid": "k1" });
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "client_id": "web-app",
        "iat": now, "exp": now + 3600, "jti": "jti-1", "scope": SCOPE,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &enc, Algorithm::EdDSA).expect("sign");
    let token = format!("{input}.{signature}");
    let first = pipeline
        .introspect(Some(&id), &token, now)
        .await
        .expect("store answers");
    assert!(first.token.is_ok(), "the benchmarked token verifies");
    Fixture {
        _dir: dir,
        id,
        pipeline,
        token,
    }
}

fn now() -> i64 {
    store::now_ms() / 1000
}

fn caches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = rt.block_on(fixture());
    let mut group = c.benchmark_group("token_cache");
    group.bench_function("key_sha256", |b| {
        b.iter(|| token_cache_key(black_box(f.id.as_str()), black_box(&f.token)));
    });
    let cache = VerifiedTokenCache::new(&TokenCacheConfig::default());
    let facts = |now| async move {
        // Only the first call runs this: every benchmarked call must be a hit.
        Ok::<VerifiedToken, Rejection>(VerifiedToken {
            iss: ISSUER.into(),
            sub: Some("user-1".into()),
            aud: vec![AUDIENCE.into()],
            exp: now + 3600,
            iat: Some(now),
            nbf: None,
            jti: Some("jti-1".into()),
            client_id: Some("web-app".into()),
            username: None,
            scopes: SCOPE.split(' ').collect(),
            token_type: "Bearer",
            alg: Some(Algorithm::EdDSA),
            kid: Some("k1".into()),
            other_claims: serde_json::Map::new(),
            fingerprint: Default::default(),
        })
    };
    let now = now();
    let steady = Generation {
        current: 0,
        floor: 0,
    };
    rt.block_on(cache.get_or_verify(f.id.as_str(), &f.token, now, steady, || facts(now)));
    group.bench_function("hit", |b| {
        b.to_async(&rt).iter(|| async {
            let hit = cache
                .get_or_verify(f.id.as_str(), &f.token, now, steady, || async {
                    Err(Rejection::BadSignature)
                })
                .await;
            black_box(hit.result.is_ok())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("introspect_cached_token", |b| {
        b.to_async(&rt).iter(|| async {
            let seen = f.pipeline.introspect(Some(&f.id), &f.token, now).await;
            black_box(seen.map(|s| s.token.is_ok()))
        });
    });
    group.bench_function("introspect_cached_token_by_issuer", |b| {
        b.to_async(&rt).iter(|| async {
            let seen = f.pipeline.introspect(None, &f.token, now).await;
            black_box(seen.map(|s| s.token.is_ok()))
        });
    });
    let requirement = Requirement::operation("get_settings").expect("operation name");
    group.bench_function("check_cached_token", |b| {
        b.to_async(&rt).iter(|| async {
            let Ok(seen) = f.pipeline.introspect(Some(&f.id), &f.token, now).await else {
                return false;
            };
            let (Some(state), Ok(token)) = (&seen.state, &seen.token) else {
                return false;
            };
            let scopes = token.scopes.iter();
            let grant = state.compiled.effective_grant(scopes, seen.first_party());
            black_box(state.compiled.decide(&grant, &requirement).allowed)
        });
    });
    group.finish();

    let snapshot = rt
        .block_on(f.pipeline.states().get(&f.id))
        .expect("tenant state")
        .catalog()
        .clone();
    let mut group = c.benchmark_group("compile");
    group.bench_function("loopwise_preset", |b| {
        b.iter_batched(
            || snapshot.clone(),
            CompiledCatalog::compile,
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, caches);
criterion_main!(benches);
