//! Row shapes shared by both dialects and their conversion to the domain. Lists are JSON
//! arrays in TEXT columns.

use crate::{
    caller::{CallerKey, CallerTenants, RegisteredCaller, Surfaces},
    scope::{AdminStyle, Client, Operation, Scope, ScopeName},
    tenant::{ClientSecret, KeySource, Tenant, TenantId, UpstreamIntrospection},
};

use super::{
    AuditEvent, IntrospectionCredential, Revocation, RevocationKind, StoreError,
    dialect::{Columns, Record},
};

/// Not `Debug`: it holds the upstream client secret.
pub(super) struct TenantRow {
    pub id: String,
    pub display_name: String,
    pub issuer: String,
    pub audiences: String,
    pub key_kind: String,
    pub key_value: String,
    pub algorithms: String,
    pub leeway_seconds: i64,
    pub require_at_jwt_typ: bool,
    pub jwks_refresh_seconds: i64,
    pub admin_style: String,
    pub drop_unknown_scopes: bool,
    /// JSON array of protected resources.
    pub resources: String,
    /// JSON object: roles claims mapped to scopes.
    pub scope_claims: String,
    /// JSON object: the DPoP proof policy.
    pub dpop: String,
    /// JSON object of the upstream introspection configuration (without its secret), or ''.
    pub upstream_introspection: String,
    /// The upstream client secret, as given.
    pub upstream_client_secret: String,
    pub preset: String,
    pub revision: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug)]
pub(super) struct ScopeRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub is_system: bool,
    pub is_reserved: bool,
    pub implies: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub etag: String,
}

#[derive(Debug)]
pub(super) struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub first_party: bool,
    pub allowed_scopes: String,
}

#[derive(Debug)]
pub(super) struct OperationRow {
    pub name: String,
    pub description: String,
    pub alternatives: String,
}

#[derive(Debug)]
pub(super) struct AuditRow {
    pub id: i64,
    pub tenant_id: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before_json: String,
    pub after_json: String,
    pub revision: i64,
}

#[derive(Debug)]
pub(super) struct RevocationRow {
    pub kind: String,
    pub value: String,
    pub not_before: i64,
    pub expires_at: i64,
}

#[derive(Debug)]
pub(super) struct IntrospectionCredentialRow {
    pub client_id: String,
    pub tenant_id: String,
    pub name: String,
    pub secret_sha256: String,
    pub created_at_ms: i64,
}

/// The first-run admin key's hash (hex).
#[derive(Debug)]
pub(super) struct FirstRunKeyRow {
    pub key_sha256: String,
}

/// One entry of the tenant directory: a tenant and its issuer.
#[derive(Debug)]
pub(super) struct DirectoryRow {
    pub id: String,
    pub issuer: String,
}

impl TryFrom<IntrospectionCredentialRow> for IntrospectionCredential {
    type Error = StoreError;

    fn try_from(row: IntrospectionCredentialRow) -> Result<Self, StoreError> {
        let mut secret_sha256 = [0; 32];
        hex::decode_to_slice(&row.secret_sha256, &mut secret_sha256)
            .map_err(|e| corrupt("introspection credential", e))?;
        Ok(Self {
            tenant: TenantId::parse(&row.tenant_id)
                .map_err(|e| corrupt("introspection credential", e))?,
            client_id: row.client_id,
            name: row.name,
            secret_sha256,
            created_at_ms: row.created_at_ms,
        })
    }
}

// Each row read by column name, as the statements of `queries.rs` name them.

impl Record for TenantRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            display_name: row.text("display_name")?,
            issuer: row.text("issuer")?,
            audiences: row.text("audiences")?,
            key_kind: row.text("key_kind")?,
            key_value: row.text("key_value")?,
            algorithms: row.text("algorithms")?,
            leeway_seconds: row.int("leeway_seconds")?,
            require_at_jwt_typ: row.flag("require_at_jwt_typ")?,
            jwks_refresh_seconds: row.int("jwks_refresh_seconds")?,
            admin_style: row.text("admin_style")?,
            drop_unknown_scopes: row.flag("drop_unknown_scopes")?,
            resources: row.text("resources")?,
            scope_claims: row.text("scope_claims")?,
            dpop: row.text("dpop")?,
            upstream_introspection: row.text("upstream_introspection")?,
            upstream_client_secret: row.text("upstream_client_secret")?,
            preset: row.text("preset")?,
            revision: row.int("revision")?,
            created_at_ms: row.int("created_at_ms")?,
            updated_at_ms: row.int("updated_at_ms")?,
        })
    }
}

impl Record for ScopeRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.int("id")?,
            name: row.text("name")?,
            description: row.text("description")?,
            is_default: row.flag("is_default")?,
            is_system: row.flag("is_system")?,
            is_reserved: row.flag("is_reserved")?,
            implies: row.text("implies")?,
            created_at_ms: row.int("created_at_ms")?,
            updated_at_ms: row.int("updated_at_ms")?,
            etag: row.text("etag")?,
        })
    }
}

impl Record for ClientRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            client_id: row.text("client_id")?,
            name: row.text("name")?,
            first_party: row.flag("first_party")?,
            allowed_scopes: row.text("allowed_scopes")?,
        })
    }
}

impl Record for OperationRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.text("name")?,
            description: row.text("description")?,
            alternatives: row.text("alternatives")?,
        })
    }
}

impl Record for AuditRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.int("id")?,
            tenant_id: row.text("tenant_id")?,
            at_ms: row.int("at_ms")?,
            actor: row.text("actor")?,
            action: row.text("action")?,
            target: row.text("target")?,
            before_json: row.text("before_json")?,
            after_json: row.text("after_json")?,
            revision: row.int("revision")?,
        })
    }
}

impl Record for RevocationRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            kind: row.text("kind")?,
            value: row.text("value")?,
            not_before: row.int("not_before")?,
            expires_at: row.int("expires_at")?,
        })
    }
}

impl Record for IntrospectionCredentialRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            client_id: row.text("client_id")?,
            tenant_id: row.text("tenant_id")?,
            name: row.text("name")?,
            secret_sha256: row.text("secret_sha256")?,
            created_at_ms: row.int("created_at_ms")?,
        })
    }
}

impl Record for FirstRunKeyRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key_sha256: row.text("key_sha256")?,
        })
    }
}

impl Record for DirectoryRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.text("id")?,
            issuer: row.text("issuer")?,
        })
    }
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt {what} row: {err}"))
}

fn names_from_json(raw: &str, what: &str) -> Result<Vec<ScopeName>, StoreError> {
    let list: Vec<String> = serde_json::from_str(raw).map_err(|e| corrupt(what, e))?;
    list.iter()
        .map(|n| ScopeName::parse(n).map_err(|e| corrupt(what, e)))
        .collect()
}

/// JSON text of a list of names.
pub(super) fn names_to_json(names: &[ScopeName]) -> String {
    let list: Vec<&str> = names.iter().map(ScopeName::as_str).collect();
    serde_json::Value::from(list).to_string()
}

/// JSON text of a list of strings.
pub(super) fn strings_to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

/// JSON text of a tenant's protected resources (plain strings: serializing cannot fail).
pub(super) fn resources_to_json(resources: &[crate::tenant::ProtectedResource]) -> String {
    serde_json::to_value(resources)
        .unwrap_or_default()
        .to_string()
}

/// JSON text of a tenant's scope claims mapping (plain strings: serializing cannot fail).
pub(super) fn scope_claims_to_json(scope_claims: &crate::tenant::ScopeClaims) -> String {
    serde_json::to_value(scope_claims)
        .unwrap_or_default()
        .to_string()
}

/// JSON text of a tenant's DPoP settings (plain strings and numbers: serializing cannot fail).
pub(super) fn dpop_to_json(dpop: &crate::tenant::DpopSettings) -> String {
    serde_json::to_value(dpop).unwrap_or_default().to_string()
}

/// The two columns of a tenant's upstream introspection: its configuration as JSON (which
/// cannot carry the secret) and the secret; both empty when not configured.
pub(super) fn upstream_columns(upstream: Option<&UpstreamIntrospection>) -> (String, String) {
    match upstream {
        None => (String::new(), String::new()),
        Some(config) => (
            serde_json::to_value(config).unwrap_or_default().to_string(),
            config.client_secret.expose().to_owned(),
        ),
    }
}

fn upstream_from_columns(
    json: &str,
    secret: String,
) -> Result<Option<UpstreamIntrospection>, serde_json::Error> {
    if json.is_empty() {
        return Ok(None);
    }
    let mut config: UpstreamIntrospection = serde_json::from_str(json)?;
    config.client_secret = ClientSecret::new(secret);
    Ok(Some(config))
}

/// JSON text of an operation's alternatives.
pub(super) fn alternatives_to_json(alternatives: &[Vec<ScopeName>]) -> String {
    let list: Vec<Vec<&str>> = alternatives
        .iter()
        .map(|a| a.iter().map(ScopeName::as_str).collect())
        .collect();
    serde_json::to_value(list).unwrap_or_default().to_string()
}

/// The storage columns (kind, value) of a key source.
pub(super) fn key_source_columns(source: &KeySource) -> (&'static str, &str) {
    match source {
        KeySource::None => ("none", ""),
        KeySource::Inline(jwks) => ("inline", jwks),
        KeySource::Uri(uri) => ("uri", uri),
    }
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(row: TenantRow) -> Result<Self, StoreError> {
        let key_source = match row.key_kind.as_str() {
            "none" => KeySource::None,
            "inline" => KeySource::Inline(row.key_value),
            "uri" => KeySource::Uri(row.key_value),
            other => return Err(corrupt("tenant", format!("key kind {other:?}"))),
        };
        Ok(Tenant {
            id: TenantId::parse(&row.id).map_err(|e| corrupt("tenant", e))?,
            display_name: row.display_name,
            issuer: row.issuer,
            audiences: serde_json::from_str(&row.audiences).map_err(|e| corrupt("tenant", e))?,
            key_source,
            algorithms: serde_json::from_str(&row.algorithms).map_err(|e| corrupt("tenant", e))?,
            leeway_seconds: u32::try_from(row.leeway_seconds).map_err(|e| corrupt("tenant", e))?,
            require_at_jwt_typ: row.require_at_jwt_typ,
            jwks_refresh_seconds: u32::try_from(row.jwks_refresh_seconds)
                .map_err(|e| corrupt("tenant", e))?,
            admin_style: AdminStyle::parse(&row.admin_style)
                .ok_or_else(|| corrupt("tenant", "admin style"))?,
            drop_unknown_scopes: row.drop_unknown_scopes,
            resources: serde_json::from_str(&row.resources).map_err(|e| corrupt("tenant", e))?,
            scope_claims: serde_json::from_str(&row.scope_claims)
                .map_err(|e| corrupt("tenant", e))?,
            dpop: serde_json::from_str(&row.dpop).map_err(|e| corrupt("tenant", e))?,
            upstream: upstream_from_columns(
                &row.upstream_introspection,
                row.upstream_client_secret,
            )
            .map_err(|e| corrupt("tenant", e))?,
            preset: row.preset,
            revision: row.revision,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

impl TryFrom<ScopeRow> for Scope {
    type Error = StoreError;

    fn try_from(row: ScopeRow) -> Result<Self, StoreError> {
        Ok(Scope {
            id: row.id,
            name: ScopeName::parse(&row.name).map_err(|e| corrupt("scope", e))?,
            description: row.description,
            is_default: row.is_default,
            is_system: row.is_system,
            is_reserved: row.is_reserved,
            implies: names_from_json(&row.implies, "scope")?,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
            etag: row.etag,
        })
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            client_id: row.client_id,
            name: row.name,
            first_party: row.first_party,
            allowed_scopes: names_from_json(&row.allowed_scopes, "client")?,
        })
    }
}

impl TryFrom<OperationRow> for Operation {
    type Error = StoreError;

    fn try_from(row: OperationRow) -> Result<Self, StoreError> {
        let raw: Vec<Vec<String>> =
            serde_json::from_str(&row.alternatives).map_err(|e| corrupt("operation", e))?;
        let alternatives = raw
            .iter()
            .map(|alt| {
                alt.iter()
                    .map(|n| ScopeName::parse(n).map_err(|e| corrupt("operation", e)))
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        Ok(Operation {
            name: row.name,
            description: row.description,
            alternatives,
        })
    }
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            id: row.id,
            tenant: row.tenant_id,
            at_ms: row.at_ms,
            actor: row.actor,
            action: row.action,
            target: row.target,
            before: row.before_json,
            after: row.after_json,
            revision: row.revision,
        }
    }
}

impl TryFrom<RevocationRow> for Revocation {
    type Error = StoreError;

    fn try_from(row: RevocationRow) -> Result<Self, StoreError> {
        Ok(Revocation {
            kind: RevocationKind::parse(&row.kind)
                .ok_or_else(|| corrupt("revocation", &row.kind))?,
            value: row.value,
            not_before: row.not_before,
            expires_at: row.expires_at,
        })
    }
}

/// A registered caller, without its keys.
#[derive(Debug)]
pub(super) struct CallerRow {
    pub name: String,
    pub tenants: String,
    pub surfaces: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One caller key (its secret only as a hex digest). Not `Debug`: it holds the digest.
pub(super) struct CallerKeyRow {
    pub key_id: String,
    pub caller: String,
    pub secret_sha256: String,
    pub created_at_ms: i64,
}

impl Record for CallerRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.text("name")?,
            tenants: row.text("tenants")?,
            surfaces: row.text("surfaces")?,
            created_at_ms: row.int("created_at_ms")?,
            updated_at_ms: row.int("updated_at_ms")?,
        })
    }
}

impl Record for CallerKeyRow {
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key_id: row.text("key_id")?,
            caller: row.text("caller")?,
            secret_sha256: row.text("secret_sha256")?,
            created_at_ms: row.int("created_at_ms")?,
        })
    }
}

impl CallerRow {
    /// The caller with `keys` (already its own).
    pub(super) fn with_keys(self, keys: Vec<CallerKey>) -> Result<RegisteredCaller, StoreError> {
        let tenants = CallerTenants::from_stored(&self.tenants)
            .map_err(|id| corrupt("caller", format!("tenant id {id:?}")))?;
        let surfaces = Surfaces::parse(&self.surfaces)
            .map_err(|name| corrupt("caller", format!("surface {name:?}")))?;
        Ok(RegisteredCaller {
            name: self.name,
            tenants,
            surfaces,
            keys,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl TryFrom<CallerKeyRow> for CallerKey {
    type Error = StoreError;

    fn try_from(row: CallerKeyRow) -> Result<Self, StoreError> {
        let mut secret_sha256 = [0; 32];
        hex::decode_to_slice(&row.secret_sha256, &mut secret_sha256)
            .map_err(|e| corrupt("caller key", e))?;
        Ok(Self {
            key_id: row.key_id,
            secret_sha256,
            created_at_ms: row.created_at_ms,
        })
    }
}
