//! The token pipeline shared by `Introspect` and `CheckScopes`: route a token to its tenant,
//! verify it (through the verified-token cache and the tenant's keys) or, for the tokens the
//! tenant sends upstream (opaque ones), ask its RFC 7662 endpoint through the same cache,
//! re-check the cached facts against the tenant's current settings, and apply revocations.

mod replay;

use std::sync::Arc;

pub use replay::DpopReplays;

use crate::{
    store::StoreError,
    tenant::TenantId,
    tenant_states::{TenantState, TenantStates},
    token::{
        CacheSource, DEFAULT_MAX_IN_FLIGHT, Generation, JwksConfig, JwksProvider, KeyError,
        MAX_TOKEN_BYTES, TokenCacheConfig, UpstreamClient, VerifiedToken, VerifiedTokenCache,
        peek_issuer,
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
pub struct TokenPipeline {
    states: TenantStates,
    keys: JwksProvider,
    upstream: UpstreamClient,
    tokens: VerifiedTokenCache,
    /// Outlives tenant states (see `pipeline/replay.rs`).
    replays: Arc<DpopReplays>,
}

impl TokenPipeline {
    /// A pipeline over the tenant `states`. Upstream introspection calls follow the JWKS
    /// fetcher's destination rules, at most [`DEFAULT_MAX_IN_FLIGHT`] per tenant.
    pub fn new(
        states: TenantStates,
        jwks: JwksConfig,
        cache: &TokenCacheConfig,
    ) -> Result<Self, KeyError> {
        Self::with_upstream_in_flight(states, jwks, cache, DEFAULT_MAX_IN_FLIGHT)
    }

    /// [`Self::new`] with at most `max_in_flight` upstream calls per tenant.
    pub fn with_upstream_in_flight(
        states: TenantStates,
        jwks: JwksConfig,
        cache: &TokenCacheConfig,
        max_in_flight: usize,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            states,
            upstream: UpstreamClient::new(&jwks, max_in_flight)?,
            keys: JwksProvider::new(jwks)?,
            tokens: VerifiedTokenCache::new(cache),
            replays: Arc::default(),
        })
    }

    /// The DPoP replay caches, one per tenant, shared by every door.
    pub fn dpop_replays(&self) -> &DpopReplays {
        &self.replays
    }

    /// The upstream introspection client (its call count is what tests and benches read).
    pub fn upstream(&self) -> &UpstreamClient {
        &self.upstream
    }

    /// The tenant state cache this pipeline reads (and every write goes through).
    pub fn states(&self) -> &TenantStates {
        &self.states
    }

    /// Finds the tenant by the token's unverified `iss` (only used to pick keys).
    pub(crate) async fn route(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
        match peek_issuer(token) {
            Some(issuer) => self.states.tenant_of_issuer(&issuer).await,
            None => Ok(None),
        }
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
        let state = match self.states.get(tenant_id).await {
            Ok(state) => state,
            Err(StoreError::TenantNotFound(_)) => {
                return Ok(Introspection::inactive(None, "tenant_not_found"));
            }
            Err(err) => return Err(err),
        };
        let (policy, keyring) = (&state.policy, state.tenant.keyring());
        // Tokens the tenant sends upstream (opaque ones by default) are answered by its RFC
        // 7662 endpoint; the answer is cached like a verification, at most its TTL cap.
        let upstream = state.tenant.upstream.as_ref().filter(|u| u.takes(token));
        let ttl_cap = upstream.map_or(std::time::Duration::MAX, |u| u.ttl_cap());
        let token_text = token;
        // Cached verifications count only if made under the tenant's current keys and policy
        // (and upstream configuration: a settings write raises the same floor).
        let generation = Generation {
            current: state.stamp,
            floor: self.states.generations().keys_floor(state.stripe),
        };
        let verified = self
            .tokens
            .get_or_load(
                tenant_id.as_str(),
                token,
                now_unix,
                generation,
                ttl_cap,
                || async move {
                    match upstream {
                        Some(upstream) => {
                            self.upstream
                                .introspect(tenant_id.as_str(), upstream, policy, token, now_unix)
                                .await
                        }
                        None => {
                            self.keys
                                .verify_with(token, policy, keyring, now_unix)
                                .await
                        }
                    }
                },
            )
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
        // admin may have changed since. Upstream facts carry no `alg` and no issuer of ours to
        // match: they must still be ones this tenant sends upstream, for an accepted audience.
        if cache_hit {
            let policy = &state.policy;
            let still = match token.alg {
                Some(alg) => {
                    upstream.is_none()
                        && token.iss == policy.issuer
                        && policy.algorithms.contains(&alg)
                        && token.aud.iter().any(|a| policy.audiences.contains(a))
                }
                None => {
                    upstream.is_some()
                        && (policy.audiences.is_empty()
                            || token.aud.iter().any(|a| policy.audiences.contains(a)))
                }
            };
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
