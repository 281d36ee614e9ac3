//! Production storage: PostgreSQL, shared by every replica.

use std::time::Duration;

use sqlx::{
    Connection as _,
    postgres::{PgListener, PgPool, PgPoolOptions},
};

use super::{StoreError, writes::WriteHealth};

/// The channel on which a write announces the tenant whose catalog changed.
pub const CHANGE_CHANNEL: &str = "scopegate_catalog";

/// A store on a Postgres database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    writes: WriteHealth,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .before_acquire(|conn, _| {
                Box::pin(async move { Ok(super::writes::reusable(conn.is_in_transaction())) })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to Postgres: {e}")))?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("Postgres migration failed: {e}")))?;
        Ok(Self {
            pool,
            writes: WriteHealth::default(),
        })
    }

    /// Listens on [`CHANGE_CHANNEL`] until dropped. After a lost connection it reconnects
    /// (backing off while the database is down) and then reports `Missed`: announcements sent
    /// meanwhile are gone. Until then the caches keep serving what they hold.
    async fn watch(&self, on_change: super::ChangeHandler) -> Result<(), StoreError> {
        let mut listener = self.listener().await?;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => on_change(super::Change::parse(notification.payload())),
                Ok(None) | Err(_) => {
                    tracing::warn!("change feed connection lost; reconnecting");
                    let mut backoff = Duration::from_millis(100);
                    listener = loop {
                        match self.listener().await {
                            Ok(listener) => break listener,
                            Err(_) => {
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(Duration::from_secs(5));
                            }
                        }
                    };
                    tracing::info!("change feed reconnected");
                    on_change(super::Change::Missed);
                }
            }
        }
    }

    async fn listener(&self) -> Result<PgListener, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(listener)
    }
}

// Every write locks its tenant row, so concurrent edits of one tenant serialize and each
// planner sees the catalog it changes.
sql_store!(
    PostgresStore,
    sqlx::Postgres,
    begin = "BEGIN",
    snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    lock = " FOR UPDATE",
    notify = "SELECT pg_notify('scopegate_catalog', $1)"
);
