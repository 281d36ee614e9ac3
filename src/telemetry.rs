//! Logs and metrics, set up in one place: `tracing` to stderr as text or JSON, filtered by
//! `RUST_LOG` (default `info`); Prometheus metrics on their own HTTP port when configured;
//! a tower layer timing every gRPC call by method.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tonic::codegen::http;
use tower::{Layer, Service};
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global log subscriber. Call once, from `main`.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(err) = result {
        eprintln!("logging already initialised: {err}");
    }
}

/// Serves Prometheus metrics at `http://addr/metrics`. Call once, inside the runtime.
pub fn serve_metrics(addr: SocketAddr) -> Result<(), String> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
}

/// Every method the server serves, so metric labels never take a caller-chosen value.
const METHODS: [&str; 15] = [
    "/scopegate.v1.TokenIntrospection/Introspect",
    "/scopegate.v1.TokenIntrospection/RevokeToken",
    "/scopegate.v1.ScopeDecision/CheckScopes",
    "/scopegate.v1.ScopeDecision/ResolveScopes",
    "/scopegate.v1.ScopeDecision/ListSupportedScopes",
    "/scopegate.v1.ScopeAdmin/ManageScope",
    "/scopegate.v1.ScopeAdmin/ManageTenant",
    "/scopegate.v1.ScopeAdmin/ManageClient",
    "/scopegate.v1.ScopeAdmin/ManageOperation",
    "/scopegate.v1.ScopeAdmin/ExportCatalog",
    "/scopegate.v1.ScopeAdmin/ImportCatalog",
    "/scopegate.v1.ScopeAdmin/ListAuditEvents",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

fn method_label(path: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == path)
        .map_or("other", |m| &m[1..])
}

/// Times every call: `scopegate_grpc_request_duration_seconds{method}` (to response headers,
/// which for unary calls is the whole handling).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            metrics::histogram!("scopegate_grpc_request_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_never_take_a_caller_chosen_path() {
        assert_eq!(
            method_label("/scopegate.v1.ScopeDecision/CheckScopes"),
            "scopegate.v1.ScopeDecision/CheckScopes"
        );
        assert_eq!(
            method_label("/scopegate.v1.ScopeDecision/Random123"),
            "other"
        );
        assert_eq!(method_label("/"), "other");
    }
}
