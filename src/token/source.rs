//! Where a key set comes from and whose it is: all the JWKS provider needs to know about the
//! owner of the keys (a tenant, converted by the tenant module).

use std::fmt;
use std::time::Duration;

/// Where an owner's verification keys come from.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum KeySource {
    /// No keys yet: every token checked against this source is inactive.
    #[default]
    None,
    /// A JWK set (RFC 7517 JSON) stored with the owner. May hold `oct` keys (HMAC secrets),
    /// which are never echoed back by the admin API.
    Inline(String),
    /// A `jwks_uri` fetched over HTTP(S) and cached.
    Uri(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Inline(_) => f.write_str("Inline(<jwks>)"),
            Self::Uri(uri) => write!(f, "Uri({uri:?})"),
        }
    }
}

/// One owner's keys as the JWKS provider sees them: whose they are, where they come from and how
/// often a fetched set is refreshed.
#[derive(Debug, Clone, Copy)]
pub struct Keyring<'a> {
    /// Who the keys belong to (a tenant id): fetched sets are cached per (owner, URI), so two
    /// owners never share a refresh gate, and logs name the owner.
    pub owner: &'a str,
    pub source: &'a KeySource,
    /// How long a fetched set may be reused before a refresh, and the minimum gap between
    /// refreshes triggered by an unknown `kid`.
    pub refresh_seconds: u32,
}

impl Keyring<'_> {
    /// The refresh interval; at least one second, so a zero can never mean "fetch always".
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.refresh_seconds.max(1)))
    }
}
