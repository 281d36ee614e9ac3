//! Tenant state in a moka cache in front of the store: the tenant's settings, its catalog as
//! stored and compiled for decisions, and its revocations. A write through `Catalogs`
//! invalidates its tenant at once on this replica; other replicas learn through the store's
//! change feed (Postgres LISTEN/NOTIFY), with the TTL as the bound if a notification is lost.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::{
    scope::{CatalogIssue, CatalogSnapshot, CompiledCatalog, edit::Edit},
    store::{
        Actor, Committed, Planner, Revocation, RevocationKind, Store, StoreError, TenantUpdate,
    },
    tenant::{Tenant, TenantId},
    token::{VerifiedToken, VerifyPolicy},
};

/// Everything the hot path needs about one tenant at one revision.
#[derive(Debug)]
pub struct TenantState {
    pub tenant: Tenant,
    /// The catalog as stored (sorted by name), for the admin API.
    pub catalog: CatalogSnapshot,
    /// The same catalog compiled for decisions.
    pub compiled: CompiledCatalog,
    pub revocations: RevocationIndex,
    /// The tenant's verification policy, built once per revision: a cache hit re-checks a
    /// token against it on every call.
    pub policy: VerifyPolicy,
}

/// A tenant's revocations, indexed for a check per token.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    jtis: HashSet<String>,
    clients: HashMap<String, i64>,
    subjects: HashMap<String, i64>,
    tokens: HashSet<String>,
}

/// The key under which a `jti`-less token is revoked: hex SHA-256 of its text.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl RevocationIndex {
    /// Indexes unexpired revocations.
    pub fn new(rows: Vec<Revocation>) -> Self {
        let mut index = Self::default();
        for row in rows {
            match row.kind {
                RevocationKind::Jti => {
                    index.jtis.insert(row.value);
                }
                RevocationKind::Client => {
                    index.clients.insert(row.value, row.not_before);
                }
                RevocationKind::Subject => {
                    index.subjects.insert(row.value, row.not_before);
                }
                RevocationKind::Token => {
                    index.tokens.insert(row.value);
                }
            }
        }
        index
    }

    /// Whether a verified token (whose text is `raw`) is revoked: its `jti` is, the token
    /// itself is, or it was issued before its client's or subject's not-before. A token
    /// without `iat` counts as issued before any not-before.
    pub fn is_revoked(&self, token: &VerifiedToken, raw: &str) -> bool {
        let issued = token.iat.unwrap_or(i64::MIN);
        let before = |map: &HashMap<String, i64>, id: Option<&String>| {
            id.and_then(|id| map.get(id))
                .is_some_and(|&not_before| issued < not_before)
        };
        token
            .jti
            .as_ref()
            .is_some_and(|jti| self.jtis.contains(jti))
            || before(&self.clients, token.client_id.as_ref())
            || before(&self.subjects, token.sub.as_ref())
            || (!self.tokens.is_empty() && self.tokens.contains(&token_digest(raw)))
    }
}

/// Cached tenant state and the writes that keep it honest.
#[derive(Debug, Clone)]
pub struct Catalogs {
    store: Arc<dyn Store>,
    cache: Cache<TenantId, Arc<TenantState>>,
    /// Tenants the store said do not exist, so calls naming one (a typo, a flood) are answered
    /// without a query each. Forgotten like cached state: on a write or change announcement
    /// for that id (a creation announces), else after the same TTL.
    missing: Cache<TenantId, ()>,
    /// Bumped by every invalidation: a "not found" read before one is not remembered after it
    /// (the tenant may have been created in between).
    invalidations: Arc<AtomicU64>,
    capacity: u64,
    ttl: Duration,
}

impl Catalogs {
    /// A cache of at most `capacity` tenants (and as many unknown ids), each entry living at
    /// most `ttl`.
    pub fn new(store: Arc<dyn Store>, capacity: u64, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        let missing = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        Self {
            store,
            cache,
            missing,
            invalidations: Arc::new(AtomicU64::new(0)),
            capacity,
            ttl,
        }
    }

    /// Most tenants kept, and how long an entry may live without an announcement: the bounds
    /// other per-tenant caches (issuer routing) follow too.
    pub fn limits(&self) -> (u64, Duration) {
        (self.capacity, self.ttl)
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A tenant's state, from cache or loaded once for all concurrent callers.
    pub async fn get(&self, id: &TenantId) -> Result<Arc<TenantState>, StoreError> {
        // The hot path: a plain lookup, without building the loader below (two id clones and
        // a future holding the store calls).
        if let Some(state) = self.cache.get(id).await {
            return Ok(state);
        }
        if self.missing.contains_key(id) {
            return Err(StoreError::TenantNotFound(id.to_string()));
        }
        let generation = self.invalidations.load(Ordering::Acquire);
        let store = Arc::clone(&self.store);
        let key = id.clone();
        let loaded = self
            .cache
            .try_get_with(id.clone(), async move {
                let Committed { tenant, catalog } = store.catalog(&key).await?;
                let now = crate::store::now_ms() / 1000;
                let revocations = RevocationIndex::new(store.revocations(&key, now).await?);
                let compiled = CompiledCatalog::compile(catalog.clone());
                for issue in compiled.issues() {
                    // An operation emptied by scope deletions is a normal, fail-closed state;
                    // anything else means the stored data broke a write-time rule.
                    if matches!(issue, CatalogIssue::EmptyRequirement { .. }) {
                        tracing::debug!(tenant = %key, ?issue, "operation denies every request");
                    } else {
                        tracing::warn!(tenant = %key, ?issue, "catalog issue");
                    }
                }
                Ok(Arc::new(TenantState {
                    policy: VerifyPolicy::from_tenant(&tenant),
                    tenant,
                    catalog,
                    compiled,
                    revocations,
                }))
            })
            .await;
        if let Err(err) = &loaded
            && matches!(**err, StoreError::TenantNotFound(_))
        {
            self.missing.insert(id.clone(), ()).await;
            if self.invalidations.load(Ordering::Acquire) != generation {
                self.missing.invalidate(id).await;
            }
        }
        loaded.map_err(|err: Arc<StoreError>| match Arc::try_unwrap(err) {
            Ok(err) => err,
            Err(shared) => match &*shared {
                StoreError::TenantNotFound(t) => StoreError::TenantNotFound(t.clone()),
                StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                StoreError::Storage(m) => StoreError::Storage(m.clone()),
                other => StoreError::Internal(other.to_string()),
            },
        })
    }

    /// The cached state of a tenant, without loading it.
    pub async fn cached(&self, id: &TenantId) -> Option<Arc<TenantState>> {
        self.cache.get(id).await
    }

    /// Forgets a tenant's cached state (after a write, or a change notification).
    pub async fn invalidate(&self, id: &TenantId) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(id).await;
        self.missing.invalidate(id).await;
    }

    /// Like [`Catalogs::edit`], also changing the tenant's settings in the same transaction.
    pub async fn edit_with_settings(
        &self,
        id: &TenantId,
        actor: &Actor,
        settings: TenantUpdate<'_>,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        let result = self.store.edit(id, actor, Some(settings), plan).await;
        self.invalidate(id).await;
        log_edit(id, actor, &result);
        result
    }

    /// Forgets every cached tenant (change announcements may have been missed).
    pub fn invalidate_all(&self) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
        self.missing.invalidate_all();
    }

    /// Applies a planned edit in one store transaction and drops the cached state, so the
    /// next read sees the committed catalog.
    pub async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        let result = self.store.edit(id, actor, None, plan).await;
        self.invalidate(id).await;
        log_edit(id, actor, &result);
        result
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
