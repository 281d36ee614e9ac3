//! The HTTP door: forward auth for nginx/Caddy/Traefik over the one decision path, RFC 7662
//! introspection for HTTP-only resource servers, liveness and readiness probes, and its
//! refusals (unknown paths, wrong methods, oversized or malformed bodies), and its connections
//! held to the gRPC port's bounds (cap, handshake and idle timeouts).

use reqwest::StatusCode;
use scopegate::pb::{
    CreateIntrospectionCredential, DeleteIntrospectionCredential, ListAuditEventsRequest,
    ListIntrospectionCredentials, ManageIntrospectionCredentialRequest,
    manage_introspection_credential_request::Action as CredentialAction,
    manage_introspection_credential_response::Result as CredentialResult,
};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    backend_tests,
    helpers::{ADMIN_KEY, Backend, TestApp, TestDb, authed, test_config},
    limits::{PATIENCE, closed_by_server},
    tokens::{Idp, create_tenant_for, now},
};

backend_tests!(
    probes_answer_and_unknown_paths_and_methods_are_refused,
    forward_auth_answers_401_403_and_200_with_the_facts_for_the_proxy,
    forward_auth_takes_the_route_from_the_query_over_client_headers,
    a_registered_credential_introspects_an_active_token_as_rfc_7662_json,
    an_inactive_token_is_active_false_alone,
    a_wrong_missing_or_deleted_credential_is_401_with_the_basic_challenge,
    another_tenants_credential_sees_the_token_inactive,
    a_bearer_admin_credential_introspects_within_its_reach,
    oversized_malformed_and_wrongly_sent_introspections_are_refused,
    the_admin_api_shows_a_credential_secret_only_when_it_is_created,
);

/// A server with the HTTP door on a free port.
pub async fn with_http(db: &TestDb) -> (TestApp, String) {
    with_http_and(db, |_| {}).await
}

/// A server with the HTTP door on a free port, its config adjusted by `adjust`.
async fn with_http_and(
    db: &TestDb,
    adjust: impl FnOnce(&mut scopegate::config::Config),
) -> (TestApp, String) {
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    adjust(&mut config);
    let app = TestApp::start(config).await;
    let base = format!("http://{}", app.http_addr.expect("HTTP door bound"));
    (app, base)
}

/// A keep-alive `GET /healthz` on `socket`, its whole answer read: `true` if it was a 200.
async fn healthz_on(socket: &mut TcpStream) -> bool {
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: scopegate\r\n\r\n")
        .await
        .unwrap();
    // The probe's answer is small: one read holds its head and body.
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, socket.read(&mut buf))
        .await
        .expect("the probe answers")
        .unwrap();
    buf[..n].starts_with(b"HTTP/1.1 200")
}

#[tokio::test]
async fn a_silent_http_connection_is_closed_by_the_server() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (app, _) = with_http_and(&db, |config| {
        config.limits.handshake_timeout = Duration::from_secs(1);
    })
    .await;

    let mut silent = TcpStream::connect(app.http_addr.unwrap()).await.unwrap();

    assert!(
        closed_by_server(&mut silent).await,
        "an HTTP connection that never sent a request is still open"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_http_connection_is_closed_after_its_answer() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (app, _) = with_http_and(&db, |config| {
        config.limits.idle_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let mut idle = TcpStream::connect(app.http_addr.unwrap()).await.unwrap();

    assert!(healthz_on(&mut idle).await, "the request is answered");
    assert!(
        closed_by_server(&mut idle).await,
        "an idle keep-alive HTTP connection is still open"
    );
}

#[tokio::test]
async fn http_connections_beyond_the_cap_are_closed_at_accept() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (app, _) = with_http_and(&db, |config| {
        config.limits.max_connections = 2;
    })
    .await;
    let addr = app.http_addr.unwrap();
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // Answered: both were accepted and hold their permits while kept alive.
    assert!(healthz_on(&mut first).await);
    assert!(healthz_on(&mut second).await);

    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: scopegate\r\n\r\n")
        .await;

    assert!(
        closed_by_server(&mut third).await,
        "an HTTP connection beyond max_connections is still open"
    );
    // Those within the cap are untouched.
    assert!(healthz_on(&mut first).await);
}

async fn probes_answer_and_unknown_paths_and_methods_are_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base) = with_http(&db).await;
    let http = reqwest::Client::new();

    let live = http.get(format!("{base}/healthz")).send().await.unwrap();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    let unknown = http.get(format!("{base}/nope")).send().await.unwrap();
    let wrong_method = http.post(format!("{base}/healthz")).send().await.unwrap();

    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn school_with_http(db: &TestDb) -> (TestApp, String, Idp) {
    let (app, base) = with_http(db).await;
    let idp = Idp::new("https://id.school.test", "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    (app, base, idp)
}

async fn forward_auth_answers_401_403_and_200_with_the_facts_for_the_proxy(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_with_http(&db).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/authorize?tenant=school&operation=get_settings");
    let reader = idp.mint(&json!({ "scope": "school:read", "sub": "teacher-7" }));
    let other = idp.mint(&json!({ "scope": "courses:read" }));

    let anonymous = http.get(&url).send().await.unwrap();
    let insufficient = http.get(&url).bearer_auth(&other).send().await.unwrap();
    let allowed = http
        .post(format!(
            "{base}/v1/authorize/any/suffix?tenant=school&operation=get_settings"
        ))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Bearer realm=\"school\""
    );
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(insufficient.status(), StatusCode::FORBIDDEN);
    let challenge = insufficient.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-scopegate-tenant"], "school");
    assert_eq!(allowed.headers()["x-scopegate-subject"], "teacher-7");
    assert_eq!(allowed.headers()["x-scopegate-client-id"], "web-app");
    let scopes = allowed.headers()["x-scopegate-scopes"].to_str().unwrap();
    assert!(scopes.split(' ').any(|s| s == "school:read"), "{scopes}");
}

async fn forward_auth_takes_the_route_from_the_query_over_client_headers(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_with_http(&db).await;
    let http = reqwest::Client::new();
    let weak = idp.mint(&json!({ "scope": "courses:read" }));

    // The proxy's auth URL names the route; a header the client slipped in changes nothing.
    let spoofed = http
        .get(format!(
            "{base}/v1/authorize?tenant=school&operation=get_settings"
        ))
        .bearer_auth(&weak)
        .header("x-scopegate-operation", "list_courses")
        .send()
        .await
        .unwrap();
    // Without a query string the headers the proxy sets name the route.
    let by_headers = http
        .get(format!("{base}/v1/authorize"))
        .bearer_auth(&weak)
        .header("x-scopegate-tenant", "school")
        .header("x-scopegate-all-of", "courses:read")
        .send()
        .await
        .unwrap();
    // Two requirements for one route: the settings are broken, so nothing is allowed.
    let broken = http
        .get(format!(
            "{base}/v1/authorize?operation=get_settings&all_of=courses:read"
        ))
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();
    // A query naming the route beside a setting header it does not name: a proxy mixing both
    // (whose header would be lost) or a client adding to the route. Refused, never allowed.
    let mixed = http
        .get(format!("{base}/v1/authorize?tenant=school"))
        .bearer_auth(&weak)
        .header("x-scopegate-all-of", "courses:read")
        .send()
        .await
        .unwrap();
    let unknown_tenant = http
        .get(format!("{base}/v1/authorize?tenant=nowhere"))
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();

    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
    assert_eq!(by_headers.status(), StatusCode::OK);
    assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(mixed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(unknown_tenant.status(), StatusCode::UNAUTHORIZED);
}

/// Registers an introspection credential of `tenant`: its client id and secret.
pub async fn register(app: &TestApp, tenant: &str) -> (String, String) {
    let created = app
        .admin()
        .manage_introspection_credential(authed(ManageIntrospectionCredentialRequest {
            tenant: tenant.to_owned(),
            action: Some(CredentialAction::Create(CreateIntrospectionCredential {
                name: "course catalogue API".to_owned(),
            })),
        }))
        .await
        .unwrap()
        .into_inner();
    let Some(CredentialResult::Created(created)) = created.result else {
        panic!("no credential created");
    };
    (created.credential.unwrap().client_id, created.client_secret)
}

/// `POST {url}` with `body` as a form.
fn form(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// `POST {url}` with `body` as a form and HTTP Basic credentials.
async fn basic_form(
    http: &reqwest::Client,
    url: &str,
    body: String,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    form(http, url, body)
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap()
}

fn assert_challenged(response: &reqwest::Response, realm: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Basic realm=\"{realm}\"").as_str()
    );
}

async fn a_registered_credential_introspects_an_active_token_as_rfc_7662_json(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_with_http(&db).await;
    let (id, secret) = register(&app, "school").await;
    let http = reqwest::Client::new();
    let token = idp.mint(&json!({
        "scope": "school:read",
        "sub": "teacher-7",
        "department": "maths",
    }));

    let answered = basic_form(
        &http,
        &format!("{base}/oauth2/introspect"),
        format!("token={token}&token_type_hint=access_token"),
        &id,
        &secret,
    )
    .await;
    let in_path = basic_form(
        &http,
        &format!("{base}/t/school/oauth2/introspect"),
        format!("token={token}"),
        &id,
        &secret,
    )
    .await;

    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(answered.headers()["cache-control"], "no-store");
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "school:read"),
        "{body}"
    );
    assert_eq!(body["client_id"], "web-app");
    assert_eq!(body["sub"], "teacher-7");
    assert_eq!(body["iss"], "https://id.school.test");
    assert_eq!(body["aud"], crate::tokens::AUDIENCE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["tenant"], "school");
    assert!(body["exp"].as_i64().unwrap() > now());
    assert!(body["jti"].is_string() && body["iat"].is_i64(), "{body}");
    // Claims beyond the standard ones are flattened at top level (RFC 7662 §2.2).
    assert_eq!(body["department"], "maths");
    assert_eq!(in_path.status(), StatusCode::OK);
    let body: Value = in_path.json().await.unwrap();
    assert_eq!(body["active"], true);
}

async fn an_inactive_token_is_active_false_alone(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_with_http(&db).await;
    let (id, secret) = register(&app, "school").await;
    let http = reqwest::Client::new();
    let expired = idp.mint(&json!({ "iat": now() - 7200, "exp": now() - 3600 }));

    for token in [expired.as_str(), "not-a-jwt"] {
        let answered = basic_form(
            &http,
            &format!("{base}/oauth2/introspect"),
            format!("token={token}"),
            &id,
            &secret,
        )
        .await;

        assert_eq!(answered.status(), StatusCode::OK);
        let body: Value = answered.json().await.unwrap();
        assert_eq!(body, json!({ "active": false }));
    }
}

async fn a_wrong_missing_or_deleted_credential_is_401_with_the_basic_challenge(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_with_http(&db).await;
    let (id, secret) = register(&app, "school").await;
    let http = reqwest::Client::new();
    let url = format!("{base}/oauth2/introspect");
    let token = idp.mint(&json!({ "scope": "school:read" }));
    let body = format!("token={token}");

    let anonymous = form(&http, &url, body.clone()).send().await.unwrap();
    let wrong_secret = basic_form(&http, &url, body.clone(), &id, "not-the-secret").await;
    let unknown_id = basic_form(
        &http,
        &url,
        body.clone(),
        "ic_AAAAAAAAAAAAAAAAAAAAAA",
        &secret,
    )
    .await;
    let wrong_bearer = form(
        &http,
        &format!("{base}/t/school/oauth2/introspect"),
        body.clone(),
    )
    .bearer_auth("not-an-admin-key")
    .send()
    .await
    .unwrap();
    let before_delete = basic_form(&http, &url, body.clone(), &id, &secret).await;
    app.admin()
        .manage_introspection_credential(authed(ManageIntrospectionCredentialRequest {
            tenant: "school".to_owned(),
            action: Some(CredentialAction::Delete(DeleteIntrospectionCredential {
                client_id: id.clone(),
            })),
        }))
        .await
        .unwrap();
    let deleted = basic_form(&http, &url, body.clone(), &id, &secret).await;

    assert_challenged(&anonymous, "scopegate");
    let error: Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"], "invalid_client");
    assert_challenged(&wrong_secret, "scopegate");
    assert_challenged(&unknown_id, "scopegate");
    assert_challenged(&wrong_bearer, "school");
    assert_eq!(before_delete.status(), StatusCode::OK);
    // A deleted credential stops working when the delete returns.
    assert_challenged(&deleted, "scopegate");
}

async fn another_tenants_credential_sees_the_token_inactive(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_with_http(&db).await;
    let museum = Idp::new("https://id.museum.test", "m1");
    create_tenant_for(&app, "museum", "loopwise", &museum).await;
    let (id, secret) = register(&app, "museum").await;
    let http = reqwest::Client::new();
    let school_token = idp.mint(&json!({ "scope": "school:read" }));
    let museum_token = museum.mint(&json!({ "scope": "school:read" }));

    let foreign = basic_form(
        &http,
        &format!("{base}/oauth2/introspect"),
        format!("token={school_token}"),
        &id,
        &secret,
    )
    .await;
    let own = basic_form(
        &http,
        &format!("{base}/oauth2/introspect"),
        format!("token={museum_token}"),
        &id,
        &secret,
    )
    .await;
    let other_path = basic_form(
        &http,
        &format!("{base}/t/school/oauth2/introspect"),
        format!("token={school_token}"),
        &id,
        &secret,
    )
    .await;

    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(
        foreign.json::<Value>().await.unwrap(),
        json!({ "active": false })
    );
    assert_eq!(own.json::<Value>().await.unwrap()["tenant"], "museum");
    // Its credential is not one of school's.
    assert_challenged(&other_path, "school");
}

async fn a_bearer_admin_credential_introspects_within_its_reach(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base, idp) = school_with_http(&db).await;
    let http = reqwest::Client::new();
    let token = idp.mint(&json!({ "scope": "school:read" }));

    let by_issuer = form(
        &http,
        &format!("{base}/oauth2/introspect"),
        format!("token={token}"),
    )
    .bearer_auth(ADMIN_KEY)
    .send()
    .await
    .unwrap();
    let in_path = form(
        &http,
        &format!("{base}/t/school/oauth2/introspect"),
        format!("token={token}"),
    )
    .bearer_auth(ADMIN_KEY)
    .send()
    .await
    .unwrap();

    assert_eq!(by_issuer.status(), StatusCode::OK);
    assert_eq!(by_issuer.json::<Value>().await.unwrap()["tenant"], "school");
    assert_eq!(in_path.json::<Value>().await.unwrap()["active"], true);
}

async fn oversized_malformed_and_wrongly_sent_introspections_are_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp) = school_with_http(&db).await;
    let (id, secret) = register(&app, "school").await;
    let http = reqwest::Client::new();
    let url = format!("{base}/oauth2/introspect");
    let token = idp.mint(&json!({ "scope": "school:read" }));
    let huge = "x".repeat(65 * 1024);

    let oversized = basic_form(&http, &url, format!("token={huge}"), &id, &secret).await;
    let missing = basic_form(
        &http,
        &url,
        "token_type_hint=access_token".to_owned(),
        &id,
        &secret,
    )
    .await;
    let twice = basic_form(
        &http,
        &url,
        format!("token={token}&token={token}"),
        &id,
        &secret,
    )
    .await;
    let not_a_form = http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"token\":\"{token}\"}}"))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    let bad_tenant = basic_form(
        &http,
        &format!("{base}/t/Not_A_Tenant/oauth2/introspect"),
        format!("token={token}"),
        &id,
        &secret,
    )
    .await;
    let get = http
        .get(&url)
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();

    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    for refused in [missing, twice, not_a_form, bad_tenant] {
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let text = refused.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(!text.contains(&token), "the token is never echoed: {text}");
    }
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn the_admin_api_shows_a_credential_secret_only_when_it_is_created(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _base, _idp) = school_with_http(&db).await;
    let (id, secret) = register(&app, "school").await;
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    };

    let listed = app
        .admin()
        .manage_introspection_credential(authed(ManageIntrospectionCredentialRequest {
            tenant: "school".to_owned(),
            action: Some(CredentialAction::List(
                ListIntrospectionCredentials::default(),
            )),
        }))
        .await
        .unwrap()
        .into_inner();
    let deleted = app
        .admin()
        .manage_introspection_credential(authed(ManageIntrospectionCredentialRequest {
            tenant: "school".to_owned(),
            action: Some(CredentialAction::Delete(DeleteIntrospectionCredential {
                client_id: id.clone(),
            })),
        }))
        .await
        .unwrap()
        .into_inner();
    let audit = app
        .admin()
        .list_audit_events(authed(ListAuditEventsRequest {
            tenant: "school".to_owned(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(secret.len(), 43);
    let Some(CredentialResult::Credentials(page)) = &listed.result else {
        panic!("no page: {listed:?}");
    };
    assert_eq!(page.credentials.len(), 1);
    assert_eq!(page.credentials[0].client_id, id);
    assert_eq!(page.credentials[0].name, "course catalogue API");
    for shown in [
        format!("{listed:?}"),
        format!("{deleted:?}"),
        format!("{audit:?}"),
    ] {
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains(&digest), "{shown}");
    }
    assert!(format!("{audit:?}").contains("introspection_credential.delete"));
}
