//! The load loop: `concurrency` workers spread round-robin over the connections, each sending
//! one call at a time (closed loop) for the warm-up and then the measured window; latencies
//! of calls started inside the window go to an HDR histogram.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use super::{
    BenchError, host,
    idp_stub::ThreadClock,
    scenario::{Conn, Outcome, Workload},
    server,
};

/// How hard and how long to drive one scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server's process id when it is ours: its CPU time over the window is measured.
    pub server_pid: Option<u32>,
}

/// What one scenario measured.
#[derive(Debug)]
pub(crate) struct Measured {
    pub name: String,
    pub concurrency: usize,
    /// Successful calls started in the window.
    pub ok: u64,
    /// Failed calls started in the window.
    pub errors: u64,
    /// The window's length: `duration`, or less when a cold pool ran dry in it.
    pub window: Duration,
    /// Latencies of the successful calls, in microseconds.
    pub latency: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// A cold pool ran dry before the window ended: the window (and its CPU figures) stop at
    /// that point, and the report says so.
    pub window_cut: bool,
    /// CPU time the server used during the window (spawned servers only).
    pub server_cpu: Option<Duration>,
    /// CPU time the stub IdP's thread used during the window (opaque tokens only).
    pub stub_cpu: Option<Duration>,
    /// The share of the machine's CPU that processes other than the server and the bench used
    /// during the window ([`host::Snapshot::other_share`]; Linux).
    pub other_cpu_share: Option<f64>,
}

impl Measured {
    /// Successful calls per second over the window.
    pub fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per call (successful or not) in the window.
    pub fn server_cpu_us(&self) -> Option<f64> {
        let calls = self.ok + self.errors;
        self.server_cpu
            .filter(|_| calls > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / calls as f64)
    }

    /// The stub IdP's CPU microseconds per call (successful or not) in the window.
    pub fn stub_cpu_us(&self) -> Option<f64> {
        let calls = self.ok + self.errors;
        self.stub_cpu
            .filter(|_| calls > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / calls as f64)
    }

    /// A latency quantile in microseconds.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
}

struct Worker {
    ok: u64,
    errors: u64,
    latency: Histogram<u64>,
    first_error: Option<String>,
}

fn histogram() -> Result<Histogram<u64>, BenchError> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| BenchError::Setup(format!("histogram: {e}")))
}

/// Drives `workload` with `load` over `conns` and measures it.
pub(crate) async fn drive(
    name: &str,
    workload: Arc<Workload>,
    conns: &[Conn],
    load: Load,
) -> Result<Measured, BenchError> {
    let started = Instant::now();
    let measure_from = started + load.warmup;
    let until = measure_from + load.duration;
    // Nanoseconds after `started` at which a pool first ran dry (u64::MAX: never).
    let dry_at = Arc::new(AtomicU64::new(u64::MAX));
    // Woken when a pool runs dry, so the window's CPU figures end where its calls did.
    let cut = Arc::new(tokio::sync::Notify::new());
    // Samples the server's CPU time (and the stub IdP's, for a workload that calls one) and the
    // machine's, at both ends of the window.
    let (server_pid, stub) = (load.server_pid, workload.stub_clock());
    let mut ours: Vec<u32> = server_pid.into_iter().chain([std::process::id()]).collect();
    // A server inside the bench's own process (tests) is counted once.
    ours.dedup();
    let sample = move || {
        (
            server_pid.and_then(server::CpuSample::take),
            stub.and_then(ThreadClock::cpu_ns),
            host::Snapshot::take(&ours),
        )
    };
    let woken = Arc::clone(&cut);
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let start = sample();
        tokio::select! {
            () = tokio::time::sleep_until(until.into()) => {}
            () = woken.notified() => {}
        }
        let end = sample();
        let used = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
        let server = start.0.zip(end.0).map(|(a, b)| b.used_since(&a));
        let other = start.2.zip(end.2).and_then(|(a, b)| a.other_share(&b));
        (server, used(start.1, end.1), other)
    });
    let mut workers = JoinSet::new();
    for w in 0..load.concurrency.max(1) {
        let mut conn = conns[w % conns.len()].clone();
        let workload = Arc::clone(&workload);
        let dry_at = Arc::clone(&dry_at);
        let cut = Arc::clone(&cut);
        let mut worker = Worker {
            ok: 0,
            errors: 0,
            latency: histogram()?,
            first_error: None,
        };
        workers.spawn(async move {
            // Workers start at different offsets so cycling pools spread over their tokens.
            let mut seq = w.wrapping_mul(7919);
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let outcome = workload.call(&mut conn, seq).await;
                seq = seq.wrapping_add(1);
                let measured = sent >= measure_from;
                match outcome {
                    Outcome::Ok if measured => {
                        let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        worker.latency.saturating_record(us.max(1));
                        worker.ok += 1;
                    }
                    Outcome::Ok => {}
                    Outcome::Failed(why) => {
                        if measured {
                            worker.errors += 1;
                        }
                        worker.first_error.get_or_insert(why);
                    }
                    Outcome::Exhausted => {
                        let at = u64::try_from((sent - started).as_nanos()).unwrap_or(u64::MAX);
                        dry_at.fetch_min(at, Ordering::Relaxed);
                        cut.notify_one();
                        break;
                    }
                }
            }
            worker
        });
    }
    let mut total = Measured {
        name: name.to_owned(),
        concurrency: load.concurrency,
        ok: 0,
        errors: 0,
        window: load.duration,
        latency: histogram()?,
        first_error: None,
        window_cut: false,
        server_cpu: None,
        stub_cpu: None,
        other_cpu_share: None,
    };
    while let Some(joined) = workers.join_next().await {
        let worker = joined.map_err(|e| BenchError::Setup(format!("a worker failed: {e}")))?;
        total.ok += worker.ok;
        total.errors += worker.errors;
        total
            .latency
            .add(&worker.latency)
            .map_err(|e| BenchError::Setup(format!("histogram: {e}")))?;
        if total.first_error.is_none() {
            total.first_error = worker.first_error;
        }
    }
    let dry = dry_at.load(Ordering::Relaxed);
    if dry != u64::MAX && started + Duration::from_nanos(dry) <= measure_from {
        cpu.abort();
        return Err(BenchError::PoolTooSmall(name.to_owned()));
    }
    // A cut window's figures end at the cut (the sampler was woken then).
    if let Ok((server_ns, stub_ns, other)) = cpu.await {
        total.server_cpu = server_ns.map(Duration::from_nanos);
        total.stub_cpu = stub_ns.map(Duration::from_nanos);
        total.other_cpu_share = other;
    }
    if dry != u64::MAX {
        let dry = started + Duration::from_nanos(dry);
        if dry < until {
            total.window = dry - measure_from;
            total.window_cut = true;
        }
    }
    Ok(total)
}
