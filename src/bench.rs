//! `scopegate bench`: a load generator that drives a running server (`--target`) or one it
//! starts itself (`--spawn`) over loopback gRPC, and reports each RPC's requests/s and
//! latency next to `grpc.health.v1.Health/Check`, a no-op baseline measured in the same run.
//!
//! The path of a run: [`server`] starts or reaches the server → [`setup`] creates throwaway
//! tenants, keys, scopes and operations through the admin API → [`keys`] mints tokens →
//! [`plan`] builds each [`scenario`]'s workload, its requests encoded once by [`requests`] →
//! [`driver`] runs it for a fixed time after a warm-up, the calls sent as bytes and their
//! answers decoded slim by [`wire`] → [`report`] prints the table and JSON, [`svg`] draws the
//! chart. [`measure`] runs them all (`--repeat` times, [`repeats`] summarises), each window
//! watched by [`host`] for other processes' CPU use; [`pin`] pins the server and the bench to
//! CPUs. [`noop`] is the bare tonic no-op `health_check` is compared with, and whose canned
//! `CheckScopes` and `Introspect` give [`floor`], their transport floor. [`memory`] is the
//! RSS harness (`--memory`), [`admin_writes`] the write-throughput one (`--admin-writes`);
//! [`idp_stub`] is the stand-in authorization server `introspect_cold_opaque` asks through the
//! server.

mod admin_writes;
mod driver;
mod floor;
mod host;
mod idp_stub;
mod keys;
mod measure;
mod memory;
mod noop;
mod pin;
mod plan;
mod repeats;
mod report;
mod requests;
mod scenario;
mod server;
mod setup;
mod svg;
mod wire;

use std::{io::Write, path::PathBuf, time::Duration};

use self::{
    driver::Load,
    idp_stub::IdpStub,
    scenario::{BASELINE, Conn, OPAQUE},
    server::Server,
    setup::{Admin, Fixture},
};
pub use self::{
    noop::{NoopArgs, serve as serve_noop},
    pin::CpuList,
    scenario::NAMES,
};

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the server: {0}")]
    Spawn(String),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("set-up failed: {0}")]
    Setup(String),
    #[error(
        "{0}: the token pool ran dry during the warm-up; raise --max-cold-tokens or shorten --warmup"
    )]
    PoolTooSmall(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BenchError {
    /// 2 for a usage error, 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        if matches!(self, Self::Usage(_)) { 2 } else { 1 }
    }
}

/// `scopegate bench` options.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = format!("Scenarios: {}", NAMES.join(", ")))]
pub struct BenchArgs {
    /// gRPC endpoint of a running server to drive, e.g. http://127.0.0.1:50051, or
    /// https://host:port with `--ca-cert`.
    #[arg(long, conflicts_with = "spawn", required_unless_present = "spawn")]
    pub target: Option<String>,
    /// The target's bootstrap admin key (the bench creates and deletes its own tenants).
    #[arg(long, env = "SCOPEGATE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// CA certificates (PEM) an `https://` target's certificate must chain to.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for a target that requires mTLS; with `--client-key`.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--client-cert`.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
    /// Start a throwaway server (this executable's `serve`, as a child process) on a temporary
    /// SQLite database and port 0.
    #[arg(long)]
    pub spawn: bool,
    /// An argument for the spawned server's `serve` (repeatable, in order), e.g.
    /// `--server-arg=--decision-log=all`.
    #[arg(
        long = "server-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        requires = "spawn"
    )]
    pub server_args: Vec<String>,
    /// Seconds each scenario is measured.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds each scenario runs before it is measured.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Calls in flight at once (closed loop: each worker sends its next call when the last
    /// one answered).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Comma-separated scenarios to run (default: all); the baseline always runs.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG chart of the results to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also measure check_scopes_cached_token and health_check at each of these
    /// concurrencies, e.g. 1,4,16,64,256.
    #[arg(long, value_delimiter = ',')]
    pub sweep_concurrency: Vec<usize>,
    /// Distinct cached tokens the cached scenarios cycle through.
    #[arg(long, default_value_t = 1_000)]
    pub cached_tokens: usize,
    /// Most tokens minted for one cold scenario (each is used once).
    #[arg(long, default_value_t = 200_000)]
    pub max_cold_tokens: usize,
    /// Instead of the scenarios: fill a spawned server's caches (--memory-tenants tenants of
    /// 50 scopes, --memory-tokens verified tokens) and report its resident memory.
    #[arg(long, requires = "spawn")]
    pub memory: bool,
    /// Instead of the scenarios: measure admin writes (ManageScope creates per second with one
    /// writer and with eight, for --duration seconds each, and the time to import a catalog of
    /// 1,000 scopes) on throwaway tenants it deletes afterwards.
    #[arg(long, conflicts_with = "memory")]
    pub admin_writes: bool,
    /// Tenants loaded by --memory.
    #[arg(long, default_value_t = 10_000)]
    pub memory_tenants: usize,
    /// Verified tokens cached by --memory.
    #[arg(long, default_value_t = 100_000)]
    pub memory_tokens: usize,
    /// Run each scenario, each time right after a baseline of its own, this many times; the
    /// table shows each figure's median and the min / median / max of the repeats.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// With --target: the server's process id on this machine, so its CPU time per call is
    /// reported (and not counted as another process's load).
    #[arg(long, value_name = "PID", requires = "target")]
    pub server_pid: Option<u32>,
    /// With --spawn: the CPUs the server (and the bare tonic no-op) may run on, e.g. 0 or
    /// 0-1 (through taskset).
    #[arg(long, value_name = "CPUS", requires = "spawn")]
    pub pin_server: Option<CpuList>,
    /// The CPUs the bench's own threads (the load generator) run on, e.g. 1 (through
    /// taskset; token minting between windows still uses every CPU).
    #[arg(long, value_name = "CPUS")]
    pub pin_client: Option<CpuList>,
}

impl BenchArgs {
    fn load(&self, concurrency: usize, server_pid: Option<u32>) -> Load {
        Load {
            concurrency,
            server_pid,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
        }
    }

    fn validate(&self) -> Result<Vec<&'static str>, BenchError> {
        let usage = |m: &str| Err(BenchError::Usage(m.to_owned()));
        if !(self.duration > 0.0 && self.duration <= 3600.0) {
            return usage("--duration must be between 0 and 3600 seconds");
        }
        if !(self.warmup >= 0.0 && self.warmup <= 600.0) {
            return usage("--warmup must be between 0 and 600 seconds");
        }
        let sizes = [self.connections, self.concurrency, self.cached_tokens];
        if sizes.contains(&0) || self.sweep_concurrency.contains(&0) {
            return usage(
                "--connections, --concurrency, --cached-tokens and sweep levels must be at least 1",
            );
        }
        if !(1..=100).contains(&self.repeat) {
            return usage("--repeat must be between 1 and 100");
        }
        if let Some(pid) = self.server_pid
            && !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
        {
            return Err(BenchError::Usage(format!(
                "--server-pid {pid}: no such process on this machine"
            )));
        }
        let processors = host::Cpu::read().processors;
        for (flag, cpus) in [
            ("--pin-server", &self.pin_server),
            ("--pin-client", &self.pin_client),
        ] {
            if let Some(cpus) = cpus {
                cpus.check(flag, processors)?;
                pin::taskset()?;
            }
        }
        if self
            .concurrency
            .max(*self.sweep_concurrency.iter().max().unwrap_or(&1))
            > 10_000
        {
            return usage("concurrency is capped at 10000");
        }
        for name in &self.scenarios {
            if !NAMES.contains(&name.as_str()) {
                return Err(BenchError::Usage(format!(
                    "unknown scenario {name:?}; known: {}",
                    NAMES.join(", ")
                )));
            }
        }
        Ok(NAMES
            .into_iter()
            .filter(|n| {
                *n == BASELINE || self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == n)
            })
            .collect())
    }
}

/// Runs the bench; the table goes to `out`, progress to stderr.
pub async fn run(args: &BenchArgs, out: &mut impl Write) -> Result<(), BenchError> {
    let names = args.validate()?;
    if let Some(cpus) = &args.pin_client {
        pin::pin_self(cpus)?;
        eprintln!("bench: the load generator runs on CPUs {cpus}");
    }
    // Started before the server, so the stub's endpoint is known when its tenant is made.
    let stub = if names.contains(&OPAQUE) && !args.memory && !args.admin_writes {
        Some(IdpStub::start(&idp_stub::answer())?)
    } else {
        None
    };
    let server = match (&args.target, args.spawn) {
        (None, true) => {
            let config = if args.memory {
                memory::server_config(args.memory_tenants, args.memory_tokens)
            } else if stub.is_some() {
                idp_stub::SERVER_CONFIG.to_owned()
            } else {
                String::new()
            };
            Server::spawn(&config, args.pin_server.as_ref(), &args.server_args)?
        }
        (Some(target), false) => {
            let key = args
                .admin_key
                .clone()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    BenchError::Usage(
                        "--target needs the server's --admin-key (or SCOPEGATE_ADMIN_KEY)".into(),
                    )
                })?;
            let tls = match (target.starts_with("https://"), &args.ca_cert) {
                (false, _) => None,
                (true, None) => {
                    return Err(BenchError::Usage(
                        "an https:// --target needs --ca-cert".into(),
                    ));
                }
                (true, Some(ca)) => {
                    let identity = args.client_cert.as_deref().zip(args.client_key.as_deref());
                    let config =
                        crate::tls::client_config(ca, identity).map_err(BenchError::Usage)?;
                    Some(std::sync::Arc::new(config))
                }
            };
            Server::target(target.clone(), key, tls)
        }
        _ => {
            return Err(BenchError::Usage(
                "give exactly one of --target or --spawn".into(),
            ));
        }
    };
    eprintln!("bench: server at {}", server.endpoint);
    let mut conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        conns.push(server.connect().await?);
    }
    let admin = Admin::new(conns[0].clone(), &server.admin_key)?;
    if args.memory {
        return memory::run(&server, &conns, admin, args, out).await;
    }
    if args.admin_writes {
        return admin_writes::run(admin, args, out).await;
    }
    let conns: Vec<Conn> = conns.iter().map(Conn::new).collect();
    let endpoint = stub.as_ref().map(|s| s.endpoint.as_str());
    let fixture = Fixture::create(admin, endpoint).await?;
    let outcome =
        measure::scenarios(args, &names, &fixture, &conns, &server, stub.as_ref(), out).await;
    if args.target.is_some()
        && let Err(err) = fixture.remove().await
    {
        eprintln!("bench: could not delete the bench tenants: {err}");
    }
    outcome
}

pub(crate) fn write_file(path: &PathBuf, content: &str) -> Result<(), BenchError> {
    std::fs::write(path, content).map_err(|source| BenchError::Write {
        path: path.clone(),
        source,
    })
}
