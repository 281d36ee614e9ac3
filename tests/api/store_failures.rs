//! Storage failures: a COMMIT or a statement the database refuses, an unwritable WAL or
//! shared-memory file. Writes fail with UNAVAILABLE (storage) or INTERNAL (a refused
//! constraint), never wedge the connection pool, and work again as soon as the storage does.

use std::{path::Path, time::Duration};

use scopegate::{
    app::App,
    pb::{
        CreateScope, RevokeTokenRequest, manage_scope_request::Action,
        revoke_token_request::Target, token_introspection_client::TokenIntrospectionClient,
    },
};
use sqlx::Connection as _;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, authed, create_tenant, test_config},
    manage_scope::scope_call,
};

/// Enough sequential writes that every pooled connection, the poisoned one included, serves
/// one of them (the pool hands out idle connections in turn and holds at most 16).
const WRITES_AFTER: usize = 24;

fn create(name: &str) -> Action {
    Action::Create(CreateScope {
        name: name.to_owned(),
        description: "test".to_owned(),
        ..Default::default()
    })
}

/// Runs test-only DDL on the test database through a connection of its own.
async fn raw_sql(db: &TestDb, backend: Backend, statements: &[&str]) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}

/// A trigger that, when the scope `poison:now` is inserted, inserts a row breaking a
/// DEFERRABLE INITIALLY DEFERRED foreign key: the INSERT succeeds and the COMMIT fails.
async fn poison_commit(db: &TestDb, backend: Backend) {
    let sqlite = [
        "CREATE TABLE poison_target (id INTEGER PRIMARY KEY)",
        "CREATE TABLE poison (ref INTEGER REFERENCES poison_target (id) \
         DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER poison_commit AFTER INSERT ON scopes WHEN NEW.name = 'poison:now' \
         BEGIN INSERT INTO poison VALUES (42); END",
    ];
    let postgres = [
        "CREATE TABLE poison_target (id BIGINT PRIMARY KEY)",
        "CREATE TABLE poison (ref BIGINT REFERENCES poison_target (id) \
         DEFERRABLE INITIALLY DEFERRED)",
        "CREATE FUNCTION poison_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN INSERT INTO poison VALUES (42); RETURN NEW; END $$",
        "CREATE TRIGGER poison_commit AFTER INSERT ON scopes FOR EACH ROW \
         WHEN (NEW.name = 'poison:now') EXECUTE FUNCTION poison_commit()",
    ];
    match backend {
        Backend::Sqlite => raw_sql(db, backend, &sqlite).await,
        Backend::Postgres => raw_sql(db, backend, &postgres).await,
    }
}

async fn revoke_jti(app: &TestApp, tenant: &str, jti: &str) -> Result<(), tonic::Status> {
    let request = RevokeTokenRequest {
        tenant: tenant.to_owned(),
        target: Some(Target::Jti(jti.to_owned())),
    };
    TokenIntrospectionClient::new(app.channel.clone())
        .revoke_token(authed(request))
        .await
        .map(|_| ())
}

/// Every kind of write works `WRITES_AFTER` times in a row on `app`.
async fn writes_work(app: &TestApp, tenant: &str, round: &str) {
    for i in 0..WRITES_AFTER {
        scope_call(app, tenant, create(&format!("{round}{i}:read")))
            .await
            .unwrap_or_else(|e| panic!("scope write {i} after the failure: {e:?}"));
    }
    revoke_jti(app, tenant, &format!("{round}-jti"))
        .await
        .expect("revocation after the failure");
    crate::helpers::create_tenant(app, &format!("{round}-tenant"), "oidc").await;
}

async fn a_failed_commit_leaves_later_writes_working(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    create_tenant(&app, "school", "oidc").await;
    poison_commit(&db, backend).await;

    let refused = scope_call(&app, "school", create("poison:now"))
        .await
        .unwrap_err();
    let drop_trigger = match backend {
        Backend::Sqlite => "DROP TRIGGER poison_commit",
        Backend::Postgres => "DROP TRIGGER poison_commit ON scopes",
    };
    raw_sql(&db, backend, &[drop_trigger]).await;

    assert_ne!(refused.code(), Code::Ok);
    assert!(
        !refused.message().contains("poison"),
        "no SQL detail leaks: {refused:?}"
    );
    writes_work(&app, "school", "after").await;
    let names = crate::manage_scope::list_names(&app, "school", false).await;
    assert!(
        !names.contains(&"poison:now".to_owned()),
        "nothing half-written"
    );
}

backend_tests!(a_failed_commit_leaves_later_writes_working);

/// SQLite rolls the whole transaction back itself after some failures (I/O, disk full,
/// `RAISE(ROLLBACK)`); sqlx still counts it as open. The connection must not go back to work.
#[tokio::test]
async fn a_transaction_sqlite_rolled_back_itself_does_not_wedge_later_writes() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let app = TestApp::on(&db).await;
    create_tenant(&app, "school", "oidc").await;
    raw_sql(
        &db,
        Backend::Sqlite,
        &["CREATE TRIGGER poison_rollback AFTER INSERT ON scopes \
           WHEN NEW.name = 'poison:now' BEGIN SELECT RAISE(ROLLBACK, 'poisoned'); END"],
    )
    .await;

    let refused = scope_call(&app, "school", create("poison:now"))
        .await
        .unwrap_err();
    raw_sql(&db, Backend::Sqlite, &["DROP TRIGGER poison_rollback"]).await;

    assert_ne!(refused.code(), Code::Ok);
    writes_work(&app, "school", "after").await;
}

/// Whether this process may set the immutable attribute (root with `chattr`); otherwise the
/// tests that need it say loudly that they were skipped.
fn can_make_immutable() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let chattr = std::process::Command::new("chattr")
        .arg("--help")
        .output()
        .is_ok();
    if !(root && chattr) {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: a storage-failure test needs root and chattr (immutable files) ***\n"
        );
    }
    root && chattr
}

/// A file made immutable (every write fails, even through descriptors already open) until
/// this is dropped, whatever the test's outcome.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn set(path: &'a Path) -> Self {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chattr +i {}", path.display());
        Self(path)
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

fn db_path(db: &TestDb) -> std::path::PathBuf {
    db.url.strip_prefix("sqlite://").unwrap().into()
}

async fn health_of(app: &TestApp, service: &str) -> i32 {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Polls (bounded: 20 s) until the admin service reports `want`.
async fn wait_for_admin_health(app: &TestApp, want: ServingStatus) {
    for _ in 0..400 {
        if health_of(app, "scopegate.v1.ScopeAdmin").await == want as i32 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ScopeAdmin health never became {want:?}");
}

#[tokio::test]
async fn an_unwritable_wal_fails_writes_with_unavailable_until_it_is_writable_again() {
    if !can_make_immutable() {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.health_interval = Duration::from_millis(100);
    let app = TestApp::start(config).await;
    create_tenant(&app, "school", "oidc").await;
    let wal = db_path(&db).with_extension("db-wal");
    assert!(wal.exists(), "WAL mode keeps {}", wal.display());

    {
        let _frozen = Immutable::set(&wal);
        let refused = scope_call(&app, "school", create("frozen:read"))
            .await
            .unwrap_err();
        let revoke_refused = revoke_jti(&app, "school", "frozen").await.unwrap_err();

        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert_eq!(
            revoke_refused.code(),
            Code::Unavailable,
            "{revoke_refused:?}"
        );
        assert!(
            !refused.message().contains(".db"),
            "no file path in the answer: {refused:?}"
        );
        wait_for_admin_health(&app, ServingStatus::NotServing).await;
        assert_eq!(
            health_of(&app, "").await,
            ServingStatus::Serving as i32,
            "decisions are still answered from committed data"
        );
    }

    writes_work(&app, "school", "thawed").await;
    wait_for_admin_health(&app, ServingStatus::Serving).await;
    let names = crate::manage_scope::list_names(&app, "school", false).await;
    assert!(
        !names.contains(&"frozen:read".to_owned()),
        "nothing half-written"
    );
}

#[tokio::test]
async fn an_unwritable_shared_memory_file_is_refused_at_start_naming_it() {
    if !can_make_immutable() {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    // A database in WAL mode, through one connection whose close is awaited (a server's pool
    // closes in the background, and its last close deletes the -shm this test writes next) …
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db.url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    // … then a left-over -shm nobody may write.
    let shm = db_path(&db).with_extension("db-shm");
    std::fs::write(&shm, vec![0u8; 32 * 1024]).unwrap();
    let _frozen = Immutable::set(&shm);

    let refused = App::build(test_config(&db.url)).await.unwrap_err();

    assert!(
        refused.to_string().contains("scopegate.db-shm"),
        "the message names the file: {refused}"
    );
}
