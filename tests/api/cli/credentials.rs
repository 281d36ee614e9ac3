//! Introspection credentials through the CLI: the secret printed once works at the HTTP door,
//! is never listed, and a deleted credential is refused.

use reqwest::StatusCode;

use crate::{
    backend_tests,
    helpers::{Backend, TestDb},
    http_door::with_http,
};

use super::{first_column, scopegate};

backend_tests!(a_created_credential_prints_its_secret_once_and_is_refused_once_deleted,);

/// `POST /oauth2/introspect` of a token that is no JWT, as `id:secret`: the status says whether
/// the credential was accepted (200 `{"active":false}`) or refused (401).
async fn introspect_as(base: &str, id: &str, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=not-a-jwt")
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_created_credential_prints_its_secret_once_and_is_refused_once_deleted(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    scopegate(&app, &["tenants", "create", "school"]).await.ok();

    let created = scopegate(
        &app,
        &[
            "introspection-credentials",
            "create",
            "school",
            "--name",
            "course catalogue API",
            "--output",
            "json",
        ],
    )
    .await
    .json();
    let text = scopegate(&app, &["introspection-credentials", "create", "school"])
        .await
        .ok();
    let listed = scopegate(&app, &["introspection-credentials", "list", "school"])
        .await
        .ok();
    let listed_json = scopegate(
        &app,
        &[
            "introspection-credentials",
            "list",
            "school",
            "--output",
            "json",
        ],
    )
    .await
    .json();

    let id = created["created"]["credential"]["clientId"]
        .as_str()
        .unwrap();
    let secret = created["created"]["clientSecret"].as_str().unwrap();
    assert_eq!(
        created["created"]["credential"]["name"],
        "course catalogue API"
    );
    assert!(id.starts_with("ic_") && secret.len() == 43, "{created}");
    assert!(
        text.contains("client secret") && text.contains("not shown again"),
        "{text}"
    );
    assert_eq!(first_column(&listed).len(), 2, "{listed}");
    assert!(first_column(&listed).contains(&id.to_owned()));
    assert!(!listed.contains(secret) && !listed_json.to_string().contains(secret));
    assert_eq!(introspect_as(&base, id, secret).await, StatusCode::OK);

    let deleted = scopegate(&app, &["introspection-credentials", "delete", "school", id])
        .await
        .ok();

    assert!(deleted.contains(id), "{deleted}");
    assert_eq!(
        introspect_as(&base, id, secret).await,
        StatusCode::UNAUTHORIZED
    );
    let left = scopegate(&app, &["introspection-credentials", "list", "school"])
        .await
        .ok();
    assert!(!first_column(&left).contains(&id.to_owned()));
}
