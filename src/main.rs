//! The `scopegate` binary: parses configuration, sets up logging, builds the app, waits for a
//! signal; admin subcommands go to `scopegate::cli`. Everything else lives in the library.

use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use scopegate::{
    app::App,
    bench::{self, BenchArgs},
    cli::{self, AdminCommand},
    config::{AdminKeyHash, Config, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, FileConfig},
    store, telemetry,
    tenant::TenantId,
};

#[derive(Debug, Parser)]
#[command(
    name = "scopegate",
    version,
    about = "Token introspection, scope decisions and OAuth scope catalogs over gRPC"
)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "SCOPEGATE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DbArgs),
    /// Load-test a server (or one started for the purpose) against a no-op baseline.
    Bench(BenchArgs),
    #[command(flatten)]
    Admin(AdminCommand),
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// `sqlite://FILE` (created on first run) or `postgres://…` [default: sqlite://scopegate.db]
    #[arg(long, env = "SCOPEGATE_DATABASE_URL")]
    database_url: Option<String>,
    /// Optional TOML configuration file; flags and environment variables win over it.
    #[arg(long, env = "SCOPEGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:50051]
    #[arg(long, env = "SCOPEGATE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Bootstrap admin bearer key for the admin API (kept only as its SHA-256).
    #[arg(long, env = "SCOPEGATE_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// Tenant whose access tokens (with its reserved admin scopes, first-party clients only)
    /// administer every tenant; other tenants' admin tokens administer only their own tenant.
    #[arg(long, env = "SCOPEGATE_ADMIN_TENANT")]
    admin_tenant: Option<String>,
    /// Serve the HTTP door at ADDR: `/healthz` and `/readyz` probes (off unless set).
    #[arg(long, env = "SCOPEGATE_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics (off unless set).
    #[arg(long, env = "SCOPEGATE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Seconds in-flight calls may drain after SIGTERM/SIGINT [default: 10]
    #[arg(long, env = "SCOPEGATE_SHUTDOWN_GRACE_SECONDS")]
    shutdown_grace_seconds: Option<u64>,
    /// Export a span per gRPC call to this OpenTelemetry collector (OTLP/gRPC,
    /// `http://host:4317`; off unless set). Callers' W3C `traceparent` is honoured.
    #[arg(long, env = "SCOPEGATE_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Most open connections; more are closed at accept [default: 10000]
    #[arg(long, env = "SCOPEGATE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most decision/introspection calls handled at once; more are shed with
    /// RESOURCE_EXHAUSTED [default: 4096]
    #[arg(long, env = "SCOPEGATE_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// Let tenants' `jwks_uri` reach loopback, private, link-local and unique-local addresses
    /// (on-premises IdPs, local testing). Off: such destinations are refused, also when a name
    /// resolves to one. See also the file keys `jwks_allow_networks`/`jwks_deny_networks`.
    #[arg(long, env = "SCOPEGATE_JWKS_ALLOW_PRIVATE_NETWORKS")]
    jwks_allow_private_networks: bool,
    /// Let tenants' `jwks_uri` use plain `http://` (off: https is required).
    #[arg(long, env = "SCOPEGATE_JWKS_ALLOW_PLAIN_HTTP")]
    jwks_allow_plain_http: bool,
}

fn load(db: &DbArgs) -> Result<(Config, FileConfig), String> {
    let file = match &db.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let url = db
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let mut config = Config::new(url);
    file.apply(&mut config)?;
    Ok((config, file))
}

fn serve_config(args: &ServeArgs) -> Result<Config, String> {
    let (mut config, file) = load(&args.db)?;
    let listen = match (&args.listen, &file.listen) {
        (Some(addr), _) => *addr,
        (None, Some(raw)) => raw
            .parse()
            .map_err(|e| format!("invalid listen address {raw:?} in config file: {e}"))?,
        (None, None) => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    config.listen = listen;
    config.http_listen = match (&args.http_listen, &file.http_listen) {
        (Some(addr), _) => Some(*addr),
        (None, Some(raw)) => Some(
            raw.parse()
                .map_err(|e| format!("invalid http_listen address {raw:?} in config file: {e}"))?,
        ),
        (None, None) => None,
    };
    let key = args
        .admin_key
        .as_deref()
        .or(file.admin_key.as_deref())
        .filter(|k| !k.is_empty());
    config.admin_key = key.map(AdminKeyHash::of);
    if let Some(raw) = args
        .admin_tenant
        .as_deref()
        .or(file.admin_tenant.as_deref())
        .filter(|t| !t.is_empty())
    {
        let id = TenantId::parse(raw).map_err(|e| format!("invalid admin tenant {raw:?}: {e}"))?;
        config.admin_tenant = Some(id);
    }
    if let Some(secs) = args.shutdown_grace_seconds {
        config.shutdown_grace = Duration::from_secs(secs);
    }
    if let Some(n) = args.max_connections {
        config.limits.max_connections = n.max(1);
    }
    if let Some(n) = args.max_in_flight {
        config.limits.max_in_flight = n.max(1);
    }
    if args.jwks_allow_private_networks {
        config.jwks.networks.allow_private = true;
    }
    if args.jwks_allow_plain_http {
        config.jwks.allow_plain_http = true;
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let otlp = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.as_deref(),
        _ => None,
    };
    let telemetry = match telemetry::init(cli.log_json, otlp) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve(&args).await,
        Command::Migrate(db) => migrate(&db).await,
        Command::Admin(command) => return admin(command).await,
        Command::Bench(args) => return run_bench(&args).await,
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &ServeArgs) -> Result<(), String> {
    let config = serve_config(args)?;
    if config.admin_key.is_none() {
        tracing::warn!(
            "no admin key configured (--admin-key / SCOPEGATE_ADMIN_KEY): the admin API refuses every call"
        );
    }
    if let Some(addr) = args.metrics_listen {
        telemetry::serve_metrics(addr)?;
        tracing::info!(%addr, "serving metrics at /metrics");
    }
    let app = App::build(config).await.map_err(|e| e.to_string())?;
    tracing::info!(addr = %app.local_addr(), "listening");
    if let Some(addr) = app.http_addr() {
        tracing::info!(%addr, "serving HTTP (/healthz, /readyz)");
    }
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(db: &DbArgs) -> Result<(), String> {
    let (config, _) = load(db)?;
    store::connect(&config.database_url)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Runs an admin subcommand: its result on stdout, its error report on stderr.
async fn admin(command: AdminCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let result = cli::run(command, &mut out).await;
    let flushed = out.flush();
    match result.and(flushed.map_err(cli::CliError::from)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", err.report());
            ExitCode::from(err.exit_code())
        }
    }
}

/// Runs the load generator: its table on stdout, progress and errors on stderr.
async fn run_bench(args: &BenchArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match bench::run(args, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
