//! Attacks on the token's shape, each refused with the reason that names it: tampering,
//! truncation, size and non-canonical base64url.

use serde_json::json;

use super::attack_support::*;
use super::support::*;
use crate::token::{MAX_TOKEN_BYTES, Rejection};

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
