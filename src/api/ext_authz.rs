//! `envoy.service.auth.v3.Authorization/Check`: Envoy's ext_authz (gRPC, v3) mapped onto the
//! gateway decision ([`super::gateway`]) and back. Nothing is decided here.
//!
//! In: the route's `context_extensions` (`tenant`, `operation` or `all_of` / `any_of`,
//! `strip_authorization`) and the request's `authorization` header. Out: an `OkHttpResponse`
//! that sets the `x-scopegate-*` headers (and drops any the client sent), or a
//! `DeniedHttpResponse` (401/403 with `WWW-Authenticate` and a JSON body; 500 for invalid route
//! settings). A store that cannot answer is a gRPC `UNAVAILABLE`, so Envoy's
//! `failure_mode_allow` / `status_on_error` decide; nothing else is a gRPC error.

use std::collections::HashMap;

use envoy_types::{
    ext_authz::v3::pb::{
        Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
        HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
    },
    pb::google::{
        protobuf::{Struct, Value, value::Kind},
        rpc,
    },
};
use tonic::{Code, Request, Response, Status};

use super::{
    gateway::{Allowed, Denied, Gateway, GatewayDecision, GatewayRequirement, bearer_token},
    status::ApiError,
};

/// The service's full name, as health checkers and reflection know it.
pub const SERVICE_NAME: &str =
    envoy_types::pb::envoy::service::auth::v3::authorization_server::SERVICE_NAME;

use super::gateway::OUR_PREFIX;
pub use super::gateway::{CLIENT_ID_HEADER, SCOPES_HEADER, SUBJECT_HEADER, TENANT_HEADER};

/// The ext_authz service.
#[derive(Debug, Clone)]
pub struct ExtAuthzService {
    gateway: Gateway,
}

impl ExtAuthzService {
    /// Answers Envoy through `gateway`.
    pub fn new(gateway: Gateway) -> Self {
        Self { gateway }
    }

    async fn check_inner(&self, request: &CheckRequest) -> Result<CheckResponse, ApiError> {
        let empty = HashMap::new();
        let attributes = request.attributes.as_ref();
        let extensions = attributes.map_or(&empty, |a| &a.context_extensions);
        let setting = |name: &str| extensions.get(name).map(String::as_str);
        let http = attributes
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref());
        let headers = http.map(Headers::of).unwrap_or_default();

        let requirement = match GatewayRequirement::from_route(
            setting("operation"),
            setting("all_of"),
            setting("any_of"),
        ) {
            Ok(requirement) => requirement,
            Err(err) => return Ok(invalid_route(&err)),
        };
        let authorization = headers.authorization();
        let bearer = authorization.as_deref().and_then(bearer_token);
        let decision = match self
            .gateway
            .authorize(setting("tenant"), &requirement, bearer, setting("resource"))
            .await
        {
            Ok(decision) => decision,
            Err(err @ ApiError::Invalid { .. }) => return Ok(invalid_route(&err)),
            Err(err) => return Err(err),
        };
        Ok(match decision {
            GatewayDecision::Allow(allowed) => {
                let strip = setting("strip_authorization") == Some("true");
                allow(&allowed, &headers, strip)
            }
            GatewayDecision::Deny(denied) => deny(&denied),
        })
    }
}

/// The request headers Envoy sent: the `headers` map (lower-cased, repeated headers merged
/// with `,`), or the `header_map` list when Envoy runs with `encode_raw_headers`.
#[derive(Debug, Default)]
struct Headers<'a> {
    pairs: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Headers<'a> {
    fn of(
        http: &'a envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest,
    ) -> Self {
        let mut pairs: Vec<(&str, &[u8])> = http
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        if let Some(map) = &http.header_map {
            pairs.extend(map.headers.iter().map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    h.raw_value.as_slice()
                };
                (h.key.as_str(), value)
            }));
        }
        Self { pairs }
    }

    /// The `authorization` value; several are merged with `,` as Envoy merges them (so a
    /// request with two never passes as either one).
    fn authorization(&self) -> Option<String> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| String::from_utf8_lossy(v));
        let first = values.next()?;
        Some(values.fold(first.into_owned(), |mut all, v| {
            all.push(',');
            all.push_str(&v);
            all
        }))
    }

    /// Names of the client's `x-scopegate-*` headers, lower-cased, each once.
    fn ours(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .pairs
            .iter()
            .filter(|(k, _)| {
                k.len() >= OUR_PREFIX.len()
                    && k.as_bytes()[..OUR_PREFIX.len()].eq_ignore_ascii_case(OUR_PREFIX.as_bytes())
            })
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Sets our headers (overwriting any client copy) and removes the client's other
/// `x-scopegate-*` headers. Envoy applies removals after sets, so a header we set must not be
/// listed for removal: overwriting is what replaces the client's copy.
fn allow(allowed: &Allowed, headers: &Headers<'_>, strip_authorization: bool) -> CheckResponse {
    // Envoy drops a header set to an empty value (`keep_empty_value` is not supported here):
    // an absent or empty fact is left unset, so the client's copy is removed instead.
    let facts = allowed.headers();
    let set: Vec<HeaderValueOption> = facts
        .iter()
        .filter_map(|(name, value)| Some((*name, value.as_ref()?)))
        .map(|(name, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key: name.to_owned(),
                value: value.clone(),
                ..Default::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
            ..Default::default()
        })
        .collect();
    let mut headers_to_remove: Vec<String> = headers
        .ours()
        .into_iter()
        .filter(|name| {
            !set.iter()
                .any(|h| h.header.as_ref().is_some_and(|h| &h.key == name))
        })
        .collect();
    if strip_authorization {
        headers_to_remove.push("authorization".to_owned());
    }
    let metadata = Struct {
        fields: facts
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.trim_start_matches(OUR_PREFIX).replace('-', "_");
                Some((key, string_value(value?)))
            })
            .collect(),
    };
    CheckResponse {
        status: Some(rpc::Status {
            code: Code::Ok.into(),
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: set,
            headers_to_remove,
            ..Default::default()
        })),
        dynamic_metadata: Some(metadata),
    }
}

fn deny(denied: &Denied) -> CheckResponse {
    let mut headers = vec![header("content-type", "application/json")];
    if let Some(challenge) = &denied.www_authenticate {
        headers.push(header("www-authenticate", challenge));
    }
    let code = match denied.status {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        _ => Code::Internal,
    };
    CheckResponse {
        status: Some(rpc::Status {
            code: code.into(),
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(denied.status),
            }),
            headers,
            body: denied.json_body(),
        })),
        dynamic_metadata: None,
    }
}

/// The route's settings cannot be used: a denial, never a gRPC error (which Envoy's
/// `failure_mode_allow` could turn into an allow).
fn invalid_route(err: &ApiError) -> CheckResponse {
    tracing::warn!(%err, "ext_authz route settings are invalid: denied");
    deny(&Denied::invalid_route())
}

fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: value.to_owned(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
        ..Default::default()
    }
}

fn string_value(value: String) -> Value {
    Value {
        kind: Some(Kind::StringValue(value)),
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(self.check_inner(request.get_ref()).await?))
    }
}
