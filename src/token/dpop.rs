//! DPoP proof verification (RFC 9449): the proof a client sends with a DPoP-bound access token
//! must be signed by the key the token is bound to, for this request, recently, and only once.
//!
//! [`verify_proof`] runs the checks of RFC 9449 §4.3 and §7.1 in a fixed order, failing closed,
//! cheapest and context-free first: size, structure, header, key, signature, then claims against
//! the request, then the binding to the access token, and the replay cache last so that only a
//! proof that passed everything else is remembered. Signatures go through the same JWK rules
//! and aws-lc-rs verifiers as access tokens (`jwk.rs`, `signature.rs`): no new crypto here.
//!
//! Not done here (the caller's part): refusing a request with more than one `DPoP` header
//! (§4.3 check 1), requiring a proof when the token is bound ([`VerifiedToken::dpop_binding`]),
//! and server-provided nonces (§8, §9), which this verifier neither issues nor checks.

mod htu;
mod rejection;
mod replay;
mod thumbprint;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::VerifiedToken;
use super::jwk::{JwkOutcome, parse_jwk};
use super::jws::{decode_segment, split_compact};
use super::keys::KeyOrigin;
use super::strict_json;

pub use rejection::DpopRejection;
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache};
pub use thumbprint::jwk_thumbprint;

/// Longest proof accepted, in bytes (checked before any parsing).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Longest `jti` accepted, in bytes: it is remembered (hashed) for the replay window.
pub const MAX_JTI_BYTES: usize = 256;

/// Header parameters refused: `crit` and `b64` change how the JWS must be processed; `jku`,
/// `x5u` and `x5c` would name a second key besides `jwk`.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "b64", "jku", "x5u", "x5c"];

/// Members only private or secret keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The asymmetric algorithms a proof may use, whatever the policy lists (RFC 9449 §4.3 check 5).
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// The HTTP request a proof came with.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The `DPoP` header's value (the caller has refused zero-or-several headers already).
    pub proof: &'a str,
    /// The request method, as sent (methods are case-sensitive, RFC 9110 §9.1).
    pub method: &'a str,
    /// The request's target URI (RFC 9110 §7.1), absolute: `https://host[:port]/path[?query]`.
    pub uri: &'a str,
}

/// What proofs are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Signature algorithms accepted; symmetric ones and `none` never are, even if listed.
    pub algorithms: Vec<Algorithm>,
    /// How far `iat` may be from now, in seconds, either way. Replay entries live twice as long.
    /// A negative value accepts only `iat` equal to now.
    pub iat_window_seconds: i64,
}

impl Default for DpopPolicy {
    /// Every asymmetric algorithm the key rules support, and a 60-second window.
    fn default() -> Self {
        Self {
            algorithms: ASYMMETRIC.to_vec(),
            iat_window_seconds: 60,
        }
    }
}

/// A proof whose signature verified with its own `jwk` header.
#[derive(Debug)]
pub(crate) struct SignedProof {
    /// The `jwk` header as sent.
    pub jwk: Value,
    /// The payload, a JSON object without repeated members.
    pub claims: Map<String, Value>,
}

/// Verifies the DPoP proof of `request` for `access_token` (already verified as `token`) at
/// `now` (Unix seconds), in this order: not empty; at most [`MAX_PROOF_BYTES`]; three canonical
/// base64url segments; header a JSON object without repeated members; `typ` `dpop+jwt`; `alg`
/// asymmetric and in the policy; no `crit`/`b64`/`jku`/`x5u`/`x5c`; `jwk` a public key
/// (private members refused) usable for `alg`; the signature by that key; payload a JSON object
/// without repeated members; `htm` equal to the method; `htu` the request's URI (query and
/// fragment of both ignored, see `dpop/htu.rs`); `iat` within the window; `jti` present,
/// non-empty, at most [`MAX_JTI_BYTES`]; `ath` the base64url SHA-256 of `access_token`; the
/// token's `cnf.jkt` the RFC 7638 thumbprint of `jwk`; and finally the proof not seen before,
/// which also records it in `replay` for twice the window.
pub fn verify_proof(
    request: &DpopRequest<'_>,
    access_token: &str,
    token: &VerifiedToken,
    policy: &DpopPolicy,
    replay: &ReplayCache,
    now: i64,
) -> Result<(), DpopRejection> {
    let proof = verify_signed_proof(request.proof, policy)?;
    let jti = check_request_claims(&proof.claims, request, policy, now)?;
    let ath = proof
        .claims
        .get("ath")
        .and_then(Value::as_str)
        .ok_or(DpopRejection::InvalidClaim)?;
    let expected_ath = URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()));
    if !bool::from(ath.as_bytes().ct_eq(expected_ath.as_bytes())) {
        return Err(DpopRejection::AthMismatch);
    }
    let bound = token.dpop_binding().ok_or(DpopRejection::NotBound)?;
    let jkt = jwk_thumbprint(&proof.jwk).ok_or(DpopRejection::BadJwk)?;
    if bound.is_empty() || !bool::from(jkt.as_bytes().ct_eq(bound.as_bytes())) {
        return Err(DpopRejection::JktMismatch);
    }
    let lifetime = policy.iat_window_seconds.max(0).saturating_mul(2);
    replay
        .remember(&jkt, jti, now, now.saturating_add(lifetime))
        .map_err(|refusal| match refusal {
            replay::Refusal::Replayed => DpopRejection::Replayed,
            replay::Refusal::Full => DpopRejection::ReplayCacheFull,
        })
}

/// The JWS part of the checks: everything up to the signature and the payload's JSON.
pub(crate) fn verify_signed_proof(
    proof: &str,
    policy: &DpopPolicy,
) -> Result<SignedProof, DpopRejection> {
    if proof.is_empty() {
        return Err(DpopRejection::Missing);
    }
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopRejection::TooLarge);
    }
    let (header_b64, payload_b64, signature_b64) =
        split_compact(proof).ok_or(DpopRejection::Malformed)?;
    let segment = |s| decode_segment(s).map_err(|_| DpopRejection::Malformed);
    let (header, payload, signature) = (
        segment(header_b64)?,
        segment(payload_b64)?,
        segment(signature_b64)?,
    );
    let mut header = strict_json::parse_object(&header).ok_or(DpopRejection::BadHeader)?;
    match header.get("typ") {
        Some(Value::String(typ)) if is_dpop_type(typ) => {}
        _ => return Err(DpopRejection::BadTyp),
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|name| name.parse::<Algorithm>().ok())
        .filter(|alg| ASYMMETRIC.contains(alg) && policy.algorithms.contains(alg))
        .ok_or(DpopRejection::BadAlg)?;
    if FORBIDDEN_HEADERS.iter().any(|h| header.contains_key(*h)) {
        return Err(DpopRejection::BadHeader);
    }
    let Some(Value::Object(jwk)) = header.remove("jwk") else {
        return Err(DpopRejection::BadJwk);
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopRejection::PrivateKey);
    }
    // A JWK without `alg` is bound to the header's, so an RSA key may sign PS256; one that
    // declares another algorithm is refused by the key rules below.
    let mut bound = jwk.clone();
    bound
        .entry("alg")
        .or_insert_with(|| Value::String(format!("{alg:?}")));
    let key = match parse_jwk(&Value::Object(bound), KeyOrigin::Published) {
        JwkOutcome::Usable(key) if key.alg == alg => key,
        JwkOutcome::Private => return Err(DpopRejection::PrivateKey),
        JwkOutcome::Usable(_) | JwkOutcome::Skipped(_) => return Err(DpopRejection::BadJwk),
    };
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verifier.verify(signing_input.as_bytes(), &signature) {
        return Err(DpopRejection::BadSignature);
    }
    let claims = strict_json::parse_object(&payload).ok_or(DpopRejection::BadPayload)?;
    Ok(SignedProof {
        jwk: Value::Object(jwk),
        claims,
    })
}

/// `htm`, `htu`, `iat` and `jti` against the request and the clock; returns the `jti`.
pub(crate) fn check_request_claims<'c>(
    claims: &'c Map<String, Value>,
    request: &DpopRequest<'_>,
    policy: &DpopPolicy,
    now: i64,
) -> Result<&'c str, DpopRejection> {
    let text = |name| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(DpopRejection::InvalidClaim)
    };
    if text("htm")? != request.method {
        return Err(DpopRejection::HtmMismatch);
    }
    if !htu::same_target(text("htu")?, request.uri) {
        return Err(DpopRejection::HtuMismatch);
    }
    let iat = claims
        .get("iat")
        .and_then(numeric_date)
        .ok_or(DpopRejection::InvalidClaim)?;
    let window = u64::try_from(policy.iat_window_seconds).unwrap_or(0);
    if iat.abs_diff(now) > window {
        return Err(DpopRejection::IatOutOfWindow);
    }
    let jti = text("jti")?;
    if jti.is_empty() {
        return Err(DpopRejection::InvalidClaim);
    }
    if jti.len() > MAX_JTI_BYTES {
        return Err(DpopRejection::JtiTooLong);
    }
    Ok(jti)
}

/// `typ` compares as a media type: case-insensitively, `application/` optional (RFC 7515 §4.1.9).
fn is_dpop_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("dpop+jwt") || typ.eq_ignore_ascii_case("application/dpop+jwt")
}

/// A NumericDate (RFC 7519 §2) in whole seconds, rounded down; `None` for anything else.
fn numeric_date(value: &Value) -> Option<i64> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it f64 seconds are not exact
    if let Some(seconds) = value.as_i64() {
        return Some(seconds);
    }
    let seconds = value
        .as_f64()
        .filter(|s| s.is_finite() && s.abs() < LIMIT)?;
    #[allow(clippy::cast_possible_truncation)] // |seconds| < 2^53
    Some(seconds.floor() as i64)
}
