//! The JWKS provider against a local HTTP/1.1 server that counts requests: reuse, coalescing,
//! rotation, floods of made-up kids, failed refreshes and limits. No sleeps: each assertion
//! follows from the order of awaited calls, and time passes only when the test moves the
//! provider's clock.

use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;

use super::jwks_server::{Reply, Server};
use super::support::*;
use crate::token::KeySource;
use crate::token::{JwksConfig, JwksProvider, KeyError, NetworkPolicy, Rejection, SkipReason};

/// The test servers listen on http://127.0.0.1: opt in to plain http and internal networks.
fn local_config() -> JwksConfig {
    JwksConfig {
        allow_plain_http: true,
        networks: NetworkPolicy {
            allow_private: true,
            ..NetworkPolicy::default()
        },
        ..JwksConfig::default()
    }
}

fn provider() -> JwksProvider {
    JwksProvider::new(local_config()).expect("provider")
}

#[tokio::test]
async fn a_fetched_set_is_reused_until_it_is_due() {
    let a = ec("a");
    let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
    let (provider, tenant) = (provider(), server.tenant());
    let first = provider.keys(tenant.keyring()).await.expect("keys");
    let second = provider.keys(tenant.keyring()).await.expect("keys");
    assert!(Arc::ptr_eq(&first, &second));
    assert!(
        provider
            .verify_with(&token(&a), &tenant.policy, tenant.keyring(), NOW)
            .await
            .is_ok()
    );
    assert_eq!((server.hits().await, provider.fetch_count()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_fetch() {
    let a = ec("a");
    let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
    let (provider, tenant) = (provider(), Arc::new(server.tenant()));
    let mut tasks = JoinSet::new();
    for _ in 0..50 {
        let (provider, tenant, token) = (provider.clone(), Arc::clone(&tenant), token(&a));
        tasks.spawn(async move {
            provider
                .verify_with(&token, &tenant.policy, tenant.keyring(), NOW)
                .await
                .is_ok()
        });
    }
    while let Some(verified) = tasks.join_next().await {
        assert!(verified.expect("task"));
    }
    assert_eq!(server.hits().await, 1);
}

#[tokio::test]
async fn a_rotated_key_verifies_after_one_refresh() {
    let (a, b) = (ec("key-2026"), ec("key-2027"));
    let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
    let (provider, tenant) = (provider(), server.tenant());
    assert!(
        provider
            .verify_with(&token(&a), &tenant.policy, tenant.keyring(), NOW)
            .await
            .is_ok()
    );

    server.set(Reply::Json(jwks_json(&[&a, &b])));
    let rotated = provider
        .verify_with(&token(&b), &tenant.policy, tenant.keyring(), NOW)
        .await;
    assert_eq!(rotated.map(|t| t.kid), Ok(Some("key-2027".to_owned())));
    assert!(
        provider
            .verify_with(&token(&a), &tenant.policy, tenant.keyring(), NOW)
            .await
            .is_ok()
    );
    assert_eq!(server.hits().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_kids_costs_one_fetch_per_interval() {
    let a = ec("a");
    let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
    let (provider, tenant) = (provider(), Arc::new(server.tenant()));
    assert!(
        provider
            .verify_with(&token(&a), &tenant.policy, tenant.keyring(), NOW)
            .await
            .is_ok()
    );

    for round in 0..2 {
        let mut tasks = JoinSet::new();
        for i in 0..200 {
            let mut header = header(&a);
            header["kid"] = json!(format!("made-up-{round}-{i}"));
            let token = mint(&a, &header, &claims());
            let (provider, tenant) = (provider.clone(), Arc::clone(&tenant));
            tasks.spawn(async move {
                provider
                    .verify_with(&token, &tenant.policy, tenant.keyring(), NOW)
                    .await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.expect("task").err(), Some(Rejection::UnknownKid));
        }
        // The first flood cost exactly one refresh; the second, within the interval, none.
        assert_eq!(server.hits().await, 2, "after round {round}");
    }
    // The price of the throttle: a key published within the interval waits for the next refresh.
    let c = ec("c");
    server.set(Reply::Json(jwks_json(&[&a, &c])));
    assert_eq!(
        provider
            .verify_with(&token(&c), &tenant.policy, tenant.keyring(), NOW)
            .await
            .err(),
        Some(Rejection::UnknownKid)
    );
    assert_eq!(server.hits().await, 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_previous_set() {
    let a = ec("a");
    let broken_replies = [
        Reply::Status(500),
        Reply::Json("{not json".to_owned()),
        Reply::Json(r#"{"keys":[]}"#.to_owned()),
    ];
    for broken in broken_replies {
        let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
        let (provider, tenant) = (provider(), server.tenant());
        let before = provider.keys(tenant.keyring()).await.expect("keys");
        server.set(broken);
        let mut header = header(&a);
        header["kid"] = json!("rotated-away");
        let refreshed = provider
            .verify_with(
                &mint(&a, &header, &claims()),
                &tenant.policy,
                tenant.keyring(),
                NOW,
            )
            .await;
        assert_eq!(refreshed.err(), Some(Rejection::UnknownKid));
        assert_eq!(server.hits().await, 2);
        let after = provider.keys(tenant.keyring()).await.expect("keys kept");
        assert!(Arc::ptr_eq(&before, &after));
        assert!(
            provider
                .verify_with(&token(&a), &tenant.policy, tenant.keyring(), NOW)
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn a_due_set_is_refreshed_and_a_failed_refresh_backs_off() {
    let (a, b) = (ec("a"), ec("b"));
    let server = Server::start(Reply::Json(jwks_json(&[&a]))).await;
    let (provider, tenant) = (provider(), server.tenant());
    let first = provider.keys(tenant.keyring()).await.expect("keys");
    server.set(Reply::Json(jwks_json(&[&b])));
    provider.advance_clock(3000);
    assert!(Arc::ptr_eq(
        &first,
        &provider.keys(tenant.keyring()).await.expect("keys")
    ));
    assert_eq!(server.hits().await, 1);
    provider.advance_clock(600);
    let second = provider.keys(tenant.keyring()).await.expect("keys");
    assert!(second.has_kid("b") && !second.has_kid("a"));
    assert_eq!(server.hits().await, 2);

    server.set(Reply::Status(500));
    provider.advance_clock(3600);
    assert!(Arc::ptr_eq(
        &second,
        &provider
            .keys(tenant.keyring())
            .await
            .expect("previous set kept")
    ));
    assert_eq!(server.hits().await, 3);
    // Within the failure backoff (10 s) the stale set is served without another attempt...
    provider.advance_clock(5);
    assert!(Arc::ptr_eq(
        &second,
        &provider
            .keys(tenant.keyring())
            .await
            .expect("previous set kept")
    ));
    assert_eq!(server.hits().await, 3);
    // ...and after it, one more attempt.
    server.set(Reply::Json(jwks_json(&[&a, &b])));
    provider.advance_clock(5);
    assert!(
        provider
            .keys(tenant.keyring())
            .await
            .expect("keys")
            .has_kid("a")
    );
    assert_eq!(server.hits().await, 4);
}

#[tokio::test]
async fn a_failing_first_fetch_is_reported_and_not_retried_at_once() {
    let server = Server::start(Reply::Status(503)).await;
    let (provider, tenant) = (provider(), server.tenant());
    let error = provider.keys(tenant.keyring()).await.err();
    assert_eq!(
        error,
        Some(KeyError::Fetch(
            "HTTP status 503 Service Unavailable".to_owned()
        ))
    );
    assert_eq!(
        provider
            .verify_with(&token(&ec("a")), &tenant.policy, tenant.keyring(), NOW)
            .await
            .err(),
        Some(Rejection::KeysUnavailable)
    );
    assert_eq!(server.hits().await, 1);
}

#[tokio::test]
async fn oversized_and_secret_bearing_responses_are_refused() {
    let padded = json!({ "keys": [ec("a").jwk], "pad": "x".repeat(4096) }).to_string();
    let server = Server::start(Reply::Json(padded)).await;
    let small = JwksProvider::new(JwksConfig {
        max_bytes: 1024,
        ..local_config()
    })
    .expect("provider");
    let error = small.keys(server.tenant().keyring()).await.err();
    assert_eq!(
        error,
        Some(KeyError::Fetch(
            "response is larger than 1024 bytes".to_owned()
        ))
    );

    server.set(Reply::Json(jwks_json(&[&hmac("h")])));
    let error = provider().keys(server.tenant().keyring()).await.err();
    let Some(KeyError::NoUsableKeys { skipped }) = error else {
        panic!("expected NoUsableKeys, got {error:?}")
    };
    assert_eq!(skipped[0].reason, SkipReason::SymmetricNotAllowed);
}

#[tokio::test]
async fn only_acceptable_uris_are_fetched() {
    let provider = default_provider();
    for uri in [
        "ftp://127.0.0.1/jwks",
        "http://idp.example/jwks",
        "not a url",
    ] {
        let error = provider
            .keys(tenant(KeySource::Uri(uri.to_owned())).keyring())
            .await
            .err();
        assert!(
            matches!(error, Some(KeyError::InvalidUri(_))),
            "{uri}: {error:?}"
        );
    }
    assert_eq!(
        provider.keys(tenant(KeySource::None).keyring()).await.err(),
        Some(KeyError::NoKeySource)
    );
}

#[tokio::test]
async fn inline_sets_are_parsed_once_and_never_fetched() {
    let a = ec("a");
    let tenant = tenant(KeySource::Inline(jwks_json(&[&a])));
    let provider = provider();
    let first = provider.keys(tenant.keyring()).await.expect("keys");
    assert!(Arc::ptr_eq(
        &first,
        &provider.keys(tenant.keyring()).await.expect("keys")
    ));
    assert!(
        provider
            .refresh_on_unknown_kid(tenant.keyring())
            .await
            .is_none()
    );
    let mut header = header(&a);
    header["kid"] = json!("unknown");
    let unknown = provider
        .verify_with(
            &mint(&a, &header, &claims()),
            &tenant.policy,
            tenant.keyring(),
            NOW,
        )
        .await;
    assert_eq!(unknown.err(), Some(Rejection::UnknownKid));
    assert_eq!(provider.fetch_count(), 0);
    let broken = tenant_with_inline(r#"{"keys":[]}"#);
    assert_eq!(
        provider
            .verify_with(&token(&a), &broken.policy, broken.keyring(), NOW)
            .await
            .err(),
        Some(Rejection::KeysUnavailable)
    );
}

fn tenant_with_inline(json: &str) -> TestTenant {
    tenant(KeySource::Inline(json.to_owned()))
}

/// The default configuration (no allowances), with a short timeout: an address tried that should
/// not have been costs at most that.
fn default_provider() -> JwksProvider {
    JwksProvider::new(JwksConfig {
        timeout: std::time::Duration::from_secs(2),
        ..JwksConfig::default()
    })
    .expect("provider")
}

/// Fetches every URI at once; the error of each.
async fn errors_of(provider: &JwksProvider, uris: &[String]) -> Vec<(String, Option<KeyError>)> {
    let mut tasks = JoinSet::new();
    for uri in uris {
        let (provider, uri) = (provider.clone(), uri.clone());
        tasks.spawn(async move {
            let error = provider
                .keys(tenant(KeySource::Uri(uri.clone())).keyring())
                .await
                .err();
            (uri, error)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        out.push(done.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_destinations_are_refused_before_connecting() {
    let server = Server::start(Reply::Json(jwks_json(&[&ec("a")]))).await;
    let port = server.port();
    let uris: Vec<String> = [
        // Loopback, by IPv4, IPv6, IPv4-mapped IPv6 and by a name that resolves to it.
        format!("https://127.0.0.1:{port}/jwks"),
        format!("https://127.1.2.3:{port}/jwks"),
        format!("https://[::1]:{port}/jwks"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
        format!("https://localhost:{port}/jwks"),
        format!("https://0.0.0.0:{port}/jwks"),
        // Cloud metadata (link-local), also IPv4-mapped.
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:169.254.169.254]/latest/meta-data/".to_owned(),
        // Private ranges, IPv6 unique-local and link-local.
        "https://10.0.0.1/jwks".to_owned(),
        "https://172.16.0.1/jwks".to_owned(),
        "https://172.31.255.254/jwks".to_owned(),
        "https://192.168.1.1/jwks".to_owned(),
        "https://100.64.0.1/jwks".to_owned(),
        "https://[fd00::1]/jwks".to_owned(),
        "https://[fe80::1]/jwks".to_owned(),
    ]
    .into();
    for (uri, error) in errors_of(&default_provider(), &uris).await {
        assert!(
            matches!(error, Some(KeyError::InvalidUri(_))),
            "{uri}: {error:?}"
        );
    }
    assert_eq!(server.hits().await, 0);
}

#[tokio::test]
async fn plain_http_needs_the_allowance() {
    let server = Server::start(Reply::Json(jwks_json(&[&ec("a")]))).await;
    let error = default_provider()
        .keys(server.tenant().keyring())
        .await
        .err();
    assert!(matches!(error, Some(KeyError::InvalidUri(_))), "{error:?}");
    assert_eq!(server.hits().await, 0);
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed() {
    let elsewhere = Server::start(Reply::Json(jwks_json(&[&ec("a")]))).await;
    let to = format!("http://localhost:{}/jwks", elsewhere.port());
    let first = Server::start(Reply::Redirect(to)).await;
    let error = provider().keys(first.tenant().keyring()).await.err();
    assert!(error.is_some(), "the redirect must not be followed");
    assert_eq!((first.hits().await, elsewhere.hits().await), (1, 0));
}

#[tokio::test]
async fn an_over_long_uri_is_refused_unfetched() {
    let server = Server::start(Reply::Json(jwks_json(&[&ec("a")]))).await;
    let long = format!("{}?{}", server.url, "a".repeat(3000));
    let error = provider()
        .keys(tenant(KeySource::Uri(long)).keyring())
        .await
        .err();
    assert!(matches!(error, Some(KeyError::InvalidUri(_))), "{error:?}");
    assert_eq!(server.hits().await, 0);
}
