//! Token verification against one tenant's policy and key set, and the unverified issuer peek used
//! only for routing.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::claims::{self, VerifiedToken};
use super::jws::{split_compact, verify_jws};
use super::keys::KeySet;
use super::rejection::Rejection;
use super::scope_claims::ScopeClaims;
use super::{MAX_TOKEN_BYTES, strict_json};

/// What a tenant accepts; the tenant module builds it from the tenant's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Exact match with `iss`. Empty: no token is accepted.
    pub issuer: Arc<str>,
    /// `aud` must contain one of these. Empty: no token is accepted
    /// ([`Rejection::NoAudienceConfigured`]), since a token meant for any audience would do.
    pub audiences: Vec<String>,
    /// JWS algorithms accepted, compared with the header's `alg` by exact name.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: i64,
    /// Require `typ` = `at+jwt` or `application/at+jwt` (RFC 9068 §4).
    pub require_at_jwt_typ: bool,
    /// Other claims whose values are scopes too (roles claims).
    pub scope_claims: ScopeClaims,
}

/// Verifies a compact JWT access token, in this order, failing closed: size (16 KiB) before any
/// parsing; three canonical base64url segments; header (a JSON object without repeated members);
/// `alg` in the allow-list; no `crit`/`b64`/`jku`/`x5u`/`jwk`/`x5c`; `typ` when required; the key
/// by `kid` and algorithm; the signature; then claims: payload object without repeated claims,
/// `exp` (required), `nbf`, `iat` (with leeway), `iss`, `aud`.
///
/// `now_unix` is the current time in Unix seconds.
pub fn verify(
    token: &str,
    policy: &VerifyPolicy,
    keys: &KeySet,
    now_unix: i64,
) -> Result<VerifiedToken, Rejection> {
    let jws = verify_jws(token, policy, keys)?;
    let claims = strict_json::parse_object(&jws.payload).ok_or(Rejection::BadPayload)?;
    claims::validate(claims, policy, now_unix, jws.alg, jws.kid)
}

/// The `iss` claim of a token, read WITHOUT verification and only to pick the tenant whose policy
/// will then verify it. Bounded like [`verify`]; `None` for anything that is not a plausible token.
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let (_, payload, _) = split_compact(token)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Issuer>(&payload)
        .ok()
        .map(|p| p.iss)
}
