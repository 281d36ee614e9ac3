//! Typed configuration, loaded once: command-line flags and `SCOPEGATE_*` variables (through
//! clap), over an optional TOML file, over defaults. Secrets are wrapped so `Debug` hides them.

use std::{fmt, net::SocketAddr, path::Path, time::Duration};

use serde::Deserialize;

use crate::token::{JwksConfig, TokenCacheConfig};
use sha2::{Digest, Sha256};

/// A secret string: `Debug` and `Display` never print it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The bootstrap admin key, kept only as its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKeyHash(pub [u8; 32]);

impl AdminKeyHash {
    /// Hashes a key.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }
}

impl fmt::Debug for AdminKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKeyHash(<redacted>)")
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen for gRPC; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// SHA-256 of the bootstrap admin key, if one is configured.
    pub admin_key: Option<AdminKeyHash>,
    /// The tenant whose admin tokens administer every tenant.
    pub admin_tenant: Option<crate::tenant::TenantId>,
    /// How long in-flight calls may drain after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How often the store is probed for readiness.
    pub health_interval: Duration,
    /// Upper bound on how stale a cached catalog may be if a change notification is lost.
    pub catalog_ttl: Duration,
    /// Most tenant catalogs kept in memory.
    pub catalog_capacity: u64,
    /// JWKS fetching (timeouts, size cap, whether plain http and which networks are allowed).
    pub jwks: JwksConfig,
    /// Verified-token cache capacities and lifetimes.
    pub token_cache: TokenCacheConfig,
}

/// Defaults.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default database: a SQLite file in the working directory, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://scopegate.db";

impl Config {
    /// A configuration with defaults for everything but the database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 50051))),
            database_url: database_url.into(),
            admin_key: None,
            admin_tenant: None,
            shutdown_grace: Duration::from_secs(10),
            health_interval: Duration::from_secs(5),
            catalog_ttl: Duration::from_secs(30),
            catalog_capacity: 10_000,
            jwks: JwksConfig::default(),
            token_cache: TokenCacheConfig::default(),
        }
    }
}

/// The optional TOML file; every key is optional and flags/env vars win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub admin_key: Option<String>,
    pub admin_tenant: Option<String>,
    pub shutdown_grace_seconds: Option<u64>,
    pub health_interval_seconds: Option<u64>,
    pub catalog_ttl_seconds: Option<u64>,
    pub catalog_capacity: Option<u64>,
    /// Most verified tokens kept (each about 2.4 KiB; see docs/performance.md).
    pub token_cache_capacity: Option<u64>,
    /// Longest a verified token is cached, whatever its `exp`.
    pub token_cache_max_ttl_seconds: Option<u64>,
    /// Most rejected tokens remembered (garbage floods).
    pub negative_cache_capacity: Option<u64>,
    /// How long a rejection is remembered.
    pub negative_cache_ttl_seconds: Option<u64>,
    /// Fetch `jwks_uri` over plain `http://` too (otherwise https is required).
    pub jwks_allow_plain_http: Option<bool>,
    /// Fetch `jwks_uri` from loopback, private, link-local and unique-local addresses.
    pub jwks_allow_private_networks: Option<bool>,
    /// CIDR networks a `jwks_uri` may reach although they are internal (an on-premises IdP).
    pub jwks_allow_networks: Option<Vec<String>>,
    /// CIDR networks a `jwks_uri` may never reach, whatever else allows them.
    pub jwks_deny_networks: Option<Vec<String>>,
}

/// Parses a list of CIDR networks (`10.1.2.0/24`, `fd00::/8`; a bare address is one host).
fn networks(key: &str, raw: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    raw.iter()
        .map(|net| {
            net.parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!("invalid network {net:?} in {key}: expected CIDR like 10.1.2.0/24")
                })
        })
        .collect()
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
    }

    /// Applies the file's tuning keys to `config` (flags applied later win). Intervals and
    /// lifetimes are at least a second; a capacity of 0 turns that cache off. Fails on a network
    /// list entry that is not CIDR.
    pub fn apply(&self, config: &mut Config) -> Result<(), String> {
        let seconds = |secs: u64| Duration::from_secs(secs.max(1));
        if let Some(secs) = self.shutdown_grace_seconds {
            config.shutdown_grace = Duration::from_secs(secs);
        }
        if let Some(secs) = self.health_interval_seconds {
            config.health_interval = seconds(secs);
        }
        if let Some(secs) = self.catalog_ttl_seconds {
            config.catalog_ttl = seconds(secs);
        }
        if let Some(capacity) = self.catalog_capacity {
            config.catalog_capacity = capacity;
        }
        let tokens = &mut config.token_cache;
        if let Some(capacity) = self.token_cache_capacity {
            tokens.max_entries = capacity;
        }
        if let Some(secs) = self.token_cache_max_ttl_seconds {
            tokens.max_ttl = seconds(secs);
        }
        if let Some(capacity) = self.negative_cache_capacity {
            tokens.negative_max_entries = capacity;
        }
        if let Some(secs) = self.negative_cache_ttl_seconds {
            tokens.negative_ttl = seconds(secs);
        }
        let jwks = &mut config.jwks;
        if let Some(allow) = self.jwks_allow_plain_http {
            jwks.allow_plain_http = allow;
        }
        if let Some(allow) = self.jwks_allow_private_networks {
            jwks.networks.allow_private = allow;
        }
        if let Some(raw) = &self.jwks_allow_networks {
            jwks.networks.allow = networks("jwks_allow_networks", raw)?;
        }
        if let Some(raw) = &self.jwks_deny_networks {
            jwks.networks.deny = networks("jwks_deny_networks", raw)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_set_the_cache_capacities_and_lifetimes() {
        let file: FileConfig = toml::from_str(
            "catalog_capacity = 20000\ncatalog_ttl_seconds = 0\ntoken_cache_capacity = 250000\n\
             token_cache_max_ttl_seconds = 600\nnegative_cache_capacity = 0\n\
             negative_cache_ttl_seconds = 5\n",
        )
        .expect("valid file");
        let mut config = Config::new("sqlite://x.db");
        file.apply(&mut config).expect("valid keys");
        assert_eq!(config.catalog_capacity, 20_000);
        assert_eq!(
            config.catalog_ttl,
            Duration::from_secs(1),
            "at least a second"
        );
        assert_eq!(config.token_cache.max_entries, 250_000);
        assert_eq!(config.token_cache.max_ttl, Duration::from_secs(600));
        assert_eq!(config.token_cache.negative_max_entries, 0);
        assert_eq!(config.token_cache.negative_ttl, Duration::from_secs(5));
        // Keys left out keep their defaults.
        assert_eq!(config.health_interval, Duration::from_secs(5));
    }

    #[test]
    fn jwks_destination_keys_set_the_network_policy() {
        let mut config = Config::new("sqlite://x.db");
        assert!(!config.jwks.allow_plain_http && !config.jwks.networks.allow_private);
        let file: FileConfig = toml::from_str(
            "jwks_allow_plain_http = true\njwks_allow_private_networks = true\n\
             jwks_allow_networks = [\"10.1.2.0/24\", \"fd00::7\"]\n\
             jwks_deny_networks = [\"93.184.215.0/24\"]\n",
        )
        .expect("valid file");
        file.apply(&mut config).expect("valid networks");
        let jwks = &config.jwks;
        assert!(jwks.allow_plain_http && jwks.networks.allow_private);
        let allow: Vec<String> = jwks
            .networks
            .allow
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(allow, ["10.1.2.0/24", "fd00::7/128"]);
        assert_eq!(jwks.networks.deny.len(), 1);

        let bad: FileConfig =
            toml::from_str("jwks_deny_networks = [\"10.0.0.0/33\"]\n").expect("toml");
        let err = bad.apply(&mut config).expect_err("not CIDR");
        assert!(err.contains("jwks_deny_networks"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = toml::from_str::<FileConfig>("token_cache_size = 5\n").expect_err("unknown key");
        assert!(err.to_string().contains("token_cache_size"), "{err}");
    }
}
