//! Helpers shared by the attack tests: verify under the standard test policy, an RS256 key and
//! set, and a token with one header member changed.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::support::*;
use crate::token::{KeySet, Rejection, VerifiedToken, verify};

pub fn check(token: &str, keys: &KeySet) -> Result<VerifiedToken, Rejection> {
    verify(token, &policy(), keys, NOW)
}

pub fn rejection(token: &str, keys: &KeySet) -> Option<Rejection> {
    check(token, keys).err()
}

pub fn rs256() -> (TestKey, KeySet) {
    let key = rsa(0, "rsa-1", Algorithm::RS256);
    let keys = key_set(&[&key]);
    (key, keys)
}

pub fn with_header(key: &TestKey, name: &str, value: Value) -> String {
    let mut header = header(key);
    header[name] = value;
    mint(key, &header, &claims())
}
