//! The bare tonic no-op (`scopegate bench-noop-server`, hidden): a measuring stick, not the
//! product. A tonic server with none of scopegate's layers (metrics, tracing, load shedding,
//! limits), no TLS and tonic's default HTTP/2 settings, serving `grpc.health.v1` (tonic-health)
//! and, when the bench hands it canned answers, `scopegate.v1.ScopeDecision/CheckScopes` and
//! `scopegate.v1.TokenIntrospection/Introspect` with NO logic: each call's request is decoded
//! fully with prost (as tonic's generated server does) and answered with the canned message,
//! encoded with prost on every call (no per-call copy of it), so a call costs what h2, HPACK,
//! prost and the socket cost for those bytes and nothing else. The bench takes the canned
//! answers from what the real server answered to the same request, so they have its shape and
//! size. Every other method of those services answers UNIMPLEMENTED.
//!
//! The bench compares `health_check`'s server CPU per call with the health no-op (what our
//! layers and accept loop cost on the cheapest call: issue #15 wants ≤ 1.1×) and measures the
//! transport floor of a cached `CheckScopes` / `Introspect` (bare call ÷ bare health no-op).
//! Nothing here may ever answer a real caller: it allows everything it is asked.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    marker::PhantomData,
    net::SocketAddr,
    sync::Arc,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost::Message;
use tonic::{
    Status,
    codec::{Codec, EncodeBuf, Encoder},
    codegen::{Body, BoxFuture, Context, Poll, Service, StdError, http},
    server::{Grpc, NamedService, UnaryService},
    transport::{Server, server::TcpIncoming},
};
use tonic_prost::ProstDecoder;

use crate::pb::{self, scope_decision_server, token_introspection_server};

const CHECK_SCOPES: &str = "/scopegate.v1.ScopeDecision/CheckScopes";
const INTROSPECT: &str = "/scopegate.v1.TokenIntrospection/Introspect";

/// `scopegate bench-noop-server` options.
#[derive(Debug, Clone, clap::Args)]
pub struct NoopArgs {
    /// Address to listen on (port 0: any free port; the bound address is logged as
    /// `listening`, as `serve` logs it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// A `CheckScopesResponse` (protobuf, then base64) answered to every `CheckScopes`, each
    /// result's `correlation_id` echoed from the request's check; without it `ScopeDecision`
    /// is not served.
    #[arg(long, value_name = "BASE64")]
    pub check_scopes_answer: Option<String>,
    /// An `IntrospectResponse` (protobuf, then base64) answered to every `Introspect`; without
    /// it `TokenIntrospection` is not served.
    #[arg(long, value_name = "BASE64")]
    pub introspect_answer: Option<String>,
}

/// Serves `grpc.health.v1.Health` (service `""` SERVING), and the canned `CheckScopes` and
/// `Introspect` of `args`, on `args.listen` until `shutdown`.
pub async fn serve(
    args: &NoopArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let decision = canned::<pb::CheckScopesResponse>(args.check_scopes_answer.as_deref())?
        .map(|answer| DecisionNoop(Arc::new(answer)));
    let introspection = canned::<pb::IntrospectResponse>(args.introspect_answer.as_deref())?
        .map(|answer| IntrospectionNoop(Arc::new(answer)));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // TCP_NODELAY as scopegate's own sockets have it: otherwise Nagle would dominate.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (_reporter, health) = tonic_health::server::health_reporter();
    tracing::info!(%addr, "listening");
    Server::builder()
        .add_service(health)
        .add_optional_service(decision)
        .add_optional_service(introspection)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// The canned answer `base64` encodes, if given.
fn canned<M: Message + Default>(base64: Option<&str>) -> Result<Option<M>, String> {
    let Some(text) = base64 else { return Ok(None) };
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("a canned answer is not base64: {e}"))?;
    M::decode(bytes.as_slice())
        .map(Some)
        .map_err(|e| format!("a canned answer does not decode: {e}"))
}

/// The canned `CheckScopes` answer for `checks`: the canned one itself when its correlation ids
/// are the request's (the bench's case: no copy per call), else one result per check, cycling
/// through the canned results, each with its check's correlation id.
fn echo(
    answer: &Arc<pb::CheckScopesResponse>,
    checks: &[pb::Check],
) -> Arc<pb::CheckScopesResponse> {
    let canned = &answer.results;
    let same = checks.len() == canned.len()
        && checks
            .iter()
            .zip(canned)
            .all(|(c, r)| c.correlation_id == r.correlation_id);
    if same || canned.is_empty() {
        return Arc::clone(answer);
    }
    let results = checks
        .iter()
        .zip(canned.iter().cycle())
        .map(|(check, result)| pb::CheckResult {
            correlation_id: check.correlation_id.clone(),
            ..result.clone()
        })
        .collect();
    Arc::new(pb::CheckScopesResponse { results })
}

/// `ScopeDecision` with only `CheckScopes`, answering the canned message.
#[derive(Debug, Clone)]
struct DecisionNoop(Arc<pb::CheckScopesResponse>);

/// `TokenIntrospection` with only `Introspect`, answering the canned message.
#[derive(Debug, Clone)]
struct IntrospectionNoop(Arc<pb::IntrospectResponse>);

impl NamedService for DecisionNoop {
    const NAME: &'static str = scope_decision_server::SERVICE_NAME;
}

impl NamedService for IntrospectionNoop {
    const NAME: &'static str = token_introspection_server::SERVICE_NAME;
}

impl UnaryService<pb::CheckScopesRequest> for DecisionNoop {
    type Response = Arc<pb::CheckScopesResponse>;
    type Future = Ready<Result<tonic::Response<Self::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<pb::CheckScopesRequest>) -> Self::Future {
        ready(Ok(tonic::Response::new(echo(
            &self.0,
            &request.get_ref().checks,
        ))))
    }
}

impl UnaryService<pb::IntrospectRequest> for IntrospectionNoop {
    type Response = Arc<pb::IntrospectResponse>;
    type Future = Ready<Result<tonic::Response<Self::Response>, Status>>;

    fn call(&mut self, _request: tonic::Request<pb::IntrospectRequest>) -> Self::Future {
        ready(Ok(tonic::Response::new(Arc::clone(&self.0))))
    }
}

impl<B> Service<http::Request<B>> for DecisionNoop
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        unary(CHECK_SCOPES, self.clone(), request)
    }
}

impl<B> Service<http::Request<B>> for IntrospectionNoop
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        unary(INTROSPECT, self.clone(), request)
    }
}

/// `request` served by `method` when its path is `path`, else UNIMPLEMENTED: what a
/// generated server does, one boxed future per call.
fn unary<Req, Resp, S, B>(
    path: &'static str,
    method: S,
    request: http::Request<B>,
) -> BoxFuture<http::Response<tonic::body::Body>, Infallible>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Send + Sync + 'static,
    S: UnaryService<Req, Response = Arc<Resp>> + Send + 'static,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    if request.uri().path() != path {
        return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
    }
    Box::pin(async move {
        let mut grpc = Grpc::new(SharedCodec::<Resp, Req>(PhantomData));
        Ok(grpc.unary(method, request).await)
    })
}

/// tonic's prost codec, but answering a shared message: decodes `Req` with prost, encodes the
/// `Arc<Resp>` with prost on every call without copying it first.
struct SharedCodec<Resp, Req>(PhantomData<fn() -> (Resp, Req)>);

impl<Resp, Req> Codec for SharedCodec<Resp, Req>
where
    Resp: Message + Send + Sync + 'static,
    Req: Message + Default + Send + 'static,
{
    type Encode = Arc<Resp>;
    type Decode = Req;
    type Encoder = SharedEncoder<Resp>;
    type Decoder = ProstDecoder<Req>;

    fn encoder(&mut self) -> Self::Encoder {
        SharedEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Encodes the shared message with prost, as tonic's `ProstEncoder` encodes an owned one.
struct SharedEncoder<Resp>(PhantomData<fn() -> Resp>);

impl<Resp: Message> Encoder for SharedEncoder<Resp> {
    type Item = Arc<Resp>;
    type Error = Status;

    fn encode(&mut self, item: Arc<Resp>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, scope: &str) -> pb::CheckResult {
        pb::CheckResult {
            correlation_id: id.to_owned(),
            allowed: true,
            granted: vec![scope.to_owned()],
            ..Default::default()
        }
    }

    fn check(id: &str) -> pb::Check {
        pb::Check {
            correlation_id: id.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn the_canned_check_scopes_answer_is_shared_when_the_correlation_ids_match() {
        let answer = Arc::new(pb::CheckScopesResponse {
            results: vec![result("", "a")],
        });

        let echoed = echo(&answer, &[check("")]);

        assert!(Arc::ptr_eq(&echoed, &answer));
    }

    #[test]
    fn each_check_gets_a_canned_result_with_its_own_correlation_id() {
        let answer = Arc::new(pb::CheckScopesResponse {
            results: vec![result("", "a"), result("", "b")],
        });

        let echoed = echo(&answer, &[check("x"), check("y"), check("z")]);

        let expected = vec![result("x", "a"), result("y", "b"), result("z", "a")];
        assert_eq!(echoed.results, expected);
    }

    #[test]
    fn a_canned_answer_is_base64_of_the_protobuf_message() {
        let answer = pb::IntrospectResponse {
            active: true,
            ..Default::default()
        };
        let text = STANDARD.encode(answer.encode_to_vec());

        assert_eq!(
            canned::<pb::IntrospectResponse>(Some(&text)),
            Ok(Some(answer))
        );
        assert_eq!(canned::<pb::IntrospectResponse>(None), Ok(None));
        assert!(canned::<pb::IntrospectResponse>(Some("not base64!")).is_err());
    }
}
