//! A tenant's catalog rows: read whole into a [`Committed`], and an edit's changes written.

use crate::{
    scope::{CatalogSnapshot, edit::Change},
    tenant::{Tenant, TenantId},
};

use super::{
    Committed, StoreError,
    dialect::Dialect,
    queries,
    rows::{ClientRow, OperationRow, ScopeRow, TenantRow, alternatives_to_json, names_to_json},
};

/// The tenant and its whole catalog; with `lock`, through the dialect's
/// [`Dialect::TENANT_FOR_WRITE`], as every write transaction starts.
pub(super) async fn load<C: Dialect>(
    conn: &mut C,
    id: &TenantId,
    lock: bool,
) -> Result<Committed, StoreError> {
    let sql = if lock {
        C::TENANT_FOR_WRITE
    } else {
        queries::TENANT_BY_ID
    };
    let row: Option<TenantRow> = conn.fetch_optional(sql, &[id.as_str().into()]).await?;
    let tenant: Tenant = row
        .ok_or_else(|| StoreError::TenantNotFound(id.to_string()))?
        .try_into()?;
    let key = [id.as_str().into()];
    let scopes: Vec<ScopeRow> = conn.fetch_all(queries::SCOPES, &key).await?;
    let clients: Vec<ClientRow> = conn.fetch_all(queries::CLIENTS, &key).await?;
    let operations: Vec<OperationRow> = conn.fetch_all(queries::OPERATIONS, &key).await?;
    let mut catalog = CatalogSnapshot {
        tenant: tenant.id.to_string(),
        revision: tenant.revision,
        admin_style: tenant.admin_style,
        drop_unknown_scopes: tenant.drop_unknown_scopes,
        scopes: scopes
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
        clients: clients
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
        operations: operations
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
    };
    // Byte order, the same on both dialects whatever the database collation.
    catalog.scopes.sort_by(|a, b| a.name.cmp(&b.name));
    catalog
        .clients
        .sort_by(|a, b| a.client_id.cmp(&b.client_id));
    catalog.operations.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Committed { tenant, catalog })
}

/// Writes the rows of an edit's changes, in order. A scope with id 0 is new: the database
/// assigns its id.
pub(super) async fn write_changes(
    conn: &mut impl Dialect,
    tenant: &str,
    changes: &[Change],
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            Change::PutScope(s) if s.id == 0 => {
                conn.execute(
                    queries::INSERT_SCOPE,
                    &[
                        tenant.into(),
                        s.name.as_str().into(),
                        (&s.description).into(),
                        s.is_default.into(),
                        s.is_system.into(),
                        s.is_reserved.into(),
                        names_to_json(&s.implies).into(),
                        s.created_at_ms.into(),
                        s.updated_at_ms.into(),
                        (&s.etag).into(),
                    ],
                )
                .await?;
            }
            Change::PutScope(s) => {
                conn.execute(
                    queries::UPDATE_SCOPE,
                    &[
                        tenant.into(),
                        s.id.into(),
                        (&s.description).into(),
                        s.is_default.into(),
                        names_to_json(&s.implies).into(),
                        s.updated_at_ms.into(),
                        (&s.etag).into(),
                    ],
                )
                .await?;
            }
            Change::DeleteScope(id) => {
                conn.execute(queries::DELETE_SCOPE, &[tenant.into(), (*id).into()])
                    .await?;
            }
            Change::PutClient(c) => {
                conn.execute(
                    queries::PUT_CLIENT,
                    &[
                        tenant.into(),
                        (&c.client_id).into(),
                        (&c.name).into(),
                        c.first_party.into(),
                        names_to_json(&c.allowed_scopes).into(),
                    ],
                )
                .await?;
            }
            Change::DeleteClient(client_id) => {
                conn.execute(queries::DELETE_CLIENT, &[tenant.into(), client_id.into()])
                    .await?;
            }
            Change::PutOperation(op) => {
                conn.execute(
                    queries::PUT_OPERATION,
                    &[
                        tenant.into(),
                        (&op.name).into(),
                        (&op.description).into(),
                        alternatives_to_json(&op.alternatives).into(),
                    ],
                )
                .await?;
            }
            Change::DeleteOperation(name) => {
                conn.execute(queries::DELETE_OPERATION, &[tenant.into(), name.into()])
                    .await?;
            }
        }
    }
    Ok(())
}
