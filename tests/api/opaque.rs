//! Opaque tokens through a tenant's upstream RFC 7662 introspection, against a stub
//! authorization server (wiremock) that counts calls: every field mapped, every bad answer
//! refused as `upstream_invalid`, outages fail closed (inactive for Introspect, UNAVAILABLE for
//! checks), one upstream call per token under concurrency, the in-flight cap, the cache TTL
//! bound by `min(exp, cap)` (moved by the pipeline's clock, no sleeps), a settings write making
//! cached answers unusable. The real node-oidc-provider run is in `opaque/idp.rs`; an answer in
//! flight across a settings write, held open by a gated stub, in `opaque/race.rs`.
#![allow(clippy::unwrap_used)]

mod held_upstream;
mod idp;
mod race;

use std::time::Duration;

use scopegate::{
    pb::{
        Check, CheckResult, CheckScopesRequest, IntrospectRequest, IntrospectResponse,
        ManageTenantRequest, TenantSettings, UpdateTenant, UpstreamIntrospection,
        manage_tenant_request::Action, token_introspection_client::TokenIntrospectionClient,
    },
    pipeline::TokenPipeline,
    preset::{self, CatalogFile},
    scope::AdminStyle,
    store::{self, Actor},
    tenant::{ClientSecret, TenantId, UpstreamTokens, new_tenant},
    tenant_states::{CacheLimits, TenantStates},
    token::{JwksConfig, NetworkPolicy, TokenCacheConfig},
};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    decision::{all_of, check_one, token_check},
    helpers::{TestApp, TestDb, authed},
    tokens::{create_tenant_with, now},
};

const SHOP: &str = "shop";
const SECRET: &str = "s3cret:with%odd chars";

/// The upstream configuration pointing at `endpoint`.
pub fn upstream(endpoint: &str, client_id: &str, secret: &str) -> UpstreamIntrospection {
    UpstreamIntrospection {
        endpoint: endpoint.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: secret.to_owned(),
        ..Default::default()
    }
}

/// Settings that send `shop`'s opaque tokens to `config` and accept no audience list (the
/// authorization server decides whom its tokens are for).
pub fn opaque_settings(config: UpstreamIntrospection) -> TenantSettings {
    TenantSettings {
        upstream_introspection: Some(config),
        resources: Some(Default::default()),
        ..Default::default()
    }
}

/// Changes tenant `id`'s settings.
pub async fn update(
    app: &TestApp,
    id: &str,
    settings: TenantSettings,
) -> Result<(), tonic::Status> {
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Update(UpdateTenant {
                id: id.to_owned(),
                settings: Some(settings),
                display_name: None,
            })),
        }))
        .await
        .map(|_| ())
}

/// Introspect with the explain trace.
pub async fn explained(app: &TestApp, tenant: &str, token: &str) -> IntrospectResponse {
    let request = IntrospectRequest {
        token: token.to_owned(),
        tenant: tenant.to_owned(),
        explain: true,
        ..Default::default()
    };
    TokenIntrospectionClient::new(app.channel.clone())
        .introspect(request)
        .await
        .unwrap()
        .into_inner()
}

/// The explain outcome of an introspection.
pub fn outcome(answer: &IntrospectResponse) -> String {
    answer
        .explain
        .as_ref()
        .map(|e| e.outcome.clone())
        .unwrap_or_default()
}

/// A check of `token` for `tenant` requiring `scopes`.
pub fn check_of(tenant: &str, token: &str, scopes: &[&str]) -> scopegate::pb::Check {
    let mut check = token_check("c", token, all_of(scopes));
    check.tenant = tenant.to_owned();
    check
}

async fn app_with_stub(
    answer: ResponseTemplate,
    config: impl FnOnce(&str) -> UpstreamIntrospection,
) -> (TestApp, MockServer, TestDb) {
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let stub = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(answer)
        .mount(&stub)
        .await;
    let endpoint = format!("{}/introspect", stub.uri());
    create_tenant_with(&app, SHOP, "oidc", opaque_settings(config(&endpoint))).await;
    (app, stub, db)
}

async fn calls(stub: &MockServer) -> usize {
    stub.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn an_opaque_token_is_decided_by_its_upstream_answer_with_every_field_mapped() {
    let exp = now() + 600;
    let answer = json!({
        "active": true, "scope": "profile openid", "client_id": "svc", "sub": "user-1",
        "exp": exp, "iat": exp - 600, "aud": ["api-a", "api-b"], "iss": "https://as.example",
        "username": "ada", "token_type": "Bearer", "jti": "j-1", "tenant_hint": "x"
    });
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let stub = MockServer::start().await;
    // client_secret_basic: id and secret form-encoded, then base64 (RFC 6749 §2.3.1).
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("scopegate:s3cret%3Awith%25odd+chars");
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("token=opaque-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&stub)
        .await;
    let endpoint = format!("{}/introspect", stub.uri());
    create_tenant_with(
        &app,
        SHOP,
        "oidc",
        opaque_settings(upstream(&endpoint, "scopegate", SECRET)),
    )
    .await;

    let seen = explained(&app, SHOP, "opaque-token-1").await;
    assert!(seen.active, "{seen:?}");
    assert_eq!(
        seen.scope, "openid profile",
        "filtered by the catalog, in its order"
    );
    assert_eq!(seen.client_id, "svc");
    assert_eq!(seen.sub, "user-1");
    assert_eq!(seen.exp, Some(exp));
    assert_eq!(seen.iat, Some(exp - 600));
    assert_eq!(seen.aud, ["api-a", "api-b"]);
    assert_eq!(seen.iss, "https://as.example");
    assert_eq!(seen.username, "ada");
    assert_eq!(seen.token_type, "Bearer");
    assert_eq!(seen.jti, "j-1");
    assert_eq!(seen.tenant, SHOP);
    let claims = seen.claims.unwrap();
    assert!(claims.fields.contains_key("tenant_hint"), "{claims:?}");
    assert!(!claims.fields.contains_key("active"), "{claims:?}");

    // The same facts decide a check, from the cache: granted scopes allow, others deny.
    let allowed = check_one(&app, check_of(SHOP, "opaque-token-1", &["profile"])).await;
    assert!(allowed.allowed, "{allowed:?}");
    let denied = check_one(&app, check_of(SHOP, "opaque-token-1", &["email"])).await;
    assert!(!denied.allowed && denied.error.is_none(), "{denied:?}");
    assert_eq!(denied.missing, ["email"]);
    assert_eq!(calls(&stub).await, 1, "cached after the first answer");

    // Without a tenant an opaque token cannot be routed.
    let unrouted = explained(&app, "", "opaque-token-1").await;
    assert!(!unrouted.active);
    assert_eq!(outcome(&unrouted), "unknown_issuer");
}

#[tokio::test]
async fn every_bad_upstream_answer_is_inactive_and_remembered_by_no_cache() {
    let big = format!("{{\"active\":true,\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let cases: [(&str, ResponseTemplate, &str); 8] = [
        (
            "not-json",
            ResponseTemplate::new(200).set_body_string("<html>hi</html>"),
            "upstream_invalid",
        ),
        (
            "too-large",
            ResponseTemplate::new(200).set_body_string(big),
            "upstream_invalid",
        ),
        (
            "no-active",
            ResponseTemplate::new(200).set_body_json(json!({"scope": "profile"})),
            "upstream_invalid",
        ),
        (
            "string-active",
            ResponseTemplate::new(200).set_body_json(json!({"active": "true"})),
            "upstream_invalid",
        ),
        (
            "array",
            ResponseTemplate::new(200).set_body_json(json!([{"active": true}])),
            "upstream_invalid",
        ),
        (
            "bad-exp",
            ResponseTemplate::new(200).set_body_json(json!({"active": true, "exp": "soon"})),
            "upstream_invalid",
        ),
        (
            "inactive",
            ResponseTemplate::new(200).set_body_json(json!({"active": false})),
            "upstream_inactive",
        ),
        (
            "refresh",
            ResponseTemplate::new(200)
                .set_body_json(json!({"active": true, "token_type": "refresh_token"})),
            "not_access_token",
        ),
    ];
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let stub = MockServer::start().await;
    for (token, answer, _) in &cases {
        Mock::given(method("POST"))
            .and(body_string_contains(format!("token={token}&").as_str()))
            .respond_with(answer.clone())
            .mount(&stub)
            .await;
    }
    let endpoint = format!("{}/introspect", stub.uri());
    create_tenant_with(
        &app,
        SHOP,
        "oidc",
        opaque_settings(upstream(&endpoint, "scopegate", SECRET)),
    )
    .await;

    for (token, _, expected) in &cases {
        let seen = explained(&app, SHOP, token).await;
        assert!(!seen.active, "{token}: {seen:?}");
        assert_eq!(outcome(&seen), *expected, "{token}");
        assert_eq!(seen.scope, "", "an inactive answer says nothing else");
        // A check of a token the upstream refused is a denial, not an outage.
        let checked = check_one(&app, check_of(SHOP, token, &["profile"])).await;
        assert!(
            !checked.allowed && checked.error.is_none(),
            "{token}: {checked:?}"
        );
    }
}

#[tokio::test]
async fn an_upstream_outage_fails_closed_inactive_for_introspect_and_unavailable_for_checks() {
    // A 5xx, a timeout (the stub waits longer than the tenant's 200 ms), and a closed port.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (app, _stub, _db) = app_with_stub(ResponseTemplate::new(503), |e| {
        upstream(e, "scopegate", SECRET)
    })
    .await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"active": true}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&slow)
        .await;
    let mut timeout = upstream(&format!("{}/introspect", slow.uri()), "scopegate", SECRET);
    timeout.timeout_ms = Some(200);
    create_tenant_with(&app, "slow", "oidc", opaque_settings(timeout)).await;
    let down = upstream(&format!("http://{closed}/introspect"), "scopegate", SECRET);
    create_tenant_with(&app, "down", "oidc", opaque_settings(down)).await;

    for tenant in [SHOP, "slow", "down"] {
        let seen = explained(&app, tenant, "opaque-x").await;
        assert!(!seen.active, "{tenant}");
        assert_eq!(outcome(&seen), "upstream_unavailable", "{tenant}");
        let checked = check_one(&app, check_of(tenant, "opaque-x", &["profile"])).await;
        assert!(!checked.allowed, "{tenant}");
        let error = checked.error.expect("an outage is an error, not a denial");
        assert_eq!(
            error.code,
            tonic::Code::Unavailable as i32,
            "{tenant}: {error:?}"
        );
    }
}

#[tokio::test]
async fn fifty_concurrent_checks_of_one_token_make_one_upstream_call() {
    let answer = ResponseTemplate::new(200)
        .set_body_json(json!({"active": true, "scope": "profile"}))
        .set_delay(Duration::from_millis(300));
    let (app, stub, _db) = app_with_stub(answer, |e| upstream(e, "scopegate", SECRET)).await;

    let checks = (0..50).map(|_| check_of(SHOP, "opaque-shared", &["profile"]));
    let results = concurrently(&app, checks.collect()).await;

    assert!(results.iter().all(|r| r.allowed), "{results:?}");
    assert_eq!(calls(&stub).await, 1);
}

#[tokio::test]
async fn upstream_calls_beyond_the_in_flight_cap_are_unavailable_never_a_guess() {
    // The stub holds every call for 2 s, so 80 distinct tokens at once exceed the cap of 64.
    let answer = ResponseTemplate::new(200)
        .set_body_json(json!({"active": true, "scope": "profile"}))
        .set_delay(Duration::from_secs(2));
    let (app, stub, _db) = app_with_stub(answer, |e| upstream(e, "scopegate", SECRET)).await;

    let checks = (0..80).map(|i| check_of(SHOP, &format!("opaque-{i}"), &["profile"]));
    let results = concurrently(&app, checks.collect()).await;

    let unavailable = results
        .iter()
        .filter(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.code == tonic::Code::Unavailable as i32)
        })
        .count();
    let allowed = results.iter().filter(|r| r.allowed).count();
    assert_eq!(
        allowed + unavailable,
        80,
        "every check is allowed or UNAVAILABLE: {results:?}"
    );
    assert!(unavailable >= 16, "{unavailable} over the cap");
    assert!(
        calls(&stub).await <= 64,
        "never more than the cap in flight"
    );
}

#[tokio::test]
async fn a_settings_write_makes_cached_upstream_answers_unusable() {
    let answer =
        ResponseTemplate::new(200).set_body_json(json!({"active": true, "scope": "profile"}));
    let (app, stub, _db) = app_with_stub(answer, |e| upstream(e, "scopegate", SECRET)).await;
    let endpoint = format!("{}/introspect", stub.uri());

    assert!(explained(&app, SHOP, "opaque-a").await.active);
    assert!(explained(&app, SHOP, "opaque-a").await.active);
    assert_eq!(calls(&stub).await, 1);
    let mut changed = upstream(&endpoint, "scopegate", "");
    changed.cache_ttl_seconds = Some(30);
    update(&app, SHOP, opaque_settings(changed)).await.unwrap();
    let again = explained(&app, SHOP, "opaque-a").await;

    assert!(again.active);
    assert_eq!(calls(&stub).await, 2, "asked again after the write");
    // The secret was kept (the write gave none) and is never read back.
    let received = stub.received_requests().await.unwrap();
    assert_eq!(
        received[0].headers.get("authorization"),
        received[1].headers.get("authorization")
    );
}

#[tokio::test]
async fn the_secret_is_write_only_and_settings_are_checked() {
    let answer = ResponseTemplate::new(200).set_body_json(json!({"active": true}));
    let (app, _stub, _db) = app_with_stub(answer, |e| upstream(e, "scopegate", SECRET)).await;

    let read = app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Get(scopegate::pb::GetTenant {
                id: SHOP.to_owned(),
            })),
        }))
        .await
        .unwrap()
        .into_inner();
    let printed = format!("{read:?}");
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(printed.contains("client_secret_set: true"), "{printed}");

    let bad: [(UpstreamIntrospection, &str); 5] = [
        (
            upstream("ftp://as.example/i", "a", "b"),
            "settings.upstream_introspection.endpoint",
        ),
        (
            upstream("https://u:p@as.example/i", "a", "b"),
            "settings.upstream_introspection.endpoint",
        ),
        (
            upstream("https://as.example/i", "", "b"),
            "settings.upstream_introspection.client_id",
        ),
        (
            UpstreamIntrospection {
                timeout_ms: Some(0),
                ..upstream("https://as.example/i", "a", "b")
            },
            "settings.upstream_introspection.timeout_ms",
        ),
        (
            UpstreamIntrospection {
                cache_ttl_seconds: Some(3601),
                ..upstream("https://as.example/i", "a", "b")
            },
            "settings.upstream_introspection.cache_ttl_seconds",
        ),
    ];
    for (config, field) in bad {
        let err = update(&app, SHOP, opaque_settings(config))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    // A new tenant needs a secret.
    let mut no_secret = opaque_settings(upstream("https://as.example/i", "a", ""));
    no_secret.issuer = None;
    let created = app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Create(scopegate::pb::CreateTenant {
                id: "fresh".to_owned(),
                preset: "oidc".to_owned(),
                settings: Some(no_secret),
                ..Default::default()
            })),
        }))
        .await;
    assert_eq!(created.unwrap_err().code(), tonic::Code::InvalidArgument);
}

/// Runs `checks` at once, each in its own call.
pub async fn concurrently(app: &TestApp, checks: Vec<Check>) -> Vec<CheckResult> {
    let mut set = tokio::task::JoinSet::new();
    for check in checks {
        let mut client = crate::decision::decision(app);
        set.spawn(async move {
            let request = CheckScopesRequest {
                tenant: String::new(),
                checks: vec![check],
                explain: false,
            };
            client
                .check_scopes(request)
                .await
                .unwrap()
                .into_inner()
                .results
                .remove(0)
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn an_upstream_answer_is_cached_until_min_of_exp_and_the_ttl_cap() {
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let stub = MockServer::start().await;
    let t0 = now();
    for (token, answer) in [
        ("short", json!({"active": true, "exp": t0 + 10})),
        ("long", json!({"active": true, "exp": t0 + 100_000})),
        ("no-exp", json!({"active": true})),
    ] {
        Mock::given(method("POST"))
            .and(body_string_contains(format!("token={token}&").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&stub)
            .await;
    }
    let store = store::connect(&db.url).await.unwrap();
    let limits = CacheLimits {
        capacity: 100,
        ttl: Duration::from_secs(3600),
        stale_if_error: Duration::ZERO,
    };
    let states = TenantStates::new(store, limits);
    let file = CatalogFile::preset("oidc").unwrap();
    let seed = preset::seed(&file, AdminStyle::Colon, store::now_ms()).unwrap();
    let id = TenantId::parse(SHOP).unwrap();
    let mut tenant = new_tenant(id.clone(), "Shop".into(), "oidc", AdminStyle::Colon, 0);
    tenant.upstream = Some(scopegate::tenant::UpstreamIntrospection {
        endpoint: format!("{}/introspect", stub.uri()),
        client_id: "scopegate".into(),
        client_secret: ClientSecret::new(SECRET.into()),
        timeout_ms: 2000,
        tokens: UpstreamTokens::NonJws,
        cache_ttl_seconds: 30,
    });
    let actor = Actor("test".into());
    states.create_tenant(&tenant, &seed, &actor).await.unwrap();
    let jwks = JwksConfig {
        allow_plain_http: true,
        networks: NetworkPolicy {
            allow_private: true,
            ..NetworkPolicy::default()
        },
        ..JwksConfig::default()
    };
    let pipeline = TokenPipeline::new(states, jwks, &TokenCacheConfig::default()).unwrap();
    let active_at = |token: &'static str, at: i64| {
        let (pipeline, id) = (pipeline.clone(), id.clone());
        async move {
            pipeline
                .introspect(Some(&id), token, at)
                .await
                .unwrap()
                .token
                .is_ok()
        }
    };
    let upstream_calls = || pipeline.upstream().calls();

    // exp (10 s) before the cap (30 s): cached until exp.
    assert!(active_at("short", t0).await);
    assert!(active_at("short", t0 + 9).await);
    assert_eq!(upstream_calls(), 1);
    active_at("short", t0 + 10).await;
    assert_eq!(upstream_calls(), 2, "asked again at exp");
    // The cap before exp: cached for the cap.
    assert!(active_at("long", t0).await);
    assert!(active_at("long", t0 + 29).await);
    assert_eq!(upstream_calls(), 3);
    assert!(active_at("long", t0 + 30).await);
    assert_eq!(upstream_calls(), 4, "asked again at the cap");
    // No exp: the cap, and the answer says so.
    assert!(active_at("no-exp", t0).await);
    assert!(active_at("no-exp", t0 + 29).await);
    assert_eq!(upstream_calls(), 5);
    assert!(active_at("no-exp", t0 + 30).await);
    assert_eq!(upstream_calls(), 6);
}
