//! Two replicas on one Postgres database stay coherent: a write on one is seen by the other
//! through the change feed, long before the cache TTL would expire, and so is a new tenant
//! the other had been asked about (and remembered as unknown) before it existed.

use std::time::Duration;

use scopegate::pb::{DeleteScope, Reason, ScopeRef, manage_scope_request::Action, scope_ref::Ref};
use serde_json::json;

use crate::{
    decision::{all_of, check_all, granted_check},
    helpers::create_tenant,
    helpers::{Backend, TestApp, TestDb, postgres_url, test_config},
    introspection::introspect,
    manage_scope::{list_names, scope_call},
    tokens::{Idp, create_tenant_for},
};

/// Two servers on one fresh Postgres database, with a catalog TTL of an hour: only the change
/// feed can explain a fresh read. `None` when Postgres is not configured.
async fn two_replicas() -> Option<(TestDb, TestApp, TestApp)> {
    postgres_url()?;
    let db = TestDb::new(Backend::Postgres).await?;
    let replica = || {
        let mut config = test_config(&db.url);
        config.catalog_ttl = Duration::from_secs(3600);
        config
    };
    let a = TestApp::start(replica()).await;
    let b = TestApp::start(replica()).await;
    Some((db, a, b))
}

/// Polls `done` until it holds (the change feed is an external event), for at most 5 s: far
/// less than the hour an entry stays cached here without an announcement.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn a_write_on_one_replica_reaches_the_other_through_the_change_feed() {
    let Some((_db, a, b)) = two_replicas().await else {
        return;
    };
    create_tenant(&a, "school", "loopwise").await;
    assert!(
        list_names(&b, "school", false)
            .await
            .contains(&"courses:read".to_owned()),
        "b caches the catalog"
    );

    let delete = Action::Delete(DeleteScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:read".into())),
        }),
        ..Default::default()
    });
    scope_call(&a, "school", delete).await.unwrap();

    eventually("replica b never heard of the delete", || async {
        !list_names(&b, "school", false)
            .await
            .contains(&"courses:read".to_owned())
    })
    .await;
}

/// What `app` answers for granted `openid` against the tenant `late`.
async fn named(app: &TestApp) -> Reason {
    let check = granted_check("late", &["openid"], "", all_of(&["openid"]));
    check_all(app, "late", vec![check]).await.remove(0).reason()
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn a_tenant_created_on_one_replica_is_found_on_the_other_where_it_was_unknown() {
    let Some((_db, a, b)) = two_replicas().await else {
        return;
    };
    let idp = Idp::new("https://id.late.test", "late-key");
    let token = idp.mint(&json!({ "scope": "openid" }));

    // B learns that neither the tenant nor the token's issuer exists, and remembers it.
    assert_eq!(named(&b).await, Reason::TenantNotFound);
    assert!(!introspect(&b, "", &token).await.active);

    create_tenant_for(&a, "late", "oidc", &idp).await;
    assert_eq!(named(&a).await, Reason::Allowed, "at once on the writer");
    eventually("b still says the tenant does not exist", || async {
        named(&b).await == Reason::Allowed
    })
    .await;
    eventually("b still does not route the issuer", || async {
        introspect(&b, "", &token).await.active
    })
    .await;
}

/// Whether replica `app` accepts `key` (a caller key) on CheckScopes for `school`.
async fn accepts_key(app: &TestApp, key: &str) -> bool {
    let mut request = tonic::Request::new(scopegate::pb::CheckScopesRequest {
        tenant: "school".into(),
        checks: vec![granted_check(
            "c",
            &["school:read"],
            "",
            all_of(&["school:read"]),
        )],
        explain: false,
    });
    request
        .metadata_mut()
        .insert("x-scopegate-caller-key", key.parse().unwrap());
    scopegate::pb::scope_decision_client::ScopeDecisionClient::new(app.channel.clone())
        .check_scopes(request)
        .await
        .is_ok()
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn a_caller_key_added_or_deleted_on_one_replica_is_seen_by_the_other() {
    use scopegate::pb::{
        AddCallerKey, CallerLimits, CallerSurface, DeleteCallerKey, ManageCallerRequest,
        manage_caller_request::Action as CallerAction, manage_caller_response::Result as Answer,
    };
    let Some((_db, a, b)) = two_replicas().await else {
        return;
    };
    create_tenant(&a, "school", "loopwise").await;
    let manage = |action| {
        let mut admin = a.admin();
        async move {
            admin
                .manage_caller(crate::helpers::authed(ManageCallerRequest {
                    action: Some(action),
                }))
                .await
                .unwrap()
                .into_inner()
                .result
                .unwrap()
        }
    };
    manage(CallerAction::Create(CallerLimits {
        name: "orders".into(),
        tenants: vec!["school".into()],
        all_tenants: false,
        surfaces: vec![CallerSurface::Decision as i32],
    }))
    .await;
    // b reads its directory now, before the key exists.
    assert!(
        !accepts_key(
            &b,
            "sgk_AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )
        .await
    );
    let Answer::CreatedKey(created) = manage(CallerAction::AddKey(AddCallerKey {
        name: "orders".into(),
    }))
    .await
    else {
        panic!("no key");
    };

    eventually("replica b never heard of the new key", || {
        accepts_key(&b, &created.key)
    })
    .await;
    manage(CallerAction::DeleteKey(DeleteCallerKey {
        name: "orders".into(),
        key_id: created.key_id.clone(),
    }))
    .await;
    eventually("replica b kept accepting the deleted key", || async {
        !accepts_key(&b, &created.key).await
    })
    .await;
}
