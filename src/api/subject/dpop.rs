//! DPoP-bound tokens (RFC 9449) at every door: how a request presented its token and proof
//! ([`Presentation`]), and the one check every door runs on it ([`Seen::bind_dpop`]).

use std::borrow::Cow;
use std::sync::Arc;

use super::{Seen, TokenSubject};
use crate::{
    pipeline::TokenPipeline,
    scope::{Challenge, DpopError, Reason, in_dpop_scheme},
    tenant_states::TenantState,
    token::{DpopPolicy, DpopRejection, DpopRequest, token_fingerprint, verify_proof},
};

/// The `Authorization` scheme an access token came with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenScheme {
    /// The door cannot tell (a `CheckScopes` caller that passed the bare token and no scheme).
    #[default]
    Unknown,
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449 §7.1).
    Dpop,
}

impl TokenScheme {
    /// `Bearer` or `DPoP`, case-insensitively (RFC 9110 §11.1); anything else is unknown.
    pub fn parse(name: &str) -> Self {
        if name.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if name.eq_ignore_ascii_case("dpop") {
            Self::Dpop
        } else {
            Self::Unknown
        }
    }
}

/// The request's `DPoP` header field(s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProofHeader<'a> {
    /// None was sent.
    #[default]
    Absent,
    /// Exactly one.
    One(&'a str),
    /// More than one (RFC 9449 §4.3 check 1: refused), or one holding a `,` (how a proxy that
    /// merges repeated fields passes several; a proof has no `,`).
    Several,
}

impl<'a> ProofHeader<'a> {
    /// The header from every value sent, in any number.
    pub fn from_values(mut values: impl Iterator<Item = &'a str>) -> Self {
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(one), None) if !one.contains(',') => Self::One(one.trim_matches(' ')),
            _ => Self::Several,
        }
    }
}

/// How a request presented its access token, as far as the door knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presentation<'a> {
    /// The `Authorization` scheme of the token.
    pub scheme: TokenScheme,
    /// The `DPoP` header(s).
    pub proof: ProofHeader<'a>,
    /// The request's method (`None`: unknown).
    pub method: Option<&'a str>,
    /// The request's absolute target URI (`None`: unknown).
    pub uri: Option<&'a str>,
}

/// The token of an `Authorization` value `Bearer <token>` or `DPoP <token>` (scheme
/// case-insensitive, RFC 7235 §2.1), with its scheme; `None` for another scheme or an empty
/// token.
pub fn access_token(header: &str) -> Option<(TokenScheme, &str)> {
    let (scheme, token) = header.trim_start_matches(' ').split_once(' ')?;
    let token = token.trim_matches(' ');
    match TokenScheme::parse(scheme) {
        TokenScheme::Unknown => None,
        _ if token.is_empty() => None,
        scheme => Some((scheme, token)),
    }
}

impl Seen {
    /// Holds an active token to the DPoP proof it came with (RFC 9449 §7.1). A DPoP-bound
    /// token (`cnf.jkt`) needs exactly one proof that verifies (`verify_proof`: signed by the
    /// bound key, for this method and URI, for this token, fresh, never seen before) and must
    /// not be sent with the `Bearer` scheme; a token sent with the `DPoP` scheme needs the
    /// same even when it is not bound, and is then refused (`dpop_not_bound`): the client
    /// believes in a binding that does not exist. Other tokens pass untouched. A refusal makes
    /// the token inactive for this request (outcome `dpop_*`, 401 with a `DPoP` challenge).
    ///
    /// Run it last, after every other refusal: an accepted proof is remembered by the replay
    /// cache, and a request refused for another reason should not use its proof up.
    pub(crate) fn bind_dpop(
        mut self,
        pipeline: &TokenPipeline,
        access_token: Option<&str>,
        presented: &Presentation<'_>,
        now: i64,
    ) -> Self {
        let TokenSubject::Active { state, token, .. } = &self.subject else {
            return self;
        };
        let bound = token.dpop_binding().is_some();
        let policy = state.tenant.dpop_policy();
        let refusal = match (bound, presented.scheme, presented.proof) {
            (false, TokenScheme::Bearer | TokenScheme::Unknown, _) => return self,
            (true, TokenScheme::Bearer, _) => Some(Refusal::BEARER_SCHEME),
            (_, _, ProofHeader::Absent) => Some(Refusal::of(DpopRejection::Missing)),
            (_, _, ProofHeader::Several) => Some(Refusal::SEVERAL),
            (_, _, ProofHeader::One(proof)) => match (presented.method, presented.uri) {
                (Some(method), Some(uri)) if !method.is_empty() && !uri.is_empty() => {
                    let capacity = state.tenant.dpop.effective_replay_capacity();
                    let replay = pipeline.dpop_replays().of(&state.tenant.id, capacity);
                    let request = DpopRequest { proof, method, uri };
                    let access_token = access_token.unwrap_or_default();
                    verify_proof(&request, access_token, token, &policy, &replay, now)
                        .err()
                        .map(Refusal::of)
                }
                _ => Some(Refusal::UNKNOWN_REQUEST),
            },
        };
        let Some(refusal) = refusal else {
            return self;
        };
        tracing::debug!(
            token = %token_fingerprint(access_token.unwrap_or_default()),
            tenant = %state.tenant.id,
            outcome = refusal.outcome,
            "DPoP refused"
        );
        metrics::counter!("scopegate_dpop_refusals_total", "outcome" => refusal.outcome)
            .increment(1);
        let algs = algs_of(&policy);
        let state = Arc::clone(state);
        let challenge = Challenge::dpop(
            Some(state.compiled.tenant()),
            &algs,
            refusal.error,
            &refusal.description,
        );
        self.subject = TokenSubject::Refused {
            reason: Reason::TokenInactive,
            challenge,
            state: Some(state),
        };
        self.outcome = refusal.outcome;
        self
    }
}

/// The proof algorithms of `policy` as a challenge's `algs` (space-separated).
fn algs_of(policy: &DpopPolicy) -> String {
    policy
        .algorithms
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A request whose challenges must use the `DPoP` scheme (RFC 9449 §7.1): it presented its
/// token with the `DPoP` scheme, or the token is DPoP-bound (and so passed its proof). A
/// `Bearer` challenge computed later (a 403 for missing scopes, a 401 for an expired token) is
/// restated with [`DpopChallenge::restate`]; the `algs` are only worked out then.
#[derive(Debug)]
pub(crate) struct DpopChallenge(Option<Arc<TenantState>>);

impl DpopChallenge {
    /// `Some` when challenges to this request must use the `DPoP` scheme; `None` keeps `Bearer`.
    pub(crate) fn of(presented: &Presentation<'_>, subject: &TokenSubject) -> Option<Self> {
        let (state, bound) = match subject {
            TokenSubject::Active { state, token, .. } => {
                (Some(state), token.dpop_binding().is_some())
            }
            TokenSubject::Refused { state, .. } => (state.as_ref(), false),
        };
        (bound || presented.scheme == TokenScheme::Dpop).then(|| Self(state.cloned()))
    }

    /// `header` in the `DPoP` scheme, `algs` from the tenant's policy (the default one when
    /// no tenant answered).
    pub(crate) fn restate(&self, header: &str) -> String {
        let policy = self
            .0
            .as_ref()
            .map_or_else(DpopPolicy::default, |s| s.tenant.dpop_policy());
        in_dpop_scheme(header, &algs_of(&policy))
    }
}

/// Why `bind_dpop` refused, in the words of logs and of the challenge.
#[derive(Debug, Clone)]
struct Refusal {
    outcome: &'static str,
    error: DpopError,
    description: Cow<'static, str>,
}

impl Refusal {
    const BEARER_SCHEME: Self = Self {
        outcome: "dpop_bearer_scheme",
        error: DpopError::InvalidToken,
        description: Cow::Borrowed("a DPoP-bound access token must be sent with the DPoP scheme"),
    };
    const SEVERAL: Self = Self {
        outcome: "dpop_multiple_proofs",
        error: DpopError::InvalidProof,
        description: Cow::Borrowed("more than one DPoP proof"),
    };
    const UNKNOWN_REQUEST: Self = Self {
        outcome: "dpop_unknown_request",
        error: DpopError::InvalidProof,
        description: Cow::Borrowed("the request's method or URI is unknown to the authorizer"),
    };

    /// The verifier's rejection: about the token and its key binding → `invalid_token`;
    /// about the proof → `invalid_dpop_proof` (RFC 9449 §7.1).
    fn of(rejection: DpopRejection) -> Self {
        let error = match rejection {
            DpopRejection::NotBound | DpopRejection::JktMismatch => DpopError::InvalidToken,
            _ => DpopError::InvalidProof,
        };
        Self {
            outcome: rejection.as_str(),
            error,
            description: Cow::Owned(rejection.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_come_with_the_bearer_or_the_dpop_scheme() {
        assert_eq!(access_token("DPoP abc"), Some((TokenScheme::Dpop, "abc")));
        assert_eq!(access_token("dpop  abc "), Some((TokenScheme::Dpop, "abc")));
        assert_eq!(
            access_token("Bearer abc"),
            Some((TokenScheme::Bearer, "abc"))
        );
        assert_eq!(access_token("Basic abc"), None);
        assert_eq!(access_token("DPoP "), None);
    }

    #[test]
    fn one_proof_header_is_read_and_several_are_refused() {
        assert_eq!(
            ProofHeader::from_values([].into_iter()),
            ProofHeader::Absent
        );
        assert_eq!(
            ProofHeader::from_values(["a.b.c"].into_iter()),
            ProofHeader::One("a.b.c")
        );
        assert_eq!(
            ProofHeader::from_values(["a.b.c", "d.e.f"].into_iter()),
            ProofHeader::Several
        );
        assert_eq!(
            ProofHeader::from_values(["a.b.c,d.e.f"].into_iter()),
            ProofHeader::Several
        );
    }
}
