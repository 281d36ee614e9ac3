//! A real authorization server, node-oidc-provider (`tests/idp/idp.mjs`, pinned in
//! `tests/idp/package-lock.json`), issuing opaque client-credentials tokens that scopegate
//! introspects upstream: active and decided by their scopes through `CheckScopes`, revoked at the
//! IdP and seen inactive once the 1 s cache TTL ends, still answered from cache while the IdP is
//! down (new tokens then fail closed), and one introspection per token under 50 concurrent checks
//! (counted from the IdP's own output). In CI (`SCOPEGATE_REQUIRE_IDP=1`, set by `.ci/run`,
//! which installs it with `npm ci`) a missing install fails the test; elsewhere it is skipped with
//! a loud note.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{check_of, concurrently, explained, opaque_settings, outcome, upstream};
use crate::{
    decision::check_one,
    helpers::{TestApp, TestDb},
    tokens::create_tenant_with,
};

const PATIENCE: Duration = Duration::from_secs(30);

/// The `node_modules` holding the pinned provider: `SCOPEGATE_IDP_NODE_MODULES`, else
/// `tests/idp/node_modules`. `None` (with a note) where there is none and none is required.
fn node_modules() -> Option<PathBuf> {
    let found = match std::env::var_os("SCOPEGATE_IDP_NODE_MODULES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/node_modules")),
    }
    .filter(|dir| dir.join("oidc-provider").exists());
    if found.is_none() {
        assert!(
            std::env::var("SCOPEGATE_REQUIRE_IDP").as_deref() != Ok("1"),
            "SCOPEGATE_REQUIRE_IDP=1 but no node_modules with oidc-provider (SCOPEGATE_IDP_NODE_MODULES)"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the node-oidc-provider test (.ci/run installs it with npm ci from tests/idp/package-lock.json) ***\n"
        );
    }
    found
}

/// node-oidc-provider on 127.0.0.1, killed when dropped; counts the introspections it answered.
struct Provider {
    child: Child,
    port: u16,
    /// Counted from the IdP's output, which may lag behind its HTTP answer.
    introspections: watch::Sender<usize>,
}

impl Provider {
    async fn start(modules: &Path) -> Self {
        // The script is copied next to the modules it imports (ESM resolves from the file).
        let script = modules.parent().unwrap().join("scopegate-test-idp.mjs");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/idp.mjs");
        if std::fs::read(&script).ok() != std::fs::read(&source).ok() {
            std::fs::copy(&source, &script).unwrap();
        }
        let mut child = Command::new("node")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.strip_prefix("PORT ") {
                    return port.trim().parse::<u16>().unwrap();
                }
            }
            panic!("node-oidc-provider exited before listening");
        })
        .await
        .expect("node-oidc-provider listens in time");
        let introspections = watch::Sender::new(0);
        let counter = introspections.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "INTROSPECTION" {
                    counter.send_modify(|n| *n += 1);
                }
            }
        });
        Self {
            child,
            port,
            introspections,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A client-credentials token of `service` for `scope`.
    async fn token(&self, scope: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/token"))
            .basic_auth("service", Some("service-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&scope={}",
                scope.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn revoke(&self, token: &str) {
        let response = reqwest::Client::new()
            .post(self.url("/token/revocation"))
            .basic_auth("service", Some("service-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }

    fn introspections(&self) -> usize {
        *self.introspections.borrow()
    }

    /// Waits (bounded) until the IdP's output showed at least `n` introspections: its line
    /// may be read after scopegate already had the answer.
    async fn wait_for_introspections(&self, n: usize) {
        let mut seen = self.introspections.subscribe();
        let waited = tokio::time::timeout(PATIENCE, seen.wait_for(|&count| count >= n)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the IdP never printed introspection {n}"
        );
    }

    async fn stop(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

#[tokio::test]
async fn opaque_tokens_of_node_oidc_provider_are_decided_by_its_introspection_and_cached() {
    let Some(modules) = node_modules() else {
        return;
    };
    let idp = Provider::start(&modules).await;
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    let mut config = upstream(
        &idp.url("/token/introspection"),
        "scopegate",
        "scopegate-introspection-secret",
    );
    config.cache_ttl_seconds = Some(1);
    create_tenant_with(&app, "school", "loopwise", opaque_settings(config.clone())).await;
    // The same IdP for a tenant that trusts answers for 60 s (the outage part below).
    config.cache_ttl_seconds = Some(60);
    create_tenant_with(&app, "campus", "loopwise", opaque_settings(config)).await;

    // Active, decided by its scopes, through CheckScopes and Introspect alike.
    let reader = idp.token("courses:read").await;
    let allowed = check_one(&app, check_of("school", &reader, &["courses:read"])).await;
    assert!(allowed.allowed, "{allowed:?}");
    let denied = check_one(&app, check_of("school", &reader, &["courses:write"])).await;
    assert!(!denied.allowed && denied.error.is_none(), "{denied:?}");
    assert_eq!(denied.missing, ["courses:write"]);
    let seen = explained(&app, "school", &reader).await;
    assert!(seen.active, "{seen:?}");
    assert_eq!(
        (seen.client_id.as_str(), seen.scope.as_str()),
        ("service", "courses:read")
    );
    assert!(seen.explain.unwrap().cache_hit, "answered from the cache");
    idp.wait_for_introspections(1).await;
    assert_eq!(idp.introspections(), 1);

    // Revoked at the IdP: served from cache until the 1 s TTL ends, then inactive.
    idp.revoke(&reader).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = explained(&app, "school", &reader).await;
        if !seen.active {
            assert_eq!(outcome(&seen), "upstream_inactive");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "revocation never seen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 50 concurrent checks of a new token: one introspection at the IdP.
    let shared = idp.token("courses:read courses:write").await;
    let before = idp.introspections();
    let checks = (0..50).map(|_| check_of("school", &shared, &["courses:write"]));
    let results = concurrently(&app, checks.collect()).await;
    assert!(results.iter().all(|r| r.allowed), "{results:?}");
    idp.wait_for_introspections(before + 1).await;
    assert_eq!(
        idp.introspections() - before,
        1,
        "one upstream call for 50 checks"
    );

    // The IdP stops: a cached token keeps answering (inside its 60 s TTL), a new one fails
    // closed.
    let cached = idp.token("courses:read").await;
    let unseen = idp.token("courses:read").await;
    assert!(explained(&app, "campus", &cached).await.active);
    idp.stop().await;
    let from_cache = explained(&app, "campus", &cached).await;
    assert!(from_cache.active, "{from_cache:?}");
    let fresh = explained(&app, "campus", &unseen).await;
    assert!(!fresh.active);
    assert_eq!(outcome(&fresh), "upstream_unavailable");
    let checked = check_one(&app, check_of("campus", &unseen, &["courses:read"])).await;
    let error = checked.error.expect("an outage is an error, not a denial");
    assert_eq!(error.code, tonic::Code::Unavailable as i32);
}
