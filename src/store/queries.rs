//! Every SQL statement of the store, written once: plain runtime SQL with `$n` placeholders,
//! which SQLite accepts too. What differs between the dialects (the transaction start, the
//! row lock, the change notification) lives with each dialect, in `sqlite.rs` and
//! `postgres.rs`.

/// The tenant columns, in `TenantRow` order. A literal so that `concat!` can build the
/// statements below from it.
macro_rules! tenant_select {
    () => {
        "SELECT id, display_name, issuer, audiences, key_kind, key_value, algorithms, \
         leeway_seconds, require_at_jwt_typ, jwks_refresh_seconds, admin_style, \
         drop_unknown_scopes, resources, scope_claims, dpop, upstream_introspection, \
         upstream_client_secret, preset, revision, created_at_ms, updated_at_ms FROM tenants"
    };
}

pub(super) const TENANT_BY_ID: &str = concat!(tenant_select!(), " WHERE id = $1");
/// [`TENANT_BY_ID`] locking the row until the transaction ends (Postgres; SQLite's
/// `BEGIN IMMEDIATE` already holds the database's write lock).
pub(super) const TENANT_BY_ID_FOR_UPDATE: &str =
    concat!(tenant_select!(), " WHERE id = $1 FOR UPDATE");
pub(super) const TENANT_BY_ISSUER: &str = concat!(tenant_select!(), " WHERE issuer = $1");
pub(super) const TENANTS_AFTER: &str =
    concat!(tenant_select!(), " WHERE id > $1 ORDER BY id LIMIT $2");
pub(super) const DIRECTORY: &str = "SELECT id, issuer FROM tenants";

pub(super) const INSERT_TENANT: &str = "INSERT INTO tenants (id, display_name, issuer, \
    audiences, key_kind, key_value, algorithms, leeway_seconds, require_at_jwt_typ, \
    jwks_refresh_seconds, admin_style, drop_unknown_scopes, preset, revision, created_at_ms, \
    updated_at_ms, resources, scope_claims, dpop, upstream_introspection, \
    upstream_client_secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
    $15, $16, $17, $18, $19, $20, $21)";
/// Takes the same parameters as [`INSERT_TENANT`].
pub(super) const UPDATE_TENANT: &str = "UPDATE tenants SET display_name = $2, issuer = $3, \
    audiences = $4, key_kind = $5, key_value = $6, algorithms = $7, leeway_seconds = $8, \
    require_at_jwt_typ = $9, jwks_refresh_seconds = $10, admin_style = $11, \
    drop_unknown_scopes = $12, preset = $13, revision = $14, created_at_ms = $15, \
    updated_at_ms = $16, resources = $17, scope_claims = $18, dpop = $19, \
    upstream_introspection = $20, upstream_client_secret = $21 WHERE id = $1";
pub(super) const SET_REVISION: &str = "UPDATE tenants SET revision = $2 WHERE id = $1";

/// A tenant's rows, children first: SQLite enforces `ON DELETE CASCADE` only with foreign
/// keys on, and being explicit keeps both dialects identical.
pub(super) const DELETE_TENANT: [&str; 6] = [
    "DELETE FROM scopes WHERE tenant_id = $1",
    "DELETE FROM introspection_credentials WHERE tenant_id = $1",
    "DELETE FROM clients WHERE tenant_id = $1",
    "DELETE FROM operations WHERE tenant_id = $1",
    "DELETE FROM revocations WHERE tenant_id = $1",
    "DELETE FROM tenants WHERE id = $1",
];

pub(super) const SCOPES: &str = "SELECT id, name, description, is_default, is_system, \
    is_reserved, implies, created_at_ms, updated_at_ms, etag FROM scopes WHERE tenant_id = $1";
pub(super) const INSERT_SCOPE: &str = "INSERT INTO scopes (tenant_id, name, description, \
    is_default, is_system, is_reserved, implies, created_at_ms, updated_at_ms, etag) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(super) const UPDATE_SCOPE: &str = "UPDATE scopes SET description = $3, is_default = $4, \
    implies = $5, updated_at_ms = $6, etag = $7 WHERE tenant_id = $1 AND id = $2";
pub(super) const DELETE_SCOPE: &str = "DELETE FROM scopes WHERE tenant_id = $1 AND id = $2";

pub(super) const CLIENTS: &str =
    "SELECT client_id, name, first_party, allowed_scopes FROM clients WHERE tenant_id = $1";
pub(super) const PUT_CLIENT: &str = "INSERT INTO clients (tenant_id, client_id, name, \
    first_party, allowed_scopes) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (tenant_id, client_id) DO UPDATE SET name = excluded.name, \
    first_party = excluded.first_party, allowed_scopes = excluded.allowed_scopes";
pub(super) const DELETE_CLIENT: &str =
    "DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2";

pub(super) const OPERATIONS: &str =
    "SELECT name, description, alternatives FROM operations WHERE tenant_id = $1";
pub(super) const PUT_OPERATION: &str = "INSERT INTO operations (tenant_id, name, description, \
    alternatives) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) DO UPDATE SET \
    description = excluded.description, alternatives = excluded.alternatives";
pub(super) const DELETE_OPERATION: &str =
    "DELETE FROM operations WHERE tenant_id = $1 AND name = $2";

pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit_events (tenant_id, at_ms, actor, \
    action, target, before_json, after_json, revision) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(super) const AUDIT_EVENTS: &str = "SELECT id, tenant_id, at_ms, actor, action, target, \
    before_json, after_json, revision FROM audit_events WHERE tenant_id = $1 AND id < $2 \
    ORDER BY id DESC LIMIT $3";

pub(super) const LIVE_REVOCATIONS: &str = "SELECT kind, value, not_before, expires_at \
    FROM revocations WHERE tenant_id = $1 AND expires_at >= $2";
pub(super) const PUT_REVOCATION: &str = "INSERT INTO revocations (tenant_id, kind, value, \
    not_before, expires_at, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (tenant_id, kind, value) DO UPDATE SET not_before = excluded.not_before, \
    expires_at = excluded.expires_at, created_at_ms = excluded.created_at_ms";
pub(super) const PRUNE_REVOCATIONS: &str = "DELETE FROM revocations WHERE expires_at < $1";

/// Every introspection credential: the directory routes Basic credentials without a query.
pub(super) const ALL_INTROSPECTION_CREDENTIALS: &str = "SELECT client_id, tenant_id, name, \
    secret_sha256, created_at_ms FROM introspection_credentials";
pub(super) const INTROSPECTION_CREDENTIAL: &str = "SELECT client_id, tenant_id, name, \
    secret_sha256, created_at_ms FROM introspection_credentials WHERE client_id = $1";
pub(super) const INTROSPECTION_CREDENTIALS_AFTER: &str = "SELECT client_id, tenant_id, name, \
    secret_sha256, created_at_ms FROM introspection_credentials \
    WHERE tenant_id = $1 AND client_id > $2 ORDER BY client_id LIMIT $3";
pub(super) const INSERT_INTROSPECTION_CREDENTIAL: &str = "INSERT INTO \
    introspection_credentials (client_id, tenant_id, name, secret_sha256, created_at_ms) \
    VALUES ($1, $2, $3, $4, $5)";
pub(super) const DELETE_INTROSPECTION_CREDENTIAL: &str =
    "DELETE FROM introspection_credentials WHERE tenant_id = $1 AND client_id = $2";

pub(super) const PING: &str = "SELECT 1";
/// The one-row write `check_writes` commits to learn whether the storage takes writes again.
pub(super) const PROBE_WRITE: &str = "INSERT INTO write_probe (id, at_ms) VALUES (1, $1) \
    ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms";

/// Records the first-run admin key unless one was recorded before (no error either way).
pub(super) const INSERT_FIRST_RUN_ADMIN_KEY: &str = "INSERT INTO first_run_admin_key \
    (id, key_sha256, created_at_ms) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING";
pub(super) const FIRST_RUN_ADMIN_KEY: &str =
    "SELECT key_sha256 FROM first_run_admin_key WHERE id = 1";

/// Every registered caller and every caller key: the directory authenticates callers without a
/// query.
pub(super) const ALL_CALLERS: &str =
    "SELECT name, tenants, surfaces, created_at_ms, updated_at_ms FROM callers";
pub(super) const ALL_CALLER_KEYS: &str =
    "SELECT key_id, caller, secret_sha256, created_at_ms FROM caller_keys";
pub(super) const CALLERS_AFTER: &str = "SELECT name, tenants, surfaces, created_at_ms, \
    updated_at_ms FROM callers WHERE name > $1 ORDER BY name LIMIT $2";
/// The keys of the callers named in `($1, $2]`: one page of [`CALLERS_AFTER`].
pub(super) const CALLER_KEYS_BETWEEN: &str = "SELECT key_id, caller, secret_sha256, \
    created_at_ms FROM caller_keys WHERE caller > $1 AND caller <= $2";
pub(super) const CALLER_KEYS_OF: &str = "SELECT key_id, caller, secret_sha256, created_at_ms \
    FROM caller_keys WHERE caller = $1 ORDER BY key_id";
pub(super) const INSERT_CALLER: &str = "INSERT INTO callers (name, tenants, surfaces, \
    created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $4)";
pub(super) const UPDATE_CALLER: &str =
    "UPDATE callers SET tenants = $2, surfaces = $3, updated_at_ms = $4 WHERE name = $1";
pub(super) const TOUCH_CALLER: &str = "UPDATE callers SET updated_at_ms = $2 WHERE name = $1";
pub(super) const DELETE_CALLER: &str = "DELETE FROM callers WHERE name = $1";
pub(super) const DELETE_CALLER_KEYS: &str = "DELETE FROM caller_keys WHERE caller = $1";
pub(super) const INSERT_CALLER_KEY: &str = "INSERT INTO caller_keys (key_id, caller, \
    secret_sha256, created_at_ms) VALUES ($1, $2, $3, $4)";
pub(super) const DELETE_CALLER_KEY: &str =
    "DELETE FROM caller_keys WHERE caller = $1 AND key_id = $2";
pub(super) const CALLER_BY_NAME: &str = "SELECT name, tenants, surfaces, created_at_ms, \
    updated_at_ms FROM callers WHERE name = $1";
/// [`CALLER_BY_NAME`] locking the row until the transaction ends (Postgres).
pub(super) const CALLER_BY_NAME_FOR_UPDATE: &str = "SELECT name, tenants, surfaces, \
    created_at_ms, updated_at_ms FROM callers WHERE name = $1 FOR UPDATE";
