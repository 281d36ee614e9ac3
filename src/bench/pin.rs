//! CPU pinning (`--pin-server`, `--pin-client`), so per-core figures come from one command.
//! scopegate forbids unsafe code and has no `libc` dependency of its own, so it cannot call
//! `sched_setaffinity` itself: the server is started through `taskset -c LIST`, and the bench
//! pins every thread it has with `taskset -a -p -c LIST <pid>` (threads started later inherit
//! their creator's mask). Without `taskset` on `PATH` pinning is refused, never skipped.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    str::FromStr,
    sync::OnceLock,
};

use serde_json::{Value, json};

use super::BenchError;

/// The highest CPU number a list may name (the kernel's default `NR_CPUS` limit).
const MAX_CPU: usize = 8191;

/// A CPU list as `taskset -c` and `/proc/<pid>/status` write it: `0`, `0-1`, `0,2-3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList {
    /// The CPUs, ascending, each once.
    cpus: Vec<usize>,
}

impl FromStr for CpuList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid CPU list {text:?}: {why} (e.g. 0, 0-1 or 0,2-3)");
        let number = |n: &str| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_CPU)
                .ok_or_else(|| bad(&format!("{:?} is not a CPU number", n.trim())))
        };
        let mut cpus = Vec::new();
        for item in text.split(',') {
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => {
                    let n = number(item)?;
                    (n, n)
                }
            };
            if first > last {
                return Err(bad(&format!("range {first}-{last} runs backwards")));
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Self { cpus })
    }
}

impl std::fmt::Display for CpuList {
    /// The canonical form: ascending, runs as ranges (`0-2,5`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut i = 0;
        while i < self.cpus.len() {
            let start = self.cpus[i];
            let mut end = start;
            while i + 1 < self.cpus.len() && self.cpus[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if start > self.cpus[0] {
                f.write_str(",")?;
            }
            if end == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl CpuList {
    /// Refuses a CPU this machine does not have (`processors` online).
    pub fn check(&self, flag: &str, processors: usize) -> Result<(), BenchError> {
        match self.cpus.iter().find(|c| **c >= processors) {
            Some(cpu) => Err(BenchError::Usage(format!(
                "{flag} {self}: this machine has CPUs 0-{} only (CPU {cpu})",
                processors.saturating_sub(1)
            ))),
            None => Ok(()),
        }
    }
}

/// `taskset` on `PATH`, or the usage error that says why pinning needs it.
pub(crate) fn taskset() -> Result<PathBuf, BenchError> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("taskset"))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            BenchError::Usage(
                "--pin-server / --pin-client need `taskset` (util-linux) on PATH: scopegate \
                 forbids the unsafe code a direct sched_setaffinity call would take"
                    .into(),
            )
        })
}

/// A command that runs `exe`, through `taskset -c CPUS` when `pin` is given (taskset execs
/// `exe`, so the child's pid is the program's). Unpinned, a child of a bench that pinned
/// itself gets back every CPU the bench had (a child inherits its parent's mask).
pub(crate) fn command(exe: &Path, pin: Option<&CpuList>) -> Result<Command, BenchError> {
    let cpus = pin
        .map(ToString::to_string)
        .or_else(|| UNPINNED.get().cloned());
    Ok(match cpus {
        None => Command::new(exe),
        Some(cpus) => {
            let mut command = Command::new(taskset()?);
            command.arg("-c").arg(cpus).arg(exe);
            command
        }
    })
}

/// The CPU mask the bench had before it pinned itself, for threads that may use every core
/// (token minting between windows).
static UNPINNED: OnceLock<String> = OnceLock::new();

/// Pins every thread of this process to `cpus`.
pub(crate) fn pin_self(cpus: &CpuList) -> Result<(), BenchError> {
    let pid = std::process::id();
    if let Some(before) = allowed(pid) {
        let _ = UNPINNED.set(before);
    }
    run_taskset(&["-a", "-p", "-c", &cpus.to_string(), &pid.to_string()])
}

/// Lets the calling thread run on every CPU the bench had before [`pin_self`] (a no-op when
/// it never pinned itself): minting happens between windows, when the cores are free.
pub(crate) fn unpin_current_thread() {
    let (Some(mask), Ok(link)) = (UNPINNED.get(), std::fs::read_link("/proc/thread-self")) else {
        return;
    };
    let Some(tid) = link.to_str().and_then(|l| l.rsplit('/').next()) else {
        return;
    };
    // Best effort: a thread left pinned only mints more slowly.
    let _ = run_taskset(&["-p", "-c", mask, tid]);
}

fn run_taskset(args: &[&str]) -> Result<(), BenchError> {
    let output = Command::new(taskset()?)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Spawn(format!("taskset: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::Spawn(format!(
            "taskset {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// The CPUs process `pid` may run on (`Cpus_allowed_list` of `/proc/<pid>/status`).
pub(crate) fn allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

/// The JSON `pinning` record, when anything was pinned: the CPU lists asked for (`null`: not
/// pinned) and each process's mask read back from `/proc`.
pub(crate) fn json(
    server: Option<&CpuList>,
    server_pid: Option<u32>,
    client: Option<&CpuList>,
) -> Option<Value> {
    if server.is_none() && client.is_none() {
        return None;
    }
    let side = |asked: Option<&CpuList>, pid: Option<u32>| json!({ "cpus": asked.map(ToString::to_string), "allowed": pid.and_then(allowed) });
    Some(json!({
        "method": "taskset",
        "server": side(server, server_pid),
        "client": side(client, Some(std::process::id())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Result<String, String> {
        text.parse::<CpuList>().map(|l| l.to_string())
    }

    #[test]
    fn cpu_lists_parse_single_cpus_ranges_and_mixtures() {
        assert_eq!(list("0").unwrap(), "0");
        assert_eq!(list("0-1").unwrap(), "0-1");
        assert_eq!(list("3,0-1").unwrap(), "0-1,3");
        assert_eq!(list("0,1,2,5").unwrap(), "0-2,5");
        assert_eq!(list("1-1,1").unwrap(), "1");
        assert_eq!(list(" 2 - 3 ").unwrap(), "2-3");
    }

    #[test]
    fn malformed_cpu_lists_are_refused_with_the_reason() {
        for bad in ["", "a", "1-", "-1", "0,,1", "3-1", "99999", "0-1-2"] {
            let err = list(bad).unwrap_err();
            assert!(err.contains("invalid CPU list"), "{bad:?}: {err}");
        }
        assert!(list("3-1").unwrap_err().contains("backwards"));
    }

    #[test]
    fn a_cpu_the_machine_lacks_is_a_usage_error() {
        let cpus: CpuList = "0-2".parse().unwrap();
        assert!(cpus.check("--pin-server", 3).is_ok());
        let err = cpus.check("--pin-server", 2).unwrap_err();
        assert!(
            matches!(&err, BenchError::Usage(m) if m.contains("CPUs 0-1 only")),
            "{err}"
        );
    }
}
