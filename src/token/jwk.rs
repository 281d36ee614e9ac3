//! One JWK (RFC 7517, RFC 7518 §6) to one verification key bound to exactly one algorithm
//! (RFC 8725 §3.1), or the reason it cannot be used.
//!
//! Algorithm when the JWK has no `alg`: `RSA` → RS256 only (the RFC 9068 default; a PS* or RS384/512
//! key must say so), `EC` → from `crv`, `OKP` Ed25519 → EdDSA, `oct` → HS256 only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::keys::KeyOrigin;
use super::roca::has_roca_fingerprint;
use super::signature::Verifier;
use super::skip::SkipReason;

/// The kind of key material (JWK `kty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA public key (`kty: RSA`).
    Rsa,
    /// NIST P-256 / P-384 public key (`kty: EC`).
    Ec,
    /// Ed25519 public key (`kty: OKP`).
    Okp,
    /// HMAC secret (`kty: oct`), accepted only from an inline set.
    Oct,
}

/// A usable key, before it joins a set.
pub(crate) struct ParsedJwk {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub kind: KeyKind,
    /// Parsed once; checks signatures of `alg` only.
    pub verifier: Verifier,
    /// Public members only, for display.
    pub public: Map<String, Value>,
}

/// The outcome of reading one JWK.
pub(crate) enum JwkOutcome {
    Usable(ParsedJwk),
    Skipped(SkipReason),
    /// The JWK carries private key parameters: the whole set is refused.
    Private,
}

/// Members that only a private RSA/EC/OKP key has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Reads one JWK.
pub(crate) fn parse_jwk(value: &Value, origin: KeyOrigin) -> JwkOutcome {
    let Value::Object(jwk) = value else {
        return JwkOutcome::Skipped(SkipReason::NotAnObject);
    };
    let kty = jwk.get("kty").and_then(Value::as_str);
    if kty != Some("oct") && PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return JwkOutcome::Private;
    }
    match read(jwk, kty, origin) {
        Ok(key) => JwkOutcome::Usable(key),
        Err(reason) => JwkOutcome::Skipped(reason),
    }
}

fn read(
    jwk: &Map<String, Value>,
    kty: Option<&str>,
    origin: KeyOrigin,
) -> Result<ParsedJwk, SkipReason> {
    let kty = kty.ok_or(SkipReason::MissingMember("kty"))?;
    let kid = optional_str(jwk, "kid")?.map(str::to_owned);
    if let Some(usage) = optional_str(jwk, "use")?
        && usage != "sig"
    {
        return Err(SkipReason::NotForSignatures(clip(usage)));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::WrongType("key_ops"))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::KeyOpsWithoutVerify);
        }
    }
    let declared = optional_str(jwk, "alg")?;
    let mut public = Map::new();
    for member in ["kty", "kid", "use", "key_ops"] {
        if let Some(v) = jwk.get(member) {
            public.insert(member.to_owned(), v.clone());
        }
    }
    let (alg, kind, verifier) = match kty {
        "RSA" => rsa(jwk, declared, &mut public)?,
        "EC" => ec(jwk, declared, &mut public)?,
        "OKP" => okp(jwk, declared, &mut public)?,
        "oct" => oct(jwk, declared, origin)?,
        other => return Err(SkipReason::UnsupportedKeyType(clip(other))),
    };
    // `Algorithm`'s variant names are the JWS names.
    public.insert("alg".to_owned(), Value::String(format!("{alg:?}")));
    Ok(ParsedJwk {
        kid,
        alg,
        kind,
        verifier,
        public,
    })
}

type Built = (Algorithm, KeyKind, Verifier);

fn rsa(
    jwk: &Map<String, Value>,
    declared: Option<&str>,
    public: &mut Map<String, Value>,
) -> Result<Built, SkipReason> {
    use Algorithm::{PS256, PS384, PS512, RS256, RS384, RS512};
    let alg = pick_alg(declared, RS256, &[RS256, RS384, RS512, PS256, PS384, PS512])?;
    let n = b64_member(jwk, "n")?;
    let e = b64_member(jwk, "e")?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    let bits = bit_length(n);
    if !(2048..=8192).contains(&bits) {
        return Err(SkipReason::RsaKeySize(bits));
    }
    let e_is_odd = e.last().is_some_and(|b| b & 1 == 1);
    if !e_is_odd || bit_length(e) < 2 {
        return Err(SkipReason::RsaExponent);
    }
    if has_roca_fingerprint(n) {
        return Err(SkipReason::RocaVulnerable);
    }
    let verifier = Verifier::rsa(alg, n, e).ok_or(SkipReason::RejectedByBackend)?;
    copy_members(jwk, public, &["n", "e"]);
    Ok((alg, KeyKind::Rsa, verifier))
}

fn ec(
    jwk: &Map<String, Value>,
    declared: Option<&str>,
    public: &mut Map<String, Value>,
) -> Result<Built, SkipReason> {
    let crv = jwk
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingMember("crv"))?;
    let (derived, len) = match crv {
        "P-256" => (Algorithm::ES256, 32),
        "P-384" => (Algorithm::ES384, 48),
        other => return Err(SkipReason::UnsupportedCurve(clip(other))),
    };
    let alg = pick_alg(declared, derived, &[derived])?;
    let x = b64_member(jwk, "x")?;
    let y = b64_member(jwk, "y")?;
    if x.len() != len || y.len() != len {
        return Err(SkipReason::CoordinateLength);
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let verifier = Verifier::public(alg, &point).ok_or(SkipReason::RejectedByBackend)?;
    copy_members(jwk, public, &["crv", "x", "y"]);
    Ok((alg, KeyKind::Ec, verifier))
}

fn okp(
    jwk: &Map<String, Value>,
    declared: Option<&str>,
    public: &mut Map<String, Value>,
) -> Result<Built, SkipReason> {
    let crv = jwk
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingMember("crv"))?;
    if crv != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve(clip(crv)));
    }
    let alg = pick_alg(declared, Algorithm::EdDSA, &[Algorithm::EdDSA])?;
    let x = b64_member(jwk, "x")?;
    if x.len() != 32 {
        return Err(SkipReason::CoordinateLength);
    }
    let verifier = Verifier::public(alg, &x).ok_or(SkipReason::RejectedByBackend)?;
    copy_members(jwk, public, &["crv", "x"]);
    Ok((alg, KeyKind::Okp, verifier))
}

fn oct(
    jwk: &Map<String, Value>,
    declared: Option<&str>,
    origin: KeyOrigin,
) -> Result<Built, SkipReason> {
    use Algorithm::{HS256, HS384, HS512};
    if origin != KeyOrigin::Inline {
        return Err(SkipReason::SymmetricNotAllowed);
    }
    let alg = pick_alg(declared, HS256, &[HS256, HS384, HS512])?;
    let secret = b64_member(jwk, "k")?;
    // RFC 7518 §3.2: a key of the same size as the hash output or larger.
    let (min, name) = match alg {
        HS384 => (48, "HS384"),
        HS512 => (64, "HS512"),
        _ => (32, "HS256"),
    };
    if secret.len() < min {
        return Err(SkipReason::SecretTooShort {
            len: secret.len(),
            min,
            alg: name,
        });
    }
    let verifier = Verifier::hmac(alg, &secret).ok_or(SkipReason::RejectedByBackend)?;
    Ok((alg, KeyKind::Oct, verifier))
}

/// The declared algorithm if it is one of `allowed`, else `default` when none is declared.
fn pick_alg(
    declared: Option<&str>,
    default: Algorithm,
    allowed: &[Algorithm],
) -> Result<Algorithm, SkipReason> {
    let Some(name) = declared else {
        return Ok(default);
    };
    name.parse::<Algorithm>()
        .ok()
        .filter(|alg| allowed.contains(alg))
        .ok_or_else(|| SkipReason::UnsupportedAlgorithm(clip(name)))
}

fn optional_str<'a>(
    jwk: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, SkipReason> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SkipReason::WrongType(name)),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingMember(name))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| SkipReason::BadBase64(name))
}

fn copy_members(jwk: &Map<String, Value>, public: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        if let Some(v) = jwk.get(*name) {
            public.insert((*name).to_owned(), v.clone());
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Bit length of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
    }
}
