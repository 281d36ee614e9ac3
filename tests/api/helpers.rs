//! Test harness: fresh databases per test, the app on port 0, authenticated clients.

use std::{sync::LazyLock, time::Duration};

use scopegate::{
    app::App,
    config::{AdminKeyHash, Config},
    pb::{
        CreateTenant, ManageTenantRequest, manage_tenant_request::Action as TenantAction,
        scope_admin_client::ScopeAdminClient,
    },
    telemetry,
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};

/// Server logs for the whole test binary, installed once by the first server started: with
/// `TEST_LOG` set, the server's own log setup (`telemetry::init`, text to stderr, `RUST_LOG`
/// filters, default `info`); otherwise none, so a run stays quiet.
static TEST_LOG: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        // No OTLP endpoint: nothing to flush, so the handle may go.
        drop(telemetry::init(false, None).expect("test logging"));
    }
});

/// The bootstrap key every test server accepts.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; dropped (Postgres) or deleted (SQLite) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin_url: Option<String>,
    pg_name: Option<String>,
}

/// The Postgres server the suite uses. Postgres tests are ignored unless the build saw
/// `SCOPEGATE_TEST_POSTGRES_URL` (`cfg(scopegate_pg)`, see `build.rs`); a test that was built to
/// run and finds no URL fails rather than pass without running, as it does with
/// `SCOPEGATE_REQUIRE_POSTGRES=1` (CI). `None` only for an ignored test run on purpose
/// (`--include-ignored`) without Postgres, with a loud note.
pub fn postgres_url() -> Option<String> {
    match std::env::var("SCOPEGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("SCOPEGATE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "SCOPEGATE_REQUIRE_POSTGRES=1 but SCOPEGATE_TEST_POSTGRES_URL is not set"
            );
            // This build did not ignore the Postgres tests: one must not pass without running.
            if cfg!(scopegate_pg) {
                panic!("built with SCOPEGATE_TEST_POSTGRES_URL set, run without it: set it again");
            }
            // Straight to stderr, past libtest's output capture, once per run.
            static NOTICE: std::sync::Once = std::sync::Once::new();
            NOTICE.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED: the Postgres half of the suite (set SCOPEGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run it) ***\n"
                );
            });
            None
        }
    }
}

impl TestDb {
    /// A new database on `backend`, or `None` when Postgres is not configured.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("scopegate.db").display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                    pg_admin_url: None,
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let name = format!("scopegate_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .expect("Postgres reachable at SCOPEGATE_TEST_POSTGRES_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = replace_db_name(&admin_url, &name);
                Some(Self {
                    url,
                    _dir: None,
                    pg_admin_url: Some(admin_url),
                    pg_name: Some(name),
                })
            }
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix_end = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..prefix_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(admin_url), Some(name)) = (self.pg_admin_url.take(), self.pg_name.take()) else {
            return;
        };
        // Drop runs outside async: use a private runtime on a helper thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running server.
#[derive(Debug)]
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The HTTP door's address, when the config asked for one.
    pub http_addr: Option<std::net::SocketAddr>,
    pub channel: Channel,
    /// The server's decision log (counts, and a hold on its writer).
    pub decision_log: scopegate::decision_log::DecisionLog,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), scopegate::app::AppError>>>,
}

/// The configuration tests use on `url`.
pub fn test_config(url: &str) -> Config {
    let mut config = Config::new(url);
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.admin_key = Some(AdminKeyHash::of(ADMIN_KEY));
    config.shutdown_grace = Duration::from_secs(2);
    // Test JWKS servers listen on http://127.0.0.1: opt in to what production refuses.
    config.jwks.allow_plain_http = true;
    config.jwks.networks.allow_private = true;
    // Decisions still get ids; tests that read the log turn it on, to a file.
    config.decision_log.mode = scopegate::decision_log::Mode::Off;
    config
}

impl TestApp {
    /// Builds and starts the app with `config`; returns once it accepts connections.
    pub async fn start(config: Config) -> Self {
        LazyLock::force(&TEST_LOG);
        let app = App::build(config).await.expect("app builds");
        let addr = app.local_addr();
        let http_addr = app.http_addr();
        let decision_log = app.decision_log().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        // The listener is bound before spawn, so connecting cannot race the start.
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self {
            addr,
            http_addr,
            channel,
            decision_log,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Starts the app on `db`.
    pub async fn on(db: &TestDb) -> Self {
        Self::start(test_config(&db.url)).await
    }

    /// An admin client.
    pub fn admin(&self) -> ScopeAdminClient<Channel> {
        ScopeAdminClient::new(self.channel.clone())
    }

    /// Sends the shutdown signal and waits for the server to return.
    pub async fn stop(mut self) -> Result<(), scopegate::app::AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.handle.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A request carrying the bootstrap admin key.
pub fn authed<T>(message: T) -> Request<T> {
    with_bearer(message, ADMIN_KEY)
}

/// A request carrying `Bearer <credential>`.
pub fn with_bearer<T>(message: T, credential: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {credential}").parse().expect("ascii"),
    );
    request
}

/// Creates tenant `id` from `preset`.
pub async fn create_tenant(app: &TestApp, id: &str, preset: &str) {
    let create = CreateTenant {
        id: id.to_owned(),
        preset: preset.to_owned(),
        ..Default::default()
    };
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(TenantAction::Create(create)),
        }))
        .await
        .expect("tenant created");
}

/// Stamps an async test body `fn(Backend)` out as one `#[tokio::test]` per backend; the
/// Postgres copy is ignored unless the build saw `SCOPEGATE_TEST_POSTGRES_URL` (`build.rs`).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[cfg_attr(
                    not(scopegate_pg),
                    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
                )]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Starts a fresh database and app for a backend, or returns from the test when the backend
/// is not configured (Postgres outside CI).
#[macro_export]
macro_rules! fresh_app {
    ($backend:expr) => {{
        let Some(db) = $crate::helpers::TestDb::new($backend).await else {
            return;
        };
        let app = $crate::helpers::TestApp::on(&db).await;
        (db, app)
    }};
}
