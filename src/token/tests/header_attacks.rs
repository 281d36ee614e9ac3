//! Attacks on the JWS layer, each refused with the reason that names it: `alg` games, key
//! confusion, forbidden header parameters and `typ`.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::attack_support::*;
use super::support::*;
use crate::token::{Rejection, VerifyPolicy, verify};

#[test]
fn valid_tokens_of_every_supported_algorithm_verify() {
    use Algorithm::*;
    let mut keys: Vec<TestKey> = [RS256, RS384, RS512, PS256, PS384, PS512]
        .iter()
        .map(|alg| rsa(0, &alg_name(*alg), *alg))
        .collect();
    keys.extend([ec("ec-1"), ed("ed-1")]);
    for key in &keys {
        assert!(
            check(&token(key), &key_set(&[key])).is_ok(),
            "{:?}",
            key.alg
        );
    }
    let secret = hmac("hs-1");
    assert!(check(&token(&secret), &key_set(&[&secret])).is_ok());
}

#[test]
fn alg_none_is_refused_in_every_spelling() {
    let (key, keys) = rs256();
    let real_signature = token(&key)
        .rsplit('.')
        .next()
        .map(str::to_owned)
        .unwrap_or_default();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "typ": "at+jwt", "alg": alg, "kid": "rsa-1" });
        let unsigned = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
        assert_eq!(
            rejection(&unsigned, &keys),
            Some(Rejection::AlgorithmNotAllowed),
            "{alg}"
        );
        let resigned = format!("{unsigned}{real_signature}");
        assert_eq!(
            rejection(&resigned, &keys),
            Some(Rejection::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn algorithm_names_are_case_sensitive_and_allow_listed() {
    let (key, keys) = rs256();
    assert_eq!(
        rejection(&with_header(&key, "alg", json!("rs256")), &keys),
        Some(Rejection::AlgorithmNotAllowed)
    );
    assert_eq!(
        rejection(&with_header(&key, "alg", json!(256)), &keys),
        Some(Rejection::BadHeader)
    );
    let only_es256 = VerifyPolicy {
        algorithms: vec![Algorithm::ES256],
        ..policy()
    };
    assert_eq!(
        verify(&token(&key), &only_es256, &keys, NOW).err(),
        Some(Rejection::AlgorithmNotAllowed)
    );
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let (key, keys) = rs256();
    let n = key.jwk["n"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    for secret in [rsa_public_der(0), key.jwk.to_string().into_bytes(), n] {
        let forged = EncodingKey::from_secret(&secret);
        let with_kid = json!({ "typ": "at+jwt", "alg": "HS256", "kid": "rsa-1" }).to_string();
        let token = mint_raw(&forged, Algorithm::HS256, &with_kid, &claims().to_string());
        assert_eq!(
            rejection(&token, &keys),
            Some(Rejection::KeyAlgorithmMismatch)
        );
        let no_kid = json!({ "typ": "at+jwt", "alg": "HS256" }).to_string();
        let token = mint_raw(&forged, Algorithm::HS256, &no_kid, &claims().to_string());
        assert_eq!(rejection(&token, &keys), Some(Rejection::NoMatchingKey));
    }
}

#[test]
fn a_key_verifies_only_its_own_algorithm() {
    // The same RSA key, declared RS256, cannot verify a PS256 signature it made.
    let declared_rs256 = rsa(0, "rsa-1", Algorithm::RS256);
    let keys = key_set(&[&declared_rs256]);
    let ps256 = rsa(0, "rsa-1", Algorithm::PS256);
    assert_eq!(
        rejection(&token(&ps256), &keys),
        Some(Rejection::KeyAlgorithmMismatch)
    );
}

#[test]
fn kid_selects_the_key_and_an_unknown_kid_is_named() {
    let a = rsa(0, "key-a", Algorithm::RS256);
    let b = rsa(1, "key-b", Algorithm::RS256);
    let keys = key_set(&[&a, &b]);
    assert!(check(&token(&a), &keys).is_ok());
    assert!(check(&token(&b), &keys).is_ok());
    // Signed by a, claiming to be b.
    assert_eq!(
        rejection(&with_header(&a, "kid", json!("key-b")), &keys),
        Some(Rejection::BadSignature)
    );
    assert_eq!(
        rejection(&with_header(&a, "kid", json!("key-z")), &keys),
        Some(Rejection::UnknownKid)
    );
    assert_eq!(
        rejection(&with_header(&a, "kid", json!(7)), &keys),
        Some(Rejection::BadHeader)
    );
}

#[test]
fn without_kid_the_key_must_be_unambiguous() {
    let mut a = ec("a");
    let mut b = ec("b");
    a.jwk.as_object_mut().map(|j| j.remove("kid"));
    b.jwk.as_object_mut().map(|j| j.remove("kid"));
    let no_kid = json!({ "typ": "at+jwt", "alg": "ES256" });
    let token = mint(&a, &no_kid, &claims());
    assert!(check(&token, &key_set(&[&a])).is_ok());
    assert_eq!(
        rejection(&token, &key_set(&[&a, &b])),
        Some(Rejection::AmbiguousKey)
    );
    assert_eq!(
        rejection(&token, &key_set(&[&rsa(0, "r", Algorithm::RS256)])),
        Some(Rejection::NoMatchingKey)
    );
}

#[test]
fn headers_that_choose_their_own_key_or_processing_are_forbidden() {
    let (key, keys) = rs256();
    let attacker = ec("rsa-1");
    let forbidden = [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", attacker.jwk.clone()),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUQ"])),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
    ];
    for (name, value) in forbidden {
        let token = with_header(&key, name, value.clone());
        assert_eq!(
            rejection(&token, &keys),
            Some(Rejection::ForbiddenHeader),
            "{name}"
        );
    }
    // The embedded-JWK attack proper: signed with the attacker's key it embeds.
    let mut header = header(&attacker);
    header["jwk"] = attacker.jwk.clone();
    assert_eq!(
        rejection(&mint(&attacker, &header, &claims()), &keys),
        Some(Rejection::ForbiddenHeader)
    );
}

#[test]
fn typ_must_be_at_jwt_when_required() {
    let (key, keys) = rs256();
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
    ] {
        assert!(
            check(&with_header(&key, "typ", json!(typ)), &keys).is_ok(),
            "{typ}"
        );
    }
    for typ in ["JWT", "jwt", "at+jwt ", "application/jwt", "id_token+jwt"] {
        assert_eq!(
            rejection(&with_header(&key, "typ", json!(typ)), &keys),
            Some(Rejection::WrongType),
            "{typ}"
        );
    }
    let untyped = mint(&key, &json!({ "alg": "RS256", "kid": "rsa-1" }), &claims());
    assert_eq!(rejection(&untyped, &keys), Some(Rejection::WrongType));
    assert_eq!(
        rejection(&with_header(&key, "typ", json!(1)), &keys),
        Some(Rejection::BadHeader)
    );
    let lenient = VerifyPolicy {
        require_at_jwt_typ: false,
        ..policy()
    };
    assert!(
        verify(
            &with_header(&key, "typ", json!("JWT")),
            &lenient,
            &keys,
            NOW
        )
        .is_ok()
    );
    assert!(verify(&untyped, &lenient, &keys, NOW).is_ok());
}

#[test]
fn a_relaxed_typ_still_refuses_id_token_shaped_tokens() {
    let (key, keys) = rs256();
    let relaxed = VerifyPolicy {
        require_at_jwt_typ: false,
        ..policy()
    };
    let jwt_typed = |claims: &serde_json::Value| {
        let mut header = header(&key);
        header["typ"] = json!("JWT");
        verify(&mint(&key, &header, claims), &relaxed, &keys, NOW)
    };
    // What Keycloak, Auth0 and Entra issue as access tokens still verifies.
    assert!(jwt_typed(&claims()).is_ok());
    // ID-token shapes (OpenID Connect Core §2, §3.1.3.6, §3.2.2.10) do not.
    for (name, value) in [
        ("nonce", json!("n-0S6_WzA2Mj")),
        ("at_hash", json!("77QmUPtjPfzWtF2AnpK9RQ")),
    ] {
        assert_eq!(
            jwt_typed(&claims_with(name, value)).err(),
            Some(Rejection::IdTokenShaped),
            "{name}"
        );
    }
    // Its audience is the client it was issued to, alongside an accepted audience...
    let to_client = claims_with("aud", json!([AUDIENCE, "client-1"]));
    assert_eq!(jwt_typed(&to_client).err(), Some(Rejection::IdTokenShaped));
    let mut azp_only = claims_with("client_id", serde_json::Value::Null);
    azp_only["azp"] = json!("client-1");
    azp_only["aud"] = json!([AUDIENCE, "client-1"]);
    assert_eq!(jwt_typed(&azp_only).err(), Some(Rejection::IdTokenShaped));
    // ...unless the tenant accepts that very value as an audience (the API is its own client).
    let own_client = VerifyPolicy {
        audiences: vec!["client-1".to_owned()],
        ..relaxed.clone()
    };
    let mut header = header(&key);
    header["typ"] = json!("JWT");
    let token = mint(&key, &header, &claims_with("aud", json!("client-1")));
    assert!(verify(&token, &own_client, &keys, NOW).is_ok());
}
