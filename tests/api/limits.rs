//! Ways to wedge or starve the server, refused: connections that never speak or sit idle are
//! closed, the open-file limit does not lock new clients out, and calls beyond the in-flight
//! budget are shed with a retry hint while health checks and admin calls still answer.

use std::{process::Stdio, time::Duration};

use scopegate::pb::{
    CheckScopesRequest, IntrospectRequest, ListTenants, ManageTenantRequest,
    manage_tenant_request::Action, scope_decision_client::ScopeDecisionClient,
    token_introspection_client::TokenIntrospectionClient,
};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    helpers::{Backend, TestApp, TestDb, authed, test_config},
    jwks_server::{JwksServer, create_tenant_with_jwks_uri},
    tokens::Idp,
};

/// Bound on every wait in this file: far above what any of them needs.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// The HTTP/2 client preface and an empty SETTINGS frame: a client that has handshaken.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Reads (and discards) until the server closes the connection; `false` if it never does
/// within [`PATIENCE`].
pub(crate) async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let read_to_end = async {
        let mut buf = [0u8; 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_to_end).await.is_ok()
}

/// Starts an Introspect of `token` that stays in flight until the gate opens.
fn held_introspect(
    channel: Channel,
    token: String,
) -> tokio::task::JoinHandle<
    Result<tonic::Response<scopegate::pb::IntrospectResponse>, tonic::Status>,
> {
    tokio::spawn(async move {
        TokenIntrospectionClient::new(channel)
            .introspect(IntrospectRequest {
                token,
                tenant: "school".into(),
                ..Default::default()
            })
            .await
    })
}

#[tokio::test]
async fn a_connection_that_never_sends_the_preface_is_closed() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.limits.handshake_timeout = Duration::from_secs(1);
    let app = TestApp::start(config).await;

    let mut silent = TcpStream::connect(app.addr).await.unwrap();

    assert!(
        closed_by_server(&mut silent).await,
        "a connection that never sent the HTTP/2 preface is still open"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_one_with_a_call_in_flight_is_not() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.limits.idle_timeout = Some(Duration::from_secs(1));
    config.jwks.timeout = Duration::from_secs(120);
    let app = TestApp::start(config).await;
    let idp = Idp::new("https://id.school.test", "k1");
    let gate = JwksServer::held(idp.jwks()).await;
    create_tenant_with_jwks_uri(&app, &idp, &gate.url).await;
    let held = held_introspect(
        app.channel.clone(),
        idp.mint(&json!({ "scope": "courses:read" })),
    );
    gate.wait_for_fetches(1).await;

    // Handshaken, then silent: idle from the start.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(PREFACE).await.unwrap();

    assert!(
        closed_by_server(&mut idle).await,
        "an idle connection is still open"
    );
    // The held call's connection had a stream open all that time: it must have survived.
    gate.release();
    let answer = tokio::time::timeout(PATIENCE, held)
        .await
        .expect("the held call finishes once released")
        .unwrap()
        .expect("a connection with a call in flight is not idle");
    assert!(answer.into_inner().active);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_accept() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    // The test harness's own channel holds one.
    config.limits.max_connections = 2;
    let app = TestApp::start(config).await;
    let mut second = TcpStream::connect(app.addr).await.unwrap();
    second.write_all(PREFACE).await.unwrap();
    // The server answers a handshaken connection with its SETTINGS: once read, it was accepted.
    let mut buf = [0u8; 9];
    tokio::time::timeout(PATIENCE, second.read_exact(&mut buf))
        .await
        .expect("the second connection is served")
        .unwrap();

    let mut third = TcpStream::connect(app.addr).await.unwrap();
    let _ = third.write_all(PREFACE).await;

    assert!(
        closed_by_server(&mut third).await,
        "a connection beyond max_connections is still open"
    );
    // Those within the cap are untouched.
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn calls_beyond_the_in_flight_budget_are_shed_while_health_and_admin_answer() {
    const BUDGET: usize = 4;
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.limits.max_in_flight = BUDGET;
    config.jwks.timeout = Duration::from_secs(120);
    let app = TestApp::start(config).await;
    let idp = Idp::new("https://id.school.test", "k1");
    let gate = JwksServer::held(idp.jwks()).await;
    create_tenant_with_jwks_uri(&app, &idp, &gate.url).await;
    let token = idp.mint(&json!({ "scope": "courses:read" }));
    let held: Vec<_> = (0..BUDGET)
        .map(|_| held_introspect(app.channel.clone(), token.clone()))
        .collect();
    gate.wait_for_fetches(1).await;

    // The held calls reach the server in their own time: try (bounded) until the budget is
    // full. A check of no scopes never waits on anything, so it is shed or answered at once.
    let mut decision = ScopeDecisionClient::new(app.channel.clone());
    let mut shed = None;
    for _ in 0..500 {
        let request = CheckScopesRequest {
            tenant: "school".into(),
            ..Default::default()
        };
        match decision.check_scopes(request).await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                shed = Some(status);
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }

    let shed = shed.expect("a call beyond max_in_flight is shed with RESOURCE_EXHAUSTED");
    let pushback = shed
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("a shed call says when to retry")
        .to_str()
        .unwrap();
    assert!(pushback.parse::<u64>().is_ok(), "{pushback:?}");
    // Probes and operators have their own budget.
    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "health answers under load: {health:?}");
    let admin = app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::List(ListTenants::default())),
        }))
        .await;
    assert!(admin.is_ok(), "admin answers under load: {admin:?}");
    // The held calls were kept, not shed, and finish once the keys arrive.
    gate.release();
    for call in held {
        let answer = tokio::time::timeout(PATIENCE, call)
            .await
            .expect("held call finishes")
            .unwrap()
            .expect("held calls are not shed");
        assert!(answer.into_inner().active);
    }
}

/// Starts the built binary under `prlimit --nofile=limit:limit` with `config_toml`; returns
/// the child and its address (read from its JSON "listening" log line).
async fn spawn_limited_server(
    db_url: &str,
    config_toml: &str,
    limit: u32,
    dir: &std::path::Path,
) -> (tokio::process::Child, String) {
    let config_path = dir.join("scopegate.toml");
    std::fs::write(&config_path, config_toml).unwrap();
    let mut child = tokio::process::Command::new("prlimit")
        .arg(format!("--nofile={limit}:{limit}"))
        .arg(env!("CARGO_BIN_EXE_scopegate"))
        .args([
            "--log-json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db_url,
        ])
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("prlimit (util-linux) runs the server");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["fields"]["message"] == "listening" {
                return event["fields"]["addr"].as_str().unwrap().to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server starts");
    // Keep draining its logs so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test]
async fn a_server_at_its_open_file_limit_still_answers_new_clients() {
    const LIMIT: u32 = 128;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("scopegate.db").display());
    let (mut child, addr) = spawn_limited_server(
        &db_url,
        "handshake_timeout_seconds = 1\n",
        LIMIT,
        dir.path(),
    )
    .await;

    // More silent connections than the server has file descriptors: it reaches EMFILE, and
    // the excess wait in the listen backlog. The test keeps every one of them open.
    let mut hogs = Vec::new();
    for _ in 0..LIMIT + 64 {
        hogs.push(TcpStream::connect(&addr).await.unwrap());
    }

    // A new client (a health probe) still gets an answer: silent connections are closed,
    // freeing descriptors, and accepting resumes.
    let probe = tokio::time::timeout(PATIENCE, async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(hogs);
    assert!(
        matches!(probe, Ok(Ok(()))),
        "a health probe got no answer from a server at its open-file limit: {probe:?}"
    );
}
