//! Production storage: PostgreSQL, shared by every replica.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

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

    /// Listens on [`CHANGE_CHANNEL`] until dropped. A lost connection is re-established and
    /// reported as `*`, since announcements sent meanwhile are gone.
    async fn watch(&self, on_change: super::ChangeHandler) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANGE_CHANNEL).await?;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => on_change(notification.payload()),
                Ok(None) => {
                    tracing::warn!("change feed connection lost; reconnecting");
                    on_change("*");
                }
                Err(err) => {
                    tracing::warn!(%err, "change feed error; retrying");
                    on_change("*");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
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
