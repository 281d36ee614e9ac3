//! Tenant settings from the wire, checked by the tenant domain's one set of rules.

use super::ApiError;
use crate::{
    pb,
    tenant::{
        ClaimSource, ClientSecret, DpopSettings, ProtectedResource, ScopeClaims, Tenant,
        TenantSettings, UpstreamIntrospection, UpstreamSettings, UpstreamTokens,
    },
};

/// The domain patch of the wire's settings.
pub fn settings(s: &pb::TenantSettings) -> TenantSettings {
    TenantSettings {
        issuer: s.issuer.clone(),
        audiences: s.audiences.as_ref().map(|l| l.values.clone()),
        jwks: s.jwks.clone(),
        jwks_uri: s.jwks_uri.clone(),
        algorithms: s.algorithms.as_ref().map(|l| l.values.clone()),
        leeway_seconds: s.leeway_seconds,
        require_at_jwt_typ: s.require_at_jwt_typ,
        jwks_refresh_seconds: s.jwks_refresh_seconds,
        drop_unknown_scopes: s.drop_unknown_scopes,
        resources: s
            .resources
            .as_ref()
            .map(|l| l.values.iter().map(resource_from_wire).collect()),
        scope_claims: s.scope_claims.as_ref().map(|c| ScopeClaims {
            sources: c
                .sources
                .iter()
                .map(|s| ClaimSource {
                    pointer: s.pointer.clone(),
                    prefix: s.prefix.clone(),
                })
                .collect(),
            replace: c.replace,
        }),
        dpop: s.dpop.as_ref().map(|d| DpopSettings {
            algorithms: d.algorithms.clone(),
            iat_window_seconds: d.iat_window_seconds,
            replay_capacity: d.replay_capacity,
        }),
        upstream_introspection: s.upstream_introspection.as_ref().map(upstream_from_wire),
    }
}

/// A DPoP proof policy on the wire.
pub fn dpop_to_wire(d: &DpopSettings) -> pb::DpopSettings {
    pb::DpopSettings {
        algorithms: d.algorithms.clone(),
        iat_window_seconds: d.iat_window_seconds,
        replay_capacity: d.replay_capacity,
    }
}

fn upstream_from_wire(u: &pb::UpstreamIntrospection) -> UpstreamSettings {
    UpstreamSettings {
        endpoint: u.endpoint.clone(),
        client_id: u.client_id.clone(),
        client_secret: (!u.client_secret.is_empty())
            .then(|| ClientSecret::new(u.client_secret.clone())),
        timeout_ms: u.timeout_ms,
        tokens: match pb::UpstreamTokens::try_from(u.tokens) {
            Ok(pb::UpstreamTokens::All) => Some(UpstreamTokens::All),
            Ok(pb::UpstreamTokens::None) => Some(UpstreamTokens::None),
            _ => Some(UpstreamTokens::NonJws),
        },
        cache_ttl_seconds: u.cache_ttl_seconds,
    }
}

/// A tenant's upstream introspection on the wire: never its secret, only whether one is set.
pub fn upstream_to_wire(u: &UpstreamIntrospection) -> pb::UpstreamIntrospection {
    pb::UpstreamIntrospection {
        endpoint: u.endpoint.clone(),
        client_id: u.client_id.clone(),
        client_secret: String::new(),
        timeout_ms: Some(u.timeout_ms),
        tokens: match u.tokens {
            UpstreamTokens::NonJws => pb::UpstreamTokens::NonJws,
            UpstreamTokens::All => pb::UpstreamTokens::All,
            UpstreamTokens::None => pb::UpstreamTokens::None,
        }
        .into(),
        cache_ttl_seconds: Some(u.cache_ttl_seconds),
        client_secret_set: u.client_secret.is_set(),
    }
}

/// A scope claims mapping on the wire.
pub fn scope_claims_to_wire(c: &ScopeClaims) -> pb::ScopeClaims {
    pb::ScopeClaims {
        sources: c
            .sources
            .iter()
            .map(|s| pb::ClaimSource {
                pointer: s.pointer.clone(),
                prefix: s.prefix.clone(),
            })
            .collect(),
        replace: c.replace,
    }
}

fn resource_from_wire(r: &pb::ProtectedResource) -> ProtectedResource {
    ProtectedResource {
        resource: r.resource.clone(),
        name: r.name.clone(),
        documentation: r.documentation.clone(),
        authorization_servers: r.authorization_servers.clone(),
        operations: r.operations.clone(),
    }
}

/// A protected resource on the wire.
pub fn resource_to_wire(r: &ProtectedResource) -> pb::ProtectedResource {
    pb::ProtectedResource {
        resource: r.resource.clone(),
        name: r.name.clone(),
        documentation: r.documentation.clone(),
        authorization_servers: r.authorization_servers.clone(),
        operations: r.operations.clone(),
    }
}

/// Applies `settings` over `base` (create: defaults; update: the current tenant); errors
/// name the field under `settings.`.
pub fn apply_settings(base: Tenant, s: &pb::TenantSettings) -> Result<Tenant, ApiError> {
    settings(s)
        .apply(base)
        .map_err(|e| ApiError::invalid(format!("settings.{}", e.field), e.message))
}
