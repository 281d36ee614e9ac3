//! OpenTelemetry export: `scopegate serve --otlp-endpoint` sends one server span per gRPC call
//! to an OTLP/gRPC collector (a fake one here), in the caller's W3C trace when it sent a
//! `traceparent`, with the gRPC status of a failed call, and flushes them on SIGTERM.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use scopegate::pb::{self, scope_admin_client::ScopeAdminClient};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, transport::Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::process::Served;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// Keeps every exported span with its resource's `service.name`.
#[derive(Debug, Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans.resource.map(|r| r.attributes);
            let service = attributes
                .as_deref()
                .and_then(|a| string_attribute(a, "service.name"))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                spans.extend(scope_spans.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

#[tokio::test]
async fn every_call_is_exported_as_a_server_span_in_the_callers_trace() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let collector_url = format!("http://{collector_addr}");
    let served = Served::start(dir.path(), &["--otlp-endpoint", &collector_url]).await;
    let addr = served.addr.clone();

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // A health check inside the caller's trace.
    let mut check = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    check
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    HealthClient::new(channel.clone())
        .check(check)
        .await
        .unwrap();
    // An admin call without credentials: UNAUTHENTICATED, in a trace of its own.
    let list = pb::ManageScopeRequest {
        tenant: "default".into(),
        action: Some(pb::manage_scope_request::Action::List(pb::ListScopes {
            page: None,
            discoverable_only: false,
        })),
    };
    let denied = ScopeAdminClient::new(channel)
        .manage_scope(list)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);

    // The batch goes out every few seconds; SIGTERM must flush it before the process exits.
    let status = served.terminate().await;
    assert!(status.success(), "scopegate exited with {status}");

    let spans = collector.spans.lock().unwrap().clone();
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} among {:?}", names(&spans)))
    };
    let (service, health) = find("grpc.health.v1.Health/Check");
    assert_eq!(service, "scopegate");
    assert_eq!(hex::encode(&health.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&health.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(health.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&health.attributes, "rpc.system").as_deref(),
        Some("grpc")
    );
    assert_eq!(
        string_attribute(&health.attributes, "rpc.method").as_deref(),
        Some("Check")
    );
    assert_eq!(
        int_attribute(&health.attributes, "rpc.grpc.status_code"),
        Some(0)
    );

    let (_, admin) = find("scopegate.v1.ScopeAdmin/ManageScope");
    assert_ne!(
        hex::encode(&admin.trace_id),
        TRACE_ID,
        "no traceparent: a new trace"
    );
    assert!(admin.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        int_attribute(&admin.attributes, "rpc.grpc.status_code"),
        Some(tonic::Code::Unauthenticated as i64)
    );
    let status = admin.status.as_ref().expect("a status");
    assert_eq!(status.code, StatusCode::Error as i32);
}

fn names(spans: &[(String, Span)]) -> Vec<&str> {
    spans.iter().map(|(_, s)| s.name.as_str()).collect()
}

/// The served binary's defaults: denials are logged as JSON lines on stdout, written out before
/// it exits on SIGTERM, each with the trace the call was in.
#[tokio::test]
async fn a_denial_is_logged_on_stdout_by_default_with_the_callers_trace_id() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector::default()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &["--otlp-endpoint", &collector_url]).await;
    let channel = Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Granted scopes for a tenant that does not exist: denied, TENANT_NOT_FOUND.
    let check = pb::Check {
        subject: Some(pb::check::Subject::Granted(pb::GrantedScopes {
            scopes: vec!["openid".into()],
            client_id: String::new(),
        })),
        requirement: Some(pb::check::Requirement::Operation("get_settings".into())),
        ..Default::default()
    };
    let mut request = Request::new(pb::CheckScopesRequest {
        tenant: "nowhere".into(),
        checks: vec![check],
        explain: false,
    });
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let result = pb::scope_decision_client::ScopeDecisionClient::new(channel)
        .check_scopes(request)
        .await
        .unwrap()
        .into_inner()
        .results
        .remove(0);

    let (status, printed) = served.terminate_reading_stdout().await;

    assert!(status.success(), "scopegate exited with {status}");
    assert!(!result.allowed);
    let events: Vec<serde_json::Value> = printed
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|event: &serde_json::Value| event.get("decision_id").is_some())
        .collect();
    assert_eq!(events.len(), 1, "{printed:?}");
    assert_eq!(events[0]["decision_id"], result.decision_id.as_str());
    assert_eq!(events[0]["trace_id"], TRACE_ID);
    assert_eq!(events[0]["reason"], "TENANT_NOT_FOUND");
    assert_eq!(events[0]["tenant"], "nowhere");
}
