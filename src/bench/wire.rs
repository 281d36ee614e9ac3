//! The load generator's wire: requests encoded once before a scenario runs and sent as bytes,
//! and slim answers that decode only the fields a scenario checks, so no call costs the client
//! message building (Envoy builds its `CheckRequest` in C++, not in our client).

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};

/// A gRPC method the pre-encoded scenarios call, and how its answer is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rpc {
    /// `ScopeDecision/CheckScopes`: exactly `expected` results, every one allowed, none in error.
    CheckScopes { expected: usize },
    /// `TokenIntrospection/Introspect`: the token is active.
    Introspect,
    /// Envoy's `Authorization/Check`: status code 0 (OK) and an `OkHttpResponse`.
    ExtAuthz,
}

impl Rpc {
    /// The method's name, for messages.
    pub fn method(self) -> &'static str {
        match self {
            Self::CheckScopes { .. } => "CheckScopes",
            Self::Introspect => "Introspect",
            Self::ExtAuthz => "Authorization/Check",
        }
    }

    /// The method's path, as the generated clients send it.
    pub fn path(self) -> PathAndQuery {
        PathAndQuery::from_static(match self {
            Self::CheckScopes { .. } => "/scopegate.v1.ScopeDecision/CheckScopes",
            Self::Introspect => "/scopegate.v1.TokenIntrospection/Introspect",
            Self::ExtAuthz => "/envoy.service.auth.v3.Authorization/Check",
        })
    }

    /// What an unexpected answer means, for the report.
    pub fn unexpected(self) -> &'static str {
        match self {
            Self::CheckScopes { .. } => "a check was not allowed",
            Self::Introspect => "token inactive",
            Self::ExtAuthz => "not allowed",
        }
    }

    /// Sends the pre-encoded `body` over `grpc` and says whether the answer is the expected one
    /// (`Err` for a gRPC error, `Ok(false)` for an unexpected answer).
    pub async fn call(
        self,
        grpc: &mut tonic::client::Grpc<Channel>,
        body: Bytes,
    ) -> Result<bool, Status> {
        grpc.ready()
            .await
            .map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
        let request = tonic::Request::new(body);
        let path = self.path();
        Ok(match self {
            Self::CheckScopes { expected } => grpc
                .unary(request, path, PreEncoded::<CheckScopesAnswer>::default())
                .await?
                .get_ref()
                .all_allowed(expected),
            Self::Introspect => {
                grpc.unary(request, path, PreEncoded::<IntrospectAnswer>::default())
                    .await?
                    .get_ref()
                    .active
            }
            Self::ExtAuthz => grpc
                .unary(request, path, PreEncoded::<ExtAuthzAnswer>::default())
                .await?
                .get_ref()
                .allowed(),
        })
    }
}

/// Encodes `message` once, for sending as is.
pub(crate) fn encode(message: &impl Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// A codec whose requests are already-encoded protobuf bytes and whose answers decode as `D`.
#[derive(Debug)]
pub(crate) struct PreEncoded<D>(PhantomData<D>);

impl<D> Default for PreEncoded<D> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<D: Message + Default + Send + 'static> Codec for PreEncoded<D> {
    type Encode = Bytes;
    type Decode = D;
    type Encoder = BytesEncoder;
    type Decoder = SlimDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        SlimDecoder(PhantomData)
    }
}

/// Writes the bytes as they are.
#[derive(Debug)]
pub(crate) struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// Decodes an answer as `D` (prost skips the fields `D` does not name).
#[derive(Debug)]
pub(crate) struct SlimDecoder<D>(PhantomData<D>);

impl<D: Message + Default> Decoder for SlimDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// A message whose content is not read: only whether it is present.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct Present {}

/// `scopegate.v1.CheckScopesResponse`, only what is checked.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct CheckScopesAnswer {
    /// `results = 1`.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<CheckAnswer>,
}

/// `scopegate.v1.CheckResult`, only what is checked.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct CheckAnswer {
    /// `error = 2` (a `CheckError`): whether there is one.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Present>,
    /// `allowed = 3`.
    #[prost(bool, tag = "3")]
    pub allowed: bool,
}

impl CheckScopesAnswer {
    /// Exactly `expected` results, all allowed and none in error.
    pub fn all_allowed(&self, expected: usize) -> bool {
        self.results.len() == expected
            && self.results.iter().all(|c| c.allowed && c.error.is_none())
    }
}

/// `scopegate.v1.IntrospectResponse`, only what is checked.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct IntrospectAnswer {
    /// `active = 1`.
    #[prost(bool, tag = "1")]
    pub active: bool,
}

/// `envoy.service.auth.v3.CheckResponse`, only what is checked (`dynamic_metadata = 4` and the
/// arms' header mutations are skipped).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct ExtAuthzAnswer {
    /// `status = 1` (`google.rpc.Status`).
    #[prost(message, optional, tag = "1")]
    pub status: Option<RpcStatus>,
    /// The `http_response` oneof: which arm is present.
    #[prost(oneof = "HttpArm", tags = "2, 3, 5")]
    pub http_response: Option<HttpArm>,
}

impl ExtAuthzAnswer {
    /// Status code 0 (OK) and the `ok_response` arm.
    pub fn allowed(&self) -> bool {
        self.status.is_some_and(|s| s.code == 0)
            && matches!(self.http_response, Some(HttpArm::Ok(_)))
    }
}

/// `google.rpc.Status`, only its code.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct RpcStatus {
    /// `code = 1`.
    #[prost(int32, tag = "1")]
    pub code: i32,
}

/// The arms of `CheckResponse.http_response`, content unread.
#[derive(Clone, Copy, PartialEq, Eq, prost::Oneof)]
pub(crate) enum HttpArm {
    /// `denied_response = 2`.
    #[prost(message, tag = "2")]
    Denied(Present),
    /// `ok_response = 3`.
    #[prost(message, tag = "3")]
    Ok(Present),
    /// `error_response = 5`.
    #[prost(message, tag = "5")]
    Error(Present),
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::{
        envoy::{
            config::core::v3::{HeaderValue, HeaderValueOption},
            service::auth::v3::{
                CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response::HttpResponse,
            },
            r#type::v3::{HttpStatus, StatusCode},
        },
        google::{
            protobuf::{Struct, Value, value::Kind},
            rpc::Status as RpcStatusFull,
        },
    };

    use super::*;
    use crate::pb;

    /// The ext_authz check as the bench made it on the full decode.
    fn full_ext_authz_allowed(r: &CheckResponse) -> bool {
        r.status.as_ref().is_some_and(|s| s.code == 0)
            && matches!(r.http_response, Some(HttpResponse::OkResponse(_)))
    }

    fn slim_ext_authz_allowed(r: &CheckResponse) -> bool {
        ExtAuthzAnswer::decode(encode(r)).unwrap().allowed()
    }

    fn header(key: &str, value: &str) -> HeaderValueOption {
        HeaderValueOption {
            header: Some(HeaderValue {
                key: key.to_owned(),
                value: value.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn metadata() -> Struct {
        let text = |s: &str| Value {
            kind: Some(Kind::StringValue(s.to_owned())),
        };
        Struct {
            fields: [
                ("tenant".to_owned(), text("t1")),
                ("scope".to_owned(), text("openid reports:read")),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn status(code: i32, message: &str) -> Option<RpcStatusFull> {
        Some(RpcStatusFull {
            code,
            message: message.to_owned(),
            details: Vec::new(),
        })
    }

    fn allow() -> CheckResponse {
        CheckResponse {
            status: status(0, ""),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers: vec![
                    header("x-scopegate-tenant", "t1"),
                    header("x-scopegate-sub", "u"),
                ],
                headers_to_remove: vec!["authorization".to_owned()],
                ..Default::default()
            })),
            dynamic_metadata: Some(metadata()),
        }
    }

    fn denied(arm: fn(DeniedHttpResponse) -> HttpResponse, code: i32) -> CheckResponse {
        CheckResponse {
            status: status(code, "insufficient_scope"),
            http_response: Some(arm(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: StatusCode::Forbidden.into(),
                }),
                headers: vec![header(
                    "www-authenticate",
                    "Bearer error=\"insufficient_scope\"",
                )],
                body: "denied".to_owned(),
            })),
            dynamic_metadata: Some(metadata()),
        }
    }

    #[test]
    fn the_slim_ext_authz_answer_agrees_with_the_full_decode_on_allowed_and_denied() {
        let mut no_status = allow();
        no_status.status = None;
        let mut ok_arm_bad_code = allow();
        ok_arm_bad_code.status = status(7, "denied");
        let mut no_arm = allow();
        no_arm.http_response = None;
        let cases = [
            ("allowed", allow(), true),
            ("denied", denied(HttpResponse::DeniedResponse, 7), false),
            ("error arm", denied(HttpResponse::ErrorResponse, 14), false),
            (
                "denied arm with code 0",
                denied(HttpResponse::DeniedResponse, 0),
                false,
            ),
            ("no status", no_status, false),
            ("ok arm, code 7", ok_arm_bad_code, false),
            ("no arm", no_arm, false),
            ("empty", CheckResponse::default(), false),
        ];
        for (what, response, expected) in cases {
            assert_eq!(full_ext_authz_allowed(&response), expected, "{what}: full");
            assert_eq!(slim_ext_authz_allowed(&response), expected, "{what}: slim");
        }
    }

    #[test]
    fn the_slim_ext_authz_answer_reads_which_arm_came_last() {
        // Two arms on the wire: a oneof decoder keeps the last, and so must the slim one.
        let mut wire = encode(&denied(HttpResponse::DeniedResponse, 0)).to_vec();
        wire.extend_from_slice(&encode(&allow()));
        let full = CheckResponse::decode(wire.as_slice()).unwrap();

        let slim = ExtAuthzAnswer::decode(wire.as_slice()).unwrap();

        assert!(full_ext_authz_allowed(&full));
        assert!(slim.allowed());
    }

    fn result(allowed: bool, error: Option<pb::CheckError>) -> pb::CheckResult {
        pb::CheckResult {
            correlation_id: "0".to_owned(),
            error,
            allowed,
            missing: if allowed {
                Vec::new()
            } else {
                vec!["reports:write".to_owned()]
            },
            granted: vec!["openid".to_owned(), "reports:read".to_owned()],
            www_authenticate: if allowed {
                String::new()
            } else {
                "Bearer realm=\"t1\", error=\"insufficient_scope\"".to_owned()
            },
            ..Default::default()
        }
    }

    /// The CheckScopes check as the bench made it on the full decode.
    fn full_all_allowed(r: &pb::CheckScopesResponse, expected: usize) -> bool {
        r.results.len() == expected && r.results.iter().all(|c| c.allowed && c.error.is_none())
    }

    #[test]
    fn the_slim_check_scopes_answer_agrees_with_the_full_decode_on_allowed_and_denied() {
        let error = Some(pb::CheckError {
            message: "unknown operation".to_owned(),
            ..Default::default()
        });
        let cases = [
            ("allowed", vec![result(true, None)], 1, true),
            ("allowed batch", vec![result(true, None); 3], 3, true),
            ("denied", vec![result(false, None)], 1, false),
            (
                "one of three denied",
                vec![result(true, None), result(false, None), result(true, None)],
                3,
                false,
            ),
            (
                "allowed with an error",
                vec![result(true, error.clone())],
                1,
                false,
            ),
            ("denied with an error", vec![result(false, error)], 1, false),
            ("too few results", vec![result(true, None)], 2, false),
            ("no results", Vec::new(), 1, false),
        ];
        for (what, results, expected, verdict) in cases {
            let response = pb::CheckScopesResponse { results };

            let slim = CheckScopesAnswer::decode(encode(&response)).unwrap();

            assert_eq!(
                full_all_allowed(&response, expected),
                verdict,
                "{what}: full"
            );
            assert_eq!(slim.all_allowed(expected), verdict, "{what}: slim");
        }
    }

    #[test]
    fn the_slim_introspect_answer_agrees_with_the_full_decode_on_active_and_inactive() {
        let active = pb::IntrospectResponse {
            active: true,
            scope: "openid reports:read".to_owned(),
            client_id: "bench".to_owned(),
            exp: Some(2_000_000_000),
            aud: vec!["api".to_owned()],
            iss: "https://issuer.bench.test".to_owned(),
            tenant: "t1".to_owned(),
            ..Default::default()
        };
        for response in [active, pb::IntrospectResponse::default()] {
            let full = pb::IntrospectResponse::decode(encode(&response)).unwrap();

            let slim = IntrospectAnswer::decode(encode(&response)).unwrap();

            assert_eq!(slim.active, full.active);
        }
    }
}
