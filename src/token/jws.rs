//! The compact-JWS layer of verification (RFC 7515 §7.1): size, structure, canonical base64url,
//! the protected header, key selection and the signature. Claims are `verify`'s business.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::MAX_TOKEN_BYTES;
use super::keys::KeySet;
use super::rejection::Rejection;
use super::strict_json;
use super::verify::VerifyPolicy;

/// Header parameters refused outright. `crit` and `b64` change how the token must be processed
/// (RFC 7515 §4.1.11, RFC 7797); `jku`, `x5u`, `jwk` and `x5c` would let the token pick its own key.
const FORBIDDEN_HEADERS: [&str; 6] = ["crit", "b64", "jku", "x5u", "jwk", "x5c"];

/// A JWS whose signature verified with one of the tenant's keys.
#[derive(Debug)]
pub(crate) struct VerifiedJws {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub payload: Vec<u8>,
}

/// Checks everything up to and including the signature, in a fixed order, failing closed.
pub(crate) fn verify_jws(
    token: &str,
    policy: &VerifyPolicy,
    keys: &KeySet,
) -> Result<VerifiedJws, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }
    let (header_b64, payload_b64, signature_b64) =
        split_compact(token).ok_or(Rejection::Malformed)?;
    let header = decode_segment(header_b64)?;
    let payload = decode_segment(payload_b64)?;
    let signature = decode_segment(signature_b64)?;

    let header = strict_json::parse_object(&header).ok_or(Rejection::BadHeader)?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(Rejection::BadHeader)?;
    // `Algorithm::from_str` matches names exactly: `none`, `None`, `hs256` are all unknown.
    let alg: Algorithm = alg_name
        .parse()
        .map_err(|_| Rejection::AlgorithmNotAllowed)?;
    if !policy.algorithms.contains(&alg) {
        return Err(Rejection::AlgorithmNotAllowed);
    }
    if FORBIDDEN_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(Rejection::ForbiddenHeader);
    }
    match header.get("typ") {
        None if policy.require_at_jwt_typ => return Err(Rejection::WrongType),
        None => {}
        Some(Value::String(typ)) if policy.require_at_jwt_typ && !is_access_token_type(typ) => {
            return Err(Rejection::WrongType);
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(Rejection::BadHeader),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(Rejection::BadHeader),
    };
    let key = keys.select(kid, alg)?;

    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if key.verifier.verify(signing_input.as_bytes(), &signature) {
        Ok(VerifiedJws {
            alg,
            kid: kid.map(str::to_owned),
            payload,
        })
    } else {
        Err(Rejection::BadSignature)
    }
}

/// `typ` values of an RFC 9068 access token; media types compare case-insensitively
/// (RFC 7515 §4.1.9), and the `application/` prefix may be omitted.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Exactly three `.`-separated segments.
pub(crate) fn split_compact(token: &str) -> Option<(&str, &str, &str)> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Some((h, p, s)),
        _ => None,
    }
}

/// Canonical unpadded base64url: the engine refuses padding, other alphabets, whitespace and
/// non-zero trailing bits, so each byte string has exactly one accepted encoding.
pub(crate) fn decode_segment(segment: &str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Rejection::BadEncoding)
}
