//! A JWKS endpoint on 127.0.0.1 that holds every answer until the test releases it (to keep a
//! verification in flight), and counts its fetches. Hand-written because wiremock cannot do
//! this: its `Respond::respond` is synchronous and `set_delay` is a fixed time, not a gate the
//! test opens. JWKS endpoints that answer at once are wiremock `MockServer`s.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::watch,
};

use crate::{
    helpers::TestApp,
    tokens::{Idp, create_tenant_with},
};

/// Bound on waiting for a fetch: far above what any test needs.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct JwksServer {
    pub url: String,
    fetched: watch::Receiver<usize>,
    release: watch::Sender<bool>,
}

impl JwksServer {
    /// A server that holds every answer (`body`) until [`JwksServer::release`].
    pub async fn held(body: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body: Arc<str> = body.into();
        let (count, fetched) = watch::channel(0usize);
        let (release, released) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (text, count, mut released) =
                    (Arc::clone(&body), count.clone(), released.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    count.send_modify(|n| *n += 1);
                    let _ = released.wait_for(|open| *open).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            fetched,
            release,
        }
    }

    /// Lets every held answer (and every later one) go.
    pub fn release(&self) {
        self.release.send_replace(true);
    }

    /// Waits (bounded) until at least `n` fetches arrived.
    pub async fn wait_for_fetches(&self, n: usize) {
        let mut fetched = self.fetched.clone();
        let waited = tokio::time::timeout(PATIENCE, fetched.wait_for(|&seen| seen >= n)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the server never fetched the JWK set"
        );
    }
}

/// Creates tenant `school` (loopwise preset) trusting `idp`, whose keys come from `jwks_uri`.
pub async fn create_tenant_with_jwks_uri(app: &TestApp, idp: &Idp, jwks_uri: &str) {
    let mut settings = idp.settings();
    settings.jwks = None;
    settings.jwks_uri = Some(jwks_uri.to_owned());
    create_tenant_with(app, "school", "loopwise", settings).await;
}
