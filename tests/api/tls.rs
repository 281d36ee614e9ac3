//! TLS on every listener, with certificates made at test time: handshakes and calls on the
//! gRPC port, the HTTP door and the metrics port; plaintext refused; mTLS required, refused
//! and counted, the caller's identity on the call's span; the certificate reloaded after an
//! atomic rename while a client keeps calling, a bad replacement ignored; start-up refusals
//! naming the file; the admin CLI and the bench over `https://`.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use clap::Parser;
use rcgen::{
    CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};
use scopegate::pb::{CreateTenant, ManageTenantRequest, manage_tenant_request::Action};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    helpers::{ADMIN_KEY, authed},
    process::Served,
};

/// A CA that issues server and client certificates, written as PEM files in a directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca,
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A certificate for `names` (the CN is `cn`) signed by this CA with `key`, as PEM.
    fn issue(&self, cn: &str, names: &[&str], key: &KeyPair, client: bool) -> String {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        params.signed_by(key, &self.ca).unwrap().pem()
    }

    /// Writes a server certificate and key as `server.pem` and `server.key`.
    fn server(&self, cn: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = self.issue(cn, &["localhost", "127.0.0.1"], &key, false);
        std::fs::write(self.path("server.pem"), cert).unwrap();
        std::fs::write(self.path("server.key"), key.serialize_pem()).unwrap();
        (self.path("server.pem"), self.path("server.key"))
    }

    /// Writes a client certificate for `name` and its key as `<file>.pem` and `<file>.key`.
    fn client(&self, file: &str, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = self.issue(name, &[name], &key, true);
        let (c, k) = (
            self.path(&format!("{file}.pem")),
            self.path(&format!("{file}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A raw TLS client trusting `ca`, with an optional client certificate.
async fn tls_connect(
    addr: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    alpn: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let stream = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
}

/// `GET path` over HTTP/1.1 on a TLS connection; the whole response.
async fn https_get(addr: &str, ca: &Path, client: Option<(&Path, &Path)>, path: &str) -> String {
    let mut tls = tls_connect(addr, ca, client, b"http/1.1").await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    response
}

/// A gRPC channel over TLS to `addr`.
async fn grpc_channel(
    addr: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(cert).unwrap(),
            std::fs::read(key).unwrap(),
        ));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
}

async fn health(channel: Channel) -> Result<(), tonic::Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
}

async fn create_tenant(channel: Channel, id: &str) -> Result<(), tonic::Status> {
    let create = CreateTenant {
        id: id.into(),
        preset: "loopwise".into(),
        ..Default::default()
    };
    scopegate::pb::scope_admin_client::ScopeAdminClient::new(channel)
        .manage_tenant(authed(ManageTenantRequest {
            action: Some(Action::Create(create)),
        }))
        .await
        .map(|_| ())
}

/// The address a log event names.
fn addr_of(event: &serde_json::Value) -> String {
    event["fields"]["addr"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_listener_serves_tls_and_refuses_plaintext() {
    let pki = Pki::new("test CA");
    let (cert, key) = pki.server("scopegate");
    let db = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        db.path(),
        &[
            "--admin-key",
            ADMIN_KEY,
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--http-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let http = addr_of(
        &served
            .event(|e| {
                e["fields"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("serving HTTP")
            })
            .await,
    );
    let metrics = addr_of(
        &served
            .event(|e| e["fields"]["message"] == "serving metrics at /metrics")
            .await,
    );
    let ca = pki.path("ca.pem");

    let channel = grpc_channel(&served.addr, &ca, None).await.unwrap();
    health(channel.clone()).await.unwrap();
    create_tenant(channel, "school").await.unwrap();
    let healthz = https_get(&http, &ca, None, "/healthz").await;
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let plain = Endpoint::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await;
    let refused = match plain {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a plaintext call was answered on the TLS port");
    let scraped = https_get(&metrics, &ca, None, "/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains(
            "scopegate_tls_handshake_failures_total{listener=\"grpc\",reason=\"not_tls\"}"
        ),
        "{scraped}"
    );
    assert!(served.terminate().await.success());
}

#[tokio::test]
async fn mtls_admits_only_certificates_from_the_client_ca_and_names_the_caller() {
    let pki = Pki::new("test CA");
    let other = Pki::new("another CA");
    let (cert, key) = pki.server("scopegate");
    let (good_cert, good_key) = pki.client("billing", "billing.internal");
    let (bad_cert, bad_key) = other.client("intruder", "billing.internal");
    let db = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        db.path(),
        &[
            "--admin-key",
            ADMIN_KEY,
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--tls-client-ca",
            s(&pki.path("ca.pem")),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let metrics = addr_of(
        &served
            .event(|e| e["fields"]["message"] == "serving metrics at /metrics")
            .await,
    );
    let ca = pki.path("ca.pem");

    let anonymous = match grpc_channel(&served.addr, &ca, None).await {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    let wrong_ca = match grpc_channel(&served.addr, &ca, Some((&bad_cert, &bad_key))).await {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    // In TLS 1.3 the client finishes its handshake before the server judges its (missing)
    // certificate: the verdict is the first thing read, an alert instead of HTTP/2 SETTINGS.
    let raw_anonymous_refused = match tls_connect(&served.addr, &ca, None, b"h2").await {
        Err(_) => true,
        Ok(mut tls) => matches!(tls.read(&mut [0u8; 1]).await, Err(_) | Ok(0)),
    };
    let channel = grpc_channel(&served.addr, &ca, Some((&good_cert, &good_key)))
        .await
        .unwrap();
    create_tenant(channel, "school").await.unwrap();

    assert!(anonymous, "a caller without a certificate was answered");
    assert!(wrong_ca, "a certificate from another CA was accepted");
    assert!(
        raw_anonymous_refused,
        "the handshake without a certificate completed"
    );
    let created = served
        .event(|e| e["fields"]["message"] == "tenant created")
        .await;
    assert_eq!(created["span"]["caller"], "billing.internal", "{created}");
    let scraped = https_get(&metrics, &ca, Some((&good_cert, &good_key)), "/metrics").await;
    for reason in ["no_client_certificate", "bad_client_certificate"] {
        let line = format!(
            "scopegate_tls_handshake_failures_total{{listener=\"grpc\",reason=\"{reason}\"}}"
        );
        assert!(scraped.contains(&line), "{line} missing:\n{scraped}");
    }
    assert!(served.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_certificate_is_served_without_a_failed_call_and_a_bad_one_is_ignored() {
    let pki = Pki::new("test CA");
    let key = KeyPair::generate().unwrap();
    let (cert_path, key_path) = (pki.path("server.pem"), pki.path("server.key"));
    let first = pki.issue("first", &["localhost"], &key, false);
    std::fs::write(&cert_path, &first).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = pki.path("scopegate.toml");
    std::fs::write(&config, "tls_reload_interval_ms = 20\n").unwrap();
    let db = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        db.path(),
        &[
            "--config",
            s(&config),
            "--tls-cert",
            s(&cert_path),
            "--tls-key",
            s(&key_path),
        ],
    )
    .await;
    let ca = pki.path("ca.pem");
    let served_cert = |addr: String, ca: PathBuf| async move {
        let tls = tls_connect(&addr, &ca, None, b"h2").await.unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    assert_eq!(
        served_cert(served.addr.clone(), ca.clone()).await,
        CertificateDer::from_pem_slice(first.as_bytes())
            .unwrap()
            .to_vec()
    );
    // A client keeps calling on its connection through both replacements.
    let channel = grpc_channel(&served.addr, &ca, None).await.unwrap();
    let (stop, calls, failures) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let caller = tokio::spawn({
        let (stop, calls, failures) = (stop.clone(), calls.clone(), failures.clone());
        async move {
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if health(channel.clone()).await.is_err() {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                calls.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    // Replaced as cert-manager does: a new file renamed over the old one.
    let second = pki.issue("second", &["localhost"], &key, false);
    std::fs::write(pki.path("server.pem.tmp"), &second).unwrap();
    std::fs::rename(pki.path("server.pem.tmp"), &cert_path).unwrap();
    served
        .event(|e| e["fields"]["message"] == "TLS certificate reloaded")
        .await;
    let after_reload = served_cert(served.addr.clone(), ca.clone()).await;
    std::fs::write(pki.path("server.pem.tmp"), "not a certificate").unwrap();
    std::fs::rename(pki.path("server.pem.tmp"), &cert_path).unwrap();
    let refused = served
        .event(|e| {
            e["fields"]["message"] == "TLS certificate not reloaded: the current one keeps serving"
        })
        .await;
    let after_bad = served_cert(served.addr.clone(), ca.clone()).await;
    stop.store(true, Ordering::SeqCst);
    caller.await.unwrap();

    let second_der = CertificateDer::from_pem_slice(second.as_bytes())
        .unwrap()
        .to_vec();
    assert_eq!(
        after_reload, second_der,
        "new connections get the new certificate"
    );
    assert_eq!(after_bad, second_der, "a bad file replaced nothing");
    assert!(
        refused["fields"]["err"]
            .as_str()
            .unwrap()
            .contains("server.pem"),
        "{refused}"
    );
    assert!(calls.load(Ordering::SeqCst) > 0);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "calls failed during reloads"
    );
    assert!(served.terminate().await.success());
}

/// Runs `scopegate serve` with `args` and a SQLite database in `dir`: its exit status and
/// stderr (bounded wait).
async fn serve_fails(dir: &Path, args: &[&str]) -> (bool, String) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}/scopegate.db", dir.display()))
        .args(args)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the server should exit at once")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn start_up_refuses_an_expired_certificate_or_a_key_that_does_not_match_naming_the_file() {
    let pki = Pki::new("test CA");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let expired = params.signed_by(&key, &pki.ca).unwrap();
    std::fs::write(pki.path("expired.pem"), expired.pem()).unwrap();
    std::fs::write(pki.path("expired.key"), key.serialize_pem()).unwrap();
    let (cert, _) = pki.server("scopegate");
    std::fs::write(
        pki.path("other.key"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let (ok, expired_err) = serve_fails(
        dir.path(),
        &[
            "--tls-cert",
            s(&pki.path("expired.pem")),
            "--tls-key",
            s(&pki.path("expired.key")),
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        expired_err.contains("expired") && expired_err.contains("expired.pem"),
        "{expired_err}"
    );
    let (ok, mismatch_err) = serve_fails(
        dir.path(),
        &[
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&pki.path("other.key")),
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        mismatch_err.contains("does not match") && mismatch_err.contains("other.key"),
        "{mismatch_err}"
    );
    let (ok, ca_err) = serve_fails(
        dir.path(),
        &[
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&pki.path("server.key")),
            "--tls-client-ca",
            s(&pki.path("missing-ca.pem")),
        ],
    )
    .await;
    assert!(!ok);
    assert!(ca_err.contains("missing-ca.pem"), "{ca_err}");
}

#[derive(Debug, Parser)]
struct Bench {
    #[command(flatten)]
    args: scopegate::bench::BenchArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_and_the_bench_reach_a_tls_server_with_ca_cert_and_client_cert() {
    let pki = Pki::new("test CA");
    let (cert, key) = pki.server("scopegate");
    let (client_cert, client_key) = pki.client("ops", "ops.internal");
    let db = tempfile::tempdir().unwrap();
    let served = Served::start(
        db.path(),
        &[
            "--admin-key",
            ADMIN_KEY,
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--tls-client-ca",
            s(&pki.path("ca.pem")),
        ],
    )
    .await;
    let target = format!("https://{}", served.addr);
    let ca = pki.path("ca.pem");
    let with_tls = [
        "--ca-cert",
        s(&ca),
        "--client-cert",
        s(&client_cert),
        "--client-key",
        s(&client_key),
    ];

    let argv = [
        "scopegate",
        "tenants",
        "create",
        "school",
        "--server",
        &target,
    ]
    .into_iter()
    .chain(["--admin-key", ADMIN_KEY])
    .chain(with_tls);
    let parsed = crate::cli::Args::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let created = scopegate::cli::run(parsed.command, &mut out).await;
    let without_ca = crate::cli::Args::try_parse_from([
        "scopegate",
        "tenants",
        "list",
        "--server",
        &target,
        "--admin-key",
        ADMIN_KEY,
    ])
    .unwrap();
    let refused = scopegate::cli::run(without_ca.command, &mut Vec::new()).await;
    let Bench { args } = Bench::parse_from(
        [
            "bench",
            "--target",
            &target,
            "--admin-key",
            ADMIN_KEY,
            "--duration",
            "0.2",
            "--warmup",
            "0.05",
            "--connections",
            "1",
            "--concurrency",
            "2",
            "--cached-tokens",
            "5",
            "--max-cold-tokens",
            "200",
            "--scenarios",
            "introspect_cached",
        ]
        .into_iter()
        .chain(with_tls),
    );
    let mut table = Vec::new();
    let benched = scopegate::bench::run(&args, &mut table).await;

    created.unwrap();
    assert!(
        refused.is_err(),
        "https:// without --ca-cert was let through"
    );
    benched.unwrap();
    assert!(!table.is_empty());
    assert!(served.terminate().await.success());
}

/// A `CheckScopes` of granted scopes on `tenant` over `channel`: the call's status, or the
/// check's own error code (0: decided).
async fn granted_check(channel: Channel, tenant: &str) -> Result<i32, tonic::Code> {
    use scopegate::pb::{Check, CheckScopesRequest, GrantedScopes, check};
    let check = Check {
        subject: Some(check::Subject::Granted(GrantedScopes {
            scopes: vec!["school:read".into()],
            ..Default::default()
        })),
        requirement: Some(check::Requirement::Operation("get_settings".into())),
        ..Default::default()
    };
    scopegate::pb::scope_decision_client::ScopeDecisionClient::new(channel)
        .check_scopes(CheckScopesRequest {
            tenant: tenant.into(),
            checks: vec![check],
            explain: false,
        })
        .await
        .map(|r| {
            r.into_inner().results[0]
                .error
                .as_ref()
                .map_or(0, |e| e.code)
        })
        .map_err(|s| s.code())
}

#[tokio::test]
async fn optional_client_certificates_leave_the_decision_to_caller_auth_per_surface() {
    use scopegate::pb::{CallerLimits, CallerSurface, ManageCallerRequest, manage_caller_request};
    let pki = Pki::new("test CA");
    let other = Pki::new("another CA");
    let (cert, key) = pki.server("scopegate");
    let (orders_cert, orders_key) = pki.client("orders", "orders.internal");
    let (stranger_cert, stranger_key) = pki.client("stranger", "stranger.internal");
    let (bad_cert, bad_key) = other.client("intruder", "orders.internal");
    let db = tempfile::tempdir().unwrap();
    let served = Served::start(
        db.path(),
        &[
            "--admin-key",
            ADMIN_KEY,
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--tls-client-ca",
            s(&pki.path("ca.pem")),
            "--tls-client-auth",
            "optional",
            "--caller-auth",
            "decision",
        ],
    )
    .await;
    let ca = pki.path("ca.pem");
    let anonymous = grpc_channel(&served.addr, &ca, None).await.unwrap();
    // Probes and the admin API need no certificate.
    health(anonymous.clone()).await.unwrap();
    create_tenant(anonymous.clone(), "school").await.unwrap();
    let register = CallerLimits {
        name: "orders.internal".into(),
        tenants: vec!["school".into()],
        all_tenants: false,
        surfaces: vec![CallerSurface::Decision as i32],
    };
    scopegate::pb::scope_admin_client::ScopeAdminClient::new(anonymous.clone())
        .manage_caller(authed(ManageCallerRequest {
            action: Some(manage_caller_request::Action::Create(register)),
        }))
        .await
        .unwrap();
    let orders = grpc_channel(&served.addr, &ca, Some((&orders_cert, &orders_key)))
        .await
        .unwrap();
    let stranger = grpc_channel(&served.addr, &ca, Some((&stranger_cert, &stranger_key)))
        .await
        .unwrap();
    let wrong_ca = match grpc_channel(&served.addr, &ca, Some((&bad_cert, &bad_key))).await {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };

    assert_eq!(
        granted_check(anonymous, "school").await,
        Err(tonic::Code::Unauthenticated)
    );
    assert_eq!(granted_check(orders.clone(), "school").await, Ok(0));
    assert_eq!(
        granted_check(orders, "other").await,
        Ok(tonic::Code::PermissionDenied as i32)
    );
    assert_eq!(
        granted_check(stranger, "school").await,
        Err(tonic::Code::PermissionDenied)
    );
    assert!(wrong_ca, "a certificate from another CA was accepted");
    assert!(served.terminate().await.success());
}
