//! Catalog files and JSON output through the CLI.

use crate::{backend_tests, fresh_app, helpers::Backend};

use super::scopegate;

async fn export_then_import_changes_nothing_the_second_time(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(
        &app,
        &["tenants", "create", "source", "--preset", "loopwise"],
    )
    .await
    .ok();
    scopegate(&app, &["tenants", "create", "target", "--preset", "oidc"])
        .await
        .ok();
    let create = [
        "scopes",
        "create",
        "source",
        "reports:read",
        "--description",
        "R",
    ];
    scopegate(&app, &create).await.ok();
    let client = [
        "clients",
        "create",
        "source",
        "web",
        "--allowed-scope",
        "reports:read",
    ];
    scopegate(&app, &client).await.ok();
    let operation = ["operations", "create", "source", "GET /reports"];
    let requirement = ["--any-of", "reports:read,admin:read"];
    scopegate(&app, &[&operation[..], &requirement[..]].concat())
        .await
        .ok();

    let exported = scopegate(&app, &["catalog", "export", "source"]).await.ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.toml");
    std::fs::write(&file, &exported).unwrap();
    let path = file.to_str().unwrap();
    let dry_run = scopegate(
        &app,
        &[
            "catalog",
            "import",
            "target",
            path,
            "--dry-run",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let first = scopegate(&app, &["catalog", "import", "target", path])
        .await
        .ok();
    let second = scopegate(&app, &["catalog", "import", "target", path])
        .await
        .ok();
    let reexported = scopegate(&app, &["catalog", "export", "target"]).await.ok();

    assert_eq!(dry_run["dryRun"], true);
    assert!(first.lines().any(|l| l == "scope.create reports:read"));
    assert!(first.lines().any(|l| l == "client.create web"));
    assert!(first.lines().any(|l| l == "operation.create GET /reports"));
    assert!(dry_run["changes"].as_array().unwrap().len() == first.lines().count() - 1);
    assert_eq!(second.lines().count(), 1, "only the summary: {second}");
    assert!(second.starts_with("no changes"));
    assert_eq!(reexported, exported);
}

async fn json_output_parses_as_the_response_messages(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let create = [
        "tenants", "create", "acme", "--preset", "loopwise", "-o", "json",
    ];
    let created = scopegate(&app, &create).await.json();

    let scopes = scopegate(&app, &["scopes", "list", "acme", "-o", "json"])
        .await
        .json();
    let operations = scopegate(&app, &["operations", "list", "acme", "-o", "json"])
        .await
        .json();
    let audit = scopegate(&app, &["audit", "acme", "--limit", "2", "-o", "json"])
        .await
        .json();

    assert_eq!(created["tenant"]["id"], "acme");
    assert_eq!(created["tenant"]["preset"], "loopwise");
    let revision = created["tenant"]["catalogRevision"].as_str().unwrap();
    assert_eq!(scopes["catalogRevision"], revision, "int64 as a string");
    let listed = scopes["scopes"]["scopes"].as_array().unwrap();
    let openid = listed.iter().find(|s| s["name"] == "openid").unwrap();
    assert_eq!(openid["isSystem"], true);
    assert!(openid["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(scopes["scopes"]["nextPageToken"], "");
    let settings = operations["operations"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "get_settings")
        .unwrap();
    assert_eq!(settings["alternatives"][0]["scopes"][0], "school:read");
    assert_eq!(audit["events"].as_array().unwrap().len(), 2);
}

backend_tests!(
    export_then_import_changes_nothing_the_second_time,
    json_output_parses_as_the_response_messages,
);
