//! The stub authorization server of `introspect_cold_opaque`: an RFC 7662 endpoint on
//! 127.0.0.1 inside the bench process that reads each form body and answers one canned active
//! answer to any token. It runs on a thread and a single-threaded runtime of its own, so its CPU
//! time can be read apart from the load generator's (`/proc/<pid>/task/<tid>/schedstat`) and
//! reported next to the scenario: the scenario measures scopegate's overhead, and this says what
//! the stand-in IdP cost on the same cores.

use std::{
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{
    BenchError,
    setup::{Admin, CLIENT_ID, issuer, setup_failed, token_scope},
};
use crate::{pb, preset::CatalogFile};

/// The stub IdP's answer to every opaque token: active for an hour, the bench tokens' scopes
/// and client.
pub(crate) fn answer() -> Value {
    json!({
        "active": true,
        "scope": token_scope(),
        "client_id": CLIENT_ID,
        "exp": crate::store::now_ms() / 1000 + 3600,
    })
}

/// Creates a tenant from the `oidc` preset whose opaque tokens are introspected at `endpoint`
/// (no audiences of its own: its authorization server decides whom tokens are for), then
/// imports `catalog`.
pub(crate) async fn create_tenant(
    admin: &Admin,
    id: &str,
    endpoint: &str,
    catalog: &CatalogFile,
) -> Result<(), BenchError> {
    let settings = pb::TenantSettings {
        issuer: Some(issuer(id)),
        upstream_introspection: Some(pb::UpstreamIntrospection {
            endpoint: endpoint.to_owned(),
            client_id: "scopegate-bench".to_owned(),
            client_secret: uuid::Uuid::new_v4().simple().to_string(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let create = pb::CreateTenant {
        id: id.to_owned(),
        display_name: "scopegate bench, opaque tokens (throwaway)".to_owned(),
        preset: "oidc".to_owned(),
        settings: Some(settings),
    };
    admin
        .tenant(pb::manage_tenant_request::Action::Create(create))
        .await
        .map_err(|s| setup_failed("ManageTenant create", &s))?;
    admin.import(id, catalog).await
}

/// What a spawned server needs to call the stub: plain http, to 127.0.0.1 only (not every
/// private network).
pub(crate) const SERVER_CONFIG: &str =
    "jwks_allow_plain_http = true\njwks_allow_networks = [\"127.0.0.1/32\"]\n";

/// The introspection endpoint's path.
const PATH: &str = "/introspect";

/// One thread of this process, whose CPU time can be read while it runs (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadClock {
    pid: u32,
    tid: u32,
}

impl ThreadClock {
    /// The calling thread, where `/proc/thread-self` names it.
    fn current() -> Option<Self> {
        let link = std::fs::read_link("/proc/thread-self").ok()?;
        let text = link.to_str()?;
        let (pid, tid) = text.split_once("/task/")?;
        Some(Self {
            pid: pid.trim_start_matches("/proc/").parse().ok()?,
            tid: tid.parse().ok()?,
        })
    }

    /// CPU time the thread has used so far, in nanoseconds.
    pub fn cpu_ns(self) -> Option<u64> {
        let path = format!("/proc/{}/task/{}/schedstat", self.pid, self.tid);
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

/// The running stub; stopped and joined when dropped.
#[derive(Debug)]
pub(crate) struct IdpStub {
    /// `http://127.0.0.1:<port>/introspect`.
    pub endpoint: String,
    /// The stub's thread, when its CPU time can be read.
    pub clock: Option<ThreadClock>,
    calls: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IdpStub {
    /// Starts the stub answering `answer` (a JSON object) to every introspection.
    pub fn start(answer: &Value) -> Result<Self, BenchError> {
        let failed = |e: std::io::Error| BenchError::Setup(format!("stub IdP: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").map_err(failed)?;
        listener.set_nonblocking(true).map_err(failed)?;
        let endpoint = format!("http://{}{PATH}", listener.local_addr().map_err(failed)?);
        let body = Bytes::from(answer.to_string());
        let calls = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = oneshot::channel::<()>();
        let (started, clock) = mpsc::channel();
        let counter = Arc::clone(&calls);
        let thread = std::thread::Builder::new()
            .name("bench-idp-stub".into())
            .spawn(move || serve(listener, body, counter, stopped, &started))
            .map_err(failed)?;
        let clock = clock
            .recv()
            .map_err(|_| BenchError::Setup("the stub IdP did not start".into()))??;
        Ok(Self {
            endpoint,
            clock,
            calls,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Introspections answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for IdpStub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Started = mpsc::Sender<Result<Option<ThreadClock>, BenchError>>;

/// The stub's thread: a runtime of its own serving until `stopped` (or its sender is dropped).
fn serve(
    listener: TcpListener,
    body: Bytes,
    calls: Arc<AtomicU64>,
    stopped: oneshot::Receiver<()>,
    started: &Started,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(BenchError::Setup(format!("stub IdP runtime: {e}"))));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(BenchError::Setup(format!("stub IdP: {e}"))));
                return;
            }
        };
        let _ = started.send(Ok(ThreadClock::current()));
        let app = Router::new()
            .route(PATH, post(introspect))
            .with_state((body, calls));
        // Not a graceful shutdown: the server under test may hold idle connections open, and
        // the bench must not wait on them. Dropping the runtime closes them.
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = stopped => {}
        }
    });
}

/// Reads the form (as an IdP must, to find the token) and answers the canned JSON.
async fn introspect(
    State((answer, calls)): State<(Bytes, Arc<AtomicU64>)>,
    form: Bytes,
) -> impl IntoResponse {
    let has_token = form_urlencoded::parse(&form).any(|(k, v)| k == "token" && !v.is_empty());
    calls.fetch_add(1, Ordering::Relaxed);
    let answer = if has_token {
        answer
    } else {
        Bytes::from_static(b"{\"active\":false}")
    };
    ([(header::CONTENT_TYPE, "application/json")], answer)
}
