//! ManageScope: every rule of the scope catalog, through gRPC, on both backends.

use scopegate::pb::{
    CreateScope, DeleteScope, GetOperation, GetScope, ListAuditEventsRequest, ListScopes,
    ManageOperationRequest, ManageScopeRequest, ManageScopeResponse, PageRequest, ScopeNames,
    ScopeRef, UpdateScope, manage_operation_request, manage_operation_response,
    manage_scope_request::Action, manage_scope_response::Result as R, scope_ref::Ref,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, authed, create_tenant},
};

pub async fn scope_call(
    app: &TestApp,
    tenant: &str,
    action: Action,
) -> Result<ManageScopeResponse, Status> {
    let request = ManageScopeRequest {
        tenant: tenant.to_owned(),
        action: Some(action),
    };
    app.admin()
        .manage_scope(authed(request))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn list_names(app: &TestApp, tenant: &str, discoverable_only: bool) -> Vec<String> {
    let list = ListScopes {
        page: Some(PageRequest {
            page_size: 500,
            ..Default::default()
        }),
        discoverable_only,
    };
    match scope_call(app, tenant, Action::List(list))
        .await
        .expect("list")
        .result
    {
        Some(R::Scopes(page)) => page.scopes.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

fn by_name(name: &str) -> Option<ScopeRef> {
    Some(ScopeRef {
        r#ref: Some(Ref::Name(name.to_owned())),
    })
}

fn create(name: &str, description: &str) -> Action {
    Action::Create(CreateScope {
        name: name.to_owned(),
        description: description.to_owned(),
        ..Default::default()
    })
}

async fn operation_alternatives(app: &TestApp, tenant: &str, name: &str) -> Vec<Vec<String>> {
    let request = ManageOperationRequest {
        tenant: tenant.to_owned(),
        action: Some(manage_operation_request::Action::Get(GetOperation {
            name: name.to_owned(),
        })),
    };
    let response = app
        .admin()
        .manage_operation(authed(request))
        .await
        .expect("get operation")
        .into_inner();
    match response.result {
        Some(manage_operation_response::Result::Operation(op)) => {
            op.alternatives.into_iter().map(|a| a.scopes).collect()
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn audit_count(app: &TestApp, tenant: &str) -> usize {
    let request = ListAuditEventsRequest {
        tenant: tenant.to_owned(),
        page: Some(PageRequest {
            page_size: 500,
            ..Default::default()
        }),
    };
    app.admin()
        .list_audit_events(authed(request))
        .await
        .expect("audit")
        .into_inner()
        .events
        .len()
}

async fn discoverable_listing_hides_the_reserved_admin_pair(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;

    let all = list_names(&app, "school", false).await;
    let discoverable = list_names(&app, "school", true).await;

    assert!(all.contains(&"admin:read".to_owned()) && all.contains(&"admin:write".to_owned()));
    assert!(
        !discoverable.iter().any(|n| n.starts_with("admin")),
        "{discoverable:?}"
    );
    assert!(
        discoverable.contains(&"courses:read".to_owned())
            && discoverable.contains(&"openid".to_owned())
    );
    assert_eq!(
        all.len(),
        6 + 28,
        "system scopes plus the 28 loopwise data scopes"
    );
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "listed in name order");
}

async fn listing_pages_through_every_scope_exactly_once(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let list = ListScopes {
            page: Some(PageRequest {
                page_size: 7,
                page_token: token.clone(),
            }),
            discoverable_only: false,
        };
        let Some(R::Scopes(page)) = scope_call(&app, "school", Action::List(list))
            .await
            .unwrap()
            .result
        else {
            panic!()
        };
        assert!(page.scopes.len() <= 7);
        seen.extend(page.scopes.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, list_names(&app, "school", false).await);
}

async fn system_scopes_can_be_neither_updated_nor_deleted(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    let before = audit_count(&app, "school").await;

    let delete = scope_call(
        &app,
        "school",
        Action::Delete(DeleteScope {
            scope: by_name("openid"),
            ..Default::default()
        }),
    )
    .await;
    let update = scope_call(
        &app,
        "school",
        Action::Update(UpdateScope {
            scope: by_name("admin:write"),
            description: Some("x".into()),
            ..Default::default()
        }),
    )
    .await;

    assert_eq!(delete.unwrap_err().code(), Code::FailedPrecondition);
    assert_eq!(update.unwrap_err().code(), Code::FailedPrecondition);
    assert!(
        list_names(&app, "school", false)
            .await
            .contains(&"openid".to_owned())
    );
    assert_eq!(
        audit_count(&app, "school").await,
        before,
        "a refused write leaves no audit row"
    );
}

async fn deleting_a_scope_removes_it_from_the_tool_map_and_dry_run_changes_nothing(
    backend: Backend,
) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;

    let dry = scope_call(
        &app,
        "school",
        Action::Delete(DeleteScope {
            scope: by_name("courses:read"),
            dry_run: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let Some(R::Deleted(dry)) = dry.result else {
        panic!()
    };
    assert!(dry.dry_run);
    let mut touched = dry.operations.clone();
    touched.sort();
    assert_eq!(touched, ["get_course", "list_courses", "list_reviews"]);
    assert_eq!(
        operation_alternatives(&app, "school", "list_courses").await,
        [["courses:read"]],
        "dry run changed nothing"
    );

    let done = scope_call(
        &app,
        "school",
        Action::Delete(DeleteScope {
            scope: by_name("courses:read"),
            ..Default::default()
        }),
    )
    .await
    .unwrap();

    assert!(matches!(done.result, Some(R::Deleted(ref d)) if !d.dry_run));
    assert!(
        !list_names(&app, "school", false)
            .await
            .contains(&"courses:read".to_owned())
    );
    for tool in ["list_courses", "get_course", "list_reviews"] {
        let alternatives = operation_alternatives(&app, "school", tool).await;
        assert!(
            alternatives
                .iter()
                .all(|a| !a.contains(&"courses:read".to_owned())),
            "{tool}: {alternatives:?}"
        );
    }
    assert_eq!(
        operation_alternatives(&app, "school", "update_course").await,
        [["courses:write"]],
        "others untouched"
    );
    let get = scope_call(
        &app,
        "school",
        Action::Get(GetScope {
            scope: by_name("courses:read"),
        }),
    )
    .await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound);
}

async fn deleting_one_alternative_keeps_the_other(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "school", "loopwise").await;
    scope_call(
        &app,
        "school",
        Action::Delete(DeleteScope {
            scope: by_name("school:read"),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        operation_alternatives(&app, "school", "get_settings").await,
        [["appearance:read"]]
    );
}

async fn create_get_update_with_etags(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "acme", "lumoauth").await;

    let created = scope_call(&app, "acme", create("orders.read", "View your orders"))
        .await
        .unwrap();
    let Some(R::Scope(created)) = created.result else {
        panic!()
    };
    assert_eq!(
        (
            created.name.as_str(),
            created.is_system,
            created.is_reserved
        ),
        ("orders.read", false, false)
    );
    let by_id = scope_call(
        &app,
        "acme",
        Action::Get(GetScope {
            scope: Some(ScopeRef {
                r#ref: Some(Ref::Id(created.id)),
            }),
        }),
    )
    .await
    .unwrap();
    assert!(matches!(by_id.result, Some(R::Scope(ref s)) if s.name == "orders.read"));

    let update = |etag: &str, description: &str| {
        Action::Update(UpdateScope {
            scope: by_name("orders.read"),
            description: Some(description.to_owned()),
            is_default: Some(true),
            etag: etag.to_owned(),
            ..Default::default()
        })
    };
    let updated = scope_call(
        &app,
        "acme",
        update(&created.etag, "View orders and history"),
    )
    .await
    .unwrap();
    let Some(R::Scope(updated)) = updated.result else {
        panic!()
    };
    assert_eq!(updated.description, "View orders and history");
    assert!(updated.is_default);
    assert_ne!(updated.etag, created.etag);

    let stale = scope_call(&app, "acme", update(&created.etag, "lost update")).await;
    assert_eq!(stale.unwrap_err().code(), Code::Aborted);
    let stale_delete = scope_call(
        &app,
        "acme",
        Action::Delete(DeleteScope {
            scope: by_name("orders.read"),
            etag: created.etag.clone(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(stale_delete.unwrap_err().code(), Code::Aborted);
    let Some(R::Scope(now)) = scope_call(
        &app,
        "acme",
        Action::Get(GetScope {
            scope: by_name("orders.read"),
        }),
    )
    .await
    .unwrap()
    .result
    else {
        panic!()
    };
    assert_eq!(
        now.description, "View orders and history",
        "the stale write changed nothing"
    );
}

async fn bad_input_gets_the_right_code_and_names_the_field(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "acme", "oidc").await;

    let bad_name = scope_call(&app, "acme", create("orders read", "x"))
        .await
        .unwrap_err();
    assert_eq!(bad_name.code(), Code::InvalidArgument);
    let violations = bad_name
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations;
    assert_eq!(violations[0].field, "create.name");
    for name in ["a\"b", "a\\b", "", &"x".repeat(129)] {
        assert_eq!(
            scope_call(&app, "acme", create(name, "x"))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument,
            "{name:?}"
        );
    }
    let no_description = scope_call(&app, "acme", create("orders.read", ""))
        .await
        .unwrap_err();
    assert_eq!(
        no_description
            .get_details_bad_request()
            .unwrap()
            .field_violations[0]
            .field,
        "description"
    );

    scope_call(&app, "acme", create("orders.read", "View orders"))
        .await
        .unwrap();
    let duplicate = scope_call(&app, "acme", create("orders.read", "again"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert!(
        scope_call(&app, "acme", create("Orders.read", "case-sensitive names"))
            .await
            .is_ok()
    );
    let system_duplicate = scope_call(&app, "acme", create("openid", "again"))
        .await
        .unwrap_err();
    assert_eq!(system_duplicate.code(), Code::AlreadyExists);

    let unknown_tenant = scope_call(&app, "nope", create("x", "y"))
        .await
        .unwrap_err();
    assert_eq!(unknown_tenant.code(), Code::NotFound);
    let bad_tenant = scope_call(&app, "Not A Slug", create("x", "y"))
        .await
        .unwrap_err();
    assert_eq!(bad_tenant.code(), Code::InvalidArgument);
    let no_action = app
        .admin()
        .manage_scope(authed(ManageScopeRequest {
            tenant: "acme".into(),
            action: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(no_action.code(), Code::InvalidArgument);
}

async fn implications_must_exist_and_never_cycle(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "acme", "oidc").await;
    scope_call(&app, "acme", create("a", "a")).await.unwrap();
    let b = Action::Create(CreateScope {
        name: "b".into(),
        description: "b".into(),
        implies: vec!["a".into()],
        ..Default::default()
    });
    scope_call(&app, "acme", b).await.unwrap();
    let c = Action::Create(CreateScope {
        name: "c".into(),
        description: "c".into(),
        implies: vec!["b".into()],
        ..Default::default()
    });
    scope_call(&app, "acme", c).await.unwrap();

    let cycle = Action::Update(UpdateScope {
        scope: by_name("a"),
        implies: Some(ScopeNames {
            names: vec!["c".into()],
        }),
        ..Default::default()
    });
    let err = scope_call(&app, "acme", cycle).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("a -> c -> b -> a"),
        "{}",
        err.message()
    );

    let missing = Action::Create(CreateScope {
        name: "d".into(),
        description: "d".into(),
        implies: vec!["zzz".into()],
        ..Default::default()
    });
    let err = scope_call(&app, "acme", missing).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Deleting an implied scope removes the implication.
    let deleted = scope_call(
        &app,
        "acme",
        Action::Delete(DeleteScope {
            scope: by_name("a"),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let Some(R::Deleted(deleted)) = deleted.result else {
        panic!()
    };
    assert_eq!(deleted.implied_by, ["b"]);
    let Some(R::Scope(b)) = scope_call(
        &app,
        "acme",
        Action::Get(GetScope {
            scope: by_name("b"),
        }),
    )
    .await
    .unwrap()
    .result
    else {
        panic!()
    };
    assert!(b.implies.is_empty());
}

async fn every_write_bumps_the_revision_and_writes_an_audit_event(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    create_tenant(&app, "acme", "oidc").await;
    let first = audit_count(&app, "acme").await;
    let created = scope_call(&app, "acme", create("x", "x")).await.unwrap();
    let deleted = scope_call(
        &app,
        "acme",
        Action::Delete(DeleteScope {
            scope: by_name("x"),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(deleted.catalog_revision, created.catalog_revision + 1);
    assert_eq!(audit_count(&app, "acme").await, first + 2);
}

backend_tests!(
    discoverable_listing_hides_the_reserved_admin_pair,
    listing_pages_through_every_scope_exactly_once,
    system_scopes_can_be_neither_updated_nor_deleted,
    deleting_a_scope_removes_it_from_the_tool_map_and_dry_run_changes_nothing,
    deleting_one_alternative_keeps_the_other,
    create_get_update_with_etags,
    bad_input_gets_the_right_code_and_names_the_field,
    implications_must_exist_and_never_cycle,
    every_write_bumps_the_revision_and_writes_an_audit_event,
);
