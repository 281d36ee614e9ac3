//! The store's plain reads, written once for both dialects over a [`Dialect`] connection: one
//! statement each, on a pooled connection or inside a snapshot transaction.

use std::collections::HashMap;

use crate::{
    caller::{CallerKey, RegisteredCaller},
    tenant::{Tenant, TenantId},
};

use super::{
    AuditEvent, DirectoryRows, IntrospectionCredential, Revocation, StoreError,
    dialect::Dialect,
    queries,
    rows::{
        AuditRow, CallerKeyRow, CallerRow, DirectoryRow, IntrospectionCredentialRow, RevocationRow,
        TenantRow,
    },
};

pub(super) async fn ping(conn: &mut impl Dialect) -> Result<(), StoreError> {
    conn.execute(queries::PING, &[]).await?;
    Ok(())
}

pub(super) async fn tenant(conn: &mut impl Dialect, id: &TenantId) -> Result<Tenant, StoreError> {
    let row: Option<TenantRow> = conn
        .fetch_optional(queries::TENANT_BY_ID, &[id.as_str().into()])
        .await?;
    row.ok_or_else(|| StoreError::TenantNotFound(id.to_string()))?
        .try_into()
}

pub(super) async fn tenant_by_issuer(
    conn: &mut impl Dialect,
    issuer: &str,
) -> Result<Option<Tenant>, StoreError> {
    if issuer.is_empty() {
        return Ok(None);
    }
    let row: Option<TenantRow> = conn
        .fetch_optional(queries::TENANT_BY_ISSUER, &[issuer.into()])
        .await?;
    row.map(TryInto::try_into).transpose()
}

pub(super) async fn list_tenants(
    conn: &mut impl Dialect,
    after: &str,
    limit: u32,
) -> Result<Vec<Tenant>, StoreError> {
    let rows: Vec<TenantRow> = conn
        .fetch_all(
            queries::TENANTS_AFTER,
            &[after.into(), i64::from(limit).into()],
        )
        .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(super) async fn directory(conn: &mut impl Dialect) -> Result<DirectoryRows, StoreError> {
    let rows: Vec<DirectoryRow> = conn.fetch_all(queries::DIRECTORY, &[]).await?;
    let tenants = rows
        .into_iter()
        .map(|DirectoryRow { id, issuer }| {
            TenantId::parse(&id)
                .map(|id| (id, issuer))
                .map_err(|e| StoreError::Internal(format!("stored tenant id {id:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let rows: Vec<IntrospectionCredentialRow> = conn
        .fetch_all(queries::ALL_INTROSPECTION_CREDENTIALS, &[])
        .await?;
    let credentials = rows
        .into_iter()
        .map(TryInto::try_into)
        .collect::<Result<_, _>>()?;
    Ok(DirectoryRows {
        tenants,
        credentials,
        callers: all_callers(conn).await?,
    })
}

/// Every registered caller with its keys.
async fn all_callers(conn: &mut impl Dialect) -> Result<Vec<RegisteredCaller>, StoreError> {
    let callers: Vec<CallerRow> = conn.fetch_all(queries::ALL_CALLERS, &[]).await?;
    let keys: Vec<CallerKeyRow> = conn.fetch_all(queries::ALL_CALLER_KEYS, &[]).await?;
    with_keys(callers, keys)
}

/// Registered callers sorted by name, strictly after `after`, with their keys: two queries
/// whatever the page's size.
pub(super) async fn callers(
    conn: &mut impl Dialect,
    after: &str,
    limit: u32,
) -> Result<Vec<RegisteredCaller>, StoreError> {
    let callers: Vec<CallerRow> = conn
        .fetch_all(
            queries::CALLERS_AFTER,
            &[after.into(), i64::from(limit).into()],
        )
        .await?;
    let Some(last) = callers.last().map(|c| c.name.clone()) else {
        return Ok(Vec::new());
    };
    let keys: Vec<CallerKeyRow> = conn
        .fetch_all(queries::CALLER_KEYS_BETWEEN, &[after.into(), last.into()])
        .await?;
    with_keys(callers, keys)
}

/// `callers`, in their order, each with its keys from `keys` sorted by id.
fn with_keys(
    callers: Vec<CallerRow>,
    keys: Vec<CallerKeyRow>,
) -> Result<Vec<RegisteredCaller>, StoreError> {
    let mut by_caller: HashMap<String, Vec<CallerKey>> = HashMap::new();
    for row in keys {
        let caller = row.caller.clone();
        by_caller.entry(caller).or_default().push(row.try_into()?);
    }
    callers
        .into_iter()
        .map(|row| {
            let mut own = by_caller.remove(&row.name).unwrap_or_default();
            own.sort_by(|a, b| a.key_id.cmp(&b.key_id));
            row.with_keys(own)
        })
        .collect()
}

/// The keys of caller `name`, sorted by id.
pub(super) async fn caller_keys(
    conn: &mut impl Dialect,
    name: &str,
) -> Result<Vec<CallerKey>, StoreError> {
    let rows: Vec<CallerKeyRow> = conn
        .fetch_all(queries::CALLER_KEYS_OF, &[name.into()])
        .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Audit events of tenant `id` (`None`: the platform's own, such as the caller registry's).
pub(super) async fn audit_events(
    conn: &mut impl Dialect,
    id: Option<&TenantId>,
    before_id: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let before_id = if before_id <= 0 { i64::MAX } else { before_id };
    let rows: Vec<AuditRow> = conn
        .fetch_all(
            queries::AUDIT_EVENTS,
            &[
                id.map_or("", TenantId::as_str).into(),
                before_id.into(),
                i64::from(limit).into(),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn live_revocations(
    conn: &mut impl Dialect,
    id: &TenantId,
    now_unix: i64,
) -> Result<Vec<Revocation>, StoreError> {
    let rows: Vec<RevocationRow> = conn
        .fetch_all(
            queries::LIVE_REVOCATIONS,
            &[id.as_str().into(), now_unix.into()],
        )
        .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(super) async fn introspection_credential(
    conn: &mut impl Dialect,
    client_id: &str,
) -> Result<Option<IntrospectionCredential>, StoreError> {
    let row: Option<IntrospectionCredentialRow> = conn
        .fetch_optional(queries::INTROSPECTION_CREDENTIAL, &[client_id.into()])
        .await?;
    row.map(TryInto::try_into).transpose()
}

pub(super) async fn introspection_credentials(
    conn: &mut impl Dialect,
    id: &TenantId,
    after: &str,
    limit: u32,
) -> Result<Vec<IntrospectionCredential>, StoreError> {
    let rows: Vec<IntrospectionCredentialRow> = conn
        .fetch_all(
            queries::INTROSPECTION_CREDENTIALS_AFTER,
            &[id.as_str().into(), after.into(), i64::from(limit).into()],
        )
        .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}
