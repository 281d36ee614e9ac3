//! RFC 9068 §4 `typ` checking: new tenants require `at+jwt`, and a tenant that relaxes it (for
//! IdPs that stamp `typ: JWT`) still refuses tokens shaped like ID tokens.

use scopegate::pb::{
    ManageTenantRequest, TenantSettings, UpdateTenant, manage_tenant_request::Action,
    manage_tenant_response::Result as TenantResult,
};
use serde_json::json;

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, authed, create_tenant},
    introspection::introspect,
    tokens::{AUDIENCE, Idp, create_tenant_for},
};

const ISSUER: &str = "https://id.typ.test";

async fn relax_typ(app: &TestApp, tenant: &str) {
    let update = UpdateTenant {
        id: tenant.to_owned(),
        settings: Some(TenantSettings {
            require_at_jwt_typ: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    app.admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Update(update)),
        }))
        .await
        .expect("tenant updated");
}

async fn a_new_tenant_requires_at_jwt_by_default(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "plain", "oidc").await;
    let idp = Idp::new(ISSUER, "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;

    let got = app
        .admin()
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Get(scopegate::pb::GetTenant {
                id: "plain".to_owned(),
            })),
        }))
        .await
        .expect("tenant")
        .into_inner();
    let Some(TenantResult::Tenant(plain)) = got.result else {
        panic!("expected a tenant, got {got:?}")
    };
    assert!(plain.require_at_jwt_typ, "strict unless relaxed");

    let claims = json!({ "scope": "courses:read" });
    assert!(introspect(&app, "", &idp.mint(&claims)).await.active);
    for typ in [Some("JWT"), None] {
        assert!(
            !introspect(&app, "", &idp.mint_typed(typ, &claims))
                .await
                .active,
            "typ {typ:?}"
        );
    }
}

async fn a_relaxed_tenant_still_refuses_id_token_shaped_tokens(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = Idp::new(ISSUER, "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    relax_typ(&app, "school").await;

    let jwt = |claims: serde_json::Value| idp.mint_typed(Some("JWT"), &claims);
    assert!(
        introspect(&app, "", &jwt(json!({ "scope": "courses:read" })))
            .await
            .active,
        "a typ: JWT access token is accepted once relaxed"
    );
    for shaped in [
        json!({ "nonce": "n-0S6_WzA2Mj" }),
        json!({ "at_hash": "77QmUPtjPfzWtF2AnpK9RQ" }),
        json!({ "aud": [AUDIENCE, "web-app"] }),
        json!({ "aud": [AUDIENCE, "spa"], "client_id": null, "azp": "spa" }),
    ] {
        assert!(
            !introspect(&app, "", &jwt(shaped.clone())).await.active,
            "{shaped}"
        );
    }
}

backend_tests!(
    a_new_tenant_requires_at_jwt_by_default,
    a_relaxed_tenant_still_refuses_id_token_shaped_tokens,
);
