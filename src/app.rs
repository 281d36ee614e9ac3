//! The application: `App::build` opens the store (running migrations) and binds the port;
//! `run_until` serves every service, health and reflection until the shutdown future resolves,
//! then reports NOT_SERVING and drains in-flight calls for a bounded grace period.

pub(crate) mod accept;
mod first_run;
mod health;
pub(crate) mod http_conn;
pub(crate) mod io;
mod shed;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic_health::{ServingStatus, pb::health_server::HealthServer, server::HealthReporter};

use crate::{
    api::{
        admin::AdminService, admin_token::TokenAdmins, auth::AdminAuth, decision::DecisionService,
        ext_authz::ExtAuthzService, gateway::Gateway, introspection::IntrospectionService,
    },
    config::Config,
    decision_log::DecisionLog,
    pb,
    pipeline::TokenPipeline,
    store::{self, Store, StoreError},
    tenant_states::TenantStates,
    tls::ServerTls,
};

/// Full names of the services, as health checkers ask for them (the generated servers' own).
pub const SERVICE_NAMES: [&str; 4] = [
    pb::token_introspection_server::SERVICE_NAME,
    pb::scope_decision_server::SERVICE_NAME,
    pb::scope_admin_server::SERVICE_NAME,
    crate::api::ext_authz::SERVICE_NAME,
];

/// Largest request each service decodes (tonic answers OUT_OF_RANGE beyond): a token is at most
/// 16 KiB, a CheckScopes batch at most 100 checks, a catalog file well under a few MiB.
const INTROSPECTION_MAX_REQUEST: usize = 64 * 1024;
const DECISION_MAX_REQUEST: usize = 2 * 1024 * 1024;
const ADMIN_MAX_REQUEST: usize = 4 * 1024 * 1024;
/// An Envoy `CheckRequest` carries the request's headers (Envoy's default cap: 60 KiB) and no
/// body (`with_request_body` off).
const EXT_AUTHZ_MAX_REQUEST: usize = 1024 * 1024;

/// Why the application could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server error: {0}")]
    Serve(String),
    #[error("cannot set up token verification: {0}")]
    Token(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    DecisionLog(String),
}

/// A built, bound, not yet serving application.
#[derive(Debug)]
pub struct App {
    config: Config,
    listener: TcpListener,
    /// The HTTP door's listener, when configured.
    http_listener: Option<TcpListener>,
    store: Arc<dyn Store>,
    pipeline: TokenPipeline,
    /// The admin key this start generated (first run of the database, none configured).
    generated_admin_key: Option<secrecy::SecretString>,
    /// TLS for every listener, when configured.
    tls: Option<ServerTls>,
    /// Names every decision and logs it as configured.
    decision_log: DecisionLog,
}

impl App {
    /// Loads the TLS files (refusing an expired certificate, a key that does not match it, an
    /// unreadable file; the error names the file), opens the store (creating and migrating it)
    /// and binds the listen address. With no admin key configured and
    /// [`Config::first_run_admin_key`] set, the admin key is the one generated on the
    /// database's first start ([`App::generated_admin_key`]). A decision log file that
    /// cannot be opened for append refuses the start, naming the file.
    pub async fn build(mut config: Config) -> Result<Self, AppError> {
        let tls = config
            .tls
            .as_ref()
            .map(ServerTls::load)
            .transpose()
            .map_err(AppError::Tls)?;
        let decision_log =
            DecisionLog::start(&config.decision_log).map_err(AppError::DecisionLog)?;
        let store = store::connect(config.database_url.expose()).await?;
        store.ping().await?;
        let mut generated_admin_key = None;
        if config.admin_key.is_none() && config.first_run_admin_key {
            let first_run = first_run::admin_key(store.as_ref()).await?;
            config.admin_key = Some(first_run.key_hash);
            generated_admin_key = first_run.generated;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| AppError::Bind {
                addr: config.listen,
                source,
            })?;
        let http_listener = match config.http_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| AppError::Bind { addr, source })?,
            ),
            None => None,
        };
        let states = TenantStates::new(Arc::clone(&store), config.cache_limits());
        let pipeline = TokenPipeline::new(states, config.jwks.clone(), &config.token_cache)
            .map_err(|e| AppError::Token(e.to_string()))?;
        Ok(Self {
            config,
            listener,
            http_listener,
            store,
            pipeline,
            generated_admin_key,
            tls,
            decision_log,
        })
    }

    /// The decision log (a handle: tests count drops and hold its writer).
    pub fn decision_log(&self) -> &DecisionLog {
        &self.decision_log
    }

    /// The admin key generated by this start (the database's first with no admin key
    /// configured), to be shown once; `None` on every other start.
    pub fn generated_admin_key(&self) -> Option<&secrecy::SecretString> {
        self.generated_admin_key.as_ref()
    }

    /// Whether the admin API accepts a bootstrap key (configured or generated on a first run).
    pub fn has_admin_key(&self) -> bool {
        self.config.admin_key.is_some()
    }

    /// The listeners' TLS (its certificate reloads while the app runs), for the metrics port.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The HTTP door's bound address, when it is configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains for at most the configured grace period.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), AppError> {
        let reporter = HealthReporter::new();
        // Set before NOT_SERVING is reported at shutdown: Watch streams end after delivering it.
        let stopping = Arc::new(AtomicBool::new(false));
        let health_service = HealthServer::new(health::EndingHealth::new(
            reporter.clone(),
            Arc::clone(&stopping),
        ));
        set_all(&reporter, ServingStatus::Serving).await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(pb::ENVOY_EXT_AUTHZ_FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| AppError::Serve(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(pb::ENVOY_EXT_AUTHZ_FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| AppError::Serve(e.to_string()))?;
        let admins = TokenAdmins::new(self.pipeline.clone(), self.config.admin_tenant.clone());
        let auth = AdminAuth::new(self.config.admin_key.clone(), Some(Arc::new(admins)));
        let admin = AdminService::new(&self.pipeline, auth.clone());
        let introspection = IntrospectionService::new(self.pipeline.clone(), auth.clone());
        let decision = DecisionService::new(self.pipeline.clone(), self.decision_log.clone());
        let callers = crate::api::callers::CallerGate::new(
            self.pipeline.states().clone(),
            self.config.caller_auth,
        );
        let ext_authz = ExtAuthzService::new(Gateway::new(
            self.pipeline.clone(),
            self.decision_log.clone(),
        ));

        let probe = tokio::spawn(probe_store(
            Arc::clone(&self.store),
            reporter.clone(),
            self.config.health_interval,
        ));
        let states = self.pipeline.states().clone();
        let watcher = tokio::spawn(async move { states.follow_changes().await });
        let pruner = tokio::spawn(prune_revocations(Arc::clone(&self.store)));
        let reload = self.tls.as_ref().map(ServerTls::watch);
        let reloader = tokio::spawn(async move {
            if let Some(reload) = reload {
                reload.await;
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (http_stop, http_stopped) = tokio::sync::watch::channel(false);
        let http = self.http_listener.map(|listener| {
            let router = crate::api::http::router(crate::api::http::HttpState::new(
                reporter.clone(),
                self.pipeline.clone(),
                auth,
                self.decision_log.clone(),
            ))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(callers.clone()),
                crate::api::callers::http_gate,
            ))
            .layer(axum::middleware::from_fn(http_conn::track_request));
            // The same connection cap, accept backoff, handshake and idle timeouts as the gRPC
            // port: see `http_conn`.
            let listener = http_conn::HttpListener::new(
                listener,
                &self.config.limits,
                self.tls.as_ref().map(|tls| tls.http("http")),
            );
            let mut stopped = http_stopped;
            tokio::spawn(async move {
                let served = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<http_conn::HttpConnInfo>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
                if let Err(err) = served {
                    tracing::error!(%err, "HTTP listener failed");
                }
            })
        });
        let limits = &self.config.limits;
        let server = Server::builder()
            .max_concurrent_streams(limits.max_concurrent_streams)
            .http2_keepalive_interval(limits.keepalive_interval)
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .layer(crate::telemetry::GrpcMetricsLayer)
            .layer(shed::ShedLayer::new(limits))
            .layer(crate::api::callers::CallerLayer::new(callers))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                pb::token_introspection_server::TokenIntrospectionServer::new(introspection)
                    .max_decoding_message_size(INTROSPECTION_MAX_REQUEST),
            )
            .add_service(
                pb::scope_decision_server::ScopeDecisionServer::new(decision)
                    .max_decoding_message_size(DECISION_MAX_REQUEST),
            )
            .add_service(
                crate::api::ext_authz::AuthorizationServer::new(ext_authz)
                    .max_decoding_message_size(EXT_AUTHZ_MAX_REQUEST),
            )
            .add_service(
                pb::scope_admin_server::ScopeAdminServer::new(admin)
                    .max_decoding_message_size(ADMIN_MAX_REQUEST),
            )
            // Connection cap, accept backoff, handshake and idle timeouts: see `accept`;
            // TCP_NODELAY and coalesced writes: see `io` and docs/performance.md.
            .serve_with_incoming_shutdown(
                accept::incoming(
                    self.listener,
                    limits,
                    self.tls.as_ref().map(|tls| tls.grpc("grpc")),
                ),
                async {
                    let _ = stop_rx.await;
                },
            );
        tokio::pin!(server);
        tokio::pin!(shutdown);
        tracing::info!("serving");
        let outcome = tokio::select! {
            result = &mut server => Some(result),
            () = &mut shutdown => None,
        };
        for task in [probe, watcher, pruner, reloader] {
            task.abort();
        }
        if let Some(result) = outcome {
            if let Some(http) = http {
                http.abort();
            }
            return result.map_err(|e| AppError::Serve(e.to_string()));
        }
        tracing::info!(grace = ?self.config.shutdown_grace, "shutting down: draining in-flight calls");
        stopping.store(true, Ordering::SeqCst);
        set_all(&reporter, ServingStatus::NotServing).await;
        let _ = stop_tx.send(());
        http_stop.send_replace(true);
        // Watch streams end after NOT_SERVING, but any other open stream would hold the server
        // forever: bound the drain.
        let grace = self.config.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            let served = server.await;
            if let Some(http) = http {
                let _ = http.await;
            }
            served
        })
        .await;
        // Every decision answered is in the log before the process exits.
        let log = self.decision_log.clone();
        let flushed = tokio::task::spawn_blocking(move || log.flush(grace)).await;
        if !matches!(flushed, Ok(true)) {
            tracing::warn!("the decision log was not written out in the grace period");
        }
        match drained {
            Ok(result) => result.map_err(|e| AppError::Serve(e.to_string())),
            Err(_) => {
                tracing::warn!("drain grace period elapsed; closing remaining streams");
                Ok(())
            }
        }
    }
}

/// Deletes revocations whose tokens have all expired, hourly.
async fn prune_revocations(store: Arc<dyn Store>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        match store.prune_revocations(store::now_ms() / 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "expired revocations pruned"),
            Err(err) => tracing::warn!(%err, "cannot prune revocations"),
        }
    }
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        reporter.set_service_status(name, status).await;
    }
}

/// Flips health to NOT_SERVING while the store does not answer, and back when it does. While
/// it answers but cannot write (disk full, read-only, I/O errors), only `ScopeAdmin` is
/// NOT_SERVING: decisions and introspection are still answered from committed data.
async fn probe_store(store: Arc<dyn Store>, reporter: HealthReporter, every: Duration) {
    let mut state = StoreHealth::Healthy;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let now = match tokio::time::timeout(every, store.ping()).await {
            Ok(Ok(())) => match tokio::time::timeout(every, store.check_writes()).await {
                Ok(Ok(())) => StoreHealth::Healthy,
                Ok(Err(err)) => StoreHealth::CannotWrite(err.to_string()),
                Err(_) => StoreHealth::CannotWrite("write probe timed out".to_owned()),
            },
            Ok(Err(err)) => StoreHealth::Down(err.to_string()),
            Err(_) => StoreHealth::Down("ping timed out".to_owned()),
        };
        if std::mem::discriminant(&now) == std::mem::discriminant(&state) {
            continue;
        }
        match &now {
            StoreHealth::Healthy => {
                tracing::info!("store answers and writes again: serving");
                set_all(&reporter, ServingStatus::Serving).await;
            }
            StoreHealth::CannotWrite(detail) => {
                tracing::error!(%detail, "store cannot write: ScopeAdmin not serving");
                set_all(&reporter, ServingStatus::Serving).await;
                reporter
                    .set_service_status(
                        pb::scope_admin_server::SERVICE_NAME,
                        ServingStatus::NotServing,
                    )
                    .await;
            }
            StoreHealth::Down(detail) => {
                tracing::warn!(%detail, "store does not answer: not serving");
                set_all(&reporter, ServingStatus::NotServing).await;
            }
        }
        state = now;
    }
}

/// What the last probe learned about the store, with the detail for the log.
#[derive(Debug)]
enum StoreHealth {
    Healthy,
    CannotWrite(String),
    Down(String),
}
