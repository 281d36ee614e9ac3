//! A parsed JWK set (RFC 7517 §5): the usable verification keys, each bound to one algorithm, and
//! the keys that were skipped with the reason (for the admin API).
//!
//! Set-level rules, all failing closed: at most [`MAX_KEYS`] keys and [`MAX_JWKS_BYTES`] bytes; no
//! repeated JSON member names; a key with private parameters refuses the whole set (a leaked private
//! key must be noticed, not silently trimmed); HMAC secrets never share a set with public keys; two
//! keys of one type with the same `kid` are all skipped; zero usable keys is an error.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::jwk::{JwkOutcome, KeyKind, parse_jwk};
use super::rejection::Rejection;
use super::signature::Verifier;
use super::skip::SkipReason;
use super::strict_json;

/// Largest JWK set document accepted, in bytes (inline or fetched).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Most keys a set may hold.
pub const MAX_KEYS: usize = 100;

/// Where a JWK set comes from; it decides whether HMAC secrets may appear in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Stored with the tenant: `oct` keys allowed.
    Inline,
    /// Fetched from a `jwks_uri`: `oct` keys are skipped.
    Published,
}

/// Why a JWK set cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The tenant has no key source.
    #[error("the tenant has no key source configured")]
    NoKeySource,
    /// The document is over [`MAX_JWKS_BYTES`].
    #[error("the JWK set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// Not JSON, or a repeated member name.
    #[error("the JWK set is not valid JSON, or repeats a member name")]
    InvalidJson,
    /// No `keys` array at the top level.
    #[error("the JWK set has no \"keys\" array")]
    NotAKeySet,
    /// More than [`MAX_KEYS`] keys.
    #[error("the JWK set has more than {MAX_KEYS} keys")]
    TooManyKeys,
    /// A key carries private parameters (`d`, `p`, `q`, ...).
    #[error("key #{index} (kid {kid:?}) contains private key parameters; publish only public keys")]
    PrivateKeyMaterial {
        /// Position in `keys`.
        index: usize,
        /// Its `kid`, if any.
        kid: Option<String>,
    },
    /// HMAC secrets and public keys in one set.
    #[error("the JWK set mixes HMAC secrets with public keys; use one kind per tenant")]
    MixedKeyKinds,
    /// Every key was skipped.
    #[error("the JWK set has no usable key: {}", summarize(.skipped))]
    NoUsableKeys {
        /// Each skipped key with its reason.
        skipped: Vec<SkippedKey>,
    },
    /// The `jwks_uri` is not an acceptable URL.
    #[error("jwks_uri is not acceptable: {0}")]
    InvalidUri(String),
    /// The fetch failed (network, status, size, timeout).
    #[error("fetching the JWK set failed: {0}")]
    Fetch(String),
}

fn summarize(skipped: &[SkippedKey]) -> String {
    let parts: Vec<String> = skipped.iter().map(ToString::to_string).collect();
    if parts.is_empty() {
        "the set is empty".to_owned()
    } else {
        parts.join("; ")
    }
}

/// A JWK that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key #{index} (kid {kid:?}): {reason}")]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// Its `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// One usable key: public material (or an HMAC secret) bound to exactly one algorithm, with its
/// key parsed once (aws-lc-rs) so verification does no key parsing.
pub struct VerificationKey {
    kid: Option<String>,
    alg: Algorithm,
    kind: KeyKind,
    pub(crate) verifier: Verifier,
    public: Map<String, Value>,
}

impl VerificationKey {
    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The kind of key material.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A tenant's usable keys. Never empty; cheap to share behind an `Arc`.
pub struct KeySet {
    keys: Vec<VerificationKey>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWK set document. Keys that cannot be used are skipped and listed in
    /// [`KeySet::skipped`]; the set-level failures are [`KeyError`]s.
    pub fn parse(json: &str, origin: KeyOrigin) -> Result<Self, KeyError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(KeyError::TooLarge);
        }
        let doc = strict_json::parse_object(json.as_bytes()).ok_or(KeyError::InvalidJson)?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::NotAKeySet)?;
        if entries.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys);
        }
        let counts = kid_counts(entries);
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str);
            let kty = entry.get("kty").and_then(Value::as_str).unwrap_or_default();
            let duplicate =
                kid.is_some_and(|kid| counts.get(&(kid, kty)).copied().unwrap_or(0) > 1);
            let kid = kid.map(str::to_owned);
            match parse_jwk(entry, origin) {
                JwkOutcome::Private => return Err(KeyError::PrivateKeyMaterial { index, kid }),
                JwkOutcome::Skipped(reason) => skipped.push(SkippedKey { index, kid, reason }),
                JwkOutcome::Usable(k) if duplicate => {
                    let reason = SkipReason::DuplicateKid(
                        k.kid.unwrap_or_default().chars().take(40).collect(),
                    );
                    skipped.push(SkippedKey { index, kid, reason });
                }
                JwkOutcome::Usable(k) => keys.push(VerificationKey {
                    kid: k.kid,
                    alg: k.alg,
                    kind: k.kind,
                    verifier: k.verifier,
                    public: k.public,
                }),
            }
        }
        let has_secret = keys.iter().any(|k| k.kind == KeyKind::Oct);
        if has_secret && keys.iter().any(|k| k.kind != KeyKind::Oct) {
            return Err(KeyError::MixedKeyKinds);
        }
        if keys.is_empty() {
            return Err(KeyError::NoUsableKeys { skipped });
        }
        Ok(Self { keys, skipped })
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// The keys that were skipped, with reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Whether some key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The usable keys as a JWK set with public members only (`kty`, `kid`, `use`, `key_ops`, `alg`
    /// and the public parameters). Never contains an HMAC secret (`k`) or a private parameter.
    pub fn redacted_json(&self) -> Value {
        let keys = self
            .keys
            .iter()
            .map(|k| Value::Object(k.public.clone()))
            .collect();
        let mut doc = Map::new();
        doc.insert("keys".to_owned(), Value::Array(keys));
        Value::Object(doc)
    }

    /// The key for a token's header: by `kid` when it has one (and the key's algorithm must equal
    /// `alg`), else the only key for `alg`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&VerificationKey, Rejection> {
        if let Some(kid) = kid {
            let mut kid_known = false;
            for key in self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)) {
                if key.alg == alg {
                    return Ok(key);
                }
                kid_known = true;
            }
            return Err(if kid_known {
                Rejection::KeyAlgorithmMismatch
            } else {
                Rejection::UnknownKid
            });
        }
        let mut candidates = self.keys.iter().filter(|k| k.alg == alg);
        match (candidates.next(), candidates.next()) {
            (Some(key), None) => Ok(key),
            (None, _) => Err(Rejection::NoMatchingKey),
            (Some(_), Some(_)) => Err(Rejection::AmbiguousKey),
        }
    }
}

/// How many entries carry each (`kid`, `kty`) pair. Counted over every entry, usable or not: if
/// the issuer published two keys of one type under one `kid`, which one it signs with is unknown.
fn kid_counts(entries: &[Value]) -> HashMap<(&str, &str), usize> {
    let mut counts = HashMap::new();
    for entry in entries {
        if let (Some(kid), Some(kty)) = (
            entry.get("kid").and_then(Value::as_str),
            entry.get("kty").and_then(Value::as_str),
        ) {
            *counts.entry((kid, kty)).or_default() += 1;
        }
    }
    counts
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("skipped", &self.skipped.len())
            .finish()
    }
}
