//! The HTTP door: liveness and readiness probes for orchestrators that do not speak gRPC,
//! and its refusals (unknown paths, wrong methods).

use reqwest::StatusCode;

use crate::{
    backend_tests,
    helpers::{Backend, TestApp, TestDb, test_config},
};

backend_tests!(probes_answer_and_unknown_paths_and_methods_are_refused,);

/// A server with the HTTP door on a free port.
pub async fn with_http(db: &TestDb) -> (TestApp, String) {
    let mut config = test_config(&db.url);
    config.http_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::start(config).await;
    let base = format!("http://{}", app.http_addr.expect("HTTP door bound"));
    (app, base)
}

async fn probes_answer_and_unknown_paths_and_methods_are_refused(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (_app, base) = with_http(&db).await;
    let http = reqwest::Client::new();

    let live = http.get(format!("{base}/healthz")).send().await.unwrap();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    let unknown = http.get(format!("{base}/nope")).send().await.unwrap();
    let wrong_method = http.post(format!("{base}/healthz")).send().await.unwrap();

    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
}
