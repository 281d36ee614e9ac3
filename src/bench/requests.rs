//! The requests the token-carrying scenarios send, built with the generated types and encoded
//! once per distinct request before a scenario runs ([`super::wire`] sends the bytes).

use std::collections::HashMap;

use bytes::Bytes;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, attribute_context,
};

use super::wire::encode;
use crate::pb::{self, check};

/// A `CheckScopes` request of `tenant` with `batch` checks of `token`, check `i` against
/// `operations[i % len]` (correlation ids `"0"`, `"1"`, … only when there is more than one).
pub(crate) fn check_scopes(
    tenant: &str,
    token: &str,
    operations: &[String],
    batch: usize,
) -> pb::CheckScopesRequest {
    let checks = (0..batch)
        .map(|i| pb::Check {
            correlation_id: if batch > 1 {
                i.to_string()
            } else {
                String::new()
            },
            subject: Some(check::Subject::Token(token.to_owned())),
            requirement: Some(check::Requirement::Operation(
                operations[i % operations.len()].clone(),
            )),
            ..Default::default()
        })
        .collect();
    pb::CheckScopesRequest {
        tenant: tenant.to_owned(),
        checks,
        explain: false,
    }
}

/// A `CheckScopes` request of `tenant` with one check of the DPoP-bound `token` against
/// `operation`, presented with the `DPoP` scheme and `proof` for `GET` `uri`.
pub(crate) fn check_scopes_dpop(
    tenant: &str,
    token: &str,
    operation: &str,
    proof: String,
    uri: &str,
) -> pb::CheckScopesRequest {
    let mut request = check_scopes(tenant, token, &[operation.to_owned()], 1);
    request.checks[0].presentation = Some(pb::HttpPresentation {
        scheme: "DPoP".to_owned(),
        dpop_proofs: vec![proof],
        method: "GET".to_owned(),
        uri: uri.to_owned(),
    });
    request
}

/// A `CheckScopes` request of `tenant` with one check of `scopes` given as granted (no token)
/// against `operation`.
pub(crate) fn check_granted(
    tenant: &str,
    scopes: &[String],
    operation: &str,
) -> pb::CheckScopesRequest {
    pb::CheckScopesRequest {
        tenant: tenant.to_owned(),
        checks: vec![pb::Check {
            subject: Some(check::Subject::Granted(pb::GrantedScopes {
                scopes: scopes.to_vec(),
                client_id: String::new(),
            })),
            requirement: Some(check::Requirement::Operation(operation.to_owned())),
            ..Default::default()
        }],
        explain: false,
    }
}

/// An `Introspect` request routed by the token's issuer (no tenant named, as an RFC 7662
/// caller would send it).
pub(crate) fn introspect(token: &str) -> pb::IntrospectRequest {
    pb::IntrospectRequest {
        token: token.to_owned(),
        ..Default::default()
    }
}

/// An `Introspect` request naming `tenant` (how opaque tokens are introspected).
pub(crate) fn introspect_at(tenant: &str, token: &str) -> pb::IntrospectRequest {
    pb::IntrospectRequest {
        token: token.to_owned(),
        tenant: tenant.to_owned(),
        ..Default::default()
    }
}

/// An Envoy `CheckRequest` for `GET /settings` carrying `token`, on a route of `tenant` that
/// requires `operation`: the headers a typical proxied request has, lower-cased.
pub(crate) fn envoy_check(tenant: &str, operation: &str, token: &str) -> CheckRequest {
    let headers: HashMap<String, String> = [
        (":authority", "api.bench.test"),
        (":method", "GET"),
        (":path", "/settings"),
        (":scheme", "https"),
        ("accept", "application/json"),
        ("user-agent", "scopegate-bench"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "3e5b1f0c-8d5e-4c1b-9a53-5b8a2e0f6d11"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("authorization".to_owned(), format!("Bearer {token}"))])
    .collect();
    let http = attribute_context::HttpRequest {
        method: "GET".to_owned(),
        path: "/settings".to_owned(),
        host: "api.bench.test".to_owned(),
        scheme: "https".to_owned(),
        protocol: "HTTP/2".to_owned(),
        headers,
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                time: None,
                http: Some(http),
            }),
            context_extensions: [
                ("tenant".to_owned(), tenant.to_owned()),
                ("operation".to_owned(), operation.to_owned()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        }),
    }
}

/// Each of `tokens` made into a request by `build` and encoded: one encoding per token.
pub(crate) fn per_token<M: prost::Message>(
    tokens: &[String],
    build: impl Fn(&str) -> M,
) -> Vec<Bytes> {
    tokens.iter().map(|t| encode(&build(t))).collect()
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2ln";

    fn ops() -> Vec<String> {
        vec!["get_report".to_owned(), "list_reports".to_owned()]
    }

    #[test]
    fn a_pre_encoded_check_scopes_request_decodes_to_the_message_sent_before() {
        let encoded = per_token(&[TOKEN.to_owned()], |t| check_scopes("t1", t, &ops(), 1));

        let decoded = pb::CheckScopesRequest::decode(encoded[0].clone()).unwrap();

        let expected = pb::CheckScopesRequest {
            tenant: "t1".to_owned(),
            checks: vec![pb::Check {
                correlation_id: String::new(),
                subject: Some(check::Subject::Token(TOKEN.to_owned())),
                requirement: Some(check::Requirement::Operation("get_report".to_owned())),
                ..Default::default()
            }],
            explain: false,
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_pre_encoded_batch_names_each_check_and_cycles_the_operations() {
        let encoded = encode(&check_scopes("t1", TOKEN, &ops(), 3));

        let decoded = pb::CheckScopesRequest::decode(encoded).unwrap();

        let check = |i: usize, op: &str| pb::Check {
            correlation_id: i.to_string(),
            subject: Some(check::Subject::Token(TOKEN.to_owned())),
            requirement: Some(check::Requirement::Operation(op.to_owned())),
            ..Default::default()
        };
        let expected = pb::CheckScopesRequest {
            tenant: "t1".to_owned(),
            checks: vec![
                check(0, "get_report"),
                check(1, "list_reports"),
                check(2, "get_report"),
            ],
            explain: false,
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_pre_encoded_granted_check_decodes_to_the_message_sent_before() {
        let scopes = vec!["openid".to_owned(), "reports:read".to_owned()];

        let decoded =
            pb::CheckScopesRequest::decode(encode(&check_granted("t1", &scopes, "get_report")))
                .unwrap();

        let expected = pb::CheckScopesRequest {
            tenant: "t1".to_owned(),
            checks: vec![pb::Check {
                subject: Some(check::Subject::Granted(pb::GrantedScopes {
                    scopes,
                    client_id: String::new(),
                })),
                requirement: Some(check::Requirement::Operation("get_report".to_owned())),
                ..Default::default()
            }],
            explain: false,
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_pre_encoded_introspection_decodes_to_the_message_sent_before() {
        let encoded = per_token(&["a".to_owned(), "b".to_owned()], introspect);

        let decoded: Vec<_> = encoded
            .iter()
            .map(|b| pb::IntrospectRequest::decode(b.clone()).unwrap())
            .collect();

        let expected = |token: &str| pb::IntrospectRequest {
            token: token.to_owned(),
            tenant: String::new(),
            token_type_hint: String::new(),
            explain: false,
            presentation: None,
        };
        assert_eq!(decoded, vec![expected("a"), expected("b")]);
    }

    #[test]
    fn a_pre_encoded_envoy_check_decodes_to_the_message_sent_before() {
        let encoded = per_token(&[TOKEN.to_owned()], |t| envoy_check("t1", "get_report", t));

        let decoded = CheckRequest::decode(encoded[0].clone()).unwrap();

        let strings = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let bearer = format!("Bearer {TOKEN}");
        let expected = CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(attribute_context::Request {
                    time: None,
                    http: Some(attribute_context::HttpRequest {
                        method: "GET".to_owned(),
                        path: "/settings".to_owned(),
                        host: "api.bench.test".to_owned(),
                        scheme: "https".to_owned(),
                        protocol: "HTTP/2".to_owned(),
                        headers: strings(&[
                            (":authority", "api.bench.test"),
                            (":method", "GET"),
                            (":path", "/settings"),
                            (":scheme", "https"),
                            ("accept", "application/json"),
                            ("user-agent", "scopegate-bench"),
                            ("x-forwarded-proto", "https"),
                            ("x-request-id", "3e5b1f0c-8d5e-4c1b-9a53-5b8a2e0f6d11"),
                            ("authorization", &bearer),
                        ]),
                        ..Default::default()
                    }),
                }),
                context_extensions: strings(&[("tenant", "t1"), ("operation", "get_report")]),
                ..Default::default()
            }),
        };
        assert_eq!(decoded, expected);
    }
}
