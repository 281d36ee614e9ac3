//! The embedded default: SQLite in WAL mode, created on first run.

use std::{str::FromStr, time::Duration};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;

/// A store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database: {e}")))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("SQLite migration failed: {e}")))?;
        Ok(Self { pool })
    }
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
