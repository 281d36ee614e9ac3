//! DPoP proofs: valid ones pass with every key type; each structural, header, key and signature
//! fault is refused with its own rejection.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::dpop_support::*;
use super::support::{self, b64, mint};
use crate::token::{
    DpopPolicy, DpopRejection, DpopRequest, MAX_PROOF_BYTES, ReplayCache, verify_proof,
};

#[test]
fn dpop_a_valid_proof_is_accepted_with_every_asymmetric_key_type() {
    for key in [
        support::ec("ec"),
        support::ed("ed"),
        support::rsa(0, "rs", Algorithm::RS256),
        support::rsa(1, "ps", Algorithm::PS256),
    ] {
        assert_eq!(check(&key, &proof(&key)), Ok(()), "{:?}", key.alg);
    }
}

#[test]
fn dpop_an_rsa_jwk_without_alg_is_bound_to_the_header_alg() {
    let mut key = support::rsa(1, "ps", Algorithm::PS256);
    key.jwk.as_object_mut().unwrap().remove("alg");
    assert_eq!(check(&key, &proof(&key)), Ok(()));
}

#[test]
fn dpop_an_empty_proof_is_missing() {
    let key = support::ec("ec");
    assert_eq!(check(&key, ""), Err(DpopRejection::Missing));
}

#[test]
fn dpop_an_oversized_proof_is_refused_before_parsing() {
    let key = support::ec("ec");
    let padded = proof_with_claim(&key, "pad", json!("x".repeat(MAX_PROOF_BYTES)));
    assert!(padded.len() > MAX_PROOF_BYTES);
    assert_eq!(check(&key, &padded), Err(DpopRejection::TooLarge));
}

#[test]
fn dpop_a_proof_that_is_not_three_canonical_segments_is_malformed() {
    let key = support::ec("ec");
    let good = proof(&key);
    let (input, signature) = good.rsplit_once('.').unwrap();
    for bad in [
        input.to_owned(),
        format!("{good}.x"),
        format!("{input}.{signature}="),
        format!("{input}.{signature}+"),
        format!("{input}.{signature} "),
    ] {
        assert_eq!(check(&key, &bad), Err(DpopRejection::Malformed), "{bad}");
    }
}

#[test]
fn dpop_a_header_repeating_a_member_is_refused() {
    let key = support::ec("ec");
    let jwk = key.jwk.to_string();
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{jwk}}}"#);
    let proof = proof_raw(&key, &header, &claims().to_string());
    assert_eq!(check(&key, &proof), Err(DpopRejection::BadHeader));
}

#[test]
fn dpop_a_payload_repeating_a_claim_is_refused() {
    let key = support::ec("ec");
    let claims = claims().to_string();
    let payload = claims.replacen('{', r#"{"htm":"GET","#, 1);
    let proof = proof_raw(&key, &header(&key).to_string(), &payload);
    assert_eq!(check(&key, &proof), Err(DpopRejection::BadPayload));
}

#[test]
fn dpop_typ_must_be_dpop_jwt() {
    let key = support::ec("ec");
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!(null),
        json!(["dpop+jwt"]),
    ] {
        let proof = proof_with_header(&key, "typ", typ.clone());
        assert_eq!(check(&key, &proof), Err(DpopRejection::BadTyp), "{typ}");
    }
    // A media type compares case-insensitively, `application/` optional (RFC 7515 §4.1.9).
    for typ in ["DPoP+JWT", "application/dpop+jwt"] {
        let proof = proof_with_header(&key, "typ", json!(typ));
        assert_eq!(check(&key, &proof), Ok(()), "{typ}");
    }
}

#[test]
fn dpop_alg_none_is_refused() {
    let key = support::ec("ec");
    let header = proof_header_json(&key, "none");
    let proof = format!("{}.{}.", b64(header), b64(claims().to_string()));
    assert_eq!(check(&key, &proof), Err(DpopRejection::BadAlg));
}

#[test]
fn dpop_hs256_is_refused_even_when_the_policy_lists_it() {
    let secret = support::hmac("h");
    let proof = mint(&secret, &header(&secret), &claims());
    let policy = DpopPolicy {
        algorithms: vec![Algorithm::HS256, Algorithm::ES256],
        ..DpopPolicy::default()
    };
    let request = DpopRequest {
        proof: &proof,
        ..REQUEST
    };
    let token = token_with_cnf(json!({ "jkt": "unused" }));
    let verdict = verify_proof(
        &request,
        ACCESS_TOKEN,
        &token,
        &policy,
        &ReplayCache::new(4),
        support::NOW,
    );
    assert_eq!(verdict, Err(DpopRejection::BadAlg));
}

#[test]
fn dpop_an_alg_outside_the_policy_is_refused() {
    let key = support::ec("ec");
    let request = DpopRequest {
        proof: &proof(&key),
        ..REQUEST
    };
    let policy = DpopPolicy {
        algorithms: vec![Algorithm::EdDSA],
        ..DpopPolicy::default()
    };
    let verdict = verify_proof(
        &request,
        ACCESS_TOKEN,
        &bound_to(&key),
        &policy,
        &ReplayCache::new(4),
        support::NOW,
    );
    assert_eq!(verdict, Err(DpopRejection::BadAlg));
}

#[test]
fn dpop_a_jwk_with_private_members_is_refused() {
    let key = support::ec("ec");
    for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        let mut jwk = key.jwk.clone();
        jwk[member] = json!(b64([7u8; 32]));
        let proof = proof_with_header(&key, "jwk", jwk);
        assert_eq!(
            check(&key, &proof),
            Err(DpopRejection::PrivateKey),
            "{member}"
        );
    }
}

#[test]
fn dpop_a_missing_or_unusable_jwk_is_refused() {
    let key = support::ec("ec");
    let mut other_alg = key.jwk.clone();
    other_alg["alg"] = json!("ES384");
    let mut short = key.jwk.clone();
    short["x"] = json!(b64([1u8; 31]));
    for jwk in [
        json!(null),
        json!("jwk"),
        other_alg,
        short,
        json!({"kty": "EC"}),
    ] {
        let proof = proof_with_header(&key, "jwk", jwk.clone());
        assert_eq!(check(&key, &proof), Err(DpopRejection::BadJwk), "{jwk}");
    }
}

#[test]
fn dpop_headers_naming_other_keys_or_processing_rules_are_refused() {
    let key = support::ec("ec");
    for (name, value) in [
        ("x5c", json!(["MIIB"])),
        ("jku", json!("https://keys.example/jwks")),
        ("x5u", json!("https://keys.example/cert")),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
    ] {
        let proof = proof_with_header(&key, name, value);
        assert_eq!(check(&key, &proof), Err(DpopRejection::BadHeader), "{name}");
    }
}

#[test]
fn dpop_a_signature_by_another_key_or_over_other_claims_is_refused() {
    let key = support::ec("ec");
    let impostor = support::ec("impostor");
    // The impostor signs but presents the victim's public key.
    let forged = mint(&impostor, &header(&key), &claims());
    assert_eq!(check(&key, &forged), Err(DpopRejection::BadSignature));

    let good = proof(&key);
    let mut parts: Vec<&str> = good.split('.').collect();
    let other_claims = b64(claims().to_string().replace("GET", "PUT"));
    parts[1] = &other_claims;
    assert_eq!(
        check(&key, &parts.join(".")),
        Err(DpopRejection::BadSignature)
    );
}

fn proof_header_json(key: &support::TestKey, alg: &str) -> String {
    let mut header = header(key);
    header["alg"] = json!(alg);
    header.to_string()
}
