//! The embedded default: SQLite in WAL mode, created on first run.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Connection as _, Sqlite, SqliteConnection, Transaction,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
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
                Box::pin(async move {
                    Ok(trusted && super::write_health::reusable(conn.is_in_transaction()))
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database: {e}")))?;
        super::migrations::sqlite()
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
    /// Starts a write transaction; a storage failure here is remembered for readiness.
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a read-then-write transaction never
    /// fails to upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let begun = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Into::into);
        self.writes.record(&begun);
        begun
    }

    /// Commits a write transaction. When the COMMIT fails, sqlx queues a ROLLBACK on the
    /// connection as the transaction drops; if that fails too (SQLite has already rolled back
    /// after an I/O error, disk full or `RAISE(ROLLBACK)`, while sqlx still counts the
    /// transaction open), the pool's `before_acquire` check closes the connection instead of
    /// handing it out again. The outcome is remembered for readiness.
    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        let committed = tx.commit().await.map_err(Into::into);
        if let Err(err) = &committed {
            tracing::warn!(%err, "commit failed; the transaction is rolled back");
        }
        self.writes.record(&committed);
        committed
    }

    /// Starts a read-only transaction whose statements all see one snapshot: a deferred
    /// `BEGIN` reads one WAL snapshot from its first statement on.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN").await?)
    }
}

impl Dialect for SqliteConnection {
    // `BEGIN IMMEDIATE` already holds the database's write lock.
    const TENANT_FOR_WRITE: &'static str = queries::TENANT_BY_ID;
    const CALLER_FOR_WRITE: &'static str = queries::CALLER_BY_NAME;

    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let arguments = arguments::<Sqlite>(args)?;
        let done = sqlx::query_with(sql, arguments).execute(self).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, sqlx::Error> {
        let arguments = arguments::<Sqlite>(args)?;
        let rows = sqlx::query_with(sql, arguments).fetch_all(self).await?;
        rows.iter().map(T::read).collect()
    }

    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>, sqlx::Error> {
        let arguments = arguments::<Sqlite>(args)?;
        let row = sqlx::query_with(sql, arguments)
            .fetch_optional(self)
            .await?;
        row.as_ref().map(T::read).transpose()
    }

    /// One process owns a SQLite file: there are no other replicas to tell.
    async fn announce(&mut self, _change: &Change) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
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

    /// One process owns a SQLite file: there are no other replicas to hear from.
    async fn watch_changes(&self, _on_change: ChangeHandler) -> Result<(), StoreError> {
        Ok(())
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
