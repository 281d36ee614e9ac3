//! Admin access tokens: a token verified by the token pipeline is an admin credential when it
//! carries its tenant's reserved admin scopes (honoured for first-party clients only). It
//! administers its own tenant; tokens of the configured admin tenant are platform-wide, or
//! limited to the tenant their `tenant` claim names.

use async_trait::async_trait;

use super::auth::{AdminGrant, AdminTokenVerifier};
use crate::{
    pipeline::TokenPipeline,
    store::{Actor, now_ms},
    tenant::TenantId,
};

/// Verifies admin tokens with the token pipeline.
#[derive(Debug, Clone)]
pub struct TokenAdmins {
    pipeline: TokenPipeline,
    platform_tenant: Option<TenantId>,
}

impl TokenAdmins {
    /// Tokens of `platform_tenant` (if any) administer every tenant.
    pub fn new(pipeline: TokenPipeline, platform_tenant: Option<TenantId>) -> Self {
        Self {
            pipeline,
            platform_tenant,
        }
    }
}

#[async_trait]
impl AdminTokenVerifier for TokenAdmins {
    async fn verify(&self, token: &str) -> Option<AdminGrant> {
        let seen = self
            .pipeline
            .introspect(None, token, now_ms() / 1000)
            .await
            .ok()?;
        let first_party = seen.first_party();
        let (state, verified) = (seen.state?, seen.token.ok()?);
        let grant = state
            .compiled
            .effective_grant(verified.scopes.iter(), first_party);
        let (read_scope, write_scope) = state.tenant.admin_style.admin_pair();
        let (read, write) = (grant.contains(read_scope), grant.contains(write_scope));
        if !read && !write {
            return None;
        }
        // Tokens of the admin tenant are platform-wide unless their `tenant` claim names the
        // one tenant they may administer; every other tenant's tokens administer only it.
        let platform = self.platform_tenant.as_ref() == Some(&state.tenant.id);
        let scope = if platform {
            match verified.other_claims.get("tenant") {
                None => None,
                Some(serde_json::Value::String(raw)) => Some(TenantId::parse(raw).ok()?),
                Some(_) => return None,
            }
        } else {
            Some(state.tenant.id.clone())
        };
        let who = verified
            .sub
            .as_deref()
            .or(verified.client_id.as_deref())
            .unwrap_or("unknown");
        Some(AdminGrant {
            actor: Actor(format!("{}#{who}", verified.iss)),
            tenant: scope,
            read,
            write,
        })
    }
}
