//! The RFC 7662 answer both introspection doors (gRPC `Introspect`, HTTP
//! `POST /oauth2/introspect`) build from the one token pipeline: each only renders it.

use std::sync::Arc;

use crate::{
    api::{
        status::ApiError,
        subject::{Presentation, Seen, TokenSubject, permitted_tenant},
    },
    caller::Caller,
    pipeline::TokenPipeline,
    store::now_ms,
    tenant::TenantId,
    token::{VerifiedToken, token_fingerprint},
};

/// What the pipeline says about one token.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The active token's facts, or why it is inactive (for logs and explanations, never for
    /// an RFC 7662 answer).
    pub active: Result<Active, &'static str>,
    /// The verified-token cache answered.
    pub cache_hit: bool,
}

/// An active token, as introspection shows it.
#[derive(Debug)]
pub(crate) struct Active {
    /// The verified claims.
    pub token: Arc<VerifiedToken>,
    /// The effective grant's direct scopes, space-separated (RFC 7662 `scope`).
    pub scope: String,
    /// The tenant that issued it.
    pub tenant: TenantId,
    /// The tenant's catalog revision the answer was computed at.
    pub catalog_revision: i64,
}

/// Runs `token` through the pipeline for `tenant` (`None`: the tenant of its issuer), once
/// `caller` (when there is one) may ask about that tenant, and
/// builds the answer, counting inactive outcomes. With `presented` (the request the token came
/// with), an active token is also held to its DPoP proof, as every door holds it
/// ([`Seen::bind_dpop`]); without, a DPoP-bound token is answered with its `cnf` for the
/// resource server to check the proof (RFC 9449 §6.2).
pub(crate) async fn answer(
    pipeline: &TokenPipeline,
    caller: Option<&Caller>,
    tenant: Option<&TenantId>,
    token: &str,
    presented: Option<&Presentation<'_>>,
) -> Result<Answer, ApiError> {
    let now = now_ms() / 1000;
    let routed = permitted_tenant(pipeline, caller, tenant, token).await?;
    let tenant = routed.as_ref().or(tenant);
    let seen = pipeline.introspect(tenant, token, now).await?;
    let cache_hit = seen.cache_hit;
    let (state, verified) = match (&seen.state, &seen.token) {
        (Some(state), Ok(verified)) => (state, verified),
        (_, Err(inactive)) => {
            metrics::counter!("scopegate_introspections_total", "outcome" => inactive.0)
                .increment(1);
            tracing::debug!(token = %token_fingerprint(token), outcome = inactive.0, "inactive token");
            return Ok(Answer {
                active: Err(inactive.0),
                cache_hit,
            });
        }
        (None, Ok(_)) => {
            return Ok(Answer {
                active: Err("tenant_not_found"),
                cache_hit,
            });
        }
    };
    let first_party = seen.first_party();
    if let Some(presented) = presented {
        let held = Seen {
            subject: TokenSubject::Active {
                state: Arc::clone(state),
                token: Arc::clone(verified),
                first_party,
            },
            outcome: "ok",
            cache_hit,
        }
        .bind_dpop(pipeline, Some(token), presented, now);
        if let TokenSubject::Refused { .. } = held.subject {
            metrics::counter!("scopegate_introspections_total", "outcome" => held.outcome)
                .increment(1);
            return Ok(Answer {
                active: Err(held.outcome),
                cache_hit,
            });
        }
    }
    let grant = state
        .compiled
        .effective_grant(verified.scopes.iter(), first_party);
    Ok(Answer {
        active: Ok(Active {
            token: Arc::clone(verified),
            scope: grant.direct_scope_string(),
            tenant: state.tenant.id.clone(),
            catalog_revision: state.tenant.revision,
        }),
        cache_hit,
    })
}

/// RFC 7662 `token_type`: `DPoP` for a DPoP-bound token (RFC 9449 §6.2), else the token's own.
pub(crate) fn token_type(token: &VerifiedToken) -> &'static str {
    if token.dpop_binding().is_some() {
        "DPoP"
    } else {
        token.token_type
    }
}
