//! Logs, metrics and traces, set up in one place: `tracing` to stderr as text or JSON, filtered
//! by `RUST_LOG` (default `info`); Prometheus metrics on their own HTTP port when configured;
//! OpenTelemetry spans over OTLP/gRPC when configured (`otlp`); a tower layer that times every
//! gRPC call by method and runs it in a span (`rpc{method, tenant}`), so every log line of a
//! call carries its context, and the same span is exported when traces are.

mod otlp;

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
    time::Instant,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use prost_types::FileDescriptorSet;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::Targets, fmt, layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

/// What `init` set up that must be flushed before the process exits.
#[derive(Debug)]
#[must_use = "call `shutdown` before exiting, or buffered spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered (bounded by the exporter's timeout).
    pub async fn shutdown(self) {
        let Some(provider) = self.traces else {
            return;
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "could not flush the last spans"),
            Err(err) => tracing::warn!(%err, "could not flush the last spans"),
        }
    }
}

/// Installs the global subscriber: logs to stderr, and spans to the OTLP endpoint when given
/// (over TLS for `https://`). Call once, from `main`, inside the Tokio runtime.
pub fn init(
    json: bool,
    otlp: Option<(&str, &crate::config::OtlpTls)>,
) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = fmt::layer().with_writer(std::io::stderr);
    let logs = if json {
        logs.json().with_filter(filter).boxed()
    } else {
        logs.with_filter(filter).boxed()
    };
    let provider = otlp
        .map(|(endpoint, tls)| otlp::provider(endpoint, tls))
        .transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("scopegate"))
            .with_filter(Targets::new().with_target("scopegate", tracing::Level::INFO))
    });
    let result = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    if let Err(err) = result {
        eprintln!("logging already initialised: {err}");
    }
    Ok(Telemetry { traces: provider })
}

/// The installed Prometheus recorder, not yet served.
#[derive(Debug)]
pub struct Metrics(metrics_exporter_prometheus::PrometheusHandle);

impl Metrics {
    /// Installs the process's recorder: metrics count from now on. Call once, inside the
    /// runtime.
    pub fn install() -> Result<Self, String> {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("cannot record metrics: {e}"))?;
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                ticker.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Self(handle))
    }

    /// Serves them at `/metrics` on `addr` (`https://` with `tls`) under the same connection
    /// bounds as the other listeners; returns the bound address.
    pub async fn serve(
        self,
        addr: SocketAddr,
        tls: Option<&crate::tls::ServerTls>,
        limits: &crate::config::Limits,
    ) -> Result<SocketAddr, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let bound = listener.local_addr().unwrap_or(addr);
        let handle = self.0;
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let text = handle.render();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        text,
                    )
                }
            }),
        );
        let listener = crate::app::http_conn::HttpListener::new(
            listener,
            limits,
            tls.map(|tls| tls.http("metrics")),
        );
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!(%err, "metrics listener failed");
            }
        });
        Ok(bound)
    }
}

/// The descriptor sets of the services whose methods get a label of their own.
const LABELLED: [&[u8]; 5] = [
    crate::pb::FILE_DESCRIPTOR_SET,
    crate::pb::ENVOY_EXT_AUTHZ_FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Every method of [`LABELLED`] as `/package.Service/Method`, read from the descriptor sets the
/// code was generated from: metric labels never take a caller-chosen value, and a method added
/// to the proto gets its label without a list to update.
static METHODS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut methods = Vec::new();
    for encoded in LABELLED {
        let set = FileDescriptorSet::decode(encoded)
            .expect("the descriptor sets are encoded at build time by prost itself");
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.push(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    methods
});

fn method_label(path: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == path)
        .map_or("other", |m| &m[1..])
}

/// Names the tenant the current call is about on its span (`rpc{method, tenant}`), so the
/// call's log lines (and its exported span) carry it. Handlers call it once they have parsed
/// the request's tenant; outside a call it does nothing.
pub fn record_tenant(tenant: &impl std::fmt::Display) {
    tracing::Span::current().record("tenant", tracing::field::display(tenant));
}

/// The OpenTelemetry trace the current call belongs to (32 hex digits), when trace export is
/// on and there is one; for the decision log.
pub fn current_trace_id() -> Option<String> {
    if otlp::enabled() {
        otlp::current_trace_id()
    } else {
        None
    }
}

/// The span of one call: `method` and, once the handler knows it, `tenant`; with trace export
/// on, also the OpenTelemetry attributes and the caller's trace context.
fn rpc_span(method: &'static str, headers: &http::HeaderMap) -> tracing::Span {
    if otlp::enabled() {
        otlp::rpc_span(method, headers)
    } else {
        tracing::info_span!(
            target: otlp::TARGET,
            "rpc",
            method,
            tenant = tracing::field::Empty,
            caller = tracing::field::Empty
        )
    }
}

/// Times every call: `scopegate_grpc_request_duration_seconds{method}` (to response headers,
/// which for unary calls is the whole handling), and runs it in its span, which names the
/// authenticated caller (`caller`) when there is one.
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

impl<S, B, R> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let span = rpc_span(method, request.headers());
        // The caller its connection's certificate named: on the span, and to handlers as a
        // request extension.
        let caller = request
            .extensions()
            .get::<crate::app::accept::ConnInfo>()
            .and_then(|info| info.state.caller.clone());
        if let Some(caller) = caller {
            span.record("caller", tracing::field::display(&caller));
            request.extensions_mut().insert(caller);
        }
        let response = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let result = response.await;
                metrics::histogram!("scopegate_grpc_request_duration_seconds", "method" => method)
                    .record(started.elapsed().as_secs_f64());
                if let (true, Ok(response)) = (otlp::enabled(), &result) {
                    otlp::record_status(&tracing::Span::current(), response.headers());
                }
                result
            }
            .instrument(span),
        )
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

    #[test]
    fn every_method_of_the_contract_health_and_reflection_has_a_label() {
        let expected = [
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
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            "/envoy.service.auth.v3.Authorization/Check",
        ];

        for path in expected {
            assert_eq!(method_label(path), &path[1..]);
        }
        let services = [
            crate::pb::token_introspection_server::SERVICE_NAME,
            crate::pb::scope_decision_server::SERVICE_NAME,
            crate::pb::scope_admin_server::SERVICE_NAME,
            tonic_health::pb::health_server::SERVICE_NAME,
            tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME,
            tonic_reflection::pb::v1alpha::server_reflection_server::SERVICE_NAME,
            crate::api::ext_authz::SERVICE_NAME,
        ];
        for method in METHODS.iter() {
            let (service, _) = method[1..].split_once('/').unwrap();
            assert!(services.contains(&service), "{method} is not ours");
        }
    }
}
