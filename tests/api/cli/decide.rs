//! `scopegate check`, `introspect` and `revoke`: a denied request debugged from a shell, with
//! exit codes a script can branch on (0 allowed/active, 3 denied/inactive, 2 refused as given).

use serde_json::json;
use tonic::Code;

use super::{scopegate, scopegate_as};
use crate::{
    backend_tests, fresh_app,
    helpers::Backend,
    tokens::{Idp, create_tenant_for},
};

async fn check_exits_0_allowed_and_3_denied_with_the_reason_missing_scopes_and_challenge(
    backend: Backend,
) {
    let (_db, app) = fresh_app!(backend);
    let idp = Idp::new("https://id.school.test", "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        idp.mint(&json!({ "scope": "school:read" })) + "\n",
    )
    .unwrap();
    let token_file = token_file.to_str().unwrap();
    let check = |requirement: &'static [&'static str]| {
        let mut args = vec!["check", "--tenant", "school", "--token-file", token_file];
        args.extend_from_slice(requirement);
        args
    };

    let allowed = scopegate(&app, &check(&["--operation", "get_settings"]))
        .await
        .ok();
    let denied = scopegate(&app, &check(&["--all-of", "courses:write"])).await;
    let unknown = scopegate(&app, &check(&["--operation", "no_such_tool"])).await;

    assert!(
        allowed.contains("allowed") && allowed.contains("yes"),
        "{allowed}"
    );
    assert!(allowed.contains("satisfied by"), "{allowed}");
    assert!(denied.out.contains("courses:write"), "{}", denied.out);
    assert!(
        denied.out.contains("error=\"insufficient_scope\""),
        "{}",
        denied.out
    );
    assert!(denied.out.contains("403"), "{}", denied.out);
    let err = denied.err();
    assert_eq!(
        (err.exit_code(), err.report()),
        (3, "denied: INSUFFICIENT_SCOPE\n".to_owned())
    );
    assert_eq!(unknown.err().exit_code(), 3);

    // Granted scopes instead of a token, and the JSON form.
    let scopes = [
        "check",
        "--tenant",
        "school",
        "--scopes",
        "appearance:read",
        "--any-of",
        "school:read,appearance:read",
        "-o",
        "json",
    ];
    let answer = scopegate(&app, &scopes).await.json();
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["satisfiedBy"]["scopes"], json!(["appearance:read"]));
}

async fn check_refuses_what_it_cannot_ask(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = Idp::new("https://id.school.test", "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;

    let no_subject = scopegate(&app, &["check", "--tenant", "school", "--all-of", "a:b"]).await;
    let bad_tenant = scopegate(
        &app,
        &["check", "--tenant", "Bad Tenant", "--scopes", "a:b"],
    )
    .await;
    let empty_file = tempfile::NamedTempFile::new().unwrap();
    let empty = ["check", "--token-file", empty_file.path().to_str().unwrap()];
    let empty = scopegate(&app, &empty).await;

    assert_eq!(no_subject.err().exit_code(), 2);
    let err = bad_tenant.err();
    assert_eq!(
        (err.code(), err.exit_code()),
        (Some(Code::InvalidArgument), 2)
    );
    assert_eq!(empty.err().exit_code(), 2);
}

async fn introspect_shows_the_token_and_revoke_makes_it_inactive(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let idp = Idp::new("https://id.school.test", "k1");
    create_tenant_for(&app, "school", "loopwise", &idp).await;
    let token = idp.mint(&json!({ "scope": "school:read", "sub": "alice" }));
    let introspect = ["introspect", "--token", &token, "--explain"];

    let active = scopegate(&app, &introspect).await.ok();
    let refused = scopegate_as(&app, "not-the-key", &["revoke", "--token", &token]).await;
    let revoked = scopegate(&app, &["revoke", "--tenant", "school", "--token", &token])
        .await
        .ok();
    let inactive = scopegate(&app, &introspect).await;

    assert!(
        active.contains("alice") && active.contains("school:read"),
        "{active}"
    );
    assert_eq!(refused.err().code(), Some(Code::PermissionDenied));
    assert_eq!(revoked.trim(), "revoked");
    assert!(inactive.out.contains("revoked"), "{}", inactive.out);
    let err = inactive.err();
    assert_eq!(
        (err.exit_code(), err.report()),
        (3, "denied: inactive (revoked)\n".to_owned())
    );
    // A subject's tokens issued before an instant.
    let before = [
        "revoke",
        "--tenant",
        "school",
        "--subject",
        "bob",
        "--not-before",
        "2030-01-01T00:00:00Z",
    ];
    assert_eq!(scopegate(&app, &before).await.ok().trim(), "revoked");
    let misplaced = [
        "revoke",
        "--tenant",
        "school",
        "--jti",
        "x",
        "--not-before",
        "2030-01-01T00:00:00Z",
    ];
    assert_eq!(scopegate(&app, &misplaced).await.err().exit_code(), 2);
}

backend_tests!(
    check_exits_0_allowed_and_3_denied_with_the_reason_missing_scopes_and_challenge,
    check_refuses_what_it_cannot_ask,
    introspect_shows_the_token_and_revoke_makes_it_inactive,
);
