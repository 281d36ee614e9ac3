//! Proto <-> domain conversions. Missing or malformed proto fields become INVALID_ARGUMENT
//! naming the field.

use prost_types::Timestamp;

use super::status::ApiError;

pub use settings::{apply_settings, settings};

mod settings;
use crate::{
    pb,
    scope::{Client, Operation, Scope, ScopeName, edit::ScopeKey},
    tenant::{KeySource, Tenant, TenantId},
};

/// Parses a required tenant id field.
pub fn tenant_id(raw: &str, field: &str) -> Result<TenantId, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    TenantId::parse(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// Parses one scope name field.
pub fn scope_name(raw: &str, field: &str) -> Result<ScopeName, ApiError> {
    ScopeName::parse(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// Parses a list of scope names, naming the bad element.
pub fn scope_names(raw: &[String], field: &str) -> Result<Vec<ScopeName>, ApiError> {
    raw.iter()
        .enumerate()
        .map(|(i, n)| scope_name(n, &format!("{field}[{i}]")))
        .collect()
}

/// Checks a client id that names an existing client (get, update, delete), so an oversized
/// one is refused as such instead of being looked up and quoted back.
pub fn client_id(raw: &str, field: &str) -> Result<(), ApiError> {
    crate::scope::edit::validate_client_id(raw).map_err(|e| match e {
        crate::scope::edit::EditError::Invalid { message, .. } => ApiError::invalid(field, message),
        other => ApiError::invalid(field, other.to_string()),
    })
}

/// Checks an operation name that names an existing operation (get, delete).
pub fn operation_name(raw: &str, field: &str) -> Result<(), ApiError> {
    if crate::scope::valid_operation_name(raw) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be 1-200 printable ASCII characters without leading or trailing space",
        ))
    }
}

/// Parses a required scope reference.
pub fn scope_key(raw: Option<&pb::ScopeRef>, field: &str) -> Result<ScopeKey, ApiError> {
    match raw.and_then(|r| r.r#ref.as_ref()) {
        Some(pb::scope_ref::Ref::Id(id)) => Ok(ScopeKey::Id(*id)),
        Some(pb::scope_ref::Ref::Name(name)) if !name.is_empty() => {
            let name = scope_name(name, &format!("{field}.name"))?;
            Ok(ScopeKey::Name(name.to_string()))
        }
        _ => Err(ApiError::invalid(field, "an id or a name is required")),
    }
}

/// A timestamp from unix milliseconds.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn strings(names: &[ScopeName]) -> Vec<String> {
    names.iter().map(ToString::to_string).collect()
}

/// A scope on the wire.
pub fn scope(tenant: &str, s: &Scope) -> pb::Scope {
    pb::Scope {
        id: s.id,
        tenant: tenant.to_owned(),
        name: s.name.to_string(),
        description: s.description.clone(),
        is_default: s.is_default,
        is_system: s.is_system,
        is_reserved: s.is_reserved,
        implies: strings(&s.implies),
        created_at: Some(timestamp(s.created_at_ms)),
        updated_at: Some(timestamp(s.updated_at_ms)),
        etag: s.etag.clone(),
    }
}

/// A client on the wire.
pub fn client(c: &Client) -> pb::Client {
    pb::Client {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        first_party: c.first_party,
        allowed_scopes: strings(&c.allowed_scopes),
    }
}

/// A client from the wire.
pub fn client_from(c: pb::Client) -> Result<Client, ApiError> {
    Ok(Client {
        allowed_scopes: scope_names(&c.allowed_scopes, "allowed_scopes")?,
        client_id: c.client_id,
        name: c.name,
        first_party: c.first_party,
    })
}

/// An operation on the wire.
pub fn operation(o: &Operation) -> pb::Operation {
    pb::Operation {
        name: o.name.clone(),
        description: o.description.clone(),
        alternatives: o
            .alternatives
            .iter()
            .map(|a| pb::Alternative { scopes: strings(a) })
            .collect(),
    }
}

/// An operation from the wire.
pub fn operation_from(o: pb::Operation) -> Result<Operation, ApiError> {
    let alternatives = o
        .alternatives
        .iter()
        .enumerate()
        .map(|(i, a)| scope_names(&a.scopes, &format!("alternatives[{i}].scopes")))
        .collect::<Result<_, _>>()?;
    Ok(Operation {
        name: o.name,
        description: o.description,
        alternatives,
    })
}

/// A tenant on the wire; inline key material is never included.
pub fn tenant(t: &Tenant) -> pb::Tenant {
    let (read, write) = t.admin_style.admin_pair();
    pb::Tenant {
        id: t.id.to_string(),
        display_name: t.display_name.clone(),
        issuer: t.issuer.clone(),
        audiences: t.audiences.clone(),
        jwks_uri: match &t.key_source {
            KeySource::Uri(uri) => uri.clone(),
            _ => String::new(),
        },
        has_inline_jwks: matches!(t.key_source, KeySource::Inline(_)),
        algorithms: t.algorithms.clone(),
        leeway_seconds: t.leeway_seconds,
        require_at_jwt_typ: t.require_at_jwt_typ,
        jwks_refresh_seconds: t.jwks_refresh_seconds,
        drop_unknown_scopes: t.drop_unknown_scopes,
        preset: t.preset.clone(),
        reserved_scopes: vec![read.to_owned(), write.to_owned()],
        catalog_revision: t.revision,
        created_at: Some(timestamp(t.created_at_ms)),
        updated_at: Some(timestamp(t.updated_at_ms)),
        resources: t.resources.iter().map(settings::resource_to_wire).collect(),
        scope_claims: Some(settings::scope_claims_to_wire(&t.scope_claims)),
        dpop: Some(settings::dpop_to_wire(&t.dpop)),
        upstream_introspection: t.upstream.as_ref().map(settings::upstream_to_wire),
    }
}

/// Page size from a request: default 50, capped at 500.
pub fn page_size(page: Option<&pb::PageRequest>) -> usize {
    match page.map_or(0, |p| p.page_size) {
        0 => 50,
        n => usize::try_from(n.min(500)).unwrap_or(500),
    }
}

/// The page token of a request (the last key of the previous page, hex-encoded).
pub fn page_after(page: Option<&pb::PageRequest>) -> Result<String, ApiError> {
    let token = page.map(|p| p.page_token.as_str()).unwrap_or_default();
    let bytes = hex::decode(token)
        .map_err(|_| ApiError::invalid("page.page_token", "is not a token this server issued"))?;
    String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("page.page_token", "is not a token this server issued"))
}

/// The token for the page after the one ending at `last`.
pub fn page_token(last: &str) -> String {
    hex::encode(last)
}

/// Pages a sorted list by key: the items after `after`, at most `size`, and the next token.
pub fn paginate<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &str,
    after: &str,
    size: usize,
) -> (Vec<&'a T>, String) {
    let start = if after.is_empty() {
        0
    } else {
        items.partition_point(|i| key(i) <= after)
    };
    let page: Vec<&T> = items[start..].iter().take(size).collect();
    let more = start + page.len() < items.len();
    let next = match (more, page.last()) {
        (true, Some(last)) => page_token(key(last)),
        _ => String::new(),
    };
    (page, next)
}
