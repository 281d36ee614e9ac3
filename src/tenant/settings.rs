//! A tenant's token settings as a patch: what the admin API's `TenantSettings` and a catalog
//! file's `[tenant]` table carry. Unset fields leave the tenant as it is; every rule is checked
//! here, once, for both.

use serde::{Deserialize, Serialize};

use super::{
    ClientSecret, DEFAULT_LEEWAY_SECONDS, DpopSettings, KeySource, ProtectedResource, ScopeClaims,
    Tenant, TenantId, UpstreamIntrospection, UpstreamTokens, resource::check_resources,
};
use crate::{
    scope::{
        AdminStyle,
        limits::{check_len, echo},
    },
    token::{KeyError, KeyOrigin, KeySet},
};

/// Default JWS algorithms of a new tenant.
pub const DEFAULT_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// Every algorithm a tenant may allow (`none` never is).
pub const KNOWN_ALGORITHMS: [&str; 12] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];
/// Default minimum gap between JWKS refreshes.
pub const DEFAULT_JWKS_REFRESH_SECONDS: u32 = 300;
/// Largest clock leeway accepted.
pub const MAX_LEEWAY_SECONDS: u32 = 600;
/// Longest issuer, and longest audience, accepted (the length of a long URL).
pub const MAX_URL_BYTES: usize = 2048;
/// Most accepted audiences per tenant.
pub const MAX_AUDIENCES: usize = 64;

/// A settings field that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The field, relative to the settings (`issuer`, `algorithms[1]`, …).
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        message: message.into(),
    }
}

/// Changes to a tenant's token settings; `None` leaves a setting as it is. For `jwks` and
/// `jwks_uri`, an empty string removes the key source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// An inline JWK set (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_at_jwt_typ: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_refresh_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_unknown_scopes: Option<bool>,
    /// The protected resources (RFC 8707 / RFC 9728); replaces the list when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ProtectedResource>>,
    /// Roles claims mapped to scopes; replaces the mapping when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_claims: Option<ScopeClaims>,
    /// The DPoP proof policy; replaces it when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop: Option<DpopSettings>,
    /// Upstream introspection for opaque tokens; replaces the configuration when set, an
    /// empty `endpoint` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_introspection: Option<UpstreamSettings>,
}

/// Upstream introspection as a patch. The client secret is write-only: never serialized (so
/// never exported), and left as it is when not given.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// The RFC 7662 endpoint; empty removes the configuration.
    pub endpoint: String,
    #[serde(default)]
    pub client_id: String,
    /// `None` (or empty): keep the stored secret.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<UpstreamTokens>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_seconds: Option<u32>,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("timeout_ms", &self.timeout_ms)
            .field("tokens", &self.tokens)
            .field("cache_ttl_seconds", &self.cache_ttl_seconds)
            .finish()
    }
}

impl UpstreamSettings {
    /// The configuration this patch sets over `current` (`None`: removed).
    fn apply(
        &self,
        current: Option<&UpstreamIntrospection>,
    ) -> Result<Option<UpstreamIntrospection>, SettingsError> {
        if self.endpoint.is_empty() {
            return Ok(None);
        }
        let client_secret = match &self.client_secret {
            Some(secret) if secret.is_set() => secret.clone(),
            _ => current.map(|c| c.client_secret.clone()).unwrap_or_default(),
        };
        let config = UpstreamIntrospection {
            endpoint: self.endpoint.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            timeout_ms: self
                .timeout_ms
                .unwrap_or(crate::token::DEFAULT_UPSTREAM_TIMEOUT_MS),
            tokens: self.tokens.unwrap_or_default(),
            cache_ttl_seconds: self
                .cache_ttl_seconds
                .unwrap_or(crate::token::DEFAULT_UPSTREAM_CACHE_TTL_SECONDS),
        };
        config.check().map_err(|(field, message)| {
            invalid(format!("upstream_introspection.{field}"), message)
        })?;
        Ok(Some(config))
    }

    /// The patch that sets `config`, without its secret.
    fn of(config: &UpstreamIntrospection) -> Self {
        Self {
            endpoint: config.endpoint.clone(),
            client_id: config.client_id.clone(),
            client_secret: None,
            timeout_ms: Some(config.timeout_ms),
            tokens: Some(config.tokens),
            cache_ttl_seconds: Some(config.cache_ttl_seconds),
        }
    }
}

fn http_url(raw: &str) -> bool {
    raw.starts_with("https://") || raw.starts_with("http://")
}

impl TenantSettings {
    /// `base` with these settings applied, or the first rule they break.
    pub fn apply(&self, mut base: Tenant) -> Result<Tenant, SettingsError> {
        if let Some(issuer) = &self.issuer {
            check_len(issuer, MAX_URL_BYTES).map_err(|m| invalid("issuer", m))?;
            if !(issuer.is_empty() || http_url(issuer)) {
                return Err(invalid("issuer", "must be an http(s) URL"));
            }
            base.issuer.clone_from(issuer);
        }
        if let Some(audiences) = &self.audiences {
            if audiences.len() > MAX_AUDIENCES {
                let message = format!("must hold at most {MAX_AUDIENCES} values");
                return Err(invalid("audiences", message));
            }
            for (i, audience) in audiences.iter().enumerate() {
                if audience.is_empty() {
                    return Err(invalid(format!("audiences[{i}]"), "must not be empty"));
                }
                check_len(audience, MAX_URL_BYTES)
                    .map_err(|m| invalid(format!("audiences[{i}]"), m))?;
            }
            base.audiences.clone_from(audiences);
        }
        match (&self.jwks, &self.jwks_uri) {
            (Some(jwks), Some(uri)) if !jwks.is_empty() && !uri.is_empty() => {
                return Err(invalid("jwks", "set either jwks or jwks_uri, not both"));
            }
            (Some(jwks), _) if !jwks.is_empty() => {
                // Parsed with the verifier's own rules, so a set that could never verify a
                // token (or that holds private key material) is refused before it is stored.
                KeySet::parse(jwks, KeyOrigin::Inline)
                    .map_err(|e| invalid("jwks", e.to_string()))?;
                base.key_source = KeySource::Inline(jwks.clone());
            }
            (_, Some(uri)) if !uri.is_empty() => {
                // Where it may be fetched from (https unless allowed, which networks) is the
                // server's configuration, checked at each fetch.
                crate::token::check_jwks_uri(uri).map_err(|e| match e {
                    KeyError::InvalidUri(why) => invalid("jwks_uri", why),
                    other => invalid("jwks_uri", other.to_string()),
                })?;
                base.key_source = KeySource::Uri(uri.clone());
            }
            (Some(_), _) | (_, Some(_)) => base.key_source = KeySource::None,
            (None, None) => {}
        }
        if let Some(algorithms) = &self.algorithms {
            if algorithms.is_empty() || algorithms.len() > KNOWN_ALGORITHMS.len() {
                let message = format!("must hold 1 to {} values", KNOWN_ALGORITHMS.len());
                return Err(invalid("algorithms", message));
            }
            for (i, alg) in algorithms.iter().enumerate() {
                if !KNOWN_ALGORITHMS.contains(&alg.as_str()) {
                    let known = KNOWN_ALGORITHMS.join(", ");
                    return Err(invalid(
                        format!("algorithms[{i}]"),
                        format!("unsupported algorithm {:?}; known: {known}", echo(alg)),
                    ));
                }
            }
            base.algorithms.clone_from(algorithms);
        }
        if let Some(leeway) = self.leeway_seconds {
            if leeway > MAX_LEEWAY_SECONDS {
                return Err(invalid(
                    "leeway_seconds",
                    format!("must be at most {MAX_LEEWAY_SECONDS}"),
                ));
            }
            base.leeway_seconds = leeway;
        }
        if let Some(typ) = self.require_at_jwt_typ {
            base.require_at_jwt_typ = typ;
        }
        if let Some(refresh) = self.jwks_refresh_seconds {
            if refresh == 0 {
                return Err(invalid("jwks_refresh_seconds", "must be at least 1"));
            }
            base.jwks_refresh_seconds = refresh;
        }
        if let Some(drop) = self.drop_unknown_scopes {
            base.drop_unknown_scopes = drop;
        }
        if let Some(resources) = &self.resources {
            check_resources(resources)?;
            base.resources.clone_from(resources);
        }
        if let Some(scope_claims) = &self.scope_claims {
            scope_claims
                .check()
                .map_err(|(field, message)| invalid(format!("scope_claims.{field}"), message))?;
            base.scope_claims.clone_from(scope_claims);
        }
        if let Some(dpop) = &self.dpop {
            dpop.check()?;
            base.dpop.clone_from(dpop);
        }
        if let Some(upstream) = &self.upstream_introspection {
            base.upstream = upstream.apply(base.upstream.as_ref())?;
        }
        Ok(base)
    }

    /// Every setting of `tenant`, for export. An inline set holding HMAC secrets is left out
    /// (a catalog file is meant to be committed): importing the file keeps the set as it is.
    pub fn of(tenant: &Tenant) -> Self {
        let (jwks, jwks_uri) = match &tenant.key_source {
            KeySource::None => (None, None),
            KeySource::Inline(json) => {
                let public = KeySet::parse(json, KeyOrigin::Inline).is_ok_and(|set| {
                    set.keys()
                        .iter()
                        .all(|k| k.kind() != crate::token::KeyKind::Oct)
                });
                (public.then(|| json.clone()), None)
            }
            KeySource::Uri(uri) => (None, Some(uri.clone())),
        };
        Self {
            issuer: Some(tenant.issuer.clone()),
            audiences: Some(tenant.audiences.clone()),
            jwks,
            jwks_uri,
            algorithms: Some(tenant.algorithms.clone()),
            leeway_seconds: Some(tenant.leeway_seconds),
            require_at_jwt_typ: Some(tenant.require_at_jwt_typ),
            jwks_refresh_seconds: Some(tenant.jwks_refresh_seconds),
            drop_unknown_scopes: Some(tenant.drop_unknown_scopes),
            resources: Some(tenant.resources.clone()),
            scope_claims: Some(tenant.scope_claims.clone()),
            dpop: Some(tenant.dpop.clone()),
            // Never the client secret: importing the file keeps the stored one.
            upstream_introspection: Some(
                tenant
                    .upstream
                    .as_ref()
                    .map(UpstreamSettings::of)
                    .unwrap_or_default(),
            ),
        }
    }
}

/// A fresh tenant with default settings, before any are applied.
pub fn new_tenant(
    id: TenantId,
    display_name: String,
    preset: &str,
    style: AdminStyle,
    now_ms: i64,
) -> Tenant {
    Tenant {
        id,
        display_name,
        issuer: String::new(),
        audiences: Vec::new(),
        key_source: KeySource::None,
        algorithms: DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect(),
        leeway_seconds: DEFAULT_LEEWAY_SECONDS,
        // RFC 9068 §4: a resource server MUST check `typ`. Only new tenants get this default;
        // stored tenants keep the value they were created with.
        require_at_jwt_typ: true,
        jwks_refresh_seconds: DEFAULT_JWKS_REFRESH_SECONDS,
        admin_style: style,
        drop_unknown_scopes: false,
        resources: Vec::new(),
        scope_claims: ScopeClaims::default(),
        dpop: DpopSettings::default(),
        upstream: None,
        preset: preset.to_owned(),
        revision: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    }
}
