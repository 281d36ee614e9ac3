//! Envoy ext_authz v3 through the `envoy-types` client, with `CheckRequest`s shaped as Envoy
//! sends them (lower-cased headers with `:path` and `:method`, per-route context extensions):
//! allows with the `x-scopegate-*` facts, denials with challenge and JSON body, anti-spoofing,
//! bounded input, and UNAVAILABLE (never an allow) when the store cannot answer.
// The bodies are plain async fns stamped out by `backend_tests!`: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, time::Duration};

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, HeaderMap, HeaderValue, SocketAddress, address, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
            attribute_context::{HttpRequest, Peer, Request},
            authorization_client::AuthorizationClient,
            check_response::HttpResponse,
        },
    },
    google::protobuf::value::Kind,
};
use scopegate::pb::CheckScopesRequest;
use serde_json::{Value, json};
use tonic::Code;

use crate::{
    backend_tests,
    decision::{SCHOOL, decision, op, school, token_check, token_with},
    fresh_app,
    helpers::{Backend, TestApp, create_tenant},
    outage::behind_proxy,
    tokens::now,
};

/// A `CheckRequest` as Envoy's HTTP ext_authz filter sends it for `GET /settings`, with the
/// route's `extensions` and the client's extra `headers` (names lower-cased, as Envoy does).
pub fn envoy_check(extensions: &[(&str, &str)], headers: &[(&str, &str)]) -> CheckRequest {
    let mut all: HashMap<String, String> = [
        (":authority", "api.school.test"),
        (":method", "GET"),
        (":path", "/settings?lang=en"),
        (":scheme", "https"),
        ("user-agent", "curl/8.5.0"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "9f2c7c1e-5a3e-4a55-9a77-3a2d8f1f2b10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let http = HttpRequest {
        id: "14386714470394165387".to_owned(),
        method: "GET".to_owned(),
        headers: all,
        path: "/settings?lang=en".to_owned(),
        host: "api.school.test".to_owned(),
        scheme: "https".to_owned(),
        protocol: "HTTP/1.1".to_owned(),
        ..Default::default()
    };
    envoy_raw_check(extensions, http)
}

fn envoy_raw_check(extensions: &[(&str, &str)], http: HttpRequest) -> CheckRequest {
    let peer = |ip: &str, port| Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.to_owned(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer("127.0.0.1", 53_124)),
            destination: Some(peer("127.0.0.1", 10_000)),
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            context_extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }),
    }
}

pub async fn ext_authz(
    app: &TestApp,
    request: CheckRequest,
) -> Result<CheckResponse, tonic::Status> {
    AuthorizationClient::new(app.channel.clone())
        .check(request)
        .await
        .map(tonic::Response::into_inner)
}

pub fn ok(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("not an OkHttpResponse: {other:?}"),
    }
}

pub fn denied(response: &CheckResponse) -> &DeniedHttpResponse {
    assert_ne!(response.status.as_ref().unwrap().code, 0, "{response:?}");
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => denied,
        other => panic!("not a DeniedHttpResponse: {other:?}"),
    }
}

/// The upstream headers an allow sets, by name.
pub fn set_headers(ok: &OkHttpResponse) -> HashMap<&str, &str> {
    ok.headers
        .iter()
        .map(|h| {
            // OVERWRITE_IF_EXISTS_OR_ADD: a client's copy is replaced, never appended to.
            assert_eq!(h.append_action, 2, "{h:?}");
            let h = h.header.as_ref().unwrap();
            (h.key.as_str(), h.value.as_str())
        })
        .collect()
}

pub fn denied_header<'a>(denied: &'a DeniedHttpResponse, name: &str) -> Option<&'a str> {
    denied
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .find(|h| h.key == name)
        .map(|h| h.value.as_str())
}

fn body(denied: &DeniedHttpResponse) -> Value {
    serde_json::from_str(&denied.body).unwrap()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

backend_tests!(
    an_allowed_request_carries_tenant_subject_client_and_effective_scopes_upstream,
    a_client_cannot_spoof_the_scopegate_headers,
    strip_authorization_keeps_the_token_from_upstream,
    a_request_without_a_token_is_a_401_with_a_bare_bearer_challenge,
    an_insufficient_scope_is_the_403_check_scopes_would_answer,
    an_inactive_token_is_a_401_invalid_token,
    an_unknown_tenant_is_a_401,
    an_unknown_operation_is_denied,
    a_route_with_no_requirement_needs_only_an_active_token,
    all_of_and_any_of_take_space_separated_scopes,
    an_over_long_authorization_header_is_denied_without_being_echoed,
    invalid_route_settings_are_denied_never_allowed_nor_echoed,
    raw_headers_are_read_as_envoy_sends_them_with_encode_raw_headers,
);

async fn an_allowed_request_carries_tenant_subject_client_and_effective_scopes_upstream(
    backend: Backend,
) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "school:read courses:write");
    let route = [("tenant", SCHOOL), ("operation", "get_settings")];

    let response = ext_authz(
        &app,
        envoy_check(&route, &[("authorization", &bearer(&token))]),
    )
    .await
    .unwrap();

    let ok = ok(&response);
    let headers = set_headers(ok);
    assert_eq!(headers["x-scopegate-tenant"], SCHOOL);
    assert_eq!(headers["x-scopegate-subject"], "user-1");
    assert_eq!(headers["x-scopegate-client-id"], "web-app");
    assert_eq!(headers["x-scopegate-scopes"], "courses:write school:read");
    assert!(
        ok.headers_to_remove.is_empty(),
        "{:?}",
        ok.headers_to_remove
    );
    let metadata = &response.dynamic_metadata.as_ref().unwrap().fields;
    let fact = |name: &str| match &metadata[name].kind {
        Some(Kind::StringValue(value)) => value.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(fact("tenant"), SCHOOL);
    assert_eq!(fact("subject"), "user-1");
    assert_eq!(fact("client_id"), "web-app");
    assert_eq!(fact("scopes"), headers["x-scopegate-scopes"]);
}

async fn a_client_cannot_spoof_the_scopegate_headers(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    // No client_id claim: there is no client fact to set, so the client's copy must go.
    let token = idp.mint(&json!({ "scope": "school:read", "client_id": null }));
    let spoofed = [
        ("authorization", bearer(&token)),
        ("x-scopegate-subject", "admin".to_owned()),
        ("x-scopegate-scopes", "admin:write".to_owned()),
        ("x-scopegate-client-id", "first-party-console".to_owned()),
        ("x-scopegate-role", "root".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = spoofed.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let response = ext_authz(&app, envoy_check(&[("tenant", SCHOOL)], &headers))
        .await
        .unwrap();

    let ok = ok(&response);
    let set = set_headers(ok);
    assert_eq!(set["x-scopegate-subject"], "user-1");
    assert_eq!(set["x-scopegate-scopes"], "school:read");
    assert!(!set.contains_key("x-scopegate-client-id"));
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    // Envoy removes after it sets: what we set must not be listed, the rest must.
    assert_eq!(removed, ["x-scopegate-client-id", "x-scopegate-role"]);
}

async fn strip_authorization_keeps_the_token_from_upstream(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let auth = bearer(&token_with(&idp, "school:read"));
    let headers = [("authorization", auth.as_str())];

    let stripped = ext_authz(
        &app,
        envoy_check(
            &[("tenant", SCHOOL), ("strip_authorization", "true")],
            &headers,
        ),
    )
    .await
    .unwrap();
    let kept = ext_authz(&app, envoy_check(&[("tenant", SCHOOL)], &headers))
        .await
        .unwrap();

    assert_eq!(ok(&stripped).headers_to_remove, ["authorization"]);
    assert!(ok(&kept).headers_to_remove.is_empty());
}

async fn a_request_without_a_token_is_a_401_with_a_bare_bearer_challenge(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    let route = [("tenant", SCHOOL), ("operation", "get_settings")];

    let missing = ext_authz(&app, envoy_check(&route, &[])).await.unwrap();
    let basic = envoy_check(&route, &[("authorization", "Basic dXNlcjpwYXNz")]);
    let basic = ext_authz(&app, basic).await.unwrap();

    for response in [&missing, &basic] {
        let denied = denied(response);
        assert_eq!(denied.status.as_ref().unwrap().code, 401);
        assert_eq!(
            denied_header(denied, "www-authenticate"),
            Some("Bearer realm=\"school\"")
        );
        assert_eq!(
            denied_header(denied, "content-type"),
            Some("application/json")
        );
        assert_eq!(body(denied)["error"], "invalid_token");
        assert!(body(denied)["error_description"].is_string());
    }
}

async fn an_insufficient_scope_is_the_403_check_scopes_would_answer(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "courses:read");
    let route = [("tenant", SCHOOL), ("operation", "get_settings")];

    let response = ext_authz(
        &app,
        envoy_check(&route, &[("authorization", &bearer(&token))]),
    )
    .await
    .unwrap();
    let check = CheckScopesRequest {
        tenant: SCHOOL.to_owned(),
        checks: vec![token_check("", &token, op("get_settings"))],
        explain: false,
    };
    let expected = decision(&app)
        .check_scopes(check)
        .await
        .unwrap()
        .into_inner();

    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 403);
    let challenge = denied_header(denied, "www-authenticate").unwrap();
    assert_eq!(challenge, expected.results[0].www_authenticate);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_eq!(body(denied)["error"], "insufficient_scope");
}

async fn an_inactive_token_is_a_401_invalid_token(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let expired =
        idp.mint(&json!({ "scope": "school:read", "iat": now() - 7200, "exp": now() - 3600 }));

    let response = ext_authz(
        &app,
        envoy_check(
            &[("tenant", SCHOOL)],
            &[("authorization", &bearer(&expired))],
        ),
    )
    .await
    .unwrap();

    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 401);
    assert_eq!(
        denied_header(denied, "www-authenticate"),
        Some("Bearer realm=\"school\", error=\"invalid_token\"")
    );
    let body = body(denied);
    assert_eq!(body["error"], "invalid_token");
    assert!(
        !body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "why a token is inactive goes to logs, not to clients"
    );
}

async fn an_unknown_tenant_is_a_401(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "school:read");

    let response = ext_authz(
        &app,
        envoy_check(
            &[("tenant", "ghost")],
            &[("authorization", &bearer(&token))],
        ),
    )
    .await
    .unwrap();

    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 401);
    assert_eq!(body(denied)["error"], "invalid_token");
}

async fn an_unknown_operation_is_denied(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "school:read school:write courses:write");
    let route = [("tenant", SCHOOL), ("operation", "delete_everything")];

    let response = ext_authz(
        &app,
        envoy_check(&route, &[("authorization", &bearer(&token))]),
    )
    .await
    .unwrap();

    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 403);
    assert_eq!(
        denied_header(denied, "www-authenticate"),
        Some("Bearer realm=\"school\", error=\"insufficient_scope\"")
    );
}

async fn a_route_with_no_requirement_needs_only_an_active_token(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "openid");

    // No tenant either: the token's issuer names it.
    let response = ext_authz(
        &app,
        envoy_check(&[], &[("authorization", &bearer(&token))]),
    )
    .await
    .unwrap();

    assert_eq!(set_headers(ok(&response))["x-scopegate-tenant"], SCHOOL);
}

async fn all_of_and_any_of_take_space_separated_scopes(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    // The scheme is case-insensitive.
    let auth = format!("bearer {}", token_with(&idp, "school:read"));
    let headers = [("authorization", auth.as_str())];
    let wanted = "school:read  appearance:read";

    let all_of = ext_authz(&app, envoy_check(&[("all_of", wanted)], &headers))
        .await
        .unwrap();
    let any_of = ext_authz(&app, envoy_check(&[("any_of", wanted)], &headers))
        .await
        .unwrap();

    let denied = denied(&all_of);
    assert_eq!(denied.status.as_ref().unwrap().code, 403);
    assert!(
        denied_header(denied, "www-authenticate")
            .unwrap()
            .contains("scope=\"appearance:read school:read\""),
        "{denied:?}"
    );
    ok(&any_of);
}

async fn an_over_long_authorization_header_is_denied_without_being_echoed(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    let huge = format!("Bearer {}", "A".repeat(200 * 1024));

    let response = ext_authz(
        &app,
        envoy_check(&[("tenant", SCHOOL)], &[("authorization", &huge)]),
    )
    .await
    .unwrap();

    let denied = denied(&response);
    assert_eq!(denied.status.as_ref().unwrap().code, 401);
    let size: usize = denied.body.len()
        + denied
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .map(|h| h.key.len() + h.value.len())
            .sum::<usize>();
    assert!(size < 1024, "{size} bytes answered");
}

async fn invalid_route_settings_are_denied_never_allowed_nor_echoed(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let auth = bearer(&token_with(&idp, "school:read"));
    let headers = [("authorization", auth.as_str())];
    let long = "school:read ".repeat(10_000);
    let long_tenant = "s".repeat(100 * 1024);
    let routes: [&[(&str, &str)]; 4] = [
        &[("tenant", SCHOOL), ("all_of", &long)],
        &[("tenant", &long_tenant)],
        &[
            ("tenant", SCHOOL),
            ("operation", "get_settings"),
            ("any_of", "school:read"),
        ],
        &[("tenant", SCHOOL), ("all_of", "school:read \"quoted\"")],
    ];

    for route in routes {
        let response = ext_authz(&app, envoy_check(route, &headers)).await.unwrap();

        let denied = denied(&response);
        assert_eq!(denied.status.as_ref().unwrap().code, 500, "{route:?}");
        assert_eq!(body(denied)["error"], "server_error");
        assert!(denied.body.len() < 256, "{}", denied.body);
        assert_eq!(denied_header(denied, "www-authenticate"), None);
    }
}

async fn raw_headers_are_read_as_envoy_sends_them_with_encode_raw_headers(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "school:read");
    let raw = |key: &str, value: &str| HeaderValue {
        key: key.to_owned(),
        raw_value: value.as_bytes().to_vec(),
        ..Default::default()
    };
    let http = |headers: Vec<HeaderValue>| HttpRequest {
        method: "GET".to_owned(),
        path: "/settings".to_owned(),
        header_map: Some(HeaderMap { headers }),
        ..Default::default()
    };
    let one = http(vec![
        raw(":method", "GET"),
        raw(":path", "/settings"),
        raw("authorization", &bearer(&token)),
        raw("x-scopegate-role", "root"),
    ]);
    // Two authorization headers never pass as either one.
    let two = http(vec![
        raw("authorization", &bearer(&token)),
        raw("authorization", &bearer(&token)),
    ]);
    let route = [("tenant", SCHOOL), ("operation", "get_settings")];

    let allowed = ext_authz(&app, envoy_raw_check(&route, one)).await.unwrap();
    let refused = ext_authz(&app, envoy_raw_check(&route, two)).await.unwrap();

    assert_eq!(ok(&allowed).headers_to_remove, ["x-scopegate-role"]);
    assert_eq!(denied(&refused).status.as_ref().unwrap().code, 401);
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn with_the_store_down_and_the_tenant_not_cached_check_is_unavailable_never_an_allow() {
    let Some((_db, proxy, app)) = behind_proxy(|c| {
        c.catalog_ttl = Duration::ZERO;
        c.stale_if_error = Duration::ZERO;
    })
    .await
    else {
        return;
    };
    create_tenant(&app, SCHOOL, "loopwise").await;

    proxy.cut();
    let outcome = ext_authz(&app, envoy_check(&[("tenant", SCHOOL)], &[])).await;

    let status = outcome.expect_err("no answer without the store");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    proxy.restore();
}
