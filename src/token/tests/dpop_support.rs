//! Helpers of the DPoP tests: a proof key, a valid proof for [`REQUEST`], the access token it
//! goes with (bound to the key), and verification with a fresh replay cache.

use serde_json::{Value, json};

use super::support::{NOW, TestKey, alg_name, b64, mint, mint_raw};
use crate::token::{
    DpopPolicy, DpopRejection, DpopRequest, ReplayCache, VerifiedToken, jwk_thumbprint,
    verify_proof,
};

/// The access token the proofs are presented with (opaque here: only its hash is checked).
pub const ACCESS_TOKEN: &str = "eyJhY2Nlc3MiOiJ0b2tlbiJ9.e30.c2lnbmF0dXJl";

/// The request every proof is for, unless a test says otherwise.
pub const REQUEST: DpopRequest<'static> = DpopRequest {
    proof: "",
    method: "GET",
    uri: "https://api.example.com/orders/42?page=1",
};

/// `ath` for [`ACCESS_TOKEN`], computed independently of the code under test.
pub fn ath(token: &str) -> String {
    use sha2::{Digest, Sha256};
    b64(Sha256::digest(token.as_bytes()))
}

/// A DPoP proof header for `key`.
pub fn header(key: &TestKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": alg_name(key.alg), "jwk": key.jwk })
}

/// Claims of a valid proof for [`REQUEST`] at [`NOW`].
pub fn claims() -> Value {
    json!({
        "jti": "proof-1", "htm": "GET", "htu": "https://api.example.com/orders/42",
        "iat": NOW, "ath": ath(ACCESS_TOKEN),
    })
}

/// A valid proof signed by `key`.
pub fn proof(key: &TestKey) -> String {
    mint(key, &header(key), &claims())
}

/// A proof with one header member changed (removed when `value` is null).
pub fn proof_with_header(key: &TestKey, name: &str, value: Value) -> String {
    mint(key, &edit(header(key), name, value), &claims())
}

/// A proof with one claim changed (removed when `value` is null).
pub fn proof_with_claim(key: &TestKey, name: &str, value: Value) -> String {
    mint(key, &header(key), &edit(claims(), name, value))
}

/// A proof from header and payload text, so duplicates survive.
pub fn proof_raw(key: &TestKey, header: &str, payload: &str) -> String {
    mint_raw(&key.enc, key.alg, header, payload)
}

fn edit(mut value: Value, name: &str, new: Value) -> Value {
    if let Value::Object(map) = &mut value {
        match new {
            Value::Null => map.remove(name),
            new => map.insert(name.to_owned(), new),
        };
    }
    value
}

/// A verified access token whose `cnf` is `cnf` (none when null).
pub fn token_with_cnf(cnf: Value) -> VerifiedToken {
    let mut other_claims = serde_json::Map::new();
    if !cnf.is_null() {
        other_claims.insert("cnf".to_owned(), cnf);
    }
    VerifiedToken {
        iss: "https://idp.example/tenant-a".into(),
        sub: Some("user-1".to_owned()),
        aud: vec!["api://scopegate".to_owned()],
        exp: NOW + 300,
        iat: Some(NOW - 10),
        nbf: None,
        jti: None,
        client_id: Some("client-1".to_owned()),
        username: None,
        scopes: ["orders:read"].into_iter().collect(),
        token_type: crate::token::BEARER,
        alg: Some(jsonwebtoken::Algorithm::RS256),
        kid: None,
        other_claims,
        fingerprint: Default::default(),
    }
}

/// A token bound to `key`'s thumbprint.
pub fn bound_to(key: &TestKey) -> VerifiedToken {
    let jkt = jwk_thumbprint(&key.jwk).expect("test key thumbprint");
    token_with_cnf(json!({ "jkt": jkt }))
}

/// Verifies `proof` for [`REQUEST`] and [`ACCESS_TOKEN`] bound to `key`, with a fresh replay
/// cache, the default policy and [`NOW`].
pub fn check(key: &TestKey, proof: &str) -> Result<(), DpopRejection> {
    check_request(key, proof, REQUEST.method, REQUEST.uri)
}

/// [`check`] for another method and URI.
pub fn check_request(
    key: &TestKey,
    proof: &str,
    method: &str,
    uri: &str,
) -> Result<(), DpopRejection> {
    let request = DpopRequest { proof, method, uri };
    verify_proof(
        &request,
        ACCESS_TOKEN,
        &bound_to(key),
        &DpopPolicy::default(),
        &ReplayCache::new(16),
        NOW,
    )
}
