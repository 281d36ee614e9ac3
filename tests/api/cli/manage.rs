//! Tenants, scopes, clients and operations through the CLI: text output, paging.

use crate::{backend_tests, fresh_app, helpers::Backend};

use super::{first_column, scopegate};
use tonic::Code;

async fn tenant_from_the_loopwise_preset_lists_its_scopes(backend: Backend) {
    let (_db, app) = fresh_app!(backend);

    let created = scopegate(&app, &["tenants", "create", "acme", "--preset", "loopwise"])
        .await
        .ok();
    let all = scopegate(&app, &["scopes", "list", "acme"]).await.ok();
    let discoverable = scopegate(&app, &["scopes", "list", "acme", "--discoverable-only"])
        .await
        .ok();

    assert!(created.contains("preset:") && created.contains("loopwise"));
    let header = all.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "NAME",
            "DEFAULT",
            "SYSTEM",
            "RESERVED",
            "IMPLIES",
            "DESCRIPTION"
        ]
    );
    let all = first_column(&all);
    let discoverable = first_column(&discoverable);
    for name in ["admin:read", "admin:write", "openid", "courses:read"] {
        assert!(all.contains(&name.to_owned()), "{name} listed");
    }
    assert!(!discoverable.contains(&"admin:read".to_owned()));
    assert!(!discoverable.contains(&"admin:write".to_owned()));
    assert_eq!(discoverable.len(), all.len() - 2);
}

async fn list_follows_every_page(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(&app, &["tenants", "create", "acme", "--preset", "loopwise"])
        .await
        .ok();

    let one_call = scopegate(&app, &["scopes", "list", "acme"]).await.ok();
    let pages_of_two = scopegate(&app, &["scopes", "list", "acme", "--page-size", "2"])
        .await
        .ok();

    assert!(first_column(&one_call).len() > 2);
    assert_eq!(pages_of_two, one_call);
}

async fn scope_is_created_updated_and_deleted(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(&app, &["tenants", "create", "acme", "--preset", "loopwise"])
        .await
        .ok();

    let create = [
        "scopes",
        "create",
        "acme",
        "reports:read",
        "--description",
        "Read reports",
        "--implies",
        "courses:read",
        "--output",
        "json",
    ];
    let created = scopegate(&app, &create).await.json();
    let etag = created["scope"]["etag"].as_str().unwrap().to_owned();
    let update = [
        "scopes",
        "update",
        "acme",
        "reports:read",
        "--default",
        "true",
        "--clear-implies",
        "--etag",
        &etag,
    ];
    let updated = scopegate(&app, &update).await.ok();
    let stale = scopegate(&app, &update).await.err();
    let dry_run = ["scopes", "delete", "acme", "reports:read", "--dry-run"];
    let would = scopegate(&app, &dry_run).await.ok();
    let deleted = scopegate(&app, &["scopes", "delete", "acme", "reports:read"])
        .await
        .ok();
    let gone = scopegate(&app, &["scopes", "get", "acme", "reports:read"])
        .await
        .err();

    assert_eq!(created["scope"]["implies"][0], "courses:read");
    assert!(
        updated
            .lines()
            .any(|l| l.starts_with("default:") && l.ends_with("yes"))
    );
    assert!(
        updated
            .lines()
            .any(|l| l.starts_with("implies:") && l.ends_with('-'))
    );
    assert_eq!(stale.code(), Some(Code::Aborted), "the etag was used up");
    assert!(would.starts_with("would delete scope reports:read"));
    assert!(deleted.starts_with("deleted scope reports:read"));
    assert_eq!(gone.code(), Some(Code::NotFound));
    assert_eq!(gone.exit_code(), 2);
}

async fn clients_and_operations_round_trip(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    scopegate(&app, &["tenants", "create", "acme", "--preset", "loopwise"])
        .await
        .ok();

    let create = [
        "clients",
        "create",
        "acme",
        "web",
        "--name",
        "Web",
        "--allow",
        "courses:read",
    ];
    scopegate(&app, &create).await.ok();
    let update = ["clients", "update", "acme", "web", "--first-party", "true"];
    scopegate(&app, &update).await.ok();
    let clients = scopegate(&app, &["clients", "list", "acme"]).await.ok();
    let operation = [
        "operations",
        "create",
        "acme",
        "GET /courses",
        "--any-of",
        "courses:read,admin:read",
        "--alternative",
        "courses:write school:read",
    ];
    scopegate(&app, &operation).await.ok();
    let narrowed = [
        "operations",
        "update",
        "acme",
        "GET /courses",
        "--description",
        "List",
    ];
    let updated = scopegate(&app, &narrowed).await.ok();
    let deleted = scopegate(&app, &["operations", "delete", "acme", "GET /courses"])
        .await
        .ok();
    let gone = scopegate(&app, &["clients", "delete", "acme", "nope"])
        .await
        .err();

    assert!(
        clients
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["web", "yes", "Web", "courses:read"])
    );
    assert!(
        updated.contains("courses:read | admin:read | courses:write school:read"),
        "the requirement is kept when only the description changes: {updated}"
    );
    assert!(
        updated
            .lines()
            .any(|l| l.starts_with("description:") && l.ends_with("List"))
    );
    assert!(deleted.starts_with("deleted operation GET /courses"));
    assert_eq!(gone.code(), Some(Code::NotFound));
}

backend_tests!(
    tenant_from_the_loopwise_preset_lists_its_scopes,
    list_follows_every_page,
    scope_is_created_updated_and_deleted,
    clients_and_operations_round_trip,
);
