//! Tenants, clients and operations administration, catalog import/export.

use scopegate::pb::{
    Alternative, Client, CreateTenant, DeleteScope, DeleteTenant, ExportCatalogRequest, GetTenant,
    ImportCatalogRequest, ManageClientRequest, ManageOperationRequest, ManageTenantRequest,
    Operation, ScopeRef, StringList, TenantSettings, manage_client_request, manage_client_response,
    manage_operation_request, manage_scope_request::Action as ScopeAction,
    manage_tenant_request::Action as TenantAction, manage_tenant_response::Result as TenantResult,
    scope_ref::Ref,
};
use tonic::Code;

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, authed, create_tenant},
    manage_scope::scope_call,
};

async fn tenants_are_created_from_presets_with_validated_settings(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let create = |id: &str, preset: &str, settings: Option<TenantSettings>| ManageTenantRequest {
        action: Some(TenantAction::Create(CreateTenant {
            id: id.into(),
            preset: preset.into(),
            settings,
            ..Default::default()
        })),
    };
    let settings = TenantSettings {
        issuer: Some("https://id.acme.test".into()),
        audiences: Some(StringList {
            values: vec!["api".into()],
        }),
        ..Default::default()
    };
    let created = app
        .admin()
        .manage_tenant(authed(create("acme", "lumoauth", Some(settings))))
        .await
        .unwrap()
        .into_inner();
    let Some(TenantResult::Tenant(tenant)) = created.result else {
        panic!()
    };
    assert_eq!(tenant.reserved_scopes, ["admin.read", "admin.write"]);
    assert_eq!(tenant.issuer, "https://id.acme.test");
    assert_eq!(tenant.leeway_seconds, 60);

    let duplicate = app
        .admin()
        .manage_tenant(authed(create("acme", "oidc", None)))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let same_issuer = TenantSettings {
        issuer: Some("https://id.acme.test".into()),
        ..Default::default()
    };
    let clash = app
        .admin()
        .manage_tenant(authed(create("other", "oidc", Some(same_issuer))))
        .await
        .unwrap_err();
    assert_eq!(clash.code(), Code::AlreadyExists);
    let unknown_preset = app
        .admin()
        .manage_tenant(authed(create("x", "nope", None)))
        .await
        .unwrap_err();
    assert_eq!(unknown_preset.code(), Code::InvalidArgument);
    let bad_alg = TenantSettings {
        algorithms: Some(StringList {
            values: vec!["none".into()],
        }),
        ..Default::default()
    };
    let none = app
        .admin()
        .manage_tenant(authed(create("y", "oidc", Some(bad_alg))))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::InvalidArgument);
    let private_jwk = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"},
        {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}"#;
    for (jwks, why) in [
        ("not json", "garbage"),
        (r#"{"nokeys":[]}"#, "no keys array"),
        (private_jwk, "private key material"),
    ] {
        let settings = TenantSettings {
            jwks: Some(jwks.into()),
            ..Default::default()
        };
        let refused = app
            .admin()
            .manage_tenant(authed(create("z", "oidc", Some(settings))))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{why}");
        assert!(
            refused.message().starts_with("settings.jwks"),
            "{why}: {}",
            refused.message()
        );
        assert!(
            !refused.message().contains("jpsQnnGQ"),
            "key material is never echoed"
        );
    }

    let get = ManageTenantRequest {
        action: Some(TenantAction::Get(GetTenant { id: "x".into() })),
    };
    assert_eq!(
        app.admin()
            .manage_tenant(authed(get))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "a refused create wrote nothing"
    );

    let delete = ManageTenantRequest {
        action: Some(TenantAction::Delete(DeleteTenant { id: "acme".into() })),
    };
    app.admin().manage_tenant(authed(delete)).await.unwrap();
    let get = ManageTenantRequest {
        action: Some(TenantAction::Get(GetTenant { id: "acme".into() })),
    };
    assert_eq!(
        app.admin()
            .manage_tenant(authed(get))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}

async fn deleting_a_scope_removes_it_from_every_client(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let client = Client {
        client_id: "mcp-server".into(),
        name: "MCP".into(),
        first_party: false,
        allowed_scopes: vec!["courses:read".into(), "school:read".into()],
    };
    let request = ManageClientRequest {
        tenant: "school".into(),
        action: Some(manage_client_request::Action::Create(client)),
    };
    app.admin().manage_client(authed(request)).await.unwrap();

    let delete = ScopeAction::Delete(DeleteScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:read".into())),
        }),
        ..Default::default()
    });
    scope_call(&app, "school", delete).await.unwrap();

    let get = ManageClientRequest {
        tenant: "school".into(),
        action: Some(manage_client_request::Action::Get(
            scopegate::pb::GetClient {
                client_id: "mcp-server".into(),
            },
        )),
    };
    let got = app
        .admin()
        .manage_client(authed(get))
        .await
        .unwrap()
        .into_inner();
    let Some(manage_client_response::Result::Client(client)) = got.result else {
        panic!()
    };
    assert_eq!(client.allowed_scopes, ["school:read"]);
}

async fn operations_must_name_existing_scopes(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let op = |alternatives: Vec<Vec<&str>>| Operation {
        name: "GET /courses".into(),
        description: "List courses".into(),
        alternatives: alternatives
            .into_iter()
            .map(|a| Alternative {
                scopes: a.into_iter().map(Into::into).collect(),
            })
            .collect(),
    };
    let call = |o: Operation| ManageOperationRequest {
        tenant: "school".into(),
        action: Some(manage_operation_request::Action::Create(o)),
    };

    let unknown = app
        .admin()
        .manage_operation(authed(call(op(vec![vec!["nope:read"]]))))
        .await
        .unwrap_err();
    let empty_alt = app
        .admin()
        .manage_operation(authed(call(op(vec![vec![]]))))
        .await
        .unwrap_err();
    let ok = app
        .admin()
        .manage_operation(authed(call(op(vec![
            vec!["courses:read"],
            vec!["students:read", "school:read"],
        ]))))
        .await;
    let again = app
        .admin()
        .manage_operation(authed(call(op(vec![vec!["courses:read"]]))))
        .await
        .unwrap_err();

    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(empty_alt.code(), Code::InvalidArgument);
    assert!(ok.is_ok());
    assert_eq!(again.code(), Code::AlreadyExists);
}

async fn import_of_an_export_is_idempotent(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    create_tenant(&app, "copy", "oidc").await;
    // list_courses, get_course and list_reviews are left with no alternative: still exportable.
    let delete = ScopeAction::Delete(DeleteScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:read".into())),
        }),
        ..Default::default()
    });
    scope_call(&app, "school", delete).await.unwrap();
    let exported = app
        .admin()
        .export_catalog(authed(ExportCatalogRequest {
            tenant: "school".into(),
        }))
        .await
        .unwrap()
        .into_inner();

    let import = |dry_run| ImportCatalogRequest {
        tenant: "copy".into(),
        content: exported.content.clone(),
        dry_run,
    };
    let dry = app
        .admin()
        .import_catalog(authed(import(true)))
        .await
        .unwrap()
        .into_inner();
    let first = app
        .admin()
        .import_catalog(authed(import(false)))
        .await
        .unwrap()
        .into_inner();
    let second = app
        .admin()
        .import_catalog(authed(import(false)))
        .await
        .unwrap()
        .into_inner();
    let copy = app
        .admin()
        .export_catalog(authed(ExportCatalogRequest {
            tenant: "copy".into(),
        }))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(dry.changes, first.changes);
    assert!(
        first
            .changes
            .iter()
            .any(|c| c == "scope.create courses:write"),
        "{:?}",
        first.changes
    );
    assert!(second.changes.is_empty(), "{:?}", second.changes);
    assert_eq!(
        second.catalog_revision, first.catalog_revision,
        "an import that changes nothing bumps nothing"
    );
    assert_eq!(copy.content, exported.content);

    // A [tenant] table retunes token settings in the same import.
    let retune = ImportCatalogRequest {
        tenant: "copy".into(),
        content: exported
            .content
            .replace("issuer = \"\"", "issuer = \"https://copy.test\"")
            .replace("leeway_seconds = 60", "leeway_seconds = 30"),
        dry_run: false,
    };
    let retuned = app
        .admin()
        .import_catalog(authed(retune))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retuned.changes, ["tenant.update copy"]);
    let get = ManageTenantRequest {
        action: Some(TenantAction::Get(GetTenant { id: "copy".into() })),
    };
    let Some(TenantResult::Tenant(copy)) = app
        .admin()
        .manage_tenant(authed(get))
        .await
        .unwrap()
        .into_inner()
        .result
    else {
        panic!()
    };
    assert_eq!(
        (copy.issuer.as_str(), copy.leeway_seconds),
        ("https://copy.test", 30)
    );
    let bad = ImportCatalogRequest {
        tenant: "copy".into(),
        content: "[tenant]\nalgorithms = [\"none\"]\n".into(),
        dry_run: false,
    };
    let refused = app.admin().import_catalog(authed(bad)).await.unwrap_err();
    assert!(
        refused.message().starts_with("tenant.algorithms[0]"),
        "{}",
        refused.message()
    );

    let broken = ImportCatalogRequest {
        tenant: "copy".into(),
        content: "[[scope]]\nname = 1".into(),
        dry_run: false,
    };
    assert_eq!(
        app.admin()
            .import_catalog(authed(broken))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

backend_tests!(
    tenants_are_created_from_presets_with_validated_settings,
    deleting_a_scope_removes_it_from_every_client,
    operations_must_name_existing_scopes,
    import_of_an_export_is_idempotent,
);
