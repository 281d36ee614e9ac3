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
    /// Where to serve the HTTP door (probes), if anywhere; port 0 picks a free port.
    pub http_listen: Option<SocketAddr>,
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
    /// How long past its TTL the last good tenant state is served while the store does not
    /// answer (0: never).
    pub stale_if_error: Duration,
    /// JWKS fetching (timeouts, size cap, whether plain http and which networks are allowed).
    pub jwks: JwksConfig,
    /// Verified-token cache capacities and lifetimes.
    pub token_cache: TokenCacheConfig,
    /// Connection, stream and in-flight bounds (overload behaviour).
    pub limits: Limits,
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
            http_listen: None,
            database_url: database_url.into(),
            admin_key: None,
            admin_tenant: None,
            shutdown_grace: Duration::from_secs(10),
            health_interval: Duration::from_secs(5),
            catalog_ttl: Duration::from_secs(30),
            catalog_capacity: 10_000,
            stale_if_error: Duration::from_secs(300),
            jwks: JwksConfig::default(),
            token_cache: TokenCacheConfig::default(),
            limits: Limits::default(),
        }
    }

    /// The bounds of the tenant-state cache.
    pub fn cache_limits(&self) -> crate::catalogs::CacheLimits {
        crate::catalogs::CacheLimits {
            capacity: self.catalog_capacity,
            ttl: self.catalog_ttl,
            stale_if_error: self.stale_if_error,
        }
    }
}

// --- Connection and load limits --------------------------------------------------------------

/// What one client, or all of them together, may hold of the server: connections, streams,
/// calls in flight and time. Beyond these the server refuses or sheds at once rather than
/// queueing, so a flood costs its sender retries instead of everyone latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most open connections; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` announced on every connection.
    pub max_concurrent_streams: u32,
    /// Most decision and introspection calls being handled at once, over all connections;
    /// beyond it calls are shed with `RESOURCE_EXHAUSTED`.
    pub max_in_flight: usize,
    /// Most of those on one connection, so one client cannot take the whole budget.
    pub max_in_flight_per_connection: usize,
    /// Calls in flight allowed to health checks, and separately to admin and reflection calls,
    /// outside `max_in_flight`: probes and operators still get through a flood.
    pub control_in_flight: usize,
    /// How long a new connection may take to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// A connection with no open stream for this long is closed; `None` never.
    pub idle_timeout: Option<Duration>,
    /// HTTP/2 PING interval on a quiet connection; `None` sends none.
    pub keepalive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// What shed calls tell the client to wait before retrying (`grpc-retry-pushback-ms`).
    pub retry_pushback: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_concurrent_streams: 1_024,
            max_in_flight: 4_096,
            max_in_flight_per_connection: 512,
            control_in_flight: 128,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_timeout: Duration::from_secs(20),
            retry_pushback: Duration::from_millis(100),
        }
    }
}

impl FileConfig {
    /// Counts and timeouts are at least 1 (a zero bound would refuse everything); `0` turns the
    /// idle timeout and keepalive off.
    fn apply_limits(&self, limits: &mut Limits) {
        let seconds = |secs: u64| Duration::from_secs(secs.max(1));
        let off_or_seconds = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        if let Some(n) = self.max_connections {
            limits.max_connections = n.max(1);
        }
        if let Some(n) = self.max_concurrent_streams {
            limits.max_concurrent_streams = n.max(1);
        }
        if let Some(n) = self.max_in_flight {
            limits.max_in_flight = n.max(1);
        }
        if let Some(n) = self.max_in_flight_per_connection {
            limits.max_in_flight_per_connection = n.max(1);
        }
        if let Some(n) = self.control_in_flight {
            limits.control_in_flight = n.max(1);
        }
        if let Some(secs) = self.handshake_timeout_seconds {
            limits.handshake_timeout = seconds(secs);
        }
        if let Some(secs) = self.idle_timeout_seconds {
            limits.idle_timeout = off_or_seconds(secs);
        }
        if let Some(secs) = self.keepalive_interval_seconds {
            limits.keepalive_interval = off_or_seconds(secs);
        }
        if let Some(secs) = self.keepalive_timeout_seconds {
            limits.keepalive_timeout = seconds(secs);
        }
        if let Some(ms) = self.retry_pushback_ms {
            limits.retry_pushback = Duration::from_millis(ms);
        }
    }
}

// --- end of connection and load limits -------------------------------------------------------

/// The optional TOML file; every key is optional and flags/env vars win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// The HTTP door's address (probes); off unless set.
    pub http_listen: Option<String>,
    pub database_url: Option<String>,
    pub admin_key: Option<String>,
    pub admin_tenant: Option<String>,
    pub shutdown_grace_seconds: Option<u64>,
    pub health_interval_seconds: Option<u64>,
    pub catalog_ttl_seconds: Option<u64>,
    pub catalog_capacity: Option<u64>,
    /// How long past its TTL cached tenant state is served while the store is down (0: never).
    pub stale_if_error_seconds: Option<u64>,
    /// Most verified tokens kept (each about 2.4 KiB; see docs/performance.md).
    pub token_cache_capacity: Option<u64>,
    /// Longest a verified token is cached, whatever its `exp`.
    pub token_cache_max_ttl_seconds: Option<u64>,
    /// Most rejected tokens remembered (garbage floods).
    pub negative_cache_capacity: Option<u64>,
    /// How long a rejection is remembered.
    pub negative_cache_ttl_seconds: Option<u64>,
    // Connection and load limits (see [`Limits`]).
    pub max_connections: Option<usize>,
    pub max_concurrent_streams: Option<u32>,
    pub max_in_flight: Option<usize>,
    pub max_in_flight_per_connection: Option<usize>,
    pub control_in_flight: Option<usize>,
    pub handshake_timeout_seconds: Option<u64>,
    /// `0` never closes idle connections.
    pub idle_timeout_seconds: Option<u64>,
    /// `0` sends no keepalive PINGs.
    pub keepalive_interval_seconds: Option<u64>,
    pub keepalive_timeout_seconds: Option<u64>,
    pub retry_pushback_ms: Option<u64>,
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
        if let Some(secs) = self.stale_if_error_seconds {
            config.stale_if_error = Duration::from_secs(secs);
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
        self.apply_limits(&mut config.limits);
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
             negative_cache_ttl_seconds = 5\nstale_if_error_seconds = 0\n",
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
        assert_eq!(config.stale_if_error, Duration::ZERO, "0 turns it off");
        // Keys left out keep their defaults.
        assert_eq!(config.health_interval, Duration::from_secs(5));
    }

    #[test]
    fn file_keys_set_the_connection_and_load_limits() {
        let file: FileConfig = toml::from_str(
            "max_connections = 500\nmax_concurrent_streams = 100\nmax_in_flight = 0\n\
             max_in_flight_per_connection = 32\ncontrol_in_flight = 8\n\
             handshake_timeout_seconds = 0\nidle_timeout_seconds = 0\n\
             keepalive_interval_seconds = 30\nkeepalive_timeout_seconds = 5\n\
             retry_pushback_ms = 250\n",
        )
        .expect("valid file");
        let mut config = Config::new("sqlite://x.db");
        file.apply(&mut config).expect("valid keys");
        let limits = &config.limits;
        assert_eq!(limits.max_connections, 500);
        assert_eq!(limits.max_concurrent_streams, 100);
        assert_eq!(
            limits.max_in_flight, 1,
            "a zero budget would refuse every call"
        );
        assert_eq!(limits.max_in_flight_per_connection, 32);
        assert_eq!(limits.control_in_flight, 8);
        assert_eq!(limits.handshake_timeout, Duration::from_secs(1));
        assert_eq!(limits.idle_timeout, None, "0 turns the idle timeout off");
        assert_eq!(limits.keepalive_interval, Some(Duration::from_secs(30)));
        assert_eq!(limits.keepalive_timeout, Duration::from_secs(5));
        assert_eq!(limits.retry_pushback, Duration::from_millis(250));
    }

    #[test]
    fn limits_default_to_bounded_values() {
        let limits = Config::new("sqlite://x.db").limits;
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.max_concurrent_streams, 1_024);
        assert_eq!(limits.max_in_flight, 4_096);
        assert_eq!(limits.max_in_flight_per_connection, 512);
        assert_eq!(limits.control_in_flight, 128);
        assert_eq!(limits.handshake_timeout, Duration::from_secs(10));
        assert_eq!(limits.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(limits.keepalive_interval, Some(Duration::from_secs(60)));
        assert_eq!(limits.keepalive_timeout, Duration::from_secs(20));
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
