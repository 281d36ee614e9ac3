//! Tenants: the slug that names one and the token-verification settings it carries.

mod dpop;
mod resource;
mod settings;
mod verification;

use std::fmt;

use crate::scope::AdminStyle;

/// Where a tenant's verification keys come from (the token module's type).
pub use crate::token::KeySource;
/// Roles claims mapped to scopes (the token module's type).
pub use crate::token::{ClaimSource, ScopeClaims};
/// Upstream RFC 7662 introspection for opaque tokens (the token module's types).
pub use crate::token::{ClientSecret, UpstreamIntrospection, UpstreamTokens};

pub use dpop::{
    DEFAULT_DPOP_IAT_WINDOW_SECONDS, DpopSettings, MAX_DPOP_IAT_WINDOW_SECONDS,
    MAX_DPOP_REPLAY_CAPACITY,
};
pub use resource::{
    MAX_RESOURCES, METADATA_WELL_KNOWN, ProtectedResource, ResourceMetadata, check_resource_uri,
};
pub use settings::{
    DEFAULT_ALGORITHMS, DEFAULT_JWKS_REFRESH_SECONDS, KNOWN_ALGORITHMS, MAX_AUDIENCES,
    MAX_LEEWAY_SECONDS, MAX_URL_BYTES, SettingsError, TenantSettings, UpstreamSettings, new_tenant,
};

/// Longest tenant slug accepted.
pub const MAX_TENANT_ID_LEN: usize = 63;
/// Longest tenant display name accepted.
pub const MAX_DISPLAY_NAME_BYTES: usize = 200;

/// Checks a tenant display name against [`MAX_DISPLAY_NAME_BYTES`]; the message on failure.
pub fn check_display_name(name: &str) -> Result<(), String> {
    crate::scope::limits::check_len(name, MAX_DISPLAY_NAME_BYTES)
}

/// A tenant slug: 1..=63 of `[a-z0-9-]`, starting and ending with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Box<str>);

/// Why a string is not a tenant slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant id must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'")]
pub struct TenantIdError;

impl TenantId {
    /// Parses a tenant slug.
    pub fn parse(raw: &str) -> Result<Self, TenantIdError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_TENANT_ID_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.into()))
        } else {
            Err(TenantIdError)
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Default clock leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY_SECONDS: u32 = 60;

/// A tenant's settings, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    /// Exact match with a token's `iss`. Empty: tokens cannot be attributed by issuer.
    pub issuer: String,
    /// A token's `aud` must contain one of these.
    pub audiences: Vec<String>,
    pub key_source: KeySource,
    /// JWS `alg` values accepted (`none` never is).
    pub algorithms: Vec<String>,
    pub leeway_seconds: u32,
    /// Require `typ` = `at+jwt` (RFC 9068 §4).
    pub require_at_jwt_typ: bool,
    /// How long a fetched JWK set may be reused before a refresh, and the minimum gap between
    /// refreshes triggered by an unknown `kid`.
    pub jwks_refresh_seconds: u32,
    pub admin_style: AdminStyle,
    /// `ResolveScopes`: drop unknown names instead of answering `invalid_scope`.
    pub drop_unknown_scopes: bool,
    /// The resources its tokens are for (RFC 8707): each URI is also an accepted audience.
    pub resources: Vec<ProtectedResource>,
    /// Claims besides `scope`/`scp` whose values are the token's scopes (roles claims).
    pub scope_claims: ScopeClaims,
    /// How DPoP proofs (RFC 9449) of its DPoP-bound tokens are checked.
    pub dpop: DpopSettings,
    /// Where opaque tokens are introspected (RFC 7662), if anywhere.
    pub upstream: Option<UpstreamIntrospection>,
    /// The preset the tenant was created from.
    pub preset: String,
    /// Catalog revision: bumped by every write to the tenant.
    pub revision: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Tenant {
    /// JSON for the audit trail. Never includes inline key material: only whether an inline
    /// set is configured.
    pub fn audit_json(&self) -> String {
        let (key_kind, jwks_uri) = match &self.key_source {
            KeySource::None => ("none", ""),
            KeySource::Inline(_) => ("inline", ""),
            KeySource::Uri(uri) => ("uri", uri.as_str()),
        };
        serde_json::json!({
            "id": self.id.as_str(),
            "display_name": self.display_name,
            "issuer": self.issuer,
            "audiences": self.audiences,
            "key_source": key_kind,
            "jwks_uri": jwks_uri,
            "algorithms": self.algorithms,
            "leeway_seconds": self.leeway_seconds,
            "require_at_jwt_typ": self.require_at_jwt_typ,
            "jwks_refresh_seconds": self.jwks_refresh_seconds,
            "admin_style": self.admin_style.as_str(),
            "drop_unknown_scopes": self.drop_unknown_scopes,
            "resources": self.resources,
            "scope_claims": self.scope_claims,
            "dpop": self.dpop,
            // Serialized without its client secret.
            "upstream_introspection": self.upstream,
            "preset": self.preset,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_tenant_requires_at_jwt_typ() {
        let id = TenantId::parse("t").expect("slug");
        let tenant = new_tenant(id, "T".to_owned(), "oidc", AdminStyle::Colon, 0);
        assert!(
            tenant.require_at_jwt_typ,
            "RFC 9068 §4: strict unless relaxed"
        );
    }

    #[test]
    fn tenant_slugs_are_lowercase_kebab() {
        assert!(TenantId::parse("acme-corp").is_ok());
        assert!(TenantId::parse("a").is_ok());
        for bad in ["", "-a", "a-", "Acme", "a_b", "a b", &"a".repeat(64)] {
            assert_eq!(TenantId::parse(bad), Err(TenantIdError), "{bad:?}");
        }
    }
}
