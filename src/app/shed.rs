//! Load shedding: a call beyond its budget is answered `RESOURCE_EXHAUSTED` at once, with a
//! `grpc-retry-pushback-ms` hint, instead of waiting in a queue; a call whose deadline has
//! already passed is answered `DEADLINE_EXCEEDED` before any work. Health checks and
//! admin/reflection calls have budgets of their own, so probes and operators get through a flood.
//!
//! The layer also marks each call's stream open on its connection until the response body
//! ends: that is what keeps a connection from being idle (see `accept`).

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{
    Code, Status,
    body::Body,
    codegen::{Bytes, http, http::HeaderMap},
    metadata::{MetadataMap, MetadataValue},
};
use tonic_health::pb::health_server;
use tonic_reflection::pb::{v1 as reflection_v1, v1alpha as reflection_v1alpha};
use tower::{Layer, Service};

use super::accept::{ConnInfo, ConnState, StreamGuard};
use crate::{config::Limits, pb::scope_admin_server};

/// Which budget a call draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Decisions (`CheckScopes`, Envoy ext_authz `Check`) and introspection: the hot path,
    /// `max_in_flight`.
    Work,
    /// `grpc.health.v1.Health`.
    Health,
    /// The admin API and reflection.
    Control,
}

impl Class {
    /// The class of a call to `/{service}/{method}`, by the generated servers' service names.
    fn of(path: &str) -> Self {
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map_or("", |(service, _)| service);
        match service {
            health_server::SERVICE_NAME => Self::Health,
            scope_admin_server::SERVICE_NAME
            | reflection_v1::server_reflection_server::SERVICE_NAME
            | reflection_v1alpha::server_reflection_server::SERVICE_NAME => Self::Control,
            _ => Self::Work,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Work => "work",
            Self::Health => "health",
            Self::Control => "admin",
        }
    }
}

#[derive(Debug)]
struct Budgets {
    work: Arc<Semaphore>,
    health: Arc<Semaphore>,
    control: Arc<Semaphore>,
    per_connection: usize,
    pushback_ms: u64,
}

/// Sheds calls beyond [`Limits`]' in-flight budgets (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct ShedLayer {
    budgets: Arc<Budgets>,
}

impl ShedLayer {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            budgets: Arc::new(Budgets {
                work: Arc::new(Semaphore::new(limits.max_in_flight)),
                health: Arc::new(Semaphore::new(limits.control_in_flight)),
                control: Arc::new(Semaphore::new(limits.control_in_flight)),
                per_connection: limits.max_in_flight_per_connection,
                pushback_ms: u64::try_from(limits.retry_pushback.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            budgets: Arc::clone(&self.budgets),
        }
    }
}

/// The service of [`ShedLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Shed<S> {
    inner: S,
    budgets: Arc<Budgets>,
}

/// A call's share of its budgets, returned when the handler has answered (or was dropped).
#[derive(Debug)]
struct Admission {
    _global: OwnedSemaphorePermit,
    _connection: Option<ConnectionSlot>,
}

#[derive(Debug)]
struct ConnectionSlot(Arc<ConnState>);

impl ConnectionSlot {
    fn take(state: &Arc<ConnState>, limit: usize) -> Option<Self> {
        let before = state.in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = Self(Arc::clone(state));
        (before < limit).then_some(slot)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Budgets {
    fn admit(&self, class: Class, conn: Option<&Arc<ConnState>>) -> Option<Admission> {
        let semaphore = match class {
            Class::Work => &self.work,
            Class::Health => &self.health,
            Class::Control => &self.control,
        };
        let connection = match (class, conn) {
            (Class::Work, Some(state)) => Some(ConnectionSlot::take(state, self.per_connection)?),
            _ => None,
        };
        let global = Arc::clone(semaphore).try_acquire_owned().ok()?;
        Some(Admission {
            _global: global,
            _connection: connection,
        })
    }
}

impl<S, B, R> Service<http::Request<B>> for Shed<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if deadline_passed(request.headers()) {
            let status = Status::deadline_exceeded("the call's deadline passed before it started");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let class = Class::of(request.uri().path());
        let conn = request
            .extensions()
            .get::<ConnInfo>()
            .map(|info| Arc::clone(&info.state));
        let Some(admission) = self.budgets.admit(class, conn.as_ref()) else {
            metrics::counter!("scopegate_calls_shed_total", "class" => class.label()).increment(1);
            let response = shed_response(self.budgets.pushback_ms);
            return Box::pin(std::future::ready(Ok(response)));
        };
        let stream = conn.as_ref().map(ConnState::stream_opened);
        let handled = self.inner.call(request);
        Box::pin(async move {
            let response = handled.await;
            drop(admission);
            Ok(response?.map(|body| {
                Body::new(Tracked {
                    inner: Body::new(body),
                    _stream: stream,
                })
            }))
        })
    }
}

/// `RESOURCE_EXHAUSTED` as a trailers-only response carrying the retry hint (gRPC A6).
fn shed_response(pushback_ms: u64) -> http::Response<Body> {
    let mut metadata = MetadataMap::new();
    metadata.insert("grpc-retry-pushback-ms", MetadataValue::from(pushback_ms));
    Status::with_metadata(
        Code::ResourceExhausted,
        "server overloaded: retry later",
        metadata,
    )
    .into_http()
}

/// Whether the call's `grpc-timeout` is zero: its deadline passed before we saw it. (tonic
/// enforces longer deadlines itself, but only after the handler's first step has run.)
fn deadline_passed(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("grpc-timeout").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

/// A response body that keeps its stream counted as open until it ends or is dropped.
struct Tracked {
    inner: Body,
    _stream: Option<StreamGuard>,
}

impl tonic::codegen::Body for Tracked {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_admin_draw_on_their_own_budgets() {
        assert_eq!(Class::of("/grpc.health.v1.Health/Check"), Class::Health);
        assert_eq!(Class::of("/grpc.health.v1.Health/Watch"), Class::Health);
        assert_eq!(
            Class::of("/scopegate.v1.ScopeAdmin/ManageScope"),
            Class::Control
        );
        assert_eq!(
            Class::of("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Class::Control
        );
        assert_eq!(
            Class::of("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            Class::Control
        );
        assert_eq!(
            Class::of("/scopegate.v1.ScopeDecision/CheckScopes"),
            Class::Work
        );
        assert_eq!(
            Class::of("/envoy.service.auth.v3.Authorization/Check"),
            Class::Work,
            "ext_authz is a decision call"
        );
        assert_eq!(Class::of("/grpc.health.v1.HealthX/Check"), Class::Work);
    }

    #[test]
    fn one_connection_cannot_take_the_whole_budget() {
        let limits = Limits {
            max_in_flight: 10,
            max_in_flight_per_connection: 2,
            ..Limits::default()
        };
        let budgets = ShedLayer::new(&limits).budgets;
        let (greedy, other) = (
            Arc::new(ConnState::new(None)),
            Arc::new(ConnState::new(None)),
        );
        let held: Vec<_> = (0..2)
            .map(|_| budgets.admit(Class::Work, Some(&greedy)).unwrap())
            .collect();

        assert!(budgets.admit(Class::Work, Some(&greedy)).is_none());
        assert!(budgets.admit(Class::Work, Some(&other)).is_some());
        assert!(budgets.admit(Class::Health, Some(&greedy)).is_some());
        drop(held);
        assert!(budgets.admit(Class::Work, Some(&greedy)).is_some());
        assert_eq!(greedy.in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_zero_grpc_timeout_has_already_passed() {
        let mut headers = HeaderMap::new();
        assert!(!deadline_passed(&headers));
        headers.insert("grpc-timeout", "0m".parse().unwrap());
        assert!(deadline_passed(&headers));
        headers.insert("grpc-timeout", "100m".parse().unwrap());
        assert!(!deadline_passed(&headers));
        headers.insert("grpc-timeout", "000n".parse().unwrap());
        assert!(deadline_passed(&headers));
    }

    #[test]
    fn a_shed_call_carries_a_retry_hint() {
        let response = shed_response(250);
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            response.headers().get("grpc-retry-pushback-ms").unwrap(),
            "250"
        );
    }
}
