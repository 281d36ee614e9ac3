//! The `scopegate` binary: parses configuration, sets up logging, builds the app, waits for a
//! signal; admin subcommands go to `scopegate::cli`. Everything else lives in the library.

use std::{io::Write, process::ExitCode};

use secrecy::ExposeSecret as _;

use clap::{Parser, Subcommand};
use scopegate::{
    app::App,
    bench::{self, BenchArgs},
    cli::{self, AdminCommand},
    config::{self, Config, DbFlags, Env, FileConfig, ServeFlags},
    store, telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "scopegate",
    version,
    about = "Token introspection, scope decisions and OAuth scope catalogs over gRPC"
)]
struct Cli {
    /// Log as JSON lines instead of text [env: SCOPEGATE_LOG_JSON]
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve(ServeFlags),
    /// Apply the database migrations and exit.
    Migrate(DbFlags),
    /// Load-test a server (or one started for the purpose) against a no-op baseline.
    Bench(BenchArgs),
    /// The bench's bare tonic no-op baseline (grpc.health.v1 only), spawned by `bench --spawn`.
    #[command(hide = true)]
    BenchNoopServer(bench::NoopArgs),
    #[command(flatten)]
    Admin(AdminCommand),
}

/// The configuration of `serve` and `migrate` (flags, `SCOPEGATE_*` variables, the file);
/// `None` for commands that read none.
fn load(cli: &Cli) -> Result<Option<Config>, String> {
    let flags = match &cli.command {
        Command::Serve(flags) => flags.clone(),
        Command::Migrate(db) => ServeFlags {
            db: db.clone(),
            ..ServeFlags::default()
        },
        Command::Bench(_) | Command::BenchNoopServer(_) | Command::Admin(_) => return Ok(None),
    };
    let flags = ServeFlags {
        log_json: cli.log_json,
        ..flags
    };
    let env: Env<'_> = &config::process_env;
    let file = FileConfig::named_by(&flags.db, env)?;
    Config::load(&flags, env, &file).map(Some)
}

/// Resolves at the first SIGTERM or SIGINT. The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives while calls are being answered
/// must start the drain, never kill the process outright.
fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|term| {
            let interrupt = signal(SignalKind::interrupt())?;
            Ok((term, interrupt))
        });
        async move {
            match handlers {
                Ok((mut term, mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGTERM or SIGINT; only Ctrl-C stops the server");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let log_json = match &config {
        Some(config) => Ok(config.log_json),
        None => config::log_json(cli.log_json, &config::process_env),
    };
    let otlp = match (&cli.command, &config) {
        (Command::Serve(_), Some(config)) => config
            .otlp_endpoint
            .as_deref()
            .map(|endpoint| (endpoint, &config.otlp_tls)),
        _ => None,
    };
    let telemetry = match log_json.and_then(|json| telemetry::init(json, otlp)) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match (cli.command, config) {
        (Command::Serve(_), Some(config)) => serve(config).await,
        (Command::Migrate(_), Some(config)) => migrate(&config).await,
        (Command::Admin(command), _) => return admin(command).await,
        (Command::Bench(args), _) => return run_bench(&args).await,
        (Command::BenchNoopServer(args), _) => bench::serve_noop(&args, shutdown_signal()).await,
        (Command::Serve(_) | Command::Migrate(_), None) => {
            Err("no configuration was loaded".to_owned())
        }
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

async fn serve(config: Config) -> Result<(), String> {
    let shutdown = shutdown_signal();
    let configured_key = config.admin_key.is_some();
    let metrics = config
        .metrics_listen
        .map(|addr| telemetry::Metrics::install().map(|m| (m, addr)))
        .transpose()?;
    let limits = config.limits.clone();
    let app = App::build(config).await.map_err(|e| e.to_string())?;
    match app.generated_admin_key() {
        Some(key) => {
            let scheme = if app.tls().is_some() { "https" } else { "http" };
            let server = format!("{scheme}://{}", app.local_addr());
            print_generated_admin_key(key.expose_secret(), &server);
        }
        None if !configured_key && app.has_admin_key() => tracing::info!(
            "admin key: the one generated on this database's first start (shown then only; \
             --admin-key / SCOPEGATE_ADMIN_KEY sets your own)"
        ),
        None if !configured_key => tracing::warn!(
            "no admin key configured (--admin-key / SCOPEGATE_ADMIN_KEY / admin_key): the admin API refuses every call"
        ),
        None => {}
    }
    tracing::info!(addr = %app.local_addr(), tls = app.tls().is_some(), "listening");
    if let Some(addr) = app.http_addr() {
        tracing::info!(%addr, "serving HTTP (forward auth, RFC 7662 introspection, probes)");
    }
    if let Some((metrics, addr)) = metrics {
        let addr = metrics.serve(addr, app.tls(), &limits).await?;
        tracing::info!(%addr, tls = app.tls().is_some(), "serving metrics at /metrics");
    }
    app.run_until(shutdown).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// Shows the first-run admin key once, on stdout (never through the logs, which are kept and
/// shipped), with how to use it.
fn print_generated_admin_key(key: &str, server: &str) {
    let mut out = std::io::stdout().lock();
    let shown = writeln!(
        out,
        "\nNo admin key was configured, so this first start of the database generated one.\n\
         It is shown only now; the database keeps only its SHA-256:\n\n    {key}\n\n\
         Use it with the admin commands, e.g.:\n\n    \
         export SCOPEGATE_ADMIN_KEY='{key}'\n    \
         scopegate tenants list --server {server}\n\n\
         Starting with --admin-key (or SCOPEGATE_ADMIN_KEY / admin_key) uses your key instead.\n"
    )
    .and_then(|()| out.flush());
    if let Err(err) = shown {
        tracing::error!(%err, "cannot print the generated admin key");
    }
}

async fn migrate(config: &Config) -> Result<(), String> {
    store::connect(config.database_url.expose())
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
