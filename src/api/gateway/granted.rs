//! Decisions for a subject whose scopes the caller verified itself (`CheckScopes`' `granted`
//! subject), and the one entry point for either kind of subject. A grant goes through the same
//! checks of its scope list as in `CheckScopes`, then the same catalog decision and challenge as
//! a bearer token's.

use super::{
    About, Asker, Binding, Denied, Facts, Gateway, GatewayDecision, GatewayRequirement, decide,
};
use crate::{
    api::{
        decision::{MAX_GRANTED_SCOPES, check_scope_token},
        status::ApiError,
        subject::{Presentation, count, registered, resource_uri, tenant_state},
    },
    scope::{Challenge, CompiledCatalog, Grant, Reason},
    tenant::TenantId,
};

/// Scopes a caller verified itself, as `CheckScopes`' `granted` subject.
#[derive(Debug, Clone, Copy)]
pub struct Granted<'a> {
    /// The client the scopes were granted to (empty: none named). Reserved scopes count only
    /// when it is a registered first-party client of the tenant.
    pub client_id: &'a str,
    /// The granted scope names, as the token carried them.
    pub scopes: &'a [String],
}

impl<'a> Granted<'a> {
    /// Checks the list as `CheckScopes` does: at most [`MAX_GRANTED_SCOPES`] names, each an
    /// RFC 6749 scope-token. Errors name `scopes` or `scopes[i]` (relative: the door puts its
    /// own path in front) and never quote a scope.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.scopes.len() > MAX_GRANTED_SCOPES {
            let message = format!("at most {MAX_GRANTED_SCOPES} scopes");
            return Err(ApiError::invalid("scopes", message));
        }
        for (i, name) in self.scopes.iter().enumerate() {
            check_scope_token(name)
                .map_err(|e| ApiError::invalid(format!("scopes[{i}]"), e.to_string()))?;
        }
        Ok(())
    }

    /// The effective grant against `compiled`: first-party when the catalog says its client is.
    pub(super) fn grant<'c>(&self, compiled: &'c CompiledCatalog) -> Grant<'c> {
        let first_party = !self.client_id.is_empty()
            && compiled
                .client(self.client_id)
                .is_some_and(|c| c.first_party);
        compiled.effective_grant(self.scopes.iter().map(String::as_str), first_party)
    }
}

/// Who a decision is about.
#[derive(Debug, Clone, Copy)]
pub enum GatewaySubject<'a> {
    /// A bearer token, verified through the token pipeline (`None`: the caller saw none).
    Bearer(Option<&'a str>),
    /// Scopes the caller verified itself.
    Granted(Granted<'a>),
}

impl Gateway {
    /// Decides a request to `tenant` that needs `requirement`, for the protected `resource`
    /// (if any), for either kind of subject: a bearer token exactly as [`Gateway::authorize`],
    /// granted scopes as [`Gateway::authorize_granted`].
    pub async fn authorize_subject(
        &self,
        asker: Asker<'_>,
        tenant: &TenantId,
        requirement: &GatewayRequirement,
        subject: GatewaySubject<'_>,
        resource: Option<&str>,
    ) -> Result<GatewayDecision, ApiError> {
        match subject {
            GatewaySubject::Bearer(bearer) => {
                // AuthZEN carries no HTTP request: a DPoP-bound token finds no proof and is
                // refused (`dpop_missing`), as a certificate-bound one finds no certificate.
                let presented = Presentation::default();
                self.authorize(
                    asker,
                    Some(tenant.as_str()),
                    requirement,
                    bearer,
                    Binding {
                        resource,
                        certificate: None,
                        presented: &presented,
                    },
                )
                .await
            }
            GatewaySubject::Granted(granted) => {
                self.authorize_granted(asker, tenant, requirement, granted, resource)
                    .await
            }
        }
    }

    /// Decides a request to `tenant` that needs `requirement` for scopes the caller verified
    /// itself: the grant's checks as in `CheckScopes`, then the catalog's decision and
    /// challenge (MCP-grade for a registered `resource`: there is no token to bind to it). An
    /// unknown tenant is denied (`TENANT_NOT_FOUND`, 401) like a token of none.
    ///
    /// Errors: `Invalid` for a malformed scope list (see [`Granted::check`]) or a resource that
    /// is malformed or not the tenant's (naming `resource`); a store error only when the store
    /// is needed, cannot answer and nothing usable is cached.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant))]
    pub async fn authorize_granted(
        &self,
        asker: Asker<'_>,
        tenant: &TenantId,
        requirement: &GatewayRequirement,
        granted: Granted<'_>,
        resource: Option<&str>,
    ) -> Result<GatewayDecision, ApiError> {
        granted.check()?;
        let resource = resource_uri(resource.unwrap_or_default(), "resource")?;
        let client_id = Some(granted.client_id).filter(|c| !c.is_empty());
        let mut about = About {
            asked_tenant: tenant.as_str(),
            state: None,
            bearer: None,
            verified: None,
            client_id,
            requirement: requirement.0.as_ref(),
        };
        let Some(state) = tenant_state(&self.pipeline, asker.caller, tenant).await? else {
            count(Reason::TenantNotFound);
            return Ok(self.logged(asker, unknown_tenant().into(), &about));
        };
        if let Some(uri) = resource {
            registered(&state, uri, "resource")?;
        }
        let grant = granted.grant(&state.compiled);
        let facts = Facts {
            subject: None,
            client_id: client_id.map(str::to_owned),
        };
        let decision = decide(&state, &grant, requirement, resource, facts);
        tracing::debug!(
            allowed = matches!(decision, GatewayDecision::Allow(_)),
            "gateway decision for granted scopes"
        );
        about.state = Some(&state);
        Ok(self.logged(asker, decision, &about))
    }
}

/// No such tenant: the grant cannot be used here (`invalid_token`, no realm).
pub(super) fn unknown_tenant() -> Denied {
    let challenge = Challenge::invalid_token(None);
    Denied::refused(Reason::TenantNotFound, challenge, false)
}
