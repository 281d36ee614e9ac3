//! Helpers shared by the key tests: parse a set from JWK values, read the one skip reason, and
//! edit a JWK member.

use serde_json::{Value, json};

use crate::token::{KeyError, KeyOrigin, KeySet, SkipReason};

pub fn parse(keys: &[Value], origin: KeyOrigin) -> Result<KeySet, KeyError> {
    KeySet::parse(&json!({ "keys": keys }).to_string(), origin)
}

pub fn only_skip_reason(jwk: Value, origin: KeyOrigin) -> SkipReason {
    match parse(&[jwk], origin) {
        Err(KeyError::NoUsableKeys { mut skipped }) if skipped.len() == 1 => {
            skipped.remove(0).reason
        }
        other => panic!("expected one skipped key, got {other:?}"),
    }
}

pub fn edit(mut jwk: Value, name: &str, value: Value) -> Value {
    match value {
        Value::Null => jwk
            .as_object_mut()
            .map(|o| o.remove(name))
            .unwrap_or_default(),
        value => Some(std::mem::replace(&mut jwk[name], value)),
    };
    jwk
}
