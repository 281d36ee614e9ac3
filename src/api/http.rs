//! The HTTP door (`--http-listen`, off by default), for callers that do not speak gRPC:
//! - `GET|POST /v1/authorize[/…]`: **forward auth** for nginx `auth_request`, Caddy
//!   `forward_auth` and Traefik `forwardAuth`, a thin adapter over the gateway core
//!   (`api::gateway`, the same decision path as `CheckScopes` and ext_authz). The route's tenant
//!   and requirement come from the query string the proxy's configuration puts in the auth URL
//!   (`tenant`, `operation`, `all_of`, `any_of`, `resource`), or, when it names none of them,
//!   from the `X-Scopegate-Tenant/-Operation/-All-Of/-Any-Of/-Resource` headers the proxy sets:
//!   a query string cannot come from the client, headers can when a proxy forgets to set one.
//!   A query naming some settings beside a header for another is refused as invalid (500):
//!   mixing both would silently drop the header. The token comes
//!   from `Authorization: Bearer` or `Authorization: DPoP`; a DPoP-bound token's proof from
//!   `DPoP`, checked against the original method and URI the proxy forwards
//!   (`X-Original-Method`/`-URL`, or `X-Forwarded-Method`/`-Proto`/`-Host`/`-Uri`). Allowed: 200 with the `x-scopegate-*` facts as response
//!   headers for the proxy to copy upstream; denied: 401/403 with `WWW-Authenticate` and an
//!   RFC 6750 JSON body; invalid route settings: 500 (never an allow); each of them with the
//!   decision's `x-scopegate-decision-id`; store needed and down: 503 (no decision).
//! - `GET /healthz` answers 200 while the process runs; `GET /readyz` 200 while the gRPC health
//!   of service `""` is SERVING and 503 otherwise (store down, shutting down).
//!
//! - `POST /oauth2/introspect` and `POST /t/{tenant}/oauth2/introspect`: **RFC 7662** for
//!   resource servers that speak only HTTP (`http/introspect.rs`), over the same answer as the
//!   gRPC `Introspect`.
//! - `POST /access/v1/evaluation(s)`, `POST /access/v1/search/action` and
//!   `GET /.well-known/authzen-configuration`: the **OpenID AuthZEN** Authorization API 1.0
//!   (`http/authzen.rs`), over the same gateway core.
//!
//! - `GET /t/{tenant}/.well-known/oauth-protected-resource[/{path}]`: the **RFC 9728** metadata
//!   of the tenant's registered protected resource with that path (`http/resource_metadata.rs`),
//!   for MCP servers and APIs to forward their own well-known URL to.
//!
//! Bodies over 64 KiB are refused (413), unknown paths are 404, wrong methods 405.

mod authzen;
mod introspect;
mod resource_metadata;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Json, Router,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tonic::Request;

use super::{
    auth::AdminAuth,
    gateway::{
        Asker, Binding, DECISION_ID_HEADER, Denied, Gateway, GatewayDecision, GatewayRequirement,
    },
    status::ApiError,
    subject::{Presentation, ProofHeader, access_token},
};
use crate::{
    caller::Caller,
    decision_log::{DecisionLog, Door},
    pipeline::TokenPipeline,
};
use tonic_health::{
    pb::{HealthCheckRequest, health_check_response::ServingStatus, health_server::Health},
    server::{HealthReporter, HealthService},
};

/// Largest request body any HTTP endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    health: Arc<HealthService>,
    gateway: Gateway,
    pipeline: TokenPipeline,
    auth: AdminAuth,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState").finish_non_exhaustive()
    }
}

impl HttpState {
    /// Readiness follows the statuses `reporter` publishes for gRPC health; decisions and
    /// introspection run on the token `pipeline`; bearer admin credentials are
    /// checked by `auth`, as on the gRPC port; decisions are named and logged by `log`.
    pub fn new(
        reporter: HealthReporter,
        pipeline: TokenPipeline,
        auth: AdminAuth,
        log: DecisionLog,
    ) -> Self {
        Self {
            health: Arc::new(HealthService::from_health_reporter(reporter)),
            gateway: Gateway::new(pipeline.clone(), log),
            pipeline,
            auth,
        }
    }
}

/// The HTTP routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/authorize", get(forward_auth).post(forward_auth))
        .route(
            "/v1/authorize/{*rest}",
            get(forward_auth).post(forward_auth),
        )
        .route("/oauth2/introspect", post(introspect::introspect))
        .route(
            "/t/{tenant}/oauth2/introspect",
            post(introspect::introspect_tenant),
        )
        .route(
            "/t/{tenant}/.well-known/oauth-protected-resource",
            get(resource_metadata::root),
        )
        .route(
            "/t/{tenant}/.well-known/oauth-protected-resource/{*path}",
            get(resource_metadata::with_path),
        )
        .route("/access/v1/evaluation", post(authzen::evaluation))
        .route("/access/v1/evaluations", post(authzen::evaluations))
        .route("/access/v1/search/action", post(authzen::search_action))
        .route(
            "/.well-known/authzen-configuration",
            get(authzen::configuration),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let asked = state
        .health
        .check(Request::new(HealthCheckRequest {
            service: String::new(),
        }))
        .await;
    let serving = asked.is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32);
    if serving {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready" })),
        )
            .into_response()
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "not_found" })),
    )
        .into_response()
}

/// The client certificate of the TLS connection, as the proxy passes it (URL-encoded PEM, e.g.
/// nginx's `$ssl_client_escaped_cert`), for certificate-bound tokens. The proxy must set it
/// on every request (overwriting, or removing, what a client sent).
const CLIENT_CERT_HEADER: &str = "x-scopegate-client-cert";

/// The DPoP proof of the original request (RFC 9449 §4.1), which the proxy passes on as sent.
const DPOP_HEADER: &str = "dpop";

/// The route settings forward auth reads, by query parameter name.
const SETTINGS: [&str; 5] = ["tenant", "operation", "all_of", "any_of", "resource"];

/// The route's settings: from the query string when it names any, else from the headers.
/// When the query names some, a setting header for one it does not name is refused (`Invalid`,
/// naming the header): it is either a proxy configuration that mixes both (its header would be
/// silently lost, e.g. a resource binding) or a client's attempt to add to the route.
fn route_settings(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<[Option<String>; 5], ApiError> {
    let header_of = |name: &str| format!("x-scopegate-{}", name.replace('_', "-"));
    let from_query = SETTINGS.iter().any(|name| query.contains_key(*name));
    let stray = SETTINGS
        .iter()
        .find(|name| !query.contains_key(**name) && headers.contains_key(header_of(name)));
    if let Some(name) = stray.filter(|_| from_query) {
        let message = "is set while the query string names the route: set every setting in the \
                       query";
        return Err(ApiError::invalid(header_of(name), message));
    }
    Ok(SETTINGS.map(|name| {
        if from_query {
            query.get(name).cloned()
        } else {
            headers
                .get(header_of(name).as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
    }))
}

/// The request's `DPoP` header(s); a value that is not visible ASCII counts as a proof (one
/// that cannot verify), never as none.
fn dpop_proof(headers: &HeaderMap) -> ProofHeader<'_> {
    ProofHeader::from_values(
        headers
            .get_all(DPOP_HEADER)
            .iter()
            .map(|v| v.to_str().unwrap_or("?")),
    )
}

/// The original request's method and absolute target URI as the proxy forwards them, for a
/// DPoP proof: nginx's `X-Original-Method` and `X-Original-URL` (`$scheme://$http_host
/// $request_uri`), else Traefik's and Caddy's `X-Forwarded-Method`, `-Proto`, `-Host` and
/// `-Uri`. `None` for what is missing: the proof is then refused, never skipped.
fn forwarded_request(headers: &HeaderMap) -> (Option<&str>, Option<String>) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let method = get("x-original-method").or_else(|| get("x-forwarded-method"));
    let uri = get("x-original-url").map(str::to_owned).or_else(|| {
        let scheme = get("x-forwarded-proto")?
            .split(',')
            .next()?
            .trim_matches(' ');
        let host = get("x-forwarded-host")?
            .split(',')
            .next()?
            .trim_matches(' ');
        let path = get("x-forwarded-uri").filter(|p| p.starts_with('/'))?;
        Some(format!("{scheme}://{host}{path}"))
    });
    (method, uri)
}

async fn forward_auth(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let asker = Asker {
        door: Door::ForwardAuth,
        caller: caller.as_ref().map(|Extension(caller)| caller),
    };
    let invalid_route = |err: &ApiError| deny(&state.gateway.invalid_route(asker, err));
    let [tenant, operation, all_of, any_of, resource] = match route_settings(&query, &headers) {
        Ok(settings) => settings,
        Err(err) => return invalid_route(&err),
    };
    let requirement = match GatewayRequirement::from_route(
        operation.as_deref(),
        all_of.as_deref(),
        any_of.as_deref(),
    ) {
        Ok(requirement) => requirement,
        Err(err) => return invalid_route(&err),
    };
    let presented_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(access_token);
    let proof = dpop_proof(&headers);
    // The target URI is built only when there is a proof to check it against.
    let (method, uri) = match proof {
        ProofHeader::One(_) => forwarded_request(&headers),
        _ => (None, None),
    };
    let presented = Presentation {
        scheme: presented_token
            .map(|(scheme, _)| scheme)
            .unwrap_or_default(),
        proof,
        method,
        uri: uri.as_deref(),
    };
    match state
        .gateway
        .authorize(
            asker,
            tenant.as_deref(),
            &requirement,
            presented_token.map(|(_, token)| token),
            Binding {
                resource: resource.as_deref(),
                certificate: headers
                    .get(CLIENT_CERT_HEADER)
                    .and_then(|v| v.to_str().ok()),
                presented: &presented,
            },
        )
        .await
    {
        Ok(GatewayDecision::Allow(allowed)) => {
            let mut response = StatusCode::OK.into_response();
            for (name, value) in allowed.headers() {
                if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(name), value);
                }
            }
            response
        }
        Ok(GatewayDecision::Deny(denied)) => deny(&denied),
        Err(err @ ApiError::Invalid { .. }) => invalid_route(&err),
        Err(err) => error_response(err),
    }
}

fn deny(denied: &Denied) -> Response {
    let status = StatusCode::from_u16(denied.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        denied.json_body(),
    )
        .into_response();
    if let Some(value) = denied
        .www_authenticate
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(value) = denied
        .decision_id
        .and_then(|id| HeaderValue::from_str(&id.to_string()).ok())
    {
        response
            .headers_mut()
            .insert(HeaderName::from_static(DECISION_ID_HEADER), value);
    }
    response
}

/// The one mapping of an error on the HTTP door. A caller refused (its credential, or a tenant
/// it may not ask about) is 401 `invalid_caller` / 403 `caller_forbidden` with the status
/// message (the caller's, not the end user's: no `WWW-Authenticate`); a store that cannot answer
/// (nothing usable cached) is 503, so the proxy can tell an outage from a refusal; anything else
/// is 500. Neither of the last two says more than that.
pub(crate) fn error_response(err: ApiError) -> Response {
    let caller_refusal = match &err {
        ApiError::Unauthenticated(_) => Some((StatusCode::UNAUTHORIZED, "invalid_caller")),
        ApiError::PermissionDenied(_) => Some((StatusCode::FORBIDDEN, "caller_forbidden")),
        _ => None,
    };
    let status = tonic::Status::from(err);
    if let Some((code, error)) = caller_refusal {
        let body = serde_json::json!({ "error": error, "error_description": status.message() });
        return (code, Json(body)).into_response();
    }
    let (code, error) = if status.code() == tonic::Code::Unavailable {
        (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
    };
    (
        code,
        Json(serde_json::json!({
            "error": error,
            "error_description": "the authorization service cannot decide now; retry later",
        })),
    )
        .into_response()
}
