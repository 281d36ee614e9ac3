//! The HTTP door's connections under the gRPC port's bounds: the same accept loop (`accept`:
//! connection cap, accept backoff, handshake and idle timeouts) behind axum's `Listener`, and
//! a layer that counts each request as an open stream until its response body ends, so a
//! connection is idle only between requests. The metrics port is served the same way.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, connect_info::Connected},
    middleware::Next,
    response::Response,
    serve::IncomingStream,
};
use tokio::net::TcpListener;
use tokio_stream::{Stream, StreamExt};
use tracing::Instrument as _;

use super::accept::{self, ConnState, ServerConn, StreamGuard};
use crate::{config::Limits, tls::Handshake};

type Incoming = Pin<Box<dyn Stream<Item = Result<ServerConn, Infallible>> + Send>>;

/// The HTTP door's listener: connections accepted within `limits` (see `accept`).
pub(crate) struct HttpListener {
    incoming: Incoming,
    local_addr: io::Result<SocketAddr>,
}

impl HttpListener {
    /// Accepts on `listener`, after a TLS handshake when `tls` is given.
    pub(crate) fn new(listener: TcpListener, limits: &Limits, tls: Option<Handshake>) -> Self {
        let local_addr = listener.local_addr();
        Self {
            incoming: Box::pin(accept::incoming(listener, limits, tls)),
            local_addr,
        }
    }
}

impl axum::serve::Listener for HttpListener {
    type Io = ServerConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ServerConn, SocketAddr) {
        match self.incoming.next().await {
            Some(Ok(conn)) => {
                let peer = conn.peer_addr();
                (conn, peer)
            }
            // The accept loop ends only once this stream is dropped: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.local_addr {
            Ok(addr) => Ok(*addr),
            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
        }
    }
}

/// What a request on the HTTP door learns about its connection.
#[derive(Debug, Clone)]
pub(crate) struct HttpConnInfo(Arc<ConnState>);

impl Connected<IncomingStream<'_, HttpListener>> for HttpConnInfo {
    fn connect_info(stream: IncomingStream<'_, HttpListener>) -> Self {
        Self(Arc::clone(stream.io().state()))
    }
}

/// Middleware: keeps the request's stream open on its connection until the response body ends
/// or is dropped (see `accept::ConnState`), gives handlers the connection's
/// [`crate::caller::Caller`] as a request extension when its client certificate named one, and
/// runs the request in an `http` span naming its endpoint (a fixed label, never the path) and,
/// once known, its `caller` (the certificate's, or the caller gate's).
pub(crate) async fn track_request(mut request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "http",
        endpoint = endpoint(request.uri().path()),
        tenant = tracing::field::Empty,
        caller = tracing::field::Empty
    );
    let info = request
        .extensions()
        .get::<ConnectInfo<HttpConnInfo>>()
        .map(|ConnectInfo(info)| Arc::clone(&info.0));
    let stream = info.as_ref().map(ConnState::stream_opened);
    if let Some(caller) = info.and_then(|state| state.caller.clone()) {
        span.record("caller", tracing::field::display(&caller));
        request.extensions_mut().insert(caller);
    }
    let response = next.run(request).instrument(span).await;
    response.map(|inner| {
        Body::new(Tracked {
            inner,
            _stream: stream,
        })
    })
}

/// The endpoint a path belongs to, as a fixed label for the request's span.
fn endpoint(path: &str) -> &'static str {
    let tenant_path = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split_once('/'));
    match path {
        "/healthz" | "/readyz" => "probe",
        "/metrics" => "metrics",
        "/oauth2/introspect" => "introspect",
        "/.well-known/authzen-configuration" => "authzen",
        "/v1/authorize" => "forward_auth",
        _ if path.starts_with("/v1/authorize/") => "forward_auth",
        _ if path.starts_with("/access/v1/") => "authzen",
        _ => match tenant_path {
            Some((_, "oauth2/introspect")) => "introspect",
            Some((_, rest)) if rest.starts_with(".well-known/oauth-protected-resource") => {
                "resource_metadata"
            }
            _ => "other",
        },
    }
}

/// A response body that keeps its stream counted as open until it ends or is dropped.
struct Tracked {
    inner: Body,
    _stream: Option<StreamGuard>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
