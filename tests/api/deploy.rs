//! `deploy/`: the Kubernetes manifests and the Dockerfile agree with the server. The manifests
//! are parsed; the ConfigMap's file is loaded by the server's own config loader and served;
//! every probe in the Deployment is asked of that server at its port and path; the Secret
//! names only variables the server reads; the image runs as the pod's non-root user.

use std::{collections::BTreeMap, path::Path};

use scopegate::config::{self, Config, FileConfig, ServeFlags};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{Backend, TestApp, TestDb};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of every manifest, by kind.
fn manifests() -> BTreeMap<String, Yaml> {
    let dir = root().join("deploy/kubernetes");
    let mut by_kind = BTreeMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        for doc in YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no kind"));
            assert!(
                by_kind.insert(kind.to_owned(), doc.clone()).is_none(),
                "two {kind}s"
            );
        }
        files.push(name);
    }
    // The kustomization applies every manifest.
    let listed: Vec<&str> = by_kind["Kustomization"]["resources"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "kustomization.yaml")
        .collect();
    expected.sort_unstable();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort_unstable();
    assert_eq!(listed_sorted, expected);
    by_kind
}

fn port(yaml: &Yaml) -> u16 {
    u16::try_from(yaml.as_i64().expect("a port number")).unwrap()
}

/// The container's port named `name`.
fn container_port(container: &Yaml, name: &str) -> u16 {
    let ports = container["ports"].as_vec().unwrap();
    let found = ports.iter().find(|p| p["name"].as_str() == Some(name));
    port(&found.unwrap_or_else(|| panic!("no container port {name}"))["containerPort"])
}

#[tokio::test]
async fn the_manifests_probe_serve_and_configure_what_the_server_does() {
    let manifests = manifests();
    let deployment = &manifests["Deployment"];
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let (grpc, http, metrics) = (
        container_port(container, "grpc"),
        container_port(container, "http"),
        container_port(container, "metrics"),
    );

    // The ConfigMap's file is what the server loads, and it listens where the pod says.
    let text = manifests["ConfigMap"]["data"]["scopegate.toml"]
        .as_str()
        .unwrap();
    let file = FileConfig::parse(text).unwrap();
    let args = container["args"].as_vec().unwrap();
    assert_eq!(args[0].as_str(), Some("serve"));
    assert_eq!(args[1].as_str(), Some("--config"));
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert_eq!(
        args[2].as_str(),
        Some(format!("{mount}/scopegate.toml").as_str())
    );
    let no_env = |_: &str| None;
    let loaded = Config::load(&ServeFlags::default(), &no_env, &file).unwrap();
    assert_eq!(loaded.listen.port(), grpc);
    assert_eq!(loaded.http_listen.map(|a| a.port()), Some(http));
    assert_eq!(loaded.metrics_listen.map(|a| a.port()), Some(metrics));

    // The Secret sets only variables the server reads, and the database is Postgres.
    let secret = manifests["Secret"]["stringData"].as_hash().unwrap();
    let mut names: Vec<&str> = secret.keys().map(|k| k.as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["SCOPEGATE_ADMIN_KEY", "SCOPEGATE_DATABASE_URL"]);
    let url = secret[&Yaml::String("SCOPEGATE_DATABASE_URL".into())]
        .as_str()
        .unwrap();
    assert!(url.starts_with("postgres://"), "{url}");
    let env = |name: &str| {
        secret
            .get(&Yaml::String(name.to_owned()))
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let with_secret = Config::load(&ServeFlags::default(), &env, &file).unwrap();
    assert!(with_secret.admin_key.is_some());
    assert_eq!(with_secret.database_url.expose(), url);

    // Served on loopback with that file, every probe of the pod answers at its port and path.
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let mut served = Config::load(&ServeFlags::default(), &no_env, &file).unwrap();
    served.database_url = config::DatabaseUrl::new(db.url.clone());
    served.listen = "127.0.0.1:0".parse().unwrap();
    served.http_listen = Some("127.0.0.1:0".parse().unwrap());
    served.metrics_listen = None;
    let app = TestApp::start(served).await;
    let by_port = |p: u16| {
        if p == grpc {
            "grpc"
        } else if p == http {
            "http"
        } else {
            panic!("a probe on port {p}, which the server does not serve")
        }
    };
    for probe in ["readinessProbe", "startupProbe", "livenessProbe"] {
        let probe = &container[probe];
        if !probe["grpc"].is_badvalue() {
            assert_eq!(by_port(port(&probe["grpc"]["port"])), "grpc");
            let service = probe["grpc"]["service"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let answer = HealthClient::new(app.channel.clone())
                .check(HealthCheckRequest { service })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.status, ServingStatus::Serving as i32);
        } else {
            let get = &probe["httpGet"];
            assert_eq!(by_port(port(&get["port"])), "http");
            let path = get["path"].as_str().unwrap();
            let url = format!("http://{}{path}", app.http_addr.unwrap());
            assert_eq!(reqwest::get(&url).await.unwrap().status(), 200, "{url}");
        }
    }
    app.stop().await.unwrap();

    // The Service routes to the named container ports; the budget leaves a replica to drain.
    for service_port in manifests["Service"]["spec"]["ports"].as_vec().unwrap() {
        let target = service_port["targetPort"].as_str().unwrap();
        container_port(container, target);
    }
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap();
    let min_available = manifests["PodDisruptionBudget"]["spec"]["minAvailable"]
        .as_i64()
        .unwrap();
    assert!(min_available < replicas);

    // Non-root, read-only, nothing to escalate to.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    let uid = pod["securityContext"]["runAsUser"].as_i64().unwrap();

    // The image: the README's release build, this crate's toolchain, the same ports, the pod's
    // user (distroless `nonroot` is 65532).
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- serve"));
    assert!(dockerfile.contains("RUN cargo build --release --locked"));
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let toolchain = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    assert!(
        dockerfile.contains(&format!("FROM rust:{toolchain}-")),
        "{toolchain}"
    );
    assert!(dockerfile.contains(":nonroot") && uid == 65532);
    for (var, port) in [
        ("SCOPEGATE_LISTEN", grpc),
        ("SCOPEGATE_HTTP_LISTEN", http),
        ("SCOPEGATE_METRICS_LISTEN", metrics),
    ] {
        assert!(
            dockerfile.contains(&format!("{var}=0.0.0.0:{port}")),
            "{var}"
        );
    }
}
