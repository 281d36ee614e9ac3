//! `jwks_uri` destinations end to end: a server with the default configuration never fetches
//! keys from loopback, private or link-local addresses, nor over plain http, and the admin API
//! refuses an over-long `jwks_uri`.

use scopegate::{
    pb::{CreateTenant, ManageTenantRequest, manage_tenant_request::Action},
    token::JwksConfig,
};
use serde_json::json;
use tonic::Code;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, authed, test_config},
    introspection::introspect,
    tokens::Idp,
};

const ISSUER: &str = "https://id.ssrf.test";

async fn create_with_jwks_uri(app: &TestApp, id: &str, idp: &Idp, uri: &str) -> tonic::Status {
    let mut settings = idp.settings();
    settings.jwks = None;
    settings.jwks_uri = Some(uri.to_owned());
    let create = CreateTenant {
        id: id.to_owned(),
        settings: Some(settings),
        ..Default::default()
    };
    match app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Create(create)),
        }))
        .await
    {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

async fn a_default_server_fetches_no_keys_from_internal_addresses(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // The production defaults, not the tests' loopback allowance.
    let mut config = test_config(&db.url);
    config.jwks = JwksConfig {
        timeout: std::time::Duration::from_secs(2),
        ..JwksConfig::default()
    };
    let app = TestApp::start(config).await;
    let idp = Idp::new(ISSUER, "k1");
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_raw(idp.jwks(), "application/json"))
        .expect(0)
        .named("nothing reaches the loopback JWKS server")
        .mount(&server)
        .await;
    let url = format!("{}/jwks.json", server.uri());
    let https_loopback = url.replacen("http://", "https://", 1);

    for (i, uri) in [
        url,
        https_loopback,
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.1/jwks".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        // Issuers are unique per tenant; every `Idp` signs with the one test key the server holds.
        let idp = Idp::new(&format!("https://id{i}.ssrf.test"), "k1");
        let token = idp.mint(&json!({ "scope": "openid" }));
        let tenant = format!("t{i}");
        let created = create_with_jwks_uri(&app, &tenant, &idp, uri).await;
        assert_eq!(created.code(), Code::Ok, "{uri}: {created:?}");
        assert!(
            !introspect(&app, &tenant, &token).await.active,
            "{uri}: keys must not be fetched"
        );
    }
    server.verify().await;
}

async fn an_over_long_jwks_uri_is_invalid_argument(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let idp = Idp::new(ISSUER, "k1");
    let uri = format!("https://id.ssrf.test/{}", "a".repeat(100 * 1024));
    let status = create_with_jwks_uri(&app, "long", &idp, &uri).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("settings.jwks_uri:"),
        "{}",
        status.message()
    );
    assert!(status.message().len() < 1024, "{}", status.message().len());
}

backend_tests!(
    a_default_server_fetches_no_keys_from_internal_addresses,
    an_over_long_jwks_uri_is_invalid_argument,
);
