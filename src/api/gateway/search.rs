//! "What can this subject do": which of a tenant's catalog operations a subject may call, each
//! decided against the subject's effective grant exactly as a check naming it would be.

use super::{Denied, Gateway, GatewaySubject, granted::unknown_tenant};
use crate::{
    api::{
        status::ApiError,
        subject::{
            TokenSubject, registered, resource_uri, tenant_state, token_grant, token_subject,
        },
    },
    caller::Caller,
    scope::{Grant, Requirement},
    store::now_ms,
    tenant::TenantId,
    tenant_states::TenantState,
};

/// The answer to "which operations may this subject call".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permitted {
    /// The names of the operations a check would allow, sorted byte-wise (stable across calls
    /// while the catalog does not change, so a caller can page through them).
    Operations(Vec<String>),
    /// The subject was refused before any operation was looked at: no token, an inactive one,
    /// or no such tenant (401).
    Refused(Denied),
}

impl Gateway {
    /// The operations of `tenant`'s catalog that `subject` may call; with a protected
    /// `resource`, only the resource's operations (all, when it lists none), and a token must
    /// be bound to it (its `aud` naming it). A token must be an active token of `tenant`;
    /// granted scopes are checked as in `CheckScopes`.
    ///
    /// Errors: `Invalid` for a malformed scope list, or a resource that is malformed or not the
    /// tenant's (naming `resource`); a store error only when the store is needed, cannot answer
    /// and nothing usable is cached.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant))]
    pub async fn permitted_operations(
        &self,
        caller: Option<&Caller>,
        tenant: &TenantId,
        subject: GatewaySubject<'_>,
        resource: Option<&str>,
    ) -> Result<Permitted, ApiError> {
        let resource = resource_uri(resource.unwrap_or_default(), "resource")?;
        match subject {
            GatewaySubject::Bearer(bearer) => {
                let now = now_ms() / 1000;
                let seen = token_subject(&self.pipeline, caller, Some(tenant), bearer, now)
                    .await?
                    .bind(resource, "resource")?;
                Ok(match seen.subject {
                    TokenSubject::Refused {
                        reason, challenge, ..
                    } => Permitted::Refused(Denied::refused(reason, challenge, bearer.is_none())),
                    TokenSubject::Active {
                        state,
                        token,
                        first_party,
                    } => {
                        let grant = token_grant(&state, &token, first_party);
                        Permitted::Operations(permitted(&state, &grant, resource))
                    }
                })
            }
            GatewaySubject::Granted(granted) => {
                granted.check()?;
                let Some(state) = tenant_state(&self.pipeline, caller, tenant).await? else {
                    return Ok(Permitted::Refused(unknown_tenant()));
                };
                if let Some(uri) = resource {
                    registered(&state, uri, "resource")?;
                }
                let grant = granted.grant(&state.compiled);
                Ok(Permitted::Operations(permitted(&state, &grant, resource)))
            }
        }
    }
}

/// The names of the operations (of `resource`, when it lists some) `grant` satisfies, sorted.
fn permitted(state: &TenantState, grant: &Grant<'_>, resource: Option<&str>) -> Vec<String> {
    let compiled = &state.compiled;
    let listed = resource
        .and_then(|uri| state.tenant.resource(uri))
        .map(|r| r.operations.as_slice())
        .filter(|ops| !ops.is_empty());
    let mut names: Vec<String> = compiled
        .operations()
        .filter(|op| listed.is_none_or(|ops| ops.iter().any(|name| name == op.name())))
        .filter(|op| {
            Requirement::operation(op.name())
                .is_ok_and(|requirement| compiled.decide(grant, &requirement).allowed)
        })
        .map(|op| op.name().to_owned())
        .collect();
    names.sort_unstable();
    names
}
