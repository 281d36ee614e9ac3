//! One check's answer in proto form: the engine's decision, its RFC 6750 challenge and the
//! opt-in explain trace, or the error that kept the check from being evaluated.

use tonic::{Code, Status};

use crate::{
    api::{
        status::ApiError,
        subject::{count, resource_challenge},
    },
    pb,
    scope::{Challenge, Explain, Grant, Reason, Requirement, ScopeName},
    tenant::ProtectedResource,
    tenant_states::TenantState,
};

/// What the explain trace says about the subject; built only when the request asks for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trace {
    /// `token` or `granted`.
    pub source: &'static str,
    /// The introspection label (`ok`, `expired`, …); empty for granted scopes.
    pub outcome: &'static str,
    pub cache_hit: bool,
}

/// The engine's reason as the proto enum.
pub(super) fn reason(reason: Reason) -> pb::Reason {
    match reason {
        Reason::Allowed => pb::Reason::Allowed,
        Reason::TokenInactive => pb::Reason::TokenInactive,
        Reason::InsufficientScope => pb::Reason::InsufficientScope,
        Reason::UnknownOperation => pb::Reason::UnknownOperation,
        Reason::UnknownScope => pb::Reason::UnknownScope,
        Reason::TenantNotFound => pb::Reason::TenantNotFound,
    }
}

/// The proto reason as the engine's (`REASON_UNSPECIFIED`, never answered, reads as a denial
/// of an inactive token).
pub(super) fn engine_reason(reason: pb::Reason) -> Reason {
    match reason {
        pb::Reason::Allowed => Reason::Allowed,
        pb::Reason::Unspecified | pb::Reason::TokenInactive => Reason::TokenInactive,
        pb::Reason::InsufficientScope => Reason::InsufficientScope,
        pb::Reason::UnknownOperation => Reason::UnknownOperation,
        pb::Reason::UnknownScope => Reason::UnknownScope,
        pb::Reason::TenantNotFound => Reason::TenantNotFound,
    }
}

/// Decides `requirement` for `grant` against the tenant's compiled catalog; a denial's
/// challenge takes the MCP form when the check is for a registered `resource`.
pub(super) fn decided(
    state: &TenantState,
    grant: &Grant<'_>,
    requirement: &Requirement,
    resource: Option<&ProtectedResource>,
    trace: Option<Trace>,
) -> pb::CheckResult {
    let compiled = &state.compiled;
    let (decision, explain) = match trace {
        Some(trace) => {
            let (decision, explain) = compiled.decide_explained(grant, requirement);
            (decision, Some(explained(trace, grant, &explain)))
        }
        None => (compiled.decide(grant, requirement), None),
    };
    let challenge = compiled
        .challenge(grant, &decision, Some(compiled.tenant()))
        .map(|c| resource_challenge(state, resource, Some(requirement), c));
    count(decision.reason);
    pb::CheckResult {
        correlation_id: String::new(),
        error: None,
        allowed: decision.allowed,
        reason: reason(decision.reason).into(),
        missing: decision
            .missing
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
        satisfied_by: decision.satisfied_by.map(|a| alternative(a.scopes)),
        granted: grant.scopes().map(|n| n.as_str().to_owned()).collect(),
        http_status: challenge.as_ref().map_or(200, |c| u32::from(c.status)),
        www_authenticate: challenge.map(|c| c.www_authenticate).unwrap_or_default(),
        catalog_revision: compiled.revision(),
        tenant: compiled.tenant().to_owned(),
        explain,
        decision_id: String::new(),
    }
}

/// A denial reached before any requirement could be evaluated (no token, an inactive token,
/// no such tenant). `state` is the tenant that answered, if one did.
pub(super) fn denied(
    why: Reason,
    challenge: Challenge,
    state: Option<&TenantState>,
    trace: Option<Trace>,
) -> pb::CheckResult {
    count(why);
    pb::CheckResult {
        reason: reason(why).into(),
        http_status: u32::from(challenge.status),
        www_authenticate: challenge.www_authenticate,
        catalog_revision: state.map_or(0, |s| s.compiled.revision()),
        tenant: state
            .map(|s| s.compiled.tenant().to_owned())
            .unwrap_or_default(),
        explain: trace.map(|t| pb::CheckExplain {
            token_source: t.source.to_owned(),
            token_outcome: t.outcome.to_owned(),
            cache_hit: t.cache_hit,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A check that could not be evaluated: bad input names its field; anything else goes through
/// the one error table (which logs internal detail and returns none of it).
pub(super) fn failed(err: ApiError) -> pb::CheckResult {
    let error = match err {
        ApiError::Invalid { field, message } => pb::CheckError {
            code: Code::InvalidArgument.into(),
            message: format!("{field}: {message}"),
            field,
        },
        other => {
            let status = Status::from(other);
            pb::CheckError {
                code: status.code().into(),
                message: status.message().to_owned(),
                field: String::new(),
            }
        }
    };
    pb::CheckResult {
        error: Some(error),
        ..Default::default()
    }
}

fn alternative(scopes: &[ScopeName]) -> pb::Alternative {
    pb::Alternative {
        scopes: scopes.iter().map(|n| n.as_str().to_owned()).collect(),
    }
}

fn explained(trace: Trace, grant: &Grant<'_>, explain: &Explain<'_>) -> pb::CheckExplain {
    let alternatives = explain
        .alternatives
        .iter()
        .map(|t| {
            let scopes = t.alternative.scopes;
            pb::AlternativeTrace {
                scopes: alternative(scopes).scopes,
                missing: scopes
                    .iter()
                    .filter(|n| !grant.contains(n.as_str()))
                    .map(|n| n.as_str().to_owned())
                    .collect(),
            }
        })
        .collect();
    let implications_used = explain
        .implications_used
        .iter()
        .map(|i| format!("{} -> {}", i.from, i.to))
        .collect();
    let dropped = grant
        .unknown()
        .iter()
        .cloned()
        .chain(grant.withheld_reserved().map(|n| n.as_str().to_owned()))
        .collect();
    pb::CheckExplain {
        token_source: trace.source.to_owned(),
        token_outcome: trace.outcome.to_owned(),
        cache_hit: trace.cache_hit,
        alternatives,
        implications_used,
        dropped,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_failed_check_carries_only_its_error() {
        let invalid = failed(ApiError::invalid("all_of.names[2]", "bad"));
        let outage = failed(ApiError::Store(StoreError::Unavailable(
            "db at 10.0.0.7 down".into(),
        )));
        let bug = failed(ApiError::Store(StoreError::Internal("constraint x".into())));

        let invalid_error = invalid.error.unwrap();
        assert_eq!(invalid_error.code, 3);
        assert_eq!(invalid_error.field, "all_of.names[2]");
        assert_eq!(invalid_error.message, "all_of.names[2]: bad");
        let outage_error = outage.error.unwrap();
        assert_eq!((outage_error.code, outage_error.field.as_str()), (14, ""));
        assert!(
            !outage_error.message.contains("10.0.0.7"),
            "no internal detail"
        );
        let bug_error = bug.error.unwrap();
        assert_eq!(bug_error.code, 13);
        assert!(!bug_error.message.contains("constraint"));
        assert_eq!((outage.reason, outage.http_status), (0, 0));
    }

    #[test]
    fn every_reason_has_its_proto_value() {
        let reasons = [
            (Reason::Allowed, pb::Reason::Allowed),
            (Reason::TokenInactive, pb::Reason::TokenInactive),
            (Reason::InsufficientScope, pb::Reason::InsufficientScope),
            (Reason::UnknownOperation, pb::Reason::UnknownOperation),
            (Reason::UnknownScope, pb::Reason::UnknownScope),
            (Reason::TenantNotFound, pb::Reason::TenantNotFound),
        ];
        for (ours, wire) in reasons {
            assert_eq!(reason(ours), wire);
            assert_eq!(engine_reason(wire), ours);
            assert_eq!(wire.as_str_name(), format!("REASON_{}", ours.as_str()));
        }
    }
}
