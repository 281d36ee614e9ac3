//! A stub authorization server on 127.0.0.1 whose RFC 7662 answers the test can hold open (to
//! keep an upstream introspection in flight while a settings write commits) and that names the
//! configuration that asked: it answers `active` with `client_id` set to the last segment of the
//! path it was called on. Hand-written on axum because wiremock cannot gate (`set_delay` is a
//! fixed time, not a gate the test opens).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, Uri},
};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::tokens::now;

/// Bound on waiting for a call: far above what any test needs.
const PATIENCE: Duration = Duration::from_secs(30);

struct Shared {
    /// Calls received (counted on arrival, before the gate).
    received: watch::Sender<usize>,
    /// Whether answers may go.
    open: watch::Sender<bool>,
    /// The `authorization` header of every call, in arrival order.
    credentials: Mutex<Vec<String>>,
}

/// The stub; it stops with the test's runtime.
pub struct HeldUpstream {
    base: String,
    shared: Arc<Shared>,
}

impl HeldUpstream {
    /// A stub that answers at once until [`HeldUpstream::hold`].
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            received: watch::channel(0).0,
            open: watch::channel(true).0,
            credentials: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    /// The endpoint whose answers say `client_id: name`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/introspect/{name}", self.base)
    }

    /// Holds every answer from now on until [`HeldUpstream::release`].
    pub fn hold(&self) {
        self.shared.open.send_replace(false);
    }

    /// Lets every held answer (and every later one) go.
    pub fn release(&self) {
        self.shared.open.send_replace(true);
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        *self.shared.received.borrow()
    }

    /// The `authorization` header of every call so far.
    pub fn credentials(&self) -> Vec<String> {
        self.shared.credentials.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` calls arrived.
    pub async fn wait_for_calls(&self, n: usize) {
        let mut received = self.shared.received.subscribe();
        let waited = tokio::time::timeout(PATIENCE, received.wait_for(|&seen| seen >= n)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "the upstream never received call {n}"
        );
    }
}

async fn answer(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Json<Value> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared.credentials.lock().unwrap().push(authorization);
    let mut call = 0;
    shared.received.send_modify(|n| {
        *n += 1;
        call = *n;
    });
    let mut open = shared.open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    // A little jitter in when answers land, for the randomized test's interleavings.
    for _ in 0..call % 4 {
        tokio::task::yield_now().await;
    }
    let name = uri.path().rsplit('/').next().unwrap_or_default();
    Json(json!({
        "active": true,
        "scope": "profile",
        "client_id": name,
        "exp": now() + 600,
    }))
}
