//! An upstream answer loaded before a settings write never outlives it. The stub authorization
//! server holds its answer open while the write commits (endpoint moved, credentials changed,
//! tokens no longer sent upstream): the call that asked may answer by the old configuration
//! (it began first) or fail, but no call after the write returned is answered from the old
//! configuration, whether it starts after the held answer landed in the cache or waits on it.
//! A bounded randomized run of concurrent introspections during settings writes checks the same
//! for every interleaving it meets.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use scopegate::pb::{
    IntrospectRequest, IntrospectResponse, UpstreamIntrospection, UpstreamTokens,
    token_introspection_client::TokenIntrospectionClient,
};
use tonic::transport::Channel;

use super::{SHOP, held_upstream::HeldUpstream, opaque_settings, update, upstream};
use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb},
    tokens::create_tenant_with,
};

backend_tests!(
    an_answer_in_flight_while_the_endpoint_moves_is_not_served_after_the_write,
    a_call_waiting_on_an_answer_from_before_the_write_asks_the_new_endpoint,
    an_answer_in_flight_while_the_credentials_change_is_asked_for_again_after_the_write,
    an_answer_in_flight_when_the_tenant_stops_sending_tokens_upstream_is_not_served_after_it,
    randomized_introspections_during_upstream_writes_never_see_an_older_configuration,
);

/// Upstream configuration at `endpoint` with a timeout far above any hold (the gate, not the
/// clock, decides when the answer lands).
fn config(endpoint: &str, secret: &str) -> UpstreamIntrospection {
    UpstreamIntrospection {
        timeout_ms: Some(30_000),
        ..upstream(endpoint, "scopegate", secret)
    }
}

async fn introspect(channel: Channel, token: &str) -> IntrospectResponse {
    let request = IntrospectRequest {
        token: token.to_owned(),
        tenant: SHOP.to_owned(),
        ..Default::default()
    };
    TokenIntrospectionClient::new(channel)
        .introspect(request)
        .await
        .unwrap()
        .into_inner()
}

/// Starts an introspection of `token` and waits until `stub` holds its upstream call.
async fn held_call(
    app: &TestApp,
    stub: &HeldUpstream,
    token: &'static str,
) -> tokio::task::JoinHandle<IntrospectResponse> {
    let calls = stub.calls();
    stub.hold();
    let in_flight = tokio::spawn(introspect(app.channel.clone(), token));
    stub.wait_for_calls(calls + 1).await;
    in_flight
}

/// The call that was in flight across the write began first: the old answer or none.
fn by_old_config_or_inactive(answer: &IntrospectResponse, old: &str) {
    assert!(
        !answer.active || answer.client_id == old,
        "the call in flight answers by the old configuration or not at all: {answer:?}"
    );
}

async fn an_answer_in_flight_while_the_endpoint_moves_is_not_served_after_the_write(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let (old, new) = (HeldUpstream::start().await, HeldUpstream::start().await);
    let settings = opaque_settings(config(&old.endpoint("old"), "s1"));
    create_tenant_with(&app, SHOP, "oidc", settings).await;

    // The old endpoint's answer is in flight …
    let in_flight = held_call(&app, &old, "opaque-1").await;
    // … the admin moves the endpoint, and the write returns …
    update(
        &app,
        SHOP,
        opaque_settings(config(&new.endpoint("new"), "")),
    )
    .await
    .unwrap();
    // … and only then does the old answer land (in the cache too, stamped before the write).
    old.release();
    by_old_config_or_inactive(&in_flight.await.unwrap(), "old");

    let after = introspect(app.channel.clone(), "opaque-1").await;
    assert!(after.active, "{after:?}");
    assert_eq!(after.client_id, "new", "decided by the new endpoint");
    assert_eq!((old.calls(), new.calls()), (1, 1));
    // The new answer is cached as usual.
    let cached = introspect(app.channel.clone(), "opaque-1").await;
    assert_eq!(cached.client_id, "new");
    assert_eq!(new.calls(), 1);
}

async fn a_call_waiting_on_an_answer_from_before_the_write_asks_the_new_endpoint(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let (old, new) = (HeldUpstream::start().await, HeldUpstream::start().await);
    let settings = opaque_settings(config(&old.endpoint("old"), "s1"));
    create_tenant_with(&app, SHOP, "oidc", settings).await;

    let in_flight = held_call(&app, &old, "opaque-1").await;
    update(
        &app,
        SHOP,
        opaque_settings(config(&new.endpoint("new"), "")),
    )
    .await
    .unwrap();
    // Starts after the write returned, while the old answer is still held: it may join that
    // load (coalesced by token) but must not be answered by it.
    let after = tokio::spawn(introspect(app.channel.clone(), "opaque-1"));
    old.release();
    by_old_config_or_inactive(&in_flight.await.unwrap(), "old");
    let after = after.await.unwrap();

    assert!(after.active, "{after:?}");
    assert_eq!(after.client_id, "new", "decided by the new endpoint");
    assert_eq!(
        old.calls(),
        1,
        "the old endpoint is never asked after the write"
    );
    assert_eq!(new.calls(), 1);
}

async fn an_answer_in_flight_while_the_credentials_change_is_asked_for_again_after_the_write(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let stub = HeldUpstream::start().await;
    let endpoint = stub.endpoint("as");
    create_tenant_with(&app, SHOP, "oidc", opaque_settings(config(&endpoint, "s1"))).await;

    let in_flight = held_call(&app, &stub, "opaque-1").await;
    update(&app, SHOP, opaque_settings(config(&endpoint, "s2")))
        .await
        .unwrap();
    stub.release();
    by_old_config_or_inactive(&in_flight.await.unwrap(), "as");

    let after = introspect(app.channel.clone(), "opaque-1").await;
    assert!(after.active, "{after:?}");
    assert_eq!(
        stub.calls(),
        2,
        "asked again: the held answer is not served"
    );
    let credentials = stub.credentials();
    assert_ne!(credentials[0], credentials[1], "asked with the new secret");
    introspect(app.channel.clone(), "opaque-1").await;
    assert_eq!(stub.calls(), 2, "the new answer is cached as usual");
}

async fn an_answer_in_flight_when_the_tenant_stops_sending_tokens_upstream_is_not_served_after_it(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let stub = HeldUpstream::start().await;
    let endpoint = stub.endpoint("as");
    create_tenant_with(&app, SHOP, "oidc", opaque_settings(config(&endpoint, "s1"))).await;

    let in_flight = held_call(&app, &stub, "opaque-1").await;
    let none = UpstreamIntrospection {
        tokens: UpstreamTokens::None.into(),
        ..config(&endpoint, "")
    };
    update(&app, SHOP, opaque_settings(none)).await.unwrap();
    stub.release();
    by_old_config_or_inactive(&in_flight.await.unwrap(), "as");

    let after = introspect(app.channel.clone(), "opaque-1").await;
    assert!(
        !after.active,
        "no longer sent upstream, not a JWT: {after:?}"
    );
    assert_eq!(stub.calls(), 1, "not asked after the write");
}

/// A bounded randomized run: readers introspect a few tokens while one writer moves the
/// endpoint (`v1`, `v2`, …; every fifth write stops sending tokens upstream instead). Every
/// active answer must come from the configuration of the last write that returned before the
/// read began, or a later one.
async fn randomized_introspections_during_upstream_writes_never_see_an_older_configuration(
    backend: Backend,
) {
    const WRITES: usize = 40;
    const READERS: usize = 6;
    const MIN_READS: usize = 40;
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let stub = HeldUpstream::start().await;
    let settings = opaque_settings(config(&stub.endpoint("0"), "s1"));
    create_tenant_with(&app, SHOP, "oidc", settings).await;
    // The version of the last write that returned: a read that starts after must not see older.
    let floor = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..READERS {
        let (channel, floor, done) = (app.channel.clone(), floor.clone(), done.clone());
        readers.spawn(async move {
            let (mut reads, mut stale) = (0usize, Vec::new());
            // Bounded: the writer finishes after WRITES writes, then MIN_READS more at most.
            while !done.load(Ordering::SeqCst) || reads < MIN_READS {
                let must_see = floor.load(Ordering::SeqCst);
                let token = format!("opaque-{}", (reader + reads) % 3);
                let seen = introspect(channel.clone(), &token).await;
                reads += 1;
                if seen.active {
                    let version: usize = seen.client_id.parse().unwrap();
                    if version < must_see {
                        stale.push((must_see, version));
                    }
                }
            }
            (reads, stale)
        });
    }
    for version in 1..=WRITES {
        let endpoint = stub.endpoint(&version.to_string());
        let next = UpstreamIntrospection {
            tokens: if version % 5 == 0 {
                UpstreamTokens::None.into()
            } else {
                UpstreamTokens::NonJws.into()
            },
            ..config(&endpoint, "")
        };
        update(&app, SHOP, opaque_settings(next)).await.unwrap();
        floor.store(version, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::SeqCst);
    let (mut reads, mut stale) = (0, Vec::new());
    while let Some(result) = readers.join_next().await {
        let (r, s) = result.unwrap();
        reads += r;
        stale.extend(s);
    }
    eprintln!(
        "{backend:?}: {WRITES} writes, {reads} reads, {} upstream calls, {} stale",
        stub.calls(),
        stale.len()
    );
    assert!(
        stale.is_empty(),
        "answers older than the last returned write (floor, seen): {stale:?}"
    );
}
