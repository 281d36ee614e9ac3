//! The embedded default: SQLite in WAL mode, created on first run.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Connection as _,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

use super::{StoreError, writes::WriteHealth};

/// A store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writes: WriteHealth,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        writable(options.get_filename())?;
        let writes = WriteHealth::default();
        let trust = writes.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .before_acquire(move |conn, meta| {
                let trusted = trust.trusts_connection(meta.age);
                Box::pin(
                    async move { Ok(trusted && super::writes::reusable(conn.is_in_transaction())) },
                )
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database: {e}")))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("SQLite migration failed: {e}")))?;
        Ok(Self { pool, writes })
    }
}

/// Refuses to start on a database whose file, WAL or shared-memory file exists but cannot be
/// written: SQLite would fail every write, and a `-shm` it maps but may not write kills the
/// process with SIGBUS at the first write, without a log line.
fn writable(database: &Path) -> Result<(), StoreError> {
    let mut files = vec![database.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files.iter().filter(|f| f.exists()) {
        if let Err(err) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
        {
            return Err(StoreError::Config(format!(
                "{} cannot be opened for writing ({err}); scopegate needs to write the \
                 database and its -wal and -shm files",
                file.display()
            )));
        }
    }
    Ok(())
}

impl SqliteStore {
    /// One process owns a SQLite file: there are no other replicas to hear from.
    async fn watch(&self, _on_change: super::ChangeHandler) -> Result<(), StoreError> {
        Ok(())
    }
}

// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write transaction never
// fails to upgrade; the row lock is implied. A plain (deferred) BEGIN reads one WAL snapshot
// from its first statement on.
sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    snapshot = "BEGIN",
    lock = "",
    notify = ""
);
