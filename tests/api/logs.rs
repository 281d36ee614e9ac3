//! Log lines carry their call's context without any trace export: every event logged while a
//! call is handled sits in an `rpc` span naming the method and, once parsed, the tenant.

use scopegate::pb::{CreateTenant, ManageTenantRequest, manage_tenant_request::Action};

use crate::{
    helpers::{ADMIN_KEY, authed},
    process::Served,
};

#[tokio::test]
async fn a_calls_log_lines_name_its_method_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path(), &["--admin-key", ADMIN_KEY]).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let create = CreateTenant {
        id: "school".into(),
        preset: "loopwise".into(),
        ..Default::default()
    };
    scopegate::pb::scope_admin_client::ScopeAdminClient::new(channel)
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Create(create)),
        }))
        .await
        .unwrap();

    let created = served
        .event(|e| e["fields"]["message"] == "tenant created")
        .await;
    let span = &created["span"];
    assert_eq!(span["name"], "rpc", "{created}");
    assert_eq!(span["method"], "scopegate.v1.ScopeAdmin/ManageTenant");
    assert_eq!(span["tenant"], "school");
    assert!(served.terminate().await.success());
}

/// A request on the HTTP door logs inside an `http` span naming its endpoint (a fixed label)
/// and the caller its key proved.
#[tokio::test]
async fn an_http_requests_log_lines_name_its_endpoint_and_caller() {
    use scopegate::pb::{
        AddCallerKey, CallerLimits, CallerSurface, ManageCallerRequest, manage_caller_request,
        manage_caller_response,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        dir.path(),
        &["--admin-key", ADMIN_KEY, "--http-listen", "127.0.0.1:0"],
    )
    .await;
    let http = served
        .event(|e| {
            e["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("serving HTTP")
        })
        .await["fields"]["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut admin = scopegate::pb::scope_admin_client::ScopeAdminClient::new(channel);
    let limits = CallerLimits {
        name: "orders".into(),
        tenants: vec!["school".into()],
        all_tenants: false,
        surfaces: vec![CallerSurface::Decision as i32],
    };
    for action in [
        manage_caller_request::Action::Create(limits),
        manage_caller_request::Action::AddKey(AddCallerKey {
            name: "orders".into(),
        }),
    ] {
        let answer = admin
            .manage_caller(authed(ManageCallerRequest {
                action: Some(action),
            }))
            .await
            .unwrap()
            .into_inner();
        if let Some(manage_caller_response::Result::CreatedKey(created)) = answer.result {
            // A route naming two requirements is refused with a warning, inside the request.
            let refused = reqwest::Client::new()
                .get(format!(
                    "http://{http}/v1/authorize?tenant=school&operation=a&all_of=b"
                ))
                .header("x-scopegate-caller-key", created.key)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
        }
    }

    let warned = served
        .event(|e| {
            e["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("route settings are invalid")
        })
        .await;
    let span = &warned["span"];
    assert_eq!(span["name"], "http", "{warned}");
    assert_eq!(span["endpoint"], "forward_auth", "{warned}");
    assert_eq!(span["caller"], "orders", "{warned}");
    assert!(served.terminate().await.success());
}
