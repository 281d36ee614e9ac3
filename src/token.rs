//! JWT access-token verification (RFC 9068, RFC 8725): key sets, JWKS fetching, verification and
//! the verified-token cache.
//!
//! The path of a token: [`peek_issuer`] (unverified, only to route to a tenant) →
//! [`VerifiedTokenCache::get_or_verify`] → on a miss [`JwksProvider::verify_with`], which gets
//! the [`KeySet`] of the tenant's [`Keyring`] and runs [`verify`]; an unknown `kid` triggers at
//! most one JWKS refresh per owner and interval. Nothing here knows what a tenant is: the tenant
//! module converts its settings into a [`VerifyPolicy`] and a [`Keyring`]. Everything fails closed: any doubt is a [`Rejection`], whose label goes
//! to logs and metrics and never into an RFC 7662 answer.
//!
//! Opaque tokens (`token/upstream.rs`): a tenant's upstream RFC 7662 endpoint answers for
//! them through [`UpstreamClient`]; the answer becomes the same [`VerifiedToken`] facts and goes
//! through the same cache, its lifetime capped by the tenant's upstream TTL.
//!
//! DPoP (RFC 9449): [`verify_proof`] checks the proof sent with a DPoP-bound token
//! ([`VerifiedToken::dpop_binding`]) against the request, the token and a [`ReplayCache`].
//!
//! Nothing here logs a token or key material: a token appears only as [`token_fingerprint`].

mod cache;
mod certificate;
mod claims;
mod destination;
mod dpop;
mod fetch;
mod jwk;
mod jwks;
mod jws;
mod keys;
mod rejection;
mod remote;
mod roca;
mod scope_claims;
mod signature;
mod skip;
mod source;
mod strict_json;
mod upstream;
mod verify;

use sha2::{Digest, Sha256};

pub use cache::{
    CacheSource, CachedVerification, Generation, TokenCacheConfig, TokenCacheKey,
    VerifiedTokenCache, token_cache_key,
};
pub use certificate::{MAX_CERTIFICATE_BYTES, certificate_matches, certificate_thumbprint};
pub use claims::{FingerprintMemo, TokenScopes, VerifiedToken};
pub use destination::{Denied, NetworkPolicy};
pub use dpop::{
    DEFAULT_REPLAY_CAPACITY, DpopPolicy, DpopRejection, DpopRequest, MAX_JTI_BYTES,
    MAX_PROOF_BYTES, ReplayCache, jwk_thumbprint, verify_proof,
};
pub use fetch::{MAX_JWKS_URI_BYTES, check_jwks_uri};
pub use jwk::KeyKind;
pub use jwks::{JwksConfig, JwksProvider};
pub use keys::{
    KeyError, KeyOrigin, KeySet, MAX_JWKS_BYTES, MAX_KEYS, SkippedKey, VerificationKey,
};
pub use rejection::Rejection;
pub use scope_claims::{
    ClaimSource, MAX_POINTER_BYTES, MAX_PREFIX_BYTES, MAX_SCOPE_CLAIM_SOURCES, ScopeClaims,
};
pub use skip::SkipReason;
pub use source::{KeySource, Keyring};
pub use upstream::{
    ClientSecret, DEFAULT_MAX_IN_FLIGHT, DEFAULT_UPSTREAM_CACHE_TTL_SECONDS,
    DEFAULT_UPSTREAM_TIMEOUT_MS, MAX_UPSTREAM_ANSWER_BYTES, MAX_UPSTREAM_CACHE_TTL_SECONDS,
    MAX_UPSTREAM_TIMEOUT_MS, UpstreamClient, UpstreamIntrospection, UpstreamTokens,
};
pub use verify::{VerifyPolicy, peek_issuer, verify};

/// Re-exported so callers can name algorithms without depending on `jsonwebtoken` directly.
pub use jsonwebtoken::Algorithm;

/// Longest token accepted, in bytes (checked before any parsing or hashing).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The token type every verified access token is reported with (RFC 7662 `token_type`).
pub const BEARER: &str = "Bearer";

/// A short identifier of a token for logs: the first 12 hex digits of its SHA-256. It cannot be
/// turned back into the token, and it is the only form in which a token may be logged.
pub fn token_fingerprint(token: &str) -> String {
    hex::encode(token_fingerprint_bytes(token))
}

/// [`token_fingerprint`] before it is spelled in hex (the decision log spells it later, off the
/// request path).
pub fn token_fingerprint_bytes(token: &str) -> [u8; 6] {
    let digest = Sha256::digest(token.as_bytes());
    let mut short = [0u8; 6];
    short.copy_from_slice(&digest[..6]);
    short
}

#[cfg(test)]
mod tests;
