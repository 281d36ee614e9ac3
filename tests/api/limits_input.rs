//! Every string a caller sends is bounded, and nothing it sent comes back unbounded: an
//! oversized value is INVALID_ARGUMENT naming its field, in a message standard gRPC clients can
//! read (trailers over 16 KiB are not), whatever the RPC.

use scopegate::pb::{
    Client, CreateScope, CreateTenant, GetClient, GetOperation, GetScope, ImportCatalogRequest,
    ManageClientRequest, ManageOperationRequest, ManageTenantRequest, Operation, ScopeRef,
    StringList, TenantSettings, manage_client_request, manage_operation_request,
    manage_scope_request::Action as ScopeAction, manage_tenant_request, scope_ref::Ref,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, authed, create_tenant},
    manage_scope::scope_call,
};

/// A mebibyte of scope-token characters.
fn mib() -> String {
    "a".repeat(1024 * 1024)
}

/// INVALID_ARGUMENT naming `field`, in the message and the BadRequest detail, under 1 KiB.
#[track_caller]
fn assert_invalid(result: Result<impl std::fmt::Debug, Status>, field: &str) {
    let status = match result {
        Ok(answer) => panic!("{field}: accepted: {:.200}", format!("{answer:?}")),
        Err(status) => status,
    };
    let message = status.message();
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{field}: {message:.300}"
    );
    assert!(
        message.starts_with(&format!("{field}: ")),
        "{field}: {message:.300}"
    );
    assert!(message.len() < 1024, "{field}: {} bytes", message.len());
    let violations = status
        .get_details_bad_request()
        .map(|b| b.field_violations)
        .unwrap_or_default();
    assert_eq!(
        violations
            .iter()
            .map(|v| v.field.as_str())
            .collect::<Vec<_>>(),
        [field]
    );
    assert!(violations[0].description.len() < 1024);
}

async fn client_call(
    app: &TestApp,
    action: manage_client_request::Action,
) -> Result<scopegate::pb::ManageClientResponse, Status> {
    let request = ManageClientRequest {
        tenant: "school".into(),
        action: Some(action),
    };
    app.admin()
        .manage_client(authed(request))
        .await
        .map(tonic::Response::into_inner)
}

async fn operation_call(
    app: &TestApp,
    action: manage_operation_request::Action,
) -> Result<scopegate::pb::ManageOperationResponse, Status> {
    let request = ManageOperationRequest {
        tenant: "school".into(),
        action: Some(action),
    };
    app.admin()
        .manage_operation(authed(request))
        .await
        .map(tonic::Response::into_inner)
}

async fn oversized_scope_names_and_descriptions_are_invalid_argument(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let by_name = |name: String| {
        ScopeAction::Get(GetScope {
            scope: Some(ScopeRef {
                r#ref: Some(Ref::Name(name)),
            }),
        })
    };
    assert_invalid(
        scope_call(&app, "school", by_name(mib())).await,
        "get.scope.name",
    );
    let create = |name: String, description: String| {
        ScopeAction::Create(CreateScope {
            name,
            description,
            ..Default::default()
        })
    };
    assert_invalid(
        scope_call(&app, "school", create(mib(), "d".into())).await,
        "create.name",
    );
    assert_invalid(
        scope_call(&app, "school", create("notes:read".into(), mib())).await,
        "description",
    );
}

async fn oversized_client_fields_are_invalid_argument(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let client = |client_id: String, name: String| {
        manage_client_request::Action::Create(Client {
            client_id,
            name,
            ..Default::default()
        })
    };
    assert_invalid(client_call(&app, client("web".into(), mib())).await, "name");
    assert_invalid(
        client_call(&app, client(mib(), "Web".into())).await,
        "client_id",
    );
    let get = manage_client_request::Action::Get(GetClient { client_id: mib() });
    assert_invalid(client_call(&app, get).await, "get.client_id");
}

async fn oversized_operation_fields_are_invalid_argument(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let op = |name: String, description: String| {
        manage_operation_request::Action::Create(Operation {
            name,
            description,
            ..Default::default()
        })
    };
    assert_invalid(
        operation_call(&app, op("get_x".into(), mib())).await,
        "description",
    );
    assert_invalid(operation_call(&app, op(mib(), String::new())).await, "name");
    let get = manage_operation_request::Action::Get(GetOperation { name: mib() });
    assert_invalid(operation_call(&app, get).await, "get.name");
}

async fn oversized_tenant_settings_are_invalid_argument(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let create = |settings: TenantSettings| ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Create(CreateTenant {
            id: "big".into(),
            settings: Some(settings),
            ..Default::default()
        })),
    };
    let audience = TenantSettings {
        audiences: Some(StringList {
            values: vec!["https://api.test".into(), mib()],
        }),
        ..Default::default()
    };
    let issuer = TenantSettings {
        issuer: Some(format!("https://{}", mib())),
        ..Default::default()
    };
    for (settings, field) in [
        (audience, "settings.audiences[1]"),
        (issuer, "settings.issuer"),
    ] {
        let answer = app.admin().manage_tenant(authed(create(settings))).await;
        assert_invalid(answer, field);
    }
    let named = ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Create(CreateTenant {
            id: "big".into(),
            display_name: mib(),
            ..Default::default()
        })),
    };
    let answer = app.admin().manage_tenant(authed(named)).await;
    assert_invalid(answer, "create.display_name");
    create_tenant(&app, "small", "oidc").await;
    let renamed = ManageTenantRequest {
        action: Some(manage_tenant_request::Action::Update(
            scopegate::pb::UpdateTenant {
                id: "small".into(),
                display_name: Some(mib()),
                ..Default::default()
            },
        )),
    };
    let answer = app.admin().manage_tenant(authed(renamed)).await;
    assert_invalid(answer, "update.display_name");
}

async fn catalog_import_errors_do_not_echo_the_file(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let import = |content: String| ImportCatalogRequest {
        tenant: "school".into(),
        content,
        dry_run: true,
    };
    // Not TOML: the parser's message quotes the offending line.
    let broken = format!("[[scope]]\nname = \"{}\" trailing\n", mib());
    let answer = app.admin().import_catalog(authed(import(broken))).await;
    assert_invalid(answer, "content");
    // TOML, but its values break the limits.
    let long_name = format!("[[scope]]\nname = \"{}\"\ndescription = \"d\"\n", mib());
    let answer = app.admin().import_catalog(authed(import(long_name))).await;
    assert_invalid(answer, "scope[0].name");
    let long_client = format!("[[client]]\nclient_id = \"web\"\nname = \"{}\"\n", mib());
    let answer = app
        .admin()
        .import_catalog(authed(import(long_client)))
        .await;
    assert_invalid(answer, "name");
}

backend_tests!(
    oversized_scope_names_and_descriptions_are_invalid_argument,
    oversized_client_fields_are_invalid_argument,
    oversized_operation_fields_are_invalid_argument,
    oversized_tenant_settings_are_invalid_argument,
    catalog_import_errors_do_not_echo_the_file,
);
