//! How the CLI fails: gRPC codes, exit codes, field violations, credentials.

use clap::Parser;
use scopegate::cli::{self, CliError};
use tonic::Code;

use super::{Args, scopegate, scopegate_as};
use crate::{backend_tests, fresh_app, helpers::Backend};

async fn deleting_openid_is_refused_with_failed_precondition(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(&app, &["tenants", "create", "acme", "--preset", "loopwise"])
        .await
        .ok();

    let run = scopegate(&app, &["scopes", "delete", "acme", "openid"]).await;

    assert!(run.out.is_empty(), "nothing on stdout");
    let err = run.err();
    assert_eq!(err.code(), Some(Code::FailedPrecondition));
    assert_ne!(err.exit_code(), 0);
    assert!(err.report().starts_with("error: FAILED_PRECONDITION: "));
    let still_there = scopegate(&app, &["scopes", "get", "acme", "openid"]).await;
    assert!(still_there.ok().contains("openid"));
}

async fn invalid_argument_reports_the_field(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(&app, &["tenants", "create", "acme"]).await.ok();

    let create = [
        "scopes",
        "create",
        "acme",
        "ok:name",
        "--description",
        "x",
        "--implies",
        "bad name",
    ];
    let err = scopegate(&app, &create).await.err();

    assert_eq!(err.code(), Some(Code::InvalidArgument));
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.report().contains("create.implies[0]"),
        "{}",
        err.report()
    );
}

async fn a_wrong_admin_key_is_permission_denied(backend: Backend) {
    let (_db, app) = fresh_app!(backend);

    let run = scopegate_as(&app, "not-the-key", &["tenants", "list"]).await;

    assert!(run.out.is_empty());
    let err = run.err();
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    assert_eq!(err.exit_code(), 1);
    assert!(
        !err.report().contains("not-the-key"),
        "the key is never printed"
    );
    let parsed = Args::try_parse_from(["scopegate", "tenants", "list", "--admin-key", "s3cret"]);
    assert!(
        !format!("{:?}", parsed.unwrap()).contains("s3cret"),
        "nor debug-printed"
    );
}

async fn an_unreachable_server_fails_with_exit_code_one(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let addr = app.addr;
    app.stop().await.unwrap();

    let parsed = Args::try_parse_from([
        "scopegate",
        "tenants",
        "list",
        "--server",
        &format!("http://{addr}"),
    ])
    .unwrap();
    let mut out = Vec::new();
    let err = cli::run(parsed.command, &mut out).await.unwrap_err();

    assert!(matches!(err, CliError::Connect { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 1);
}

backend_tests!(
    deleting_openid_is_refused_with_failed_precondition,
    invalid_argument_reports_the_field,
    a_wrong_admin_key_is_permission_denied,
    an_unreachable_server_fails_with_exit_code_one,
);
