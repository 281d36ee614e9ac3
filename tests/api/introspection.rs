//! Introspect and RevokeToken through gRPC: RFC 7662 answers, attacks refused without saying
//! why, revocation at once and across restarts, admin tokens, and replicas kept coherent.

use scopegate::pb::{
    Client, CreateTenant, DeleteScope, IntrospectRequest, IntrospectResponse, ManageClientRequest,
    ManageTenantRequest, NotBefore, RevokeTokenRequest, ScopeRef, manage_client_request,
    manage_scope_request::Action as ScopeAction, manage_tenant_request,
    revoke_token_request::Target, scope_ref::Ref,
    token_introspection_client::TokenIntrospectionClient,
};
use serde_json::json;
use tonic::{Code, Request};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, authed, with_bearer},
    manage_scope::{list_names, scope_call},
    tokens::{Idp, create_tenant_for, create_tenant_with, now},
};

const ISSUER: &str = "https://id.school.test";

pub async fn introspect(app: &TestApp, tenant: &str, token: &str) -> IntrospectResponse {
    let request = IntrospectRequest {
        token: token.to_owned(),
        tenant: tenant.to_owned(),
        ..Default::default()
    };
    TokenIntrospectionClient::new(app.channel.clone())
        .introspect(request)
        .await
        .unwrap()
        .into_inner()
}

async fn revoke(app: &TestApp, tenant: &str, target: Target) -> Result<(), tonic::Status> {
    let request = RevokeTokenRequest {
        tenant: tenant.to_owned(),
        target: Some(target),
    };
    TokenIntrospectionClient::new(app.channel.clone())
        .revoke_token(authed(request))
        .await
        .map(|_| ())
}

fn inactive() -> IntrospectResponse {
    IntrospectResponse {
        active: false,
        ..Default::default()
    }
}

async fn school(backend: Backend) -> Option<(TestDb, TestApp, Idp)> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::on(&db).await;
    let idp = Idp::new(ISSUER, "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    Some((db, app, idp))
}

async fn an_active_token_gets_rfc7662_fields_with_scopes_filtered_to_the_catalog(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let token = idp.mint(&json!({ "scope": "openid courses:read made:up admin:write", "org": "north", "username": "ada" }));

    let answer = introspect(&app, "", &token).await;

    assert!(answer.active);
    assert_eq!(
        answer.scope, "courses:read openid",
        "unknown dropped, reserved withheld from a third-party client"
    );
    assert_eq!(
        (
            answer.tenant.as_str(),
            answer.iss.as_str(),
            answer.sub.as_str()
        ),
        ("school", ISSUER, "user-1")
    );
    assert_eq!(
        (
            answer.client_id.as_str(),
            answer.username.as_str(),
            answer.token_type.as_str()
        ),
        ("web-app", "ada", "Bearer")
    );
    assert!(answer.exp.unwrap() > now() && answer.iat.is_some());
    assert_eq!(answer.aud, [crate::tokens::AUDIENCE]);
    let claims = answer.claims.unwrap().fields;
    assert!(claims.contains_key("org") && !claims.contains_key("sub"));
    assert!(answer.explain.is_none(), "explain only when asked");
}

async fn hostile_tokens_are_inactive_and_say_nothing_more(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let good = idp.mint(&json!({ "scope": "courses:read" }));
    let other_key = Idp::new(ISSUER, "k1");
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered_payload = base64_url(
        &json!({ "iss": ISSUER, "aud": crate::tokens::AUDIENCE, "exp": now() + 60, "scope": "admin:write" }),
    );
    let cases = [
        (
            "expired",
            idp.mint(&json!({ "exp": now() - 3600, "iat": now() - 7200 })),
        ),
        ("future nbf", idp.mint(&json!({ "nbf": now() + 3600 }))),
        ("future iat", idp.mint(&json!({ "iat": now() + 3600 }))),
        ("no exp", idp.mint(&json!({ "exp": null }))),
        (
            "wrong aud",
            idp.mint(&json!({ "aud": "https://elsewhere" })),
        ),
        ("no aud", idp.mint(&json!({ "aud": null }))),
        ("tampered", format!("{head}.{tampered_payload}.{sig}")),
        (
            "alg none",
            format!(
                "{}.{}.",
                base64_url(&json!({"alg": "none", "typ": "at+jwt"})),
                base64_url(&json!({"iss": ISSUER}))
            ),
        ),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("oversized", format!("{good}{}", "A".repeat(17 * 1024))),
        ("garbage", "not.a.token".to_owned()),
        (
            "unknown issuer",
            Idp::new("https://evil.test", "k1").mint(&json!({})),
        ),
    ];
    let _ = other_key;
    for (name, token) in cases {
        assert_eq!(introspect(&app, "", &token).await, inactive(), "{name}");
        assert_eq!(
            introspect(&app, "school", &token).await,
            inactive(),
            "{name} with tenant"
        );
    }
    // The same key under another tenant's name is not that tenant's token.
    let stranger = Idp::new("https://other.test", "k1");
    create_tenant_for(&app, "other", "oidc", &stranger).await;
    assert_eq!(
        introspect(&app, "other", &good).await,
        inactive(),
        "iss must match the named tenant"
    );
}

fn base64_url(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn oversized_requests_are_refused_before_decoding(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let huge = IntrospectRequest {
        token: "A".repeat(200 * 1024),
        ..Default::default()
    };
    let refused = TokenIntrospectionClient::new(app.channel.clone())
        .introspect(huge)
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::OutOfRange,
        "tonic's code for a message over the limit"
    );
    assert!(
        introspect(&app, "school", &idp.mint(&json!({})))
            .await
            .active,
        "and the server carries on"
    );
}

async fn explain_says_why_only_when_asked(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let expired = idp.mint(&json!({ "exp": now() - 3600, "iat": now() - 7200 }));
    let request = IntrospectRequest {
        token: expired,
        explain: true,
        ..Default::default()
    };
    let answer = TokenIntrospectionClient::new(app.channel.clone())
        .introspect(request)
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.active);
    let explain = answer.explain.unwrap();
    assert_eq!(explain.outcome, "expired");
    assert_eq!(explain.token_fingerprint.len(), 12);
}

async fn a_deleted_scope_stops_working_at_once_even_for_a_cached_token(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let token = idp.mint(&json!({ "scope": "courses:read school:read" }));
    assert_eq!(
        introspect(&app, "school", &token).await.scope,
        "courses:read school:read"
    );

    let delete = ScopeAction::Delete(DeleteScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:read".into())),
        }),
        ..Default::default()
    });
    scope_call(&app, "school", delete).await.unwrap();

    let again = introspect(&app, "school", &token).await;
    assert!(again.active);
    assert_eq!(again.scope, "school:read");
}

async fn revocation_takes_effect_at_once_and_survives_a_restart(backend: Backend) {
    let Some((db, app, idp)) = school(backend).await else {
        return;
    };
    let by_jti = idp.mint(&json!({ "jti": "tok-1" }));
    let by_value = idp.mint(&json!({ "jti": "tok-2" }));
    let no_jti = idp.mint(&json!({ "jti": null }));
    let alice_old = idp.mint(&json!({ "sub": "alice", "iat": now() - 60 }));
    let bystander = idp.mint(&json!({ "sub": "bob" }));
    for token in [&by_jti, &by_value, &no_jti, &alice_old, &bystander] {
        assert!(
            introspect(&app, "school", token).await.active,
            "warm the cache"
        );
    }

    revoke(&app, "school", Target::Jti("tok-1".into()))
        .await
        .unwrap();
    revoke(&app, "", Target::Token(by_value.clone()))
        .await
        .unwrap();
    revoke(&app, "school", Target::Token(no_jti.clone()))
        .await
        .unwrap();
    revoke(
        &app,
        "school",
        Target::Subject(NotBefore {
            id: "alice".into(),
            not_before: None,
        }),
    )
    .await
    .unwrap();
    revoke(&app, "", Target::Token("garbage.token.value".into()))
        .await
        .expect("RFC 7009: unknown tokens revoke fine");

    for token in [&by_jti, &by_value, &no_jti, &alice_old] {
        assert_eq!(introspect(&app, "school", token).await, inactive());
    }
    assert!(introspect(&app, "school", &bystander).await.active);
    let alice_new = idp.mint(&json!({ "sub": "alice", "iat": now() + 2 }));
    assert!(
        introspect(&app, "school", &alice_new).await.active,
        "tokens issued after the not-before live"
    );

    app.stop().await.unwrap();
    let app = TestApp::on(&db).await;
    assert_eq!(
        introspect(&app, "school", &by_jti).await,
        inactive(),
        "persisted"
    );
    assert!(introspect(&app, "school", &bystander).await.active);
}

async fn revocation_needs_admin_write(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let token = idp.mint(&json!({}));
    let mut client = TokenIntrospectionClient::new(app.channel.clone());
    let request = || RevokeTokenRequest {
        tenant: String::new(),
        target: Some(Target::Token(token.clone())),
    };
    assert_eq!(
        client
            .revoke_token(Request::new(request()))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        client
            .revoke_token(with_bearer(request(), "nope"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let garbage = RevokeTokenRequest {
        tenant: String::new(),
        target: Some(Target::Token("x.y.z".into())),
    };
    assert_eq!(
        client
            .revoke_token(Request::new(garbage))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated,
        "no oracle"
    );
    assert!(introspect(&app, "school", &token).await.active);
}

async fn admin_tokens_administer_their_own_tenant_from_first_party_clients(backend: Backend) {
    let Some((_db, app, idp)) = school(backend).await else {
        return;
    };
    let console = Client {
        client_id: "console".into(),
        name: "Admin console".into(),
        first_party: true,
        allowed_scopes: vec![],
    };
    let register = ManageClientRequest {
        tenant: "school".into(),
        action: Some(manage_client_request::Action::Create(console)),
    };
    app.admin().manage_client(authed(register)).await.unwrap();
    create_tenant_for(&app, "other", "oidc", &Idp::new("https://other.test", "k1")).await;

    let first_party = idp.mint(&json!({ "client_id": "console", "scope": "admin:write" }));
    let third_party = idp.mint(&json!({ "client_id": "web-app", "scope": "admin:write" }));
    let reader = idp.mint(&json!({ "client_id": "console", "scope": "admin:read" }));
    let create = |tenant: &str| scopegate::pb::ManageScopeRequest {
        tenant: tenant.into(),
        action: Some(ScopeAction::Create(scopegate::pb::CreateScope {
            name: "reports:read".into(),
            description: "Reports".into(),
            ..Default::default()
        })),
    };

    assert!(
        app.admin()
            .manage_scope(with_bearer(create("school"), &first_party))
            .await
            .is_ok()
    );
    let elsewhere = app
        .admin()
        .manage_scope(with_bearer(create("other"), &first_party))
        .await
        .unwrap_err();
    let third = app
        .admin()
        .manage_scope(with_bearer(create("school"), &third_party))
        .await
        .unwrap_err();
    let read_only = app
        .admin()
        .manage_scope(with_bearer(create("school"), &reader))
        .await
        .unwrap_err();
    let new_tenant = ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Create(CreateTenant {
            id: "x".into(),
            ..Default::default()
        })),
    };
    let platform_call = app
        .admin()
        .manage_tenant(with_bearer(new_tenant, &first_party))
        .await
        .unwrap_err();

    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    assert_eq!(third.code(), Code::PermissionDenied);
    assert_eq!(read_only.code(), Code::PermissionDenied);
    assert_eq!(
        platform_call.code(),
        Code::PermissionDenied,
        "only the admin tenant's tokens are platform-wide"
    );
    assert!(
        list_names(&app, "school", false)
            .await
            .contains(&"reports:read".to_owned())
    );
}

backend_tests!(
    an_active_token_gets_rfc7662_fields_with_scopes_filtered_to_the_catalog,
    hostile_tokens_are_inactive_and_say_nothing_more,
    explain_says_why_only_when_asked,
    oversized_requests_are_refused_before_decoding,
    a_deleted_scope_stops_working_at_once_even_for_a_cached_token,
    revocation_takes_effect_at_once_and_survives_a_restart,
    revocation_needs_admin_write,
    admin_tokens_administer_their_own_tenant_from_first_party_clients,
    a_tenant_with_a_jwks_url_verifies_rotates_and_revokes,
    admin_tenant_tokens_are_platform_wide_unless_a_tenant_claim_limits_them,
);

async fn admin_tenant_tokens_are_platform_wide_unless_a_tenant_claim_limits_them(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut config = crate::helpers::test_config(&db.url);
    config.admin_tenant = Some(scopegate::tenant::TenantId::parse("platform").unwrap());
    let app = TestApp::start(config).await;
    let ops = Idp::new("https://platform.test", "k1");
    create_tenant_for(&app, "platform", "oidc", &ops).await;
    create_tenant_for(&app, "school", "loopwise", &Idp::new(ISSUER, "k1")).await;
    create_tenant_for(&app, "other", "oidc", &Idp::new("https://other.test", "k1")).await;
    let console = Client {
        client_id: "console".into(),
        name: "Ops".into(),
        first_party: true,
        allowed_scopes: vec![],
    };
    let register = ManageClientRequest {
        tenant: "platform".into(),
        action: Some(manage_client_request::Action::Create(console)),
    };
    app.admin().manage_client(authed(register)).await.unwrap();

    let everywhere = ops.mint(&json!({ "client_id": "console", "scope": "admin:write" }));
    let school_only =
        ops.mint(&json!({ "client_id": "console", "scope": "admin:write", "tenant": "school" }));
    let create_scope = |tenant: &str, name: &str| scopegate::pb::ManageScopeRequest {
        tenant: tenant.into(),
        action: Some(ScopeAction::Create(scopegate::pb::CreateScope {
            name: name.into(),
            description: "x".into(),
            ..Default::default()
        })),
    };
    let new_tenant = || ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Create(CreateTenant {
            id: "fresh".into(),
            ..Default::default()
        })),
    };

    assert!(
        app.admin()
            .manage_tenant(with_bearer(new_tenant(), &everywhere))
            .await
            .is_ok()
    );
    assert!(
        app.admin()
            .manage_scope(with_bearer(create_scope("other", "a"), &everywhere))
            .await
            .is_ok()
    );
    assert!(
        app.admin()
            .manage_scope(with_bearer(create_scope("school", "b"), &school_only))
            .await
            .is_ok()
    );
    let elsewhere = app
        .admin()
        .manage_scope(with_bearer(create_scope("other", "c"), &school_only))
        .await
        .unwrap_err();
    let platform_call = app
        .admin()
        .manage_tenant(with_bearer(new_tenant(), &school_only))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    assert_eq!(platform_call.code(), Code::PermissionDenied);
}

async fn a_tenant_with_a_jwks_url_verifies_rotates_and_revokes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    let old = Idp::new(ISSUER, "2026-old");
    let server = MockServer::start().await;
    let serve = |idp: &Idp| {
        Mock::given(path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(idp.jwks(), "application/json"))
    };
    serve(&old)
        .expect(1)
        .named("the first key set")
        .mount(&server)
        .await;
    let mut settings = old.settings();
    settings.jwks = None;
    settings.jwks_uri = Some(format!("{}/jwks.json", server.uri()));
    settings.jwks_refresh_seconds = Some(1);
    create_tenant_with(&app, "school", "loopwise", settings).await;

    let token = old.mint(&json!({ "scope": "courses:read" }));
    assert!(introspect(&app, "", &token).await.active);
    server.verify().await;

    // The provider rotates to a new key id; a token signed under it triggers a refresh.
    let new = Idp::new(ISSUER, "2026-new");
    server.reset().await;
    serve(&new)
        .expect(1..)
        .named("the rotated key set")
        .mount(&server)
        .await;
    let rotated = new.mint(&json!({ "scope": "courses:read" }));
    assert!(
        introspect(&app, "", &rotated).await.active,
        "verified after the refresh"
    );
    server.verify().await;

    revoke(&app, "", Target::Token(rotated.clone()))
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, "", &rotated).await,
        inactive(),
        "inactive at once"
    );
}
