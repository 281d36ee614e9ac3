//! The admin messages in the proto3 JSON mapping, by hand (the prost types do not derive
//! serde): lowerCamelCase names, int64 as strings, RFC 3339 timestamps, every field present.

use prost_types::Timestamp;
use serde_json::{Value, json};

use crate::pb::{
    self, manage_client_response::Result as ClientResult,
    manage_operation_response::Result as OpResult, manage_scope_response::Result as ScopeResult,
    manage_tenant_response::Result as TenantResult,
};

fn int64(n: i64) -> Value {
    Value::String(n.to_string())
}

fn timestamp(t: Option<&Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

/// A `Scope`.
pub fn scope(s: &pb::Scope) -> Value {
    json!({
        "id": int64(s.id),
        "tenant": s.tenant,
        "name": s.name,
        "description": s.description,
        "isDefault": s.is_default,
        "isSystem": s.is_system,
        "isReserved": s.is_reserved,
        "implies": s.implies,
        "createdAt": timestamp(s.created_at.as_ref()),
        "updatedAt": timestamp(s.updated_at.as_ref()),
        "etag": s.etag,
    })
}

/// A `ManageScopeResponse`.
pub fn scope_response(r: &pb::ManageScopeResponse) -> Value {
    let mut value = json!({ "catalogRevision": int64(r.catalog_revision) });
    let (key, result) = match &r.result {
        Some(ScopeResult::Scopes(page)) => (
            "scopes",
            json!({
                "scopes": page.scopes.iter().map(scope).collect::<Vec<_>>(),
                "nextPageToken": page.next_page_token,
            }),
        ),
        Some(ScopeResult::Scope(s)) => ("scope", scope(s)),
        Some(ScopeResult::Deleted(d)) => (
            "deleted",
            json!({
                "scope": d.scope.as_ref().map_or(Value::Null, scope),
                "dryRun": d.dry_run,
                "clients": d.clients,
                "operations": d.operations,
                "impliedBy": d.implied_by,
            }),
        ),
        None => return value,
    };
    value[key] = result;
    value
}

/// A `Tenant` (inline key material is never part of it).
pub fn tenant(t: &pb::Tenant) -> Value {
    json!({
        "id": t.id,
        "displayName": t.display_name,
        "issuer": t.issuer,
        "audiences": t.audiences,
        "jwksUri": t.jwks_uri,
        "hasInlineJwks": t.has_inline_jwks,
        "algorithms": t.algorithms,
        "leewaySeconds": t.leeway_seconds,
        "requireAtJwtTyp": t.require_at_jwt_typ,
        "jwksRefreshSeconds": t.jwks_refresh_seconds,
        "dropUnknownScopes": t.drop_unknown_scopes,
        "preset": t.preset,
        "reservedScopes": t.reserved_scopes,
        "catalogRevision": int64(t.catalog_revision),
        "createdAt": timestamp(t.created_at.as_ref()),
        "updatedAt": timestamp(t.updated_at.as_ref()),
    })
}

/// A `ManageTenantResponse`.
pub fn tenant_response(r: &pb::ManageTenantResponse) -> Value {
    match &r.result {
        Some(TenantResult::Tenants(page)) => json!({
            "tenants": {
                "tenants": page.tenants.iter().map(tenant).collect::<Vec<_>>(),
                "nextPageToken": page.next_page_token,
            }
        }),
        Some(TenantResult::Tenant(t)) => json!({ "tenant": tenant(t) }),
        Some(TenantResult::Deleted(t)) => json!({ "deleted": tenant(t) }),
        None => json!({}),
    }
}

/// A `Client`.
pub fn client(c: &pb::Client) -> Value {
    json!({
        "clientId": c.client_id,
        "name": c.name,
        "firstParty": c.first_party,
        "allowedScopes": c.allowed_scopes,
    })
}

/// A `ManageClientResponse`.
pub fn client_response(r: &pb::ManageClientResponse) -> Value {
    let mut value = json!({ "catalogRevision": int64(r.catalog_revision) });
    let (key, result) = match &r.result {
        Some(ClientResult::Clients(page)) => (
            "clients",
            json!({
                "clients": page.clients.iter().map(client).collect::<Vec<_>>(),
                "nextPageToken": page.next_page_token,
            }),
        ),
        Some(ClientResult::Client(c)) => ("client", client(c)),
        Some(ClientResult::Deleted(c)) => ("deleted", client(c)),
        None => return value,
    };
    value[key] = result;
    value
}

/// An `Operation`.
pub fn operation(o: &pb::Operation) -> Value {
    let alternatives: Vec<_> = o
        .alternatives
        .iter()
        .map(|a| json!({ "scopes": a.scopes }))
        .collect();
    json!({
        "name": o.name,
        "description": o.description,
        "alternatives": alternatives,
    })
}

/// A `ManageOperationResponse`.
pub fn operation_response(r: &pb::ManageOperationResponse) -> Value {
    let mut value = json!({ "catalogRevision": int64(r.catalog_revision) });
    let (key, result) = match &r.result {
        Some(OpResult::Operations(page)) => (
            "operations",
            json!({
                "operations": page.operations.iter().map(operation).collect::<Vec<_>>(),
                "nextPageToken": page.next_page_token,
            }),
        ),
        Some(OpResult::Operation(o)) => ("operation", operation(o)),
        Some(OpResult::Deleted(o)) => ("deleted", operation(o)),
        None => return value,
    };
    value[key] = result;
    value
}

/// An `ExportCatalogResponse`.
pub fn export_response(r: &pb::ExportCatalogResponse) -> Value {
    json!({ "content": r.content, "catalogRevision": int64(r.catalog_revision) })
}

/// An `ImportCatalogResponse`.
pub fn import_response(r: &pb::ImportCatalogResponse) -> Value {
    json!({
        "changes": r.changes,
        "catalogRevision": int64(r.catalog_revision),
        "dryRun": r.dry_run,
    })
}

/// A `ListAuditEventsResponse`.
pub fn audit_response(r: &pb::ListAuditEventsResponse) -> Value {
    let events: Vec<_> = r
        .events
        .iter()
        .map(|e| {
            json!({
                "id": int64(e.id),
                "at": timestamp(e.at.as_ref()),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "before": e.before,
                "after": e.after,
                "revision": int64(e.revision),
            })
        })
        .collect();
    json!({ "events": events, "nextPageToken": r.next_page_token })
}
