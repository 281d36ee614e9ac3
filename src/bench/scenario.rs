//! The scenarios: what one call of each sends, and what its answer must be for the call to
//! count as a success (an inactive token or a denial where an allow is expected is an error,
//! so no scenario can be sped up by answering something cheaper).

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tonic::{Request, metadata::AsciiMetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{
    idp_stub::ThreadClock,
    requests,
    wire::{self, Rpc},
};
use crate::pb::{
    self, scope_admin_client::ScopeAdminClient, scope_decision_client::ScopeDecisionClient,
    token_introspection_client::TokenIntrospectionClient,
};

/// Every scenario, in report order; the first is the baseline.
pub const NAMES: [&str; 14] = [
    "health_check",
    "check_scopes_cached_token",
    "check_scopes_dpop",
    "check_scopes_granted",
    "check_scopes_batch10",
    "ext_authz_cached_token",
    "introspect_cached",
    "introspect_cold_rs256",
    "introspect_cold_es256",
    "introspect_cold_eddsa",
    "introspect_cold_hs256",
    "introspect_cold_opaque",
    "resolve_scopes",
    "manage_scope_list",
];

/// The scenario whose tokens the stub IdP answers for.
pub const OPAQUE: &str = "introspect_cold_opaque";

/// The no-op baseline every ratio is relative to.
pub const BASELINE: &str = "health_check";

/// The clients of one HTTP/2 connection.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    health: HealthClient<Channel>,
    decision: ScopeDecisionClient<Channel>,
    introspection: TokenIntrospectionClient<Channel>,
    admin: ScopeAdminClient<Channel>,
    /// Sends the pre-encoded requests.
    grpc: tonic::client::Grpc<Channel>,
}

impl Conn {
    /// Every client over one connection.
    pub fn new(channel: &Channel) -> Self {
        Self {
            health: HealthClient::new(channel.clone()),
            decision: ScopeDecisionClient::new(channel.clone()),
            introspection: TokenIntrospectionClient::new(channel.clone()),
            admin: ScopeAdminClient::new(channel.clone()),
            grpc: tonic::client::Grpc::new(channel.clone()),
        }
    }

    /// The client that sends pre-encoded requests over this connection.
    pub fn grpc(&self) -> tonic::client::Grpc<Channel> {
        self.grpc.clone()
    }

    /// Introspects `token` with the explain trace (to confirm cache hits), tenant by issuer.
    pub async fn explain(
        &mut self,
        token: String,
    ) -> Result<pb::IntrospectResponse, tonic::Status> {
        let request = pb::IntrospectRequest {
            token,
            explain: true,
            ..Default::default()
        };
        Ok(self.introspection.introspect(request).await?.into_inner())
    }
}

/// Requests each sent exactly once across all workers: Introspect requests of fresh tokens
/// (every call misses the token cache) or CheckScopes requests each carrying a fresh DPoP proof
/// (RFC 9449 forbids reusing one). Each is encoded once, when the pool is made.
#[derive(Debug)]
pub(crate) struct Pool {
    rpc: Rpc,
    requests: Vec<Bytes>,
    next: AtomicUsize,
}

impl Pool {
    /// Encodes an `Introspect` request of each of `tokens` (each token dropped once encoded:
    /// a cold pool may hold 200,000).
    pub fn new(tokens: Vec<String>) -> Self {
        Self::introspections(tokens, requests::introspect)
    }

    /// [`Pool::new`] with the tenant named in each request (opaque tokens cannot be routed by
    /// issuer).
    pub fn for_tenant(tenant: &str, tokens: Vec<String>) -> Self {
        Self::introspections(tokens, |t| requests::introspect_at(tenant, t))
    }

    fn introspections(
        tokens: Vec<String>,
        request: impl Fn(&str) -> pb::IntrospectRequest,
    ) -> Self {
        Self::encoded(
            Rpc::Introspect,
            tokens
                .into_iter()
                .map(|t| wire::encode(&request(&t)))
                .collect(),
        )
    }

    /// Pre-encoded `requests` of `rpc`, each to be sent once.
    pub fn encoded(rpc: Rpc, requests: Vec<Bytes>) -> Self {
        Self {
            rpc,
            requests,
            next: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> Option<Bytes> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.requests.get(i).cloned()
    }
}

/// What one scenario sends.
#[derive(Debug)]
pub(crate) enum Workload {
    Health,
    /// Calls of `rpc` cycling through `requests`, each encoded once before the run: one per
    /// cached token (all cached after the warm-up), or the single request of a scenario
    /// without a token: no scenario builds a message per call.
    Encoded {
        rpc: Rpc,
        requests: Vec<Bytes>,
    },
    /// Each request of the pool once (fresh tokens, fresh DPoP proofs).
    Cold {
        pool: Pool,
    },
    /// Introspect, each opaque token once: each call asks the stub IdP, whose own CPU time is
    /// read from its thread (`stub`) at both ends of the window.
    IntrospectOpaque {
        pool: Pool,
        stub: Option<ThreadClock>,
    },
    Resolve {
        tenant: String,
        scope: String,
        client_id: String,
    },
    ListScopes {
        tenant: String,
        bearer: AsciiMetadataValue,
    },
}

/// How one call ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Ok,
    /// A gRPC error, or an answer that is not the expected one.
    Failed(String),
    /// A cold pool ran dry: the scenario stops.
    Exhausted,
}

fn status(s: &tonic::Status) -> Outcome {
    Outcome::Failed(format!("{:?}: {}", s.code(), s.message()))
}

fn expect(ok: bool, what: &str) -> Outcome {
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed(format!("unexpected answer: {what}"))
    }
}

impl Workload {
    /// The thread of the stub IdP this workload calls through the server, if any.
    pub fn stub_clock(&self) -> Option<ThreadClock> {
        match self {
            Self::IntrospectOpaque { stub, .. } => *stub,
            _ => None,
        }
    }

    /// Sends call number `seq` of a worker over `conn`.
    pub async fn call(&self, conn: &mut Conn, seq: usize) -> Outcome {
        match self {
            Self::Health => {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                match conn.health.check(request).await {
                    // 1 = SERVING
                    Ok(r) => expect(r.get_ref().status == 1, "not SERVING"),
                    Err(s) => status(&s),
                }
            }
            Self::Encoded { rpc, requests } => {
                answered(conn, *rpc, requests[seq % requests.len()].clone()).await
            }
            Self::Cold { pool } | Self::IntrospectOpaque { pool, .. } => match pool.take() {
                Some(request) => answered(conn, pool.rpc, request).await,
                None => Outcome::Exhausted,
            },
            Self::Resolve {
                tenant,
                scope,
                client_id,
            } => {
                let request = pb::ResolveScopesRequest {
                    tenant: tenant.clone(),
                    scope: scope.clone(),
                    client_id: client_id.clone(),
                };
                match conn.decision.resolve_scopes(request).await {
                    Ok(r) => {
                        let r = r.get_ref();
                        expect(
                            r.error.is_empty() && !r.granted.is_empty(),
                            "nothing granted",
                        )
                    }
                    Err(s) => status(&s),
                }
            }
            Self::ListScopes { tenant, bearer } => {
                let mut request = Request::new(pb::ManageScopeRequest {
                    tenant: tenant.clone(),
                    action: Some(pb::manage_scope_request::Action::List(pb::ListScopes {
                        page: None,
                        discoverable_only: false,
                    })),
                });
                request
                    .metadata_mut()
                    .insert("authorization", bearer.clone());
                match conn.admin.manage_scope(request).await {
                    Ok(r) => expect(
                        matches!(&r.get_ref().result,
                            Some(pb::manage_scope_response::Result::Scopes(p)) if !p.scopes.is_empty()),
                        "no scopes listed",
                    ),
                    Err(s) => status(&s),
                }
            }
        }
    }
}

/// One call of `rpc` with the pre-encoded `request`, its answer checked.
async fn answered(conn: &mut Conn, rpc: Rpc, request: Bytes) -> Outcome {
    match rpc.call(&mut conn.grpc, request).await {
        Ok(expected) => expect(expected, rpc.unexpected()),
        Err(s) => status(&s),
    }
}
