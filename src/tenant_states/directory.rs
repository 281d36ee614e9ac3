//! The tenant directory: every tenant's id and issuer, every introspection credential and every
//! registered caller, read whole. It answers "which tenant has this issuer?", "does this tenant
//! exist?", "whose is this Basic credential?" and "which caller holds this key?" without a query
//! per name, so a flood of unknown issuers, tenant ids, client ids or caller keys costs neither
//! queries nor memory.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::Instant,
};

use crate::{
    caller::RegisteredCaller,
    store::{DirectoryRows, IntrospectionCredential},
    tenant::TenantId,
};

/// One reading of the directory.
#[derive(Debug)]
pub struct Listing {
    /// The generation stamped before it was read.
    pub stamp: u64,
    pub loaded_at: Instant,
    ids: HashSet<TenantId>,
    issuers: HashMap<String, TenantId>,
    credentials: HashMap<String, Arc<IntrospectionCredential>>,
    callers: HashMap<String, Arc<RegisteredCaller>>,
    /// Key id → the caller holding it.
    caller_keys: HashMap<String, Arc<RegisteredCaller>>,
}

impl Listing {
    /// Indexes the store's rows; tenants without an issuer are listed but not routable.
    pub fn new(stamp: u64, rows: DirectoryRows) -> Self {
        let DirectoryRows {
            tenants,
            credentials,
            callers: registered,
        } = rows;
        let mut callers = HashMap::with_capacity(registered.len());
        let mut caller_keys = HashMap::new();
        for caller in registered {
            let caller = Arc::new(caller);
            for key in &caller.keys {
                caller_keys.insert(key.key_id.clone(), Arc::clone(&caller));
            }
            callers.insert(caller.name.clone(), caller);
        }
        let mut ids = HashSet::with_capacity(tenants.len());
        let mut issuers = HashMap::with_capacity(tenants.len());
        for (id, issuer) in tenants {
            if !issuer.is_empty() {
                issuers.insert(issuer, id.clone());
            }
            ids.insert(id);
        }
        let credentials = credentials
            .into_iter()
            .map(|c| (c.client_id.clone(), Arc::new(c)))
            .collect();
        Self {
            stamp,
            loaded_at: Instant::now(),
            ids,
            issuers,
            credentials,
            callers,
            caller_keys,
        }
    }

    /// The registered caller named `name`.
    pub fn caller(&self, name: &str) -> Option<&Arc<RegisteredCaller>> {
        self.callers.get(name)
    }

    /// The registered caller holding the key with this id (its secret not yet checked).
    pub fn caller_with_key(&self, key_id: &str) -> Option<&Arc<RegisteredCaller>> {
        self.caller_keys.get(key_id)
    }

    /// The introspection credential with this client id.
    pub fn credential(&self, client_id: &str) -> Option<&Arc<IntrospectionCredential>> {
        self.credentials.get(client_id)
    }

    /// Whether the tenant exists.
    pub fn contains(&self, id: &TenantId) -> bool {
        self.ids.contains(id)
    }

    /// The tenant whose issuer is exactly `issuer`.
    pub fn tenant_of(&self, issuer: &str) -> Option<&TenantId> {
        self.issuers.get(issuer)
    }
}

/// The latest listing, and a lock so that one caller reloads it while the others wait.
#[derive(Debug, Default)]
pub struct Directory {
    latest: RwLock<Option<Arc<Listing>>>,
    pub(super) reload: tokio::sync::Mutex<()>,
}

impl Directory {
    /// The latest listing, whatever its age.
    pub fn latest(&self) -> Option<Arc<Listing>> {
        self.latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the listing unless a newer one is already in place.
    pub fn install(&self, listing: Arc<Listing>) {
        let mut latest = self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if latest.as_ref().is_none_or(|l| l.stamp <= listing.stamp) {
            *latest = Some(listing);
        }
    }
}
