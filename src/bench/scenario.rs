//! The scenarios: what one call of each sends, and what its answer must be for the call to
//! count as a success (an inactive token or a denial where an allow is expected is an error,
//! so no scenario can be sped up by answering something cheaper).

use std::{
    collections::HashMap,
    sync::atomic::{AtomicUsize, Ordering},
};

use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, attribute_context, authorization_client::AuthorizationClient,
    check_response::HttpResponse,
};
use tonic::{Request, metadata::AsciiMetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::pb::{
    self, check, scope_admin_client::ScopeAdminClient, scope_decision_client::ScopeDecisionClient,
    token_introspection_client::TokenIntrospectionClient,
};

/// Every scenario, in report order; the first is the baseline.
pub const NAMES: [&str; 12] = [
    "health_check",
    "check_scopes_cached_token",
    "check_scopes_granted",
    "check_scopes_batch10",
    "ext_authz_cached_token",
    "introspect_cached",
    "introspect_cold_rs256",
    "introspect_cold_es256",
    "introspect_cold_eddsa",
    "introspect_cold_hs256",
    "resolve_scopes",
    "manage_scope_list",
];

/// The no-op baseline every ratio is relative to.
pub const BASELINE: &str = "health_check";

/// The clients of one HTTP/2 connection.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    health: HealthClient<Channel>,
    decision: ScopeDecisionClient<Channel>,
    introspection: TokenIntrospectionClient<Channel>,
    admin: ScopeAdminClient<Channel>,
    ext_authz: AuthorizationClient<Channel>,
}

impl Conn {
    /// Every client over one connection.
    pub fn new(channel: &Channel) -> Self {
        Self {
            health: HealthClient::new(channel.clone()),
            decision: ScopeDecisionClient::new(channel.clone()),
            introspection: TokenIntrospectionClient::new(channel.clone()),
            admin: ScopeAdminClient::new(channel.clone()),
            ext_authz: AuthorizationClient::new(channel.clone()),
        }
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

/// Tokens each used exactly once across all workers: every call misses the token cache.
#[derive(Debug)]
pub(crate) struct Pool {
    tokens: Vec<String>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(tokens: Vec<String>) -> Self {
        Self {
            tokens,
            next: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> Option<&str> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.tokens.get(i).map(String::as_str)
    }
}

/// What one scenario sends.
#[derive(Debug)]
pub(crate) enum Workload {
    Health,
    /// One check per call of a token from `tokens` (all cached after the warm-up).
    CheckToken {
        tenant: String,
        tokens: Vec<String>,
        operations: Vec<String>,
        batch: usize,
    },
    /// One Envoy ext_authz `Check` per call, shaped as Envoy sends it, of a token from
    /// `tokens` (all cached after the warm-up) on a route requiring `operation`.
    ExtAuthzToken {
        tenant: String,
        tokens: Vec<String>,
        operation: String,
    },
    CheckGranted {
        tenant: String,
        scopes: Vec<String>,
        operation: String,
    },
    /// Introspect cycling through tokens that are cached after the warm-up.
    IntrospectCached {
        tokens: Vec<String>,
    },
    /// Introspect, each token once.
    IntrospectCold {
        pool: Pool,
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
            Self::CheckToken {
                tenant,
                tokens,
                operations,
                batch,
            } => {
                let token = &tokens[seq % tokens.len()];
                let checks = (0..*batch)
                    .map(|i| pb::Check {
                        correlation_id: if *batch > 1 {
                            i.to_string()
                        } else {
                            String::new()
                        },
                        subject: Some(check::Subject::Token(token.clone())),
                        requirement: Some(check::Requirement::Operation(
                            operations[i % operations.len()].clone(),
                        )),
                        ..Default::default()
                    })
                    .collect();
                checked(conn, tenant, checks, *batch).await
            }
            Self::ExtAuthzToken {
                tenant,
                tokens,
                operation,
            } => {
                let token = &tokens[seq % tokens.len()];
                let request = envoy_check(tenant, operation, token);
                match conn.ext_authz.check(request).await {
                    Ok(r) => expect(
                        r.get_ref().status.as_ref().is_some_and(|s| s.code == 0)
                            && matches!(
                                r.get_ref().http_response,
                                Some(HttpResponse::OkResponse(_))
                            ),
                        "not allowed",
                    ),
                    Err(s) => status(&s),
                }
            }
            Self::CheckGranted {
                tenant,
                scopes,
                operation,
            } => {
                let checks = vec![pb::Check {
                    subject: Some(check::Subject::Granted(pb::GrantedScopes {
                        scopes: scopes.clone(),
                        client_id: String::new(),
                    })),
                    requirement: Some(check::Requirement::Operation(operation.clone())),
                    ..Default::default()
                }];
                checked(conn, tenant, checks, 1).await
            }
            Self::IntrospectCached { tokens } => {
                introspected(conn, tokens[seq % tokens.len()].clone()).await
            }
            Self::IntrospectCold { pool } => match pool.take() {
                Some(token) => introspected(conn, token.to_owned()).await,
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

/// An Envoy `CheckRequest` for `GET /settings` carrying `token`, on a route of `tenant` that
/// requires `operation`: the headers a typical proxied request has, lower-cased.
fn envoy_check(tenant: &str, operation: &str, token: &str) -> CheckRequest {
    let headers: HashMap<String, String> = [
        (":authority", "api.bench.test"),
        (":method", "GET"),
        (":path", "/settings"),
        (":scheme", "https"),
        ("accept", "application/json"),
        ("user-agent", "scopegate-bench"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "3e5b1f0c-8d5e-4c1b-9a53-5b8a2e0f6d11"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("authorization".to_owned(), format!("Bearer {token}"))])
    .collect();
    let http = attribute_context::HttpRequest {
        method: "GET".to_owned(),
        path: "/settings".to_owned(),
        host: "api.bench.test".to_owned(),
        scheme: "https".to_owned(),
        protocol: "HTTP/2".to_owned(),
        headers,
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                time: None,
                http: Some(http),
            }),
            context_extensions: [
                ("tenant".to_owned(), tenant.to_owned()),
                ("operation".to_owned(), operation.to_owned()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        }),
    }
}

/// One `CheckScopes` call whose `expected` results must all be allowed.
async fn checked(
    conn: &mut Conn,
    tenant: &str,
    checks: Vec<pb::Check>,
    expected: usize,
) -> Outcome {
    let request = pb::CheckScopesRequest {
        tenant: tenant.to_owned(),
        checks,
        explain: false,
    };
    match conn.decision.check_scopes(request).await {
        Ok(r) => {
            let results = &r.get_ref().results;
            let all =
                results.len() == expected && results.iter().all(|c| c.allowed && c.error.is_none());
            expect(all, "a check was not allowed")
        }
        Err(s) => status(&s),
    }
}

/// One `Introspect` call routed by the token's issuer (no tenant named, as an RFC 7662 caller
/// would send it) that must answer active.
async fn introspected(conn: &mut Conn, token: String) -> Outcome {
    let request = pb::IntrospectRequest {
        token,
        ..Default::default()
    };
    match conn.introspection.introspect(request).await {
        Ok(r) => expect(r.get_ref().active, "token inactive"),
        Err(s) => status(&s),
    }
}
