//! Production storage: PostgreSQL, shared by every replica.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Connection as _, PgConnection, Postgres, Transaction,
    postgres::{PgListener, PgPool, PgPoolOptions},
};

use super::{
    Actor, AuditEvent, CallerWrite, Change, ChangeHandler, Committed, DirectoryRows, FirstRunKey,
    IntrospectionCredential, Planner, Revocation, Store, StoreError, TenantUpdate,
    catalog::load,
    dialect::{Arg, Dialect, Record, arguments},
    queries, reads,
    write_health::WriteHealth,
    writes,
};
use crate::{
    caller::RegisteredCaller,
    scope::edit::Edit,
    tenant::{Tenant, TenantId},
};

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
                Box::pin(async move { Ok(super::write_health::reusable(conn.is_in_transaction())) })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to Postgres: {e}")))?;
        super::migrations::postgres()
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
    async fn watch(&self, on_change: ChangeHandler) -> Result<(), StoreError> {
        let mut listener = self.listener().await?;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => on_change(Change::parse(notification.payload())),
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
                    on_change(Change::Missed);
                }
            }
        }
    }

    async fn listener(&self) -> Result<PgListener, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(listener)
    }

    /// Starts a write transaction; a storage failure here is remembered for readiness.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let begun = self.pool.begin_with("BEGIN").await.map_err(Into::into);
        self.writes.record(&begun);
        begun
    }

    /// Commits a write transaction. When the COMMIT fails, sqlx queues a ROLLBACK on the
    /// connection as the transaction drops; should that fail too, the pool's `before_acquire`
    /// check closes the connection instead of handing it out again. The outcome is remembered
    /// for readiness.
    async fn commit(&self, tx: Transaction<'static, Postgres>) -> Result<(), StoreError> {
        let committed = tx.commit().await.map_err(Into::into);
        if let Err(err) = &committed {
            tracing::warn!(%err, "commit failed; the transaction is rolled back");
        }
        self.writes.record(&committed);
        committed
    }

    /// Starts a read-only transaction whose statements all see one snapshot.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?)
    }
}

impl Dialect for PgConnection {
    // Every write locks its tenant row, so concurrent edits of one tenant serialize and each
    // planner sees the catalog it changes.
    const TENANT_FOR_WRITE: &'static str = queries::TENANT_BY_ID_FOR_UPDATE;
    const CALLER_FOR_WRITE: &'static str = queries::CALLER_BY_NAME_FOR_UPDATE;

    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let arguments = arguments::<Postgres>(args)?;
        let done = sqlx::query_with(sql, arguments).execute(self).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, sqlx::Error> {
        let arguments = arguments::<Postgres>(args)?;
        let rows = sqlx::query_with(sql, arguments).fetch_all(self).await?;
        rows.iter().map(T::read).collect()
    }

    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, sqlx::Error> {
        let arguments = arguments::<Postgres>(args)?;
        let row = sqlx::query_with(sql, arguments)
            .fetch_optional(self)
            .await?;
        row.as_ref().map(T::read).transpose()
    }

    /// `NOTIFY` is delivered when the transaction commits, and not at all if it rolls back.
    async fn announce(&mut self, change: &Change) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGE_CHANNEL)
            .bind(change.payload())
            .execute(self)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        reads::ping(&mut *self.pool.acquire().await?).await
    }

    async fn check_writes(&self) -> Result<(), StoreError> {
        if self.writes.failing() {
            let mut tx = self.begin_write().await?;
            writes::probe_write(&mut *tx).await?;
            self.commit(tx).await?;
        }
        Ok(())
    }

    async fn first_run_admin_key(&self, key_sha256: &[u8; 32]) -> Result<FirstRunKey, StoreError> {
        let mut tx = self.begin_write().await?;
        let key = writes::first_run_admin_key(&mut *tx, key_sha256).await?;
        self.commit(tx).await?;
        Ok(key)
    }

    async fn tenant(&self, id: &TenantId) -> Result<Tenant, StoreError> {
        reads::tenant(&mut *self.pool.acquire().await?, id).await
    }

    async fn tenant_by_issuer(&self, issuer: &str) -> Result<Option<Tenant>, StoreError> {
        reads::tenant_by_issuer(&mut *self.pool.acquire().await?, issuer).await
    }

    async fn list_tenants(&self, after: &str, limit: u32) -> Result<Vec<Tenant>, StoreError> {
        reads::list_tenants(&mut *self.pool.acquire().await?, after, limit).await
    }

    async fn catalog(&self, id: &TenantId) -> Result<Committed, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let committed = load(&mut *tx, id, false).await?;
        tx.commit().await?;
        Ok(committed)
    }

    async fn tenant_state(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<(Committed, Vec<Revocation>), StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let committed = load(&mut *tx, id, false).await?;
        let revocations = reads::live_revocations(&mut *tx, id, now_unix).await?;
        tx.commit().await?;
        Ok((committed, revocations))
    }

    async fn directory(&self) -> Result<DirectoryRows, StoreError> {
        reads::directory(&mut *self.pool.acquire().await?).await
    }

    async fn create_tenant(
        &self,
        tenant: &Tenant,
        seed: &Edit,
        actor: &Actor,
    ) -> Result<Committed, StoreError> {
        let mut tx = self.begin_write().await?;
        let committed = writes::create_tenant(&mut *tx, tenant, seed, actor).await?;
        self.commit(tx).await?;
        Ok(committed)
    }

    async fn update_tenant(
        &self,
        id: &TenantId,
        actor: &Actor,
        update: TenantUpdate<'_>,
    ) -> Result<Tenant, StoreError> {
        let mut tx = self.begin_write().await?;
        let next = writes::update_tenant(&mut *tx, id, actor, update).await?;
        self.commit(tx).await?;
        Ok(next)
    }

    async fn delete_tenant(&self, id: &TenantId, actor: &Actor) -> Result<Tenant, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = writes::delete_tenant(&mut *tx, id, actor).await?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        settings: Option<TenantUpdate<'_>>,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError> {
        let mut tx = self.begin_write().await?;
        let edited = writes::edit(&mut *tx, id, actor, settings, plan).await?;
        if edited.wrote {
            self.commit(tx).await?;
        } else {
            tx.rollback().await?;
        }
        Ok((edited.committed, edited.edit))
    }

    async fn audit_events(
        &self,
        id: &TenantId,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        reads::audit_events(&mut *self.pool.acquire().await?, Some(id), before_id, limit).await
    }

    async fn platform_audit_events(
        &self,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        reads::audit_events(&mut *self.pool.acquire().await?, None, before_id, limit).await
    }

    async fn revoke(
        &self,
        id: &TenantId,
        revocation: &Revocation,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        writes::revoke(&mut *tx, id, revocation, actor).await?;
        self.commit(tx).await
    }

    async fn revocations(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        reads::live_revocations(&mut *self.pool.acquire().await?, id, now_unix).await
    }

    async fn watch_changes(&self, on_change: ChangeHandler) -> Result<(), StoreError> {
        self.watch(on_change).await
    }

    async fn prune_revocations(&self, now_unix: i64) -> Result<u64, StoreError> {
        writes::prune_revocations(&mut *self.pool.acquire().await?, now_unix).await
    }

    async fn introspection_credentials(
        &self,
        id: &TenantId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<IntrospectionCredential>, StoreError> {
        reads::introspection_credentials(&mut *self.pool.acquire().await?, id, after, limit).await
    }

    async fn create_introspection_credential(
        &self,
        credential: &IntrospectionCredential,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        writes::create_introspection_credential(&mut *tx, credential, actor).await?;
        self.commit(tx).await
    }

    async fn delete_introspection_credential(
        &self,
        id: &TenantId,
        client_id: &str,
        actor: &Actor,
    ) -> Result<IntrospectionCredential, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted =
            writes::delete_introspection_credential(&mut *tx, id, client_id, actor).await?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    async fn callers(&self, after: &str, limit: u32) -> Result<Vec<RegisteredCaller>, StoreError> {
        reads::callers(&mut *self.pool.acquire().await?, after, limit).await
    }

    async fn write_caller(
        &self,
        name: &str,
        write: CallerWrite<'_>,
        actor: &Actor,
    ) -> Result<RegisteredCaller, StoreError> {
        let mut tx = self.begin_write().await?;
        let written = writes::write_caller(&mut *tx, name, write, actor).await?;
        self.commit(tx).await?;
        Ok(written)
    }
}
