//! Connection, stream, in-flight and time bounds: what clients may hold of the server.

use std::time::Duration;

/// What one client, or all of them together, may hold of the server: connections, streams,
/// calls in flight and time. Beyond these the server refuses or sheds at once rather than
/// queueing, so a flood costs its sender retries instead of everyone latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most open connections; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` announced on every connection.
    pub max_concurrent_streams: u32,
    /// Most decision and introspection calls being handled at once, over all connections;
    /// beyond it calls are shed with `RESOURCE_EXHAUSTED`.
    pub max_in_flight: usize,
    /// Most of those on one connection, so one client cannot take the whole budget.
    pub max_in_flight_per_connection: usize,
    /// Calls in flight allowed to health checks, and separately to admin and reflection calls,
    /// outside `max_in_flight`: probes and operators still get through a flood.
    pub control_in_flight: usize,
    /// How long a new connection may take to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// A connection with no open stream for this long is closed; `None` never.
    pub idle_timeout: Option<Duration>,
    /// HTTP/2 PING interval on a quiet connection; `None` sends none.
    pub keepalive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// What shed calls tell the client to wait before retrying (`grpc-retry-pushback-ms`).
    pub retry_pushback: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_concurrent_streams: 1_024,
            max_in_flight: 4_096,
            max_in_flight_per_connection: 512,
            control_in_flight: 128,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_timeout: Duration::from_secs(20),
            retry_pushback: Duration::from_millis(100),
        }
    }
}
