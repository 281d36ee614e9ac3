//! `scopegate bench --target`: against a running server it creates its tenants through the
//! admin API, drives the baseline and every scenario with every answer checked (opaque tokens
//! through its stub IdP, whose CPU cost it reports), prints the table, writes the JSON document
//! and the chart, and deletes what it created. Speed is never asserted here (that is the
//! benchmark's job): only that every call of every scenario succeeded.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drives_every_scenario_against_a_running_server_and_cleans_up() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("bench.json"), dir.path().join("bench.svg"));
    let target = format!("http://{}", app.addr);
    let Bench { args } = Bench::parse_from([
        "bench",
        "--target",
        &target,
        "--admin-key",
        ADMIN_KEY,
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
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
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
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    // Against a target, the bench deletes the tenants it made.
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
    let left: Vec<&str> = page
        .tenants
        .iter()
        .map(|t| t.id.as_str())
        .filter(|id| id.starts_with("bench-"))
        .collect();
    assert!(left.is_empty(), "bench tenants left behind: {left:?}");
}
