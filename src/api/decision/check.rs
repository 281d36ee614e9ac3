//! One check of a `CheckScopes` batch: parse it, find its tenant and subject, then decide.
//! Every failure here is the check's own: it never fails the rest of the batch.

use std::sync::Arc;

use super::answer::{self, Trace};
use crate::{
    api::{
        convert,
        status::ApiError,
        subject::{
            DpopChallenge, Presentation, TokenSubject, presentation, registered,
            resource_challenge, resource_uri, tenant_state, token_grant, token_subject,
        },
    },
    caller::Caller,
    decision_log::{Decided, DecisionLog, Door},
    pb::{
        self,
        check::{Requirement as Wanted, Subject},
    },
    pipeline::TokenPipeline,
    scope::{
        Challenge, MAX_REQUIREMENT_SCOPES, MAX_SCOPE_NAME_LEN, Reason, Requirement,
        RequirementError, ScopeName, ScopeNameError, is_scope_char,
    },
    tenant::{TenantId, TenantIdError},
    token::VerifiedToken,
};

/// Most scope names a granted subject may list.
pub const MAX_GRANTED_SCOPES: usize = 1024;

/// What a token subject is bound to besides its tenant: the protected resource, the client
/// certificate (RFC 8705) and the presentation with its DPoP proof (RFC 9449).
#[derive(Debug)]
struct Bound<'a> {
    resource: Option<&'a str>,
    certificate: Option<&'a str>,
    presented: Presentation<'a>,
}

/// What every check of one batch shares.
#[derive(Debug)]
pub(super) struct Batch<'a> {
    pub pipeline: &'a TokenPipeline,
    /// The authenticated caller, held to its tenants (`None`: anonymous).
    pub caller: Option<&'a Caller>,
    /// The request's tenant as sent, and parsed (`None` when empty).
    pub raw_tenant: &'a str,
    pub tenant: Result<Option<TenantId>, TenantIdError>,
    /// Unix seconds, read once per batch.
    pub now: i64,
    pub explain: bool,
    /// Names and logs every answer.
    pub log: &'a DecisionLog,
}

/// An evaluated check: its answer, and what the decision log records about it.
struct Evaluated {
    result: pb::CheckResult,
    requirement: Requirement,
    /// The active token's facts.
    verified: Option<Arc<VerifiedToken>>,
}

impl Batch<'_> {
    /// Answers one check, echoing its correlation id, with its decision id; a failed check is
    /// named and logged too (as a denial: it was not allowed).
    pub async fn check(&self, check: pb::Check) -> pb::CheckResult {
        let (mut result, requirement, verified) = match self.evaluate(&check).await {
            Ok(done) => (done.result, Some(done.requirement), done.verified),
            Err(err) => (answer::failed(err), None, None),
        };
        let (bearer, client_id) = match &check.subject {
            Some(Subject::Token(token)) => (Some(token.as_str()).filter(|t| !t.is_empty()), None),
            Some(Subject::Granted(granted)) => (
                None,
                Some(granted.client_id.as_str()).filter(|c| !c.is_empty()),
            ),
            None => (None, None),
        };
        // The tenant that answered, else the one asked for (when it is a valid id).
        let asked = Some(check.tenant.as_str())
            .filter(|t| !t.is_empty())
            .unwrap_or(self.raw_tenant);
        let tenant = match result.tenant.as_str() {
            "" if TenantId::parse(asked).is_ok() => asked,
            answered => answered,
        };
        let id = self.log.decided(&Decided {
            door: Door::CheckScopes,
            caller: self.caller,
            tenant,
            bearer,
            verified: verified.as_ref(),
            client_id,
            requirement: requirement.as_ref(),
            allowed: result.allowed,
            reason: result
                .error
                .is_none()
                .then(|| answer::engine_reason(result.reason())),
            missing: &result.missing,
            catalog_revision: result.catalog_revision,
        });
        result.decision_id = id.to_string();
        tracing::debug!(
            correlation_id = %check.correlation_id,
            tenant = %result.tenant,
            reason = result.reason().as_str_name(),
            error = result.error.as_ref().map(|e| e.code),
            "check"
        );
        result.correlation_id = check.correlation_id;
        result
    }

    async fn evaluate(&self, check: &pb::Check) -> Result<Evaluated, ApiError> {
        let subject = check
            .subject
            .as_ref()
            .ok_or_else(|| ApiError::invalid("subject", "a token or granted scopes is required"))?;
        let requirement = requirement(check.requirement.as_ref())?;
        let resource = resource_uri(&check.resource, "resource")?;
        let own;
        let tenant = if check.tenant.is_empty() || check.tenant == self.raw_tenant {
            // The request's tenant, parsed once per batch.
            self.tenant
                .as_ref()
                .map_err(|e| ApiError::invalid("tenant", e.to_string()))?
        } else {
            own = Some(convert::tenant_id(&check.tenant, "tenant")?);
            &own
        };
        match subject {
            Subject::Token(token) => {
                let certificate = Some(check.client_certificate.as_str());
                let presented = presentation(check.presentation.as_ref(), "presentation")?;
                let bound = Bound {
                    resource,
                    certificate,
                    presented,
                };
                let (result, verified) = self
                    .token(tenant.as_ref(), token, &requirement, &bound)
                    .await?;
                Ok(Evaluated {
                    result,
                    requirement,
                    verified,
                })
            }
            Subject::Granted(granted) => {
                let result = self
                    .granted(tenant.as_ref(), granted, &requirement, resource)
                    .await?;
                Ok(Evaluated {
                    result,
                    requirement,
                    verified: None,
                })
            }
        }
    }

    /// A token subject (an empty token: the caller saw none), refused or decided, with the
    /// token's facts when it was active.
    async fn token(
        &self,
        tenant: Option<&TenantId>,
        token: &str,
        requirement: &Requirement,
        bound: &Bound<'_>,
    ) -> Result<(pb::CheckResult, Option<Arc<VerifiedToken>>), ApiError> {
        let resource = bound.resource;
        let token = Some(token).filter(|t| !t.is_empty());
        let seen = token_subject(self.pipeline, self.caller, tenant, token, self.now)
            .await?
            .bind(resource, "resource")?
            .bind_certificate(bound.certificate)
            .bind_dpop(self.pipeline, token, &bound.presented, self.now);
        let trace = self.trace("token", seen.outcome, seen.cache_hit);
        let dpop = DpopChallenge::of(&bound.presented, &seen.subject);
        let mut verified = None;
        let mut result = match seen.subject {
            TokenSubject::Active {
                state,
                token,
                first_party,
            } => {
                let grant = token_grant(&state, &token, first_party);
                let resource = resource.and_then(|uri| state.tenant.resource(uri));
                let result = answer::decided(&state, &grant, requirement, resource, trace);
                verified = Some(token);
                result
            }
            TokenSubject::Refused {
                reason,
                challenge,
                state,
            } => {
                let challenge = match (&state, resource) {
                    (Some(state), Some(uri)) => {
                        let resource = state.tenant.resource(uri);
                        resource_challenge(state, resource, Some(requirement), challenge)
                    }
                    _ => challenge,
                };
                answer::denied(reason, challenge, state.as_deref(), trace)
            }
        };
        if let Some(dpop) = dpop.filter(|_| !result.www_authenticate.is_empty()) {
            result.www_authenticate = dpop.restate(&result.www_authenticate);
        }
        Ok((result, verified))
    }

    async fn granted(
        &self,
        tenant: Option<&TenantId>,
        granted: &pb::GrantedScopes,
        requirement: &Requirement,
        resource: Option<&str>,
    ) -> Result<pb::CheckResult, ApiError> {
        let tenant = tenant.ok_or_else(|| {
            ApiError::invalid(
                "tenant",
                "is required with granted scopes (no token names one)",
            )
        })?;
        if granted.scopes.len() > MAX_GRANTED_SCOPES {
            let message = format!("at most {MAX_GRANTED_SCOPES} scopes");
            return Err(ApiError::invalid("granted.scopes", message));
        }
        for (i, name) in granted.scopes.iter().enumerate() {
            check_scope_token(name)
                .map_err(|e| ApiError::invalid(format!("granted.scopes[{i}]"), e.to_string()))?;
        }
        let trace = self.trace("granted", "", false);
        let Some(state) = tenant_state(self.pipeline, self.caller, tenant).await? else {
            let challenge = Challenge::invalid_token(None);
            return Ok(answer::denied(
                Reason::TenantNotFound,
                challenge,
                None,
                trace,
            ));
        };
        let resource = match resource {
            Some(uri) => Some(registered(&state, uri, "resource")?),
            None => None,
        };
        let compiled = &state.compiled;
        let first_party = !granted.client_id.is_empty()
            && compiled
                .client(&granted.client_id)
                .is_some_and(|c| c.first_party);
        let scopes = granted.scopes.iter().map(String::as_str);
        let grant = compiled.effective_grant(scopes, first_party);
        Ok(answer::decided(
            &state,
            &grant,
            requirement,
            resource,
            trace,
        ))
    }

    fn trace(&self, source: &'static str, outcome: &'static str, cache_hit: bool) -> Option<Trace> {
        self.explain.then_some(Trace {
            source,
            outcome,
            cache_hit,
        })
    }
}

/// Checks an RFC 6749 scope-token without allocating (granted scopes are only looked up).
pub(crate) fn check_scope_token(raw: &str) -> Result<(), ScopeNameError> {
    if raw.is_empty() {
        return Err(ScopeNameError::Empty);
    }
    if raw.len() > MAX_SCOPE_NAME_LEN {
        return Err(ScopeNameError::TooLong);
    }
    match raw.bytes().find(|&b| !is_scope_char(b)) {
        Some(bad) => Err(ScopeNameError::InvalidChar(bad)),
        None => Ok(()),
    }
}

/// The check's requirement, naming the offending field when it is malformed.
fn requirement(wanted: Option<&Wanted>) -> Result<Requirement, ApiError> {
    let built = match wanted {
        None => {
            let message = "one of all_of, any_of, alternatives or operation is required";
            return Err(ApiError::invalid("requirement", message));
        }
        Some(Wanted::AllOf(list)) => {
            let names = names(&list.names, || "all_of.names".into())?;
            Requirement::all_of(names).map_err(|e| (e, "all_of.names"))
        }
        Some(Wanted::AnyOf(list)) => {
            let names = names(&list.names, || "any_of.names".into())?;
            Requirement::any_of(names).map_err(|e| (e, "any_of.names"))
        }
        Some(Wanted::Alternatives(list)) => {
            let total: usize = list.alternatives.iter().map(|a| a.scopes.len()).sum();
            if total > MAX_REQUIREMENT_SCOPES {
                return Err(too_large("alternatives.alternatives"));
            }
            let mut alternatives = Vec::with_capacity(list.alternatives.len());
            for (i, alternative) in list.alternatives.iter().enumerate() {
                let field = || format!("alternatives.alternatives[{i}].scopes");
                alternatives.push(names(&alternative.scopes, field)?);
            }
            Requirement::alternatives(alternatives).map_err(|e| (e, "alternatives.alternatives"))
        }
        Some(Wanted::Operation(name)) => Requirement::operation(name).map_err(|e| (e, "operation")),
    };
    built.map_err(|(err, field)| match err {
        RequirementError::EmptyAlternative { index } => ApiError::invalid(
            format!("alternatives.alternatives[{index}].scopes"),
            "names no scope",
        ),
        RequirementError::TooLarge => too_large(field),
        RequirementError::Empty => ApiError::invalid(field, "names no scope"),
        RequirementError::InvalidOperationName => ApiError::invalid(
            field,
            "must be 1-200 bytes of printable ASCII, not starting or ending with a space",
        ),
    })
}

fn too_large(field: &str) -> ApiError {
    let message = format!("names more than {MAX_REQUIREMENT_SCOPES} scopes");
    ApiError::invalid(field, message)
}

/// Parses scope names, refusing more than any requirement may hold before parsing any.
/// `field` names the list; it is only spelled out on error.
pub(crate) fn names(
    raw: &[String],
    field: impl Fn() -> String,
) -> Result<Vec<ScopeName>, ApiError> {
    if raw.len() > MAX_REQUIREMENT_SCOPES {
        return Err(too_large(&field()));
    }
    raw.iter()
        .enumerate()
        .map(|(i, name)| {
            ScopeName::parse(name)
                .map_err(|e| ApiError::invalid(format!("{}[{i}]", field()), e.to_string()))
        })
        .collect()
}
