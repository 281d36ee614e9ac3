//! The results: a readable table, the JSON document (`--json`), and the rows both are made of,
//! each scenario relative to the no-op baseline measured in the same run.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::driver::Measured;

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
}

impl Row {
    /// `measured` relative to `baseline` (itself when it is the baseline).
    pub fn new(measured: &Measured, baseline: &Measured) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let mut note = String::new();
        if measured.truncated {
            let _ = write!(
                note,
                "token pool ran dry: window {:.1} s",
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
        }
    }

    fn json(&self) -> Value {
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
        })
    }
}

/// The machine and the run's settings, as reported.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub target: String,
    pub cores: usize,
    pub model: String,
    pub concurrency: usize,
    pub connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// 1-minute load average before and after the run (Linux), a hint of other work.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    /// Lowest and highest baseline rps of the run (each scenario has its own baseline).
    pub baseline_range: Option<(f64, f64)>,
}

impl Context {
    /// The machine this runs on: core count and CPU model.
    pub fn machine() -> (usize, String) {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        (cores, model)
    }
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

fn thousands(n: f64) -> String {
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
        context.cores,
        context.model,
        context.concurrency,
        context.connections,
        context.duration_s,
        context.warmup_s,
        load(context.load_before),
        load(context.load_after),
    );
    let _ = writeln!(
        out,
        "{:<27} {:>10} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>11} {:>6}",
        "scenario",
        "req/s",
        "x base",
        "p50 us",
        "p99 us",
        "p999 us",
        "p99 x",
        "errors",
        "srv cpu us",
        "cpu x"
    );
    let opt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    for row in rows {
        let _ = writeln!(
            out,
            "{:<27} {:>10} {:>7.2} {:>7} {:>7} {:>8} {:>6.2} {:>6} {:>11} {:>6}",
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
        );
    }
    if rows.iter().any(|r| r.server_cpu_us.is_some()) {
        out.push_str("srv cpu us: the server process's CPU time per call in the window (all threads); cpu x: over the baseline's\n");
    }
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
pub(crate) fn json_document(context: &Context, rows: &[Row], sweep: &[Row]) -> Value {
    let mut doc = json!({
        "machine": {
            "cores": context.cores,
            "model": context.model,
            "load_avg_before": context.load_before,
            "load_avg_after": context.load_after,
        },
        "config": {
            "concurrency": context.concurrency,
            "connections": context.connections,
            "duration_s": context.duration_s,
            "warmup_s": context.warmup_s,
        },
        "scenarios": rows.iter().map(Row::json).collect::<Vec<_>>(),
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
