//! Never a stale "active" or "allowed": a load or verification in flight while a write commits
//! never outlives the write (gated store, gated JWKS endpoint), randomized writes and reads see
//! no state older than the last completed write, revocations outlive the leeway, and unknown
//! tenants and issuers cost no query each.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use scopegate::{
    caller::{CallerKey, CallerTenants, NewKey, PresentedKey, RegisteredCaller, Surfaces},
    pb::{ManageTenantRequest, RevokeTokenRequest, TenantSettings, UpdateTenant},
    pipeline::TokenPipeline,
    preset::{self, CatalogFile},
    scope::{AdminStyle, CatalogSnapshot, edit::Edit},
    store::{
        self, Actor, AuditEvent, CallerWrite, Change, ChangeHandler, Committed, DirectoryRows,
        FirstRunKey, IntrospectionCredential, Planner, Revocation, RevocationKind, Store,
        StoreError, TenantUpdate,
    },
    tenant::{Tenant, TenantId},
    tenant_states::{CacheLimits, TenantStates},
    token::{JwksConfig, TokenCacheConfig},
};
use serde_json::json;
use tokio::sync::oneshot;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, authed},
    introspection::introspect,
    jwks_server::{JwksServer, create_tenant_with_jwks_uri},
    tokens::{Idp, create_tenant_for, now},
};

const ISSUER: &str = "https://id.school.test";

backend_tests!(
    a_token_verified_while_its_key_is_removed_is_inactive_once_the_removal_returned,
    a_revocation_outlives_the_leeway_of_the_token_it_revokes,
    a_tenant_load_in_flight_during_a_revocation_is_not_served_after_it,
    a_tenant_load_in_flight_during_a_scope_deletion_is_not_served_after_it,
    a_tenant_load_in_flight_during_its_deletion_is_not_served_after_it,
    randomized_writes_and_reads_never_see_a_state_older_than_the_last_completed_write,
    a_write_that_fails_after_it_committed_leaves_no_stale_state,
    a_refused_write_keeps_the_cached_state,
    unknown_issuers_tenants_and_client_ids_cost_one_directory_read_not_a_query_each,
    a_directory_load_in_flight_during_a_caller_key_deletion_is_not_served_after_it,
    a_directory_load_in_flight_during_a_caller_deletion_is_not_served_after_it,
    randomized_caller_key_lookups_never_see_a_key_after_its_deletion_returned,
);

// ---------------------------------------------------------------------------------------------
// Through the public API.

async fn update_settings(app: &TestApp, tenant: &str, settings: TenantSettings) {
    let update = UpdateTenant {
        id: tenant.into(),
        settings: Some(settings),
        ..Default::default()
    };
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(scopegate::pb::manage_tenant_request::Action::Update(update)),
        }))
        .await
        .expect("settings updated");
}

async fn a_token_verified_while_its_key_is_removed_is_inactive_once_the_removal_returned(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let old = Idp::new(ISSUER, "old");
    let jwks = JwksServer::held(old.jwks()).await;
    create_tenant_with_jwks_uri(&app, &old, &jwks.url).await;
    let token = old.mint(&json!({ "scope": "courses:read" }));

    // A verification under the old key set starts and waits for its keys …
    let in_flight = tokio::spawn({
        let channel = app.channel.clone();
        let token = token.clone();
        async move {
            scopegate::pb::token_introspection_client::TokenIntrospectionClient::new(channel)
                .introspect(scopegate::pb::IntrospectRequest {
                    token,
                    tenant: "school".into(),
                    ..Default::default()
                })
                .await
        }
    });
    jwks.wait_for_fetches(1).await;
    // … the admin replaces the key set with one without that key, and the call returns …
    let new = Idp::new(ISSUER, "new");
    update_settings(
        &app,
        "school",
        TenantSettings {
            jwks: Some(new.jwks()),
            jwks_uri: Some(String::new()),
            ..Default::default()
        },
    )
    .await;
    // … and only then does the old verification finish (it may say active: it began first).
    jwks.release();
    in_flight.await.unwrap().expect("answered");

    assert!(
        !introspect(&app, "school", &token).await.active,
        "a token signed by a removed key is inactive once the removal returned"
    );
    assert!(!introspect(&app, "", &token).await.active);
    let fresh = new.mint(&json!({ "scope": "courses:read" }));
    assert!(introspect(&app, "school", &fresh).await.active);
}

async fn a_revocation_outlives_the_leeway_of_the_token_it_revokes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let idp = Idp::new(ISSUER, "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    // Past `exp` but inside the tenant's 60 s leeway: still accepted by verification.
    let exp = now() - 5;
    let with_jti = idp.mint(&json!({ "exp": exp, "iat": exp - 60, "scope": "courses:read" }));
    let without_jti = idp.mint(&json!({ "exp": exp, "iat": exp - 60, "jti": null }));
    for token in [&with_jti, &without_jti] {
        assert!(introspect(&app, "school", token).await.active, "in leeway");
        let revoke = RevokeTokenRequest {
            tenant: "school".into(),
            target: Some(scopegate::pb::revoke_token_request::Target::Token(
                token.clone(),
            )),
        };
        scopegate::pb::token_introspection_client::TokenIntrospectionClient::new(
            app.channel.clone(),
        )
        .revoke_token(authed(revoke))
        .await
        .expect("revoked");
        assert!(
            !introspect(&app, "school", token).await.active,
            "revoked for as long as verification would accept it"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// On the tenant-state cache itself, with a store that can hold a read open.

/// A store that counts reads and can hold one read (after it read) until released, or delay
/// every read by a few random scheduler turns.
#[derive(Debug)]
struct GatedStore {
    inner: Arc<dyn Store>,
    hold: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
    /// The same for the next directory read.
    directory_hold: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
    jitter: AtomicBool,
    /// The next revocation commits but reports UNAVAILABLE, as when the connection breaks
    /// before the commit's acknowledgement arrives.
    lose_next_ack: AtomicBool,
    seed: AtomicI64,
    state_reads: AtomicUsize,
    directory_reads: AtomicUsize,
}

impl GatedStore {
    fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            hold: Mutex::new(None),
            directory_hold: Mutex::new(None),
            jitter: AtomicBool::new(false),
            lose_next_ack: AtomicBool::new(false),
            seed: AtomicI64::new(0x2545_f491),
            state_reads: AtomicUsize::new(0),
            directory_reads: AtomicUsize::new(0),
        })
    }

    /// The next tenant-state read is held after reading: returns (it has read, release it).
    fn hold_next(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (read_tx, read_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.hold.lock().unwrap() = Some((read_tx, release_rx));
        (read_rx, release_tx)
    }

    /// The next directory read is held after reading: returns (it has read, release it).
    fn hold_next_directory(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (read_tx, read_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.directory_hold.lock().unwrap() = Some((read_tx, release_rx));
        (read_rx, release_tx)
    }

    async fn after_directory_read(&self) {
        let held = self.directory_hold.lock().unwrap().take();
        if let Some((has_read, release)) = held {
            let _ = has_read.send(());
            let _ = release.await;
        }
        self.jitter().await;
    }

    async fn after_read(&self) {
        let held = self.hold.lock().unwrap().take();
        if let Some((has_read, release)) = held {
            let _ = has_read.send(());
            let _ = release.await;
        }
        self.jitter().await;
    }

    async fn jitter(&self) {
        if self.jitter.load(Ordering::Relaxed) {
            // xorshift: a few scheduler turns, sometimes a short real pause.
            let mut x = self.seed.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.seed.store(x, Ordering::Relaxed);
            for _ in 0..(x.rem_euclid(8)) {
                tokio::task::yield_now().await;
            }
            if x.rem_euclid(16) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[async_trait]
impl Store for GatedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn first_run_admin_key(&self, key_sha256: &[u8; 32]) -> Result<FirstRunKey, StoreError> {
        self.inner.first_run_admin_key(key_sha256).await
    }
    async fn tenant(&self, id: &TenantId) -> Result<Tenant, StoreError> {
        self.inner.tenant(id).await
    }
    async fn tenant_by_issuer(&self, issuer: &str) -> Result<Option<Tenant>, StoreError> {
        self.inner.tenant_by_issuer(issuer).await
    }
    async fn list_tenants(&self, after: &str, limit: u32) -> Result<Vec<Tenant>, StoreError> {
        self.inner.list_tenants(after, limit).await
    }
    async fn catalog(&self, id: &TenantId) -> Result<Committed, StoreError> {
        self.inner.catalog(id).await
    }
    async fn tenant_state(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<(Committed, Vec<Revocation>), StoreError> {
        self.state_reads.fetch_add(1, Ordering::SeqCst);
        let read = self.inner.tenant_state(id, now_unix).await;
        self.after_read().await;
        read
    }
    async fn directory(&self) -> Result<DirectoryRows, StoreError> {
        self.directory_reads.fetch_add(1, Ordering::SeqCst);
        let read = self.inner.directory().await;
        self.after_directory_read().await;
        read
    }
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        seed: &Edit,
        actor: &Actor,
    ) -> Result<Committed, StoreError> {
        self.inner.create_tenant(tenant, seed, actor).await
    }
    async fn update_tenant(
        &self,
        id: &TenantId,
        actor: &Actor,
        update: TenantUpdate<'_>,
    ) -> Result<Tenant, StoreError> {
        self.inner.update_tenant(id, actor, update).await
    }
    async fn delete_tenant(&self, id: &TenantId, actor: &Actor) -> Result<Tenant, StoreError> {
        self.inner.delete_tenant(id, actor).await
    }
    async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        settings: Option<TenantUpdate<'_>>,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        self.inner.edit(id, actor, settings, plan).await
    }
    async fn audit_events(
        &self,
        id: &TenantId,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(id, before_id, limit).await
    }
    async fn platform_audit_events(
        &self,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.platform_audit_events(before_id, limit).await
    }
    async fn revoke(
        &self,
        id: &TenantId,
        revocation: &Revocation,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.inner.revoke(id, revocation, actor).await?;
        if self.lose_next_ack.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection reset".into()));
        }
        Ok(())
    }
    async fn revocations(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.inner.revocations(id, now_unix).await
    }
    async fn watch_changes(&self, on_change: ChangeHandler) -> Result<(), StoreError> {
        self.inner.watch_changes(on_change).await
    }
    async fn prune_revocations(&self, now_unix: i64) -> Result<u64, StoreError> {
        self.inner.prune_revocations(now_unix).await
    }
    async fn check_writes(&self) -> Result<(), StoreError> {
        self.inner.check_writes().await
    }
    async fn introspection_credentials(
        &self,
        id: &TenantId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<IntrospectionCredential>, StoreError> {
        self.inner.introspection_credentials(id, after, limit).await
    }
    async fn create_introspection_credential(
        &self,
        credential: &IntrospectionCredential,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.inner
            .create_introspection_credential(credential, actor)
            .await
    }
    async fn delete_introspection_credential(
        &self,
        id: &TenantId,
        client_id: &str,
        actor: &Actor,
    ) -> Result<IntrospectionCredential, StoreError> {
        self.inner
            .delete_introspection_credential(id, client_id, actor)
            .await
    }
    async fn callers(&self, after: &str, limit: u32) -> Result<Vec<RegisteredCaller>, StoreError> {
        self.inner.callers(after, limit).await
    }
    async fn write_caller(
        &self,
        name: &str,
        write: CallerWrite<'_>,
        actor: &Actor,
    ) -> Result<RegisteredCaller, StoreError> {
        self.inner.write_caller(name, write, actor).await
    }
}

fn school() -> TenantId {
    TenantId::parse("school").unwrap()
}

fn actor() -> Actor {
    Actor("test".into())
}

/// A fresh store with tenant `school` (loopwise preset, issuer `ISSUER`), and a cache over
/// it that keeps entries for an hour: only invalidation can make it reload.
async fn cached_school(db: &TestDb) -> (Arc<GatedStore>, TenantStates) {
    let inner = store::connect(&db.url).await.unwrap();
    let gated = GatedStore::new(inner);
    let limits = CacheLimits {
        capacity: 100,
        ttl: Duration::from_secs(3600),
        stale_if_error: Duration::ZERO,
    };
    let states = TenantStates::new(gated.clone(), limits);
    let file = CatalogFile::preset("loopwise").unwrap();
    let seed = preset::seed(&file, AdminStyle::Colon, store::now_ms()).unwrap();
    let mut tenant = scopegate::tenant::new_tenant(
        school(),
        "School".into(),
        "loopwise",
        AdminStyle::Colon,
        store::now_ms(),
    );
    tenant.issuer = ISSUER.into();
    states
        .create_tenant(&tenant, &seed, &actor())
        .await
        .unwrap();
    (gated, states)
}

fn revocation(jti: &str) -> Revocation {
    Revocation {
        kind: RevocationKind::Jti,
        value: jti.into(),
        not_before: 0,
        expires_at: now() + 3600,
    }
}

/// Holds a load of `school` open after it read, runs `write` through `states`, releases
/// the load, and returns what a read started after the write returned sees.
async fn load_held_across<F, Fut>(
    gated: &GatedStore,
    states: &TenantStates,
    write: F,
) -> Result<Arc<scopegate::tenant_states::TenantState>, StoreError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Whatever is cached now is old, so the next get loads (and is held).
    states.apply(&Change::Catalog(school()));
    let (has_read, release) = gated.hold_next();
    let load = tokio::spawn({
        let states = states.clone();
        async move { states.get(&school()).await.map(|s| s.tenant.revision) }
    });
    tokio::time::timeout(Duration::from_secs(30), has_read)
        .await
        .expect("a load started")
        .expect("the load read the store");
    write().await;
    release.send(()).unwrap();
    let _ = load.await.unwrap();
    states.get(&school()).await
}

async fn a_tenant_load_in_flight_during_a_revocation_is_not_served_after_it(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let before = states.get(&school()).await.unwrap().tenant.revision;

    let seen = load_held_across(&gated, &states, || async {
        states
            .revoke(&school(), &revocation("second"), &actor())
            .await
            .unwrap();
    })
    .await
    .unwrap();

    assert_eq!(
        seen.tenant.revision,
        before + 1,
        "the revocation's revision"
    );
    let facts = verified_with_jti("second");
    assert!(
        seen.revocations.is_revoked(&facts, "raw"),
        "the revocation is in force once it returned"
    );
}

async fn a_tenant_load_in_flight_during_a_scope_deletion_is_not_served_after_it(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    assert!(
        states
            .get(&school())
            .await
            .unwrap()
            .catalog()
            .scopes
            .iter()
            .any(|s| s.name.as_str() == "courses:read")
    );
    let plan = |_: &Tenant, catalog: &CatalogSnapshot| {
        let key = scopegate::scope::edit::ScopeKey::Name("courses:read".into());
        scopegate::scope::edit::delete_scope(catalog, &key, None, store::now_ms())
    };
    let seen = load_held_across(&gated, &states, || async {
        states.edit(&school(), &actor(), &plan).await.unwrap();
    })
    .await
    .unwrap();
    assert!(
        !seen
            .catalog()
            .scopes
            .iter()
            .any(|s| s.name.as_str() == "courses:read"),
        "a deleted scope is gone once the deletion returned"
    );
    assert!(seen.compiled.scope("courses:read").is_none());
}

async fn a_tenant_load_in_flight_during_its_deletion_is_not_served_after_it(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let seen = load_held_across(&gated, &states, || async {
        states.delete_tenant(&school(), &actor()).await.unwrap();
    })
    .await;
    assert!(
        matches!(seen, Err(StoreError::TenantNotFound(_))),
        "a deleted tenant is gone once the deletion returned: {seen:?}"
    );
}

fn verified_with_jti(jti: &str) -> scopegate::token::VerifiedToken {
    scopegate::token::VerifiedToken {
        iss: ISSUER.into(),
        sub: Some("user-1".into()),
        aud: vec!["api".into()],
        exp: now() + 60,
        iat: Some(now()),
        nbf: None,
        jti: Some(jti.into()),
        client_id: Some("web-app".into()),
        username: None,
        scopes: scopegate::token::TokenScopes::default(),
        token_type: "Bearer",
        alg: Some(jsonwebtoken::Algorithm::RS256),
        kid: None,
        other_claims: serde_json::Map::new(),
        fingerprint: Default::default(),
    }
}

async fn randomized_writes_and_reads_never_see_a_state_older_than_the_last_completed_write(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    gated.jitter.store(true, Ordering::Relaxed);
    let writes: i64 = if backend == Backend::Sqlite { 400 } else { 250 };
    // The revision of the last write that returned: a read that starts after must see it.
    let floor = Arc::new(AtomicI64::new(
        states.get(&school()).await.unwrap().tenant.revision,
    ));
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (states, floor, done) = (states.clone(), floor.clone(), done.clone());
        readers.spawn(async move {
            let (mut reads, mut stale) = (0u64, 0u64);
            while !done.load(Ordering::SeqCst) {
                let must_see = floor.load(Ordering::SeqCst);
                let seen = states.get(&school()).await.unwrap().tenant.revision;
                reads += 1;
                stale += u64::from(seen < must_see);
                tokio::task::yield_now().await;
            }
            (reads, stale)
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for i in 0..writes {
        states
            .revoke(&school(), &revocation(&format!("j{i}")), &actor())
            .await
            .unwrap();
        // The revision this write made (no one else writes).
        floor.fetch_add(1, Ordering::SeqCst);
        if tokio::time::Instant::now() > deadline {
            break;
        }
    }
    done.store(true, Ordering::SeqCst);
    let (mut reads, mut stale) = (0, 0);
    while let Some(result) = readers.join_next().await {
        let (r, s) = result.unwrap();
        reads += r;
        stale += s;
    }
    eprintln!("{backend:?}: {writes} writes, {reads} reads, {stale} stale");
    assert!(reads > 1000, "enough trials: {reads}");
    assert_eq!(stale, 0, "stale reads out of {reads}");
    // And the revocations of the last write are in force.
    let last = states.get(&school()).await.unwrap();
    assert!(
        last.revocations
            .is_revoked(&verified_with_jti(&format!("j{}", writes - 1)), "raw")
    );
}

async fn unknown_issuers_tenants_and_client_ids_cost_one_directory_read_not_a_query_each(
    backend: Backend,
) {
    use base64::Engine as _;
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let pipeline = TokenPipeline::new(
        states.clone(),
        JwksConfig::default(),
        &TokenCacheConfig::default(),
    )
    .unwrap();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(json!({ "alg": "RS256", "typ": "at+jwt", "kid": "k" }));
    let (state_before, directory_before) = (
        gated.state_reads.load(Ordering::SeqCst),
        gated.directory_reads.load(Ordering::SeqCst),
    );
    let long = "x".repeat(11_000);
    for i in 0..2_000 {
        // Unknown issuers, some of them huge: routed nowhere, remembered nowhere.
        let iss = if i % 10 == 0 {
            format!("https://{long}{i}")
        } else {
            format!("https://unknown-{i}.test")
        };
        let token = format!(
            "{header}.{}.c2ln",
            b64(json!({ "iss": iss, "exp": now() + 60 }))
        );
        let seen = pipeline.introspect(None, &token, now()).await.unwrap();
        assert!(seen.token.is_err());
        // Unknown tenant ids.
        let ghost = TenantId::parse(&format!("ghost-{i}")).unwrap();
        assert!(matches!(
            states.get(&ghost).await,
            Err(StoreError::TenantNotFound(_))
        ));
    }
    // Made-up Basic client ids: answered by the directory, no query each.
    for i in 0..2_000 {
        let client_id = format!("ic_{i:0>22}");
        assert!(
            states
                .introspection_credential(&client_id)
                .await
                .unwrap()
                .is_none()
        );
    }
    let state_reads = gated.state_reads.load(Ordering::SeqCst) - state_before;
    let directory_reads = gated.directory_reads.load(Ordering::SeqCst) - directory_before;
    assert_eq!(state_reads, 0, "no tenant-state query for unknown tenants");
    assert!(
        directory_reads <= 1,
        "one directory read for 6,000 unknown names, not one each: {directory_reads}"
    );
}

async fn a_write_that_fails_after_it_committed_leaves_no_stale_state(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let before = states.get(&school()).await.unwrap();
    gated.lose_next_ack.store(true, Ordering::SeqCst);

    let failed = states
        .revoke(&school(), &revocation("lost-ack"), &actor())
        .await;

    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    let after = states.get(&school()).await.unwrap();
    assert_eq!(after.tenant.revision, before.tenant.revision + 1);
    assert!(
        after
            .revocations
            .is_revoked(&verified_with_jti("lost-ack"), "raw"),
        "a write whose outcome was unknown is read back, not assumed away"
    );
}

async fn a_refused_write_keeps_the_cached_state(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let before = states.get(&school()).await.unwrap();
    let reads = gated.state_reads.load(Ordering::SeqCst);
    let plan = |_: &Tenant, catalog: &CatalogSnapshot| {
        let key = scopegate::scope::edit::ScopeKey::Name("openid".into());
        scopegate::scope::edit::delete_scope(catalog, &key, None, store::now_ms())
    };

    let refused = states.edit(&school(), &actor(), &plan).await;

    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    let after = states.get(&school()).await.unwrap();
    assert!(Arc::ptr_eq(&before, &after), "a refusal changed nothing");
    assert_eq!(gated.state_reads.load(Ordering::SeqCst), reads);
}

// ---------------------------------------------------------------------------------------------
// The caller registry, answered from the directory.

/// Registers caller `name` (every tenant, every surface) with one key, through `states`.
async fn caller_with_key(states: &TenantStates, name: &str) -> NewKey {
    let create = CallerWrite::Create {
        tenants: &CallerTenants::All,
        surfaces: Surfaces::ALL,
    };
    states.write_caller(name, create, &actor()).await.unwrap();
    let key = NewKey::generate().unwrap();
    let stored = CallerKey {
        key_id: key.key_id.clone(),
        secret_sha256: key.secret_sha256,
        created_at_ms: store::now_ms(),
    };
    states
        .write_caller(name, CallerWrite::AddKey(&stored), &actor())
        .await
        .unwrap();
    key
}

async fn holder(states: &TenantStates, key: &NewKey) -> Option<String> {
    let presented = PresentedKey::parse(&key.shown).unwrap();
    states
        .caller_with_key(&presented)
        .await
        .unwrap()
        .map(|c| c.name.clone())
}

/// Holds a directory load open after it read (it saw the caller and its key), runs `write`,
/// releases the load, and returns whom a lookup of `key` started after the write finds.
async fn directory_held_across<F, Fut>(
    gated: &GatedStore,
    states: &TenantStates,
    key: &NewKey,
    write: F,
) -> Option<String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    assert_eq!(holder(states, key).await.as_deref(), Some("orders"));
    // Whatever is cached now is old, so the next lookup loads (and is held).
    states.apply(&Change::Callers);
    let (has_read, release) = gated.hold_next_directory();
    let load = tokio::spawn({
        let states = states.clone();
        let shown = key.shown.clone();
        async move {
            let presented = PresentedKey::parse(&shown).unwrap();
            states
                .caller_with_key(&presented)
                .await
                .map(|c| c.is_some())
        }
    });
    tokio::time::timeout(Duration::from_secs(30), has_read)
        .await
        .expect("a load started")
        .expect("the load read the store");
    write().await;
    release.send(()).unwrap();
    let _ = load.await.unwrap();
    holder(states, key).await
}

async fn a_directory_load_in_flight_during_a_caller_key_deletion_is_not_served_after_it(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let key = caller_with_key(&states, "orders").await;

    let seen = directory_held_across(&gated, &states, &key, || async {
        let delete = CallerWrite::DeleteKey(&key.key_id);
        states
            .write_caller("orders", delete, &actor())
            .await
            .unwrap();
    })
    .await;

    assert_eq!(seen, None, "the deleted key was still accepted");
}

async fn a_directory_load_in_flight_during_a_caller_deletion_is_not_served_after_it(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    let key = caller_with_key(&states, "orders").await;

    let seen = directory_held_across(&gated, &states, &key, || async {
        states
            .write_caller("orders", CallerWrite::Delete, &actor())
            .await
            .unwrap();
    })
    .await;

    assert_eq!(seen, None, "the deleted caller's key was still accepted");
    assert!(states.caller_named("orders").await.unwrap().is_none());
}

async fn randomized_caller_key_lookups_never_see_a_key_after_its_deletion_returned(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (gated, states) = cached_school(&db).await;
    gated.jitter.store(true, Ordering::Relaxed);
    let mut seed = 0x9e37_79b9_u64 ^ u64::try_from(store::now_ms()).unwrap_or(1);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut stale = 0;
    let mut late_reads = 0;
    for round in 0..6 {
        let name = format!("caller-{round}");
        let key = caller_with_key(&states, &name).await;
        let deleted = Arc::new(AtomicBool::new(false));
        let readers = 2 + usize::try_from(next() % 6).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..readers {
            let (states, deleted, shown) =
                (states.clone(), Arc::clone(&deleted), key.shown.clone());
            let lookups = 4 + next() % 12;
            tasks.push(tokio::spawn(async move {
                let mut seen_after = (0, 0);
                for _ in 0..lookups {
                    // Read the flag before the lookup starts: a lookup that began after the
                    // deletion returned must not find the key.
                    let after = deleted.load(Ordering::SeqCst);
                    if next_turns(&shown).await {
                        states.apply(&Change::Callers);
                    }
                    let presented = PresentedKey::parse(&shown).unwrap();
                    let found = states.caller_with_key(&presented).await.unwrap().is_some();
                    if after {
                        seen_after.1 += 1;
                        if found {
                            seen_after.0 += 1;
                        }
                    }
                }
                seen_after
            }));
        }
        for _ in 0..(next() % 4) {
            tokio::task::yield_now().await;
        }
        let delete = if next() % 2 == 0 {
            CallerWrite::DeleteKey(&key.key_id)
        } else {
            CallerWrite::Delete
        };
        states.write_caller(&name, delete, &actor()).await.unwrap();
        deleted.store(true, Ordering::SeqCst);
        for task in tasks {
            let (found, reads) = task.await.unwrap();
            stale += found;
            late_reads += reads;
        }
        assert_eq!(holder(&states, &key).await, None);
    }
    assert_eq!(
        stale, 0,
        "{stale} of {late_reads} lookups after a deletion found the key"
    );
}

/// A few scheduler turns; sometimes (by the key's first byte and a counter) asks for an
/// invalidation, as other replicas' announcements would.
async fn next_turns(shown: &str) -> bool {
    static TURN: AtomicUsize = AtomicUsize::new(0);
    let turn = TURN.fetch_add(1, Ordering::Relaxed);
    for _ in 0..(turn % 3) {
        tokio::task::yield_now().await;
    }
    (turn + usize::from(shown.as_bytes()[5])).is_multiple_of(5)
}
