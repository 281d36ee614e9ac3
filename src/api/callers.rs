//! Caller authentication (`--caller-auth`): which service is calling, before any handler runs.
//! One gate, [`CallerGate::admit`], serves both ports: the gRPC layer ([`CallerLayer`]) and the
//! HTTP door's middleware ([`http_gate`]) only map its refusals onto their wire.
//!
//! A caller proves itself with a registered caller key (`x-scopegate-caller-key`) or a client
//! certificate from `--tls-client-ca` (its name is the caller's). A registered caller is held to
//! its surfaces here and to its tenants by the doors ([`crate::caller::Caller::permit`]), once
//! they know the tenant a call is about. On a surface `--caller-auth` names, a call without a
//! registered caller is refused: no credential, or a wrong one, `UNAUTHENTICATED`; a certificate
//! the registry does not know, or a caller off its surfaces, `PERMISSION_DENIED`. A key that is
//! presented is always checked, whether the surface requires one or not; nothing says which part
//! of a refused key was wrong. Surfaces that are public by design (discovery, RFC 9728 metadata)
//! and the admin API (its own authentication) are not gated.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use tonic::{
    Status,
    body::Body,
    codegen::{http, http::HeaderMap},
};
use tower::{Layer, Service};

use super::status::ApiError;
use crate::{
    caller::{Caller, CallerProof, KEY_HEADER, PresentedKey, Surface, Surfaces},
    tenant_states::TenantStates,
};

/// Authenticates callers against the registry.
#[derive(Debug, Clone)]
pub struct CallerGate {
    states: TenantStates,
    required: Surfaces,
}

/// Why a caller was refused, for the metric.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    NoCredential,
    BadKey,
    Unregistered,
    Surface,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::NoCredential => "no_credential",
            Self::BadKey => "bad_key",
            Self::Unregistered => "unregistered",
            Self::Surface => "surface",
        }
    }
}

/// Counts a refusal of a caller on `surface` and returns its error.
fn refuse(surface: Surface, refusal: Refusal, err: ApiError) -> ApiError {
    metrics::counter!(
        "scopegate_caller_refusals_total",
        "surface" => surface.as_str(),
        "reason" => refusal.label()
    )
    .increment(1);
    err
}

/// Why no caller could be identified.
#[derive(Debug)]
enum Unproven {
    /// A key was presented and is malformed, unknown, wrong, repeated, or names another caller
    /// than the connection's certificate.
    KeyRefused,
    /// The registry could not be read (store down, nothing cached).
    Store(ApiError),
}

/// The one sentence every refused key gets: which part was wrong stays unsaid.
const KEY_REFUSED: &str = "the caller key was refused";

impl CallerGate {
    /// A gate over the registry in `states`, requiring a registered caller on `required`.
    pub fn new(states: TenantStates, required: Surfaces) -> Self {
        Self { states, required }
    }

    /// The surface a request path (gRPC method or HTTP route) belongs to; `None`: not gated.
    pub fn surface_of(path: &str) -> Option<Surface> {
        match path {
            "/scopegate.v1.ScopeDecision/CheckScopes"
            | "/scopegate.v1.ScopeDecision/ResolveScopes"
            | "/envoy.service.auth.v3.Authorization/Check"
            | "/v1/authorize"
            | "/access/v1/evaluation"
            | "/access/v1/evaluations"
            | "/access/v1/search/action" => Some(Surface::Decision),
            "/scopegate.v1.TokenIntrospection/Introspect" => Some(Surface::Introspection),
            _ if path.starts_with("/v1/authorize/") => Some(Surface::Decision),
            _ => None,
        }
    }

    /// Whether a call on `surface` needs no look at the registry: an anonymous call (no key,
    /// no certificate) where `--caller-auth` does not require a caller. The hot path of a
    /// deployment without caller authentication costs nothing more than this.
    fn lets_through(
        &self,
        surface: Surface,
        headers: &HeaderMap,
        extensions: &http::Extensions,
    ) -> bool {
        !self.required.contains(surface)
            && !headers.contains_key(KEY_HEADER)
            && extensions.get::<Caller>().is_none()
    }

    /// Admits `request` on `surface`: its certificate's caller (a request extension) and key are
    /// checked by [`Self::admit`], and the caller admitted, if any, replaces the extension.
    async fn admit_request<B: Send>(
        &self,
        surface: Surface,
        request: &mut http::Request<B>,
    ) -> Result<(), ApiError> {
        let certified = request.extensions_mut().remove::<Caller>();
        if let Some(caller) = self.admit(surface, request.headers(), certified).await? {
            request.extensions_mut().insert(caller);
        }
        Ok(())
    }

    /// Who is calling on `surface`: `certified` is the caller the connection's certificate
    /// named, if any; the key comes from `headers`. `Ok(None)`: an anonymous call the surface
    /// lets through.
    pub async fn admit(
        &self,
        surface: Surface,
        headers: &HeaderMap,
        certified: Option<Caller>,
    ) -> Result<Option<Caller>, ApiError> {
        let caller = match self.identify(headers, certified).await {
            Ok(caller) => caller,
            Err(Unproven::Store(err)) => return Err(err),
            Err(Unproven::KeyRefused) => {
                return Err(refuse(
                    surface,
                    Refusal::BadKey,
                    ApiError::Unauthenticated(KEY_REFUSED),
                ));
            }
        };
        let required = self.required.contains(surface);
        match caller.as_ref().map(|c| (c, c.registered())) {
            Some((caller, Some(entry))) if !entry.surfaces.contains(surface) => {
                let message = format!(
                    "caller {caller} may not use the {} surface",
                    surface.as_str()
                );
                return Err(refuse(
                    surface,
                    Refusal::Surface,
                    ApiError::PermissionDenied(message),
                ));
            }
            Some((caller, None)) if required => {
                let message = format!("caller {caller} is not registered");
                return Err(refuse(
                    surface,
                    Refusal::Unregistered,
                    ApiError::PermissionDenied(message),
                ));
            }
            None if required => {
                let err = ApiError::Unauthenticated(
                    "an authenticated caller is required: a caller key in x-scopegate-caller-key \
                     or a client certificate",
                );
                return Err(refuse(surface, Refusal::NoCredential, err));
            }
            _ => {}
        }
        if let Some(caller) = &caller {
            // Bounded: a registered caller's name (admins create them) or a constant.
            let label = match caller.registered() {
                Some(entry) => entry.name.clone(),
                None => "unregistered".to_owned(),
            };
            metrics::counter!(
                "scopegate_caller_calls_total",
                "surface" => surface.as_str(),
                "caller" => label
            )
            .increment(1);
            tracing::Span::current().record("caller", tracing::field::display(caller));
        }
        Ok(caller)
    }

    /// The caller a key or certificate proves, matched with the registry. A store that cannot
    /// answer (nothing cached) is `Err` with the store's error and no refusal counted.
    async fn identify(
        &self,
        headers: &HeaderMap,
        certified: Option<Caller>,
    ) -> Result<Option<Caller>, Unproven> {
        let mut keys = headers.get_all(KEY_HEADER).iter();
        let (key, extra) = (keys.next(), keys.next());
        let Some(key) = key else {
            let Some(certified) = certified else {
                return Ok(None);
            };
            let entry = self
                .states
                .caller_named(certified.name())
                .await
                .map_err(|e| Unproven::Store(e.into()))?;
            return Ok(Some(match entry {
                Some(entry) => certified.registered_as(entry),
                None => certified,
            }));
        };
        if extra.is_some() {
            return Err(Unproven::KeyRefused);
        }
        let presented = key
            .to_str()
            .ok()
            .and_then(|raw| PresentedKey::parse(raw).ok())
            .ok_or(Unproven::KeyRefused)?;
        let entry = self
            .states
            .caller_with_key(&presented)
            .await
            .map_err(|e| Unproven::Store(e.into()))?
            .ok_or(Unproven::KeyRefused)?;
        // A certificate naming another caller than the key does: neither is believed.
        if certified.is_some_and(|c| c.name() != entry.name) {
            return Err(Unproven::KeyRefused);
        }
        Ok(Some(
            Caller::new(entry.name.as_str(), CallerProof::CallerKey).registered_as(entry),
        ))
    }
}

/// The gRPC port's layer: gated methods are admitted by the [`CallerGate`] (their caller then
/// is the request's [`Caller`] extension), refusals answered as gRPC statuses.
#[derive(Debug, Clone)]
pub struct CallerLayer {
    gate: Arc<CallerGate>,
}

impl CallerLayer {
    /// The layer of `gate`.
    pub fn new(gate: CallerGate) -> Self {
        Self {
            gate: Arc::new(gate),
        }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = CallerService<S>;

    fn layer(&self, inner: S) -> CallerService<S> {
        CallerService {
            inner,
            gate: Arc::clone(&self.gate),
        }
    }
}

/// The service of [`CallerLayer`].
#[derive(Debug, Clone)]
pub struct CallerService<S> {
    inner: S,
    gate: Arc<CallerGate>,
}

impl<S, B> Service<http::Request<B>> for CallerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(surface) = CallerGate::surface_of(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        if self
            .gate
            .lets_through(surface, request.headers(), request.extensions())
        {
            return Box::pin(self.inner.call(request));
        }
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = Arc::clone(&self.gate);
        Box::pin(async move {
            match gate.admit_request(surface, &mut request).await {
                Ok(()) => inner.call(request).await,
                Err(err) => Ok(Status::from(err).into_http()),
            }
        })
    }
}

/// The HTTP door's middleware: like [`CallerLayer`], with refusals as 401/403 JSON (an
/// `error` of `invalid_caller` or `caller_forbidden`) and a store that cannot answer as 503.
/// The status is the caller's (the gateway's or the PEP's), not the end user's: there is no
/// `WWW-Authenticate` challenge for a user to answer.
pub async fn http_gate(
    State(gate): State<Arc<CallerGate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(surface) = CallerGate::surface_of(request.uri().path()) else {
        return next.run(request).await;
    };
    if gate.lets_through(surface, request.headers(), request.extensions()) {
        return next.run(request).await;
    }
    match gate.admit_request(surface, &mut request).await {
        Ok(()) => next.run(request).await,
        Err(err) => super::http::error_response(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_and_introspection_methods_are_gated_and_discovery_and_admin_are_not() {
        let decision = [
            "/scopegate.v1.ScopeDecision/CheckScopes",
            "/scopegate.v1.ScopeDecision/ResolveScopes",
            "/envoy.service.auth.v3.Authorization/Check",
            "/v1/authorize",
            "/v1/authorize/anything/else",
            "/access/v1/evaluation",
            "/access/v1/evaluations",
            "/access/v1/search/action",
        ];
        for path in decision {
            assert_eq!(
                CallerGate::surface_of(path),
                Some(Surface::Decision),
                "{path}"
            );
        }
        assert_eq!(
            CallerGate::surface_of("/scopegate.v1.TokenIntrospection/Introspect"),
            Some(Surface::Introspection)
        );
        let open = [
            "/scopegate.v1.ScopeDecision/ListSupportedScopes",
            "/scopegate.v1.ScopeDecision/GetResourceMetadata",
            "/scopegate.v1.TokenIntrospection/RevokeToken",
            "/scopegate.v1.ScopeAdmin/ManageScope",
            "/grpc.health.v1.Health/Check",
            "/oauth2/introspect",
            "/.well-known/authzen-configuration",
            "/healthz",
            "/v1/authorizex",
        ];
        for path in open {
            assert_eq!(CallerGate::surface_of(path), None, "{path}");
        }
    }
}
