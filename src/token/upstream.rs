//! Opaque tokens: a tenant's upstream RFC 7662 introspection endpoint, its client credentials
//! (`client_secret_basic`), which tokens go there, and the bounded call that asks it (destination
//! policy of the JWKS fetcher, no redirects, a timeout, a 64 KiB body cap, a per-owner cap on
//! calls in flight). The answer becomes the same [`VerifiedToken`] facts a JWT yields
//! (`upstream/answer.rs`); caching and coalescing are the verified-token cache's.

mod answer;
mod call;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use call::{DEFAULT_MAX_IN_FLIGHT, UpstreamClient};

/// Largest upstream answer read, in bytes.
pub const MAX_UPSTREAM_ANSWER_BYTES: usize = 64 * 1024;
/// Default timeout of one upstream call.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 2000;
/// Longest timeout a tenant may set.
pub const MAX_UPSTREAM_TIMEOUT_MS: u32 = 30_000;
/// Default (and largest useful) bound on how long an upstream answer is cached: it is how long
/// a revocation at the authorization server may go unseen.
pub const DEFAULT_UPSTREAM_CACHE_TTL_SECONDS: u32 = 60;
/// Largest cache TTL cap a tenant may set.
pub const MAX_UPSTREAM_CACHE_TTL_SECONDS: u32 = 3600;
/// Longest client id or secret accepted.
pub const MAX_CREDENTIAL_BYTES: usize = 512;

/// Which tokens of a tenant are introspected upstream instead of verified as JWTs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamTokens {
    /// Tokens that are not JWS compact serialisations (two dots, three non-empty parts).
    #[default]
    NonJws,
    /// Every token.
    All,
    /// None: the configuration is kept but unused.
    None,
}

impl UpstreamTokens {
    /// Whether `token` goes upstream under this rule.
    pub fn takes(self, token: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::NonJws => !looks_like_jws(token),
        }
    }
}

/// Three non-empty `.`-separated parts of base64url characters: what a JWS compact
/// serialisation looks like (whether it verifies is the JWT path's business).
fn looks_like_jws(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if part.is_empty() || !part.bytes().all(b64url) {
            return false;
        }
    }
    parts == 3
}

/// A client secret: never printed by `Debug`, never serialized, compared in no log.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret as given.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret, for the one place that sends it (and the store that keeps it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a secret is set.
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "[redacted]"
        } else {
            "[unset]"
        })
    }
}

/// A tenant's upstream introspection: where, as whom, for which tokens, how long to wait and
/// how long to trust an answer. The secret is not serialized (the store keeps it apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamIntrospection {
    /// The RFC 7662 endpoint: an absolute http(s) URL without credentials.
    pub endpoint: String,
    /// The client id scopegate authenticates as (`client_secret_basic`).
    pub client_id: String,
    /// Its secret, as given.
    #[serde(skip)]
    pub client_secret: ClientSecret,
    /// Timeout of one call, connect included, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Which tokens go upstream.
    #[serde(default)]
    pub tokens: UpstreamTokens,
    /// Longest a positive answer is cached, in seconds (also bounded by `exp`).
    #[serde(default = "default_ttl")]
    pub cache_ttl_seconds: u32,
}

fn default_timeout() -> u32 {
    DEFAULT_UPSTREAM_TIMEOUT_MS
}

fn default_ttl() -> u32 {
    DEFAULT_UPSTREAM_CACHE_TTL_SECONDS
}

impl UpstreamIntrospection {
    /// Whether `token` goes upstream.
    pub fn takes(&self, token: &str) -> bool {
        self.tokens.takes(token)
    }

    /// The cap on how long a positive answer is cached.
    pub fn ttl_cap(&self) -> Duration {
        Duration::from_secs(u64::from(self.cache_ttl_seconds))
    }

    /// The timeout of one call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// The first rule the configuration breaks, as (field, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        super::fetch::check_jwks_uri(&self.endpoint).map_err(|e| ("endpoint", e.to_string()))?;
        if self.client_id.is_empty() || self.client_id.len() > MAX_CREDENTIAL_BYTES {
            let message = format!("must be 1 to {MAX_CREDENTIAL_BYTES} bytes");
            return Err(("client_id", message));
        }
        if !self.client_secret.is_set() || self.client_secret.0.len() > MAX_CREDENTIAL_BYTES {
            let message = format!("must be 1 to {MAX_CREDENTIAL_BYTES} bytes");
            return Err(("client_secret", message));
        }
        if !(1..=MAX_UPSTREAM_TIMEOUT_MS).contains(&self.timeout_ms) {
            let message = format!("must be 1 to {MAX_UPSTREAM_TIMEOUT_MS}");
            return Err(("timeout_ms", message));
        }
        if !(1..=MAX_UPSTREAM_CACHE_TTL_SECONDS).contains(&self.cache_ttl_seconds) {
            let message = format!("must be 1 to {MAX_UPSTREAM_CACHE_TTL_SECONDS}");
            return Err(("cache_ttl_seconds", message));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_jws_tokens_go_upstream_by_default() {
        let rule = UpstreamTokens::default();
        assert!(rule.takes("2YotnFZFEjr1zCsicMWpAA"));
        assert!(rule.takes("a.b"));
        assert!(rule.takes("a..c"));
        assert!(rule.takes("a.b.c.d"));
        assert!(rule.takes("a.b+.c"));
        assert!(!rule.takes("eyJh.eyJz.c2ln"));
        assert!(UpstreamTokens::All.takes("eyJh.eyJz.c2ln"));
        assert!(!UpstreamTokens::None.takes("opaque"));
    }

    #[test]
    fn a_secret_never_shows_in_debug() {
        let config = UpstreamIntrospection {
            endpoint: "https://idp.example/introspect".to_owned(),
            client_id: "scopegate".to_owned(),
            client_secret: ClientSecret::new("hunter2-very-secret".to_owned()),
            timeout_ms: 2000,
            tokens: UpstreamTokens::NonJws,
            cache_ttl_seconds: 60,
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        let json = serde_json::to_string(&config).expect("serializes");
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(config.check(), Ok(()));
    }
}
