//! What a verified token reports, the unverified issuer peek, policies built from tenants, and
//! the log fingerprint.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::support::*;
use crate::token::{
    BEARER, MAX_TOKEN_BYTES, TokenScopes, VerifiedToken, peek_issuer, token_fingerprint, verify,
};

fn verified(claims: &Value) -> VerifiedToken {
    let key = ec("ec-1");
    let token = mint(&key, &header(&key), claims);
    verify(&token, &policy(), &key_set(&[&key]), NOW).expect("valid token")
}

#[test]
fn verified_token_lifts_registered_claims_and_keeps_the_rest() {
    let mut claims = claims();
    claims["tenant_role"] = json!("teacher");
    claims["azp"] = json!("ignored-when-client_id-present");
    let token = verified(&claims);
    assert_eq!(&*token.iss, ISSUER);
    assert_eq!(token.sub.as_deref(), Some("user-1"));
    assert_eq!(token.aud, vec![AUDIENCE.to_owned()]);
    assert_eq!(
        (token.exp, token.iat, token.nbf),
        (NOW + 300, Some(NOW - 10), Some(NOW - 10))
    );
    assert_eq!(token.jti.as_deref(), Some("jti-1"));
    assert_eq!(token.client_id.as_deref(), Some("client-1"));
    assert_eq!(token.username, None);
    assert_eq!(token.scopes, ["openid", "courses:read"]);
    assert_eq!(token.token_type, BEARER);
    assert_eq!(
        (token.alg, token.kid.as_deref()),
        (Some(Algorithm::ES256), Some("ec-1"))
    );
    let other: Vec<&String> = token.other_claims.keys().collect();
    assert_eq!(other, ["tenant_role"]);
}

#[test]
fn client_and_user_fall_back_to_azp_and_preferred_username() {
    let mut claims = claims_with("client_id", Value::Null);
    claims["azp"] = json!("spa-client");
    claims["preferred_username"] = json!("ada");
    let token = verified(&claims);
    assert_eq!(token.client_id.as_deref(), Some("spa-client"));
    assert_eq!(token.username.as_deref(), Some("ada"));
    claims["username"] = json!("ada.lovelace");
    assert_eq!(verified(&claims).username.as_deref(), Some("ada.lovelace"));
}

#[test]
fn scopes_come_from_scope_or_else_scp() {
    let with_scope = |scope: Value| verified(&claims_with("scope", scope)).scopes;
    assert_eq!(
        with_scope(json!("  openid  email openid ")),
        ["openid", "email"]
    );
    assert!(with_scope(json!("")).is_empty());
    let mut scp = claims_with("scope", Value::Null);
    scp["scp"] = json!(["a:read", "b:write", "a:read"]);
    assert_eq!(verified(&scp).scopes, ["a:read", "b:write"]);
    scp["scp"] = json!("a:read b:write");
    assert_eq!(verified(&scp).scopes, ["a:read", "b:write"]);
    scp["scope"] = json!("only-this");
    assert_eq!(verified(&scp).scopes, ["only-this"]);
    assert!(
        verified(&claims_with("scope", Value::Null))
            .scopes
            .is_empty()
    );
}

#[test]
fn every_token_of_a_policy_shares_its_issuer() {
    let key = ec("ec-1");
    let policy = policy();
    let keys = key_set(&[&key]);
    for sub in ["user-1", "user-2"] {
        let mut claims = claims();
        claims["sub"] = json!(sub);
        let token = verify(&mint(&key, &header(&key), &claims), &policy, &keys, NOW).unwrap();
        assert_eq!(&*token.iss, ISSUER);
        assert!(std::sync::Arc::ptr_eq(&token.iss, &policy.issuer));
    }
}

#[test]
fn scopes_are_kept_as_sent_whatever_they_hold() {
    // An `scp` array may hold a value with spaces: it stays one scope, never two.
    let mut scp = claims_with("scope", Value::Null);
    scp["scp"] = json!(["a:read", "read all", "", "b", "read all"]);
    let token = verified(&scp);
    assert_eq!(token.scopes, ["a:read", "read all", "b"]);
    assert_eq!(token.scopes.iter().count(), 3);
    let joined: TokenScopes = ["x", "y", "x", ""].into_iter().collect();
    assert_eq!(joined, ["x", "y"]);
    assert_eq!(joined.iter().count(), 2);
    let none: TokenScopes = [""].into_iter().collect();
    assert!(none.is_empty() && none == TokenScopes::default());
}

#[test]
fn fractional_dates_round_toward_a_shorter_life() {
    let mut claims = claims();
    claims["exp"] = json!(NOW as f64 + 300.9);
    claims["iat"] = json!(NOW as f64 - 10.5);
    let token = verified(&claims);
    assert_eq!((token.exp, token.iat), (NOW + 300, Some(NOW - 10)));
}

#[test]
fn audience_arrays_are_reported_whole() {
    let token = verified(&claims_with("aud", json!(["other-api", "api://elsewhere"])));
    assert_eq!(token.aud, ["other-api", "api://elsewhere"]);
}

#[test]
fn peek_issuer_reads_iss_without_verifying_and_gives_up_on_garbage() {
    let key = ec("ec-1");
    assert_eq!(peek_issuer(&token(&key)).as_deref(), Some(ISSUER));
    let forged = format!("e30.{}.AAAA", b64(r#"{"iss":"https://anyone"}"#));
    assert_eq!(peek_issuer(&forged).as_deref(), Some("https://anyone"));
    let no_iss = format!("e30.{}.AAAA", b64(r#"{"sub":"x"}"#));
    let numeric = format!("e30.{}.AAAA", b64(r#"{"iss":7}"#));
    let oversized = format!(
        "e30.{}.AAAA",
        b64(format!(r#"{{"iss":"{}"}}"#, "x".repeat(MAX_TOKEN_BYTES)))
    );
    for garbage in [
        "",
        "a.b",
        "a.b.c.d",
        "e30.!!!.AAAA",
        &no_iss,
        &numeric,
        &oversized,
    ] {
        assert_eq!(peek_issuer(garbage), None, "{garbage:.20}");
    }
}

#[test]
fn fingerprint_is_a_short_stable_hash() {
    let token = token(&ec("ec-1"));
    let fingerprint = token_fingerprint(&token);
    assert_eq!(fingerprint.len(), 12);
    assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(fingerprint, token_fingerprint(&token));
    assert_ne!(fingerprint, token_fingerprint(&format!("{token}x")));
    assert!(!token.contains(&fingerprint));
    // SHA-256("abc") starts with ba7816bf8f01.
    assert_eq!(token_fingerprint("abc"), "ba7816bf8f01");
}

#[test]
fn verified_facts_remember_their_tokens_fingerprint_without_changing_what_they_equal() {
    let key = ec("ec-1");
    let token = mint(&key, &header(&key), &claims());
    let facts = verify(&token, &policy(), &key_set(&[&key]), NOW).expect("valid token");
    let untouched = facts.clone();

    let first = facts.fingerprint(&token);

    assert_eq!(hex::encode(first), token_fingerprint(&token));
    // Remembered: the same facts answer the same fingerprint on every later decision.
    assert_eq!(facts.fingerprint(&token), first);
    assert_eq!(facts, untouched, "the memo is not a fact about the token");
}
