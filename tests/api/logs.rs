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
