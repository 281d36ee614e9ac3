//! "What can this subject do": which of a tenant's catalog operations a subject may call, each
//! decided against the subject's effective grant exactly as a check naming it would be.

use super::{Denied, Gateway, GatewaySubject, granted::unknown_tenant};
use crate::{
    api::{
        status::ApiError,
        subject::{TokenSubject, tenant_state, token_subject},
    },
    scope::{CompiledCatalog, Grant, Requirement},
    store::now_ms,
    tenant::TenantId,
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
    /// The operations of `tenant`'s catalog that `subject` may call. A token must be an active
    /// token of `tenant`; granted scopes are checked as in `CheckScopes`.
    ///
    /// Errors: `Invalid` for a malformed scope list; a store error only when the store is
    /// needed, cannot answer and nothing usable is cached.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant))]
    pub async fn permitted_operations(
        &self,
        tenant: &TenantId,
        subject: GatewaySubject<'_>,
    ) -> Result<Permitted, ApiError> {
        match subject {
            GatewaySubject::Bearer(bearer) => {
                let now = now_ms() / 1000;
                let seen = token_subject(&self.pipeline, Some(tenant), bearer, now).await?;
                Ok(match seen.subject {
                    TokenSubject::Refused {
                        reason, challenge, ..
                    } => Permitted::Refused(Denied::of(
                        reason,
                        challenge.status,
                        challenge.www_authenticate,
                        bearer.is_none(),
                        Vec::new(),
                    )),
                    TokenSubject::Active {
                        state,
                        token,
                        first_party,
                    } => {
                        let compiled = &state.compiled;
                        let scopes = token.scopes.iter().map(String::as_str);
                        let grant = compiled.effective_grant(scopes, first_party);
                        Permitted::Operations(permitted(compiled, &grant))
                    }
                })
            }
            GatewaySubject::Granted(granted) => {
                granted.check()?;
                let Some(state) = tenant_state(&self.pipeline, tenant).await? else {
                    return Ok(Permitted::Refused(unknown_tenant()));
                };
                let compiled = &state.compiled;
                let grant = granted.grant(compiled);
                Ok(Permitted::Operations(permitted(compiled, &grant)))
            }
        }
    }
}

/// The names of the operations `grant` satisfies, sorted.
fn permitted(compiled: &CompiledCatalog, grant: &Grant<'_>) -> Vec<String> {
    let mut names: Vec<String> = compiled
        .operations()
        .iter()
        .filter(|op| {
            Requirement::operation(op.name())
                .is_ok_and(|requirement| compiled.decide(grant, &requirement).allowed)
        })
        .map(|op| op.name().to_owned())
        .collect();
    names.sort_unstable();
    names
}
