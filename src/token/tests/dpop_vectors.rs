//! Published vectors: the RFC 7638 §3.1 thumbprint, RFC 9449's example key (§6.1), its token
//! request proof (§4.1) and its protected-resource proof with `ath` (§7.1); and the rejection
//! labels.

use serde_json::json;

use crate::token::dpop::{check_request_claims, verify_signed_proof};
use crate::token::{
    DpopPolicy, DpopRejection, DpopRequest, ReplayCache, jwk_thumbprint, verify_proof,
};

/// RFC 7638 §3.1 (the RFC 7517 Appendix A.1 key).
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// RFC 9449 §4.1 Figure 3's key and its thumbprint, the `cnf.jkt` of §6.1.
const RFC9449_X: &str = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
const RFC9449_Y: &str = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";
const RFC9449_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

/// RFC 9449 §4.1 Figure 4: the proof of a token request (no access token, so no `ath`).
const RFC9449_TOKEN_REQUEST_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);

/// RFC 9449 §7.1 Figures 13-14: the access token and the proof of a protected-resource request.
const RFC9449_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC9449_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9",
    ".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
);

#[test]
fn dpop_thumbprint_matches_rfc7638_section_3_1() {
    let jwk =
        json!({ "kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29" });
    assert_eq!(jwk_thumbprint(&jwk).as_deref(), Some(RFC7638_THUMBPRINT));
}

#[test]
fn dpop_thumbprint_matches_the_rfc9449_example_key() {
    let jwk = json!({ "kty": "EC", "x": RFC9449_X, "y": RFC9449_Y, "crv": "P-256" });
    assert_eq!(jwk_thumbprint(&jwk).as_deref(), Some(RFC9449_JKT));
    // Optional members change nothing; a missing, mistyped or unknown member gives no thumbprint.
    let mut decorated = jwk.clone();
    decorated["kid"] = json!("k1");
    decorated["use"] = json!("sig");
    assert_eq!(jwk_thumbprint(&decorated).as_deref(), Some(RFC9449_JKT));
    let mut no_y = jwk;
    no_y.as_object_mut().unwrap().remove("y");
    for bad in [
        no_y,
        json!({ "kty": "EC", "x": RFC9449_X, "y": 1, "crv": "P-256" }),
        json!({ "kty": "oct", "k": "AAAA" }),
        json!({ "x": RFC9449_X }),
        json!("EC"),
    ] {
        assert_eq!(jwk_thumbprint(&bad), None, "{bad}");
    }
}

#[test]
fn dpop_thumbprint_of_an_okp_key_uses_crv_kty_x() {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "alg": "EdDSA" });
    let canonical =
        r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let expected =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(canonical));
    assert_eq!(jwk_thumbprint(&jwk), Some(expected));
}

#[test]
fn dpop_the_rfc9449_token_request_proof_verifies() {
    let policy = DpopPolicy::default();
    let proof = verify_signed_proof(RFC9449_TOKEN_REQUEST_PROOF, &policy).unwrap();
    assert_eq!(jwk_thumbprint(&proof.jwk).as_deref(), Some(RFC9449_JKT));
    let request = DpopRequest {
        proof: RFC9449_TOKEN_REQUEST_PROOF,
        method: "POST",
        uri: "https://server.example.com/token",
    };
    let jti = check_request_claims(&proof.claims, &request, &policy, 1_562_262_616 + 30);
    assert_eq!(jti, Ok("-BwC3ESc6acc2lTc"));
    let late = check_request_claims(&proof.claims, &request, &policy, 1_562_262_616 + 61);
    assert_eq!(late, Err(DpopRejection::IatOutOfWindow));
}

#[test]
fn dpop_the_rfc9449_resource_proof_verifies_against_its_bound_token() {
    let request = DpopRequest {
        proof: RFC9449_RESOURCE_PROOF,
        method: "GET",
        uri: "https://resource.example.org/protectedresource",
    };
    let token = super::dpop_support::token_with_cnf(json!({ "jkt": RFC9449_JKT }));
    let replay = ReplayCache::new(4);
    let verify = |access_token| {
        let policy = DpopPolicy::default();
        verify_proof(
            &request,
            access_token,
            &token,
            &policy,
            &replay,
            1_562_262_618,
        )
    };
    assert_eq!(verify(RFC9449_ACCESS_TOKEN), Ok(()));
    assert_eq!(verify(RFC9449_ACCESS_TOKEN), Err(DpopRejection::Replayed));
    assert_eq!(verify("another-token"), Err(DpopRejection::AthMismatch));
}

#[test]
fn dpop_rejection_labels_are_stable_prefixed_and_distinct() {
    use DpopRejection::*;
    let all = [
        Missing,
        TooLarge,
        Malformed,
        BadHeader,
        BadTyp,
        BadAlg,
        BadJwk,
        PrivateKey,
        BadSignature,
        BadPayload,
        InvalidClaim,
        HtmMismatch,
        HtuMismatch,
        IatOutOfWindow,
        JtiTooLong,
        AthMismatch,
        NotBound,
        JktMismatch,
        Replayed,
        ReplayCacheFull,
    ];
    let labels: std::collections::HashSet<&str> = all.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), all.len());
    assert!(labels.iter().all(|l| l.starts_with("dpop_")));
    assert_eq!(PrivateKey.as_str(), "dpop_private_key");
    assert_eq!(IatOutOfWindow.as_str(), "dpop_iat_out_of_window");
}
