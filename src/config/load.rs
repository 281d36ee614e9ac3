//! The one place precedence is decided, for every key: a flag wins over its `SCOPEGATE_*`
//! variable, which wins over the file key, which wins over the default. The environment is an
//! argument ([`Env`]), so tests pass a map and never touch the process's.

use std::{fmt::Display, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use secrecy::{ExposeSecret as _, SecretString};

use super::{
    AdminKeyHash, Config, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, DEFAULT_TLS_RELOAD_INTERVAL,
    DatabaseUrl, FileConfig, OtlpTls, TlsSettings,
};
use crate::tenant::TenantId;

/// Where `SCOPEGATE_*` variables come from: [`process_env`] in the binary, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment; a variable that is not valid UTF-8 counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The flags of every command that opens the database. clap parses the command line only;
/// [`Config::load`] reads the variables named in the help.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct DbFlags {
    /// `sqlite://FILE` (created on first run) or `postgres://…` [env: SCOPEGATE_DATABASE_URL]
    /// [default: sqlite://scopegate.db]
    #[arg(long)]
    pub database_url: Option<SecretString>,
    /// Optional TOML configuration file; flags and environment variables win over it
    /// [env: SCOPEGATE_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The flags of `scopegate serve`; every one has a variable and a file key of the same name.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeFlags {
    #[command(flatten)]
    pub db: DbFlags,
    /// Address to listen on; port 0 picks a free port [env: SCOPEGATE_LISTEN]
    /// [default: 127.0.0.1:50051]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Bootstrap admin bearer key for the admin API (kept only as its SHA-256)
    /// [env: SCOPEGATE_ADMIN_KEY]
    #[arg(long)]
    pub admin_key: Option<SecretString>,
    /// Tenant whose access tokens (with its reserved admin scopes, first-party clients only)
    /// administer every tenant; other tenants' admin tokens administer only their own tenant
    /// [env: SCOPEGATE_ADMIN_TENANT]
    #[arg(long)]
    pub admin_tenant: Option<String>,
    /// Serve the HTTP door at ADDR: `/healthz`, `/readyz` (off unless set)
    /// [env: SCOPEGATE_HTTP_LISTEN]
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics (off unless set)
    /// [env: SCOPEGATE_METRICS_LISTEN]
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds in-flight calls may drain after SIGTERM/SIGINT
    /// [env: SCOPEGATE_SHUTDOWN_GRACE_SECONDS] [default: 10]
    #[arg(long)]
    pub shutdown_grace_seconds: Option<u64>,
    /// Export a span per gRPC call to this OpenTelemetry collector (OTLP/gRPC,
    /// `http://host:4317`; off unless set). Callers' W3C `traceparent` is honoured
    /// [env: SCOPEGATE_OTLP_ENDPOINT]
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// CA certificates (PEM) an `https://` OTLP collector's certificate must chain to
    /// [env: SCOPEGATE_OTLP_CA_CERT]
    #[arg(long)]
    pub otlp_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for a collector that requires mTLS
    /// [env: SCOPEGATE_OTLP_CLIENT_CERT]
    #[arg(long)]
    pub otlp_client_cert: Option<PathBuf>,
    /// The private key (PEM) of `--otlp-client-cert` [env: SCOPEGATE_OTLP_CLIENT_KEY]
    #[arg(long)]
    pub otlp_client_key: Option<PathBuf>,
    /// Serve TLS on every listener with this certificate chain (PEM, leaf first); reloaded
    /// when the file changes [env: SCOPEGATE_TLS_CERT]
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM); reloaded with it [env: SCOPEGATE_TLS_KEY]
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Require callers to present a certificate from these CAs (PEM; mTLS on every listener);
    /// the certificate's first DNS or URI name, else its CN, is the caller's identity
    /// [env: SCOPEGATE_TLS_CLIENT_CA]
    #[arg(long)]
    pub tls_client_ca: Option<PathBuf>,
    /// With `--tls-client-ca`: `required` (every handshake needs a certificate from the CA) or
    /// `optional` (callers without one get in, anonymous; a presented one must chain to the CA;
    /// `--caller-auth` then decides per surface, so probes and scrapers need no certificate)
    /// [env: SCOPEGATE_TLS_CLIENT_AUTH] [default: required]
    #[arg(long)]
    pub tls_client_auth: Option<String>,
    /// Surfaces on which every call needs a registered caller (a caller key in
    /// `x-scopegate-caller-key`, or a client certificate naming a registered caller):
    /// `decision` (CheckScopes, ResolveScopes, ext_authz, forward auth, AuthZEN),
    /// `introspection` (Introspect), `all` or `none` (comma-separated)
    /// [env: SCOPEGATE_CALLER_AUTH] [default: none]
    #[arg(long)]
    pub caller_auth: Option<crate::caller::Surfaces>,
    /// Which decisions to log, one JSON line each: off, denied or all
    /// [env: SCOPEGATE_DECISION_LOG] [default: denied]
    #[arg(long)]
    pub decision_log: Option<crate::decision_log::Mode>,
    /// Append the decision log to this file (rotated by size) instead of stdout; `serve`
    /// refuses to start when it cannot be opened for append [env: SCOPEGATE_DECISION_LOG_FILE]
    #[arg(long)]
    pub decision_log_file: Option<PathBuf>,
    /// Rotate the decision log file before it would pass this many bytes
    /// [env: SCOPEGATE_DECISION_LOG_MAX_BYTES] [default: 104857600]
    #[arg(long)]
    pub decision_log_max_bytes: Option<u64>,
    /// Rotated decision log files kept (`FILE.1` newest … `FILE.N`)
    /// [env: SCOPEGATE_DECISION_LOG_KEEP] [default: 5]
    #[arg(long)]
    pub decision_log_keep: Option<usize>,
    /// Most open connections; more are closed at accept [env: SCOPEGATE_MAX_CONNECTIONS]
    /// [default: 10000]
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Most decision/introspection calls handled at once; more are shed with
    /// RESOURCE_EXHAUSTED [env: SCOPEGATE_MAX_IN_FLIGHT] [default: 4096]
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Let tenants' `jwks_uri` reach loopback, private, link-local and unique-local addresses
    /// (on-premises IdPs, local testing). Off: such destinations are refused, also when a name
    /// resolves to one. See also the file keys `jwks_allow_networks`/`jwks_deny_networks`
    /// [env: SCOPEGATE_JWKS_ALLOW_PRIVATE_NETWORKS]
    #[arg(long)]
    pub jwks_allow_private_networks: bool,
    /// Let tenants' `jwks_uri` use plain `http://` (off: https is required)
    /// [env: SCOPEGATE_JWKS_ALLOW_PLAIN_HTTP]
    #[arg(long)]
    pub jwks_allow_plain_http: bool,
    /// The global `--log-json` flag, copied here by `main`.
    #[arg(skip)]
    pub log_json: bool,
}

impl FileConfig {
    /// The file named by `--config` or `SCOPEGATE_CONFIG`, or an empty one when neither is set.
    pub fn named_by(flags: &DbFlags, env: Env<'_>) -> Result<Self, String> {
        let path = flags.config.clone().or_else(|| {
            env("SCOPEGATE_CONFIG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        match path {
            Some(path) => Self::load(&path),
            None => Ok(Self::default()),
        }
    }
}

/// Whether to log JSON, for commands that read no configuration file (the admin CLI, bench).
pub fn log_json(flag: bool, env: Env<'_>) -> Result<bool, String> {
    Sources { env }.switch(flag, "SCOPEGATE_LOG_JSON", None)
}

impl Config {
    /// The configuration `flags`, `env` and `file` describe, each key taken from the first of
    /// them that sets it, else its default. Intervals and lifetimes are at least a second and
    /// counts at least 1 (a zero bound would refuse everything); `0` turns the idle timeout,
    /// keepalive, the caches and `stale_if_error` off. Fails on a value that does not parse,
    /// naming the variable or key.
    pub fn load(flags: &ServeFlags, env: Env<'_>, file: &FileConfig) -> Result<Self, String> {
        let src = Sources { env };
        let seconds = |secs: u64| Duration::from_secs(secs.max(1));
        let off_or_seconds = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));

        let url = src.secret(
            flags.db.database_url.as_ref(),
            "SCOPEGATE_DATABASE_URL",
            file.database_url.as_ref(),
        );
        let mut config = Self::new(DEFAULT_DATABASE_URL);
        if let Some(url) = url {
            config.database_url = DatabaseUrl(url);
        }
        config.listen = src
            .value(
                flags.listen,
                "SCOPEGATE_LISTEN",
                parsed("listen", &file.listen)?,
            )?
            .map_or_else(|| DEFAULT_LISTEN.parse().map_err(|e| format!("{e}")), Ok)?;
        config.admin_key = src
            .secret(
                flags.admin_key.as_ref(),
                "SCOPEGATE_ADMIN_KEY",
                file.admin_key.as_ref(),
            )
            .filter(|key| !key.expose_secret().is_empty())
            .map(|key| AdminKeyHash::of(key.expose_secret()));
        config.first_run_admin_key = true;
        let admin_tenant = src.value(
            flags.admin_tenant.clone(),
            "SCOPEGATE_ADMIN_TENANT",
            file.admin_tenant.clone(),
        )?;
        if let Some(raw) = admin_tenant.filter(|t| !t.is_empty()) {
            let id =
                TenantId::parse(&raw).map_err(|e| format!("invalid admin tenant {raw:?}: {e}"))?;
            config.admin_tenant = Some(id);
        }
        config.caller_auth = src
            .value(
                flags.caller_auth,
                "SCOPEGATE_CALLER_AUTH",
                parsed("caller_auth", &file.caller_auth)?,
            )?
            .unwrap_or(crate::caller::Surfaces::NONE);
        config.http_listen = src.value(
            flags.http_listen,
            "SCOPEGATE_HTTP_LISTEN",
            parsed("http_listen", &file.http_listen)?,
        )?;
        config.metrics_listen = src.value(
            flags.metrics_listen,
            "SCOPEGATE_METRICS_LISTEN",
            parsed("metrics_listen", &file.metrics_listen)?,
        )?;
        config.otlp_endpoint = src
            .value(
                flags.otlp_endpoint.clone(),
                "SCOPEGATE_OTLP_ENDPOINT",
                file.otlp_endpoint.clone(),
            )?
            .filter(|e| !e.is_empty());
        config.log_json = src.switch(flags.log_json, "SCOPEGATE_LOG_JSON", file.log_json)?;
        if let Some(secs) = src.value(
            flags.shutdown_grace_seconds,
            "SCOPEGATE_SHUTDOWN_GRACE_SECONDS",
            file.shutdown_grace_seconds,
        )? {
            config.shutdown_grace = Duration::from_secs(secs);
        }

        config.tls = tls(&src, flags, file)?;
        let log = &mut config.decision_log;
        if let Some(mode) = src.value(
            flags.decision_log,
            "SCOPEGATE_DECISION_LOG",
            parsed("decision_log", &file.decision_log)?,
        )? {
            log.mode = mode;
        }
        log.file = src.path(
            &flags.decision_log_file,
            "SCOPEGATE_DECISION_LOG_FILE",
            &file.decision_log_file,
        );
        if let Some(bytes) = src.value(
            flags.decision_log_max_bytes,
            "SCOPEGATE_DECISION_LOG_MAX_BYTES",
            file.decision_log_max_bytes,
        )? {
            log.max_bytes = bytes.max(1);
        }
        if let Some(keep) = src.value(
            flags.decision_log_keep,
            "SCOPEGATE_DECISION_LOG_KEEP",
            file.decision_log_keep,
        )? {
            log.keep = keep;
        }
        config.otlp_tls = OtlpTls {
            ca_cert: src.path(
                &flags.otlp_ca_cert,
                "SCOPEGATE_OTLP_CA_CERT",
                &file.otlp_ca_cert,
            ),
            client_cert: src.path(
                &flags.otlp_client_cert,
                "SCOPEGATE_OTLP_CLIENT_CERT",
                &file.otlp_client_cert,
            ),
            client_key: src.path(
                &flags.otlp_client_key,
                "SCOPEGATE_OTLP_CLIENT_KEY",
                &file.otlp_client_key,
            ),
        };

        // Caches and probes: file keys only.
        if let Some(secs) = file.health_interval_seconds {
            config.health_interval = seconds(secs);
        }
        if let Some(secs) = file.catalog_ttl_seconds {
            config.catalog_ttl = seconds(secs);
        }
        if let Some(capacity) = file.catalog_capacity {
            config.catalog_capacity = capacity;
        }
        if let Some(secs) = file.stale_if_error_seconds {
            config.stale_if_error = Duration::from_secs(secs);
        }
        let tokens = &mut config.token_cache;
        if let Some(capacity) = file.token_cache_capacity {
            tokens.max_entries = capacity;
        }
        if let Some(secs) = file.token_cache_max_ttl_seconds {
            tokens.max_ttl = seconds(secs);
        }
        if let Some(capacity) = file.negative_cache_capacity {
            tokens.negative_max_entries = capacity;
        }
        if let Some(secs) = file.negative_cache_ttl_seconds {
            tokens.negative_ttl = seconds(secs);
        }

        // Connection and load limits.
        let limits = &mut config.limits;
        if let Some(n) = src.value(
            flags.max_connections,
            "SCOPEGATE_MAX_CONNECTIONS",
            file.max_connections,
        )? {
            limits.max_connections = n.max(1);
        }
        if let Some(n) = src.value(
            flags.max_in_flight,
            "SCOPEGATE_MAX_IN_FLIGHT",
            file.max_in_flight,
        )? {
            limits.max_in_flight = n.max(1);
        }
        if let Some(n) = file.max_concurrent_streams {
            limits.max_concurrent_streams = n.max(1);
        }
        if let Some(n) = file.max_in_flight_per_connection {
            limits.max_in_flight_per_connection = n.max(1);
        }
        if let Some(n) = file.control_in_flight {
            limits.control_in_flight = n.max(1);
        }
        if let Some(secs) = file.handshake_timeout_seconds {
            limits.handshake_timeout = seconds(secs);
        }
        if let Some(secs) = file.idle_timeout_seconds {
            limits.idle_timeout = off_or_seconds(secs);
        }
        if let Some(secs) = file.keepalive_interval_seconds {
            limits.keepalive_interval = off_or_seconds(secs);
        }
        if let Some(secs) = file.keepalive_timeout_seconds {
            limits.keepalive_timeout = seconds(secs);
        }
        if let Some(ms) = file.retry_pushback_ms {
            limits.retry_pushback = Duration::from_millis(ms);
        }

        // JWKS destinations.
        let jwks = &mut config.jwks;
        jwks.allow_plain_http = src.switch(
            flags.jwks_allow_plain_http,
            "SCOPEGATE_JWKS_ALLOW_PLAIN_HTTP",
            file.jwks_allow_plain_http,
        )?;
        jwks.networks.allow_private = src.switch(
            flags.jwks_allow_private_networks,
            "SCOPEGATE_JWKS_ALLOW_PRIVATE_NETWORKS",
            file.jwks_allow_private_networks,
        )?;
        if let Some(raw) = &file.jwks_allow_networks {
            jwks.networks.allow = networks("jwks_allow_networks", raw)?;
        }
        if let Some(raw) = &file.jwks_deny_networks {
            jwks.networks.deny = networks("jwks_deny_networks", raw)?;
        }
        Ok(config)
    }
}

/// The TLS files: all or nothing of certificate and key; a client CA only with them.
fn tls(
    src: &Sources<'_>,
    flags: &ServeFlags,
    file: &FileConfig,
) -> Result<Option<TlsSettings>, String> {
    let path = |flag: &Option<PathBuf>, var: &str, key: &Option<String>| src.path(flag, var, key);
    let cert = path(&flags.tls_cert, "SCOPEGATE_TLS_CERT", &file.tls_cert);
    let key = path(&flags.tls_key, "SCOPEGATE_TLS_KEY", &file.tls_key);
    let client_ca = path(
        &flags.tls_client_ca,
        "SCOPEGATE_TLS_CLIENT_CA",
        &file.tls_client_ca,
    );
    let client_auth = src
        .value(
            flags.tls_client_auth.clone(),
            "SCOPEGATE_TLS_CLIENT_AUTH",
            file.tls_client_auth.clone(),
        )?
        .unwrap_or_default();
    let client_auth_optional = match client_auth.as_str() {
        "" | "required" => false,
        "optional" if client_ca.is_some() => true,
        "optional" => {
            return Err("--tls-client-auth optional needs --tls-client-ca".to_owned());
        }
        other => {
            return Err(format!(
                "invalid TLS client auth {other:?}: use required or optional"
            ));
        }
    };
    let reload_interval = file
        .tls_reload_interval_ms
        .map_or(DEFAULT_TLS_RELOAD_INTERVAL, |ms| {
            Duration::from_millis(ms.max(10))
        });
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsSettings {
            cert,
            key,
            client_ca,
            client_auth_optional,
            reload_interval,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, None) => Err(
            "a TLS client CA needs a server certificate: set --tls-cert and --tls-key too"
                .to_owned(),
        ),
        (Some(_), None) => {
            Err("--tls-cert needs --tls-key (SCOPEGATE_TLS_KEY, tls_key)".to_owned())
        }
        (None, Some(_)) => {
            Err("--tls-key needs --tls-cert (SCOPEGATE_TLS_CERT, tls_cert)".to_owned())
        }
    }
}

/// The environment, read one key at a time by the rules of [`Config::load`].
struct Sources<'a> {
    env: Env<'a>,
}

impl Sources<'_> {
    /// The variable `var`, unless it is unset or empty.
    fn var(&self, var: &str) -> Option<String> {
        (self.env)(var).filter(|v| !v.is_empty())
    }

    /// The flag if given, else the variable `var` (parsed; the flag wins over a bad one), else
    /// the file's value; `None` leaves the default.
    fn value<T: FromStr>(
        &self,
        flag: Option<T>,
        var: &str,
        file: Option<T>,
    ) -> Result<Option<T>, String>
    where
        T::Err: Display,
    {
        if flag.is_some() {
            return Ok(flag);
        }
        match self.var(var) {
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|e| format!("invalid {var}={raw:?}: {e}")),
            None => Ok(file),
        }
    }

    /// A file path by the same rule (an empty one is unset).
    fn path(&self, flag: &Option<PathBuf>, var: &str, file: &Option<String>) -> Option<PathBuf> {
        flag.clone()
            .or_else(|| self.var(var).map(PathBuf::from))
            .or_else(|| file.as_deref().filter(|k| !k.is_empty()).map(PathBuf::from))
    }

    /// A secret by the same rule; never parsed, so never echoed in an error.
    fn secret(
        &self,
        flag: Option<&SecretString>,
        var: &str,
        file: Option<&SecretString>,
    ) -> Option<SecretString> {
        flag.cloned()
            .or_else(|| self.var(var).map(SecretString::from))
            .or_else(|| file.cloned())
    }

    /// An on/off switch: a given flag turns it on; else the variable (`true`/`false`,
    /// `1`/`0`, `yes`/`no`, `on`/`off`), else the file, else off.
    fn switch(&self, flag: bool, var: &str, file: Option<bool>) -> Result<bool, String> {
        if flag {
            return Ok(true);
        }
        let Some(raw) = self.var(var) else {
            return Ok(file.unwrap_or(false));
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("invalid {var}={raw:?}: expected true or false")),
        }
    }
}

/// A file key that is text on disk but typed in [`Config`].
fn parsed<T: FromStr>(key: &str, raw: &Option<String>) -> Result<Option<T>, String>
where
    T::Err: Display,
{
    raw.as_deref()
        .map(|raw| {
            raw.parse()
                .map_err(|e| format!("invalid {key} {raw:?} in config file: {e}"))
        })
        .transpose()
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
