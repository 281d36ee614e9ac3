//! Caller authentication end to end (`--caller-auth`, `ManageCaller`): registered callers with
//! keys are let onto their surfaces and held to their tenants on every door (CheckScopes,
//! Introspect, ext_authz, forward auth, AuthZEN); anything else is UNAUTHENTICATED (no or a
//! wrong key, one answer for every kind of wrong) or PERMISSION_DENIED; a deleted key, deleted
//! caller or narrowed limit is in force when the admin call returns; keys are shown once.
// The bodies are plain async fns stamped out by `backend_tests!`: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use scopegate::{
    caller::Surfaces,
    pb::{
        AddCallerKey, CallerLimits, CallerSurface, CreatedCallerKey, DeleteCaller, DeleteCallerKey,
        GetCaller, IntrospectRequest, ListAuditEventsRequest, ListCallers,
        ListSupportedScopesRequest, ManageCallerRequest, RegisteredCaller,
        manage_caller_request::Action, manage_caller_response::Result as CallerResult,
        token_introspection_client::TokenIntrospectionClient,
    },
};
use serde_json::json;
use tonic::{Code, Request};

use crate::{
    backend_tests,
    decision::{SCHOOL, decision, op, school, token_check, token_with},
    helpers::{Backend, TestApp, TestDb, authed, test_config},
    tokens::{Idp, create_tenant_for},
};

backend_tests!(
    a_registered_caller_is_held_to_its_tenants_and_surfaces_on_every_door,
    anonymous_and_wrongly_keyed_callers_are_refused_alike_where_callers_are_required,
    a_deleted_key_or_caller_or_a_narrowed_limit_is_in_force_when_the_call_returns,
    without_caller_auth_anonymous_calls_pass_and_registered_callers_keep_their_limits,
    the_registry_validates_its_input_and_never_shows_a_key_twice,
);

const KEY_HEADER: &str = "x-scopegate-caller-key";

/// An app with the HTTP door and `--caller-auth` on `required`, tenants `school` and `other`.
async fn app_with(db: &TestDb, required: Surfaces) -> (TestApp, String, Idp, Idp) {
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    config.caller_auth = required;
    let app = TestApp::start(config).await;
    let base = format!("http://{}", app.http_addr.unwrap());
    let idp = school(&app).await;
    let other = Idp::new("https://id.other.test", "other-key");
    create_tenant_for(&app, "other", "loopwise", &other).await;
    (app, base, idp, other)
}

async fn manage(app: &TestApp, action: Action) -> Result<CallerResult, tonic::Status> {
    app.admin()
        .manage_caller(authed(ManageCallerRequest {
            action: Some(action),
        }))
        .await
        .map(|r| r.into_inner().result.unwrap())
}

fn limits(name: &str, tenants: &[&str], surfaces: &[CallerSurface]) -> CallerLimits {
    CallerLimits {
        name: name.to_owned(),
        tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        all_tenants: false,
        surfaces: surfaces.iter().map(|s| *s as i32).collect(),
    }
}

/// Registers `name` and returns a new key of it.
async fn register(
    app: &TestApp,
    name: &str,
    tenants: &[&str],
    surfaces: &[CallerSurface],
) -> String {
    manage(app, Action::Create(limits(name, tenants, surfaces)))
        .await
        .unwrap();
    add_key(app, name).await.key
}

async fn add_key(app: &TestApp, name: &str) -> CreatedCallerKey {
    match manage(app, Action::AddKey(AddCallerKey { name: name.into() }))
        .await
        .unwrap()
    {
        CallerResult::CreatedKey(created) => created,
        other => panic!("not a created key: {other:?}"),
    }
}

fn keyed<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert(KEY_HEADER, key.parse().unwrap());
    }
    request
}

/// A `CheckScopes` of one token check for `tenant` (empty: the token's issuer's): the call's
/// status, or the check's own error code (0: decided), and whether it was allowed.
async fn check(
    app: &TestApp,
    key: Option<&str>,
    tenant: &str,
    token: &str,
) -> Result<(i32, bool), Code> {
    let request = scopegate::pb::CheckScopesRequest {
        tenant: tenant.to_owned(),
        checks: vec![token_check("c", token, op("get_settings"))],
        explain: false,
    };
    let answer = decision(app)
        .check_scopes(keyed(request, key))
        .await
        .map_err(|s| s.code())?
        .into_inner();
    let result = &answer.results[0];
    Ok((result.error.as_ref().map_or(0, |e| e.code), result.allowed))
}

async fn introspect(app: &TestApp, key: Option<&str>, token: &str) -> Result<bool, Code> {
    let request = IntrospectRequest {
        token: token.to_owned(),
        ..Default::default()
    };
    TokenIntrospectionClient::new(app.channel.clone())
        .introspect(keyed(request, key))
        .await
        .map(|r| r.into_inner().active)
        .map_err(|s| s.code())
}

/// Forward auth for `tenant`'s `get_settings`: status and the body's `error`.
async fn forward(base: &str, key: Option<&str>, tenant: &str, token: &str) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .get(format!(
            "{base}/v1/authorize?tenant={tenant}&operation=get_settings"
        ))
        .bearer_auth(token);
    if let Some(key) = key {
        request = request.header(KEY_HEADER, key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// An AuthZEN evaluation of `get_settings` on `tenant`: status and `decision`.
async fn evaluate(
    base: &str,
    key: Option<&str>,
    tenant: &str,
    token: &str,
) -> (StatusCode, Option<bool>) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/access/v1/evaluation"))
        .json(&json!({
            "subject": { "type": "token", "id": token },
            "action": { "name": "get_settings" },
            "resource": { "type": "tenant", "id": tenant },
        }));
    if let Some(key) = key {
        request = request.header(KEY_HEADER, key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["decision"].as_bool())
}

/// Envoy's ext_authz `Check` for `tenant`, with the key as Envoy's `initial_metadata` would
/// send it: the call's status code, or whether the answer allowed.
async fn ext_authz(
    app: &TestApp,
    key: Option<&str>,
    tenant: &str,
    token: &str,
) -> Result<bool, Code> {
    use envoy_types::pb::envoy::service::auth::v3::{
        AttributeContext, CheckRequest,
        attribute_context::{HttpRequest, Request as Req},
        authorization_client::AuthorizationClient,
    };
    let http = HttpRequest {
        method: "GET".into(),
        path: "/settings".into(),
        host: "api.school.test".into(),
        scheme: "https".into(),
        headers: [
            (":method", "GET"),
            (":path", "/settings"),
            (":authority", "api.school.test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain([("authorization".to_owned(), format!("Bearer {token}"))])
        .collect(),
        ..Default::default()
    };
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Req {
                time: None,
                http: Some(http),
            }),
            context_extensions: [("tenant", tenant), ("operation", "get_settings")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Default::default()
        }),
    };
    AuthorizationClient::new(app.channel.clone())
        .check(keyed(request, key))
        .await
        .map(|r| r.into_inner().status.unwrap().code == 0)
        .map_err(|s| s.code())
}

const DENIED: i32 = Code::PermissionDenied as i32;

async fn a_registered_caller_is_held_to_its_tenants_and_surfaces_on_every_door(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp, other_idp) = app_with(&db, Surfaces::ALL).await;
    let key = register(&app, "orders", &[SCHOOL], &[CallerSurface::Decision]).await;
    let key = Some(key.as_str());
    let reader = token_with(&idp, "school:read");
    let elsewhere = token_with(&other_idp, "school:read");

    // Its tenant, on every decision door.
    assert_eq!(check(&app, key, SCHOOL, &reader).await, Ok((0, true)));
    assert_eq!(check(&app, key, "", &reader).await, Ok((0, true)));
    assert_eq!(ext_authz(&app, key, SCHOOL, &reader).await, Ok(true));
    assert_eq!(forward(&base, key, SCHOOL, &reader).await.0, StatusCode::OK);
    assert_eq!(
        evaluate(&base, key, SCHOOL, &reader).await,
        (StatusCode::OK, Some(true))
    );

    // Another tenant: named, or only reached through the token's issuer.
    assert_eq!(
        check(&app, key, "other", &elsewhere).await,
        Ok((DENIED, false))
    );
    assert_eq!(check(&app, key, "", &elsewhere).await, Ok((DENIED, false)));
    assert_eq!(
        ext_authz(&app, key, "other", &elsewhere).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        forward(&base, key, "other", &elsewhere).await,
        (StatusCode::FORBIDDEN, "caller_forbidden".to_owned())
    );
    assert_eq!(
        evaluate(&base, key, "other", &elsewhere).await.0,
        StatusCode::FORBIDDEN
    );

    // Another surface.
    assert_eq!(
        introspect(&app, key, &reader).await,
        Err(Code::PermissionDenied)
    );
    let reviewer = register(&app, "reviewer", &[SCHOOL], &[CallerSurface::Introspection]).await;
    assert_eq!(introspect(&app, Some(&reviewer), &reader).await, Ok(true));
    assert_eq!(
        introspect(&app, Some(&reviewer), &elsewhere).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        check(&app, Some(&reviewer), SCHOOL, &reader).await,
        Err(Code::PermissionDenied)
    );

    // Discovery is public.
    let scopes = decision(&app)
        .list_supported_scopes(ListSupportedScopesRequest {
            tenant: SCHOOL.into(),
        })
        .await;
    assert!(scopes.is_ok(), "{scopes:?}");
}

async fn anonymous_and_wrongly_keyed_callers_are_refused_alike_where_callers_are_required(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp, _) = app_with(&db, Surfaces::ALL).await;
    let key = register(&app, "orders", &[SCHOOL], &[CallerSurface::Decision]).await;
    let reader = token_with(&idp, "school:read");
    let (prefix, secret) = key.split_once('.').unwrap();
    let other_secret = format!("{prefix}.{}", "A".repeat(secret.len()));
    let unknown_id = format!("sgk_{}.{secret}", "B".repeat(16));
    let wrong = [
        other_secret.as_str(),
        unknown_id.as_str(),
        "sgk_short.secret",
        "not a key at all",
        &key[..key.len() - 1],
    ];

    let anonymous = decision(&app)
        .check_scopes(Request::new(scopegate::pb::CheckScopesRequest {
            tenant: SCHOOL.into(),
            checks: vec![token_check("c", &reader, op("get_settings"))],
            explain: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert!(anonymous.message().contains(KEY_HEADER), "{anonymous:?}");
    assert_eq!(
        introspect(&app, None, &reader).await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(
        ext_authz(&app, None, SCHOOL, &reader).await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(
        forward(&base, None, SCHOOL, &reader).await,
        (StatusCode::UNAUTHORIZED, "invalid_caller".to_owned())
    );
    assert_eq!(
        evaluate(&base, None, SCHOOL, &reader).await.0,
        StatusCode::UNAUTHORIZED
    );

    let mut messages = std::collections::BTreeSet::new();
    for wrong in wrong {
        let refused = decision(&app)
            .check_scopes(keyed(
                scopegate::pb::CheckScopesRequest {
                    tenant: SCHOOL.into(),
                    checks: vec![token_check("c", &reader, op("get_settings"))],
                    explain: false,
                },
                Some(wrong),
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{wrong}");
        messages.insert(refused.message().to_owned());
        assert_eq!(
            forward(&base, Some(wrong), SCHOOL, &reader).await.0,
            StatusCode::UNAUTHORIZED,
            "{wrong}"
        );
    }
    assert_eq!(
        messages.len(),
        1,
        "every wrong key gets the same answer: {messages:?}"
    );
    // The right key still works, and nothing of it is in any answer.
    assert_eq!(
        check(&app, Some(&key), SCHOOL, &reader).await,
        Ok((0, true))
    );
    assert!(!messages.iter().any(|m| m.contains(secret)));
}

async fn a_deleted_key_or_caller_or_a_narrowed_limit_is_in_force_when_the_call_returns(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp, _) = app_with(&db, Surfaces::ALL).await;
    let first = register(
        &app,
        "orders",
        &[SCHOOL, "other"],
        &[CallerSurface::Decision],
    )
    .await;
    let second = add_key(&app, "orders").await;
    let reader = token_with(&idp, "school:read");
    let first_id = first[4..20].to_owned();
    assert_eq!(
        check(&app, Some(&first), SCHOOL, &reader).await,
        Ok((0, true))
    );
    assert_eq!(
        forward(&base, Some(&second.key), SCHOOL, &reader).await.0,
        StatusCode::OK
    );

    manage(
        &app,
        Action::DeleteKey(DeleteCallerKey {
            name: "orders".into(),
            key_id: first_id,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        check(&app, Some(&first), SCHOOL, &reader).await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(
        check(&app, Some(&second.key), SCHOOL, &reader).await,
        Ok((0, true))
    );

    manage(
        &app,
        Action::Update(limits("orders", &["other"], &[CallerSurface::Decision])),
    )
    .await
    .unwrap();
    assert_eq!(
        check(&app, Some(&second.key), SCHOOL, &reader).await,
        Ok((DENIED, false))
    );
    assert_eq!(
        forward(&base, Some(&second.key), SCHOOL, &reader).await.0,
        StatusCode::FORBIDDEN
    );

    manage(
        &app,
        Action::Delete(DeleteCaller {
            name: "orders".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        check(&app, Some(&second.key), "other", &reader).await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(
        forward(&base, Some(&second.key), "other", &reader).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn without_caller_auth_anonymous_calls_pass_and_registered_callers_keep_their_limits(
    backend: Backend,
) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base, idp, other_idp) = app_with(&db, Surfaces::NONE).await;
    let key = register(&app, "orders", &[SCHOOL], &[CallerSurface::Decision]).await;
    let reader = token_with(&idp, "school:read");
    let elsewhere = token_with(&other_idp, "school:read");

    assert_eq!(check(&app, None, SCHOOL, &reader).await, Ok((0, true)));
    assert_eq!(check(&app, None, "other", &elsewhere).await, Ok((0, true)));
    assert_eq!(introspect(&app, None, &reader).await, Ok(true));
    assert_eq!(
        forward(&base, None, SCHOOL, &reader).await.0,
        StatusCode::OK
    );
    // A key that is presented is checked, and its limits hold.
    assert_eq!(
        check(&app, Some(&key), "", &elsewhere).await,
        Ok((DENIED, false))
    );
    assert_eq!(
        introspect(&app, Some(&key), &reader).await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        check(&app, Some("sgk_nope.nope"), SCHOOL, &reader).await,
        Err(Code::Unauthenticated)
    );
}

async fn the_registry_validates_its_input_and_never_shows_a_key_twice(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, _, _, _) = app_with(&db, Surfaces::NONE).await;
    let created = register(&app, "orders", &[SCHOOL], &[CallerSurface::Decision]).await;
    let secret = created.split_once('.').unwrap().1.to_owned();

    let invalid = [
        (
            limits("two words", &[SCHOOL], &[CallerSurface::Decision]),
            "create.name",
        ),
        (
            limits("x", &[], &[CallerSurface::Decision]),
            "create.tenants",
        ),
        (
            limits("x", &["Not A Tenant"], &[CallerSurface::Decision]),
            "create.tenants[0]",
        ),
        (limits("x", &[SCHOOL], &[]), "create.surfaces"),
        (
            limits("x", &[SCHOOL], &[CallerSurface::Unspecified]),
            "create.surfaces[0]",
        ),
        (
            CallerLimits {
                all_tenants: true,
                ..limits("x", &[SCHOOL], &[CallerSurface::Decision])
            },
            "create.tenants",
        ),
    ];
    for (limits, field) in invalid {
        let err = manage(&app, Action::Create(limits)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(err.message().starts_with(field), "{field}: {err:?}");
    }
    let taken = manage(
        &app,
        Action::Create(limits("orders", &[SCHOOL], &[CallerSurface::Decision])),
    )
    .await
    .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let missing = manage(
        &app,
        Action::Delete(DeleteCaller {
            name: "nobody".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let no_key = manage(
        &app,
        Action::DeleteKey(DeleteCallerKey {
            name: "orders".into(),
            key_id: "AAAAAAAAAAAAAAAA".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(no_key.code(), Code::NotFound);
    for _ in 1..scopegate::store::MAX_KEYS_PER_CALLER {
        add_key(&app, "orders").await;
    }
    let full = manage(
        &app,
        Action::AddKey(AddCallerKey {
            name: "orders".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(full.code(), Code::InvalidArgument, "{full:?}");

    // Listed and got with key ids only; the audit trail neither.
    let listed = manage(&app, Action::List(ListCallers { page: None }))
        .await
        .unwrap();
    let got = manage(
        &app,
        Action::Get(GetCaller {
            name: "orders".into(),
        }),
    )
    .await
    .unwrap();
    let caller: RegisteredCaller = match got {
        CallerResult::Caller(caller) => caller,
        other => panic!("{other:?}"),
    };
    assert_eq!(caller.keys.len(), scopegate::store::MAX_KEYS_PER_CALLER);
    assert_eq!(caller.tenants, vec![SCHOOL.to_owned()]);
    // The registry's writes are the platform's audit records (tenant left empty).
    let audit = app
        .admin()
        .list_audit_events(authed(ListAuditEventsRequest {
            tenant: String::new(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = audit.events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"caller.create"), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| **a == "caller.add_key").count(),
        scopegate::store::MAX_KEYS_PER_CALLER
    );
    assert!(
        audit.events.iter().all(|e| e.target == "orders"),
        "{audit:?}"
    );
    let shown = format!("{listed:?}{caller:?}{audit:?}");
    assert!(!shown.contains(&secret), "a key was shown again");
    assert!(shown.contains(&created[4..20]), "the key id is listed");
}
