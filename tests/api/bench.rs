//! `scopegate bench --target`: against a running server it creates its tenants through the
//! admin API, drives the baseline and every scenario with every answer checked (opaque tokens
//! through its stub IdP, whose CPU cost it reports), prints the table, writes the JSON document
//! and the chart, and deletes what it created. `scopegate bench --spawn --repeat 2` (the real
//! binary) reruns each scenario with its baseline, compares health_check with the bare tonic
//! no-op it spawns, and records the machine and each window's other-process load. Speed is
//! never asserted here (that is the benchmark's job): only that every call of every scenario
//! succeeded and that every figure is reported.

use clap::Parser;
use scopegate::{
    bench::{BenchArgs, NAMES},
    pb::{ListTenants, ManageTenantRequest, manage_tenant_request::Action, manage_tenant_response},
};
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, TestDb, authed};

#[derive(Debug, Parser)]
struct Bench {
    #[command(flatten)]
    args: BenchArgs,
}

/// Windows, pools and load small enough for a test (every figure is still reported).
const SHORT_WINDOWS: [&str; 12] = [
    "--duration",
    "0.3",
    "--warmup",
    "0.1",
    "--connections",
    "2",
    "--concurrency",
    "4",
    "--cached-tokens",
    "20",
    "--max-cold-tokens",
    "1000",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drives_every_scenario_against_a_running_server_and_cleans_up() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("bench.json"), dir.path().join("bench.svg"));
    // The server runs inside this test process: its "server CPU" is the whole process's (the
    // load generator too), enough to show --server-pid is read.
    let pid = std::process::id().to_string();
    let mut extra = vec!["--server-pid", &pid];
    extra.extend(SHORT_WINDOWS);
    extra.extend(["--json", json.to_str().unwrap()]);
    extra.extend(["--svg", svg.to_str().unwrap()]);
    let args = against(&app, &extra);
    let mut out = Vec::new();
    scopegate::bench::run(&args, &mut out).await.unwrap();

    let table = String::from_utf8(out).unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = doc["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names, NAMES,
        "the baseline first, then every scenario in order"
    );
    for scenario in scenarios {
        let name = scenario["name"].as_str().unwrap();
        assert!(
            table.contains(name),
            "{name} missing from the table:\n{table}"
        );
        assert_eq!(scenario["errors"], 0, "{name}: {scenario}");
        assert!(
            scenario["rps"].as_f64().unwrap() > 0.0,
            "{name}: {scenario}"
        );
        assert!(
            scenario["p50_us"].as_u64().unwrap() > 0,
            "{name}: {scenario}"
        );
        assert!(
            scenario["ratio_to_baseline"].as_f64().unwrap() > 0.0,
            "{name}"
        );
        assert_eq!(scenario["window_cut"], false, "{name}: {scenario}");
        assert_eq!(scenario["repeats"].as_array().unwrap().len(), 1, "{name}");
        if cfg!(target_os = "linux") {
            // --server-pid: the target's CPU per call, as --spawn reports it.
            assert!(
                scenario["server_cpu_us_per_request"].as_f64().unwrap() > 0.0,
                "{name}: {scenario}"
            );
            let share = scenario["other_cpu_share"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&share), "{name}: {scenario}");
        }
    }
    assert_eq!(scenarios[0]["ratio_to_baseline"], 1.0);
    // The opaque scenario reports what its stub IdP cost, apart from the server's figures.
    let opaque = scenarios
        .iter()
        .find(|s| s["name"] == "introspect_cold_opaque")
        .unwrap();
    if std::path::Path::new("/proc/thread-self").exists() {
        assert!(
            opaque["stub_idp_cpu_us_per_request"].as_f64().unwrap() > 0.0,
            "{opaque}"
        );
        assert!(table.contains("the stub IdP"), "{table}");
    }
    assert_eq!(doc["config"]["concurrency"], 4);
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(doc["machine"]["flags"]["sha_ni"].is_boolean(), "{doc}");
    assert!(
        doc["noop_baseline"].is_null(),
        "the no-op runs with --spawn only"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    // Against a target, the bench deletes the tenants it made.
    let left = bench_tenants(&app).await;
    assert!(left.is_empty(), "bench tenants left behind: {left:?}");
}

/// `scopegate bench --target <app> --admin-key <key>` and `extra`.
fn against(app: &TestApp, extra: &[&str]) -> BenchArgs {
    let target = format!("http://{}", app.addr);
    let head = ["bench", "--target", &target, "--admin-key", ADMIN_KEY];
    let Bench { args } = Bench::parse_from(head.iter().chain(extra));
    args
}

/// The tenants of `app` the bench would have made (ids starting `bench-`).
async fn bench_tenants(app: &TestApp) -> Vec<String> {
    let listed = app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::List(ListTenants::default())),
        }))
        .await
        .unwrap()
        .into_inner();
    let Some(manage_tenant_response::Result::Tenants(page)) = listed.result else {
        panic!("a tenant page");
    };
    page.tenants
        .into_iter()
        .map(|t| t.id)
        .filter(|id| id.starts_with("bench-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_admin_writes_reports_creates_per_second_and_the_import_and_cleans_up() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let args = against(&app, &["--admin-writes", "--duration", "0.2"]);
    let mut out = Vec::new();
    scopegate::bench::run(&args, &mut out).await.unwrap();
    let table = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for (line, writers) in lines.iter().zip(["1 writer:", "8 writers at once:"]) {
        assert!(
            line.starts_with("ManageScope create, ") && line.contains(writers),
            "{line}"
        );
        let created: u64 = line
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(created > 0, "{line}");
        assert!(line.ends_with(" creates/s"), "{line}");
    }
    assert!(
        lines[2].starts_with("ImportCatalog of 1000 custom scopes into a new tenant: "),
        "{table}"
    );

    let left = bench_tenants(&app).await;
    assert!(left.is_empty(), "bench tenants left behind: {left:?}");
}

/// Runs the built `scopegate bench` with `args`: its table (stdout) and progress (stderr).
async fn bench_binary(args: &[&str]) -> (String, String) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .arg("bench")
        .args(args)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(240), run)
        .await
        .expect("the bench should finish")
        .unwrap();
    let (table, progress) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{progress}\n{table}");
    (table, progress)
}

#[tokio::test]
async fn bench_spawn_repeats_each_scenario_with_its_baseline_and_compares_a_bare_tonic_noop_and_its_floors()
 {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let taskset = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("taskset").is_file());
    let mut args = vec![
        "--spawn",
        "--repeat",
        "2",
        "--scenarios",
        "check_scopes_cached_token,introspect_cached,introspect_cold_hs256",
    ];
    args.extend(SHORT_WINDOWS);
    args.extend(["--json", json.to_str().unwrap()]);
    if taskset {
        args.extend(["--pin-server", "0", "--pin-client", "0"]);
    }

    let (table, _) = bench_binary(&args).await;

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = doc["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "health_check",
            "check_scopes_cached_token",
            "introspect_cached",
            "introspect_cold_hs256"
        ]
    );
    for scenario in scenarios {
        let repeats = scenario["repeats"].as_array().unwrap();
        assert_eq!(repeats.len(), 2, "{scenario}");
        for repeat in repeats {
            assert_eq!(repeat["errors"], 0, "{repeat}");
            assert!(repeat["server_cpu_us_per_request"].as_f64().unwrap() > 0.0);
        }
        let ratio = &scenario["spread"]["ratio_to_baseline"];
        let (min, median, max) = (
            ratio["min"].as_f64().unwrap(),
            ratio["median"].as_f64().unwrap(),
            ratio["max"].as_f64().unwrap(),
        );
        assert!(min <= median && median <= max, "{scenario}");
        assert!(scenario["spread"]["server_cpu_us_per_request"]["median"].is_number());
    }
    assert_eq!(doc["config"]["repeat"], 2);
    assert!(table.contains("median of 2 repeats"), "{table}");
    assert!(
        table.contains("over 2 repeats: min / median / max"),
        "{table}"
    );

    // The bare tonic no-op, against health_check on scopegate, twice.
    let noop = &doc["noop_baseline"];
    assert_eq!(noop["name"], "bare_tonic_noop", "{doc}");
    assert_eq!(noop["repeats"].as_array().unwrap().len(), 2);
    assert_eq!(noop["errors"], 0, "{noop}");
    assert!(
        noop["health_check_server_cpu_ratio"]["median"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(table.contains("health_check ÷ bare tonic no-op"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("bare_tonic_noop")),
        "{table}"
    );

    // The floors: the same requests to the no-op's bare CheckScopes and Introspect, twice.
    for (scenario, row, rpc) in [
        (
            "check_scopes_cached_token",
            "bare_check_scopes",
            "CheckScopes",
        ),
        ("introspect_cached", "bare_introspect", "Introspect"),
    ] {
        let floor = &doc["floors"][scenario];
        assert_eq!(floor["bare"]["name"], row, "{doc}");
        assert_eq!(floor["ours"]["name"], scenario, "{floor}");
        for side in ["bare", "ours"] {
            assert_eq!(floor[side]["repeats"].as_array().unwrap().len(), 2);
            assert_eq!(floor[side]["errors"], 0, "{floor}");
        }
        assert!(floor["answer_bytes"].as_u64().unwrap() > 10, "{floor}");
        for ratio in [
            "floor_server_cpu_ratio",
            "floor_with_layers_server_cpu_ratio",
            "ours_over_bare_server_cpu_ratio",
        ] {
            assert!(floor[ratio]["median"].as_f64().unwrap() > 0.0, "{floor}");
        }
        assert_eq!(floor["target_server_cpu_ratio"], 1.15);
        assert!(floor["target_below_floor"].is_boolean(), "{floor}");
        assert!(
            table.contains(&format!(
                "floor: bare {rpc} ÷ bare no-op (server CPU per call)"
            )),
            "{table}"
        );
        assert!(table.contains(&format!("{scenario} ÷ {row}")), "{table}");
        assert!(table.lines().any(|l| l.starts_with(row)), "{table}");
    }

    if taskset {
        assert_eq!(doc["pinning"]["method"], "taskset");
        assert_eq!(doc["pinning"]["server"]["allowed"], "0", "{doc}");
        assert_eq!(doc["pinning"]["client"]["allowed"], "0", "{doc}");
    }
}

#[tokio::test]
async fn bench_refuses_a_cpu_list_it_cannot_read_before_starting_anything() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["bench", "--spawn", "--pin-server", "1-0"])
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("invalid CPU list"), "{stderr}");
}
