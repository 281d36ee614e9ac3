//! A JWKS endpoint on 127.0.0.1 for tests: serves whatever set it holds, counts its fetches,
//! and can hold every answer until the test releases it (to keep a verification in flight).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

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
    body: Arc<Mutex<String>>,
    fetched: watch::Receiver<usize>,
    release: watch::Sender<bool>,
}

impl JwksServer {
    /// A server that answers at once.
    pub async fn start(body: String) -> Self {
        Self::spawn(body, true).await
    }

    /// A server that holds every answer until [`JwksServer::release`].
    pub async fn held(body: String) -> Self {
        Self::spawn(body, false).await
    }

    async fn spawn(body: String, open: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(body));
        let (count, fetched) = watch::channel(0usize);
        let (release, released) = watch::channel(open);
        let served = Arc::clone(&body);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (served, count, mut released) =
                    (Arc::clone(&served), count.clone(), released.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    count.send_modify(|n| *n += 1);
                    let _ = released.wait_for(|open| *open).await;
                    let text = served.lock().unwrap().clone();
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
            body,
            fetched,
            release,
        }
    }

    /// How many fetches arrived.
    pub fn fetches(&self) -> usize {
        *self.fetched.borrow()
    }

    /// Serves `body` from now on.
    pub fn serve(&self, body: String) {
        *self.body.lock().unwrap() = body;
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
