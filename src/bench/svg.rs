//! The `--svg` chart, written by hand (no plotting dependency): per scenario, throughput as a
//! ratio of the baseline's and p99 latency on a log scale; below them, when swept, throughput
//! by concurrency for the cached-token check and the baseline.

use std::fmt::Write as _;

use super::report::{Context, Row};

const WIDTH: f64 = 960.0;
const ROW: f64 = 26.0;
const TOP: f64 = 70.0;
const LABEL_X: f64 = 16.0;
const RATIO_X: f64 = 230.0;
const RATIO_W: f64 = 250.0;
const P99_X: f64 = 630.0;
const P99_W: f64 = 250.0;
const SWEEP_H: f64 = 220.0;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an SVG document.
pub(crate) fn chart(context: &Context, rows: &[Row], sweep: &[Row]) -> String {
    let bars_h = TOP + ROW * rows.len() as f64 + 40.0;
    let height = bars_h
        + if sweep.is_empty() {
            0.0
        } else {
            SWEEP_H + 60.0
        };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{LABEL_X}" y="22" font-size="15" font-weight="bold">scopegate bench: each RPC against grpc.health.v1.Health/Check in the same run</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="{LABEL_X}" y="40" fill="#555">{} cores ({}), server and load generator on the same machine; concurrency {} over {} HTTP/2 connections, {} s per scenario</text>"##,
        context.cpu.processors,
        esc(&context.cpu.model_name),
        context.concurrency,
        context.connections,
        context.duration_s
    );
    ratio_panel(&mut s, rows);
    p99_panel(&mut s, rows);
    if !sweep.is_empty() {
        sweep_panel(&mut s, sweep, bars_h + 20.0);
    }
    s.push_str("</svg>\n");
    s
}

fn ratio_panel(s: &mut String, rows: &[Row]) {
    let max = rows.iter().map(|r| r.ratio).fold(1.0_f64, f64::max);
    let x = |v: f64| RATIO_X + RATIO_W * v / max;
    let _ = writeln!(
        s,
        r#"<text x="{RATIO_X}" y="{}" font-weight="bold">requests/s as a ratio of the baseline's</text>"#,
        TOP - 10.0
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let color = if row.name == super::scenario::BASELINE {
            "#9e9e9e"
        } else {
            "#3b78c2"
        };
        let _ = writeln!(
            s,
            r#"<text x="{LABEL_X}" y="{}">{}</text>"#,
            y + 15.0,
            esc(&row.name)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{RATIO_X}" y="{}" width="{:.1}" height="{}" fill="{color}"/>"#,
            y + 4.0,
            x(row.ratio) - RATIO_X,
            ROW - 8.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{:.2}x ({:.0}/s)</text>"#,
            x(row.ratio) + 4.0,
            y + 15.0,
            row.ratio,
            row.rps
        );
    }
    let bottom = TOP + ROW * rows.len() as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#333" stroke-dasharray="4 3"/><text x="{0:.1}" y="{3}" text-anchor="middle" fill="#333">1.0</text>"##,
        x(1.0),
        TOP - 4.0,
        bottom,
        bottom + 14.0
    );
}

fn p99_panel(s: &mut String, rows: &[Row]) {
    let max = rows.iter().map(|r| r.p99_us).max().unwrap_or(1).max(10) as f64;
    let decades = max.log10().ceil().max(2.0);
    let lo = 1.0; // log10(10 µs)
    let x = |us: f64| P99_X + P99_W * (us.max(10.0).log10() - lo) / (decades - lo);
    let _ = writeln!(
        s,
        r#"<text x="{P99_X}" y="{}" font-weight="bold">p99 latency (log scale)</text>"#,
        TOP - 10.0
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{P99_X}" y="{}" width="{:.1}" height="{}" fill="#d9822b"/>"##,
            y + 4.0,
            x(row.p99_us as f64) - P99_X,
            ROW - 8.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            (x(row.p99_us as f64) + 4.0).min(WIDTH - 60.0),
            y + 15.0,
            micros(row.p99_us)
        );
    }
    let bottom = TOP + ROW * rows.len() as f64;
    let mut decade = lo;
    while decade <= decades {
        let us = 10f64.powf(decade);
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#bbb"/><text x="{0:.1}" y="{3}" text-anchor="middle" fill="#555">{4}</text>"##,
            x(us),
            TOP - 4.0,
            bottom,
            bottom + 14.0,
            micros(us as u64)
        );
        decade += 1.0;
    }
}

fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn sweep_panel(s: &mut String, sweep: &[Row], top: f64) {
    let mut levels: Vec<usize> = sweep.iter().map(|r| r.concurrency).collect();
    levels.sort_unstable();
    levels.dedup();
    let max_rps = sweep.iter().map(|r| r.rps).fold(1.0_f64, f64::max) * 1.1;
    let (left, width, height) = (RATIO_X, 560.0, SWEEP_H);
    let bottom = top + 20.0 + height;
    let x = |c: usize| {
        let i = levels.iter().position(|&l| l == c).unwrap_or(0) as f64;
        left + width * i / (levels.len().max(2) - 1) as f64
    };
    let y = |rps: f64| bottom - height * rps / max_rps;
    let _ = writeln!(
        s,
        r#"<text x="{LABEL_X}" y="{}" font-weight="bold">requests/s by concurrency</text>"#,
        top + 10.0
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#333"/><line x1="{left}" y1="{}" x2="{left}" y2="{bottom}" stroke="#333"/>"##,
        left + width,
        top + 20.0
    );
    for &c in &levels {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{c}</text>"##,
            x(c),
            bottom + 14.0
        );
    }
    for frac in [0.25, 0.5, 0.75, 1.0] {
        let v = max_rps / 1.1 * frac;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{:.0}k/s</text>"##,
            left - 6.0,
            y(v) + 4.0,
            v / 1000.0
        );
    }
    let mut names: Vec<&str> = sweep.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    for (i, name) in names.iter().enumerate() {
        let color = if *name == super::scenario::BASELINE {
            "#9e9e9e"
        } else {
            "#3b78c2"
        };
        let points: Vec<String> = sweep
            .iter()
            .filter(|r| r.name == *name)
            .map(|r| format!("{:.1},{:.1}", x(r.concurrency), y(r.rps)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.5"/>"#,
            points.join(" ")
        );
        let ly = top + 34.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="{color}" stroke-width="2.5"/><text x="{2}" y="{3}">{4}</text>"#,
            left + 16.0,
            left + 40.0,
            left + 46.0,
            ly + 4.0,
            esc(name)
        );
    }
}
