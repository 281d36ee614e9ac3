//! `envoy.service.auth.v3.Authorization/Check`: Envoy's ext_authz (gRPC, v3) mapped onto the
//! gateway decision ([`super::gateway`]) and back. Nothing is decided here.
//!
//! In: the route's `context_extensions` (`tenant`, `operation` or `all_of` / `any_of`,
//! `strip_authorization`) and the request's `authorization` header. Out: an `OkHttpResponse`
//! that sets the `x-scopegate-*` headers, `x-scopegate-decision-id` included (and drops any the
//! client sent), or a `DeniedHttpResponse` (401/403 with `WWW-Authenticate`,
//! `x-scopegate-decision-id` and a JSON body; 500 for invalid route settings: a denial, never a
//! gRPC error, which Envoy's `failure_mode_allow` could turn into an allow); the decision id in
//! `dynamic_metadata` either way. A store that cannot answer is a gRPC `UNAVAILABLE`, so Envoy's
//! `failure_mode_allow` / `status_on_error` decide; nothing else is a gRPC error.

mod encode;
mod server;
pub mod wire;

use std::borrow::Cow;

use envoy_types::{
    ext_authz::v3::pb::{
        CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue, HeaderValueOption,
        HttpResponse, HttpStatus,
    },
    pb::google::{
        protobuf::{Struct, Value, value::Kind},
        rpc,
    },
};
use tonic::Code;

use super::{
    gateway::{Allowed, Asker, Binding, Denied, Gateway, GatewayDecision, GatewayRequirement},
    status::ApiError,
    subject::{Presentation, ProofHeader, access_token},
};

/// The service's full name, as health checkers and reflection know it.
pub const SERVICE_NAME: &str =
    envoy_types::pb::envoy::service::auth::v3::authorization_server::SERVICE_NAME;

use super::gateway::OUR_PREFIX;
pub use super::gateway::{
    CLIENT_ID_HEADER, DECISION_ID_HEADER, SCOPES_HEADER, SUBJECT_HEADER, TENANT_HEADER,
};
use crate::{caller::Caller, decision_log::Door};
use encode::Encoded;
pub use server::AuthorizationServer;

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

    /// Answers one `Check` from `caller` (when the listener authenticated it). Errors only
    /// when the store is needed and cannot answer.
    async fn check(
        &self,
        request: &wire::CheckRequest,
        caller: Option<&Caller>,
    ) -> Result<Encoded, ApiError> {
        let asker = Asker {
            door: Door::ExtAuthz,
            caller,
        };
        let attributes = request.attributes.as_ref();
        let extensions = attributes.map_or(&[][..], |a| &a.context_extensions);
        let setting = |name: &str| wire::last_value(extensions, name);
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
            Err(err) => return Ok(deny(&self.gateway.invalid_route(asker, &err))),
        };
        let authorization = headers.authorization();
        let presented_token = authorization.as_deref().and_then(access_token);
        let proofs = headers.values("dpop");
        let proof = ProofHeader::from_values(proofs.iter().map(AsRef::as_ref));
        // The target URI is built only when there is a proof to check it against.
        let (method, uri) = match proof {
            ProofHeader::One(_) => (headers.first(":method"), headers.target_uri(http)),
            _ => (None, None),
        };
        let presented = Presentation {
            scheme: presented_token
                .map(|(scheme, _)| scheme)
                .unwrap_or_default(),
            proof,
            method: method.as_deref(),
            uri: uri.as_deref(),
        };
        let decision = match self
            .gateway
            .authorize(
                asker,
                setting("tenant"),
                &requirement,
                presented_token.map(|(_, token)| token),
                Binding {
                    resource: setting("resource"),
                    certificate: attributes
                        .and_then(|a| a.source.as_ref())
                        .map(|peer| peer.certificate.as_str()),
                    presented: &presented,
                },
            )
            .await
        {
            Ok(decision) => decision,
            Err(err @ ApiError::Invalid { .. }) => {
                return Ok(deny(&self.gateway.invalid_route(asker, &err)));
            }
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
    /// The headers read here (`authorization` and ours) of `http`; the rest are never looked at.
    fn of(http: &'a wire::HttpRequest) -> Self {
        let mut pairs: Vec<(&str, &[u8])> = http
            .headers
            .iter()
            .filter(|h| read_here(&h.key))
            .map(|h| (h.key.as_str(), h.value.as_bytes()))
            .collect();
        // `headers` is a map: of entries with the same key, a map decoder keeps the last. So
        // does this: reversed, a stable sort puts each key's last entry first, and `dedup_by`
        // keeps the first of a run.
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.dedup_by(|later, first| later.0 == first.0);
        if let Some(map) = &http.header_map {
            pairs.extend(map.headers.iter().filter(|h| read_here(&h.key)).map(|h| {
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
    /// request with two never passes as either one). Borrowed when there is exactly one.
    fn authorization(&self) -> Option<Cow<'a, str>> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| is_authorization(k))
            .map(|(_, v)| String::from_utf8_lossy(v));
        let first = values.next()?;
        Some(values.fold(first, |all, v| {
            let mut all = all.into_owned();
            all.push(',');
            all.push_str(&v);
            Cow::Owned(all)
        }))
    }

    /// Every value of the header `name` (lower case), in order.
    fn values(&self, name: &str) -> Vec<Cow<'a, str>> {
        self.pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v))
            .collect()
    }

    /// The first value of the header `name` (lower case).
    fn first(&self, name: &str) -> Option<Cow<'a, str>> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v))
    }

    /// The request's absolute target URI, for a DPoP proof's `htu`: the scheme the client used
    /// (the first `x-forwarded-proto` hop, else the request's `scheme`), `:authority` and
    /// `:path`. `None` when a part is missing.
    fn target_uri(&self, http: Option<&wire::HttpRequest>) -> Option<String> {
        let forwarded = self.first("x-forwarded-proto");
        let scheme = forwarded
            .as_deref()
            .and_then(|list| list.split(',').next())
            .map(|s| s.trim_matches(' '))
            .filter(|s| !s.is_empty())
            .or_else(|| http.map(|h| h.scheme.as_str()).filter(|s| !s.is_empty()))?;
        let authority = self.first(":authority").filter(|a| !a.is_empty())?;
        let path = self.first(":path").filter(|p| p.starts_with('/'))?;
        Some(format!("{scheme}://{authority}{path}"))
    }

    /// Names of the client's `x-scopegate-*` headers, lower-cased, each once.
    fn ours(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .pairs
            .iter()
            .filter(|(k, _)| is_ours(k))
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn is_authorization(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization")
}

/// An `x-scopegate-*` name, in any case.
fn is_ours(name: &str) -> bool {
    name.len() >= OUR_PREFIX.len()
        && name.as_bytes()[..OUR_PREFIX.len()].eq_ignore_ascii_case(OUR_PREFIX.as_bytes())
}

/// What a DPoP proof is checked against: the proof and the request's method and target.
const DPOP_HEADERS: [&str; 5] = [
    "dpop",
    ":method",
    ":path",
    ":authority",
    "x-forwarded-proto",
];

fn read_here(name: &str) -> bool {
    is_authorization(name)
        || is_ours(name)
        || DPOP_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Sets our headers (overwriting any client copy) and removes the client's other
/// `x-scopegate-*` headers. Envoy applies removals after sets, so a header we set must not be
/// listed for removal: overwriting is what replaces the client's copy.
fn allow(allowed: &Allowed, headers: &Headers<'_>, strip_authorization: bool) -> Encoded {
    let facts = allowed.headers();
    let mut set: [(&str, &str); 5] = [("", ""); 5];
    let mut metadata: [(&str, &str); 5] = [("", ""); 5];
    let mut present = 0;
    for ((name, value), key) in facts.iter().zip(METADATA_KEYS) {
        if let Some(value) = value {
            set[present] = (name, value);
            metadata[present] = (key, value);
            present += 1;
        }
    }
    let (set, metadata) = (&set[..present], &metadata[..present]);
    let mut headers_to_remove: Vec<String> = headers
        .ours()
        .into_iter()
        .filter(|name| !set.iter().any(|(set, _)| set == name))
        .collect();
    if strip_authorization {
        headers_to_remove.push("authorization".to_owned());
    }
    encode::allowed(set, &headers_to_remove, metadata)
}

/// The dynamic metadata's key for each of [`Allowed::headers`]' facts, in their order: the
/// header's name without `x-scopegate-`, `-` spelled `_`.
const METADATA_KEYS: [&str; 5] = ["tenant", "subject", "client_id", "scopes", "decision_id"];

fn deny(denied: &Denied) -> Encoded {
    let mut headers = vec![header("content-type", "application/json")];
    if let Some(challenge) = &denied.www_authenticate {
        headers.push(header("www-authenticate", challenge));
    }
    let id = denied.decision_id.as_ref().map(ToString::to_string);
    if let Some(id) = &id {
        headers.push(header(DECISION_ID_HEADER, id));
    }
    let metadata = id.map(|id| Struct {
        fields: std::iter::once(("decision_id".to_owned(), string_value(id))).collect(),
    });
    let code = match denied.status {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        _ => Code::Internal,
    };
    Encoded::of(&CheckResponse {
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
        dynamic_metadata: metadata,
    })
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

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::service::auth::v3::{
        AttributeContext, CheckRequest,
        attribute_context::{HttpRequest, Request},
    };
    use prost::Message;

    use super::*;

    fn with_headers(pairs: &[(&str, &str)]) -> CheckRequest {
        let http = HttpRequest {
            headers: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    time: None,
                    http: Some(http),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_header_sent_twice_in_the_map_is_read_as_a_map_decoder_keeps_it() {
        // Two encodings back to back are one merged message: the second's `authorization`
        // replaces the first's, it is not merged with it.
        let first = [("authorization", "Bearer first"), ("x-scopegate-role", "a")];
        let mut bytes = with_headers(&first).encode_to_vec();
        bytes.extend(with_headers(&[("authorization", "Bearer second")]).encode_to_vec());

        let full = CheckRequest::decode(bytes.as_slice()).unwrap();
        let slim = wire::CheckRequest::decode(bytes.as_slice()).unwrap();
        let http = slim.attributes.and_then(|a| a.request?.http).unwrap();
        let headers = Headers::of(&http);

        let full_http = full.attributes.and_then(|a| a.request?.http).unwrap();
        assert_eq!(
            headers.authorization().as_deref(),
            full_http.headers.get("authorization").map(String::as_str)
        );
        assert_eq!(headers.authorization().as_deref(), Some("Bearer second"));
        assert_eq!(headers.ours(), ["x-scopegate-role"]);
    }

    #[test]
    fn metadata_keys_are_the_fact_headers_names_without_our_prefix() {
        let allowed = Allowed {
            tenant: "school".into(),
            subject: None,
            client_id: None,
            scopes: Vec::new(),
            decision_id: None,
        };
        let names: Vec<String> = allowed
            .headers()
            .iter()
            .map(|(name, _)| name.trim_start_matches(OUR_PREFIX).replace('-', "_"))
            .collect();

        assert_eq!(names, METADATA_KEYS);
    }

    #[test]
    fn differently_cased_authorization_headers_are_merged_never_picked_from() {
        let two = with_headers(&[("authorization", "Bearer a"), ("Authorization", "Bearer b")]);
        let bytes = two.encode_to_vec();

        let slim = wire::CheckRequest::decode(bytes.as_slice()).unwrap();
        let http = slim.attributes.and_then(|a| a.request?.http).unwrap();
        let merged = Headers::of(&http).authorization().unwrap_or_default();

        assert!(
            merged == "Bearer b,Bearer a" || merged == "Bearer a,Bearer b",
            "{merged}"
        );
    }
}
