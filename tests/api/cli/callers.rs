//! Callers through the CLI: a key printed once is accepted at the door, listings show key ids
//! only, and a deleted key is refused.

use crate::{
    backend_tests,
    helpers::{Backend, TestDb},
    http_door::with_http,
};

use super::scopegate;

backend_tests!(a_caller_key_printed_once_works_at_the_door_and_is_refused_once_deleted,);

/// Forward auth on the HTTP door with `key` and no user token: the body's `error` says who was
/// refused (`invalid_caller`: the key; `invalid_token`: the user, so the key passed).
async fn refused_as(base: &str, key: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/authorize?tenant=school"))
        .header("x-scopegate-caller-key", key)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

async fn a_caller_key_printed_once_works_at_the_door_and_is_refused_once_deleted(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (app, base) = with_http(&db).await;
    scopegate(&app, &["tenants", "create", "school"]).await.ok();

    let created = scopegate(
        &app,
        &[
            "callers",
            "create",
            "orders",
            "--tenant",
            "school",
            "--surface",
            "decision",
        ],
    )
    .await
    .ok();
    let added = scopegate(&app, &["callers", "add-key", "orders", "--output", "json"])
        .await
        .json();
    let key = added["createdKey"]["key"].as_str().unwrap().to_owned();
    let key_id = added["createdKey"]["keyId"].as_str().unwrap().to_owned();
    let listed = scopegate(&app, &["callers", "list"]).await.ok();
    let accepted = refused_as(&base, &key).await;
    scopegate(&app, &["callers", "delete-key", "orders", &key_id])
        .await
        .ok();
    let after = refused_as(&base, &key).await;

    assert!(
        created.contains("orders") && created.contains("school"),
        "{created}"
    );
    assert!(key.starts_with(&format!("sgk_{key_id}.")), "{added}");
    assert!(
        listed.contains(&key_id) && !listed.contains(&key),
        "{listed}"
    );
    assert_eq!(accepted, "invalid_token", "the key was accepted");
    assert_eq!(after, "invalid_caller", "the deleted key was refused");
}
