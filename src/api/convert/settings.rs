//! Tenant settings from the wire: defaults for a new tenant and validated updates.

use super::ApiError;
use crate::{
    pb,
    scope::AdminStyle,
    tenant::{KeySource, Tenant, TenantId},
    token::{KeyOrigin, KeySet},
};

/// Default JWS algorithms of a new tenant.
pub const DEFAULT_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// Every algorithm a tenant may allow.
pub const KNOWN_ALGORITHMS: [&str; 12] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];
/// Default minimum gap between JWKS refreshes.
pub const DEFAULT_JWKS_REFRESH_SECONDS: u32 = 300;

/// Applies `settings` over `base` (create: defaults; update: the current tenant).
pub fn apply_settings(mut base: Tenant, s: &pb::TenantSettings) -> Result<Tenant, ApiError> {
    if let Some(issuer) = &s.issuer {
        if !(issuer.is_empty() || issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(ApiError::invalid(
                "settings.issuer",
                "must be an http(s) URL",
            ));
        }
        base.issuer.clone_from(issuer);
    }
    if let Some(list) = &s.audiences {
        if list.values.iter().any(String::is_empty) {
            return Err(ApiError::invalid(
                "settings.audiences",
                "must not contain an empty value",
            ));
        }
        base.audiences.clone_from(&list.values);
    }
    match (&s.jwks, &s.jwks_uri) {
        (Some(jwks), Some(uri)) if !jwks.is_empty() && !uri.is_empty() => {
            return Err(ApiError::invalid(
                "settings.jwks",
                "set either jwks or jwks_uri, not both",
            ));
        }
        (Some(jwks), _) if !jwks.is_empty() => {
            // Parsed with the verifier's own rules, so a set that could never verify a token
            // (or that holds private key material) is refused before it is stored.
            KeySet::parse(jwks, KeyOrigin::Inline)
                .map_err(|e| ApiError::invalid("settings.jwks", e.to_string()))?;
            base.key_source = KeySource::Inline(jwks.clone());
        }
        (_, Some(uri)) if !uri.is_empty() => {
            if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                return Err(ApiError::invalid(
                    "settings.jwks_uri",
                    "must be an http(s) URL",
                ));
            }
            base.key_source = KeySource::Uri(uri.clone());
        }
        (Some(_), _) | (_, Some(_)) => base.key_source = KeySource::None,
        (None, None) => {}
    }
    if let Some(list) = &s.algorithms {
        if list.values.is_empty() {
            return Err(ApiError::invalid(
                "settings.algorithms",
                "must not be empty",
            ));
        }
        for (i, alg) in list.values.iter().enumerate() {
            if !KNOWN_ALGORITHMS.contains(&alg.as_str()) {
                return Err(ApiError::invalid(
                    format!("settings.algorithms[{i}]"),
                    format!(
                        "unsupported algorithm {alg:?}; known: {}",
                        KNOWN_ALGORITHMS.join(", ")
                    ),
                ));
            }
        }
        base.algorithms.clone_from(&list.values);
    }
    if let Some(leeway) = s.leeway_seconds {
        if leeway > 600 {
            return Err(ApiError::invalid(
                "settings.leeway_seconds",
                "must be at most 600",
            ));
        }
        base.leeway_seconds = leeway;
    }
    if let Some(typ) = s.require_at_jwt_typ {
        base.require_at_jwt_typ = typ;
    }
    if let Some(refresh) = s.jwks_refresh_seconds {
        if refresh == 0 {
            return Err(ApiError::invalid(
                "settings.jwks_refresh_seconds",
                "must be at least 1",
            ));
        }
        base.jwks_refresh_seconds = refresh;
    }
    if let Some(drop) = s.drop_unknown_scopes {
        base.drop_unknown_scopes = drop;
    }
    Ok(base)
}

/// A fresh tenant with default settings.
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
        leeway_seconds: crate::tenant::DEFAULT_LEEWAY_SECONDS,
        require_at_jwt_typ: false,
        jwks_refresh_seconds: DEFAULT_JWKS_REFRESH_SECONDS,
        admin_style: style,
        drop_unknown_scopes: false,
        preset: preset.to_owned(),
        revision: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    }
}
