//! The DPoP replay caches (RFC 9449 §11.1), one per tenant, owned by the pipeline rather than by
//! the tenant states: tenant states are dropped on every settings or catalog write, and a replay
//! cache dropped with them would accept every recent proof again after any admin edit.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::{tenant::TenantId, token::ReplayCache};

/// Each tenant's replay cache, created on its first DPoP proof. Memory is bounded by the
/// tenants that exist (an entry is made only for a tenant that verified a DPoP-bound token)
/// times their capacity, each at most `MAX_DPOP_REPLAY_CAPACITY`. Per process: replicas do not
/// share what they saw.
#[derive(Debug, Default)]
pub struct DpopReplays {
    caches: RwLock<HashMap<TenantId, Arc<ReplayCache>>>,
}

impl DpopReplays {
    /// The replay cache of `tenant`, bounded to `capacity` entries (a changed capacity is
    /// applied to the existing cache, which keeps what it remembers).
    pub fn of(&self, tenant: &TenantId, capacity: usize) -> Arc<ReplayCache> {
        let existing = self
            .caches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        let cache = match existing {
            Some(cache) => cache,
            None => Arc::clone(
                self.caches
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(tenant.clone())
                    .or_insert_with(|| Arc::new(ReplayCache::new(capacity))),
            ),
        };
        if cache.capacity() != capacity {
            cache.set_capacity(capacity);
        }
        cache
    }
}
