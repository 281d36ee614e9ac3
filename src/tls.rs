//! TLS on every listener (gRPC, HTTP door, metrics) and in our own clients: rustls on the
//! aws-lc-rs provider, TLS 1.2 and 1.3 only. The server's certificate is reloaded when its
//! files change (`tls/reload.rs`); with a client CA, only callers presenting a certificate from
//! it complete the handshake, and the certificate names the [`Caller`].
//!
//! Handshakes run in a task per connection, off the accept loop, bounded by the handshake
//! timeout and holding a connection permit (`app/accept.rs`).

mod der;
mod files;
mod reload;

use std::{io, path::Path, sync::Arc, time::Duration};

use rustls::{ClientConfig, ServerConfig, server::WebPkiClientVerifier};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, server::TlsStream};

use crate::{caller::Caller, config::TlsSettings};
use reload::ReloadingCert;

/// ALPN of the gRPC port: HTTP/2 only.
const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of the HTTP door and the metrics port: HTTP/1.1, what they serve (axum is built
/// without HTTP/2; offering `h2` would strand a client that picks it).
const ALPN_HTTP: &[&[u8]] = &[b"http/1.1"];

/// The server side: one reloading certificate shared by every listener.
#[derive(Clone)]
pub struct ServerTls {
    grpc: TlsAcceptor,
    http: TlsAcceptor,
    cert: Arc<ReloadingCert>,
    reload_interval: Duration,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.cert)
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads and checks the certificate, key and client CA; an error names the file at fault.
    pub fn load(settings: &TlsSettings) -> Result<Self, String> {
        let cert = Arc::new(ReloadingCert::load(
            settings.cert.clone(),
            settings.key.clone(),
        )?);
        let verifier = match &settings.client_ca {
            Some(path) => {
                let roots = files::load_roots(path, "TLS client CA")?;
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), files::provider());
                let builder = if settings.client_auth_optional {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                let verifier = builder
                    .build()
                    .map_err(|e| format!("unusable TLS client CA {}: {e}", path.display()))?;
                Some(verifier)
            }
            None => None,
        };
        let config = |alpn: &[&[u8]]| -> Result<TlsAcceptor, String> {
            let builder = ServerConfig::builder_with_provider(files::provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| format!("cannot set up TLS: {e}"))?;
            let builder = match &verifier {
                Some(verifier) => builder.with_client_cert_verifier(Arc::clone(verifier)),
                None => builder.with_no_client_auth(),
            };
            let mut config = builder.with_cert_resolver(Arc::clone(&cert) as _);
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        Ok(Self {
            grpc: config(ALPN_GRPC)?,
            http: config(ALPN_HTTP)?,
            reload_interval: settings.reload_interval,
            cert,
        })
    }

    /// The gRPC port's handshakes.
    pub(crate) fn grpc(&self, listener: &'static str) -> Handshake {
        Handshake {
            acceptor: self.grpc.clone(),
            listener,
        }
    }

    /// The HTTP door's and the metrics port's handshakes.
    pub(crate) fn http(&self, listener: &'static str) -> Handshake {
        Handshake {
            acceptor: self.http.clone(),
            listener,
        }
    }

    /// Reloads the certificate when its files change; runs until dropped.
    pub fn watch(&self) -> impl Future<Output = ()> + Send + 'static {
        Arc::clone(&self.cert).watch(self.reload_interval)
    }
}

/// The server side of one listener's handshakes.
#[derive(Clone)]
pub(crate) struct Handshake {
    acceptor: TlsAcceptor,
    /// The listener's name in metrics (`grpc`, `http`, `metrics`).
    listener: &'static str,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Completes the handshake within `timeout`, with the caller its client certificate names;
    /// a failure is counted (`scopegate_tls_handshake_failures_total{listener, reason}`).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Option<(TlsStream<TcpStream>, Option<Caller>)> {
        let reason = match tokio::time::timeout(timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let caller = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(files::caller_of);
                return Some((tls, caller));
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, listener = self.listener, "TLS handshake failed");
                failure_reason(&err)
            }
            Err(_) => "timeout",
        };
        metrics::counter!(
            "scopegate_tls_handshake_failures_total",
            "listener" => self.listener,
            "reason" => reason
        )
        .increment(1);
        None
    }
}

/// A bounded label for a failed handshake.
fn failure_reason(err: &io::Error) -> &'static str {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "bad_client_certificate",
        Some(rustls::Error::AlertReceived(_)) => "alert_received",
        Some(rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }) => {
            "not_tls"
        }
        Some(_) => "refused",
        None => "io",
    }
}

/// A client configuration trusting only the CA certificates in `ca` (no system roots), with
/// the client certificate and key of `identity` for mTLS, offering ALPN `h2`.
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientConfig, String> {
    let roots = files::load_roots(ca, "CA certificate")?;
    let builder = ClientConfig::builder_with_provider(files::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let (chain, key) = files::load_client_pair(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("unusable client certificate {}: {e}", cert.display()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
