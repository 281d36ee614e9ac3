//! The token pipeline shared by `Introspect` and `CheckScopes`: route a token to its tenant,
//! verify it (through the verified-token cache and the tenant's keys), re-check the cached
//! facts against the tenant's current settings, and apply revocations.

use std::sync::Arc;

use moka::future::Cache;

use crate::{
    catalogs::{Catalogs, TenantState},
    store::StoreError,
    tenant::TenantId,
    token::{
        CacheSource, JwksConfig, JwksProvider, KeyError, MAX_TOKEN_BYTES, TokenCacheConfig,
        VerifiedToken, VerifiedTokenCache, peek_issuer,
    },
};

/// Why a token is not active. The label goes to logs, metrics and the opt-in explain trace,
/// never into an RFC 7662 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inactive(pub &'static str);

/// The outcome of running a token through the pipeline.
#[derive(Debug)]
pub struct Introspection {
    /// The tenant the token was routed to, when it exists.
    pub state: Option<Arc<TenantState>>,
    /// The verified facts, or why the token is inactive.
    pub token: Result<Arc<VerifiedToken>, Inactive>,
    /// The verified-token cache answered.
    pub cache_hit: bool,
}

impl Introspection {
    fn inactive(state: Option<Arc<TenantState>>, why: &'static str) -> Self {
        Self {
            state,
            token: Err(Inactive(why)),
            cache_hit: false,
        }
    }

    /// Whether the token's client is a registered first-party client of its tenant.
    pub fn first_party(&self) -> bool {
        match (&self.state, &self.token) {
            (Some(state), Ok(token)) => token
                .client_id
                .as_deref()
                .and_then(|id| state.compiled.client(id))
                .is_some_and(|c| c.first_party),
            _ => false,
        }
    }
}

/// Routes, verifies and caches tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Introspector {
    catalogs: Catalogs,
    keys: JwksProvider,
    tokens: VerifiedTokenCache,
    issuers: Cache<String, Option<TenantId>>,
}

impl Introspector {
    /// A pipeline over `catalogs`.
    pub fn new(
        catalogs: Catalogs,
        jwks: JwksConfig,
        cache: &TokenCacheConfig,
    ) -> Result<Self, KeyError> {
        // Issuer routing (known and unknown issuers) is bounded like the catalog cache.
        let (capacity, ttl) = catalogs.limits();
        Ok(Self {
            catalogs,
            keys: JwksProvider::new(jwks)?,
            tokens: VerifiedTokenCache::new(cache),
            issuers: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        })
    }

    /// The tenant state cache this pipeline reads.
    pub fn catalogs(&self) -> &Catalogs {
        &self.catalogs
    }

    /// Forgets every cached verification of a tenant (after its keys or policy changed) and
    /// the issuer routing table.
    pub fn forget_tenant(&self, tenant: &TenantId) {
        if let Err(err) = self.tokens.invalidate_tenant(tenant) {
            tracing::warn!(%tenant, %err, "cannot invalidate cached tokens");
        }
        self.issuers.invalidate_all();
    }

    /// Forgets one token's cached verification (it was just revoked by value).
    pub async fn forget_token(&self, tenant: &TenantId, token: &str) {
        self.tokens.invalidate_token(tenant, token).await;
    }

    /// Finds the tenant by the token's unverified `iss` (only used to pick keys).
    async fn route(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
        let Some(issuer) = peek_issuer(token) else {
            return Ok(None);
        };
        if let Some(hit) = self.issuers.get(&issuer).await {
            return Ok(hit);
        }
        let found = self
            .catalogs
            .store()
            .tenant_by_issuer(&issuer)
            .await?
            .map(|t| t.id);
        self.issuers.insert(issuer, found.clone()).await;
        Ok(found)
    }

    /// Runs `token` through the pipeline for `tenant` (or the tenant of its issuer).
    /// Errors only when the store is needed and cannot answer.
    pub async fn introspect(
        &self,
        tenant: Option<&TenantId>,
        token: &str,
        now_unix: i64,
    ) -> Result<Introspection, StoreError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Ok(Introspection::inactive(None, "too_large"));
        }
        let routed;
        let tenant_id = match tenant {
            Some(id) => id,
            None => match self.route(token).await? {
                Some(id) => {
                    routed = id;
                    &routed
                }
                None => return Ok(Introspection::inactive(None, "unknown_issuer")),
            },
        };
        let state = match self.catalogs.get(tenant_id).await {
            Ok(state) => state,
            Err(StoreError::TenantNotFound(_)) => {
                return Ok(Introspection::inactive(None, "tenant_not_found"));
            }
            Err(err) => return Err(err),
        };
        let tenant = &state.tenant;
        let token_text = token;
        let verified = self
            .tokens
            .get_or_verify(tenant_id, token, now_unix, || async move {
                self.keys.verify_for_tenant(token, tenant, now_unix).await
            })
            .await;
        let cache_hit = matches!(verified.source, CacheSource::Hit | CacheSource::NegativeHit);
        let token = match verified.result {
            Ok(token) => token,
            Err(rejection) => {
                return Ok(Introspection {
                    state: Some(state),
                    token: Err(Inactive(rejection.as_str())),
                    cache_hit,
                });
            }
        };
        // Cached facts were verified under the policy of their time: re-check the parts an
        // admin may have changed since.
        if cache_hit {
            let policy = &state.policy;
            let still = token.iss == policy.issuer
                && policy.algorithms.contains(&token.alg)
                && token.aud.iter().any(|a| policy.audiences.contains(a));
            if !still {
                return Ok(Introspection {
                    state: Some(state),
                    token: Err(Inactive("policy_changed")),
                    cache_hit,
                });
            }
        }
        if state.revocations.is_revoked(&token, token_text) {
            return Ok(Introspection {
                state: Some(state),
                token: Err(Inactive("revoked")),
                cache_hit,
            });
        }
        Ok(Introspection {
            state: Some(state),
            token: Ok(token),
            cache_hit,
        })
    }
}
