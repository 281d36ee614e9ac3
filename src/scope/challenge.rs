//! The RFC 6750 §3 `WWW-Authenticate: Bearer …` challenge and HTTP status for a decision, and
//! its RFC 9449 §7.1 `DPoP …` form for DPoP-bound tokens.

use super::bits;
use super::grant::join;
use super::{CompiledCatalog, Decision, Grant, Reason, Requirement, is_scope_char};

/// A ready answer for a resource server that denies a request.
///
/// Guarantees: `www_authenticate` starts with `Bearer` (or `DPoP`, see [`Challenge::dpop`]), every parameter value is a
/// well-formed quoted-string holding no `"` and no `\` (characters that could break it are
/// left out, never escaped), and the `scope` value holds only scope-token characters
/// (`%x21 / %x23-5B / %x5D-7E`) separated by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// 401 for a missing or unusable token, 403 for a usable token that is not enough.
    pub status: u16,
    /// The `WWW-Authenticate` header value.
    pub www_authenticate: String,
}

impl Challenge {
    /// No token was presented: `Bearer` (with `realm` when given) and no error code
    /// (RFC 6750 §3.1), status 401.
    pub fn no_token(realm: Option<&str>) -> Self {
        Self {
            status: 401,
            www_authenticate: Header::new(realm).finish(),
        }
    }

    /// The token is expired, revoked, malformed or of an unknown tenant:
    /// `Bearer error="invalid_token"`, status 401.
    pub fn invalid_token(realm: Option<&str>) -> Self {
        let mut header = Header::new(realm);
        header.param("error", "invalid_token", is_quoted_char);
        Self {
            status: 401,
            www_authenticate: header.finish(),
        }
    }

    /// `Bearer error="insufficient_scope"`, with `scope` unless it is empty; status 403.
    fn insufficient_scope(realm: Option<&str>, scope: &str) -> Self {
        let mut header = Header::new(realm);
        header.param("error", "insufficient_scope", is_quoted_char);
        if !scope.is_empty() {
            header.param("scope", scope, is_quoted_char);
        }
        Self {
            status: 403,
            www_authenticate: header.finish(),
        }
    }
}

/// The RFC 9449 §7.1 error codes of a `DPoP` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    /// The proof is missing, malformed, replayed or for another request: `invalid_dpop_proof`.
    InvalidProof,
    /// The token cannot be used with this proof (not bound, bound to another key, sent with
    /// the wrong scheme): `invalid_token`.
    InvalidToken,
}

impl Challenge {
    /// A refusal in the `DPoP` scheme (RFC 9449 §7.1): `DPoP realm="…", algs="<algs>",
    /// error="invalid_dpop_proof"|"invalid_token", error_description="<description>"`, status
    /// 401. `algs` is the space-separated list of proof algorithms accepted.
    pub fn dpop(realm: Option<&str>, algs: &str, error: DpopError, description: &str) -> Self {
        let mut header = Header::with_scheme("DPoP", realm);
        if !algs.is_empty() {
            header.param("algs", algs, is_quoted_char);
        }
        let code = match error {
            DpopError::InvalidProof => "invalid_dpop_proof",
            DpopError::InvalidToken => "invalid_token",
        };
        header.param("error", code, is_quoted_char);
        if !description.is_empty() {
            header.param("error_description", description, is_quoted_char);
        }
        Self {
            status: 401,
            www_authenticate: header.finish(),
        }
    }
}

/// A `Bearer` challenge `header` restated under the `DPoP` scheme with `algs` (the proof
/// algorithms accepted, space-separated) first, for a request that presented its token with
/// the `DPoP` scheme or a DPoP-bound token (RFC 9449 §7.1: the challenge then names `DPoP`).
/// Other headers (already `DPoP`, or empty) come back unchanged.
pub fn in_dpop_scheme(header: &str, algs: &str) -> String {
    let Some(params) = header.strip_prefix("Bearer") else {
        return header.to_owned();
    };
    if !(params.is_empty() || params.starts_with(' ')) {
        return header.to_owned();
    }
    let params = params.trim_start();
    let mut value = String::from("DPoP");
    if !algs.is_empty() && algs.bytes().all(is_quoted_char) {
        value.push_str(" algs=\"");
        value.push_str(algs);
        value.push('"');
        if !params.is_empty() {
            value.push(',');
        }
    }
    if !params.is_empty() {
        value.push(' ');
        value.push_str(params);
    }
    value
}

impl Challenge {
    /// This challenge in the form the MCP authorization spec asks of a protected resource
    /// (RFC 9728 §5.1): `resource_metadata` pointing at the resource's metadata document, on a
    /// 401 also `scope` (what to ask for, when known: `required_scope`), and on a 403 an
    /// `error_description`.
    #[must_use]
    pub fn for_resource(self, metadata_url: &str, required_scope: &str) -> Self {
        let mut header = Header {
            // A scheme alone (`Bearer`, `DPoP`) has no parameter yet.
            params: usize::from(self.www_authenticate.contains(' ')),
            out: self.www_authenticate,
        };
        if self.status == 401 && !required_scope.is_empty() {
            header.param("scope", required_scope, is_quoted_char);
        }
        header.param("resource_metadata", metadata_url, is_quoted_char);
        if self.status == 403 {
            let description = "the access token lacks a scope this request requires";
            header.param("error_description", description, is_quoted_char);
        }
        Self {
            status: self.status,
            www_authenticate: header.finish(),
        }
    }
}

impl CompiledCatalog {
    /// What a client holding nothing should ask for to satisfy `requirement`: its smallest
    /// alternative, without reserved scopes and `offline_access` (never asked for in a
    /// challenge). Empty when nothing in the catalog would help.
    pub fn required_scope(&self, requirement: &Requirement) -> String {
        let nothing = self.effective_grant(std::iter::empty(), false);
        let decision = self.decide(&nothing, requirement);
        let Some(closest) = decision.closest.or(decision.satisfied_by) else {
            return String::new();
        };
        let mut wanted = vec![0; self.words];
        for id in closest.scopes.iter().filter_map(|n| self.id(n.as_str())) {
            bits::insert(&mut wanted, id);
        }
        self.challenge_scope(&wanted)
    }

    /// The names of `ids` a challenge may carry: never a reserved scope nor `offline_access`.
    fn challenge_scope(&self, ids: &[u64]) -> String {
        join(
            bits::iter(ids)
                .filter(|&id| !bits::contains(&self.reserved, id) && !self.offline(id))
                .filter_map(|id| self.name(id)),
        )
    }

    /// Whether `id` is `offline_access` (a refresh-token request, never a step-up).
    fn offline(&self, id: u32) -> bool {
        self.name(id)
            .is_some_and(|n| n.as_str() == "offline_access")
    }

    /// The challenge for a denied decision, or `None` when it is allowed.
    ///
    /// `InsufficientScope`: `Bearer error="insufficient_scope", scope="…"`, status 403, where
    /// the scope list is the token's own scopes (as filtered into `grant`, implied ones left
    /// out) together with every scope of the closest alternative the token does not already
    /// hold through an implication, sorted by name, so that a client re-authorizing with
    /// exactly that list keeps what it had and gains what it lacked (as the MCP authorization
    /// spec recommends). Reserved scopes and `offline_access` never appear. The attribute is
    /// left out when there is no closest alternative (a stored operation left with no scope
    /// at all) or when it would add nothing the token lacks (all it lacks is reserved).
    ///
    /// `UnknownScope` and `UnknownOperation`: `Bearer error="insufficient_scope"` with no
    /// `scope` attribute (no scope the client could ask for would help; naming one that does
    /// not exist would only earn it `invalid_scope`), status 403. `TokenInactive` and
    /// `TenantNotFound`: as [`Challenge::invalid_token`], status 401.
    ///
    /// `realm`, when given, is emitted first; the API passes the tenant id.
    pub fn challenge(
        &self,
        grant: &Grant<'_>,
        decision: &Decision<'_>,
        realm: Option<&str>,
    ) -> Option<Challenge> {
        match decision.reason {
            Reason::Allowed => None,
            Reason::TokenInactive | Reason::TenantNotFound => Some(Challenge::invalid_token(realm)),
            Reason::UnknownOperation | Reason::UnknownScope => {
                Some(Challenge::insufficient_scope(realm, ""))
            }
            Reason::InsufficientScope => {
                // No closest alternative (a stored operation left with no scope): nothing to ask.
                let Some(closest) = decision.closest else {
                    return Some(Challenge::insufficient_scope(realm, ""));
                };
                let same = std::ptr::eq(grant.catalog, self);
                let mut wanted: Vec<u64> = if same {
                    grant.direct.clone()
                } else {
                    vec![0; self.words]
                };
                let held = |id| same && bits::contains(&grant.effective, id);
                let askable = |id| !bits::contains(&self.reserved, id) && !self.offline(id);
                let mut gains = false;
                for id in closest.scopes.iter().filter_map(|n| self.id(n.as_str())) {
                    if !held(id) && askable(id) {
                        bits::insert(&mut wanted, id);
                        gains = true;
                    }
                }
                // Asking again for only what the token holds would be a pointless step-up.
                let scope = if gains {
                    self.challenge_scope(&wanted)
                } else {
                    String::new()
                };
                Some(Challenge::insufficient_scope(realm, &scope))
            }
        }
    }
}

/// Characters RFC 6750 §3 allows in `error`, `scope` and (here) `realm` values:
/// `%x20-21 / %x23-5B / %x5D-7E`, i.e. printable ASCII and space minus `"` and `\`.
fn is_quoted_char(b: u8) -> bool {
    b == b' ' || is_scope_char(b)
}

/// Writes `Bearer` and `name="value"` parameters, comma separated.
struct Header {
    out: String,
    params: usize,
}

impl Header {
    fn new(realm: Option<&str>) -> Self {
        Self::with_scheme("Bearer", realm)
    }

    fn with_scheme(scheme: &str, realm: Option<&str>) -> Self {
        let mut header = Self {
            out: String::from(scheme),
            params: 0,
        };
        if let Some(realm) = realm {
            header.param("realm", realm, is_quoted_char);
        }
        header
    }

    /// Appends a parameter, keeping only the value's bytes that `keep` accepts; `keep` must
    /// reject `"` and `\`, which is re-checked here so no caller can break the quoting.
    fn param(&mut self, name: &str, value: &str, keep: impl Fn(u8) -> bool) {
        self.out.push_str(if self.params == 0 { " " } else { ", " });
        self.params += 1;
        self.out.push_str(name);
        self.out.push_str("=\"");
        let kept = value
            .bytes()
            .filter(|&b| b.is_ascii() && b != b'"' && b != b'\\' && keep(b));
        self.out.extend(kept.map(char::from));
        self.out.push('"');
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_restated_under_the_dpop_scheme_with_algs_first() {
        assert_eq!(
            in_dpop_scheme(
                r#"Bearer realm="school", error="insufficient_scope", scope="a b""#,
                "ES256 EdDSA"
            ),
            r#"DPoP algs="ES256 EdDSA", realm="school", error="insufficient_scope", scope="a b""#
        );
        assert_eq!(in_dpop_scheme("Bearer", "ES256"), r#"DPoP algs="ES256""#);
        assert_eq!(
            in_dpop_scheme(r#"Bearer error="invalid_token""#, ""),
            r#"DPoP error="invalid_token""#
        );
        let dpop = r#"DPoP algs="ES256", error="invalid_dpop_proof""#;
        assert_eq!(in_dpop_scheme(dpop, "ES256"), dpop);
        assert_eq!(in_dpop_scheme("", "ES256"), "");
        assert_eq!(in_dpop_scheme("Bearerx", "ES256"), "Bearerx");
    }

    #[test]
    fn token_less_and_invalid_token_challenges_are_exact() {
        let cases = [
            (Challenge::no_token(None), 401, "Bearer"),
            (
                Challenge::no_token(Some("acme")),
                401,
                r#"Bearer realm="acme""#,
            ),
            (
                Challenge::invalid_token(None),
                401,
                r#"Bearer error="invalid_token""#,
            ),
            (
                Challenge::invalid_token(Some("acme")),
                401,
                r#"Bearer realm="acme", error="invalid_token""#,
            ),
            (
                Challenge::no_token(Some("a\"b\\c d\u{e9}\n")),
                401,
                r#"Bearer realm="abc d""#,
            ),
        ];
        for (got, status, header) in cases {
            assert_eq!(
                (got.status, got.www_authenticate.as_str()),
                (status, header)
            );
        }
    }

    #[test]
    fn dpop_challenges_name_the_scheme_the_algorithms_and_the_error() {
        let proof = Challenge::dpop(
            Some("t"),
            "ES256 EdDSA",
            DpopError::InvalidProof,
            "DPoP proof \"replayed\"",
        );
        assert_eq!(
            (proof.status, proof.www_authenticate.as_str()),
            (
                401,
                r#"DPoP realm="t", algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="DPoP proof replayed""#
            )
        );
        let token = Challenge::dpop(None, "ES256", DpopError::InvalidToken, "");
        assert_eq!(
            token.www_authenticate,
            r#"DPoP algs="ES256", error="invalid_token""#
        );
        let url = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
        assert_eq!(
            token.for_resource(url, "a:read").www_authenticate,
            format!(
                r#"DPoP algs="ES256", error="invalid_token", scope="a:read", resource_metadata="{url}""#
            )
        );
    }

    #[test]
    fn a_resource_challenge_adds_its_metadata_and_what_to_ask_for() {
        let url = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
        let cases = [
            (
                Challenge::no_token(None).for_resource(url, ""),
                format!(r#"Bearer resource_metadata="{url}""#),
            ),
            (
                Challenge::no_token(Some("t")).for_resource(url, "a:read b"),
                format!(r#"Bearer realm="t", scope="a:read b", resource_metadata="{url}""#),
            ),
            (
                Challenge::invalid_token(Some("t")).for_resource(url, "a:read"),
                format!(
                    r#"Bearer realm="t", error="invalid_token", scope="a:read", resource_metadata="{url}""#
                ),
            ),
            (
                Challenge::insufficient_scope(None, "a:read").for_resource(url, "ignored"),
                format!(
                    r#"Bearer error="insufficient_scope", scope="a:read", resource_metadata="{url}", error_description="the access token lacks a scope this request requires""#
                ),
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.www_authenticate, want);
        }
    }
}
