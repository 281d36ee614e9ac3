//! Roles claims mapped to scopes (Keycloak, Zitadel, Entra ID shapes): a token whose
//! permissions are roles, with no `scope`, is decided by CheckScopes through its mapped scopes,
//! after the catalog's filtering and reserved-scope rules; the mapping is a tenant setting,
//! refused with the field named when malformed, and a change applies to the next check.

use scopegate::pb::{
    ClaimSource, ManageTenantRequest, Reason, ScopeClaims, TenantSettings, UpdateTenant,
    manage_tenant_request::Action,
};
use serde_json::json;
use tonic::Code;

use crate::{
    backend_tests,
    decision::{SCHOOL, all_of, check_one, op, school, token_check},
    fresh_app,
    helpers::{Backend, TestApp, authed},
};

backend_tests!(
    a_keycloak_token_with_roles_and_no_scope_is_decided_by_its_mapped_scopes,
    a_mapping_is_checked_and_its_changes_apply_to_the_next_check,
);

fn source(pointer: &str, prefix: &str) -> ClaimSource {
    ClaimSource {
        pointer: pointer.to_owned(),
        prefix: prefix.to_owned(),
    }
}

async fn map_claims(app: &TestApp, scope_claims: ScopeClaims) -> Result<(), tonic::Status> {
    let update = UpdateTenant {
        id: SCHOOL.to_owned(),
        settings: Some(TenantSettings {
            scope_claims: Some(scope_claims),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = ManageTenantRequest {
        action: Some(Action::Update(update)),
    };
    app.admin().manage_tenant(authed(request)).await.map(|_| ())
}

async fn a_keycloak_token_with_roles_and_no_scope_is_decided_by_its_mapped_scopes(
    backend: Backend,
) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    map_claims(
        &app,
        ScopeClaims {
            sources: vec![
                source("/realm_access/roles", "loopwise:"),
                source("/resource_access/loopwise-api/roles", ""),
            ],
            replace: true,
        },
    )
    .await
    .unwrap();
    // Keycloak's shape: realm roles (prefixed) and the API client's roles; no `scope` that
    // counts (replace), and a reserved role that a third-party client must not get.
    let token = idp.mint(&json!({
        "scope": "openid students:read",
        "realm_access": { "roles": ["offline_access", "loopwise:courses:read", "loopwise:admin:read"] },
        "resource_access": { "loopwise-api": { "roles": ["school:read"] } },
    }));

    let courses = check_one(&app, token_check("courses", &token, op("list_courses"))).await;
    let settings = check_one(&app, token_check("settings", &token, op("get_settings"))).await;
    let students = check_one(
        &app,
        token_check("students", &token, all_of(&["students:read"])),
    )
    .await;
    let admin = check_one(&app, token_check("admin", &token, all_of(&["admin:read"]))).await;

    assert!(courses.allowed, "{courses:?}");
    assert!(settings.allowed, "{settings:?}");
    assert_eq!(
        students.reason(),
        Reason::InsufficientScope,
        "replaced `scope` does not count"
    );
    assert_eq!(
        admin.reason(),
        Reason::InsufficientScope,
        "reserved only for first party"
    );
    let mut granted = courses.granted.clone();
    granted.sort();
    assert_eq!(granted, ["courses:read", "school:read"]);
}

async fn a_mapping_is_checked_and_its_changes_apply_to_the_next_check(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = idp.mint(&json!({
        "scope": "openid",
        "roles": ["courses:read"],
    }));
    let check = || token_check("c", &token, op("list_courses"));
    assert!(!check_one(&app, check()).await.allowed, "no mapping yet");

    // Entra ID's shape, merged with `scope`.
    let entra = ScopeClaims {
        sources: vec![source("/roles", "")],
        replace: false,
    };
    map_claims(&app, entra).await.unwrap();
    let mapped = check_one(&app, check()).await;
    assert!(
        mapped.allowed,
        "the cached verification was not reused: {mapped:?}"
    );
    assert!(
        mapped.granted.contains(&"openid".to_owned()),
        "merged with scope"
    );

    for (bad, field) in [
        (
            vec![source("roles", "")],
            "settings.scope_claims.sources[0].pointer",
        ),
        (
            vec![source("/roles", "a b")],
            "settings.scope_claims.sources[0].prefix",
        ),
        (
            vec![source("/roles", ""); 9],
            "settings.scope_claims.sources",
        ),
    ] {
        let status = map_claims(
            &app,
            ScopeClaims {
                sources: bad,
                replace: false,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{}",
            status.message()
        );
    }
    // Removing the mapping takes the roles away again.
    map_claims(&app, ScopeClaims::default()).await.unwrap();
    assert!(!check_one(&app, check()).await.allowed);
}
