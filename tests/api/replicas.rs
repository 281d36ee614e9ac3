//! Two replicas on one Postgres database stay coherent: a write on one is seen by the other
//! through the change feed, long before the cache TTL would expire.

use std::time::Duration;

use scopegate::pb::{DeleteScope, ScopeRef, manage_scope_request::Action, scope_ref::Ref};

use crate::{
    helpers::create_tenant,
    helpers::{Backend, TestApp, TestDb, postgres_url, test_config},
    manage_scope::{list_names, scope_call},
};

#[tokio::test]
async fn a_write_on_one_replica_reaches_the_other_through_the_change_feed() {
    if postgres_url().is_none() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await.unwrap();
    // A TTL of an hour: only the change feed can explain a fresh read.
    let replica = |db: &TestDb| {
        let mut config = test_config(&db.url);
        config.catalog_ttl = Duration::from_secs(3600);
        config
    };
    let a = TestApp::start(replica(&db)).await;
    let b = TestApp::start(replica(&db)).await;
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

    // Wait for the notification to arrive (an external event), bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if !list_names(&b, "school", false)
            .await
            .contains(&"courses:read".to_owned())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica b never heard of the delete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
