//! A real MCP client (the official Python SDK, `tests/mcp/client.py`) against the example MCP
//! server (`examples/mcp-server`), whose auth is scopegate's forward auth for a registered
//! protected resource: no token is 401 with a challenge whose `resource_metadata` leads to the
//! RFC 9728 document, a tool beyond the token's scopes is 403 `insufficient_scope`, a tool within
//! them answers, a token for another audience is 401 `invalid_token`.
//! In CI (`SCOPEGATE_REQUIRE_MCP=1`, set by `.ci/run`, which builds the SDK's venv) a missing SDK
//! fails the test; elsewhere it is skipped with a loud note.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use scopegate::pb::{
    ManageTenantRequest, ProtectedResource, ProtectedResourceList, TenantSettings, UpdateTenant,
    manage_tenant_request::Action,
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::{
    helpers::{TestApp, TestDb, authed, test_config},
    tokens::{AUDIENCE, Idp, create_tenant_for},
};

/// How long the example server may take to listen, and the client to finish.
const PATIENCE: Duration = Duration::from_secs(60);

/// A file of the repository.
fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The Python of a venv holding the pinned SDK: `SCOPEGATE_MCP_PYTHON`, else the venv `.ci/run`
/// keeps in the user's cache when it was built from the current lockfile. `None` (with a note)
/// where there is none and none is required.
fn mcp_python() -> Option<PathBuf> {
    let found = match std::env::var_os("SCOPEGATE_MCP_PYTHON") {
        Some(python) => Some(PathBuf::from(python)).filter(|p| p.exists()),
        None => cached_venv_python(),
    };
    if found.is_none() {
        assert!(
            std::env::var("SCOPEGATE_REQUIRE_MCP").as_deref() != Ok("1"),
            "SCOPEGATE_REQUIRE_MCP=1 but no venv with the MCP SDK (SCOPEGATE_MCP_PYTHON)"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the MCP SDK test (.ci/run builds its venv from scripts/requirements-mcp.txt) ***\n"
        );
    }
    found
}

/// `.ci/run`'s venv, if it was built from the lockfile this checkout pins.
fn cached_venv_python() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    let venv = cache.join("scopegate/mcp-venv");
    let built_from = std::fs::read(venv.join("requirements-mcp.txt")).ok()?;
    let pinned = std::fs::read(repo_file("scripts/requirements-mcp.txt")).ok()?;
    let python = venv.join("bin/python");
    (built_from == pinned && python.exists()).then_some(python)
}

/// A free port on 127.0.0.1 (the example server binds it itself a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The example MCP server, killed when dropped.
struct McpServer {
    child: Child,
}

impl McpServer {
    /// Starts `examples/mcp-server/server.py` on `port`, guarded by scopegate at `scopegate`;
    /// returns once it accepts connections.
    async fn start(python: &Path, dir: &Path, scopegate: &str, port: u16, resource: &str) -> Self {
        let log = dir.join("mcp-server.log");
        let mut child = Command::new(python)
            .arg(repo_file("examples/mcp-server/server.py"))
            .args(["--scopegate", scopegate, "--tenant", "school"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--resource", resource])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            let exited = child.try_wait().unwrap();
            let late = tokio::time::Instant::now() >= deadline;
            assert!(
                exited.is_none() && !late,
                "the example MCP server did not start ({exited:?}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Registers `resource` as a protected resource of tenant `tenant`.
async fn register_resource(app: &TestApp, tenant: &str, resource: &str) {
    let settings = TenantSettings {
        resources: Some(ProtectedResourceList {
            values: vec![ProtectedResource {
                resource: resource.to_owned(),
                name: "Loopwise MCP (example)".to_owned(),
                documentation: String::new(),
                authorization_servers: vec![],
                operations: vec![],
            }],
        }),
        ..Default::default()
    };
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Update(UpdateTenant {
                id: tenant.to_owned(),
                settings: Some(settings),
                display_name: None,
            })),
        }))
        .await
        .expect("resource registered");
}

/// Runs `tests/mcp/client.py` against `url` with the three tokens; what it saw, as JSON.
async fn run_client(python: &Path, url: &str, tokens: [(&str, &str); 3]) -> Value {
    let mut client = Command::new(python);
    client
        .arg(repo_file("tests/mcp/client.py"))
        .arg(url)
        .envs(tokens)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(PATIENCE, client.output())
        .await
        .expect("the MCP client finished in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the MCP client failed: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "the MCP client printed no JSON ({err}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[tokio::test]
async fn the_mcp_sdk_client_discovers_the_resource_and_gets_401_403_and_the_tools_answer() {
    let Some(python) = mcp_python() else {
        return;
    };
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::start(config).await;
    let scopegate = format!("http://{}", app.http_addr.unwrap());
    let idp = Idp::new("https://id.school.test", "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    register_resource(&app, "school", &resource).await;
    let dir = tempfile::tempdir().unwrap();
    let _server = McpServer::start(&python, dir.path(), &scopegate, port, &resource).await;
    let without_courses = idp.mint(&json!({ "aud": resource, "scope": "school:read" }));
    let with_courses = idp.mint(&json!({ "aud": resource, "scope": "school:read courses:read" }));
    let other_audience = idp.mint(&json!({ "aud": AUDIENCE, "scope": "courses:read" }));

    let seen = run_client(
        &python,
        &resource,
        [
            ("TOKEN_WITHOUT_COURSES", without_courses.as_str()),
            ("TOKEN_WITH_COURSES", with_courses.as_str()),
            ("TOKEN_OTHER_AUDIENCE", other_audience.as_str()),
        ],
    )
    .await;

    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let anonymous = &seen["anonymous"];
    assert_eq!(anonymous["status"], 401, "{seen:#}");
    assert_eq!(anonymous["resource_metadata"], metadata_url, "{seen:#}");
    assert_eq!(anonymous["discovery_url"], metadata_url, "{seen:#}");
    assert_eq!(anonymous["metadata_status"], 200, "{seen:#}");
    assert_eq!(anonymous["metadata"]["resource"], resource.as_str());
    let supported: Vec<&str> = anonymous["metadata"]["scopes_supported"]
        .as_array()
        .expect("scopes_supported")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for scope in [
        "courses:read",
        "school:read",
        "appearance:read",
        "posts:write",
    ] {
        assert!(supported.contains(&scope), "{scope} in {supported:?}");
    }
    assert!(
        !supported
            .iter()
            .any(|s| s.starts_with("admin:") || *s == "offline_access"),
        "undiscoverable scopes advertised: {supported:?}"
    );

    let session = &seen["without_courses"];
    assert_eq!(session["server"], "loopwise-example", "{seen:#}");
    let allowed = &session["calls"]["get_settings"];
    assert_eq!(allowed["http"]["status"], 200, "{seen:#}");
    assert_eq!(allowed["is_error"], false, "{seen:#}");
    let refused = &session["calls"]["list_courses"]["http"];
    assert_eq!(refused["status"], 403, "{seen:#}");
    assert_eq!(refused["error"], "insufficient_scope", "{seen:#}");
    let scope = refused["scope"].as_str().expect("scope in the challenge");
    assert!(scope.split(' ').any(|s| s == "courses:read"), "{scope}");
    assert_eq!(refused["resource_metadata"], metadata_url, "{seen:#}");

    let answered = &seen["with_courses"]["calls"]["list_courses"];
    assert_eq!(answered["http"]["status"], 200, "{seen:#}");
    assert_eq!(answered["is_error"], false, "{seen:#}");
    assert_eq!(
        answered["text"],
        json!(["courses: Algebra I, Biology"]),
        "{seen:#}"
    );

    let other = &seen["other_audience"];
    assert_eq!(other["status"], 401, "{seen:#}");
    assert_eq!(other["error"], "invalid_token", "{seen:#}");
}
