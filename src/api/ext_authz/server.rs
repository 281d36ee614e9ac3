//! The `envoy.service.auth.v3.Authorization` gRPC service, written out by hand (as
//! tonic-build would generate it) so that `Check` decodes the slim request of [`super::wire`]
//! instead of `envoy-types`' full `CheckRequest`; the answer is a `CheckResponse` already
//! encoded ([`super::encode`]).

use std::{convert::Infallible, sync::Arc};

use tonic::{
    Status,
    codegen::{Body, BoxFuture, Context, Poll, Service, StdError, http},
    server::{Grpc, NamedService, UnaryService},
};
use tonic_prost::ProstCodec;

use super::{ExtAuthzService, SERVICE_NAME, encode::Encoded, wire};

/// The one method's path.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// The routable service: `Check` on [`ExtAuthzService`], with a cap on the request's size.
#[derive(Debug, Clone)]
pub struct AuthorizationServer {
    inner: Arc<ExtAuthzService>,
    max_decoding_message_size: Option<usize>,
}

impl AuthorizationServer {
    /// Serves `inner`.
    pub fn new(inner: ExtAuthzService) -> Self {
        Self {
            inner: Arc::new(inner),
            max_decoding_message_size: None,
        }
    }

    /// Largest encoded request decoded (tonic answers `OUT_OF_RANGE` beyond; default 4 MiB).
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_decoding_message_size = Some(limit);
        self
    }
}

impl NamedService for AuthorizationServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> Service<http::Request<B>> for AuthorizationServer
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
        if request.uri().path() != CHECK_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let check = Check(Arc::clone(&self.inner));
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let codec = ProstCodec::<Encoded, wire::CheckRequest>::default();
            let mut grpc = Grpc::new(codec).apply_max_message_size_config(limit, None);
            Ok(grpc.unary(check, request).await)
        })
    }
}

/// `Check` as tonic's unary service.
struct Check(Arc<ExtAuthzService>);

impl UnaryService<wire::CheckRequest> for Check {
    type Response = Encoded;
    type Future = BoxFuture<tonic::Response<Encoded>, Status>;

    fn call(&mut self, request: tonic::Request<wire::CheckRequest>) -> Self::Future {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            let caller = request.extensions().get::<crate::caller::Caller>();
            let answer = inner.check(request.get_ref(), caller).await?;
            Ok(tonic::Response::new(answer))
        })
    }
}
