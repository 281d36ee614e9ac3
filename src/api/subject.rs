//! The subject of a decision when it is a bearer token: run it through the token pipeline and
//! say whether it is an active token of a known tenant, or the 401 it earns. Shared by every
//! door (`CheckScopes`, Envoy ext_authz, forward auth) so that they refuse tokens alike.

mod dpop;

use std::sync::Arc;

pub(crate) use dpop::DpopChallenge;
pub use dpop::{Presentation, ProofHeader, TokenScheme, access_token};

use crate::{
    api::status::ApiError,
    caller::{self, Caller},
    pipeline::TokenPipeline,
    scope::{Challenge, Grant, Reason, Requirement},
    store::StoreError,
    tenant::{ProtectedResource, TenantId, check_resource_uri},
    tenant_states::TenantState,
    token::{
        MAX_TOKEN_BYTES, Rejection, VerifiedToken, certificate_matches, peek_issuer,
        token_fingerprint,
    },
};

/// What the token pipeline made of a presented (or missing) token.
#[derive(Debug)]
pub(crate) enum TokenSubject {
    /// An active token of an existing tenant.
    Active {
        state: Arc<TenantState>,
        token: Arc<VerifiedToken>,
        /// Its client is a registered first-party client of the tenant.
        first_party: bool,
    },
    /// Refused before any requirement is looked at: no token, an inactive one, or no such
    /// tenant. `state` is the tenant that answered, if one did.
    Refused {
        reason: Reason,
        challenge: Challenge,
        state: Option<Arc<TenantState>>,
    },
}

/// A [`TokenSubject`] with what the explain trace reports about it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub subject: TokenSubject,
    /// The introspection label (`ok`, `expired`, `no_token`, …): logs and explain only.
    pub outcome: &'static str,
    pub cache_hit: bool,
}

impl Seen {
    /// Binds the subject to the protected resource `resource` the request is for (RFC 8707):
    /// an active token whose `aud` lacks the URI is inactive for this request (outcome
    /// `wrong_audience`, 401 `invalid_token`, as the MCP authorization spec requires). The
    /// resource must be registered with the tenant that answered: a check naming another is a
    /// misconfigured caller, refused as `Invalid` naming `field`.
    pub(crate) fn bind(mut self, resource: Option<&str>, field: &str) -> Result<Self, ApiError> {
        let Some(uri) = resource else {
            return Ok(self);
        };
        let (state, audience_ok) = match &self.subject {
            TokenSubject::Active { state, token, .. } => {
                (state, token.aud.iter().any(|a| a == uri))
            }
            TokenSubject::Refused {
                state: Some(state), ..
            } => (state, true),
            TokenSubject::Refused { state: None, .. } => return Ok(self),
        };
        registered(state, uri, field)?;
        if !audience_ok {
            let state = Arc::clone(state);
            self.subject = TokenSubject::Refused {
                reason: Reason::TokenInactive,
                challenge: Challenge::invalid_token(Some(state.compiled.tenant())),
                state: Some(state),
            };
            self.outcome = "wrong_audience";
        }
        Ok(self)
    }
}

impl Seen {
    /// Holds a certificate-bound token (RFC 8705 §3: `cnf` `x5t#S256`) to the client
    /// `certificate` the caller's TLS peer presented (PEM or URL-encoded PEM; `None`: none was
    /// passed): without it, or with another, the token is inactive for this request (outcome
    /// `certificate_mismatch`, 401 `invalid_token`). Tokens bound to no certificate pass.
    pub(crate) fn bind_certificate(mut self, certificate: Option<&str>) -> Self {
        let TokenSubject::Active { state, token, .. } = &self.subject else {
            return self;
        };
        if certificate_matches(token, certificate.filter(|c| !c.is_empty())) {
            return self;
        }
        let state = Arc::clone(state);
        self.subject = TokenSubject::Refused {
            reason: Reason::TokenInactive,
            challenge: Challenge::invalid_token(Some(state.compiled.tenant())),
            state: Some(state),
        };
        self.outcome = "certificate_mismatch";
        self
    }
}

/// The effective grant of an active `token` against its tenant's catalog.
pub(crate) fn token_grant<'s>(
    state: &'s TenantState,
    token: &VerifiedToken,
    first_party: bool,
) -> Grant<'s> {
    let scopes = token.scopes.iter();
    state.compiled.effective_grant(scopes, first_party)
}

/// A request's [`Presentation`] from its wire form (`None`: not sent): `Invalid` naming
/// `field.scheme` for a scheme other than `DPoP`, `Bearer` or empty.
pub(crate) fn presentation<'p>(
    wire: Option<&'p crate::pb::HttpPresentation>,
    field: &str,
) -> Result<Presentation<'p>, ApiError> {
    let Some(wire) = wire else {
        return Ok(Presentation::default());
    };
    let scheme = match TokenScheme::parse(&wire.scheme) {
        TokenScheme::Unknown if !wire.scheme.is_empty() => {
            return Err(ApiError::invalid(
                format!("{field}.scheme"),
                "must be DPoP, Bearer or empty",
            ));
        }
        scheme => scheme,
    };
    let given = |s: &'p String| Some(s.as_str()).filter(|s| !s.is_empty());
    Ok(Presentation {
        scheme,
        proof: ProofHeader::from_values(wire.dpop_proofs.iter().map(String::as_str)),
        method: given(&wire.method),
        uri: given(&wire.uri),
    })
}

/// The protected resource `uri` of the tenant, or `Invalid` naming `field`.
pub(crate) fn registered<'s>(
    state: &'s TenantState,
    uri: &str,
    field: &str,
) -> Result<&'s ProtectedResource, ApiError> {
    state
        .tenant
        .resource(uri)
        .ok_or_else(|| ApiError::invalid(field, "is not a protected resource of the tenant"))
}

/// A request's resource URI (RFC 8707 §2: absolute, no fragment), `None` when empty.
pub(crate) fn resource_uri<'r>(raw: &'r str, field: &str) -> Result<Option<&'r str>, ApiError> {
    if raw.is_empty() {
        return Ok(None);
    }
    check_resource_uri(raw).map_err(|message| ApiError::invalid(field, message))?;
    Ok(Some(raw))
}

/// `challenge` in the MCP-grade form for the registered `resource`, if any: it points at the
/// resource's metadata and, on a 401, names what `requirement` needs.
pub(crate) fn resource_challenge(
    state: &TenantState,
    resource: Option<&ProtectedResource>,
    requirement: Option<&Requirement>,
    challenge: Challenge,
) -> Challenge {
    let Some(resource) = resource else {
        return challenge;
    };
    let required = match requirement {
        Some(requirement) if challenge.status == 401 => state.compiled.required_scope(requirement),
        _ => String::new(),
    };
    challenge.for_resource(&resource.metadata_url(), &required)
}

/// Runs `token` (`None`: the caller saw none) through `pipeline` for `tenant`, or for the
/// tenant its issuer names. Errors only when the store is needed and cannot answer.
pub(crate) async fn token_subject(
    pipeline: &TokenPipeline,
    caller: Option<&Caller>,
    tenant: Option<&TenantId>,
    token: Option<&str>,
    now: i64,
) -> Result<Seen, ApiError> {
    let Some(token) = token else {
        return no_token(pipeline, caller, tenant).await;
    };
    let routed = permitted_tenant(pipeline, caller, tenant, token).await?;
    let tenant = routed.as_ref().or(tenant);
    let seen = pipeline.introspect(tenant, token, now).await?;
    let first_party = seen.first_party();
    let cache_hit = seen.cache_hit;
    let (subject, outcome) = match (seen.state, seen.token) {
        (Some(state), Ok(verified)) => (
            TokenSubject::Active {
                state,
                token: verified,
                first_party,
            },
            "ok",
        ),
        (Some(_), Err(inactive)) if Rejection::is_outage(inactive.0) => {
            // The token's state is unknown: an outage, not a bad token (fail closed, loudly).
            return Err(ApiError::Unavailable(
                "the tenant's upstream introspection is unavailable; retry later",
            ));
        }
        (Some(state), Err(inactive)) => {
            tracing::debug!(
                token = %token_fingerprint(token),
                tenant = %state.tenant.id,
                outcome = inactive.0,
                "inactive token"
            );
            let challenge = Challenge::invalid_token(Some(state.compiled.tenant()));
            let subject = TokenSubject::Refused {
                reason: Reason::TokenInactive,
                challenge,
                state: Some(state),
            };
            (subject, inactive.0)
        }
        (None, outcome) => {
            let outcome = outcome.err().map_or("tenant_not_found", |i| i.0);
            // The tenant named, or the one the token's readable `iss` points to, does not
            // exist; a token too large or too broken to name an issuer is just inactive.
            let routable = match tenant {
                Some(_) => token.len() <= MAX_TOKEN_BYTES,
                None => peek_issuer(token).is_some(),
            };
            let reason = if routable {
                Reason::TenantNotFound
            } else {
                Reason::TokenInactive
            };
            (unknown_tenant(reason), outcome)
        }
    };
    Ok(Seen {
        subject,
        outcome,
        cache_hit,
    })
}

/// Holds a call about `token` to the tenants `caller` may ask about: the tenant named, or, when
/// none is and the caller is limited, the one the token's issuer names (returned, so the token is
/// decided for that tenant alone). Nothing is verified before the caller is let through, so a
/// caller learns nothing about another tenant's tokens; an unknown issuer is left to the
/// pipeline (inactive).
pub(crate) async fn permitted_tenant(
    pipeline: &TokenPipeline,
    caller: Option<&Caller>,
    tenant: Option<&TenantId>,
    token: &str,
) -> Result<Option<TenantId>, ApiError> {
    let Some(caller) = caller else {
        return Ok(None);
    };
    if let Some(tenant) = tenant {
        caller.permit(tenant)?;
        return Ok(None);
    }
    if !caller.limited() {
        return Ok(None);
    }
    let routed = pipeline.route(token).await?;
    if let Some(tenant) = &routed {
        caller.permit(tenant)?;
    }
    Ok(routed)
}

/// The caller saw no token at all: RFC 6750 §3.1, `Bearer` with no error code (and the
/// tenant's realm when it exists).
async fn no_token(
    pipeline: &TokenPipeline,
    caller: Option<&Caller>,
    tenant: Option<&TenantId>,
) -> Result<Seen, ApiError> {
    let subject = match tenant {
        None => TokenSubject::Refused {
            reason: Reason::TokenInactive,
            challenge: Challenge::no_token(None),
            state: None,
        },
        Some(tenant) => match tenant_state(pipeline, caller, tenant).await? {
            Some(state) => TokenSubject::Refused {
                reason: Reason::TokenInactive,
                challenge: Challenge::no_token(Some(state.compiled.tenant())),
                state: Some(state),
            },
            None => unknown_tenant(Reason::TenantNotFound),
        },
    };
    Ok(Seen {
        subject,
        outcome: "no_token",
        cache_hit: false,
    })
}

/// No tenant answered: the token cannot be used here, so `invalid_token` with no realm.
fn unknown_tenant(reason: Reason) -> TokenSubject {
    TokenSubject::Refused {
        reason,
        challenge: Challenge::invalid_token(None),
        state: None,
    }
}

/// The tenant's state, once `caller` may ask about it; `None` when it does not exist.
pub(crate) async fn tenant_state(
    pipeline: &TokenPipeline,
    caller: Option<&Caller>,
    tenant: &TenantId,
) -> Result<Option<Arc<TenantState>>, ApiError> {
    caller::permit(caller, tenant)?;
    match pipeline.states().get(tenant).await {
        Ok(state) => Ok(Some(state)),
        Err(StoreError::TenantNotFound(_)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Counts one decision by its reason, whichever door it came through.
pub(crate) fn count(reason: Reason) {
    metrics::counter!("scopegate_checks_total", "reason" => reason.as_str()).increment(1);
}
