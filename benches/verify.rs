//! In-process micro-benchmarks of token verification, one per algorithm: the whole
//! `token::verify` (size, structure, header, key selection, signature, claims) of a valid
//! RFC 9068 access token, as a token-cache miss pays it. Run: `cargo bench --bench verify`.

use std::hint::black_box;

use aws_lc_rs::{
    encoding::AsDer,
    rand,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use scopegate::token::{KeyOrigin, KeySet, VerifyPolicy, peek_issuer, verify};
use serde_json::{Value, json};

const ISSUER: &str = "https://id.bench.test";
const AUDIENCE: &str = "https://api.bench.test";

/// A signing key with its public JWK (or, for HS256, its secret as an `oct` JWK).
struct Key {
    alg: Algorithm,
    kid: String,
    enc: EncodingKey,
    jwk: Value,
}

fn key(alg: Algorithm, enc: EncodingKey) -> Key {
    let kid = format!("{alg:?}").to_ascii_lowercase();
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&enc, alg).expect("JWK")).expect("JSON");
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(format!("{alg:?}"));
    Key { alg, kid, enc, jwk }
}

fn rsa_pem() -> String {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let der = pair.as_der().expect("PKCS#8 export");
    let body = STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// One key per benchmarked algorithm, generated at run time.
fn keys() -> Vec<Key> {
    let pem = rsa_pem();
    let rsa = || EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256");
    let ed = Ed25519KeyPair::generate().expect("Ed25519");
    let mut secret = [0u8; 32];
    rand::fill(&mut secret).expect("random bytes");
    vec![
        key(Algorithm::RS256, rsa()),
        key(Algorithm::PS256, rsa()),
        key(
            Algorithm::ES256,
            EncodingKey::from_ec_der(ec.to_pkcs8v1().expect("PKCS#8").as_ref()),
        ),
        key(
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(ed.to_pkcs8v1().expect("PKCS#8").as_ref()),
        ),
        key(Algorithm::HS256, EncodingKey::from_secret(&secret)),
    ]
}

fn now() -> i64 {
    scopegate::store::now_ms() / 1000
}

/// A typical access token: RFC 9068 header and claims, a dozen scopes.
fn token(key: &Key) -> String {
    let header = json!({ "typ": "at+jwt", "alg": format!("{:?}", key.alg), "kid": key.kid });
    let now = now();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "client_id": "bench-app",
        "iat": now, "nbf": now, "exp": now + 3600, "jti": "jti-1",
        "scope": "openid profile reports:read reports:write res0:read res1:read res2:read res3:read",
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.enc, key.alg).expect("sign");
    format!("{input}.{signature}")
}

fn verification(c: &mut Criterion) {
    let keys = keys();
    let (secret, public): (Vec<&Key>, Vec<&Key>) =
        keys.iter().partition(|k| k.alg == Algorithm::HS256);
    let set = |keys: &[&Key]| {
        let doc = json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
        KeySet::parse(&doc.to_string(), KeyOrigin::Inline).expect("key set")
    };
    let (public_set, secret_set) = (set(&public), set(&secret));
    let policy = VerifyPolicy {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.to_owned()],
        algorithms: keys.iter().map(|k| k.alg).collect(),
        leeway_seconds: 60,
        require_at_jwt_typ: true,
        scope_claims: Default::default(),
    };
    let mut group = c.benchmark_group("verify");
    for key in &keys {
        let token = token(key);
        let set = if key.alg == Algorithm::HS256 {
            &secret_set
        } else {
            &public_set
        };
        let now = now();
        verify(&token, &policy, set, now).expect("the benchmarked token verifies");
        group.bench_function(format!("{:?}", key.alg), |b| {
            b.iter(|| verify(black_box(&token), &policy, set, now).is_ok());
        });
    }
    let token = token(&keys[0]);
    group.bench_function("peek_issuer", |b| b.iter(|| peek_issuer(black_box(&token))));
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
