//! ResolveScopes (RFC 6749 §3.3) and ListSupportedScopes for authorization servers.

use scopegate::pb::{
    DroppedScope, ListSupportedScopesRequest, ManageTenantRequest, ResolveScopesRequest,
    ResolveScopesResponse, TenantSettings, UpdateTenant, manage_tenant_request::Action,
};
use tonic::{Code, Status};

use super::{SCHOOL, decision, register_client, school};
use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, authed},
    manage_scope::list_names,
};

async fn resolve_for(
    app: &TestApp,
    tenant: &str,
    scope: &str,
    client_id: &str,
) -> Result<ResolveScopesResponse, Status> {
    let request = ResolveScopesRequest {
        tenant: tenant.into(),
        scope: scope.into(),
        client_id: client_id.into(),
    };
    decision(app)
        .resolve_scopes(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn resolve(app: &TestApp, scope: &str, client_id: &str) -> ResolveScopesResponse {
    resolve_for(app, SCHOOL, scope, client_id).await.unwrap()
}

fn dropped(list: &[(&str, &str)]) -> Vec<DroppedScope> {
    list.iter()
        .map(|(scope, reason)| DroppedScope {
            scope: (*scope).into(),
            reason: (*reason).into(),
        })
        .collect()
}

async fn an_empty_request_gets_the_default_scopes(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;

    let empty = resolve(&app, "", "").await;
    let spaces = resolve(&app, "   ", "web-app").await;

    for answer in [&empty, &spaces] {
        assert_eq!(answer.granted, ["openid"]);
        assert_eq!(answer.scope, "openid");
        assert!(
            answer.narrowed,
            "defaults differ from the request: echo them"
        );
        assert_eq!(answer.error, "");
        assert!(answer.catalog_revision > 0);
    }
}

async fn unknown_scopes_are_invalid_or_dropped_per_tenant(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    let messy = "openid  courses:read nope:read openid also:unknown";

    let strict = resolve(&app, messy, "").await;
    let update = UpdateTenant {
        id: SCHOOL.into(),
        settings: Some(TenantSettings {
            drop_unknown_scopes: Some(true),
            ..Default::default()
        }),
        display_name: None,
    };
    let request = ManageTenantRequest {
        action: Some(Action::Update(update)),
    };
    app.admin().manage_tenant(authed(request)).await.unwrap();
    let lenient = resolve(&app, messy, "").await;
    let malformed = resolve(&app, "openid bad\"name", "").await;

    assert_eq!(strict.error, "invalid_scope");
    assert_eq!(strict.invalid_scopes, ["nope:read", "also:unknown"]);
    assert!(strict.error_description.contains("nope:read also:unknown"));
    assert!(strict.granted.is_empty() && strict.scope.is_empty());
    assert_eq!(lenient.error, "");
    assert_eq!(lenient.granted, ["openid", "courses:read"]);
    assert_eq!(lenient.scope, "openid courses:read");
    assert!(lenient.narrowed);
    assert_eq!(
        lenient.dropped,
        dropped(&[("nope:read", "unknown"), ("also:unknown", "unknown")])
    );
    assert!(lenient.catalog_revision > strict.catalog_revision);
    assert_eq!(
        malformed.error, "invalid_scope",
        "malformed is never dropped"
    );
    assert_eq!(malformed.invalid_scopes, ["bad\"name"]);
    assert!(
        !malformed.error_description.contains('"'),
        "error_description stays within RFC 6749's character set"
    );
}

async fn reserved_scopes_are_dropped_for_third_party_clients(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    register_client(&app, "console", true, &["openid", "admin:read"]).await;

    let unregistered = resolve(&app, "openid admin:read", "stranger").await;
    let first_party = resolve(&app, "openid admin:read", "console").await;
    let only_reserved = resolve(&app, "admin:write", "").await;

    assert_eq!(unregistered.granted, ["openid"]);
    assert!(unregistered.narrowed);
    assert_eq!(unregistered.dropped, dropped(&[("admin:read", "reserved")]));
    assert_eq!(first_party.granted, ["openid", "admin:read"]);
    assert!(!first_party.narrowed && first_party.dropped.is_empty());
    assert_eq!(
        only_reserved.error, "invalid_scope",
        "nothing left to grant"
    );
    assert_eq!(only_reserved.invalid_scopes, ["admin:write"]);
    assert_eq!(
        only_reserved.dropped,
        dropped(&[("admin:write", "reserved")])
    );
}

async fn a_registered_clients_allowed_set_narrows_the_grant(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    register_client(&app, "mcp", false, &["courses:read", "school:read"]).await;

    let narrowed = resolve(&app, "courses:read students:read school:read", "mcp").await;
    let unregistered = resolve(&app, "courses:read students:read", "other").await;

    assert_eq!(narrowed.granted, ["courses:read", "school:read"]);
    assert_eq!(narrowed.scope, "courses:read school:read");
    assert!(narrowed.narrowed);
    assert_eq!(
        narrowed.dropped,
        dropped(&[("students:read", "not_allowed")])
    );
    assert_eq!(unregistered.granted, ["courses:read", "students:read"]);
    assert!(
        !unregistered.narrowed,
        "no allowed-set limit for unregistered clients"
    );
}

async fn resolve_names_unknown_and_malformed_tenants(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;

    let unknown = resolve_for(&app, "nowhere", "openid", "")
        .await
        .unwrap_err();
    let malformed = resolve_for(&app, "No Such", "openid", "")
        .await
        .unwrap_err();
    let missing = resolve_for(&app, "", "openid", "").await.unwrap_err();
    let too_many = (0..257)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let oversized = resolve_for(&app, SCHOOL, &too_many, "").await.unwrap_err();

    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(oversized.code(), Code::InvalidArgument);
}

async fn discovery_lists_scopes_sorted_without_reserved_ones(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    let list = |tenant: &str| ListSupportedScopesRequest {
        tenant: tenant.into(),
    };

    let listed = decision(&app)
        .list_supported_scopes(list(SCHOOL))
        .await
        .unwrap()
        .into_inner();
    let unknown = decision(&app)
        .list_supported_scopes(list("nowhere"))
        .await
        .unwrap_err();

    let scopes = &listed.scopes_supported;
    let mut sorted = scopes.clone();
    sorted.sort();
    assert_eq!(*scopes, sorted);
    for present in ["openid", "profile", "courses:read", "subscriptions:write"] {
        assert!(scopes.iter().any(|s| s == present), "{present}");
    }
    assert!(!scopes.iter().any(|s| s.starts_with("admin")), "{scopes:?}");
    assert_eq!(*scopes, list_names(&app, SCHOOL, true).await);
    assert_eq!(unknown.code(), Code::NotFound);
}

backend_tests!(
    an_empty_request_gets_the_default_scopes,
    unknown_scopes_are_invalid_or_dropped_per_tenant,
    reserved_scopes_are_dropped_for_third_party_clients,
    a_registered_clients_allowed_set_narrows_the_grant,
    resolve_names_unknown_and_malformed_tenants,
    discovery_lists_scopes_sorted_without_reserved_ones,
);
