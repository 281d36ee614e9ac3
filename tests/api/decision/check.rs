//! CheckScopes decisions: alternatives, deletions taking effect at once, reserved scopes, and
//! finding the tenant by the token's issuer.

use scopegate::pb::{
    DeleteScope, Reason, ScopeNames, ScopeRef, UpdateScope,
    manage_scope_request::Action as ScopeAction, scope_ref::Ref,
};
use serde_json::json;

use super::{
    SCHOOL, all_of, check_all, check_one, granted_check, op, register_client, school, token_check,
    token_with,
};
use crate::{
    backend_tests, fresh_app,
    helpers::Backend,
    manage_scope::scope_call,
    tokens::{Idp, create_tenant_for},
};

async fn get_settings_is_allowed_by_either_alternative(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;

    let school_only = check_one(
        &app,
        token_check("a", &token_with(&idp, "school:read"), op("get_settings")),
    )
    .await;
    let appearance_only = check_one(
        &app,
        token_check(
            "b",
            &token_with(&idp, "appearance:read"),
            op("get_settings"),
        ),
    )
    .await;
    let neither = check_one(
        &app,
        token_check("c", &token_with(&idp, "openid"), op("get_settings")),
    )
    .await;

    assert!(school_only.allowed);
    assert_eq!(school_only.satisfied_by.unwrap().scopes, ["school:read"]);
    assert_eq!(school_only.granted, ["school:read"]);
    assert!(appearance_only.allowed);
    assert_eq!(
        appearance_only.satisfied_by.unwrap().scopes,
        ["appearance:read"]
    );
    let explain = appearance_only.explain.unwrap();
    assert_eq!(explain.alternatives.len(), 2, "both alternatives traced");
    assert_eq!(explain.alternatives[0].missing, ["school:read"]);
    assert!(explain.alternatives[1].missing.is_empty());
    assert!(!neither.allowed);
    assert_eq!(neither.missing, ["school:read"]);
}

async fn a_deleted_scope_denies_at_once_even_for_a_cached_token(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "courses:read school:read");
    let before = check_one(&app, token_check("warm", &token, op("list_courses"))).await;
    assert!(before.allowed, "{before:?}");

    let delete = ScopeAction::Delete(DeleteScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:read".into())),
        }),
        ..Default::default()
    });
    scope_call(&app, SCHOOL, delete).await.unwrap();
    let after = check_one(&app, token_check("after", &token, op("list_courses"))).await;
    let by_name = check_one(&app, token_check("name", &token, all_of(&["courses:read"]))).await;

    let explain = after.explain.as_ref().unwrap();
    assert!(explain.cache_hit, "the token's facts came from the cache");
    assert!(!after.allowed, "{after:?}");
    assert_eq!(after.http_status, 403);
    assert_eq!(after.granted, ["school:read"]);
    assert_eq!(explain.dropped, ["courses:read"]);
    assert!(after.catalog_revision > before.catalog_revision);
    // The operation lost its only alternative with the scope: nothing left to ask for.
    assert_eq!(after.reason(), Reason::InsufficientScope);
    assert!(after.missing.is_empty());
    assert_eq!(
        after.www_authenticate,
        r#"Bearer realm="school", error="insufficient_scope""#
    );
    assert!(!by_name.allowed);
    assert_eq!(by_name.reason(), Reason::UnknownScope);
    assert_eq!(by_name.missing, ["courses:read"]);
}

async fn implied_scopes_count_and_the_trace_names_the_implication(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let update = ScopeAction::Update(UpdateScope {
        scope: Some(ScopeRef {
            r#ref: Some(Ref::Name("courses:write".into())),
        }),
        implies: Some(ScopeNames {
            names: vec!["courses:read".into()],
        }),
        ..Default::default()
    });
    scope_call(&app, SCHOOL, update).await.unwrap();

    let token = token_with(&idp, "courses:write");
    let implied = check_one(&app, token_check("implied", &token, op("list_courses"))).await;

    assert!(implied.allowed, "{implied:?}");
    assert_eq!(implied.granted, ["courses:read", "courses:write"]);
    let explain = implied.explain.unwrap();
    assert_eq!(explain.implications_used, ["courses:write -> courses:read"]);
    assert_eq!(
        (
            explain.token_source.as_str(),
            explain.token_outcome.as_str()
        ),
        ("token", "ok")
    );
}

async fn reserved_scopes_are_honoured_only_for_registered_first_party_clients(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    register_client(&app, "console", true, &["admin:read"]).await;
    register_client(&app, "partner", false, &["courses:read"]).await;
    let token_for = |client: &str| idp.mint(&json!({ "scope": "admin:read", "client_id": client }));
    let need = || all_of(&["admin:read"]);

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            token_check("console-token", &token_for("console"), need()),
            token_check("partner-token", &token_for("partner"), need()),
            token_check("unregistered-token", &token_for("stranger"), need()),
            granted_check("console-granted", &["admin:read"], "console", need()),
            granted_check("partner-granted", &["admin:read"], "partner", need()),
            granted_check("anonymous-granted", &["admin:read"], "", need()),
        ],
    )
    .await;

    let allowed: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r.correlation_id.as_str(), r.allowed))
        .collect();
    assert_eq!(
        allowed,
        [
            ("console-token", true),
            ("partner-token", false),
            ("unregistered-token", false),
            ("console-granted", true),
            ("partner-granted", false),
            ("anonymous-granted", false),
        ]
    );
    assert_eq!(results[0].granted, ["admin:read"]);
    let partner = &results[1];
    assert_eq!(partner.reason(), Reason::InsufficientScope);
    assert!(partner.granted.is_empty());
    assert_eq!(partner.missing, ["admin:read"]);
    assert_eq!(partner.explain.as_ref().unwrap().dropped, ["admin:read"]);
}

async fn the_tenant_is_found_by_the_tokens_issuer(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let other = Idp::new("https://id.other.test", "other-key");
    create_tenant_for(&app, "other", "oidc", &other).await;
    let stranger = Idp::new("https://id.nobody.test", "k");

    let results = check_all(
        &app,
        "",
        vec![
            token_check(
                "school",
                &token_with(&idp, "courses:read"),
                op("list_courses"),
            ),
            token_check("other", &token_with(&other, "openid"), all_of(&["openid"])),
            token_check(
                "nobody",
                &token_with(&stranger, "openid"),
                all_of(&["openid"]),
            ),
        ],
    )
    .await;

    assert_eq!(results[0].tenant, "school");
    assert!(results[0].allowed, "{:?}", results[0]);
    assert_eq!(results[1].tenant, "other");
    assert!(results[1].allowed, "{:?}", results[1]);
    assert_eq!(results[2].reason(), Reason::TenantNotFound);
    assert_eq!(results[2].tenant, "");
    assert_eq!(results[2].http_status, 401);
    assert_eq!(
        results[2].www_authenticate,
        r#"Bearer error="invalid_token""#
    );
}

backend_tests!(
    get_settings_is_allowed_by_either_alternative,
    a_deleted_scope_denies_at_once_even_for_a_cached_token,
    implied_scopes_count_and_the_trace_names_the_implication,
    reserved_scopes_are_honoured_only_for_registered_first_party_clients,
    the_tenant_is_found_by_the_tokens_issuer,
);
