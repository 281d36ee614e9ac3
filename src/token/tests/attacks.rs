//! Tokens that must not verify, each refused with the reason that names the attack.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::support::*;
use crate::token::{KeySet, MAX_TOKEN_BYTES, Rejection, VerifiedToken, VerifyPolicy, verify};

fn check(token: &str, keys: &KeySet) -> Result<VerifiedToken, Rejection> {
    verify(token, &policy(), keys, NOW)
}

fn rejection(token: &str, keys: &KeySet) -> Option<Rejection> {
    check(token, keys).err()
}

fn rs256() -> (TestKey, KeySet) {
    let key = rsa(0, "rsa-1", Algorithm::RS256);
    let keys = key_set(&[&key]);
    (key, keys)
}

fn with_header(key: &TestKey, name: &str, value: Value) -> String {
    let mut header = header(key);
    header[name] = value;
    mint(key, &header, &claims())
}

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
fn time_claims_are_checked_with_leeway() {
    let (key, keys) = rs256();
    let at = |name: &str, value: i64| {
        check(
            &mint(&key, &header(&key), &claims_with(name, json!(value))),
            &keys,
        )
        .err()
    };
    assert_eq!(at("exp", NOW - 61), Some(Rejection::Expired));
    assert_eq!(at("exp", NOW - 60), Some(Rejection::Expired));
    assert_eq!(at("exp", NOW - 59), None);
    assert_eq!(at("nbf", NOW + 61), Some(Rejection::NotYetValid));
    assert_eq!(at("nbf", NOW + 60), None);
    assert_eq!(at("iat", NOW + 61), Some(Rejection::IssuedInFuture));
    assert_eq!(at("iat", NOW + 60), None);
}

#[test]
fn exp_is_required_and_time_claims_must_be_numbers() {
    let (key, keys) = rs256();
    let with = |name: &str, value: Value| {
        check(&mint(&key, &header(&key), &claims_with(name, value)), &keys).err()
    };
    assert_eq!(with("exp", Value::Null), Some(Rejection::MissingExp));
    assert_eq!(
        with("exp", json!((NOW + 300).to_string())),
        Some(Rejection::InvalidClaim)
    );
    assert_eq!(with("exp", json!(true)), Some(Rejection::InvalidClaim));
    assert_eq!(with("exp", json!(1e300)), Some(Rejection::InvalidClaim));
    assert_eq!(
        with("nbf", json!("yesterday")),
        Some(Rejection::InvalidClaim)
    );
    assert_eq!(with("iat", json!([NOW])), Some(Rejection::InvalidClaim));
}

#[test]
fn issuer_must_match_exactly() {
    let (key, keys) = rs256();
    let with = |value: Value| {
        check(
            &mint(&key, &header(&key), &claims_with("iss", value)),
            &keys,
        )
        .err()
    };
    assert_eq!(
        with(json!("https://evil.example/tenant-a")),
        Some(Rejection::IssuerMismatch)
    );
    assert_eq!(
        with(json!(format!("{ISSUER}/"))),
        Some(Rejection::IssuerMismatch)
    );
    assert_eq!(
        with(json!(ISSUER.to_uppercase())),
        Some(Rejection::IssuerMismatch)
    );
    assert_eq!(with(Value::Null), Some(Rejection::IssuerMismatch));
    assert_eq!(with(json!([ISSUER])), Some(Rejection::InvalidClaim));
    let no_issuer = VerifyPolicy {
        issuer: String::new(),
        ..policy()
    };
    let empty_iss = mint(&key, &header(&key), &claims_with("iss", json!("")));
    assert_eq!(
        verify(&empty_iss, &no_issuer, &keys, NOW).err(),
        Some(Rejection::IssuerMismatch)
    );
}

#[test]
fn audience_must_name_an_accepted_one() {
    let (key, keys) = rs256();
    let with = |value: Value| {
        check(
            &mint(&key, &header(&key), &claims_with("aud", value)),
            &keys,
        )
        .err()
    };
    assert_eq!(with(Value::Null), Some(Rejection::AudienceMismatch));
    assert_eq!(
        with(json!("api://someone-else")),
        Some(Rejection::AudienceMismatch)
    );
    assert_eq!(with(json!([])), Some(Rejection::AudienceMismatch));
    assert_eq!(with(json!(["api://someone-else", AUDIENCE])), None);
    assert_eq!(with(json!([AUDIENCE, 7])), Some(Rejection::InvalidClaim));
    assert_eq!(
        with(json!({ "aud": AUDIENCE })),
        Some(Rejection::InvalidClaim)
    );
    let no_audience = VerifyPolicy {
        audiences: Vec::new(),
        ..policy()
    };
    assert_eq!(
        verify(&token(&key), &no_audience, &keys, NOW).err(),
        Some(Rejection::NoAudienceConfigured)
    );
}

#[test]
fn tampered_or_truncated_tokens_are_refused() {
    let (key, keys) = rs256();
    let good = token(&key);
    let parts: Vec<&str> = good.split('.').collect();
    let escalated = b64(claims_with("sub", json!("admin")).to_string());
    let tampered = format!("{}.{escalated}.{}", parts[0], parts[2]);
    assert_eq!(rejection(&tampered, &keys), Some(Rejection::BadSignature));
    let signature = crate::token::jws::decode_segment(parts[2]).unwrap_or_default();
    let short_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        b64(&signature[..signature.len() - 3])
    );
    assert_eq!(
        rejection(&short_signature, &keys),
        Some(Rejection::BadSignature)
    );
    let empty_signature = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(
        rejection(&empty_signature, &keys),
        Some(Rejection::BadSignature)
    );
    let two = format!("{}.{}", parts[0], parts[1]);
    for malformed in [two.as_str(), "", "abc", &format!("{good}.")] {
        assert_eq!(
            rejection(malformed, &keys),
            Some(Rejection::Malformed),
            "{malformed:.20}"
        );
    }
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let (key, keys) = rs256();
    let padded = |len: usize| {
        mint(
            &key,
            &header(&key),
            &claims_with("pad", json!("x".repeat(len))),
        )
    };
    let near = padded(11_500);
    assert!(
        near.len() <= MAX_TOKEN_BYTES && check(&near, &keys).is_ok(),
        "{}",
        near.len()
    );
    let over = padded(12_500);
    assert!(over.len() > MAX_TOKEN_BYTES);
    assert_eq!(rejection(&over, &keys), Some(Rejection::TooLarge));
    assert_eq!(
        rejection(&"a".repeat(MAX_TOKEN_BYTES + 1), &keys),
        Some(Rejection::TooLarge)
    );
}

#[test]
fn only_canonical_unpadded_base64url_is_accepted() {
    let (key, keys) = rs256();
    let good = token(&key);
    let parts: Vec<&str> = good.split('.').collect();
    // An RS256 signature is 256 bytes: 342 characters, the last one with 4 unused bits.
    let signature = parts[2];
    assert_eq!(signature.len() % 4, 2);
    let last = signature.chars().last().unwrap_or('A');
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.find(last).unwrap_or(0);
    let sloppy_last = alphabet.chars().nth(value | 1).unwrap_or('B');
    let sloppy = format!(
        "{}.{}.{}{sloppy_last}",
        parts[0],
        parts[1],
        &signature[..signature.len() - 1]
    );
    let padded = format!("{}.{}.{signature}==", parts[0], parts[1]);
    let spaced = format!("{} .{}.{signature}", parts[0], parts[1]);
    let standard_alphabet = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        signature.replace('-', "+").replace('_', "/")
    );
    for bad in [
        sloppy,
        padded,
        spaced,
        format!("{}=.{}.{signature}", parts[0], parts[1]),
    ] {
        assert_eq!(
            rejection(&bad, &keys),
            Some(Rejection::BadEncoding),
            "{bad:.30}"
        );
    }
    if standard_alphabet != good {
        assert_eq!(
            rejection(&standard_alphabet, &keys),
            Some(Rejection::BadEncoding)
        );
    }
}

#[test]
fn duplicate_members_in_header_or_payload_are_refused() {
    let (key, keys) = rs256();
    let claims = claims().to_string();
    let dup_alg = r#"{"typ":"at+jwt","alg":"RS256","kid":"rsa-1","alg":"none"}"#;
    assert_eq!(
        rejection(&mint_raw(&key.enc, key.alg, dup_alg, &claims), &keys),
        Some(Rejection::BadHeader)
    );
    let dup_kid = r#"{"typ":"at+jwt","alg":"RS256","kid":"rsa-1","kid":"rsa-1"}"#;
    assert_eq!(
        rejection(&mint_raw(&key.enc, key.alg, dup_kid, &claims), &keys),
        Some(Rejection::BadHeader)
    );
    let header = header(&key).to_string();
    let dup_sub = format!(r#"{},"sub":"admin"}}"#, claims.trim_end_matches('}'));
    assert_eq!(
        rejection(&mint_raw(&key.enc, key.alg, &header, &dup_sub), &keys),
        Some(Rejection::BadPayload)
    );
    let nested = format!(
        r#"{},"ctx":{{"role":"user","role":"admin"}}}}"#,
        claims.trim_end_matches('}')
    );
    assert_eq!(
        rejection(&mint_raw(&key.enc, key.alg, &header, &nested), &keys),
        Some(Rejection::BadPayload)
    );
}

#[test]
fn payload_must_be_a_json_object_with_well_typed_claims() {
    let (key, keys) = rs256();
    let header_text = header(&key).to_string();
    for payload in ["", "[1,2]", "\"claims\"", "{", "null"] {
        let token = mint_raw(&key.enc, key.alg, &header_text, payload);
        assert_eq!(
            rejection(&token, &keys),
            Some(Rejection::BadPayload),
            "{payload}"
        );
    }
    for (name, value) in [
        ("sub", json!(42)),
        ("scope", json!(["openid"])),
        ("client_id", json!(1)),
    ] {
        let token = mint(&key, &header(&key), &claims_with(name, value));
        assert_eq!(
            rejection(&token, &keys),
            Some(Rejection::InvalidClaim),
            "{name}"
        );
    }
    let mut scp_claims = claims_with("scope", Value::Null);
    scp_claims["scp"] = json!(["openid", 1]);
    assert_eq!(
        rejection(&mint(&key, &header(&key), &scp_claims), &keys),
        Some(Rejection::InvalidClaim)
    );
}
