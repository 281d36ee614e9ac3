//! The tenant-state cache and the one write path. `TenantStates` keeps each tenant's settings,
//! catalog (as stored and compiled) and revocations in a moka cache in front of the store, and
//! the tenant directory (ids and issuers) beside it. Every write goes through `TenantStates`, and
//! every change, local or announced by another replica, is applied in one place,
//! [`TenantStates::apply`], which also invalidates the verified tokens of a tenant whose keys may
//! have changed (through the generations `token::VerifiedTokenCache` entries are checked
//! against). See `generations` for why a value loaded before a write can never outlive it.
//!
//! Staleness, as promised in the README: a write is in force on its replica when its call
//! returns; other replicas learn through the change feed, with `catalog_ttl` as the bound if
//! an announcement is lost. While the store does not answer, the last good state of a tenant
//! keeps being served for at most `stale_if_error` past its TTL, never once a committed change
//! is known to have superseded it.

mod directory;
mod generations;
mod revocations;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use moka::future::Cache;

pub use directory::Listing;
pub use generations::{Certainty, Generations, Stripe, Touched};
pub use revocations::{RevocationIndex, token_digest};

use crate::{
    caller::{PresentedKey, RegisteredCaller},
    scope::{CatalogIssue, CatalogSnapshot, CompiledCatalog, edit::Edit},
    store::{
        Actor, CallerWrite, Change, Committed, IntrospectionCredential, Planner, Revocation, Store,
        StoreError, TenantUpdate, now_ms,
    },
    tenant::{Tenant, TenantId},
    token::VerifyPolicy,
};
use directory::Directory;

/// After the store failed to answer, how long cached state stands in without asking it again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Longest issuer looked up: no tenant can have a longer one, so a longer `iss` is simply
/// unknown (and never copied).
pub const MAX_ISSUER_LEN: usize = 2048;

/// Bounds of the tenant-state cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most tenants kept.
    pub capacity: u64,
    /// Longest a tenant's state is served without reloading it, if an announcement is lost.
    pub ttl: Duration,
    /// How much longer the last good state may stand in while the store does not answer.
    pub stale_if_error: Duration,
}

/// Everything the hot path needs about one tenant at one revision.
#[derive(Debug)]
pub struct TenantState {
    pub tenant: Tenant,
    /// The catalog compiled for decisions; it holds the catalog as stored
    /// ([`TenantState::catalog`]).
    pub compiled: CompiledCatalog,
    pub revocations: RevocationIndex,
    /// The tenant's verification policy, built once per revision: a cache hit re-checks a
    /// token against it on every call.
    pub policy: VerifyPolicy,
    /// The generation stamped before the store was read (see `generations`).
    pub stamp: u64,
    /// Which invalidation floors cover this tenant.
    pub stripe: Stripe,
    loaded_at: Instant,
}

impl TenantState {
    /// The catalog as stored (scopes sorted by name), for the admin API.
    pub fn catalog(&self) -> &CatalogSnapshot {
        self.compiled.snapshot()
    }
}

/// What a write touches, for its invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrote {
    /// Catalog or revocations.
    Catalog,
    /// Settings, the tenant's existence, or its introspection credentials (all routed by the
    /// directory).
    Settings,
}

/// Cached tenant state and the writes that keep it honest. Cheap to clone; clones share all.
#[derive(Debug, Clone)]
pub struct TenantStates {
    store: Arc<dyn Store>,
    cache: Cache<TenantId, Arc<TenantState>>,
    generations: Arc<Generations>,
    directory: Arc<Directory>,
    /// Until when (milliseconds since `epoch`) the store is not asked again after it failed.
    resting_until: Arc<AtomicU64>,
    epoch: Instant,
    limits: CacheLimits,
}

impl TenantStates {
    /// A cache within `limits` in front of `store`.
    pub fn new(store: Arc<dyn Store>, limits: CacheLimits) -> Self {
        let cache = Cache::builder()
            .max_capacity(limits.capacity)
            // Kept past the TTL only to stand in during an outage.
            .time_to_live(limits.ttl.saturating_add(limits.stale_if_error))
            .build();
        Self {
            store,
            cache,
            generations: Arc::new(Generations::default()),
            directory: Arc::new(Directory::default()),
            resting_until: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
            limits,
        }
    }

    /// The store behind the cache, for reads that are not cached (listings, audit). Writes go
    /// through the methods below.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The invalidation generations, against which verified tokens are checked.
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// A tenant's current state: from cache, or loaded once for all concurrent callers. While
    /// the store does not answer, the last good state stands in (see the module docs).
    pub async fn get(&self, id: &TenantId) -> Result<Arc<TenantState>, StoreError> {
        let held = self.cache.get(id).await;
        if let Some(state) = &held
            && self.is_current(state)
        {
            return Ok(Arc::clone(state));
        }
        self.refresh(id, held).await
    }

    /// The tenant whose issuer is exactly `issuer`, if any.
    pub async fn tenant_of_issuer(&self, issuer: &str) -> Result<Option<TenantId>, StoreError> {
        if issuer.is_empty() || issuer.len() > MAX_ISSUER_LEN {
            return Ok(None);
        }
        Ok(self.directory().await?.tenant_of(issuer).cloned())
    }

    /// The introspection credential with this client id, from the directory (no query per
    /// client id; every credential write reloads it before returning).
    pub async fn introspection_credential(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<IntrospectionCredential>>, StoreError> {
        Ok(self.directory().await?.credential(client_id).cloned())
    }

    /// The registered caller holding `key`, when its secret matches (from the directory: no
    /// query per key; every registry write reloads it before returning, so a deleted key or
    /// caller stops working when the call returns).
    pub async fn caller_with_key(
        &self,
        key: &PresentedKey<'_>,
    ) -> Result<Option<Arc<RegisteredCaller>>, StoreError> {
        let listing = self.directory().await?;
        let found = listing.caller_with_key(key.key_id()).filter(|caller| {
            caller
                .keys
                .iter()
                .any(|k| k.key_id == key.key_id() && key.matches(&k.secret_sha256))
        });
        Ok(found.cloned())
    }

    /// The registered caller named `name` (a client certificate's identity), from the directory.
    pub async fn caller_named(
        &self,
        name: &str,
    ) -> Result<Option<Arc<RegisteredCaller>>, StoreError> {
        Ok(self.directory().await?.caller(name).cloned())
    }

    fn is_current(&self, state: &TenantState) -> bool {
        self.generations.state_current(state.stripe, state.stamp)
            && state.loaded_at.elapsed() < self.limits.ttl
    }

    fn may_stand_in(&self, state: &TenantState) -> bool {
        self.generations
            .state_usable_in_outage(state.stripe, state.stamp)
            && state.loaded_at.elapsed()
                < self.limits.ttl.saturating_add(self.limits.stale_if_error)
    }

    async fn refresh(
        &self,
        id: &TenantId,
        held: Option<Arc<TenantState>>,
    ) -> Result<Arc<TenantState>, StoreError> {
        if let Some(state) = &held
            && self.resting()
            && self.may_stand_in(state)
        {
            return Ok(stand_in("tenant", state));
        }
        match self.load(id, held.is_some()).await {
            Err(err) if is_outage(&err) => {
                self.rest(&err);
                let Some(state) = held.filter(|s| self.may_stand_in(s)) else {
                    return Err(err);
                };
                // Loading dropped it from the cache: keep it for the next caller.
                self.cache
                    .entry(id.clone())
                    .or_insert(Arc::clone(&state))
                    .await;
                Ok(stand_in("tenant", &state))
            }
            other => other,
        }
    }

    async fn load(&self, id: &TenantId, drop_held: bool) -> Result<Arc<TenantState>, StoreError> {
        // Unknown tenants are answered from the directory: no query per name.
        if !self.directory().await?.contains(id) {
            return Err(StoreError::TenantNotFound(id.to_string()));
        }
        if drop_held {
            // Else `try_get_with` would hand back the entry we refused.
            self.cache.invalidate(id).await;
        }
        let read = || {
            read_state(
                Arc::clone(&self.store),
                Arc::clone(&self.generations),
                id.clone(),
            )
        };
        let loaded = self
            .cache
            .try_get_with(id.clone(), read())
            .await
            .map_err(unshare)?;
        if self.is_current(&loaded) {
            return Ok(loaded);
        }
        // We joined a load that began before an invalidation: read again, ourselves.
        let fresh = read().await?;
        self.cache.insert(id.clone(), Arc::clone(&fresh)).await;
        Ok(fresh)
    }

    /// The current directory, reloaded by one caller when an invalidation or the TTL made it
    /// old; during an outage the last good one stands in like tenant state does.
    async fn directory(&self) -> Result<Arc<Listing>, StoreError> {
        if let Some(listing) = self.directory.latest()
            && self.listing_current(&listing)
        {
            return Ok(listing);
        }
        let _one_reload = self.directory.reload.lock().await;
        let held = self.directory.latest();
        if let Some(listing) = &held {
            if self.listing_current(listing) {
                return Ok(Arc::clone(listing));
            }
            if self.resting() && self.listing_may_stand_in(listing) {
                return Ok(stand_in("directory", listing));
            }
        }
        let stamp = self.generations.stamp();
        match self.store.directory().await {
            Ok(rows) => {
                let listing = Arc::new(Listing::new(stamp, rows));
                self.directory.install(Arc::clone(&listing));
                Ok(listing)
            }
            Err(err) if is_outage(&err) => {
                self.rest(&err);
                match held.filter(|l| self.listing_may_stand_in(l)) {
                    Some(listing) => Ok(stand_in("directory", &listing)),
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    fn listing_current(&self, listing: &Listing) -> bool {
        self.generations.directory_current(listing.stamp)
            && listing.loaded_at.elapsed() < self.limits.ttl
    }

    fn listing_may_stand_in(&self, listing: &Listing) -> bool {
        self.generations.directory_usable_in_outage(listing.stamp)
            && listing.loaded_at.elapsed()
                < self.limits.ttl.saturating_add(self.limits.stale_if_error)
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn resting(&self) -> bool {
        self.millis() < self.resting_until.load(Ordering::Relaxed)
    }

    /// The store failed to answer: stand in without asking it for a while, and say so once.
    fn rest(&self, reason: &StoreError) {
        let now = self.millis();
        let until = now.saturating_add(u64::try_from(STORE_RETRY.as_millis()).unwrap_or(1000));
        if self.resting_until.swap(until, Ordering::Relaxed) < now {
            tracing::warn!(
                %reason,
                stale_if_error = ?self.limits.stale_if_error,
                "store does not answer: cached tenant state stands in"
            );
        }
    }

    /// Applies a change announced on the feed (by any replica, this one included).
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Catalog(id) => self.invalidate(Some(id), Wrote::Catalog, Certainty::Changed),
            Change::Settings(id) => self.invalidate(Some(id), Wrote::Settings, Certainty::Changed),
            Change::Callers => self.generations.invalidate_directory(Certainty::Changed),
            Change::Missed => self.invalidate(None, Wrote::Settings, Certainty::Suspected),
        }
    }

    fn invalidate(&self, id: Option<&TenantId>, wrote: Wrote, certainty: Certainty) {
        let settings = wrote == Wrote::Settings;
        let touched = Touched {
            tenant: id.map(Stripe::of),
            keys: settings,
            directory: settings,
        };
        self.generations.invalidate(touched, certainty);
    }

    /// After a write: a committed one is in force at once; a refused one changed nothing; one
    /// whose outcome is unknown is treated as a change, though the last good state may still
    /// stand in while the store does not answer.
    fn written<T>(&self, id: &TenantId, wrote: Wrote, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.invalidate(Some(id), wrote, Certainty::Changed),
            Err(err) if err.changed_nothing() => {}
            Err(_) => self.invalidate(Some(id), wrote, Certainty::Suspected),
        }
    }

    /// Follows the store's change feed until it ends (at once for SQLite).
    pub async fn follow_changes(&self) {
        let states = self.clone();
        let handler = Box::new(move |change: Change| states.apply(&change));
        if let Err(err) = self.store.watch_changes(handler).await {
            tracing::warn!(%err, "change feed unavailable: other replicas' writes show after the cache TTL");
        }
    }

    /// Creates a tenant with its seed catalog.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        seed: &Edit,
        actor: &Actor,
    ) -> Result<Committed, StoreError> {
        let result = self.store.create_tenant(tenant, seed, actor).await;
        self.written(&tenant.id, Wrote::Settings, &result);
        result
    }

    /// Changes a tenant's settings.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        actor: &Actor,
        update: TenantUpdate<'_>,
    ) -> Result<Tenant, StoreError> {
        let result = self.store.update_tenant(id, actor, update).await;
        self.written(id, Wrote::Settings, &result);
        result
    }

    /// Deletes a tenant with its catalog and revocations.
    pub async fn delete_tenant(&self, id: &TenantId, actor: &Actor) -> Result<Tenant, StoreError> {
        let result = self.store.delete_tenant(id, actor).await;
        self.written(id, Wrote::Settings, &result);
        result
    }

    /// Records a revocation.
    pub async fn revoke(
        &self,
        id: &TenantId,
        revocation: &Revocation,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let result = self.store.revoke(id, revocation, actor).await;
        self.written(id, Wrote::Catalog, &result);
        result
    }

    /// Registers an introspection credential. Credentials are answered from the directory, which
    /// this invalidates (as a settings write) before returning: a deleted one stops working
    /// when the call returns.
    pub async fn create_introspection_credential(
        &self,
        credential: &IntrospectionCredential,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let result = self
            .store
            .create_introspection_credential(credential, actor)
            .await;
        self.written(&credential.tenant, Wrote::Settings, &result);
        result
    }

    /// Deletes an introspection credential of tenant `id`.
    pub async fn delete_introspection_credential(
        &self,
        id: &TenantId,
        client_id: &str,
        actor: &Actor,
    ) -> Result<IntrospectionCredential, StoreError> {
        let result = self
            .store
            .delete_introspection_credential(id, client_id, actor)
            .await;
        self.written(id, Wrote::Settings, &result);
        result
    }

    /// Changes the caller registry. Callers are answered from the directory, which this
    /// invalidates before returning (nothing else: no tenant's state depends on callers).
    pub async fn write_caller(
        &self,
        name: &str,
        write: CallerWrite<'_>,
        actor: &Actor,
    ) -> Result<RegisteredCaller, StoreError> {
        let result = self.store.write_caller(name, write, actor).await;
        match &result {
            Ok(_) => self.generations.invalidate_directory(Certainty::Changed),
            Err(err) if err.changed_nothing() => {}
            Err(_) => self.generations.invalidate_directory(Certainty::Suspected),
        }
        result
    }

    /// Applies a planned edit in one store transaction.
    pub async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        let result = self.store.edit(id, actor, None, plan).await;
        self.written(id, Wrote::Catalog, &result);
        log_edit(id, actor, &result);
        result
    }

    /// Like [`TenantStates::edit`], also changing the tenant's settings in the same transaction.
    pub async fn edit_with_settings(
        &self,
        id: &TenantId,
        actor: &Actor,
        settings: TenantUpdate<'_>,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        let result = self.store.edit(id, actor, Some(settings), plan).await;
        self.written(id, Wrote::Settings, &result);
        log_edit(id, actor, &result);
        result
    }
}

/// Reads a tenant's state in one snapshot and compiles it, stamped before the read.
async fn read_state(
    store: Arc<dyn Store>,
    generations: Arc<Generations>,
    id: TenantId,
) -> Result<Arc<TenantState>, StoreError> {
    let stamp = generations.stamp();
    let (Committed { tenant, catalog }, revocations) =
        store.tenant_state(&id, now_ms() / 1000).await?;
    let compiled = CompiledCatalog::compile(catalog);
    for issue in compiled.issues() {
        // An operation emptied by scope deletions is a normal, fail-closed state; anything
        // else means the stored data broke a write-time rule.
        if matches!(issue, CatalogIssue::EmptyRequirement { .. }) {
            tracing::debug!(tenant = %id, ?issue, "operation denies every request");
        } else {
            tracing::warn!(tenant = %id, ?issue, "catalog issue");
        }
    }
    Ok(Arc::new(TenantState {
        policy: tenant.verify_policy(),
        stripe: Stripe::of(&id),
        tenant,
        compiled,
        revocations: RevocationIndex::new(revocations),
        stamp,
        loaded_at: Instant::now(),
    }))
}

/// Whether the store failed to answer (rather than answered no): cached state may stand in.
fn is_outage(err: &StoreError) -> bool {
    matches!(err, StoreError::Unavailable(_) | StoreError::Storage(_))
}

/// A value served in place of the store's current answer, counted.
fn stand_in<T>(what: &'static str, value: &Arc<T>) -> Arc<T> {
    metrics::counter!("scopegate_stale_answers_total", "cache" => what).increment(1);
    Arc::clone(value)
}

/// A load error shared by every caller that waited on it.
fn unshare(err: Arc<StoreError>) -> StoreError {
    match Arc::try_unwrap(err) {
        Ok(err) => err,
        Err(shared) => match &*shared {
            StoreError::TenantNotFound(t) => StoreError::TenantNotFound(t.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Storage(m) => StoreError::Storage(m.clone()),
            other => StoreError::Internal(other.to_string()),
        },
    }
}

/// One log line per committed admin write: who changed which tenant to which revision.
fn log_edit(id: &TenantId, actor: &Actor, result: &Result<(Committed, Edit), StoreError>) {
    if let Ok((committed, edit)) = result
        && !edit.audit.is_empty()
    {
        let actions: Vec<&str> = edit.audit.iter().map(|a| a.action).collect();
        tracing::info!(
            tenant = %id,
            %actor,
            revision = committed.tenant.revision,
            ?actions,
            "catalog changed"
        );
    }
}
