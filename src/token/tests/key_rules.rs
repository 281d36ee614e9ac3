//! How JWKs become keys: one algorithm per key, `use`/`key_ops`, secret lengths, private material,
//! mixed and duplicate sets, and a redacted view that never shows a secret.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::support::*;
use crate::token::{KeyError, KeyOrigin, KeySet, Rejection, SkipReason, verify};

fn parse(keys: &[Value], origin: KeyOrigin) -> Result<KeySet, KeyError> {
    KeySet::parse(&json!({ "keys": keys }).to_string(), origin)
}

fn only_skip_reason(jwk: Value, origin: KeyOrigin) -> SkipReason {
    match parse(&[jwk], origin) {
        Err(KeyError::NoUsableKeys { mut skipped }) if skipped.len() == 1 => {
            skipped.remove(0).reason
        }
        other => panic!("expected one skipped key, got {other:?}"),
    }
}

fn edit(mut jwk: Value, name: &str, value: Value) -> Value {
    match value {
        Value::Null => jwk
            .as_object_mut()
            .map(|o| o.remove(name))
            .unwrap_or_default(),
        value => Some(std::mem::replace(&mut jwk[name], value)),
    };
    jwk
}

#[test]
fn private_key_parameters_refuse_the_whole_set() {
    let rsa = rsa(0, "r", Algorithm::RS256).jwk;
    let good = ec("e").jwk;
    for (jwk, member) in [
        (rsa.clone(), "d"),
        (rsa.clone(), "p"),
        (rsa, "qi"),
        (ed("o").jwk, "d"),
        (good.clone(), "d"),
    ] {
        let leaked = edit(jwk, member, json!("AQAB"));
        let error = parse(&[good.clone(), leaked], KeyOrigin::Inline).err();
        assert!(
            matches!(error, Some(KeyError::PrivateKeyMaterial { index: 1, .. })),
            "{member}: {error:?}"
        );
    }
}

#[test]
fn hmac_secrets_never_share_a_set_with_public_keys() {
    let error = parse(&[hmac("h").jwk, ec("e").jwk], KeyOrigin::Inline).err();
    assert_eq!(error, Some(KeyError::MixedKeyKinds));
}

#[test]
fn hmac_secrets_are_accepted_only_inline_and_long_enough() {
    let secret = hmac("h").jwk;
    assert!(parse(std::slice::from_ref(&secret), KeyOrigin::Inline).is_ok());
    assert_eq!(
        only_skip_reason(secret.clone(), KeyOrigin::Published),
        SkipReason::SymmetricNotAllowed
    );
    let short = edit(secret.clone(), "k", json!(b64([7u8; 31])));
    assert!(matches!(
        only_skip_reason(short, KeyOrigin::Inline),
        SkipReason::SecretTooShort {
            len: 31,
            min: 32,
            ..
        }
    ));
    let empty = edit(secret.clone(), "k", json!(""));
    assert!(matches!(
        only_skip_reason(empty, KeyOrigin::Inline),
        SkipReason::SecretTooShort { len: 0, .. }
    ));
    let hs384 = edit(secret, "alg", json!("HS384"));
    assert!(matches!(
        only_skip_reason(hs384, KeyOrigin::Inline),
        SkipReason::SecretTooShort { min: 48, .. }
    ));
}

#[test]
fn use_and_key_ops_must_allow_verification() {
    let jwk = ec("e").jwk;
    assert!(
        parse(
            &[edit(jwk.clone(), "use", json!("sig"))],
            KeyOrigin::Published
        )
        .is_ok()
    );
    assert!(
        parse(
            &[edit(jwk.clone(), "key_ops", json!(["verify"]))],
            KeyOrigin::Published
        )
        .is_ok()
    );
    let enc = edit(jwk.clone(), "use", json!("enc"));
    assert_eq!(
        only_skip_reason(enc, KeyOrigin::Published),
        SkipReason::NotForSignatures("enc".into())
    );
    let sign_only = edit(jwk.clone(), "key_ops", json!(["sign"]));
    assert_eq!(
        only_skip_reason(sign_only, KeyOrigin::Published),
        SkipReason::KeyOpsWithoutVerify
    );
    let not_a_list = edit(jwk, "key_ops", json!("verify"));
    assert_eq!(
        only_skip_reason(not_a_list, KeyOrigin::Published),
        SkipReason::WrongType("key_ops")
    );
}

#[test]
fn rsa_without_alg_verifies_rs256_only() {
    let rs = rsa(0, "r", Algorithm::RS256);
    let keys = parse(
        &[edit(rs.jwk.clone(), "alg", Value::Null)],
        KeyOrigin::Published,
    )
    .expect("set");
    assert_eq!(keys.keys()[0].algorithm(), Algorithm::RS256);
    assert!(verify(&token(&rs), &policy(), &keys, NOW).is_ok());
    let ps = rsa(0, "r", Algorithm::PS256);
    assert_eq!(
        verify(&token(&ps), &policy(), &keys, NOW).err(),
        Some(Rejection::KeyAlgorithmMismatch)
    );
}

#[test]
fn algorithm_must_fit_the_key() {
    let p256 = ec("e").jwk;
    assert_eq!(
        only_skip_reason(
            edit(p256.clone(), "alg", json!("ES384")),
            KeyOrigin::Published
        ),
        SkipReason::UnsupportedAlgorithm("ES384".into())
    );
    assert_eq!(
        only_skip_reason(
            edit(p256.clone(), "alg", json!("HS256")),
            KeyOrigin::Published
        ),
        SkipReason::UnsupportedAlgorithm("HS256".into())
    );
    let rsa = rsa(0, "r", Algorithm::RS256).jwk;
    assert_eq!(
        only_skip_reason(edit(rsa, "alg", json!("RSA-OAEP")), KeyOrigin::Published),
        SkipReason::UnsupportedAlgorithm("RSA-OAEP".into())
    );
    let p521 = edit(p256.clone(), "crv", json!("P-521"));
    assert_eq!(
        only_skip_reason(p521, KeyOrigin::Published),
        SkipReason::UnsupportedCurve("P-521".into())
    );
    let wrong_length = edit(p256.clone(), "crv", json!("P-384"));
    let wrong_length = edit(wrong_length, "alg", Value::Null);
    assert_eq!(
        only_skip_reason(wrong_length, KeyOrigin::Published),
        SkipReason::CoordinateLength
    );
    let ed448 = edit(ed("o").jwk, "crv", json!("Ed448"));
    assert_eq!(
        only_skip_reason(ed448, KeyOrigin::Published),
        SkipReason::UnsupportedCurve("Ed448".into())
    );
    let unknown = edit(p256, "kty", json!("PQC"));
    assert_eq!(
        only_skip_reason(unknown, KeyOrigin::Published),
        SkipReason::UnsupportedKeyType("PQC".into())
    );
}

#[test]
fn malformed_public_keys_are_skipped() {
    let p256 = ec("e").jwk;
    let off_curve = edit(p256.clone(), "y", json!(b64([1u8; 32])));
    assert_eq!(
        only_skip_reason(off_curve, KeyOrigin::Published),
        SkipReason::RejectedByBackend
    );
    let padded = edit(
        p256.clone(),
        "x",
        json!(format!("{}=", p256["x"].as_str().unwrap_or_default())),
    );
    assert_eq!(
        only_skip_reason(padded, KeyOrigin::Published),
        SkipReason::BadBase64("x")
    );
    let rsa = rsa(0, "r", Algorithm::RS256).jwk;
    let even = edit(rsa.clone(), "e", json!(b64([1u8, 0])));
    assert_eq!(
        only_skip_reason(even, KeyOrigin::Published),
        SkipReason::RsaExponent
    );
    let small = edit(rsa.clone(), "n", json!(b64([0xC3u8; 128])));
    assert_eq!(
        only_skip_reason(small, KeyOrigin::Published),
        SkipReason::RsaKeySize(1024)
    );
    assert_eq!(
        only_skip_reason(edit(rsa, "n", Value::Null), KeyOrigin::Published),
        SkipReason::MissingMember("n")
    );
    assert_eq!(
        only_skip_reason(json!("not a key"), KeyOrigin::Published),
        SkipReason::NotAnObject
    );
}

#[test]
fn duplicate_kids_for_one_key_type_are_all_skipped_and_reported() {
    let a = ec("same");
    let b = ec("same");
    let c = ec("other");
    let keys = parse(&[a.jwk.clone(), c.jwk, b.jwk.clone()], KeyOrigin::Published).expect("set");
    assert_eq!(keys.keys().len(), 1);
    let reported: Vec<(usize, Option<&str>)> = keys
        .skipped()
        .iter()
        .map(|s| (s.index, s.kid.as_deref()))
        .collect();
    assert_eq!(reported, [(0, Some("same")), (2, Some("same"))]);
    assert_eq!(
        verify(&token(&a), &policy(), &keys, NOW).err(),
        Some(Rejection::UnknownKid)
    );
    assert!(matches!(
        parse(&[a.jwk.clone(), b.jwk], KeyOrigin::Published),
        Err(KeyError::NoUsableKeys { .. })
    ));
    // Even when the twin is unusable, which key the issuer meant is unknown.
    let broken_twin = edit(ec("same").jwk, "x", json!("!"));
    assert!(matches!(
        parse(&[a.jwk.clone(), broken_twin], KeyOrigin::Published),
        Err(KeyError::NoUsableKeys { .. })
    ));
    // RFC 7517 §4.5: keys of different types may share a kid; the algorithm tells them apart.
    let rsa = rsa(0, "same", Algorithm::RS256);
    let keys = parse(&[a.jwk.clone(), rsa.jwk.clone()], KeyOrigin::Published).expect("set");
    assert!(verify(&token(&a), &policy(), &keys, NOW).is_ok());
    assert!(verify(&token(&rsa), &policy(), &keys, NOW).is_ok());
}

#[test]
fn usable_keys_survive_beside_skipped_ones() {
    let good = ec("good");
    let keys = parse(
        &[edit(ec("bad").jwk, "use", json!("enc")), good.jwk.clone()],
        KeyOrigin::Published,
    )
    .expect("set");
    assert_eq!(keys.keys().len(), 1);
    assert_eq!(keys.skipped()[0].index, 0);
    assert!(keys.has_kid("good") && !keys.has_kid("bad"));
    assert!(verify(&token(&good), &policy(), &keys, NOW).is_ok());
}

#[test]
fn set_level_errors_are_named() {
    assert_eq!(
        KeySet::parse("not json", KeyOrigin::Inline).err(),
        Some(KeyError::InvalidJson)
    );
    let repeated = r#"{"keys":[],"keys":[]}"#;
    assert_eq!(
        KeySet::parse(repeated, KeyOrigin::Inline).err(),
        Some(KeyError::InvalidJson)
    );
    assert_eq!(
        KeySet::parse(r#"{"kty":"EC"}"#, KeyOrigin::Inline).err(),
        Some(KeyError::NotAKeySet)
    );
    assert_eq!(
        KeySet::parse(r#"{"keys":{}}"#, KeyOrigin::Inline).err(),
        Some(KeyError::NotAKeySet)
    );
    let empty = KeySet::parse(r#"{"keys":[]}"#, KeyOrigin::Inline).err();
    assert_eq!(
        empty,
        Some(KeyError::NoUsableKeys {
            skipped: Vec::new()
        })
    );
    let many = vec![ec("e").jwk; 101];
    assert_eq!(
        parse(&many, KeyOrigin::Inline).err(),
        Some(KeyError::TooManyKeys)
    );
    let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(1024 * 1024));
    assert_eq!(
        KeySet::parse(&huge, KeyOrigin::Inline).err(),
        Some(KeyError::TooLarge)
    );
    let message = parse(&[edit(ec("e").jwk, "use", json!("enc"))], KeyOrigin::Inline)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some(r#"the JWK set has no usable key: key #0 (kid Some("e")): "use" is "enc", not "sig""#)
    );
}

#[test]
fn redacted_view_and_debug_output_never_show_a_secret() {
    let secret = hmac("h");
    let k = secret.jwk["k"].as_str().unwrap_or_default().to_owned();
    assert!(k.len() >= 43);
    let keys = key_set(&[&secret]);
    let redacted = keys.redacted_json();
    assert_eq!(
        redacted,
        json!({ "keys": [{ "kty": "oct", "kid": "h", "alg": "HS256" }] })
    );
    let debug = format!("{keys:?}");
    assert!(!debug.contains(&k) && debug.contains("HS256"), "{debug}");

    let rsa = rsa(0, "r", Algorithm::PS256);
    let public = key_set(&[&rsa]).redacted_json();
    let shown = &public["keys"][0];
    assert_eq!(
        (
            shown["kty"].as_str(),
            shown["alg"].as_str(),
            shown["kid"].as_str()
        ),
        (Some("RSA"), Some("PS256"), Some("r"))
    );
    assert_eq!(shown["n"], rsa.jwk["n"]);
    assert_eq!(shown["e"], rsa.jwk["e"]);
}
