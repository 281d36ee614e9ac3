//! DPoP proof claims: the request (`htm`, `htu`), the clock (`iat`), replay (`jti`), the access
//! token (`ath`) and the token's key binding (`cnf.jkt`), each refused with its own rejection.

use serde_json::json;

use super::dpop_support::*;
use super::support::{self, NOW};
use crate::token::{
    DpopPolicy, DpopRejection, DpopRequest, MAX_JTI_BYTES, ReplayCache, jwk_thumbprint,
    verify_proof,
};

#[test]
fn dpop_htm_must_be_the_request_method_exactly() {
    let key = support::ec("ec");
    let proof = proof(&key);
    for method in ["POST", "get", "GET "] {
        let verdict = check_request(&key, &proof, method, REQUEST.uri);
        assert_eq!(verdict, Err(DpopRejection::HtmMismatch), "{method}");
    }
}

#[test]
fn dpop_htu_must_name_the_request_target() {
    let key = support::ec("ec");
    let proof = proof(&key);
    for uri in [
        "https://api.example.com/orders/43",
        "https://evil.example.com/orders/42",
        "http://api.example.com/orders/42",
        "https://api.example.com:8443/orders/42",
    ] {
        let verdict = check_request(&key, &proof, "GET", uri);
        assert_eq!(verdict, Err(DpopRejection::HtuMismatch), "{uri}");
    }
}

/// RFC 9449 §4.3 check 9: `htu` is compared "ignoring any query and fragment parts", of the proof
/// and of the request alike; scheme, host and default port are normalised.
#[test]
fn dpop_htu_ignores_query_and_fragment_and_normalises_scheme_host_and_port() {
    let key = support::ec("ec");
    for htu in [
        "https://api.example.com/orders/42?page=7",
        "https://api.example.com/orders/42#top",
        "HTTPS://API.EXAMPLE.COM:443/orders/42",
    ] {
        let proof = proof_with_claim(&key, "htu", json!(htu));
        assert_eq!(check(&key, &proof), Ok(()), "{htu}");
    }
    let other_query = check_request(
        &key,
        &proof(&key),
        "GET",
        "https://api.example.com/orders/42?page=2&sort=asc",
    );
    assert_eq!(other_query, Ok(()));
}

#[test]
fn dpop_iat_must_be_within_the_window_either_way() {
    let key = support::ec("ec");
    for iat in [NOW - 61, NOW + 61, NOW - 3600, 0] {
        let proof = proof_with_claim(&key, "iat", json!(iat));
        assert_eq!(
            check(&key, &proof),
            Err(DpopRejection::IatOutOfWindow),
            "{iat}"
        );
    }
    for iat in [NOW - 60, NOW + 60] {
        let proof = proof_with_claim(&key, "iat", json!(iat));
        assert_eq!(check(&key, &proof), Ok(()), "{iat}");
    }
}

#[test]
fn dpop_required_claims_must_be_present_and_typed() {
    let key = support::ec("ec");
    for (name, value) in [
        ("htm", json!(null)),
        ("htu", json!(null)),
        ("htu", json!(["https://api.example.com/orders/42"])),
        ("iat", json!(null)),
        ("iat", json!("1800000000")),
        ("jti", json!(null)),
        ("jti", json!("")),
        ("jti", json!(42)),
        ("ath", json!(null)),
    ] {
        let proof = proof_with_claim(&key, name, value.clone());
        assert_eq!(
            check(&key, &proof),
            Err(DpopRejection::InvalidClaim),
            "{name}: {value}"
        );
    }
}

#[test]
fn dpop_jti_is_bounded() {
    let key = support::ec("ec");
    let long = proof_with_claim(&key, "jti", json!("j".repeat(MAX_JTI_BYTES + 1)));
    assert_eq!(check(&key, &long), Err(DpopRejection::JtiTooLong));
    let longest = proof_with_claim(&key, "jti", json!("j".repeat(MAX_JTI_BYTES)));
    assert_eq!(check(&key, &longest), Ok(()));
}

#[test]
fn dpop_ath_must_hash_the_presented_access_token() {
    let key = support::ec("ec");
    let other = proof_with_claim(&key, "ath", json!(ath("another-token")));
    assert_eq!(check(&key, &other), Err(DpopRejection::AthMismatch));
    let plain = proof_with_claim(&key, "ath", json!(ACCESS_TOKEN));
    assert_eq!(check(&key, &plain), Err(DpopRejection::AthMismatch));
}

#[test]
fn dpop_the_proof_key_must_be_the_key_the_token_is_bound_to() {
    let key = support::ec("ec");
    let other = support::ec("other");
    let proof = proof(&key);
    let request = DpopRequest {
        proof: &proof,
        ..REQUEST
    };
    let verdict = |token| {
        verify_proof(
            &request,
            ACCESS_TOKEN,
            &token,
            &DpopPolicy::default(),
            &ReplayCache::new(4),
            NOW,
        )
    };
    assert_eq!(verdict(bound_to(&other)), Err(DpopRejection::JktMismatch));
    assert_eq!(
        verdict(token_with_cnf(json!({ "jkt": 7 }))),
        Err(DpopRejection::JktMismatch)
    );
    assert_eq!(
        verdict(token_with_cnf(json!({ "x5t#S256": "abc" }))),
        Err(DpopRejection::NotBound)
    );
    assert_eq!(
        verdict(token_with_cnf(json!(null))),
        Err(DpopRejection::NotBound)
    );
    assert_eq!(verdict(bound_to(&key)), Ok(()));
}

#[test]
fn dpop_a_proof_is_accepted_once() {
    let key = support::ec("ec");
    let replay = ReplayCache::new(16);
    let verdict = |proof: &str| {
        let request = DpopRequest { proof, ..REQUEST };
        let policy = DpopPolicy::default();
        verify_proof(
            &request,
            ACCESS_TOKEN,
            &bound_to(&key),
            &policy,
            &replay,
            NOW,
        )
    };
    let first = proof(&key);
    assert_eq!(verdict(&first), Ok(()));
    assert_eq!(verdict(&first), Err(DpopRejection::Replayed));
    // Same jti, freshly signed: still the same proof identity.
    let again = proof_with_claim(&key, "iat", json!(NOW - 1));
    assert_eq!(verdict(&again), Err(DpopRejection::Replayed));
    let next = proof_with_claim(&key, "jti", json!("proof-2"));
    assert_eq!(verdict(&next), Ok(()));
}

#[test]
fn dpop_a_refused_proof_is_not_remembered() {
    let key = support::ec("ec");
    let replay = ReplayCache::new(16);
    let verdict = |proof: &str, access_token: &str| {
        let request = DpopRequest { proof, ..REQUEST };
        let policy = DpopPolicy::default();
        verify_proof(
            &request,
            access_token,
            &bound_to(&key),
            &policy,
            &replay,
            NOW,
        )
    };
    let proof = proof(&key);
    assert_eq!(verdict(&proof, "stolen"), Err(DpopRejection::AthMismatch));
    assert!(replay.is_empty());
    assert_eq!(verdict(&proof, ACCESS_TOKEN), Ok(()));
}

#[test]
fn dpop_a_full_replay_cache_refuses_new_proofs() {
    let key = support::ec("ec");
    let replay = ReplayCache::new(1);
    let verdict = |proof: &str| {
        let request = DpopRequest { proof, ..REQUEST };
        let policy = DpopPolicy::default();
        verify_proof(
            &request,
            ACCESS_TOKEN,
            &bound_to(&key),
            &policy,
            &replay,
            NOW,
        )
    };
    assert_eq!(verdict(&proof(&key)), Ok(()));
    let next = proof_with_claim(&key, "jti", json!("proof-2"));
    assert_eq!(verdict(&next), Err(DpopRejection::ReplayCacheFull));
}

#[test]
fn dpop_binding_reads_cnf_jkt() {
    let key = support::ec("ec");
    let jkt = jwk_thumbprint(&key.jwk).unwrap();
    assert_eq!(bound_to(&key).dpop_binding(), Some(jkt.as_str()));
    assert_eq!(token_with_cnf(json!({ "jkt": 1 })).dpop_binding(), Some(""));
    assert_eq!(
        token_with_cnf(json!({ "x5t#S256": "a" })).dpop_binding(),
        None
    );
    assert_eq!(token_with_cnf(json!(null)).dpop_binding(), None);
}
