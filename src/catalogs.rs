//! Tenant catalogs in a moka cache in front of the store. A write through `Catalogs`
//! invalidates its tenant at once on this replica; other replicas learn through the store's
//! change feed (Postgres LISTEN/NOTIFY), with the TTL as the bound if a notification is lost.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;

use crate::{
    scope::edit::Edit,
    store::{Actor, Committed, Planner, Store, StoreError},
    tenant::TenantId,
};

/// Cached catalogs and the writes that keep them honest.
#[derive(Debug, Clone)]
pub struct Catalogs {
    store: Arc<dyn Store>,
    cache: Cache<TenantId, Arc<Committed>>,
}

impl Catalogs {
    /// A cache of at most `capacity` tenants, each entry living at most `ttl`.
    pub fn new(store: Arc<dyn Store>, capacity: u64, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        Self { store, cache }
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A tenant's catalog, from cache or loaded once for all concurrent callers.
    pub async fn get(&self, id: &TenantId) -> Result<Arc<Committed>, StoreError> {
        let store = Arc::clone(&self.store);
        let key = id.clone();
        self.cache
            .try_get_with(id.clone(), async move {
                store.catalog(&key).await.map(Arc::new)
            })
            .await
            .map_err(|err: Arc<StoreError>| match Arc::try_unwrap(err) {
                Ok(err) => err,
                Err(shared) => match &*shared {
                    StoreError::TenantNotFound(t) => StoreError::TenantNotFound(t.clone()),
                    StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                    other => StoreError::Internal(other.to_string()),
                },
            })
    }

    /// Forgets a tenant's cached catalog (after a write, or a change notification).
    pub async fn invalidate(&self, id: &TenantId) {
        self.cache.invalidate(id).await;
    }

    /// Applies a planned edit in one store transaction and refreshes the cache with the
    /// committed catalog.
    pub async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        plan: Planner<'_>,
    ) -> Result<(Arc<Committed>, Edit), StoreError> {
        let result = self.store.edit(id, actor, plan).await;
        match result {
            Ok((committed, edit)) => {
                let committed = Arc::new(committed);
                self.cache.insert(id.clone(), Arc::clone(&committed)).await;
                Ok((committed, edit))
            }
            Err(err) => {
                // A failed write may mean our copy is stale (e.g. the tenant is gone).
                self.invalidate(id).await;
                Err(err)
            }
        }
    }
}
