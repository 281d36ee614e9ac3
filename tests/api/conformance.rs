//! The store conformance suite: the same contract checked on SQLite and Postgres through the
//! `Store` trait alone.

use std::sync::Arc;

use scopegate::{
    preset::{self, CatalogFile},
    scope::{
        AdminStyle, ScopeName,
        edit::{self, EditError, NewScope},
    },
    store::{
        self, Actor, FirstRunKey, IntrospectionCredential, Revocation, RevocationKind, Store,
        StoreError,
    },
    tenant::{KeySource, Tenant, TenantId},
};

use crate::{
    backend_tests,
    helpers::{Backend, TestDb},
};

fn tenant(id: &str, issuer: &str) -> Tenant {
    Tenant {
        id: TenantId::parse(id).unwrap(),
        display_name: id.to_owned(),
        issuer: issuer.to_owned(),
        audiences: vec!["api".to_owned()],
        key_source: KeySource::Uri("https://id.example/jwks".to_owned()),
        algorithms: vec!["RS256".to_owned()],
        leeway_seconds: 60,
        require_at_jwt_typ: true,
        jwks_refresh_seconds: 300,
        admin_style: AdminStyle::Colon,
        drop_unknown_scopes: false,
        resources: Vec::new(),
        scope_claims: Default::default(),
        dpop: Default::default(),
        upstream: None,
        preset: "loopwise".to_owned(),
        revision: 0,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

async fn seeded(backend: Backend) -> Option<(TestDb, Arc<dyn Store>, TenantId)> {
    let db = TestDb::new(backend).await?;
    let store = store::connect(&db.url).await.unwrap();
    let t = tenant("school", "https://id.school.test");
    let seed = preset::seed(
        &CatalogFile::preset("loopwise").unwrap(),
        AdminStyle::Colon,
        1,
    )
    .unwrap();
    let committed = store
        .create_tenant(&t, &seed, &Actor("test".into()))
        .await
        .unwrap();
    assert_eq!(committed.tenant.revision, 1);
    Some((db, store, t.id))
}

fn new_scope(name: &str) -> NewScope {
    NewScope {
        name: ScopeName::parse(name).unwrap(),
        description: name.to_owned(),
        is_default: false,
        implies: vec![],
    }
}

async fn a_tenant_round_trips_with_its_seeded_catalog(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let committed = store.catalog(&id).await.unwrap();
    let expected = tenant("school", "https://id.school.test");
    assert_eq!(committed.tenant.key_source, expected.key_source);
    assert_eq!(committed.tenant.audiences, expected.audiences);
    assert!(committed.tenant.require_at_jwt_typ);
    assert_eq!(committed.catalog.scopes.len(), 34);
    assert_eq!(committed.catalog.operations.len(), 33);
    assert!(committed.catalog.scopes.iter().all(|s| s.id > 0));
    let found = store
        .tenant_by_issuer("https://id.school.test")
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.id), Some(id));
    assert!(
        store
            .tenant_by_issuer("https://other")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_refused_plan_writes_nothing(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let before = store.catalog(&id).await.unwrap();
    let events = store.audit_events(&id, 0, 500).await.unwrap().len();

    let refuse =
        |_: &Tenant, _: &_| -> Result<edit::Edit, EditError> { Err(EditError::invalid("x", "no")) };
    let result = store.edit(&id, &Actor("test".into()), None, &refuse).await;

    assert!(matches!(result, Err(StoreError::Rejected(_))));
    let after = store.catalog(&id).await.unwrap();
    assert_eq!(after.tenant.revision, before.tenant.revision);
    assert_eq!(after.catalog, before.catalog);
    assert_eq!(store.audit_events(&id, 0, 500).await.unwrap().len(), events);
}

async fn an_edit_with_nothing_to_change_writes_nothing(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let before = store.catalog(&id).await.unwrap();
    let events = store.audit_events(&id, 0, 500).await.unwrap().len();
    let same = |t: &Tenant| Ok::<_, EditError>(t.clone());
    let nothing = |_: &Tenant, _: &_| Ok::<_, EditError>(edit::Edit::default());

    let (committed, planned) = store
        .edit(&id, &Actor("test".into()), Some(&same), &nothing)
        .await
        .unwrap();

    assert!(planned.changes.is_empty());
    assert_eq!(committed.tenant.revision, before.tenant.revision);
    let after = store.catalog(&id).await.unwrap();
    assert_eq!(after.tenant, before.tenant, "revision stays");
    assert_eq!(store.audit_events(&id, 0, 500).await.unwrap().len(), events);
    let add = |_: &Tenant, c: &_| edit::create_scope(c, new_scope("extra:after"), 2);
    let (next, _) = store
        .edit(&id, &Actor("test".into()), None, &add)
        .await
        .expect("the abandoned write released its lock");
    assert_eq!(next.tenant.revision, before.tenant.revision + 1);
}

async fn concurrent_edits_of_one_tenant_serialize(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = id.clone();
            tokio::spawn(async move {
                let plan = move |_: &Tenant, c: &_| {
                    edit::create_scope(c, new_scope(&format!("extra:{i}")), 2)
                };
                store
                    .edit(&id, &Actor("test".into()), None, &plan)
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = store.catalog(&id).await.unwrap();
    assert_eq!(
        after.tenant.revision,
        1 + 8,
        "each edit bumped the revision exactly once"
    );
    assert_eq!(
        after
            .catalog
            .scopes
            .iter()
            .filter(|s| s.name.as_str().starts_with("extra:"))
            .count(),
        8
    );
}

async fn settings_and_catalog_change_in_one_transaction(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let before = store.catalog(&id).await.unwrap();
    let rename = |t: &Tenant| {
        Ok(Tenant {
            issuer: "https://new.example".into(),
            ..t.clone()
        })
    };
    let refuse =
        |_: &Tenant, _: &_| -> Result<edit::Edit, EditError> { Err(EditError::invalid("x", "no")) };
    let failed = store
        .edit(&id, &Actor("test".into()), Some(&rename), &refuse)
        .await;
    assert!(failed.is_err());
    assert_eq!(
        store.tenant(&id).await.unwrap().issuer,
        before.tenant.issuer,
        "all or nothing"
    );

    let add = |_: &Tenant, c: &_| edit::create_scope(c, new_scope("extra:one"), 2);
    let (committed, _) = store
        .edit(&id, &Actor("test".into()), Some(&rename), &add)
        .await
        .unwrap();
    assert_eq!(committed.tenant.issuer, "https://new.example");
    assert_eq!(
        committed.tenant.revision,
        before.tenant.revision + 1,
        "one write, one revision"
    );
    assert!(
        committed
            .catalog
            .scopes
            .iter()
            .any(|s| s.name.as_str() == "extra:one")
    );
}

async fn revocations_persist_replace_and_prune(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let actor = Actor("test".into());
    let jti = Revocation {
        kind: RevocationKind::Jti,
        value: "t-1".into(),
        not_before: 0,
        expires_at: 1_000,
    };
    let subject = Revocation {
        kind: RevocationKind::Subject,
        value: "alice".into(),
        not_before: 500,
        expires_at: 5_000,
    };
    store.revoke(&id, &jti, &actor).await.unwrap();
    store.revoke(&id, &subject, &actor).await.unwrap();
    let later = Revocation {
        not_before: 900,
        ..subject.clone()
    };
    store.revoke(&id, &later, &actor).await.unwrap();

    let mut live = store.revocations(&id, 0).await.unwrap();
    live.sort_by(|a, b| a.value.cmp(&b.value));
    assert_eq!(live, [later.clone(), jti]);
    assert_eq!(store.prune_revocations(2_000).await.unwrap(), 1);
    assert_eq!(store.revocations(&id, 0).await.unwrap(), [later]);
}

async fn deleting_a_tenant_keeps_its_audit_trail(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    store
        .delete_tenant(&id, &Actor("test".into()))
        .await
        .unwrap();
    assert!(matches!(
        store.catalog(&id).await,
        Err(StoreError::TenantNotFound(_))
    ));
    let events = store.audit_events(&id, 0, 500).await.unwrap();
    assert_eq!(
        events.first().map(|e| e.action.as_str()),
        Some("tenant.delete")
    );
    assert!(
        events.iter().all(|e| !e.after.contains("jwks\":\"{")),
        "no key material in the trail"
    );
}

fn credential(client_id: &str, tenant: &TenantId) -> IntrospectionCredential {
    IntrospectionCredential {
        client_id: client_id.to_owned(),
        tenant: tenant.clone(),
        name: format!("{client_id} resource server"),
        secret_sha256: [7; 32],
        created_at_ms: 5,
    }
}

async fn introspection_credentials_round_trip_are_unique_and_bump_the_revision(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let actor = Actor("test".into());
    let other = tenant("museum", "https://id.museum.test");
    let seed = preset::seed(
        &CatalogFile::preset("loopwise").unwrap(),
        AdminStyle::Colon,
        1,
    )
    .unwrap();
    store.create_tenant(&other, &seed, &actor).await.unwrap();

    for client_id in ["ic_b", "ic_a"] {
        store
            .create_introspection_credential(&credential(client_id, &id), &actor)
            .await
            .unwrap();
    }
    let taken = store
        .create_introspection_credential(&credential("ic_a", &other.id), &actor)
        .await;
    let unknown_tenant = store
        .create_introspection_credential(
            &credential("ic_c", &TenantId::parse("nowhere").unwrap()),
            &actor,
        )
        .await;

    assert!(matches!(
        taken,
        Err(StoreError::Rejected(EditError::AlreadyExists { .. }))
    ));
    assert!(matches!(unknown_tenant, Err(StoreError::TenantNotFound(_))));
    let found = directory_credential(&store, "ic_a").await;
    assert_eq!(found, Some(credential("ic_a", &id)));
    let listed = store.introspection_credentials(&id, "", 10).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["ic_a", "ic_b"]);
    let after = store
        .introspection_credentials(&id, "ic_a", 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert!(
        store
            .introspection_credentials(&other.id, "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.tenant(&id).await.unwrap().revision, 3);
    let audit = store.audit_events(&id, 0, 10).await.unwrap();
    assert_eq!(audit[0].action, "introspection_credential.create");
    assert!(!audit[0].after.contains("0707"), "{}", audit[0].after);
}

async fn an_introspection_credential_is_deleted_only_from_its_own_tenant(backend: Backend) {
    let Some((_db, store, id)) = seeded(backend).await else {
        return;
    };
    let actor = Actor("test".into());
    let other = tenant("museum", "https://id.museum.test");
    let seed = preset::seed(
        &CatalogFile::preset("loopwise").unwrap(),
        AdminStyle::Colon,
        1,
    )
    .unwrap();
    store.create_tenant(&other, &seed, &actor).await.unwrap();
    store
        .create_introspection_credential(&credential("ic_a", &id), &actor)
        .await
        .unwrap();
    store
        .create_introspection_credential(&credential("ic_m", &other.id), &actor)
        .await
        .unwrap();

    let foreign = store
        .delete_introspection_credential(&other.id, "ic_a", &actor)
        .await;
    let deleted = store
        .delete_introspection_credential(&id, "ic_a", &actor)
        .await
        .unwrap();
    let again = store
        .delete_introspection_credential(&id, "ic_a", &actor)
        .await;
    store.delete_tenant(&other.id, &actor).await.unwrap();

    assert!(matches!(
        foreign,
        Err(StoreError::Rejected(EditError::NotFound { .. }))
    ));
    assert_eq!(deleted, credential("ic_a", &id));
    assert!(matches!(
        again,
        Err(StoreError::Rejected(EditError::NotFound { .. }))
    ));
    assert_eq!(directory_credential(&store, "ic_a").await, None);
    // A deleted tenant takes its credentials with it.
    assert_eq!(directory_credential(&store, "ic_m").await, None);
}

/// Concurrent first starts of one database agree on one first-run admin key: exactly one
/// offer is recorded (and only its maker sees `Created`); every later call sees that one.
async fn the_first_run_admin_key_is_recorded_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = store::connect(&db.url).await.unwrap();
    let offers: Vec<[u8; 32]> = (0..8u8).map(|i| [i + 1; 32]).collect();
    let answers = futures_join(offers.iter().map(|offer| {
        let store = Arc::clone(&store);
        let offer = *offer;
        async move { store.first_run_admin_key(&offer).await.unwrap() }
    }))
    .await;

    let created: Vec<[u8; 32]> = answers
        .iter()
        .filter_map(|a| match a {
            FirstRunKey::Created(hash) => Some(*hash),
            FirstRunKey::Existing(_) => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let kept = created[0];
    assert!(offers.contains(&kept));
    for answer in &answers {
        let (FirstRunKey::Created(hash) | FirstRunKey::Existing(hash)) = answer;
        assert_eq!(*hash, kept);
    }
    let again = store.first_run_admin_key(&[0xee; 32]).await.unwrap();
    assert_eq!(again, FirstRunKey::Existing(kept));
}

/// Runs `futures` concurrently, each on its own task.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}

/// The credential with `client_id` as the directory lists it.
async fn directory_credential(
    store: &Arc<dyn Store>,
    client_id: &str,
) -> Option<scopegate::store::IntrospectionCredential> {
    let rows = store.directory().await.unwrap();
    rows.credentials
        .into_iter()
        .find(|c| c.client_id == client_id)
}

backend_tests!(
    introspection_credentials_round_trip_are_unique_and_bump_the_revision,
    an_introspection_credential_is_deleted_only_from_its_own_tenant,
    a_tenant_round_trips_with_its_seeded_catalog,
    a_refused_plan_writes_nothing,
    an_edit_with_nothing_to_change_writes_nothing,
    concurrent_edits_of_one_tenant_serialize,
    revocations_persist_replace_and_prune,
    settings_and_catalog_change_in_one_transaction,
    deleting_a_tenant_keeps_its_audit_trail,
    the_first_run_admin_key_is_recorded_once,
    the_caller_registry_round_trips_and_refuses_what_is_not_there,
);

async fn the_caller_registry_round_trips_and_refuses_what_is_not_there(backend: Backend) {
    use scopegate::{
        caller::{CallerKey, CallerTenants, Surface, Surfaces},
        store::CallerWrite,
    };
    let Some((_db, store, school)) = seeded(backend).await else {
        return;
    };
    let actor = Actor("test".into());
    let only_school = CallerTenants::only(vec![school.clone()]);
    let decision = Surfaces::NONE.with(Surface::Decision);
    let create = CallerWrite::Create {
        tenants: &only_school,
        surfaces: decision,
    };
    let key = |id: &str| CallerKey {
        key_id: id.to_owned(),
        secret_sha256: [7; 32],
        created_at_ms: 5,
    };
    let not_found =
        |err: StoreError| matches!(err, StoreError::Rejected(EditError::NotFound { .. }));

    let created = store.write_caller("orders", create, &actor).await.unwrap();
    let again = store
        .write_caller("orders", create, &actor)
        .await
        .unwrap_err();
    store
        .write_caller("orders", CallerWrite::AddKey(&key("k2")), &actor)
        .await
        .unwrap();
    let with_keys = store
        .write_caller("orders", CallerWrite::AddKey(&key("k1")), &actor)
        .await
        .unwrap();
    let taken = store
        .write_caller("orders", CallerWrite::AddKey(&key("k1")), &actor)
        .await
        .unwrap_err();
    let updated = store
        .write_caller(
            "orders",
            CallerWrite::Update {
                tenants: &CallerTenants::All,
                surfaces: Surfaces::ALL,
            },
            &actor,
        )
        .await
        .unwrap();
    let missing_key = store
        .write_caller("orders", CallerWrite::DeleteKey("nope"), &actor)
        .await
        .unwrap_err();
    let missing_caller = store
        .write_caller("nobody", CallerWrite::Delete, &actor)
        .await
        .unwrap_err();
    store.write_caller("billing", create, &actor).await.unwrap();
    let listed = store.callers("", 10).await.unwrap();
    let after_billing = store.callers("billing", 10).await.unwrap();
    let directory = store.directory().await.unwrap();
    let deleted = store
        .write_caller("orders", CallerWrite::Delete, &actor)
        .await
        .unwrap();
    let left = store.directory().await.unwrap();
    let audit = store.platform_audit_events(0, 100).await.unwrap();

    assert!(created.keys.is_empty() && created.tenants == only_school);
    assert!(matches!(
        again,
        StoreError::Rejected(EditError::AlreadyExists { .. })
    ));
    let ids: Vec<_> = with_keys.keys.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2"], "keys sorted by id");
    assert!(matches!(
        taken,
        StoreError::Rejected(EditError::AlreadyExists { .. })
    ));
    assert_eq!(updated.tenants, CallerTenants::All);
    assert_eq!(updated.surfaces, Surfaces::ALL);
    assert_eq!(updated.keys.len(), 2, "an update keeps the keys");
    assert!(not_found(missing_key) && not_found(missing_caller));
    let names: Vec<_> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["billing", "orders"]);
    assert_eq!(after_billing.len(), 1);
    assert_eq!(after_billing[0].keys.len(), 2);
    assert_eq!(
        after_billing[0].keys[0].secret_sha256, [7; 32],
        "the digest round-trips"
    );
    assert_eq!(directory.callers.len(), 2);
    assert_eq!(deleted.name, "orders");
    assert_eq!(left.callers.len(), 1, "the caller and its keys are gone");
    assert!(left.callers[0].keys.is_empty());
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "caller.delete",
            "caller.create",
            "caller.update",
            "caller.add_key",
            "caller.add_key",
            "caller.create"
        ],
        "newest first, refused writes not recorded"
    );
    assert!(
        store
            .audit_events(&school, 0, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.action.starts_with("caller.")),
        "not in any tenant's trail"
    );
}
