//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` carries `x5t#S256` is
//! active only with the client certificate of that thumbprint, passed by the caller (CheckScopes'
//! `client_certificate`), by Envoy (`source.certificate`) or by a forward-auth proxy
//! (`X-Scopegate-Client-Cert`); tokens bound to no certificate are unaffected.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest,
    attribute_context::{HttpRequest, Peer, Request as EnvoyRequest},
    authorization_client::AuthorizationClient,
    check_response::HttpResponse,
};
use reqwest::StatusCode;
use scopegate::pb::{Check, Reason, check::Subject};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    backend_tests,
    decision::{SCHOOL, check_all, op, school},
    helpers::{Backend, TestDb},
    http_door::with_http,
};

backend_tests!(a_certificate_bound_token_needs_its_certificate_at_every_door);

/// A PEM "certificate" (any DER bytes do: only their SHA-256 is compared) and its thumbprint.
fn certificate(seed: &str) -> (String, String) {
    let der = format!("DER bytes of the {seed} client certificate").into_bytes();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&der)
    );
    (pem, URL_SAFE_NO_PAD.encode(Sha256::digest(&der)))
}

/// URL-encoded, as Envoy and nginx pass it on.
fn escaped(pem: &str) -> String {
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn check(id: &str, token: &str, certificate: &str) -> Check {
    Check {
        correlation_id: id.to_owned(),
        subject: Some(Subject::Token(token.to_owned())),
        requirement: Some(op("list_courses")),
        client_certificate: certificate.to_owned(),
        ..Default::default()
    }
}

fn envoy_check(token: &str, certificate: Option<&str>) -> CheckRequest {
    let headers = HashMap::from([("authorization".to_owned(), format!("Bearer {token}"))]);
    CheckRequest {
        attributes: Some(AttributeContext {
            source: certificate.map(|c| Peer {
                certificate: c.to_owned(),
                ..Default::default()
            }),
            request: Some(EnvoyRequest {
                http: Some(HttpRequest {
                    method: "GET".to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: HashMap::from([
                ("tenant".to_owned(), SCHOOL.to_owned()),
                ("operation".to_owned(), "list_courses".to_owned()),
            ]),
            ..Default::default()
        }),
    }
}

async fn a_certificate_bound_token_needs_its_certificate_at_every_door(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    let idp = school(&app).await;
    let (mine, thumbprint) = certificate("legitimate");
    let (theirs, _) = certificate("attacker's");
    let bound = idp.mint(&json!({ "scope": "courses:read", "cnf": { "x5t#S256": thumbprint } }));
    let broken = idp.mint(&json!({ "scope": "courses:read", "cnf": { "x5t#S256": 7 } }));
    let plain = idp.mint(&json!({ "scope": "courses:read" }));

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            check("right", &bound, &mine),
            check("right-escaped", &bound, &escaped(&mine)),
            check("none", &bound, ""),
            check("wrong", &bound, &theirs),
            check("garbage", &bound, "not a certificate"),
            check("unreadable-binding", &broken, &mine),
            check("unbound", &plain, ""),
            check("unbound-with-cert", &plain, &theirs),
        ],
    )
    .await;
    let verdicts: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r.correlation_id.as_str(), r.allowed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("right", true),
            ("right-escaped", true),
            ("none", false),
            ("wrong", false),
            ("garbage", false),
            ("unreadable-binding", false),
            ("unbound", true),
            ("unbound-with-cert", true),
        ]
    );
    for refused in results.iter().filter(|r| !r.allowed) {
        assert_eq!(refused.reason(), Reason::TokenInactive);
        assert_eq!(refused.http_status, 401);
        let explain = refused.explain.as_ref().unwrap();
        assert_eq!(explain.token_outcome, "certificate_mismatch");
    }

    // Envoy passes the TLS peer's certificate URL-encoded in `source.certificate`.
    let mut envoy = AuthorizationClient::new(app.channel.clone());
    let allowed = |response: envoy_types::pb::envoy::service::auth::v3::CheckResponse| {
        matches!(response.http_response, Some(HttpResponse::OkResponse(_)))
    };
    let with_mine = envoy
        .check(envoy_check(&bound, Some(&escaped(&mine))))
        .await;
    let with_theirs = envoy
        .check(envoy_check(&bound, Some(&escaped(&theirs))))
        .await;
    let without = envoy.check(envoy_check(&bound, None)).await;
    assert!(allowed(with_mine.unwrap().into_inner()));
    assert!(!allowed(with_theirs.unwrap().into_inner()));
    assert!(!allowed(without.unwrap().into_inner()));

    // A forward-auth proxy passes it in X-Scopegate-Client-Cert.
    let http = reqwest::Client::new();
    let forward = |certificate: Option<String>| {
        let mut request = http
            .get(format!(
                "{base}/v1/authorize?tenant={SCHOOL}&operation=list_courses"
            ))
            .bearer_auth(&bound);
        if let Some(certificate) = certificate {
            request = request.header("x-scopegate-client-cert", certificate);
        }
        request.send()
    };
    assert_eq!(
        forward(Some(escaped(&mine))).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        forward(Some(escaped(&theirs))).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        forward(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}
