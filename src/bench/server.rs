//! The server under test: one reached at `--target`, or one the bench starts itself as a child
//! `scopegate serve` process (the current executable) on a temporary SQLite database, port 0
//! and a random admin key. A separate process is what production looks like: its own
//! allocator, runtime and threads, and an RSS that can be read from `/proc`.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Stdio},
    sync::Arc,
    sync::mpsc,
    time::Duration,
};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{
    BenchError, host,
    pin::{self, CpuList},
};
use crate::app::io::Conn;

/// How long the child may take to migrate its database and bind.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A server to drive.
#[derive(Debug)]
pub(crate) struct Server {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    pub admin_key: String,
    /// TLS for an `https://` endpoint.
    tls: Option<Arc<rustls::ClientConfig>>,
    child: Option<Spawned>,
}

/// The child process and its temporary directory; both are gone when this is dropped.
#[derive(Debug)]
struct Spawned {
    child: Child,
    dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // The child holds no state worth a graceful drain: its database is thrown away.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// A running server at `endpoint`.
    pub fn target(
        endpoint: String,
        admin_key: String,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Self {
            endpoint,
            admin_key,
            tls,
            child: None,
        }
    }

    /// Starts `scopegate serve` as a child process on a fresh SQLite database; `config` is
    /// the TOML configuration file content to start it with; `pin`: the CPUs it may run on;
    /// `extra`: more arguments for `serve` (after the bench's own, so they win).
    pub fn spawn(
        config: &str,
        pin: Option<&CpuList>,
        extra: &[String],
    ) -> Result<Self, BenchError> {
        let spawn_err = |what: &str, e: std::io::Error| BenchError::Spawn(format!("{what}: {e}"));
        let exe =
            std::env::current_exe().map_err(|e| spawn_err("cannot find this executable", e))?;
        let dir =
            std::env::temp_dir().join(format!("scopegate-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| spawn_err("cannot create a temp dir", e))?;
        let config_path = dir.join("scopegate.toml");
        let write = std::fs::write(&config_path, config);
        let admin_key = uuid::Uuid::new_v4().simple().to_string();
        let mut command = match pin::command(&exe, pin) {
            Ok(command) => command,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        // The bench's own SCOPEGATE_* settings are for the bench, not for its server.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SCOPEGATE_") {
                command.env_remove(name);
            }
        }
        command
            .arg("--log-json")
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("bench.db").display()))
            .arg("--config")
            .arg(&config_path)
            .args(extra)
            .env("SCOPEGATE_ADMIN_KEY", &admin_key)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = write.and_then(|()| command.spawn());
        let child = match started {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(spawn_err("cannot start `scopegate serve`", e));
            }
        };
        let mut spawned = Spawned { child, dir };
        let addr = listening_addr(&mut spawned.child)?;
        Ok(Self {
            endpoint: format!("http://{addr}"),
            admin_key,
            tls: None,
            child: Some(spawned),
        })
    }

    /// Starts the bare tonic no-op (`scopegate bench-noop-server`, [`super::noop`]) as a
    /// child process on port 0, with `extra` arguments (its canned answers); `pin`: the CPUs
    /// it may run on.
    pub fn spawn_noop(pin: Option<&CpuList>, extra: &[String]) -> Result<Self, BenchError> {
        let spawn_err = |what: &str, e: std::io::Error| BenchError::Spawn(format!("{what}: {e}"));
        let exe =
            std::env::current_exe().map_err(|e| spawn_err("cannot find this executable", e))?;
        let mut command = pin::command(&exe, pin)?;
        let dir =
            std::env::temp_dir().join(format!("scopegate-noop-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| spawn_err("cannot create a temp dir", e))?;
        command
            .args(["--log-json", "bench-noop-server", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            spawn_err("cannot start `scopegate bench-noop-server`", e)
        })?;
        let mut spawned = Spawned { child, dir };
        let addr = listening_addr(&mut spawned.child)?;
        Ok(Self {
            endpoint: format!("http://{addr}"),
            admin_key: String::new(),
            tls: None,
            child: Some(spawned),
        })
    }

    /// The child's process id, when the bench started the server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|s| s.child.id())
    }

    /// One new HTTP/2 connection to the server, over a socket whose writes h2 may coalesce
    /// (`crate::app::io`): a request carrying a token then costs the load generator one write
    /// shared with other requests instead of two of its own, as for the baseline's small ones.
    pub async fn connect(&self) -> Result<Channel, BenchError> {
        // TLS is the connector's (below): tonic refuses an `https` URI without its own TLS
        // config, and the scheme changes nothing else on the wire.
        let uri = match self.endpoint.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => self.endpoint.clone(),
        };
        let tls = self.tls.clone();
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| BenchError::Usage(format!("invalid --target {:?}: {e}", self.endpoint)))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(CALL_TIMEOUT);
        let connector = tower::service_fn(move |uri: Uri| {
            let tls = tls.clone();
            async move {
                let authority = uri.authority().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "no host:port")
                })?;
                let host = authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let conn = match tls {
                    None => {
                        let port = authority.port_u16().unwrap_or(80);
                        Conn::connect(&format!("{}:{port}", authority.host())).await?
                    }
                    Some(config) => {
                        let port = authority.port_u16().unwrap_or(443);
                        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                            .map_err(|e| {
                                std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
                            })?;
                        Conn::connect_tls(&format!("{}:{port}", authority.host()), name, config)
                            .await?
                    }
                };
                Ok::<_, std::io::Error>(TokioIo::new(conn))
            }
        });
        endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| BenchError::Connect(format!("{}: {}", self.endpoint, error_chain(&e))))
    }
}

/// `error` and its causes, each named once (some errors repeat their source in their own text).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads the child's JSON log lines until it says where it listens; afterwards keeps draining
/// them (so the child never blocks on a full pipe), echoing warnings and errors.
fn listening_addr(child: &mut Child) -> Result<String, BenchError> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| BenchError::Spawn("the child's stderr is not piped".into()))?;
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut last = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let fields = &event["fields"];
            let level = event["level"].as_str().unwrap_or_default();
            if matches!(level, "WARN" | "ERROR") {
                eprintln!(
                    "server {level}: {}",
                    fields["message"].as_str().unwrap_or(&line)
                );
                last = fields["message"].as_str().unwrap_or_default().to_owned();
            }
            if fields["message"] == "listening"
                && let Some(addr) = fields["addr"].as_str()
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Ok(addr.to_owned()));
            }
        }
        if let Some(tx) = tx {
            let _ = tx.send(Err(last));
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err(last)) => Err(BenchError::Spawn(format!(
            "`scopegate serve` exited before listening: {last}"
        ))),
        Err(_) => Err(BenchError::Spawn(format!(
            "`scopegate serve` did not listen within {START_TIMEOUT:?}"
        ))),
    }
}

/// Resident set size of process `pid` in KiB (Linux `/proc`; `None` elsewhere).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The CPU time process `pid` had used at one moment (Linux `/proc`): each live thread's, exact,
/// from `task/*/schedstat`, and the whole process's from `stat` in clock ticks. Summing the
/// live threads alone is not a clock: a thread that exits takes its whole history out of the
/// sum, so a window in which one exits could read as no CPU at all. The ticks keep exited
/// threads' time, at 10 ms granularity per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CpuSample {
    /// `(tid, ns)` of every thread alive when sampled.
    threads: Vec<(u32, u64)>,
    /// `utime + stime` of the process, exited threads included, in nanoseconds (`None` where
    /// `stat` could not be read).
    ticks_ns: Option<u64>,
}

/// Nanoseconds per clock tick at the usual 100 ticks per second.
const TICK_NS: u64 = 10_000_000;

impl CpuSample {
    /// Samples process `pid`; `None` where neither source can be read.
    pub(crate) fn take(pid: u32) -> Option<Self> {
        let mut threads = Vec::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let tid = task.file_name().to_str().and_then(|t| t.parse().ok());
                // A thread that exits while we list them has nothing left to read.
                let ns = std::fs::read_to_string(task.path().join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok());
                if let (Some(tid), Some(ns)) = (tid, ns) {
                    threads.push((tid, ns));
                }
            }
        }
        let ticks_ns = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(host::process_ticks)
            .map(|t| t * TICK_NS);
        (!threads.is_empty() || ticks_ns.is_some()).then_some(Self { threads, ticks_ns })
    }

    /// CPU time used between `start` and this sample, in nanoseconds: each surviving or new
    /// thread's exact increase, unless the process's ticks show more than that by more than
    /// their rounding (threads that ran and exited in between), then the ticks' figure.
    pub(crate) fn used_since(&self, start: &Self) -> u64 {
        let ticks = self
            .ticks_ns
            .zip(start.ticks_ns)
            .map(|(end, start)| end.saturating_sub(start));
        if self.threads.is_empty() || start.threads.is_empty() {
            return ticks.unwrap_or(0);
        }
        let live: u64 = self
            .threads
            .iter()
            .map(|&(tid, ns)| {
                let before = start
                    .threads
                    .iter()
                    .find(|&&(t, _)| t == tid)
                    .map_or(0, |t| t.1);
                ns.saturating_sub(before)
            })
            .sum();
        match ticks {
            // utime and stime are each rounded down at both ends: two ticks either way.
            Some(ticks) if ticks > live + 2 * TICK_NS => ticks,
            _ => live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuSample, TICK_NS, error_chain};

    fn sample(threads: &[(u32, u64)], ticks: Option<u64>) -> CpuSample {
        CpuSample {
            threads: threads.to_vec(),
            ticks_ns: ticks.map(|t| t * TICK_NS),
        }
    }

    #[test]
    fn a_thread_that_exits_does_not_take_its_history_out_of_the_window() {
        // Thread 2 had used 5 s before the window and exited in it; thread 1 used 0.3 s more.
        let start = sample(&[(1, 1_000_000_000), (2, 5_000_000_000)], Some(600));
        let end = sample(&[(1, 1_300_000_000)], Some(630));
        assert_eq!(end.used_since(&start), 300_000_000);
        // A thread born in the window counts whole.
        let end = sample(&[(1, 1_300_000_000), (3, 40_000_000)], Some(634));
        assert_eq!(end.used_since(&start), 340_000_000);
    }

    #[test]
    fn threads_that_ran_and_exited_in_the_window_are_counted_from_the_ticks() {
        let start = sample(&[(1, 1_000_000_000), (2, 0)], Some(100));
        // Thread 2 used 0.5 s and exited; only the ticks saw it.
        let end = sample(&[(1, 1_100_000_000)], Some(160));
        assert_eq!(end.used_since(&start), 600_000_000);
        // Within the ticks' rounding the threads' exact figure stands.
        let end = sample(&[(1, 1_100_000_000)], Some(112));
        assert_eq!(end.used_since(&start), 100_000_000);
        // Without per-thread figures the ticks are all there is.
        assert_eq!(
            sample(&[], Some(112)).used_since(&sample(&[], Some(100))),
            120_000_000
        );
    }

    #[test]
    fn this_process_is_sampled_and_its_clock_moves_forward() {
        let pid = std::process::id();
        let Some(start) = CpuSample::take(pid) else {
            assert!(!std::path::Path::new("/proc/self").exists());
            return;
        };
        let mut spun = 0u64;
        let work = std::time::Instant::now();
        while work.elapsed() < std::time::Duration::from_millis(30) {
            spun = std::hint::black_box(spun.wrapping_add(1));
        }
        let end = CpuSample::take(pid).unwrap();
        assert!(end.used_since(&start) > 0, "{start:?} {end:?}");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeating(#[source] std::io::Error);

    #[test]
    fn each_cause_is_named_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&Outer(refused())), "outer: refused");
        assert_eq!(error_chain(&Repeating(refused())), "outer: refused");
    }
}
