//! Health and lifecycle: SERVING once started, NOT_SERVING from the shutdown signal, a bounded
//! drain even with an open Watch stream; reflection lists every service.

use std::time::Duration;

use scopegate::app::SERVICE_NAMES;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::{
    backend_tests, fresh_app,
    helpers::{Backend, TestApp, TestDb, create_tenant, test_config},
};

async fn every_service_is_serving_once_started(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let mut health = HealthClient::new(app.channel.clone());
    for service in [""].into_iter().chain(SERVICE_NAMES) {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

async fn shutdown_flips_to_not_serving_and_an_open_watch_does_not_hold_the_process(
    backend: Backend,
) {
    let (_db, app) = fresh_app!(backend);
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    // The grace period (2 s in tests) bounds the drain; the Watch stream stays open.
    app.stop().await.expect("clean exit");

    // The server flipped to NOT_SERVING before draining; the watcher got that update.
    let update = watch.next().await.unwrap().unwrap();
    assert_eq!(
        update.status,
        ServingStatus::NotServing as i32,
        "watchers learn about the shutdown"
    );
}

async fn shutdown_ends_open_watch_streams_once_they_delivered_not_serving(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut config = test_config(&db.url);
    // Far longer than the bounded wait below: only an ended Watch lets the drain finish first.
    config.shutdown_grace = Duration::from_secs(600);
    let app = TestApp::start(config).await;
    let mut health = HealthClient::new(app.channel.clone());
    let mut watches = Vec::new();
    for service in [""].into_iter().chain(SERVICE_NAMES) {
        let mut watch = health
            .watch(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        watches.push(watch);
    }

    let stopped = tokio::time::timeout(Duration::from_secs(60), app.stop()).await;

    assert!(
        matches!(stopped, Ok(Ok(()))),
        "the server still drains an open Watch: {stopped:?}"
    );
    for mut watch in watches {
        let last = watch.next().await.unwrap().unwrap();
        assert_eq!(last.status, ServingStatus::NotServing as i32);
        let end = watch.next().await;
        assert!(
            matches!(end, None | Some(Err(_))),
            "the Watch stream ended after NOT_SERVING: {end:?}"
        );
    }
}

async fn data_survives_a_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = TestApp::on(&db).await;
    create_tenant(&app, "school", "loopwise").await;
    app.stop().await.unwrap();

    let again = TestApp::on(&db).await;
    let names = crate::manage_scope::list_names(&again, "school", false).await;
    assert!(names.contains(&"courses:read".to_owned()));
}

async fn reflection_lists_every_service(backend: Backend) {
    let (_db, app) = fresh_app!(backend);
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICE_NAMES.into_iter().chain(["grpc.health.v1.Health"]) {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }
}

backend_tests!(
    every_service_is_serving_once_started,
    shutdown_flips_to_not_serving_and_an_open_watch_does_not_hold_the_process,
    shutdown_ends_open_watch_streams_once_they_delivered_not_serving,
    data_survives_a_restart,
    reflection_lists_every_service,
);
