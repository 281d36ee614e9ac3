//! The HTTP door: forward auth for nginx/Caddy/Traefik over the one decision path, liveness
//! and readiness probes, and its refusals (unknown paths, wrong methods).

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, test_config},
    tokens::{Idp, create_tenant_for},
};

backend_tests!(
    probes_answer_and_unknown_paths_and_methods_are_refused,
    forward_auth_answers_401_403_and_200_with_the_facts_for_the_proxy,
    forward_auth_takes_the_route_from_the_query_over_client_headers,
);

/// A server with the HTTP door on a free port.
pub async fn with_http(db: &TestDb) -> (TestApp, String) {
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::start(config).await;
    let base = format!("http://{}", app.http_addr.expect("HTTP door bound"));
    (app, base)
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
    let unknown_tenant = http
        .get(format!("{base}/v1/authorize?tenant=nowhere"))
        .bearer_auth(&weak)
        .send()
        .await
        .unwrap();

    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
    assert_eq!(by_headers.status(), StatusCode::OK);
    assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(unknown_tenant.status(), StatusCode::UNAUTHORIZED);
}
