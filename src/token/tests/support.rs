//! Test keys generated at run time with aws-lc-rs (no private key is committed) and a minter that
//! signs any header and payload text with jsonwebtoken's `EncodingKey`.

use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::token::{KeyOrigin, KeySet, KeySource, Keyring, VerifyPolicy};

/// The fixed "current time" of the tests (2027-01-15).
pub const NOW: i64 = 1_800_000_000;
pub const ISSUER: &str = "https://idp.example/tenant-a";
pub const AUDIENCE: &str = "api://scopegate";

/// A signing key and its public JWK (with `kid` and `alg`).
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub enc: EncodingKey,
    pub jwk: Value,
}

/// RSA key generation is slow: three key pairs per test run, shared, as (private PEM, public
/// SubjectPublicKeyInfo DER).
static RSA_KEYS: LazyLock<Vec<(Vec<u8>, Vec<u8>)>> = LazyLock::new(|| {
    (0..3)
        .map(|_| {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
            let private = pair.as_der().expect("PKCS#8 export");
            let public = pair.public_key().as_der().expect("SPKI export");
            (
                pem("PRIVATE KEY", private.as_ref()),
                public.as_ref().to_vec(),
            )
        })
        .collect()
});

/// The public key of RSA key `which`, DER-encoded, as a verifier might store it.
pub fn rsa_public_der(which: usize) -> Vec<u8> {
    RSA_KEYS[which].1.clone()
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
    .into_bytes()
}

fn finish(kid: &str, alg: Algorithm, enc: EncodingKey) -> TestKey {
    let jwk = Jwk::from_encoding_key(&enc, alg).expect("public JWK");
    let mut jwk = serde_json::to_value(jwk).expect("JWK to JSON");
    jwk["kid"] = json!(kid);
    TestKey {
        kid: kid.to_owned(),
        alg,
        enc,
        jwk,
    }
}

/// RSA key number `which` (0..3) for `alg` (RS* or PS*).
pub fn rsa(which: usize, kid: &str, alg: Algorithm) -> TestKey {
    let enc = EncodingKey::from_rsa_pem(&RSA_KEYS[which].0).expect("RSA PEM");
    finish(kid, alg, enc)
}

pub fn ec(kid: &str) -> TestKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key generation");
    let der = pair.to_pkcs8v1().expect("PKCS#8 export");
    finish(
        kid,
        Algorithm::ES256,
        EncodingKey::from_ec_der(der.as_ref()),
    )
}

pub fn ed(kid: &str) -> TestKey {
    let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
    let der = pair.to_pkcs8v1().expect("PKCS#8 export");
    finish(
        kid,
        Algorithm::EdDSA,
        EncodingKey::from_ed_der(der.as_ref()),
    )
}

pub fn hmac(kid: &str) -> TestKey {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret).expect("random bytes");
    finish(kid, Algorithm::HS256, EncodingKey::from_secret(&secret))
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn alg_name(alg: Algorithm) -> String {
    format!("{alg:?}")
}

/// Signs `header.payload` (given as JSON text, so duplicates and odd spellings survive) with `enc`.
pub fn mint_raw(enc: &EncodingKey, alg: Algorithm, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), enc, alg).expect("signing");
    format!("{input}.{signature}")
}

pub fn mint(key: &TestKey, header: &Value, claims: &Value) -> String {
    mint_raw(&key.enc, key.alg, &header.to_string(), &claims.to_string())
}

/// An RFC 9068 header for `key`.
pub fn header(key: &TestKey) -> Value {
    json!({ "typ": "at+jwt", "alg": alg_name(key.alg), "kid": key.kid })
}

/// Claims that pass [`policy`] at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "client_id": "client-1",
        "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10, "jti": "jti-1",
        "scope": "openid courses:read",
    })
}

/// A valid token signed by `key`.
pub fn token(key: &TestKey) -> String {
    mint(key, &header(key), &claims())
}

/// `claims()` with `name` set to `value` (or removed when `value` is null).
pub fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    match value {
        Value::Null => {
            claims.as_object_mut().expect("object").remove(name);
        }
        value => claims[name] = value,
    }
    claims
}

pub fn policy() -> VerifyPolicy {
    use Algorithm::*;
    VerifyPolicy {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.to_owned(), "other-api".to_owned()],
        algorithms: vec![
            RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512,
        ],
        leeway_seconds: 60,
        require_at_jwt_typ: true,
        scope_claims: crate::token::ScopeClaims::default(),
    }
}

pub fn jwks_json(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

pub fn key_set(keys: &[&TestKey]) -> KeySet {
    KeySet::parse(&jwks_json(keys), KeyOrigin::Inline).expect("test key set")
}

/// A tenant as the token module sees it: the owner of a keyring and a verification policy.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub key_source: KeySource,
    pub refresh_seconds: u32,
    pub policy: VerifyPolicy,
}

impl TestTenant {
    pub fn keyring(&self) -> Keyring<'_> {
        Keyring {
            owner: &self.id,
            source: &self.key_source,
            refresh_seconds: self.refresh_seconds,
        }
    }
}

pub fn tenant(key_source: KeySource) -> TestTenant {
    use Algorithm::*;
    TestTenant {
        id: "tenant-a".to_owned(),
        key_source,
        refresh_seconds: 3600,
        policy: VerifyPolicy {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.to_owned()],
            algorithms: vec![RS256, PS256, ES256, EdDSA],
            leeway_seconds: 60,
            require_at_jwt_typ: true,
            scope_claims: crate::token::ScopeClaims::default(),
        },
    }
}
