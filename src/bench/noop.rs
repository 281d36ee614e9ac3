//! The bare tonic no-op (`scopegate bench-noop-server`, hidden): a tonic server exposing only
//! `grpc.health.v1` (tonic-health) with none of scopegate's layers (metrics, tracing, load
//! shedding, limits), no TLS and tonic's default HTTP/2 settings. The bench spawns it like the
//! real server and compares `health_check`'s server CPU per call with it: what our layers and
//! accept loop cost on the cheapest call (issue #15 wants ≤ 1.1×).

use std::net::SocketAddr;

use tonic::transport::{Server, server::TcpIncoming};

/// `scopegate bench-noop-server` options.
#[derive(Debug, Clone, clap::Args)]
pub struct NoopArgs {
    /// Address to listen on (port 0: any free port; the bound address is logged as
    /// `listening`, as `serve` logs it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// Serves `grpc.health.v1.Health` (service `""` SERVING) on `args.listen` until `shutdown`.
pub async fn serve(
    args: &NoopArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
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
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| e.to_string())
}
