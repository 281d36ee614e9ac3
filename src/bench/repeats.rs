//! `--repeat N`: each scenario runs N times, each time right after a baseline of its own; the
//! table shows the median of each figure and a second table the min / median / max of the
//! ratios, req/s and server CPU per call. Also the bare tonic no-op comparison, whose repeats
//! are summarised the same way.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::report::{Row, thousands};

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])),
    }
}

/// Lowest, median and highest of a figure over the repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        Some(Self {
            min: values.iter().copied().reduce(f64::min)?,
            median: median(values)?,
            max: values.iter().copied().reduce(f64::max)?,
        })
    }

    fn text(self, digits: usize) -> String {
        format!(
            "{:.digits$} / {:.digits$} / {:.digits$}",
            self.min, self.median, self.max
        )
    }

    fn json(self, scale: f64) -> Value {
        let round = |v: f64| (v * scale).round() / scale;
        json!({ "min": round(self.min), "median": round(self.median), "max": round(self.max) })
    }
}

/// One scenario's repeats, each row against the baseline run just before it.
#[derive(Debug, Clone)]
pub(crate) struct Repeated {
    pub rows: Vec<Row>,
}

fn spread(rows: &[Row], figure: impl Fn(&Row) -> Option<f64>) -> Option<Spread> {
    Spread::of(&rows.iter().filter_map(figure).collect::<Vec<_>>())
}

impl Repeated {
    /// The row the main table shows: the median of each figure over the repeats (so a row's
    /// figures may come from different repeats), errors summed, the largest other-process
    /// share, `window_cut` if any window was cut, and every distinct note.
    pub fn median_row(&self) -> Row {
        let rows = &self.rows;
        let mid = |f: &dyn Fn(&Row) -> f64| median(&rows.iter().map(f).collect::<Vec<_>>());
        let mid_opt = |f: &dyn Fn(&Row) -> Option<f64>| spread(rows, f).map(|s| s.median);
        let max_opt = |f: &dyn Fn(&Row) -> Option<f64>| spread(rows, f).map(|s| s.max);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // latencies in µs
        let mid_us = |f: &dyn Fn(&Row) -> u64| mid(&|r| f(r) as f64).unwrap_or(0.0).round() as u64;
        let mut notes: Vec<&str> = Vec::new();
        for row in rows {
            if !row.note.is_empty() && !notes.contains(&row.note.as_str()) {
                notes.push(&row.note);
            }
        }
        let Some(first) = rows.first() else {
            unreachable!("a scenario runs at least once (--repeat >= 1)")
        };
        Row {
            name: first.name.clone(),
            concurrency: first.concurrency,
            rps: mid(&|r| r.rps).unwrap_or(0.0),
            p50_us: mid_us(&|r| r.p50_us),
            p99_us: mid_us(&|r| r.p99_us),
            p999_us: mid_us(&|r| r.p999_us),
            errors: rows.iter().map(|r| r.errors).sum(),
            ratio: mid(&|r| r.ratio).unwrap_or(0.0),
            p99_ratio: mid(&|r| r.p99_ratio).unwrap_or(0.0),
            server_cpu_us: mid_opt(&|r| r.server_cpu_us),
            cpu_ratio: mid_opt(&|r| r.cpu_ratio),
            stub_cpu_us: mid_opt(&|r| r.stub_cpu_us),
            note: notes.join("; "),
            window_s: rows.iter().map(|r| r.window_s).fold(f64::MAX, f64::min),
            window_cut: rows.iter().any(|r| r.window_cut),
            other_cpu_share: max_opt(&|r| r.other_cpu_share),
            baseline_other_cpu_share: max_opt(&|r| r.baseline_other_cpu_share),
        }
    }

    /// The median row's JSON, with every repeat's row and the spread of the main figures.
    pub fn json(&self) -> Value {
        let mut doc = self.median_row().json();
        doc["repeats"] = self.rows.iter().map(Row::json).collect();
        doc["spread"] = json!({
            "ratio_to_baseline": spread(&self.rows, |r| Some(r.ratio)).map(|s| s.json(1000.0)),
            "rps": spread(&self.rows, |r| Some(r.rps)).map(|s| s.json(10.0)),
            "server_cpu_us_per_request": spread(&self.rows, |r| r.server_cpu_us).map(|s| s.json(100.0)),
            "server_cpu_ratio_to_baseline": spread(&self.rows, |r| r.cpu_ratio).map(|s| s.json(1000.0)),
        });
        doc
    }
}

/// The spread table: min / median / max of each scenario's ratios, req/s and server CPU.
pub(crate) fn spread_table(scenarios: &[Repeated]) -> String {
    let repeats = scenarios.first().map_or(0, |s| s.rows.len());
    let mut out = format!("\nover {repeats} repeats: min / median / max\n");
    let _ = writeln!(
        out,
        "{:<27} {:>20} {:>26} {:>20} {:>20}",
        "scenario", "x base", "req/s", "srv cpu us", "cpu x"
    );
    let dash = || "-".to_owned();
    for scenario in scenarios {
        let rows = &scenario.rows;
        let Some(first) = rows.first() else { continue };
        let rps = spread(rows, |r| Some(r.rps)).map_or_else(dash, |s| {
            format!(
                "{} / {} / {}",
                thousands(s.min),
                thousands(s.median),
                thousands(s.max)
            )
        });
        let _ = writeln!(
            out,
            "{:<27} {:>20} {:>26} {:>20} {:>20}",
            first.name,
            spread(rows, |r| Some(r.ratio)).map_or_else(dash, |s| s.text(2)),
            rps,
            spread(rows, |r| r.server_cpu_us).map_or_else(dash, |s| s.text(1)),
            spread(rows, |r| r.cpu_ratio).map_or_else(dash, |s| s.text(2)),
        );
    }
    out
}

/// The bare tonic no-op's repeats, each row the no-op measured against scopegate's
/// `health_check` run just before it (so its `cpu x` is no-op ÷ health_check).
#[derive(Debug, Clone)]
pub(crate) struct Noop(pub Repeated);

/// The row name of the bare tonic no-op.
pub(crate) const NOOP_ROW: &str = "bare_tonic_noop";

/// Issue #15's target for health_check's server CPU per call over the bare no-op's.
const NOOP_TARGET: f64 = 1.1;

impl Noop {
    /// health_check's server CPU per call over the no-op's, per repeat.
    pub fn cpu_ratio(&self) -> Option<Spread> {
        spread(&self.0.rows, |r| {
            r.cpu_ratio.filter(|v| *v > 0.0).map(f64::recip)
        })
    }

    /// health_check's req/s over the no-op's, per repeat.
    pub fn rps_ratio(&self) -> Option<Spread> {
        spread(&self.0.rows, |r| {
            Some(r.ratio).filter(|v| *v > 0.0).map(f64::recip)
        })
    }

    /// The table's line under the rows.
    pub fn line(&self) -> String {
        let n = self.0.rows.len();
        let cpu = self.cpu_ratio().map_or_else(
            || "- (no server CPU figures)".to_owned(),
            |s| {
                format!(
                    "{:.2} (min / median / max {}; target <= {NOOP_TARGET})",
                    s.median,
                    s.text(2)
                )
            },
        );
        let rps = self
            .rps_ratio()
            .map_or_else(|| "-".to_owned(), |s| format!("{:.2}", s.median));
        format!(
            "health_check ÷ bare tonic no-op ({NOOP_ROW}: tonic-health only, no layers, no TLS; {n} repeat{}): server CPU per call {cpu}, req/s {rps}\n",
            if n == 1 { "" } else { "s" }
        )
    }

    /// The JSON `noop_baseline` document.
    pub fn json(&self) -> Value {
        let mut doc = self.0.json();
        doc["health_check_server_cpu_ratio"] = json!(self.cpu_ratio().map(|s| s.json(1000.0)));
        doc["health_check_rps_ratio"] = json!(self.rps_ratio().map(|s| s.json(1000.0)));
        doc["target_server_cpu_ratio"] = json!(NOOP_TARGET);
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ratio: f64, cpu: Option<f64>, cut: bool, other: Option<f64>) -> Row {
        Row {
            name: "s".into(),
            concurrency: 64,
            rps: ratio * 1000.0,
            p50_us: 100,
            p99_us: 300,
            p999_us: 500,
            errors: 1,
            ratio,
            p99_ratio: 1.0,
            server_cpu_us: cpu,
            cpu_ratio: cpu.map(|c| c / 10.0),
            stub_cpu_us: None,
            note: if cut {
                "window cut".into()
            } else {
                String::new()
            },
            window_s: if cut { 1.5 } else { 3.0 },
            window_cut: cut,
            other_cpu_share: other,
            baseline_other_cpu_share: Some(0.01),
        }
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_and_of_an_even_count_the_mean_of_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        let s = Spread::of(&[0.7, 0.9, 0.8]).unwrap();
        assert_eq!((s.min, s.median, s.max), (0.7, 0.8, 0.9));
    }

    #[test]
    fn the_median_row_takes_each_figures_median_sums_errors_and_keeps_every_flag() {
        let repeated = Repeated {
            rows: vec![
                row(0.7, Some(20.0), false, Some(0.02)),
                row(0.9, None, true, Some(0.12)),
                row(0.8, Some(22.0), false, None),
            ],
        };
        let m = repeated.median_row();
        assert!((m.ratio - 0.8).abs() < 1e-9);
        assert_eq!(
            m.server_cpu_us,
            Some(21.0),
            "the median of the figures there are"
        );
        assert_eq!(m.errors, 3);
        assert!(m.window_cut, "one cut window marks the scenario");
        assert_eq!(m.window_s, 1.5);
        assert_eq!(m.other_cpu_share, Some(0.12), "the busiest window counts");
        assert_eq!(m.flags(), "busy,cut");
        assert_eq!(m.note, "window cut");
        let doc = repeated.json();
        assert_eq!(doc["repeats"].as_array().unwrap().len(), 3);
        assert_eq!(doc["spread"]["ratio_to_baseline"]["min"], 0.7);
        assert_eq!(doc["spread"]["ratio_to_baseline"]["max"], 0.9);
        assert_eq!(doc["window_cut"], true);
        assert_eq!(doc["busy"], true);
        assert!(spread_table(&[repeated]).contains("0.70 / 0.80 / 0.90"));
    }

    #[test]
    fn a_quiet_uncut_window_has_no_flags() {
        let quiet = row(0.8, Some(20.0), false, Some(0.049));
        assert_eq!(quiet.flags(), "");
        assert_eq!(quiet.json()["window_cut"], false);
    }

    #[test]
    fn the_noop_ratio_is_health_checks_cost_over_the_noops() {
        // cpu_ratio of a noop row is noop ÷ health: 10 / 12.5 and 10 / 11.
        let noop = Noop(Repeated {
            rows: vec![
                row(1.25, Some(12.5), false, None),
                row(1.1, Some(11.0), false, None),
            ],
        });
        let cpu = noop.cpu_ratio().unwrap();
        assert!((cpu.min - 0.8).abs() < 1e-9 && (cpu.max - 10.0 / 11.0).abs() < 1e-9);
        assert!(noop.line().contains("target <= 1.1"), "{}", noop.line());
    }
}
