//! The store's writes, written once for both dialects over a [`Dialect`] connection. The
//! dialect's `Store` implementation opens the write transaction and commits it; an error here
//! leaves it to roll back. A write to an existing tenant first reads it through
//! [`Dialect::TENANT_FOR_WRITE`], so writes to one tenant serialize; every change of a tenant
//! bumps its revision by exactly one and writes its audit records in the same transaction.

use crate::{
    caller::RegisteredCaller,
    scope::edit::{AuditRecord, Edit, EditError},
    tenant::{Tenant, TenantId},
};

use super::{
    Actor, CallerWrite, Change, Committed, FirstRunKey, IntrospectionCredential, Planner,
    Revocation, StoreError, TenantUpdate,
    catalog::{load, write_changes},
    dialect::Dialect,
    now_ms, queries, reads,
    rows::{
        CallerRow, FirstRunKeyRow, TenantRow, dpop_to_json, key_source_columns, resources_to_json,
        scope_claims_to_json, strings_to_json, upstream_columns,
    },
};

/// Writes the probe row; the caller commits it.
pub(super) async fn probe_write(conn: &mut impl Dialect) -> Result<(), StoreError> {
    conn.execute(queries::PROBE_WRITE, &[now_ms().into()])
        .await?;
    Ok(())
}

/// Records `key_sha256` as the first-run admin key unless one is recorded already; see
/// [`Store::first_run_admin_key`](super::Store::first_run_admin_key).
pub(super) async fn first_run_admin_key(
    conn: &mut impl Dialect,
    key_sha256: &[u8; 32],
) -> Result<FirstRunKey, StoreError> {
    let inserted = conn
        .execute(
            queries::INSERT_FIRST_RUN_ADMIN_KEY,
            &[hex::encode(key_sha256).into(), now_ms().into()],
        )
        .await?;
    let row: Option<FirstRunKeyRow> = conn
        .fetch_optional(queries::FIRST_RUN_ADMIN_KEY, &[])
        .await?;
    let row =
        row.ok_or_else(|| StoreError::Internal("the first-run admin key is missing".into()))?;
    let mut stored = [0; 32];
    hex::decode_to_slice(&row.key_sha256, &mut stored)
        .map_err(|e| StoreError::Internal(format!("corrupt first-run admin key row: {e}")))?;
    Ok(if inserted == 1 {
        FirstRunKey::Created(stored)
    } else {
        FirstRunKey::Existing(stored)
    })
}

/// Deletes the revocations that expired before `now_unix`: no tenant's state changes, so it
/// runs on its own, outside a write transaction.
pub(super) async fn prune_revocations(
    conn: &mut impl Dialect,
    now_unix: i64,
) -> Result<u64, StoreError> {
    Ok(conn
        .execute(queries::PRUNE_REVOCATIONS, &[now_unix.into()])
        .await?)
}

/// See [`Store::create_tenant`](super::Store::create_tenant).
pub(super) async fn create_tenant(
    conn: &mut impl Dialect,
    tenant: &Tenant,
    seed: &Edit,
    actor: &Actor,
) -> Result<Committed, StoreError> {
    let mut tenant = tenant.clone();
    tenant.revision = 1;
    write_tenant(conn, &tenant, Write::Insert).await?;
    let record = AuditRecord {
        action: "tenant.create",
        target: tenant.id.to_string(),
        before: String::new(),
        after: tenant.audit_json(),
    };
    audit(conn, tenant.id.as_str(), 1, actor, &record).await?;
    apply(conn, tenant.id.as_str(), 1, seed, actor).await?;
    bump(conn, &tenant.id, 1).await?;
    // New settings too: replicas must drop what they cached about its issuer.
    conn.announce(&Change::Settings(tenant.id.clone())).await?;
    load(conn, &tenant.id, false).await
}

/// See [`Store::update_tenant`](super::Store::update_tenant).
pub(super) async fn update_tenant(
    conn: &mut impl Dialect,
    id: &TenantId,
    actor: &Actor,
    update: TenantUpdate<'_>,
) -> Result<Tenant, StoreError> {
    let current = load(conn, id, true).await?.tenant;
    let next = update(&current)?;
    let revision = current.revision + 1;
    let next = write_settings(conn, &current, next, revision, actor).await?;
    bump(conn, id, revision).await?;
    Ok(next)
}

/// See [`Store::delete_tenant`](super::Store::delete_tenant).
pub(super) async fn delete_tenant(
    conn: &mut impl Dialect,
    id: &TenantId,
    actor: &Actor,
) -> Result<Tenant, StoreError> {
    let current = load(conn, id, true).await?.tenant;
    for sql in queries::DELETE_TENANT {
        conn.execute(sql, &[id.as_str().into()]).await?;
    }
    let record = AuditRecord {
        action: "tenant.delete",
        target: id.to_string(),
        before: current.audit_json(),
        after: String::new(),
    };
    audit(conn, id.as_str(), current.revision + 1, actor, &record).await?;
    conn.announce(&Change::Settings(id.clone())).await?;
    Ok(current)
}

/// What [`edit`] did.
#[derive(Debug)]
pub(super) struct Edited {
    pub committed: Committed,
    pub edit: Edit,
    /// Whether anything was written; when not, the caller rolls back and the revision stays.
    pub wrote: bool,
}

/// See [`Store::edit`](super::Store::edit).
pub(super) async fn edit(
    conn: &mut impl Dialect,
    id: &TenantId,
    actor: &Actor,
    settings: Option<TenantUpdate<'_>>,
    plan: Planner<'_>,
) -> Result<Edited, StoreError> {
    let current = load(conn, id, true).await?;
    let edit = plan(&current.tenant, &current.catalog)?;
    let next_tenant = match settings {
        Some(update) => Some(update(&current.tenant)?).filter(|t| *t != current.tenant),
        None => None,
    };
    if edit.changes.is_empty() && next_tenant.is_none() {
        return Ok(Edited {
            committed: current,
            edit,
            wrote: false,
        });
    }
    let revision = current.tenant.revision + 1;
    if let Some(next) = next_tenant {
        write_settings(conn, &current.tenant, next, revision, actor).await?;
    }
    apply(conn, id.as_str(), revision, &edit, actor).await?;
    bump(conn, id, revision).await?;
    let committed = load(conn, id, false).await?;
    Ok(Edited {
        committed,
        edit,
        wrote: true,
    })
}

/// See [`Store::revoke`](super::Store::revoke).
pub(super) async fn revoke(
    conn: &mut impl Dialect,
    id: &TenantId,
    revocation: &Revocation,
    actor: &Actor,
) -> Result<(), StoreError> {
    let current = load(conn, id, true).await?.tenant;
    conn.execute(
        queries::PUT_REVOCATION,
        &[
            id.as_str().into(),
            revocation.kind.as_str().into(),
            (&revocation.value).into(),
            revocation.not_before.into(),
            revocation.expires_at.into(),
            now_ms().into(),
        ],
    )
    .await?;
    let revision = current.revision + 1;
    let record = AuditRecord {
        action: "token.revoke",
        target: format!("{}:{}", revocation.kind.as_str(), revocation.value),
        before: String::new(),
        after: serde_json::json!({ "not_before": revocation.not_before }).to_string(),
    };
    audit(conn, id.as_str(), revision, actor, &record).await?;
    bump(conn, id, revision).await
}

/// See [`Store::create_introspection_credential`](super::Store::create_introspection_credential).
pub(super) async fn create_introspection_credential<C: Dialect>(
    conn: &mut C,
    credential: &IntrospectionCredential,
    actor: &Actor,
) -> Result<(), StoreError> {
    let current = lock_tenant(conn, &credential.tenant).await?;
    let inserted = conn
        .execute(
            queries::INSERT_INTROSPECTION_CREDENTIAL,
            &[
                (&credential.client_id).into(),
                credential.tenant.as_str().into(),
                (&credential.name).into(),
                hex::encode(credential.secret_sha256).into(),
                credential.created_at_ms.into(),
            ],
        )
        .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(EditError::AlreadyExists {
                kind: "introspection credential",
                name: credential.client_id.clone(),
            }
            .into());
        }
        Err(err) => return Err(err.into()),
    }
    let revision = current.revision + 1;
    let record = AuditRecord {
        action: "introspection_credential.create",
        target: credential.client_id.clone(),
        before: String::new(),
        after: credential_audit_json(credential),
    };
    audit(conn, credential.tenant.as_str(), revision, actor, &record).await?;
    bump(conn, &credential.tenant, revision).await?;
    // The directory routes credentials: replicas must reload it.
    conn.announce(&Change::Settings(credential.tenant.clone()))
        .await?;
    Ok(())
}

/// See [`Store::delete_introspection_credential`](super::Store::delete_introspection_credential).
pub(super) async fn delete_introspection_credential<C: Dialect>(
    conn: &mut C,
    id: &TenantId,
    client_id: &str,
    actor: &Actor,
) -> Result<IntrospectionCredential, StoreError> {
    let current = lock_tenant(conn, id).await?;
    let not_found = || EditError::NotFound {
        kind: "introspection credential",
        name: client_id.to_owned(),
    };
    let credential = reads::introspection_credential(conn, client_id)
        .await?
        .filter(|c| c.tenant == *id)
        .ok_or_else(not_found)?;
    conn.execute(
        queries::DELETE_INTROSPECTION_CREDENTIAL,
        &[id.as_str().into(), client_id.into()],
    )
    .await?;
    let revision = current.revision + 1;
    let record = AuditRecord {
        action: "introspection_credential.delete",
        target: credential.client_id.clone(),
        before: credential_audit_json(&credential),
        after: String::new(),
    };
    audit(conn, id.as_str(), revision, actor, &record).await?;
    bump(conn, id, revision).await?;
    // The directory routes credentials: replicas must reload it at once.
    conn.announce(&Change::Settings(id.clone())).await?;
    Ok(credential)
}

/// What the audit trail keeps of a credential: never its digest.
fn credential_audit_json(credential: &IntrospectionCredential) -> String {
    serde_json::json!({ "client_id": credential.client_id, "name": credential.name }).to_string()
}

/// Reads the tenant row the way every write starts (see [`Dialect::TENANT_FOR_WRITE`]),
/// without its catalog.
async fn lock_tenant<C: Dialect>(conn: &mut C, id: &TenantId) -> Result<Tenant, StoreError> {
    let row: Option<TenantRow> = conn
        .fetch_optional(C::TENANT_FOR_WRITE, &[id.as_str().into()])
        .await?;
    row.ok_or_else(|| StoreError::TenantNotFound(id.to_string()))?
        .try_into()
}

/// Writes the edit's changes and its audit records.
async fn apply(
    conn: &mut impl Dialect,
    tenant: &str,
    revision: i64,
    edit: &Edit,
    actor: &Actor,
) -> Result<(), StoreError> {
    write_changes(conn, tenant, &edit.changes).await?;
    for record in &edit.audit {
        audit(conn, tenant, revision, actor, record).await?;
    }
    Ok(())
}

async fn audit(
    conn: &mut impl Dialect,
    tenant: &str,
    revision: i64,
    actor: &Actor,
    record: &AuditRecord,
) -> Result<(), StoreError> {
    conn.execute(
        queries::INSERT_AUDIT,
        &[
            tenant.into(),
            now_ms().into(),
            (&actor.0).into(),
            record.action.into(),
            (&record.target).into(),
            (&record.before).into(),
            (&record.after).into(),
            revision.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Sets the tenant's revision and tells other replicas, inside the transaction.
async fn bump(conn: &mut impl Dialect, tenant: &TenantId, revision: i64) -> Result<(), StoreError> {
    conn.execute(
        queries::SET_REVISION,
        &[tenant.as_str().into(), revision.into()],
    )
    .await?;
    conn.announce(&Change::Catalog(tenant.clone())).await?;
    Ok(())
}

/// Stores `next` as the tenant's settings at `revision`, audited and announced.
async fn write_settings(
    conn: &mut impl Dialect,
    current: &Tenant,
    mut next: Tenant,
    revision: i64,
    actor: &Actor,
) -> Result<Tenant, StoreError> {
    next.id = current.id.clone();
    next.revision = revision;
    next.created_at_ms = current.created_at_ms;
    next.updated_at_ms = now_ms();
    write_tenant(conn, &next, Write::Update).await?;
    let record = AuditRecord {
        action: "tenant.update",
        target: current.id.to_string(),
        before: current.audit_json(),
        after: next.audit_json(),
    };
    audit(conn, current.id.as_str(), revision, actor, &record).await?;
    conn.announce(&Change::Settings(current.id.clone())).await?;
    Ok(next)
}

/// Whether [`write_tenant`] creates the row or replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Insert,
    Update,
}

async fn write_tenant(conn: &mut impl Dialect, t: &Tenant, write: Write) -> Result<(), StoreError> {
    let sql = match write {
        Write::Insert => queries::INSERT_TENANT,
        Write::Update => queries::UPDATE_TENANT,
    };
    let (key_kind, key_value) = key_source_columns(&t.key_source);
    let (upstream, upstream_secret) = upstream_columns(t.upstream.as_ref());
    let args = [
        t.id.as_str().into(),
        (&t.display_name).into(),
        (&t.issuer).into(),
        strings_to_json(&t.audiences).into(),
        key_kind.into(),
        key_value.into(),
        strings_to_json(&t.algorithms).into(),
        i64::from(t.leeway_seconds).into(),
        t.require_at_jwt_typ.into(),
        i64::from(t.jwks_refresh_seconds).into(),
        t.admin_style.as_str().into(),
        t.drop_unknown_scopes.into(),
        (&t.preset).into(),
        t.revision.into(),
        t.created_at_ms.into(),
        t.updated_at_ms.into(),
        resources_to_json(&t.resources).into(),
        scope_claims_to_json(&t.scope_claims).into(),
        dpop_to_json(&t.dpop).into(),
        upstream.into(),
        upstream_secret.into(),
    ];
    match conn.execute(sql, &args).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            Err(StoreError::TenantConflict(conflict(t, write)))
        }
        Err(err) => Err(err.into()),
    }
}

/// Why writing `t` broke a uniqueness rule: its id or its issuer is taken.
fn conflict(t: &Tenant, write: Write) -> String {
    match (write, t.issuer.is_empty()) {
        (Write::Insert, true) => format!("a tenant with id {:?} already exists", t.id.as_str()),
        (Write::Insert, false) => format!(
            "a tenant with id {:?} or issuer {:?} already exists",
            t.id.as_str(),
            t.issuer
        ),
        (Write::Update, _) => format!("another tenant already has issuer {:?}", t.issuer),
    }
}

/// Most keys one caller may hold (two are enough to rotate).
pub const MAX_KEYS_PER_CALLER: usize = 10;

/// See [`Store::write_caller`](super::Store::write_caller).
pub(super) async fn write_caller<C: Dialect>(
    conn: &mut C,
    name: &str,
    write: CallerWrite<'_>,
    actor: &Actor,
) -> Result<RegisteredCaller, StoreError> {
    let now = now_ms();
    let not_found = || EditError::NotFound {
        kind: "caller",
        name: name.to_owned(),
    };
    let current: Option<CallerRow> = conn
        .fetch_optional(C::CALLER_FOR_WRITE, &[name.into()])
        .await?;
    let before = match current {
        Some(row) => {
            let keys = reads::caller_keys(conn, name).await?;
            Some(row.with_keys(keys)?)
        }
        None => None,
    };
    let (action, after, answer) = match (&write, before.clone()) {
        (CallerWrite::Create { tenants, surfaces }, None) => {
            conn.execute(
                queries::INSERT_CALLER,
                &[
                    name.into(),
                    tenants.to_stored().into(),
                    surfaces.to_string().into(),
                    now.into(),
                ],
            )
            .await?;
            let created = RegisteredCaller {
                name: name.to_owned(),
                tenants: (*tenants).clone(),
                surfaces: *surfaces,
                keys: Vec::new(),
                created_at_ms: now,
                updated_at_ms: now,
            };
            ("caller.create", Some(created.clone()), created)
        }
        (CallerWrite::Create { .. }, Some(_)) => {
            return Err(EditError::AlreadyExists {
                kind: "caller",
                name: name.to_owned(),
            }
            .into());
        }
        (_, None) => return Err(not_found().into()),
        (CallerWrite::Update { tenants, surfaces }, Some(mut caller)) => {
            conn.execute(
                queries::UPDATE_CALLER,
                &[
                    name.into(),
                    tenants.to_stored().into(),
                    surfaces.to_string().into(),
                    now.into(),
                ],
            )
            .await?;
            caller.tenants = (*tenants).clone();
            caller.surfaces = *surfaces;
            caller.updated_at_ms = now;
            ("caller.update", Some(caller.clone()), caller)
        }
        (CallerWrite::Delete, Some(caller)) => {
            conn.execute(queries::DELETE_CALLER_KEYS, &[name.into()])
                .await?;
            conn.execute(queries::DELETE_CALLER, &[name.into()]).await?;
            ("caller.delete", None, caller)
        }
        (CallerWrite::AddKey(key), Some(mut caller)) => {
            if caller.keys.len() >= MAX_KEYS_PER_CALLER {
                return Err(EditError::Invalid {
                    field: "add_key".to_owned(),
                    message: format!(
                        "a caller holds at most {MAX_KEYS_PER_CALLER} keys: delete one first"
                    ),
                }
                .into());
            }
            let inserted = conn
                .execute(
                    queries::INSERT_CALLER_KEY,
                    &[
                        (&key.key_id).into(),
                        name.into(),
                        hex::encode(key.secret_sha256).into(),
                        key.created_at_ms.into(),
                    ],
                )
                .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    return Err(EditError::AlreadyExists {
                        kind: "caller key",
                        name: key.key_id.clone(),
                    }
                    .into());
                }
                Err(err) => return Err(err.into()),
            }
            conn.execute(queries::TOUCH_CALLER, &[name.into(), now.into()])
                .await?;
            caller.keys.push((*key).clone());
            caller.keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
            caller.updated_at_ms = now;
            ("caller.add_key", Some(caller.clone()), caller)
        }
        (CallerWrite::DeleteKey(key_id), Some(mut caller)) => {
            let deleted = conn
                .execute(queries::DELETE_CALLER_KEY, &[name.into(), (*key_id).into()])
                .await?;
            if deleted == 0 {
                return Err(EditError::NotFound {
                    kind: "caller key",
                    name: (*key_id).to_owned(),
                }
                .into());
            }
            conn.execute(queries::TOUCH_CALLER, &[name.into(), now.into()])
                .await?;
            caller.keys.retain(|k| k.key_id != *key_id);
            caller.updated_at_ms = now;
            ("caller.delete_key", Some(caller.clone()), caller)
        }
    };
    let record = AuditRecord {
        action,
        target: name.to_owned(),
        before: before.as_ref().map(caller_audit_json).unwrap_or_default(),
        after: after.as_ref().map(caller_audit_json).unwrap_or_default(),
    };
    // Callers belong to no tenant: their audit records are the platform's (tenant "").
    audit(conn, "", 0, actor, &record).await?;
    // The directory authenticates callers: replicas must reload it at once.
    conn.announce(&Change::Callers).await?;
    Ok(answer)
}

/// What the audit trail keeps of a caller: its limits and key ids, never a digest.
fn caller_audit_json(caller: &RegisteredCaller) -> String {
    serde_json::json!({
        "name": caller.name,
        "tenants": caller.tenants.to_stored(),
        "surfaces": caller.surfaces.to_string(),
        "keys": caller.keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
    })
    .to_string()
}
