//! The persistence port: one `Store` trait, a SQLite and a Postgres implementation picked from
//! the URL. Stores persist rows; the catalog rules live in `scope::edit` and run inside the
//! store's transaction so they always see the locked, current catalog.
//!
//! | file | owns |
//! |---|---|
//! | `store/sqlite.rs`, `store/postgres.rs` | opening the database, the `Store` impl: which transaction each operation runs in (`BEGIN IMMEDIATE` / `BEGIN`, read snapshots), the commit and its failure handling; the row lock and the change announcement (`NOTIFY`) |
//! | `store/queries.rs` | every SQL statement, once: both dialects run the same text |
//! | `store/reads.rs`, `store/writes.rs`, `store/catalog.rs` | what each operation does, written once over `store/dialect.rs`'s `Dialect` (a connection that runs a statement with its arguments) |
//! | `store/rows.rs` | row shapes and their conversion to the domain |
//! | `store/write_health.rs` | whether writes reach storage, and which pooled connections may serve again after they did not |

mod catalog;
mod dialect;
mod migrations;
mod postgres;
mod queries;
mod reads;
mod rows;
mod sqlite;
mod write_health;
mod writes;

use std::{fmt, sync::Arc};

use async_trait::async_trait;

use crate::{
    caller::{CallerKey, CallerTenants, RegisteredCaller, Surfaces},
    scope::{
        CatalogSnapshot,
        edit::{Edit, EditError},
    },
    tenant::{Tenant, TenantId},
};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use writes::MAX_KEYS_PER_CALLER;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant does not exist.
    #[error("tenant {0:?} not found")]
    TenantNotFound(String),
    /// A tenant with this id (or issuer) exists.
    #[error("{0}")]
    TenantConflict(String),
    /// A catalog rule refused the edit.
    #[error(transparent)]
    Rejected(#[from] EditError),
    /// The database cannot be reached or is overloaded; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database answers but cannot persist: disk full, a read-only or unwritable file, an
    /// I/O error. Retrying works once the storage does; nothing of the failed write remains.
    #[error("store cannot write: {0}")]
    Storage(String),
    /// The store cannot be opened as configured (bad URL, unreadable file).
    #[error("{0}")]
    Config(String),
    /// A bug or corrupt data; details are for the logs only.
    #[error("store internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether a failed write certainly left the store as it was: a refusal, not a failure
    /// whose outcome is unknown (a lost connection may hide a commit).
    pub fn changed_nothing(&self) -> bool {
        matches!(
            self,
            Self::TenantNotFound(_) | Self::TenantConflict(_) | Self::Rejected(_) | Self::Config(_)
        )
    }

    /// Whether the storage itself failed (see [`StoreError::Storage`]), as opposed to the
    /// request or the connection.
    pub fn is_storage(&self) -> bool {
        matches!(self, Self::Storage(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            // Connection-level failures (a protocol error is what a connection cut mid-handshake
            // looks like): retrying later may work.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err.to_string()),
            sqlx::Error::Database(db) => match classify(db.code().as_deref()) {
                Failure::Busy => Self::Unavailable(err.to_string()),
                Failure::Storage => Self::Storage(err.to_string()),
                Failure::Other => Self::Internal(err.to_string()),
            },
            _ => Self::Internal(err.to_string()),
        }
    }
}

/// How a database error code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Locked, overloaded or the connection is going away: retry.
    Busy,
    /// The storage cannot persist: retry once it is fixed.
    Storage,
    /// Anything else: a bug or a refused constraint.
    Other,
}

/// Classifies a SQLite result code (decimal; sqlx turns extended codes on, so the primary code
/// is the low byte) or a Postgres SQLSTATE (five characters, classified by class).
fn classify(code: Option<&str>) -> Failure {
    let Some(code) = code else {
        return Failure::Other;
    };
    if let Ok(sqlite) = code.parse::<u32>()
        && code.len() != 5
    {
        return match sqlite & 0xff {
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL (a WAL lock race)
            5 | 6 | 15 => Failure::Busy,
            // SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN (SQLITE_CORRUPT is
            // not here: bad data stays INTERNAL)
            8 | 10 | 13 | 14 => Failure::Storage,
            _ => Failure::Other,
        };
    }
    match code.get(..2) {
        // connection exception, operator intervention (admin shutdown, cannot connect now),
        // insufficient resources other than disk (memory, connections)
        Some("08") => Failure::Busy,
        Some("57") if code.starts_with("57P") => Failure::Busy,
        Some("53") if code != "53100" => Failure::Busy,
        // disk full, system error (I/O error), read-only transaction (a standby, or
        // default_transaction_read_only)
        Some("53" | "58") => Failure::Storage,
        _ if code == "25006" => Failure::Storage,
        _ => Failure::Other,
    }
}

/// Who made a change, as written to the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant and its catalog as committed.
#[derive(Debug, Clone)]
pub struct Committed {
    pub tenant: Tenant,
    pub catalog: CatalogSnapshot,
}

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub tenant: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON of the object before; empty for a creation.
    pub before: String,
    /// JSON of the object after; empty for a deletion.
    pub after: String,
    pub revision: i64,
}

/// What a revocation targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// Every token with this `jti`.
    Jti,
    /// Tokens of this client issued before `not_before`.
    Client,
    /// Tokens of this subject issued before `not_before`.
    Subject,
    /// One token without a `jti`, by the SHA-256 of its text (hex).
    Token,
}

impl RevocationKind {
    /// Stable storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Client => "client",
            Self::Subject => "subject",
            Self::Token => "token",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "jti" => Some(Self::Jti),
            "client" => Some(Self::Client),
            "subject" => Some(Self::Subject),
            "token" => Some(Self::Token),
            _ => None,
        }
    }
}

/// A persisted revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub value: String,
    /// For client/subject: tokens with `iat` before this (unix seconds) are revoked.
    pub not_before: i64,
    /// Unix seconds after which the row is useless (every token it matches has expired) and
    /// may be pruned.
    pub expires_at: i64,
}

/// What the tenant directory is built from.
#[derive(Debug)]
pub struct DirectoryRows {
    /// Every tenant's id and issuer (empty when it has none).
    pub tenants: Vec<(TenantId, String)>,
    /// Every introspection credential (its secret only as a hash).
    pub credentials: Vec<IntrospectionCredential>,
    /// Every registered caller with its keys (secrets only as hashes).
    pub callers: Vec<RegisteredCaller>,
}

/// A change to the caller registry ([`Store::write_caller`]).
#[derive(Debug, Clone, Copy)]
pub enum CallerWrite<'a> {
    /// Registers a new caller (no keys yet). A taken name: `EditError::AlreadyExists`.
    Create {
        tenants: &'a CallerTenants,
        surfaces: Surfaces,
    },
    /// Replaces an existing caller's limits.
    Update {
        tenants: &'a CallerTenants,
        surfaces: Surfaces,
    },
    /// Deletes a caller and its keys.
    Delete,
    /// Adds a key (at most [`MAX_KEYS_PER_CALLER`]).
    AddKey(&'a CallerKey),
    /// Deletes the key with this id.
    DeleteKey(&'a str),
}

/// A resource server's credential for RFC 7662 introspection over HTTP (Basic authentication),
/// as stored: the secret itself is never kept, only its SHA-256. `Debug` shows no digest.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionCredential {
    /// Generated by the server, unique across tenants: it names the credential's tenant.
    pub client_id: String,
    /// The only tenant whose tokens it may introspect.
    pub tenant: TenantId,
    /// What the admin called it.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    pub created_at_ms: i64,
}

impl fmt::Debug for IntrospectionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionCredential")
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A catalog rule run inside the store's write transaction against the locked catalog.
pub type Planner<'a> =
    &'a (dyn Fn(&Tenant, &CatalogSnapshot) -> Result<Edit, EditError> + Send + Sync);

/// A change of a tenant's settings, computed from the locked current row.
pub type TenantUpdate<'a> = &'a (dyn Fn(&Tenant) -> Result<Tenant, EditError> + Send + Sync);

/// What a committed write changed, as announced to every replica. What each change
/// invalidates is decided in one place, `TenantStates::apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The tenant's catalog or revocations changed.
    Catalog(TenantId),
    /// The tenant's settings (issuer, keys, audiences, policy) changed, or it was created or
    /// deleted.
    Settings(TenantId),
    /// The caller registry changed.
    Callers,
    /// Announcements may have been missed (the feed's connection was lost): anything may have
    /// changed.
    Missed,
}

impl Change {
    /// The notification payload: `c:<tenant>`, `s:<tenant>`, `k` or `*`.
    pub fn payload(&self) -> String {
        match self {
            Self::Callers => "k".to_owned(),
            Self::Catalog(id) => format!("c:{id}"),
            Self::Settings(id) => format!("s:{id}"),
            Self::Missed => "*".to_owned(),
        }
    }

    /// Reads a payload. Anything unreadable counts as [`Change::Missed`]: a replica that cannot
    /// tell what changed must assume everything did.
    pub fn parse(payload: &str) -> Self {
        if payload == "k" {
            return Self::Callers;
        }
        let parsed = payload.split_once(':').and_then(|(kind, id)| {
            let id = TenantId::parse(id).ok()?;
            match kind {
                "c" => Some(Self::Catalog(id)),
                "s" => Some(Self::Settings(id)),
                _ => None,
            }
        });
        parsed.unwrap_or(Self::Missed)
    }
}

/// What [`Store::first_run_admin_key`] found: the SHA-256 of the database's first-run admin key.
#[derive(Clone, PartialEq, Eq)]
pub enum FirstRunKey {
    /// The key offered was recorded now: this process generated it and must show it once.
    Created([u8; 32]),
    /// A key was recorded before (by an earlier start or another replica).
    Existing([u8; 32]),
}

impl fmt::Debug for FirstRunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created(_) => "FirstRunKey::Created(<redacted>)",
            Self::Existing(_) => "FirstRunKey::Existing(<redacted>)",
        })
    }
}

/// Receives change announcements; see [`Store::watch_changes`]. Called on the feed's task:
/// it must not block.
pub type ChangeHandler = Box<dyn Fn(Change) + Send + Sync>;

/// The persistence port. Every write is one transaction: the tenant row is locked, the
/// planner sees the current catalog, its changes and audit records are written, and the
/// tenant's revision is bumped by exactly one; on any error nothing is written.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Answers unless the last write failed for storage reasons (disk full, read-only, an
    /// I/O error) and a one-row write probe still fails: cheap while writes succeed, one
    /// committed probe per call while they do not.
    async fn check_writes(&self) -> Result<(), StoreError>;

    /// The admin key generated on the database's first start when none is configured: records
    /// `key_sha256` if no key was ever recorded (then `Created`), else returns the one that
    /// was (`Existing`). Concurrent first starts agree on one key: exactly one sees `Created`.
    async fn first_run_admin_key(&self, key_sha256: &[u8; 32]) -> Result<FirstRunKey, StoreError>;

    /// One tenant.
    async fn tenant(&self, id: &TenantId) -> Result<Tenant, StoreError>;

    /// The tenant whose issuer is exactly `issuer`, if any.
    async fn tenant_by_issuer(&self, issuer: &str) -> Result<Option<Tenant>, StoreError>;

    /// Tenants sorted by id, strictly after `after`.
    async fn list_tenants(&self, after: &str, limit: u32) -> Result<Vec<Tenant>, StoreError>;

    /// A tenant with its whole catalog, read in one snapshot.
    async fn catalog(&self, id: &TenantId) -> Result<Committed, StoreError>;

    /// A tenant, its whole catalog and its revocations unexpired at `now_unix`, read in one
    /// snapshot: what the hot path caches.
    async fn tenant_state(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<(Committed, Vec<Revocation>), StoreError>;

    /// Every tenant's id and issuer (empty when it has none), and every introspection
    /// credential: the routing table, read whole.
    async fn directory(&self) -> Result<DirectoryRows, StoreError>;

    /// Creates a tenant with the catalog `seed` (scope ids are assigned), at revision 1.
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        seed: &Edit,
        actor: &Actor,
    ) -> Result<Committed, StoreError>;

    /// Replaces a tenant's settings (not its catalog), bumping its revision.
    async fn update_tenant(
        &self,
        id: &TenantId,
        actor: &Actor,
        update: TenantUpdate<'_>,
    ) -> Result<Tenant, StoreError>;

    /// Deletes a tenant, its catalog and revocations; the audit trail is kept.
    async fn delete_tenant(&self, id: &TenantId, actor: &Actor) -> Result<Tenant, StoreError>;

    /// Applies the planner's edit in one transaction, with `settings` (if any) changing the
    /// tenant's settings in the same transaction; see the trait documentation. Nothing to
    /// change: nothing is written and the revision stays.
    async fn edit(
        &self,
        id: &TenantId,
        actor: &Actor,
        settings: Option<TenantUpdate<'_>>,
        plan: Planner<'_>,
    ) -> Result<(Committed, Edit), StoreError>;

    /// Audit events of a tenant, newest first, with ids below `before_id` (0: from the newest).
    async fn audit_events(
        &self,
        id: &TenantId,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// The platform's own audit events (the caller registry's), as [`Store::audit_events`].
    async fn platform_audit_events(
        &self,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Records a revocation (replacing one of the same kind and value) and bumps the revision.
    async fn revoke(
        &self,
        id: &TenantId,
        revocation: &Revocation,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Every unexpired revocation of a tenant.
    async fn revocations(
        &self,
        id: &TenantId,
        now_unix: i64,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Calls `on_change` with every change announced by any replica, and with
    /// [`Change::Missed`] when announcements may have been missed. Runs until the task is
    /// dropped; returns at once for stores without other replicas (SQLite).
    async fn watch_changes(&self, on_change: ChangeHandler) -> Result<(), StoreError>;

    /// Deletes revocations that expired before `now_unix`; returns how many.
    async fn prune_revocations(&self, now_unix: i64) -> Result<u64, StoreError>;

    /// A tenant's introspection credentials sorted by client id, strictly after `after`.
    async fn introspection_credentials(
        &self,
        id: &TenantId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<IntrospectionCredential>, StoreError>;

    /// Stores a new introspection credential of `credential.tenant`, audited (without its
    /// digest), bumping the tenant's revision. A taken client id: `EditError::AlreadyExists`.
    async fn create_introspection_credential(
        &self,
        credential: &IntrospectionCredential,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Deletes a tenant's introspection credential, audited, bumping the tenant's revision;
    /// returns it. None of that tenant with this id: `EditError::NotFound`.
    async fn delete_introspection_credential(
        &self,
        id: &TenantId,
        client_id: &str,
        actor: &Actor,
    ) -> Result<IntrospectionCredential, StoreError>;

    /// Registered callers sorted by name, strictly after `after`, with their keys.
    async fn callers(&self, after: &str, limit: u32) -> Result<Vec<RegisteredCaller>, StoreError>;

    /// Changes the caller registry in one transaction, audited as the platform's (tenant `""`)
    /// and announced ([`Change::Callers`]); returns the caller as written (as it was, for a
    /// deletion). An unknown caller or key: `EditError::NotFound`.
    async fn write_caller(
        &self,
        name: &str,
        write: CallerWrite<'_>,
        actor: &Actor,
    ) -> Result<RegisteredCaller, StoreError>;
}

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`) and applies migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, error::Error as StdError, fmt};

    use sqlx::{Connection as _, SqliteConnection, error::ErrorKind};

    use super::*;

    /// A database error with a chosen code, as a driver would report it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl fmt::Display for Coded {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "code {}", self.0)
        }
    }

    impl StdError for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn mapped(code: &'static str) -> StoreError {
        sqlx::Error::Database(Box::new(Coded(code))).into()
    }

    #[test]
    fn storage_failures_are_storage_errors_on_both_dialects() {
        for code in [
            "13",    // SQLITE_FULL
            "10",    // SQLITE_IOERR
            "778",   // SQLITE_IOERR_WRITE
            "4874",  // SQLITE_IOERR_SHMMAP
            "8",     // SQLITE_READONLY
            "1032",  // SQLITE_READONLY_DBMOVED
            "14",    // SQLITE_CANTOPEN
            "53100", // Postgres disk_full
            "58030", // Postgres io_error
            "25006", // Postgres read_only_sql_transaction
        ] {
            assert!(
                matches!(mapped(code), StoreError::Storage(_)),
                "{code}: {:?}",
                mapped(code)
            );
        }
    }

    #[test]
    fn busy_and_connection_failures_are_unavailable() {
        for code in ["5", "517", "773", "6", "262", "08006", "57P01", "53300"] {
            assert!(
                matches!(mapped(code), StoreError::Unavailable(_)),
                "{code}: {:?}",
                mapped(code)
            );
        }
    }

    #[test]
    fn constraint_violations_and_bad_data_stay_internal() {
        // SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CORRUPT, Postgres foreign_key_violation and
        // syntax_error: a bug, not a storage failure.
        for code in ["787", "11", "23503", "42601"] {
            assert!(
                matches!(mapped(code), StoreError::Internal(_)),
                "{code}: {:?}",
                mapped(code)
            );
        }
    }

    async fn memory() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (x BLOB)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }

    #[tokio::test]
    async fn a_full_sqlite_database_is_a_storage_error() {
        let mut conn = memory().await;
        sqlx::query("PRAGMA max_page_count = 4")
            .execute(&mut conn)
            .await
            .unwrap();

        let err = sqlx::query("INSERT INTO t VALUES (zeroblob(1000000))")
            .execute(&mut conn)
            .await
            .unwrap_err();

        assert!(matches!(StoreError::from(err), StoreError::Storage(_)));
    }

    #[tokio::test]
    async fn a_read_only_sqlite_database_is_a_storage_error() {
        let mut conn = memory().await;
        sqlx::query("PRAGMA query_only = ON")
            .execute(&mut conn)
            .await
            .unwrap();

        let err = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap_err();

        assert!(matches!(StoreError::from(err), StoreError::Storage(_)));
    }
}
