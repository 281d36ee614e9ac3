//! The measuring run: every scenario `--repeat` times, each time right after a baseline of its
//! own; then, with `--spawn`, the bare tonic no-op against `health_check`; then the sweep; then
//! the table, the JSON document and the chart.

use std::io::Write;

use super::{
    BenchArgs, BenchError,
    driver::{self, Measured},
    host::Cpu,
    idp_stub::IdpStub,
    pin, plan,
    repeats::{self, NOOP_ROW, Noop, Repeated},
    report,
    report::{Context, Row},
    scenario::{BASELINE, Conn},
    server::Server,
    setup::Fixture,
    svg, write_file,
};

/// Runs the scenarios `names` and writes the reports.
pub(crate) async fn scenarios(
    args: &BenchArgs,
    names: &[&str],
    fixture: &Fixture,
    conns: &[Conn],
    server: &Server,
    stub: Option<&IdpStub>,
    out: &mut impl Write,
) -> Result<(), BenchError> {
    let server_pid = server.pid().or(args.server_pid);
    let mut context = Context {
        target: server.endpoint.clone(),
        cpu: Cpu::read(),
        concurrency: args.concurrency,
        connections: args.connections,
        duration_s: args.duration,
        warmup_s: args.warmup,
        load_before: report::load_average(),
        load_after: None,
        baseline_range: None,
        repeat: args.repeat,
        server_pid_known: server_pid.is_some(),
        pinning: pin::json(
            args.pin_server.as_ref(),
            server_pid,
            args.pin_client.as_ref(),
        ),
    };
    let mut plans = plan::Plans::new(fixture, conns, args, stub).await?;
    // Each scenario runs right after a baseline of its own, so a machine whose speed drifts
    // during the run (other work, a noisy neighbour) skews no ratio.
    let load = args.load(args.concurrency, server_pid);
    let mut scenarios: Vec<Repeated> = Vec::new();
    let mut baselines: Vec<f64> = Vec::new();
    for name in names {
        let mut rows = Vec::with_capacity(args.repeat);
        for round in 1..=args.repeat {
            let label = if args.repeat > 1 {
                format!("{name} ({round}/{})", args.repeat)
            } else {
                (*name).to_owned()
            };
            eprintln!("bench: {label}");
            let workload = plans.workload(name, load).await?;
            eprintln!("bench: {label}: baseline");
            let health = plans.workload(BASELINE, load).await?;
            let baseline = driver::drive(BASELINE, health, conns, load).await?;
            baselines.push(baseline.rps());
            if *name == BASELINE {
                rows.push(Row::new(&baseline, &baseline));
            } else {
                eprintln!("bench: {label}: measuring");
                let measured: Measured = driver::drive(name, workload, conns, load).await?;
                rows.push(Row::new(&measured, &baseline));
            }
        }
        scenarios.push(Repeated { rows });
    }
    let noop = if args.spawn {
        Some(noop(args, &mut plans, conns, load).await?)
    } else {
        None
    };
    let (low, high) = baselines
        .iter()
        .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    context.baseline_range = Some((low, high));
    let mut sweep = Vec::new();
    for &level in &args.sweep_concurrency {
        let mut pair = Vec::new();
        for name in [BASELINE, "check_scopes_cached_token"] {
            eprintln!("bench: sweep {name} at concurrency {level}");
            let load = args.load(level, server_pid);
            let workload = plans.workload(name, load).await?;
            pair.push(driver::drive(name, workload, conns, load).await?);
        }
        sweep.extend(pair.iter().map(|m| Row::new(m, &pair[0])));
    }
    context.load_after = report::load_average();
    let mut rows: Vec<Row> = scenarios.iter().map(Repeated::median_row).collect();
    if let Some(noop) = &noop {
        rows.push(noop.0.median_row());
    }
    let mut text = report::table(&context, &rows);
    if let Some(noop) = &noop {
        text.push_str(&noop.line());
    }
    if args.repeat > 1 {
        let mut spread = scenarios.clone();
        spread.extend(noop.iter().map(|n| n.0.clone()));
        text.push_str(&repeats::spread_table(&spread));
    }
    if !sweep.is_empty() {
        text.push_str(&report::sweep_table(&sweep));
    }
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    written.map_err(|source| BenchError::Write {
        path: "stdout".into(),
        source,
    })?;
    if let Some(path) = &args.json {
        let doc = report::json_document(&context, &scenarios, noop.as_ref(), &sweep);
        write_file(path, &format!("{doc:#}\n"))?;
    }
    if let Some(path) = &args.svg {
        write_file(path, &svg::chart(&context, &rows, &sweep))?;
    }
    Ok(())
}

/// The bare tonic no-op (spawned now, pinned like the server) against scopegate's
/// `health_check`, `--repeat` times: each round a `health_check` window on scopegate, then
/// the same calls to the no-op.
async fn noop(
    args: &BenchArgs,
    plans: &mut plan::Plans<'_>,
    conns: &[Conn],
    load: driver::Load,
) -> Result<Noop, BenchError> {
    let server = Server::spawn_noop(args.pin_server.as_ref())?;
    let mut noop_conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        noop_conns.push(Conn::new(&server.connect().await?));
    }
    let noop_load = driver::Load {
        server_pid: server.pid(),
        ..load
    };
    let mut rows = Vec::with_capacity(args.repeat);
    for round in 1..=args.repeat {
        eprintln!("bench: {NOOP_ROW} ({round}/{}): baseline", args.repeat);
        let health = plans.workload(BASELINE, load).await?;
        let baseline = driver::drive(BASELINE, health, conns, load).await?;
        eprintln!("bench: {NOOP_ROW} ({round}/{}): measuring", args.repeat);
        let health = plans.workload(BASELINE, noop_load).await?;
        let measured = driver::drive(NOOP_ROW, health, &noop_conns, noop_load).await?;
        rows.push(Row::new(&measured, &baseline));
    }
    Ok(Noop(Repeated { rows }))
}
