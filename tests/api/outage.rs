//! A store outage, simulated by cutting a TCP proxy in front of Postgres: reads keep being
//! served from cache (a tenant known not to exist included, and past the cache TTL for at most
//! `stale_if_error`), writes fail with UNAVAILABLE, evict nothing and leave nothing behind,
//! health goes NOT_SERVING and comes back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use scopegate::pb::{CheckResult, CreateScope, Reason, manage_scope_request::Action};
use tokio::{net::TcpListener, sync::watch};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    decision::{all_of, check_all, granted_check},
    helpers::{Backend, TestApp, TestDb, create_tenant, postgres_url, test_config},
    manage_scope::{list_names, scope_call},
};

/// A TCP proxy that can be cut (closing every connection and refusing new ones) and restored.
pub struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (flag, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let mut cut_rx = cuts.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Checks granted `openid` against tenant `tenant`.
async fn check_openid(app: &TestApp, tenant: &str) -> CheckResult {
    let check = granted_check("", &["openid"], "", all_of(&["openid"]));
    check_all(app, tenant, vec![check]).await.remove(0)
}

async fn wait_for_health(app: &TestApp, want: ServingStatus) {
    let mut health = HealthClient::new(app.channel.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == want as i32 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn authority(url: &str) -> String {
    let after_at = url.split_once('@').map_or(url, |(_, rest)| rest);
    after_at.split('/').next().unwrap().to_owned()
}

/// A server on a fresh Postgres database reached through a cuttable proxy, configured by
/// `tune`; `None` when Postgres is not configured.
pub async fn behind_proxy(
    tune: impl FnOnce(&mut scopegate::config::Config),
) -> Option<(TestDb, Proxy, TestApp)> {
    let base = postgres_url()?;
    let db = TestDb::new(Backend::Postgres).await.unwrap();
    let proxy = Proxy::start(authority(&base)).await;
    let mut config = test_config(
        &db.url
            .replacen(&authority(&db.url), &proxy.addr.to_string(), 1),
    );
    config.health_interval = Duration::from_millis(100);
    tune(&mut config);
    let app = TestApp::start(config).await;
    Some((db, proxy, app))
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn past_its_ttl_the_last_good_state_stands_in_for_at_most_stale_if_error() {
    // A TTL of zero: every call would reload, so every call during the outage needs the
    // stand-in.
    let Some((_db, proxy, app)) = behind_proxy(|c| c.catalog_ttl = Duration::ZERO).await else {
        return;
    };
    let Some((_db2, proxy2, strict)) = behind_proxy(|c| {
        c.catalog_ttl = Duration::ZERO;
        c.stale_if_error = Duration::ZERO;
    })
    .await
    else {
        return;
    };
    for app in [&app, &strict] {
        create_tenant(app, "school", "loopwise").await;
        assert_eq!(check_openid(app, "school").await.reason(), Reason::Allowed);
    }

    proxy.cut();
    proxy2.cut();
    let served = check_openid(&app, "school").await;
    let refused = check_all_status(&strict, "school").await;

    assert_eq!(served.reason(), Reason::Allowed, "{served:?}");
    assert_eq!(
        refused,
        Code::Unavailable,
        "stale_if_error = 0 serves nothing stale"
    );
    proxy.restore();
    proxy2.restore();
}

/// The status of a CheckScopes call for `tenant`.
async fn check_all_status(app: &TestApp, tenant: &str) -> Code {
    let check = granted_check("", &["openid"], "", all_of(&["openid"]));
    let request = scopegate::pb::CheckScopesRequest {
        tenant: tenant.into(),
        checks: vec![check],
        ..Default::default()
    };
    match scopegate::pb::scope_decision_client::ScopeDecisionClient::new(app.channel.clone())
        .check_scopes(request)
        .await
    {
        Ok(answer) => answer
            .into_inner()
            .results
            .first()
            .and_then(|r| r.error.as_ref())
            .map_or(Code::Ok, |e| Code::from_i32(e.code)),
        Err(status) => status.code(),
    }
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn readyz_answers_503_while_the_store_is_down_and_200_once_it_is_back() {
    let Some((_db, proxy, app)) = behind_proxy(|c| {
        c.http_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    else {
        return;
    };
    let readyz = format!("http://{}/readyz", app.http_addr.unwrap());
    // The probe's status as readyz last answered it, once it is `want` (or the deadline's).
    // Polled: on a loaded machine a 100 ms store probe may time out once more after the store
    // is back, and readiness must follow that too.
    let settles_at = |want: u16| {
        let readyz = readyz.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let status = reqwest::get(&readyz).await.unwrap().status().as_u16();
                if status == want || tokio::time::Instant::now() > deadline {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(settles_at(200).await, 200);

    proxy.cut();
    wait_for_health(&app, ServingStatus::NotServing).await;
    let while_down = settles_at(503).await;
    proxy.restore();
    wait_for_health(&app, ServingStatus::Serving).await;
    let after = settles_at(200).await;

    assert_eq!(while_down, 503);
    assert_eq!(after, 200);
}

#[tokio::test]
#[cfg_attr(
    not(scopegate_pg),
    ignore = "set SCOPEGATE_TEST_POSTGRES_URL to run the Postgres half"
)]
async fn while_the_store_is_down_reads_come_from_cache_and_writes_fail_cleanly() {
    let Some((_db, proxy, app)) = behind_proxy(|_| {}).await else {
        return;
    };
    create_tenant(&app, "school", "loopwise").await;
    assert!(
        list_names(&app, "school", false)
            .await
            .contains(&"courses:read".to_owned())
    );

    let unknown = check_openid(&app, "ghost").await;
    assert_eq!(unknown.reason(), Reason::TenantNotFound);

    proxy.cut();
    wait_for_health(&app, ServingStatus::NotServing).await;
    let cached = list_names(&app, "school", false).await;
    let still_unknown = check_openid(&app, "ghost").await;
    let create = Action::Create(CreateScope {
        name: "reports:read".into(),
        description: "Reports".into(),
        ..Default::default()
    });
    let refused = scope_call(&app, "school", create.clone())
        .await
        .unwrap_err();
    // A write that failed is no reason to stop serving what is cached.
    let after_failed_write = list_names(&app, "school", false).await;

    assert!(
        cached.contains(&"courses:read".to_owned()),
        "decisions keep being served from cache"
    );
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(after_failed_write, cached, "a failed write evicts nothing");
    assert!(still_unknown.error.is_none(), "{still_unknown:?}");
    assert_eq!(
        still_unknown.reason(),
        Reason::TenantNotFound,
        "an unknown tenant is remembered, not asked of the store again"
    );

    proxy.restore();
    wait_for_health(&app, ServingStatus::Serving).await;
    assert!(
        !list_names(&app, "school", false)
            .await
            .contains(&"reports:read".to_owned()),
        "nothing half-written"
    );
    scope_call(&app, "school", create)
        .await
        .expect("writes work again");
}
