//! The decision behind the front doors for gateways (Envoy ext_authz, forward auth): a route's
//! tenant and requirement and the request's bearer token in, allow (with the facts to forward
//! upstream) or deny (with status, RFC 6750 challenge and error) out. Gateway-neutral: each door
//! only maps its wire format onto this, and this runs the same token pipeline, catalog decision
//! and challenge as `CheckScopes`.

use std::sync::Arc;

use crate::{
    api::{
        decision::names,
        status::ApiError,
        subject::{
            DpopChallenge, Presentation, TokenSubject, count, resource_challenge, resource_uri,
            token_grant, token_subject,
        },
    },
    caller::Caller,
    decision_log::{Decided, DecisionId, DecisionLog, Door},
    pipeline::TokenPipeline,
    scope::{Challenge, Grant, Reason, Requirement, RequirementError},
    store::now_ms,
    tenant::TenantId,
    tenant_states::TenantState,
    token::VerifiedToken,
};

mod granted;
mod search;

pub use self::{
    granted::{GatewaySubject, Granted},
    search::Permitted,
};

/// What a route requires beyond an active token, parsed from its settings.
#[derive(Debug, Clone)]
pub struct GatewayRequirement(Option<Requirement>);

impl GatewayRequirement {
    /// Only an active token of the tenant.
    pub fn active_token() -> Self {
        Self(None)
    }

    /// A route's settings: at most one of a catalog `operation` name, `all_of` or `any_of`
    /// (space-separated scope names); none of them (or only empty ones) requires only an active
    /// token. Errors name the setting (`operation`, `all_of`, `any_of`) and never quote it.
    pub fn from_route(
        operation: Option<&str>,
        all_of: Option<&str>,
        any_of: Option<&str>,
    ) -> Result<Self, ApiError> {
        match (given(operation), given(all_of), given(any_of)) {
            (None, None, None) => Ok(Self(None)),
            (Some(name), None, None) => Requirement::operation(name)
                .map(|r| Self(Some(r)))
                .map_err(|_| {
                    let message = "must be 1-200 bytes of printable ASCII, not starting or \
                                   ending with a space";
                    ApiError::invalid("operation", message)
                }),
            (None, Some(list), None) => {
                let names = scope_list(list, "all_of")?;
                Requirement::all_of(names)
                    .map(|r| Self(Some(r)))
                    .map_err(|e| requirement_error(&e, "all_of"))
            }
            (None, None, Some(list)) => {
                let names = scope_list(list, "any_of")?;
                Requirement::any_of(names)
                    .map(|r| Self(Some(r)))
                    .map_err(|e| requirement_error(&e, "any_of"))
            }
            _ => Err(ApiError::invalid(
                "operation",
                "name at most one of operation, all_of or any_of",
            )),
        }
    }
}

/// A setting that says something (absent, empty and all-space settings say nothing).
fn given(setting: Option<&str>) -> Option<&str> {
    setting.filter(|s| !s.trim_matches(' ').is_empty())
}

/// Splits a space-separated scope list, counting before collecting anything.
fn scope_list(raw: &str, field: &'static str) -> Result<Vec<crate::scope::ScopeName>, ApiError> {
    let words: Vec<String> = raw
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(crate::scope::MAX_REQUIREMENT_SCOPES + 1)
        .map(str::to_owned)
        .collect();
    names(&words, || field.to_owned())
}

fn requirement_error(err: &RequirementError, field: &'static str) -> ApiError {
    ApiError::invalid(field, err.to_string())
}

/// A gateway's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayDecision {
    /// Forward the request, with these facts.
    Allow(Allowed),
    /// Answer the client instead.
    Deny(Denied),
}

/// Headers scopegate sets on an allowed request; a client's own copies never reach upstream.
pub const TENANT_HEADER: &str = "x-scopegate-tenant";
/// The token's `sub`.
pub const SUBJECT_HEADER: &str = "x-scopegate-subject";
/// The token's `client_id`.
pub const CLIENT_ID_HEADER: &str = "x-scopegate-client-id";
/// The effective scopes, space-separated.
pub const SCOPES_HEADER: &str = "x-scopegate-scopes";
/// The decision's id (UUID v7), on the upstream request when allowed and on the client's
/// answer when denied: the key to its decision log event.
pub const DECISION_ID_HEADER: &str = "x-scopegate-decision-id";

/// Every header name with this prefix belongs to scopegate on the upstream request.
pub const OUR_PREFIX: &str = "x-scopegate-";

/// The facts a gateway forwards upstream about an allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The tenant that decided.
    pub tenant: String,
    /// The token's `sub`, if any.
    pub subject: Option<String>,
    /// The token's `client_id` (else `azp`), if any.
    pub client_id: Option<String>,
    /// The effective scopes: the token's scopes known to the catalog, with what they imply,
    /// reserved scopes only for first-party clients.
    pub scopes: Vec<String>,
    /// The decision's id; set on every decision the [`Gateway`] returns.
    pub decision_id: Option<DecisionId>,
}

impl Allowed {
    /// The facts as `x-scopegate-*` header values, in a fixed order, the decision id last. A
    /// fact that is absent, empty or holds anything but visible ASCII and spaces is `None`
    /// (left out rather than mangled: the client's copy of that header must then be removed,
    /// not forwarded).
    pub fn headers(&self) -> [(&'static str, Option<String>); 5] {
        [
            (TENANT_HEADER, header_safe(Some(&self.tenant))),
            (SUBJECT_HEADER, header_safe(self.subject.as_deref())),
            (CLIENT_ID_HEADER, header_safe(self.client_id.as_deref())),
            (SCOPES_HEADER, header_safe(Some(&self.scopes.join(" ")))),
            (
                DECISION_ID_HEADER,
                self.decision_id.as_ref().map(ToString::to_string),
            ),
        ]
    }
}

fn header_safe(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// A refusal ready for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// 401 (no token, inactive token, unknown tenant), 403 (the token is not enough), or 500
    /// ([`Denied::invalid_route`]).
    pub status: u16,
    /// The `WWW-Authenticate` value (RFC 6750 §3); `None` only for [`Denied::invalid_route`].
    pub www_authenticate: Option<String>,
    /// An RFC 6750 §3.1 error code (`invalid_token`, `insufficient_scope`), or `server_error`.
    pub error: &'static str,
    /// A fixed sentence: never the token, the reason an inactive token is inactive, or input.
    pub error_description: &'static str,
    /// Why, in `CheckScopes`' terms; `None` only for [`Denied::invalid_route`].
    pub reason: Option<Reason>,
    /// The scopes the token lacks, as `CheckScopes` computes them (for `UNKNOWN_SCOPE`: the
    /// scopes the catalog lacks); empty when no requirement was evaluated.
    pub missing: Vec<String>,
    /// The decision's id; set on every decision the [`Gateway`] returns.
    pub decision_id: Option<DecisionId>,
}

impl Denied {
    /// The gateway's own settings for the route are invalid: refuse (fail closed, whatever the
    /// gateway does on errors) with a 500 that blames the server, not the client. Doors go
    /// through [`Gateway::invalid_route`], which names and logs the refusal.
    fn invalid_route() -> Self {
        Self {
            status: 500,
            www_authenticate: None,
            error: "server_error",
            error_description: "the gateway's authorization settings for this route are invalid",
            reason: None,
            missing: Vec::new(),
            decision_id: None,
        }
    }

    /// The `{"error": …, "error_description": …}` body.
    pub fn json_body(&self) -> String {
        serde_json::json!({
            "error": self.error,
            "error_description": self.error_description,
        })
        .to_string()
    }

    /// A subject refused before any requirement was looked at (no token, an inactive one, no
    /// such tenant), with the challenge it earned; `no_token`: the request carried none.
    pub(super) fn refused(reason: Reason, challenge: Challenge, no_token: bool) -> Self {
        Self::of(
            reason,
            challenge.status,
            challenge.www_authenticate,
            no_token,
            Vec::new(),
        )
    }

    fn of(
        reason: Reason,
        status: u16,
        www_authenticate: String,
        no_token: bool,
        missing: Vec<String>,
    ) -> Self {
        let (error, error_description) = match reason {
            _ if no_token => ("invalid_token", "a bearer access token is required"),
            Reason::TokenInactive => ("invalid_token", "the access token is not active"),
            Reason::TenantNotFound => (
                "invalid_token",
                "the access token belongs to no known tenant",
            ),
            Reason::UnknownOperation => (
                "insufficient_scope",
                "the operation this route requires is not in the tenant's catalog",
            ),
            Reason::UnknownScope => (
                "insufficient_scope",
                "a scope this route requires is not in the tenant's catalog",
            ),
            Reason::InsufficientScope | Reason::Allowed => (
                "insufficient_scope",
                "the access token lacks the scope this route requires",
            ),
        };
        Self {
            status,
            www_authenticate: Some(www_authenticate),
            error,
            error_description,
            reason: Some(reason),
            missing,
            decision_id: None,
        }
    }
}

/// What a request's token is bound to besides its tenant: the protected `resource` (RFC 8707
/// URI; `None` or empty: none), to which the token is then bound (see
/// [`Seen::bind`](super::subject::Seen::bind)) and whose challenges take the MCP form; the TLS
/// peer's client `certificate` (PEM or URL-encoded PEM; `None`: unknown), which a
/// certificate-bound token needs (RFC 8705); and the `presented` scheme, DPoP proof, method and
/// URI, which a DPoP-bound token needs (RFC 9449, see
/// [`Seen::bind_dpop`](super::subject::Seen::bind_dpop)).
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub resource: Option<&'a str>,
    pub certificate: Option<&'a str>,
    pub presented: &'a Presentation<'a>,
}

/// Who asks the gateway: the door the request came through and its authenticated caller
/// (a request extension), for the decision log.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub door: Door,
    pub caller: Option<&'a Caller>,
}

/// Decides gateway requests over the one token pipeline and catalog, naming and logging every
/// decision. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pipeline: TokenPipeline,
    log: DecisionLog,
}

impl Gateway {
    /// Decides over the token `pipeline` and its tenant state cache; decisions go to `log`.
    pub fn new(pipeline: TokenPipeline, log: DecisionLog) -> Self {
        Self { pipeline, log }
    }

    /// The refusal of a request whose route settings are invalid (`err` is logged, never
    /// returned): a named, logged denial like any other.
    pub fn invalid_route(&self, asker: Asker<'_>, err: &ApiError) -> Denied {
        tracing::warn!(door = asker.door.as_str(), %err, "route settings are invalid: denied");
        let mut denied = Denied::invalid_route();
        let id = self.log.decided(&Decided {
            door: asker.door,
            caller: asker.caller,
            tenant: "",
            bearer: None,
            verified: None,
            client_id: None,
            requirement: None,
            allowed: false,
            reason: None,
            missing: &[],
            catalog_revision: 0,
        });
        denied.decision_id = Some(id);
        denied
    }

    /// Names `decision` and hands it to the decision log; `about` is what it was about.
    fn logged(
        &self,
        asker: Asker<'_>,
        mut decision: GatewayDecision,
        about: &About<'_>,
    ) -> GatewayDecision {
        let (allowed, reason, missing): (bool, Option<Reason>, &[String]) = match &decision {
            GatewayDecision::Allow(_) => (true, Some(Reason::Allowed), &[]),
            GatewayDecision::Deny(denied) => (false, denied.reason, &denied.missing),
        };
        let state = about.state;
        let tenant = state.map_or(about.asked_tenant, |s| s.compiled.tenant());
        let id = self.log.decided(&Decided {
            door: asker.door,
            caller: asker.caller,
            tenant,
            bearer: about.bearer,
            verified: about.verified,
            client_id: about.client_id,
            requirement: about.requirement,
            allowed,
            reason,
            missing,
            catalog_revision: state.map_or(0, |s| s.compiled.revision()),
        });
        match &mut decision {
            GatewayDecision::Allow(allowed) => allowed.decision_id = Some(id),
            GatewayDecision::Deny(denied) => denied.decision_id = Some(id),
        }
        decision
    }

    /// Decides a request from `asker` to a route of `tenant` (`None`: the tenant the token's
    /// issuer names) that needs `requirement`, carrying `bearer` (the token, without its
    /// scheme), bound as `binding` says; names and logs the decision.
    ///
    /// Errors: `Invalid` (naming `tenant` or `resource`) for a malformed tenant id or a
    /// resource that is malformed or not registered with the tenant; a store error only when
    /// the store is needed, cannot answer and nothing usable is cached. Never an allow on error.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = tenant.unwrap_or("")))]
    pub async fn authorize(
        &self,
        asker: Asker<'_>,
        tenant: Option<&str>,
        requirement: &GatewayRequirement,
        bearer: Option<&str>,
        binding: Binding<'_>,
    ) -> Result<GatewayDecision, ApiError> {
        let tenant = match tenant.filter(|t| !t.is_empty()) {
            None => None,
            Some(raw) => Some(
                TenantId::parse(raw)
                    .map_err(|_| ApiError::invalid("tenant", "is not a valid tenant id"))?,
            ),
        };
        let Binding {
            resource,
            certificate,
            presented,
        } = binding;
        let resource = resource_uri(resource.unwrap_or_default(), "resource")?;
        let now = now_ms() / 1000;
        let seen = token_subject(&self.pipeline, asker.caller, tenant.as_ref(), bearer, now)
            .await?
            .bind(resource, "resource")?
            .bind_certificate(certificate)
            .bind_dpop(&self.pipeline, bearer, presented, now);
        let dpop = DpopChallenge::of(presented, &seen.subject);
        let (state, verified) = match &seen.subject {
            TokenSubject::Active { state, token, .. } => {
                (Some(Arc::clone(state)), Some(Arc::clone(token)))
            }
            TokenSubject::Refused { state, .. } => (state.clone(), None),
        };
        let mut decision = match seen.subject {
            TokenSubject::Refused {
                reason,
                challenge,
                state,
            } => {
                count(reason);
                let challenge = match (&state, resource) {
                    (Some(state), Some(uri)) => {
                        let registered = state.tenant.resource(uri);
                        resource_challenge(state, registered, requirement.0.as_ref(), challenge)
                    }
                    _ => challenge,
                };
                Denied::refused(reason, challenge, bearer.is_none()).into()
            }
            TokenSubject::Active {
                state,
                token,
                first_party,
            } => {
                let grant = token_grant(&state, &token, first_party);
                let facts = Facts {
                    subject: token.sub.clone(),
                    client_id: token.client_id.clone(),
                };
                decide(&state, &grant, requirement, resource, facts)
            }
        };
        if let (GatewayDecision::Deny(denied), Some(dpop)) = (&mut decision, dpop) {
            denied.www_authenticate = denied.www_authenticate.as_deref().map(|h| dpop.restate(h));
        }
        tracing::debug!(
            outcome = seen.outcome,
            cache_hit = seen.cache_hit,
            allowed = matches!(decision, GatewayDecision::Allow(_)),
            "gateway decision"
        );
        let about = About {
            asked_tenant: tenant.as_ref().map_or("", TenantId::as_str),
            state: state.as_deref(),
            bearer,
            verified: verified.as_ref(),
            client_id: None,
            requirement: requirement.0.as_ref(),
        };
        Ok(self.logged(asker, decision, &about))
    }
}

/// What a gateway decision was about, for its log event.
pub(super) struct About<'a> {
    /// The tenant the route named (logged when no tenant answered).
    pub asked_tenant: &'a str,
    /// The tenant that answered.
    pub state: Option<&'a TenantState>,
    pub bearer: Option<&'a str>,
    pub verified: Option<&'a Arc<VerifiedToken>>,
    /// A granted-scopes subject's client.
    pub client_id: Option<&'a str>,
    pub requirement: Option<&'a Requirement>,
}

/// Who an allowed request is forwarded as.
pub(super) struct Facts {
    pub subject: Option<String>,
    pub client_id: Option<String>,
}

/// The catalog's decision on `requirement` for `grant` of the tenant in `state`, whichever kind
/// of subject it came from; a denial's challenge takes the MCP form for a registered
/// `resource`.
pub(super) fn decide(
    state: &TenantState,
    grant: &Grant<'_>,
    requirement: &GatewayRequirement,
    resource: Option<&str>,
    facts: Facts,
) -> GatewayDecision {
    let compiled = &state.compiled;
    let registered = resource.and_then(|uri| state.tenant.resource(uri));
    let denial = requirement.0.as_ref().and_then(|requirement| {
        let decision = compiled.decide(grant, requirement);
        count(decision.reason);
        let challenge = compiled.challenge(grant, &decision, Some(compiled.tenant()))?;
        let challenge = resource_challenge(state, registered, Some(requirement), challenge);
        let missing = decision
            .missing
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        Some(Denied::of(
            decision.reason,
            challenge.status,
            challenge.www_authenticate,
            false,
            missing,
        ))
    });
    if let Some(denied) = denial {
        return GatewayDecision::Deny(denied);
    }
    if requirement.0.is_none() {
        count(Reason::Allowed);
    }
    GatewayDecision::Allow(Allowed {
        tenant: compiled.tenant().to_owned(),
        subject: facts.subject,
        client_id: facts.client_id,
        scopes: grant.scopes().map(|n| n.as_str().to_owned()).collect(),
        decision_id: None,
    })
}

impl From<Denied> for GatewayDecision {
    fn from(denied: Denied) -> Self {
        Self::Deny(denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_carry_no_token() {
        use crate::api::subject::{TokenScheme::Bearer, access_token};
        assert_eq!(access_token("Bearer abc"), Some((Bearer, "abc")));
        assert_eq!(access_token("bearer abc"), Some((Bearer, "abc")));
        assert_eq!(access_token("BEARER  abc "), Some((Bearer, "abc")));
        assert_eq!(access_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(access_token("Bearer"), None);
        assert_eq!(access_token("Bearer "), None);
        assert_eq!(access_token("Bearerabc"), None);
    }

    #[test]
    fn a_route_names_at_most_one_requirement_and_never_gets_its_setting_quoted_back() {
        let huge = "x".repeat(100_000);
        let many = "a ".repeat(10_000);

        let two = GatewayRequirement::from_route(Some("get_settings"), Some("a"), None);
        let long_operation = GatewayRequirement::from_route(Some(&huge), None, None);
        let too_many = GatewayRequirement::from_route(None, Some(&many), None);
        let none = GatewayRequirement::from_route(Some(""), Some("  "), None);

        assert!(matches!(two, Err(ApiError::Invalid { .. })));
        for err in [long_operation, too_many] {
            let Err(ApiError::Invalid { message, .. }) = err else {
                panic!("not refused")
            };
            assert!(message.len() < 200, "{message}");
        }
        assert!(matches!(none, Ok(GatewayRequirement(None))));
    }

    #[test]
    fn a_denial_body_is_json_with_an_rfc_6750_error() {
        let denied = Denied::of(
            Reason::InsufficientScope,
            403,
            "Bearer".into(),
            false,
            Vec::new(),
        );

        let body: serde_json::Value = serde_json::from_str(&denied.json_body()).unwrap_or_default();

        assert_eq!(body["error"], "insufficient_scope");
        assert!(body["error_description"].is_string());
    }
}
