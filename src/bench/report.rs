//! The results: a readable table, the JSON document (`--json`), and the rows both are made of,
//! each scenario relative to the no-op baseline measured in the same run.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{
    driver::Measured,
    floor::{self, Floor},
    host::{BUSY_SHARE, Cpu},
    repeats::{Noop, Repeated},
};

/// One scenario's line.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub name: String,
    pub concurrency: usize,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub errors: u64,
    /// rps / baseline rps.
    pub ratio: f64,
    /// p99 / baseline p99.
    pub p99_ratio: f64,
    /// Server CPU microseconds per call, when the bench spawned the server.
    pub server_cpu_us: Option<f64>,
    /// That CPU cost over the baseline's.
    pub cpu_ratio: Option<f64>,
    /// The stub IdP's CPU microseconds per call (in the bench process, not the server's).
    pub stub_cpu_us: Option<f64>,
    /// Why the numbers need a footnote (a cold pool ran dry, the first error).
    pub note: String,
    /// The measured window in seconds: shorter than `--duration` when it was cut.
    pub window_s: f64,
    /// A cold pool ran out of fresh tokens before the window ended (the window stops there).
    pub window_cut: bool,
    /// The share of the machine's CPU other processes used in this scenario's window.
    pub other_cpu_share: Option<f64>,
    /// The same in its baseline's window.
    pub baseline_other_cpu_share: Option<f64>,
}

impl Row {
    /// `measured` relative to `baseline` (itself when it is the baseline).
    pub fn new(measured: &Measured, baseline: &Measured) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let mut note = String::new();
        if measured.window_cut {
            let _ = write!(
                note,
                "window cut: the pool of fresh tokens ran dry after {:.2} s (raise --max-cold-tokens)",
                measured.window.as_secs_f64()
            );
        }
        if let Some(us) = measured.stub_cpu_us() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let _ = write!(
                note,
                "the stub IdP (its own thread in the bench process) used {us:.1} us CPU per call, not counted in srv cpu us"
            );
        }
        if let Some(err) = &measured.first_error {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let _ = write!(
                note,
                "first error: {}",
                err.chars().take(120).collect::<String>()
            );
        }
        Self {
            name: measured.name.clone(),
            concurrency: measured.concurrency,
            rps: measured.rps(),
            p50_us: measured.quantile_us(0.50),
            p99_us: measured.quantile_us(0.99),
            p999_us: measured.quantile_us(0.999),
            errors: measured.errors,
            ratio: ratio(measured.rps(), baseline.rps()),
            p99_ratio: ratio(
                measured.quantile_us(0.99) as f64,
                baseline.quantile_us(0.99) as f64,
            ),
            server_cpu_us: measured.server_cpu_us(),
            cpu_ratio: measured
                .server_cpu_us()
                .zip(baseline.server_cpu_us())
                .map(|(a, b)| ratio(a, b)),
            stub_cpu_us: measured.stub_cpu_us(),
            note,
            window_s: measured.window.as_secs_f64(),
            window_cut: measured.window_cut,
            other_cpu_share: measured.other_cpu_share,
            baseline_other_cpu_share: baseline.other_cpu_share,
        }
    }

    /// The larger share of the machine's CPU other processes used, in this scenario's window
    /// or its baseline's.
    pub fn other_cpu_max(&self) -> Option<f64> {
        match (self.other_cpu_share, self.baseline_other_cpu_share) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Other processes used more than [`BUSY_SHARE`] of the CPU in either window.
    pub fn busy(&self) -> bool {
        self.other_cpu_max().is_some_and(|s| s > BUSY_SHARE)
    }

    /// The table's flags: `busy` (another process's load above 5 %), `cut` (window cut).
    pub fn flags(&self) -> String {
        let mut flags = Vec::new();
        if self.busy() {
            flags.push("busy");
        }
        if self.window_cut {
            flags.push("cut");
        }
        flags.join(",")
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "rps": (self.rps * 10.0).round() / 10.0,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "errors": self.errors,
            "ratio_to_baseline": (self.ratio * 1000.0).round() / 1000.0,
            "p99_ratio_to_baseline": (self.p99_ratio * 1000.0).round() / 1000.0,
            "server_cpu_us_per_request": self.server_cpu_us.map(|v| (v * 100.0).round() / 100.0),
            "server_cpu_ratio_to_baseline": self.cpu_ratio.map(|v| (v * 1000.0).round() / 1000.0),
            "stub_idp_cpu_us_per_request": self.stub_cpu_us.map(|v| (v * 100.0).round() / 100.0),
            "window_s": (self.window_s * 1000.0).round() / 1000.0,
            "window_cut": self.window_cut,
            "other_cpu_share": self.other_cpu_share.map(|v| (v * 1000.0).round() / 1000.0),
            "baseline_other_cpu_share": self.baseline_other_cpu_share.map(|v| (v * 1000.0).round() / 1000.0),
            "busy": self.busy(),
        })
    }
}

/// The machine and the run's settings, as reported.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub target: String,
    pub cpu: Cpu,
    pub concurrency: usize,
    pub connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// 1-minute load average before and after the run (Linux), a hint of other work.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    /// Lowest and highest baseline rps of the run (each scenario has its own baseline).
    pub baseline_range: Option<(f64, f64)>,
    /// How many times each scenario ran with its baseline (`--repeat`).
    pub repeat: usize,
    /// Whether the server's CPU is known (`--spawn`, or `--target` with `--server-pid`): when it
    /// is not, a server on this machine counts as another process.
    pub server_pid_known: bool,
    /// The JSON `pinning` record, when anything was pinned.
    pub pinning: Option<Value>,
}

/// The 1-minute load average (Linux).
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub(crate) fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The header lines and the table of `rows`.
pub(crate) fn table(context: &Context, rows: &[Row]) -> String {
    let mut out = String::new();
    let load = |l: Option<f64>| l.map_or_else(|| "?".to_owned(), |l| format!("{l:.2}"));
    let _ = writeln!(
        out,
        "scopegate bench: {} | {} cores ({}) | concurrency {} over {} connections | {} s after {} s warm-up | load avg {} -> {}",
        context.target,
        context.cpu.processors,
        context.cpu.summary(),
        context.concurrency,
        context.connections,
        context.duration_s,
        context.warmup_s,
        load(context.load_before),
        load(context.load_after),
    );
    if context.repeat > 1 {
        let _ = writeln!(
            out,
            "each figure is the median of {} repeats (each scenario with its own baseline); their spread is below",
            context.repeat
        );
    }
    let _ = writeln!(
        out,
        "{:<27} {:>10} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>11} {:>6} {:>6}  flags",
        "scenario",
        "req/s",
        "x base",
        "p50 us",
        "p99 us",
        "p999 us",
        "p99 x",
        "errors",
        "srv cpu us",
        "cpu x",
        "other",
    );
    let opt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    for row in rows {
        let _ = writeln!(
            out,
            "{:<27} {:>10} {:>7.2} {:>7} {:>7} {:>8} {:>6.2} {:>6} {:>11} {:>6} {:>6}  {}",
            row.name,
            thousands(row.rps),
            row.ratio,
            row.p50_us,
            row.p99_us,
            row.p999_us,
            row.p99_ratio,
            row.errors,
            opt(row.server_cpu_us, 1),
            opt(row.cpu_ratio, 2),
            row.other_cpu_max()
                .map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0)),
            row.flags(),
        );
    }
    if rows.iter().any(|r| r.server_cpu_us.is_some()) {
        out.push_str("srv cpu us: the server process's CPU time per call in the window (all threads); cpu x: over the baseline's\n");
    }
    let _ = writeln!(
        out,
        "other: the machine's CPU used by other processes in the window or its baseline's (/proc/stat less {}), the larger; busy: above {:.0} %; cut: a pool of fresh tokens ran dry",
        if context.server_pid_known {
            "the server and the bench"
        } else {
            "the bench: no --server-pid, so a server on this machine counts as other"
        },
        BUSY_SHARE * 100.0
    );
    if let Some((lo, hi)) = context.baseline_range {
        let _ = writeln!(
            out,
            "each ratio is against a baseline run just before that scenario; baselines ranged {} to {} req/s",
            thousands(lo),
            thousands(hi)
        );
    }
    for row in rows.iter().filter(|r| !r.note.is_empty()) {
        let _ = writeln!(out, "  {}: {}", row.name, row.note);
    }
    out
}

/// The sweep's table: rps and p99 per concurrency for each swept scenario.
pub(crate) fn sweep_table(rows: &[Row]) -> String {
    let mut out = String::from("\nthroughput by concurrency\n");
    let _ = writeln!(
        out,
        "{:>11} {:<27} {:>10} {:>8} {:>8}",
        "concurrency", "scenario", "req/s", "x base", "p99 us"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:>11} {:<27} {:>10} {:>8.2} {:>8}",
            row.concurrency,
            row.name,
            thousands(row.rps),
            row.ratio,
            row.p99_us
        );
    }
    out
}

/// The `--json` document.
pub(crate) fn json_document(
    context: &Context,
    scenarios: &[Repeated],
    noop: Option<&Noop>,
    floors: &[Floor],
    sweep: &[Row],
) -> Value {
    let mut doc = json!({
        "machine": machine_json(context),
        "config": {
            "concurrency": context.concurrency,
            "connections": context.connections,
            "duration_s": context.duration_s,
            "warmup_s": context.warmup_s,
            "repeat": context.repeat,
            "busy_other_cpu_share": BUSY_SHARE,
        },
        "pinning": context.pinning,
        "scenarios": scenarios.iter().map(Repeated::json).collect::<Vec<_>>(),
        "noop_baseline": noop.map(Noop::json),
        "floors": floor::json(floors),
        "baseline_rps_range": context.baseline_range.map(|(lo, hi)| [lo.round(), hi.round()]),
    });
    if !sweep.is_empty() {
        doc["sweep"] = sweep
            .iter()
            .map(|r| {
                let mut v = r.json();
                v["concurrency"] = json!(r.concurrency);
                v
            })
            .collect();
    }
    doc
}

fn machine_json(context: &Context) -> Value {
    let mut machine = context.cpu.json();
    machine["cores"] = json!(context.cpu.processors);
    machine["load_avg_before"] = json!(context.load_before);
    machine["load_avg_after"] = json!(context.load_after);
    machine
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn measured(window_cut: bool, other: Option<f64>) -> Measured {
        let mut latency = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        latency.record(250).unwrap();
        Measured {
            name: "introspect_cold_rs256".into(),
            concurrency: 64,
            ok: 1_000,
            errors: 0,
            window: Duration::from_millis(if window_cut { 1_250 } else { 3_000 }),
            latency,
            first_error: None,
            window_cut,
            server_cpu: Some(Duration::from_millis(50)),
            stub_cpu: None,
            other_cpu_share: other,
        }
    }

    #[test]
    fn a_window_cut_by_a_dry_pool_is_flagged_in_the_row_the_table_and_the_json() {
        let baseline = measured(false, Some(0.01));
        let row = Row::new(&measured(true, Some(0.02)), &baseline);
        assert!(row.window_cut);
        assert_eq!(row.flags(), "cut");
        assert!(row.note.contains("ran dry after 1.25 s"), "{}", row.note);
        assert_eq!(row.json()["window_cut"], true);
        assert_eq!(row.json()["window_s"], 1.25);
        // Calls over the cut window, not over --duration.
        assert!((row.rps - 800.0).abs() < 1e-9, "{}", row.rps);
        let uncut = Row::new(&measured(false, None), &baseline);
        assert!(!uncut.window_cut);
        assert_eq!(uncut.json()["window_cut"], false);
    }

    #[test]
    fn a_busy_baseline_window_flags_its_scenario_too() {
        let row = Row::new(&measured(false, Some(0.01)), &measured(false, Some(0.08)));
        assert_eq!(row.other_cpu_max(), Some(0.08));
        assert_eq!(row.flags(), "busy");
        let json = row.json();
        assert_eq!(json["other_cpu_share"], 0.01);
        assert_eq!(json["baseline_other_cpu_share"], 0.08);
        assert_eq!(json["busy"], true);
    }
}
