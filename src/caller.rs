//! Who is calling, once a listener has authenticated the caller: the identity in a verified
//! client certificate (mTLS, `--tls-client-ca`) or a registered caller key
//! (`x-scopegate-caller-key`, checked by `api::callers`). Both produce the same [`Caller`], so
//! handlers, logs and metrics never ask how it was proven; a caller the registry knows also
//! carries its limits (which tenants, which surfaces), which every door applies through
//! [`Caller::permit`] once it knows the tenant a call is about.

mod key;
mod registry;

use std::{fmt, sync::Arc};

pub use self::{
    key::{CallerKeyError, KEY_HEADER, NewKey, PresentedKey},
    registry::{
        CallerKey, CallerTenants, MAX_CALLER_NAME_LEN, MAX_CALLER_TENANTS, RegisteredCaller,
        Surface, Surfaces, valid_caller_name,
    },
};
use crate::{api::status::ApiError, tenant::TenantId};

/// An authenticated caller: a name, how it was proven and, when it is registered, its limits.
/// Present only when the caller proved it; an anonymous call has no `Caller` at all. Cheap to
/// clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    name: Arc<str>,
    proof: CallerProof,
    registered: Option<Arc<RegisteredCaller>>,
}

/// How a [`Caller`] proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerProof {
    /// A client certificate chaining to `--tls-client-ca`; the name is its first DNS or URI
    /// subject alternative name, else its subject's common name.
    ClientCertificate,
    /// A registered caller key (`x-scopegate-caller-key`); the name is the caller's.
    CallerKey,
}

impl Caller {
    /// A caller named `name`, proven by `proof`, not (yet) matched with the registry.
    pub fn new(name: impl Into<Arc<str>>, proof: CallerProof) -> Self {
        Self {
            name: name.into(),
            proof,
            registered: None,
        }
    }

    /// This caller with the registry's entry of the same name: its limits apply from now on.
    pub fn registered_as(mut self, entry: Arc<RegisteredCaller>) -> Self {
        self.registered = Some(entry);
        self
    }

    /// The caller's name (the identity logged on every call).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the caller proved it.
    pub fn proof(&self) -> CallerProof {
        self.proof
    }

    /// The registry's entry for this caller, when there is one.
    pub fn registered(&self) -> Option<&RegisteredCaller> {
        self.registered.as_deref()
    }

    /// Whether this caller may be answered about tenants other than those it names: an
    /// unregistered caller (certificate only) is not limited by the registry.
    pub fn limited(&self) -> bool {
        self.registered
            .as_ref()
            .is_some_and(|r| !matches!(r.tenants, CallerTenants::All))
    }

    /// Whether this caller may ask about `tenant`: PERMISSION_DENIED naming neither the
    /// caller's tenants nor anything else it may not know.
    pub fn permit(&self, tenant: &TenantId) -> Result<(), ApiError> {
        match &self.registered {
            Some(entry) if !entry.tenants.contains(tenant) => Err(ApiError::PermissionDenied(
                format!("caller {} may not ask about tenant {tenant}", self.name),
            )),
            _ => Ok(()),
        }
    }
}

/// [`Caller::permit`] for a call that may have no authenticated caller (then anything goes:
/// `--caller-auth` decides whether such calls get this far).
pub fn permit(caller: Option<&Caller>, tenant: &TenantId) -> Result<(), ApiError> {
    caller.map_or(Ok(()), |c| c.permit(tenant))
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
