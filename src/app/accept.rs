//! Accepting connections without letting them wedge the server: a cap on open connections (a
//! permit held by each), backoff when accepting fails (EMFILE), a deadline for the HTTP/2
//! preface, and an idle timeout for connections with no open stream. The HTTP door accepts
//! through the same loop (`http_conn`): there the "preface" is a request's first 24 bytes.
//!
//! With TLS, each handshake runs in a task of its own (a silent client never holds up the
//! loop), bounded by the handshake timeout and holding its connection's permit.
//!
//! tonic's own accept loop retries a failed `accept` at once (100 % CPU at the open-file limit)
//! and hyper's HTTP/2 server waits for a preface forever, so both live here, below tonic.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::{Instant, Sleep},
};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::io::Conn;
use crate::{caller::Caller, config::Limits, tls::Handshake};

/// Length of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// First and longest pause after a failed `accept`.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepted connections within `limits`, after their TLS handshake when `tls` is given; the
/// listener closes when the stream is dropped.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: &Limits,
    tls: Option<Handshake>,
) -> impl Stream<Item = Result<ServerConn, Infallible>> + use<> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(accept_loop(listener, tx, limits.clone(), tls));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<Result<ServerConn, Infallible>>,
    limits: Limits,
    tls: Option<Handshake>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut backoff = MIN_BACKOFF;
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = MIN_BACKOFF;
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    // Closing at once costs the client a reconnect, not the server a descriptor.
                    metrics::counter!("scopegate_connections_refused_total").increment(1);
                    tracing::debug!(
                        max = limits.max_connections,
                        "connection refused: at max_connections"
                    );
                    drop(stream);
                    continue;
                };
                if let Some(tls) = &tls {
                    tokio::spawn(handshake(
                        tls.clone(),
                        stream,
                        permit,
                        limits.clone(),
                        tx.clone(),
                    ));
                    continue;
                }
                let conn = ServerConn::new(Conn::accepted(stream), None, permit, &limits);
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
            }
            // The client gave up before we accepted: nothing wrong with the listener.
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                // EMFILE, ENFILE, ENOBUFS…: retrying at once spins; descriptors come back as
                // connections close (idle and handshake timeouts see to that).
                if backoff == MIN_BACKOFF {
                    tracing::warn!(%err, "cannot accept connections; backing off");
                }
                metrics::counter!("scopegate_accept_errors_total").increment(1);
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Completes a TLS handshake and hands the connection on; a failed one is dropped (and counted
/// by `Handshake::accept`), freeing its permit.
async fn handshake(
    tls: Handshake,
    stream: tokio::net::TcpStream,
    permit: OwnedSemaphorePermit,
    limits: Limits,
    tx: mpsc::Sender<Result<ServerConn, Infallible>>,
) {
    Conn::set_nodelay(&stream);
    let Some((stream, caller)) = tls.accept(stream, limits.handshake_timeout).await else {
        return;
    };
    let conn = ServerConn::new(Conn::accepted_tls(stream), caller, permit, &limits);
    let _ = tx.send(Ok(conn)).await;
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// What a connection and the calls on it share (calls reach it through tonic's connect info).
#[derive(Debug)]
pub(crate) struct ConnState {
    accepted_at: Instant,
    /// Streams open on the connection: a call counts until its response body ends.
    open_streams: AtomicUsize,
    /// When the last stream ended, in milliseconds after `accepted_at`.
    idle_since_ms: AtomicU64,
    /// Calls on this connection being handled (see `shed`).
    pub(crate) in_flight: AtomicUsize,
    /// Who the connection's client certificate names (mTLS), if it presented one.
    pub(crate) caller: Option<Caller>,
}

impl ConnState {
    pub(crate) fn new(caller: Option<Caller>) -> Self {
        Self {
            accepted_at: Instant::now(),
            open_streams: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            caller,
        }
    }

    /// Counts a stream as open until the guard drops; an open stream keeps the connection from
    /// being idle.
    pub(crate) fn stream_opened(self: &Arc<Self>) -> StreamGuard {
        self.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(Arc::clone(self))
    }

    /// When the connection becomes idle for `timeout`, or `None` while a stream is open.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.open_streams.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.accepted_at + since + timeout)
    }
}

/// An open stream (see [`ConnState::stream_opened`]).
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<ConnState>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let state = &self.0;
        let ms = u64::try_from(state.accepted_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Set before the count drops, so a timer seeing no stream never sees an old time.
        state.idle_since_ms.fetch_max(ms, Ordering::SeqCst);
        state.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What each call learns about its connection (in the request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    #[allow(dead_code)] // Kept so a handler can still learn the peer's address.
    pub tcp: TcpConnectInfo,
    pub state: Arc<ConnState>,
}

/// An accepted connection that ends itself when it does not send the HTTP/2 preface in time, or
/// has no open stream for the idle timeout, and frees its `max_connections` permit when dropped.
/// Ending is an I/O error on read: hyper then closes the connection.
#[derive(Debug)]
pub(crate) struct ServerConn {
    conn: Conn,
    state: Arc<ConnState>,
    /// Until the preface has arrived: its deadline and how many bytes are still missing.
    handshake: Option<(Pin<Box<Sleep>>, usize)>,
    /// The idle timeout and a timer that fires no later than the connection's idle deadline.
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    _permit: OwnedSemaphorePermit,
}

impl ServerConn {
    fn new(
        conn: Conn,
        caller: Option<Caller>,
        permit: OwnedSemaphorePermit,
        limits: &Limits,
    ) -> Self {
        let state = Arc::new(ConnState::new(caller));
        let handshake = Some((
            Box::pin(tokio::time::sleep(limits.handshake_timeout)),
            PREFACE_LEN,
        ));
        let idle = limits
            .idle_timeout
            .map(|timeout| (timeout, Box::pin(tokio::time::sleep(timeout))));
        Self {
            conn,
            state,
            handshake,
            idle,
            _permit: permit,
        }
    }

    /// What this connection shares with the calls on it.
    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }

    /// The peer's address, when the socket still knows it.
    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.conn
            .connect_info()
            .remote_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Whether this connection has overstayed; polled on every read so the timers wake the
    /// connection's task.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if let Some((deadline, _)) = &mut self.handshake {
            if deadline.as_mut().poll(cx).is_ready() {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface (or first request bytes) within the handshake timeout",
                ));
            }
            return None;
        }
        let (timeout, timer) = self.idle.as_mut()?;
        // The timer is only a wake-up: on firing, re-arm it at the current deadline (a stream
        // may have opened or ended since it was set) and close only once that has passed.
        while timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            match self.state.idle_deadline(*timeout) {
                Some(deadline) if deadline <= now => {
                    return Some(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle for the idle timeout",
                    ));
                }
                Some(deadline) => timer.as_mut().reset(deadline),
                None => timer.as_mut().reset(now + *timeout),
            }
        }
        None
    }
}

impl Connected for ServerConn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            tcp: self.conn.connect_info(),
            state: Arc::clone(&self.state),
        }
    }
}

impl AsyncRead for ServerConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_expired(cx) {
            return Poll::Ready(Err(err));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.conn).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((_, missing))) = (&polled, &mut this.handshake) {
            *missing = missing.saturating_sub(buf.filled().len() - before);
            if *missing == 0 {
                this.handshake = None;
            }
        }
        polled
    }
}

impl AsyncWrite for ServerConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().conn).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().conn).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().conn).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.conn.is_write_vectored()
    }
}
