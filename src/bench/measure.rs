//! The measuring run: every scenario `--repeat` times, each time right after a baseline of its
//! own; then, with `--spawn`, the bare tonic no-op against `health_check` and the transport
//! floors of the cached CheckScopes and Introspect; then the sweep; then the table, the JSON
//! document and the chart.

use std::{io::Write, sync::Arc};

use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    BenchArgs, BenchError,
    driver::{self, Measured},
    floor::{self, Floor, Spec},
    host::Cpu,
    idp_stub::IdpStub,
    pin, plan,
    repeats::{self, NOOP_ROW, Noop, Repeated},
    report,
    report::{Context, Row},
    scenario::{BASELINE, Conn, Workload},
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
    let (noop, floors) = if args.spawn {
        let (noop, floors) = noop(args, &mut plans, conns, load, names).await?;
        (Some(noop), floors)
    } else {
        (None, Vec::new())
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
    rows.extend(floors.iter().map(|f| f.bare.median_row()));
    let mut text = report::table(&context, &rows);
    if let Some(noop) = &noop {
        text.push_str(&noop.line());
    }
    if !floors.is_empty() {
        text.push_str(&floor::rows_note(&floors));
    }
    for floor in &floors {
        text.push_str(&floor.lines());
    }
    if args.repeat > 1 {
        let mut spread = scenarios.clone();
        spread.extend(noop.iter().map(|n| n.0.clone()));
        spread.extend(floors.iter().map(|f| f.bare.clone()));
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
        let doc = report::json_document(&context, &scenarios, noop.as_ref(), &floors, &sweep);
        write_file(path, &format!("{doc:#}\n"))?;
    }
    if let Some(path) = &args.svg {
        write_file(path, &svg::chart(&context, &rows, &sweep))?;
    }
    Ok(())
}

/// The bare tonic no-op (spawned now, pinned like the server) against scopegate,
/// `--repeat` times: each round a `health_check` window on scopegate, then the same calls to
/// the no-op; then, for each scenario of `names` with a floor ([`floor::SPECS`]), the scenario
/// on scopegate and its very requests to the no-op's canned method. The canned answers are
/// the real server's answers to the first of those requests, asked before the no-op starts.
async fn noop(
    args: &BenchArgs,
    plans: &mut plan::Plans<'_>,
    conns: &[Conn],
    load: driver::Load,
    names: &[&str],
) -> Result<(Noop, Vec<Floor>), BenchError> {
    let mut floors = Vec::new();
    let mut workloads = Vec::new();
    let mut canned = Vec::new();
    for spec in floor::SPECS.iter().filter(|s| names.contains(&s.scenario)) {
        let workload = plans.workload(spec.scenario, load).await?;
        let Workload::Encoded { rpc, requests } = &*workload else {
            return Err(BenchError::Setup(format!(
                "{}: a floor needs pre-encoded requests",
                spec.scenario
            )));
        };
        let Some(request) = requests.first().cloned() else {
            return Err(BenchError::Setup(format!("{}: no request", spec.scenario)));
        };
        let answer = floor::real_answer(&conns[0], *rpc, request.clone()).await?;
        canned.extend([spec.flag.to_owned(), STANDARD.encode(&answer)]);
        floors.push(Floor {
            spec: *spec,
            bare: Repeated { rows: Vec::new() },
            ours: Repeated { rows: Vec::new() },
            rounds: Vec::new(),
            request_bytes: request.len(),
            answer_bytes: answer.len(),
        });
        workloads.push(workload);
    }
    let server = Server::spawn_noop(args.pin_server.as_ref(), &canned)?;
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
        let label = |what: &str| format!("{what} ({round}/{})", args.repeat);
        eprintln!("bench: {}: baseline", label(NOOP_ROW));
        let health = plans.workload(BASELINE, load).await?;
        let baseline = driver::drive(BASELINE, health, conns, load).await?;
        eprintln!("bench: {}: measuring", label(NOOP_ROW));
        let health = plans.workload(BASELINE, noop_load).await?;
        let bare_noop = driver::drive(NOOP_ROW, health, &noop_conns, noop_load).await?;
        rows.push(Row::new(&bare_noop, &baseline));
        for (floor, workload) in floors.iter_mut().zip(&workloads) {
            let Spec { scenario, row, .. } = floor.spec;
            eprintln!("bench: {}: {scenario}", label(row));
            let ours = driver::drive(scenario, Arc::clone(workload), conns, load).await?;
            eprintln!("bench: {}: measuring", label(row));
            let bare = driver::drive(row, Arc::clone(workload), &noop_conns, noop_load).await?;
            floor.rounds.push(floor::Round {
                health: baseline.server_cpu_us(),
                noop: bare_noop.server_cpu_us(),
                ours: ours.server_cpu_us(),
                bare: bare.server_cpu_us(),
            });
            floor.ours.rows.push(Row::new(&ours, &baseline));
            floor.bare.rows.push(Row::new(&bare, &bare_noop));
        }
    }
    Ok((Noop(Repeated { rows }), floors))
}
