//! Admin authentication: `authorization: Bearer <credential>` is the bootstrap admin key
//! (compared as SHA-256 in constant time) or, once a verifier is plugged in, an admin access
//! token. Missing or malformed header: UNAUTHENTICATED; a credential that is wrong or lacks
//! the access asked for: PERMISSION_DENIED.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;

use super::status::ApiError;
use crate::{config::AdminKeyHash, store::Actor, tenant::TenantId};

/// What a verified admin credential may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminGrant {
    /// Written to the audit trail.
    pub actor: Actor,
    /// `None`: every tenant (platform-wide); otherwise only this one.
    pub tenant: Option<TenantId>,
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

/// Verifies admin access tokens (the Introspect layer provides it).
#[async_trait]
pub trait AdminTokenVerifier: Send + Sync + fmt::Debug {
    /// The grant of a token, or `None` when it is not a valid admin token.
    async fn verify(&self, token: &str) -> Option<AdminGrant>;
}

/// Whether a call reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The admin gate.
#[derive(Debug, Clone, Default)]
pub struct AdminAuth {
    key: Option<AdminKeyHash>,
    tokens: Option<Arc<dyn AdminTokenVerifier>>,
}

impl AdminAuth {
    /// A gate accepting the bootstrap key (if any) and tokens (if a verifier is given).
    pub fn new(key: Option<AdminKeyHash>, tokens: Option<Arc<dyn AdminTokenVerifier>>) -> Self {
        Self { key, tokens }
    }

    /// Checks the call's credential for `access` to `tenant` (`None`: a platform-wide call
    /// such as listing or creating tenants). Returns who is acting.
    pub async fn authorize(
        &self,
        metadata: &MetadataMap,
        tenant: Option<&TenantId>,
        access: Access,
    ) -> Result<Actor, ApiError> {
        let grant = self.grant(metadata, access).await?;
        permit(grant, tenant)
    }

    /// The grant of the call's credential, which must allow `access` to some tenant.
    pub async fn grant(
        &self,
        metadata: &MetadataMap,
        access: Access,
    ) -> Result<AdminGrant, ApiError> {
        let credential = bearer(metadata)?;
        if let Some(key) = &self.key {
            let presented = AdminKeyHash::of(credential);
            if bool::from(presented.0.ct_eq(&key.0)) {
                return Ok(AdminGrant {
                    actor: Actor("bootstrap-key".to_owned()),
                    tenant: None,
                    read: true,
                    write: true,
                });
            }
        }
        let grant = match &self.tokens {
            Some(verifier) => verifier.verify(credential).await,
            None => None,
        };
        let Some(grant) = grant else {
            return Err(ApiError::PermissionDenied(
                "the admin credential is not valid".to_owned(),
            ));
        };
        let allowed = match access {
            Access::Read => grant.read || grant.write,
            Access::Write => grant.write,
        };
        if !allowed {
            return Err(ApiError::PermissionDenied(format!(
                "the admin token lacks {} access",
                if access == Access::Read {
                    "read"
                } else {
                    "write"
                }
            )));
        }
        Ok(grant)
    }
}

/// Whether `grant` reaches `tenant` (`None`: the call needs platform-wide access).
pub fn permit(grant: AdminGrant, tenant: Option<&TenantId>) -> Result<Actor, ApiError> {
    match (&grant.tenant, tenant) {
        (None, _) => Ok(grant.actor),
        (Some(own), Some(asked)) if own == asked => Ok(grant.actor),
        _ => Err(ApiError::PermissionDenied(
            "the admin token is limited to another tenant".to_owned(),
        )),
    }
}

fn bearer(metadata: &MetadataMap) -> Result<&str, ApiError> {
    let value = metadata
        .get("authorization")
        .ok_or(ApiError::Unauthenticated("missing authorization metadata"))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("authorization metadata is not ASCII"))?;
    let (scheme, credential) = value.split_once(' ').ok_or(ApiError::Unauthenticated(
        "authorization must be `Bearer <credential>`",
    ))?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(ApiError::Unauthenticated(
            "authorization must be `Bearer <credential>`",
        ));
    }
    Ok(credential)
}
