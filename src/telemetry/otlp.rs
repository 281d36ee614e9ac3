//! OpenTelemetry trace export over OTLP/gRPC, when `--otlp-endpoint` is set: each call's span
//! becomes a server span (`rpc.*` attributes, the gRPC status on failure), a child of the
//! caller's span when the call carries a W3C `traceparent`.

use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tonic::codegen::http;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target of the per-call spans.
pub(super) const TARGET: &str = "scopegate::rpc";

/// Set once export is configured.
static ENABLED: OnceLock<()> = OnceLock::new();

/// Whether calls are traced.
pub(super) fn enabled() -> bool {
    ENABLED.get().is_some()
}

/// The exporter and its provider. Call inside the Tokio runtime (the gRPC exporter runs on it).
pub(super) fn provider(
    endpoint: &str,
    tls: &crate::config::OtlpTls,
) -> Result<SdkTracerProvider, String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("invalid --otlp-endpoint {endpoint:?}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "invalid --otlp-endpoint {endpoint:?}: expected http://host:port or https://host:port"
            ));
        }
    };
    if uri.authority().is_none() {
        return Err(format!(
            "invalid --otlp-endpoint {endpoint:?}: expected http://host:port or https://host:port"
        ));
    }
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint);
    if https {
        builder = builder.with_tls_config(tls_config(tls)?);
    }
    let exporter = builder
        .build()
        .map_err(|e| format!("cannot export traces to {endpoint}: {e}"))?;
    let resource = Resource::builder().with_service_name("scopegate").build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let _ = ENABLED.set(());
    Ok(provider)
}

/// TLS to an `https://` collector: its CA (required: no system roots are trusted) and an
/// optional client certificate.
fn tls_config(tls: &crate::config::OtlpTls) -> Result<tonic::transport::ClientTlsConfig, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let ca = tls.ca_cert.as_deref().ok_or(
        "an https:// --otlp-endpoint needs --otlp-ca-cert (the CA the collector's certificate chains to)",
    )?;
    let mut config = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            config = config.identity(tonic::transport::Identity::from_pem(
                read(cert)?,
                read(key)?,
            ));
        }
        (None, None) => {}
        _ => return Err("--otlp-client-cert and --otlp-client-key go together".to_owned()),
    }
    Ok(config)
}

/// The span of one call to `method` (`package.Service/Method`, or `other`), with the fields
/// of the plain span (`method`, `tenant`) and the OpenTelemetry ones.
pub(super) fn rpc_span(method: &'static str, headers: &http::HeaderMap) -> tracing::Span {
    let (service, name) = method.split_once('/').unwrap_or((method, ""));
    let span = tracing::info_span!(
        target: TARGET,
        "rpc",
        method,
        tenant = tracing::field::Empty,
        caller = tracing::field::Empty,
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = name,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only once the span has started, which it has not.
    let _ = span.set_parent(parent);
    span
}

/// Records a failed call's gRPC status. tonic sends a handler's error in the response headers
/// (trailers-only); a success carries its status in the trailers, so no header means OK.
pub(super) fn record_status(span: &tracing::Span, headers: &http::HeaderMap) {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    span.record("rpc.grpc.status_code", code);
    if code != 0 {
        span.record("otel.status_code", "ERROR");
    }
}

/// Request headers as a propagation carrier.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The current span's trace id, if it has a valid one.
pub(super) fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
