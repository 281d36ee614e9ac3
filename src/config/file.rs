//! The optional TOML configuration file: every key optional, unknown keys refused. Only read
//! here; [`super::Config::load`] decides what wins.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

/// The file's keys, one for every flag (and some that only the file sets); see the README's
/// configuration table. Secrets are `SecretString`s, so `Debug` hides them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<SecretString>,
    pub admin_key: Option<SecretString>,
    pub admin_tenant: Option<String>,
    /// Where the HTTP door is served (probes; gateway endpoints).
    pub http_listen: Option<String>,
    /// Where Prometheus metrics are served (`ADDR`, for `http://ADDR/metrics`).
    pub metrics_listen: Option<String>,
    /// OpenTelemetry collector (OTLP/gRPC, `http://host:4317`).
    pub otlp_endpoint: Option<String>,
    /// CA certificates (PEM) of an `https://` collector.
    pub otlp_ca_cert: Option<String>,
    /// Client certificate and key (PEM) for a collector that requires mTLS.
    pub otlp_client_cert: Option<String>,
    pub otlp_client_key: Option<String>,
    /// JSON log lines instead of text.
    pub log_json: Option<bool>,
    pub shutdown_grace_seconds: Option<u64>,
    /// The server's certificate chain (PEM); TLS on every listener when set.
    pub tls_cert: Option<String>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<String>,
    /// CA certificates (PEM) callers' certificates must chain to (mTLS).
    pub tls_client_ca: Option<String>,
    /// `required` (default) or `optional`: whether a handshake needs a client certificate.
    pub tls_client_auth: Option<String>,
    /// Surfaces that need a registered caller: `decision`, `introspection`, `all`, `none`.
    pub caller_auth: Option<String>,
    /// How often the TLS files are checked for a change (default 1000).
    pub tls_reload_interval_ms: Option<u64>,
    /// Which decisions are logged: `off`, `denied` (default) or `all`.
    pub decision_log: Option<String>,
    /// The decision log's file (stdout when unset), rotated by size.
    pub decision_log_file: Option<String>,
    /// Rotate the file before it would pass this many bytes (default 100 MiB).
    pub decision_log_max_bytes: Option<u64>,
    /// Rotated files kept (default 5).
    pub decision_log_keep: Option<usize>,
    pub health_interval_seconds: Option<u64>,
    pub catalog_ttl_seconds: Option<u64>,
    pub catalog_capacity: Option<u64>,
    /// How long past its TTL cached tenant state is served while the store is down (0: never).
    pub stale_if_error_seconds: Option<u64>,
    /// Most verified tokens kept (each about 1.1 KiB; see docs/performance.md).
    pub token_cache_capacity: Option<u64>,
    /// Longest a verified token is cached, whatever its `exp`.
    pub token_cache_max_ttl_seconds: Option<u64>,
    /// Most rejected tokens remembered (garbage floods).
    pub negative_cache_capacity: Option<u64>,
    /// How long a rejection is remembered.
    pub negative_cache_ttl_seconds: Option<u64>,
    // Connection and load limits (see [`super::Limits`]).
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

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
