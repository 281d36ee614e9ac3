//! Caller keys: `sgk_<key id>.<secret>`, generated here from the system's secure random
//! source. The key id (16 base64url characters) is public: listings show it and the registry is
//! indexed by it; only the SHA-256 of the secret (43 base64url characters, 256 bits) is stored,
//! and it is compared in constant time. A key is never logged.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The request header (gRPC metadata) a caller presents its key in. Not `authorization`: on
/// the gateway doors that header carries the end user's token.
pub const KEY_HEADER: &str = "x-scopegate-caller-key";

const PREFIX: &str = "sgk_";
const KEY_ID_CHARS: usize = 16;
const SECRET_CHARS: usize = 43;

/// Why a presented key is refused before the registry is asked. Callers are told only that
/// the key was refused, never which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the caller key is malformed")]
pub struct CallerKeyError;

/// A key as a caller presented it, well formed (not yet checked against the registry).
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    key_id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl<'a> PresentedKey<'a> {
    /// Reads `sgk_<key id>.<secret>`; anything else is malformed.
    pub fn parse(raw: &'a str) -> Result<Self, CallerKeyError> {
        let (key_id, secret) = raw
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(CallerKeyError)?;
        let base64url = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if base64url(key_id, KEY_ID_CHARS) && base64url(secret, SECRET_CHARS) {
            Ok(Self { key_id, secret })
        } else {
            Err(CallerKeyError)
        }
    }

    /// The public key id, which names the registry entry.
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }

    /// Whether the secret is the one whose SHA-256 is `stored`, in constant time.
    pub fn matches(&self, stored: &[u8; 32]) -> bool {
        bool::from(digest(self.secret).ct_eq(stored))
    }
}

/// A freshly generated key: shown once to the admin who asked for it, stored as its id and the
/// digest of its secret.
pub struct NewKey {
    /// The public key id.
    pub key_id: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// The whole key, `sgk_<key id>.<secret>`: returned once, never stored.
    pub shown: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl NewKey {
    /// A new random key; `None` when the secure random source fails.
    pub fn generate() -> Option<Self> {
        let mut bytes = [0u8; 12 + 32];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        let key_id = URL_SAFE_NO_PAD.encode(&bytes[..12]);
        let secret = URL_SAFE_NO_PAD.encode(&bytes[12..]);
        Some(Self {
            secret_sha256: digest(&secret),
            shown: format!("{PREFIX}{key_id}.{secret}"),
            key_id,
        })
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_only_its_own_digest() {
        let (a, b) = (NewKey::generate().unwrap(), NewKey::generate().unwrap());

        let presented = PresentedKey::parse(&a.shown).unwrap();

        assert_eq!(presented.key_id(), a.key_id);
        assert!(presented.matches(&a.secret_sha256));
        assert!(!presented.matches(&b.secret_sha256));
        assert_ne!(a.key_id, b.key_id);
        assert_eq!(a.shown.len(), 4 + 16 + 1 + 43);
        assert!(!format!("{a:?}{presented:?}").contains(&a.shown[21..]));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let good = NewKey::generate().unwrap().shown;
        let cases = [
            String::new(),
            "sgk_".to_owned(),
            good.replacen("sgk_", "sgx_", 1),
            good.replacen('.', "_", 1),
            format!("{good}A"),
            good[..good.len() - 1].to_owned(),
            good.replacen('.', ".=", 1),
            format!("Bearer {good}"),
            good.replace('A', "é"),
        ];
        for case in cases {
            if case == good {
                continue;
            }
            assert_eq!(PresentedKey::parse(&case), Err(CallerKeyError), "{case:?}");
        }
    }
}
