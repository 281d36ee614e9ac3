//! Admin authentication: missing credential, wrong credential, the bootstrap key.

use scopegate::pb::{ListTenants, ManageTenantRequest, manage_tenant_request::Action};
use tonic::{Code, Request};

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, authed, with_bearer},
};

fn list() -> ManageTenantRequest {
    ManageTenantRequest {
        action: Some(Action::List(ListTenants::default())),
    }
}

async fn admin_calls_need_the_bootstrap_key(backend: Backend) {
    let (_db, app) = fresh_app!(backend);

    let missing = app
        .admin()
        .manage_tenant(Request::new(list()))
        .await
        .unwrap_err();
    let mut basic = Request::new(list());
    basic
        .metadata_mut()
        .insert("authorization", "Basic abc".parse().unwrap());
    let malformed = app.admin().manage_tenant(basic).await.unwrap_err();
    let wrong = app
        .admin()
        .manage_tenant(with_bearer(list(), "not-the-key"))
        .await
        .unwrap_err();
    let right = app.admin().manage_tenant(authed(list())).await;

    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(malformed.code(), Code::Unauthenticated);
    assert_eq!(wrong.code(), Code::PermissionDenied);
    assert!(
        !wrong.message().contains("not-the-key"),
        "the credential is never echoed"
    );
    assert!(right.is_ok());
}

backend_tests!(admin_calls_need_the_bootstrap_key);
