//! The HTTP door (`--http-listen`, off by default): probes for orchestrators and load balancers
//! that do not speak gRPC. `GET /healthz` answers 200 while the process runs; `GET /readyz`
//! answers 200 while the gRPC health of service `""` is SERVING and 503 otherwise (store down,
//! shutting down). Bodies over 64 KiB are refused (413), unknown paths are 404, wrong methods 405.
//! The gateway doors (forward auth, RFC 7662 over HTTP) are to join this router, as thin adapters
//! over the same decision path as the gRPC services.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use tonic::Request;
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
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState").finish_non_exhaustive()
    }
}

impl HttpState {
    /// Readiness follows the statuses `reporter` publishes for gRPC health.
    pub fn new(reporter: HealthReporter) -> Self {
        Self {
            health: Arc::new(HealthService::from_health_reporter(reporter)),
        }
    }
}

/// The HTTP routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
