//! Production storage: PostgreSQL, shared by every replica.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;

/// The channel on which a write announces the tenant whose catalog changed.
pub const CHANGE_CHANNEL: &str = "scopegate_catalog";

/// A store on a Postgres database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to Postgres: {e}")))?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("Postgres migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// The pool, for the change listener.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// Every write locks its tenant row, so concurrent edits of one tenant serialize and each
// planner sees the catalog it changes.
sql_store!(
    PostgresStore,
    sqlx::Postgres,
    begin = "BEGIN",
    lock = " FOR UPDATE",
    notify = "SELECT pg_notify('scopegate_catalog', $1)"
);
