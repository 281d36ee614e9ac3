//! CheckScopes batches and answers: order and per-item errors, whole-call limits, exact
//! RFC 6750 challenges, and failing closed on unknown operations and scopes.

use scopegate::pb::{Check, CheckScopesRequest, Reason};
use serde_json::json;
use tonic::Code;

use super::{
    SCHOOL, all_of, alternatives, any_of, check_all, check_one, decision, granted_check, op,
    school, token_check, token_with,
};
use crate::{backend_tests, fresh_app, helpers::Backend, tokens::now};

async fn a_batch_is_answered_in_order_with_each_bad_item_failing_alone(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "courses:read");
    let good = |id: &str| token_check(id, &token, op("list_courses"));
    let no_subject = Check {
        subject: None,
        ..good("no-subject")
    };
    let no_requirement = Check {
        requirement: None,
        ..good("no-requirement")
    };
    let bad_tenant = Check {
        tenant: "Not A Tenant".into(),
        ..good("bad-tenant")
    };

    let results = check_all(
        &app,
        SCHOOL,
        vec![
            good("first"),
            token_check("bad-name", &token, all_of(&["courses:read", "bad name"])),
            no_subject,
            good("middle"),
            no_requirement,
            token_check("empty-alt", &token, alternatives(&[&["courses:read"], &[]])),
            granted_check("bad-granted", &["ok", "bad\"quote"], "", any_of(&["ok"])),
            bad_tenant,
            good("last"),
        ],
    )
    .await;

    let ids: Vec<&str> = results.iter().map(|r| r.correlation_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "first",
            "bad-name",
            "no-subject",
            "middle",
            "no-requirement",
            "empty-alt",
            "bad-granted",
            "bad-tenant",
            "last"
        ]
    );
    for good in [&results[0], &results[3], &results[8]] {
        assert!(good.error.is_none() && good.allowed, "{good:?}");
    }
    let errors: Vec<(i32, &str)> = results
        .iter()
        .filter_map(|r| r.error.as_ref())
        .map(|e| (e.code, e.field.as_str()))
        .collect();
    let invalid = Code::InvalidArgument as i32;
    assert_eq!(
        errors,
        [
            (invalid, "all_of.names[1]"),
            (invalid, "subject"),
            (invalid, "requirement"),
            (invalid, "alternatives.alternatives[1].scopes"),
            (invalid, "granted.scopes[1]"),
            (invalid, "tenant"),
        ]
    );
    let bad_name = &results[1];
    assert!(
        bad_name
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("all_of.names[1]: ")
    );
    assert!(!bad_name.allowed);
    assert_eq!(
        bad_name.reason(),
        Reason::Unspecified,
        "decision fields stay unset"
    );
    assert_eq!(bad_name.http_status, 0);
}

async fn an_empty_or_oversized_batch_fails_the_whole_call(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let token = token_with(&idp, "courses:read");
    let call = |checks: Vec<Check>| CheckScopesRequest {
        tenant: SCHOOL.into(),
        checks,
        explain: false,
    };
    let batch = |n: usize| {
        (0..n)
            .map(|i| token_check(&i.to_string(), &token, op("list_courses")))
            .collect::<Vec<_>>()
    };

    let empty = decision(&app).check_scopes(call(vec![])).await.unwrap_err();
    let too_many = decision(&app)
        .check_scopes(call(batch(101)))
        .await
        .unwrap_err();
    let full = decision(&app).check_scopes(call(batch(100))).await.unwrap();

    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(too_many.code(), Code::InvalidArgument);
    let results = full.into_inner().results;
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|r| r.allowed && r.explain.is_none()));
}

async fn challenges_are_exact_rfc_6750_values(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = school(&app).await;
    let expired =
        idp.mint(&json!({ "scope": "courses:read", "iat": now() - 7200, "exp": now() - 3600 }));
    let no_token = |id: &str, tenant: &str| Check {
        tenant: tenant.into(),
        ..token_check(id, "", op("list_courses"))
    };

    let results = check_all(
        &app,
        "",
        vec![
            Check {
                tenant: SCHOOL.into(),
                ..token_check(
                    "insufficient",
                    &token_with(&idp, "openid courses:read"),
                    op("update_course"),
                )
            },
            Check {
                tenant: SCHOOL.into(),
                ..token_check("expired", &expired, op("list_courses"))
            },
            no_token("no-token", SCHOOL),
            no_token("no-token-no-tenant", ""),
            no_token("no-token-unknown-tenant", "nowhere"),
            token_check("garbage", "not-a-jwt", op("list_courses")),
        ],
    )
    .await;

    let answers: Vec<(&str, Reason, u32, &str)> = results
        .iter()
        .map(|r| {
            (
                r.correlation_id.as_str(),
                r.reason(),
                r.http_status,
                r.www_authenticate.as_str(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            (
                "insufficient",
                Reason::InsufficientScope,
                403,
                r#"Bearer realm="school", error="insufficient_scope", scope="courses:read courses:write openid""#
            ),
            (
                "expired",
                Reason::TokenInactive,
                401,
                r#"Bearer realm="school", error="invalid_token""#
            ),
            (
                "no-token",
                Reason::TokenInactive,
                401,
                r#"Bearer realm="school""#
            ),
            ("no-token-no-tenant", Reason::TokenInactive, 401, "Bearer"),
            (
                "no-token-unknown-tenant",
                Reason::TenantNotFound,
                401,
                r#"Bearer error="invalid_token""#
            ),
            (
                "garbage",
                Reason::TokenInactive,
                401,
                r#"Bearer error="invalid_token""#
            ),
        ]
    );
    let expired = results[1].explain.as_ref().unwrap();
    assert_eq!(
        (
            expired.token_source.as_str(),
            expired.token_outcome.as_str()
        ),
        ("token", "expired")
    );
    assert!(results[1].granted.is_empty() && results[1].missing.is_empty());
    assert_eq!(results[1].tenant, SCHOOL);
    assert_eq!(
        results[2].explain.as_ref().unwrap().token_outcome,
        "no_token"
    );
}

async fn unknown_operations_and_scopes_fail_closed(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    school(&app).await;
    let everything = ["courses:read", "school:read", "ghost:read"];

    let unknown_op = check_one(
        &app,
        granted_check("op", &everything, "", op("drop_database")),
    )
    .await;
    let unknown_in_all = check_one(
        &app,
        granted_check(
            "all",
            &everything,
            "",
            all_of(&["courses:read", "ghost:read"]),
        ),
    )
    .await;
    let unknown_in_any = check_one(
        &app,
        granted_check(
            "any",
            &everything,
            "",
            any_of(&["ghost:read", "courses:read"]),
        ),
    )
    .await;
    let empty_token_scopes =
        check_one(&app, granted_check("none", &[], "", op("list_courses"))).await;

    assert_eq!(
        (unknown_op.allowed, unknown_op.reason()),
        (false, Reason::UnknownOperation)
    );
    assert_eq!(unknown_op.http_status, 403);
    assert_eq!(
        unknown_op.www_authenticate,
        r#"Bearer realm="school", error="insufficient_scope""#
    );
    for unknown in [&unknown_in_all, &unknown_in_any] {
        assert_eq!(
            (unknown.allowed, unknown.reason()),
            (false, Reason::UnknownScope)
        );
        assert_eq!(unknown.missing, ["ghost:read"]);
        assert_eq!(unknown.http_status, 403);
    }
    assert_eq!(unknown_in_all.granted, ["courses:read", "school:read"]);
    assert_eq!(
        unknown_in_all.explain.as_ref().unwrap().dropped,
        ["ghost:read"]
    );
    assert_eq!(empty_token_scopes.reason(), Reason::InsufficientScope);
    assert_eq!(
        empty_token_scopes.www_authenticate,
        r#"Bearer realm="school", error="insufficient_scope", scope="courses:read""#
    );
}

backend_tests!(
    a_batch_is_answered_in_order_with_each_bad_item_failing_alone,
    an_empty_or_oversized_batch_fails_the_whole_call,
    challenges_are_exact_rfc_6750_values,
    unknown_operations_and_scopes_fail_closed,
);
