//! A TCP connection with `TCP_NODELAY` and writes that h2 may coalesce, plain or under TLS: the
//! server's accepted connections, and the bench's own client connections.
//!
//! h2 copies a DATA frame into its write buffer only when the payload is under a threshold:
//! 256 bytes when the transport supports vectored writes, 1 KiB when it does not. A larger
//! frame is written on its own, flushing the buffer first, so an answer of 256 bytes to 1 KiB
//! (an `Introspect` answer, say) costs one `writev` per response. Reporting no vectored
//! writes makes such answers join the buffer: one write carries the answers of many streams.
//! A client has the same problem the other way round: a request carrying an 850-byte token is
//! flushed alone, and its end-of-stream frame in a second write.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection whose writes h2 may coalesce (see the module docs).
#[derive(Debug)]
pub(crate) struct Conn(Stream);

#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    /// Connects to `addr` with `TCP_NODELAY`.
    pub(crate) async fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self(Stream::Plain(stream)))
    }

    /// Connects to `addr` with `TCP_NODELAY` and completes a TLS handshake, expecting a
    /// certificate for `server_name`.
    pub(crate) async fn connect_tls(
        addr: &str,
        server_name: rustls::pki_types::ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name, stream)
            .await?;
        Ok(Self(Stream::Client(Box::new(tls))))
    }

    /// An accepted connection after its TLS handshake (`TCP_NODELAY` already set).
    pub(crate) fn accepted_tls(stream: tokio_rustls::server::TlsStream<TcpStream>) -> Self {
        Self(Stream::Server(Box::new(stream)))
    }

    /// Sets `TCP_NODELAY` on an accepted socket (see [`Conn::accepted`]).
    pub(crate) fn set_nodelay(stream: &TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    }

    /// Wraps an accepted connection, with `TCP_NODELAY` (`Server::tcp_nodelay` is ignored for
    /// an incoming stream we accept ourselves: without it, Nagle holds an answer's last segment
    /// until the client's delayed ACK, ~40 ms).
    pub(crate) fn accepted(stream: TcpStream) -> Self {
        Self::set_nodelay(&stream);
        Self(Stream::Plain(stream))
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match &self.0 {
            Stream::Plain(tcp) => tcp.connect_info(),
            Stream::Server(tls) => tls.get_ref().0.connect_info(),
            Stream::Client(tls) => tls.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Server(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Stream::Client(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Server(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Stream::Client(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Server(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Stream::Client(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Server(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Stream::Client(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}
