//! Set-level rules: private material and mixed kinds refuse a set, duplicate kids are skipped,
//! usable keys survive beside skipped ones, errors are named, and secrets are never shown.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::jwk_support::*;
use super::support::*;
use crate::token::{KeyError, KeyOrigin, KeySet, Rejection, verify};

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
