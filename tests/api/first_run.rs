//! The first run of `scopegate serve` with no admin key configured: a key is generated, shown
//! once on stdout and kept only as a hash; later starts accept it without showing it again; a
//! configured key wins over it.

use scopegate::pb::{ListTenants, ManageTenantRequest, manage_tenant_request::Action};
use tonic::Code;

use crate::{helpers::with_bearer, process::Served};

const GENERATED_PREFIX: &str = "sgadm_";

/// `ListTenants` on the server at `addr` with `key` as the admin credential.
async fn list_tenants(addr: &str, key: &str) -> Result<(), Code> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = ManageTenantRequest {
        action: Some(Action::List(ListTenants::default())),
    };
    scopegate::pb::scope_admin_client::ScopeAdminClient::new(channel)
        .manage_tenant(with_bearer(request, key))
        .await
        .map(drop)
        .map_err(|status| status.code())
}

#[tokio::test]
async fn a_first_start_without_an_admin_key_shows_one_once_and_later_starts_accept_it() {
    let dir = tempfile::tempdir().unwrap();

    let mut first = Served::start(dir.path(), &[]).await;
    let line = first
        .stdout_line(|l| l.trim_start().starts_with(GENERATED_PREFIX))
        .await;
    let key = line.trim().to_owned();
    assert_eq!(list_tenants(&first.addr, &key).await, Ok(()));
    assert_eq!(
        list_tenants(&first.addr, "sgadm_not-the-key").await,
        Err(Code::PermissionDenied)
    );
    let (status, _) = first.terminate_reading_stdout().await;
    assert!(status.success());

    let second = Served::start(dir.path(), &[]).await;
    assert_eq!(list_tenants(&second.addr, &key).await, Ok(()));
    let (status, printed) = second.terminate_reading_stdout().await;
    assert!(status.success());
    assert!(
        !printed.iter().any(|l| l.contains(GENERATED_PREFIX)),
        "a later start showed a key: {printed:?}"
    );

    let configured = "operator-chosen-key-0123456789";
    let third = Served::start(dir.path(), &["--admin-key", configured]).await;
    assert_eq!(list_tenants(&third.addr, configured).await, Ok(()));
    assert_eq!(
        list_tenants(&third.addr, &key).await,
        Err(Code::PermissionDenied)
    );
    let (status, printed) = third.terminate_reading_stdout().await;
    assert!(status.success());
    assert!(!printed.iter().any(|l| l.contains(GENERATED_PREFIX)));
}
