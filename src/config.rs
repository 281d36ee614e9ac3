//! Typed configuration, loaded once by [`Config::load`]: flags over `SCOPEGATE_*` variables
//! over an optional TOML file over defaults, for every key (`config/load.rs`). Secrets are
//! `secrecy` strings or hashes, so `Debug` never prints them.

mod file;
mod limits;
mod load;
#[cfg(test)]
mod tests;

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

use crate::{
    decision_log::DecisionLogSettings,
    token::{JwksConfig, TokenCacheConfig},
};

pub use file::FileConfig;
pub use limits::Limits;
pub use load::{DbFlags, Env, ServeFlags, log_json, process_env};

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

/// A database URL. It may carry a password, so `Debug` shows it with the password and the
/// query string (which may carry one too) replaced by `<redacted>`.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL itself, password included; pass it only to the store.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL without its password or query string, fit for logs.
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let (url, query) = match url.split_once('?') {
            Some((base, _)) => (base, "?<redacted>"),
            None => (url, ""),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return format!("{url}{query}");
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:<redacted>@{host}"),
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };
        format!("{scheme}://{authority}{path}{query}")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
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
    pub database_url: DatabaseUrl,
    /// SHA-256 of the bootstrap admin key, if one is configured.
    pub admin_key: Option<AdminKeyHash>,
    /// With no `admin_key`: generate one on the database's first start (shown once, stored
    /// hashed) and accept the one generated then on later starts. On for `scopegate serve`;
    /// off in [`Config::new`], so an embedded app has no admin key unless given one.
    pub first_run_admin_key: bool,
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
    /// Where Prometheus metrics are served (`http://ADDR/metrics`), if anywhere; the process
    /// serves them, not [`crate::app::App`].
    pub metrics_listen: Option<SocketAddr>,
    /// The OpenTelemetry collector (OTLP/gRPC) spans go to, if any; set up by `telemetry`.
    pub otlp_endpoint: Option<String>,
    /// TLS to an `https://` collector.
    pub otlp_tls: OtlpTls,
    /// Log JSON lines instead of text; set up by `telemetry`.
    pub log_json: bool,
    /// TLS on every listener (gRPC, HTTP door, metrics), when a certificate is configured.
    pub tls: Option<TlsSettings>,
    /// The surfaces on which every call needs a registered caller (`--caller-auth`; empty:
    /// anonymous callers are served, registered ones still held to their limits).
    pub caller_auth: crate::caller::Surfaces,
    /// Which decisions are logged, and where.
    pub decision_log: DecisionLogSettings,
}

/// The server's TLS files (PEM), reloaded when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// With it, only callers presenting a certificate from these CAs complete a handshake
    /// (mTLS), on every listener.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: a caller without a certificate still completes the handshake (a
    /// presented certificate must chain to the CA); `--caller-auth` then decides per surface
    /// (`--tls-client-auth optional`). Off: every handshake needs a certificate.
    pub client_auth_optional: bool,
    /// How often the certificate and key files are checked for a change.
    pub reload_interval: Duration,
}

/// TLS to an `https://` OpenTelemetry collector (PEM files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpTls {
    /// The CAs the collector's certificate must chain to (required for `https://`).
    pub ca_cert: Option<PathBuf>,
    /// A client certificate and key, for a collector that requires mTLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// How often TLS files are checked for a change unless `tls_reload_interval_ms` says otherwise.
pub const DEFAULT_TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

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
            caller_auth: crate::caller::Surfaces::NONE,
            database_url: DatabaseUrl::new(database_url),
            admin_key: None,
            first_run_admin_key: false,
            admin_tenant: None,
            shutdown_grace: Duration::from_secs(10),
            health_interval: Duration::from_secs(5),
            catalog_ttl: Duration::from_secs(30),
            catalog_capacity: 10_000,
            stale_if_error: Duration::from_secs(300),
            jwks: JwksConfig::default(),
            token_cache: TokenCacheConfig::default(),
            limits: Limits::default(),
            metrics_listen: None,
            otlp_endpoint: None,
            otlp_tls: OtlpTls::default(),
            log_json: false,
            tls: None,
            decision_log: DecisionLogSettings::default(),
        }
    }

    /// The bounds of the tenant-state cache.
    pub fn cache_limits(&self) -> crate::tenant_states::CacheLimits {
        crate::tenant_states::CacheLimits {
            capacity: self.catalog_capacity,
            ttl: self.catalog_ttl,
            stale_if_error: self.stale_if_error,
        }
    }
}
