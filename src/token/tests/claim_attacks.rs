//! Attacks on the claims and payload, each refused with the reason that names it: time claims,
//! issuer, audience, duplicate members and mistyped claims.

use serde_json::{Value, json};

use super::attack_support::*;
use super::support::*;
use crate::token::{Rejection, VerifyPolicy, verify};

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
        issuer: "".into(),
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
