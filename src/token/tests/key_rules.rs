//! How one JWK becomes a key: one algorithm per key, `use`/`key_ops`, secret lengths and
//! malformed public keys.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::jwk_support::*;
use super::support::*;
use crate::token::{KeyOrigin, Rejection, SkipReason, verify};

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
