//! `bench --memory`: the resident memory of a spawned server whose caches hold many tenants'
//! compiled catalogs and many verified tokens, read from `/proc/<pid>/status` at each step.

use std::{
    io::Write,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::Algorithm;
use serde_json::json;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use super::{
    BenchArgs, BenchError,
    driver::{self, Load},
    keys::Signer,
    scenario::{Conn, Pool, Workload},
    server::{Server, rss_kib},
    setup::{self, AUDIENCE, Admin, CLIENT_ID, issuer},
};
use crate::pb::{self, scope_decision_client::ScopeDecisionClient};

/// Scopes per tenant (the 6 of the `oidc` preset and 44 custom ones).
const SCOPES_PER_TENANT: usize = 50;
/// Admin writes in flight while the tenants are created.
const WRITERS: usize = 8;

/// The spawned server's configuration: room for every tenant and token, and a TTL long enough
/// that nothing expires while the harness measures (the default 30 s only bounds staleness).
pub(crate) fn server_config(tenants: usize, tokens: usize) -> String {
    format!(
        "catalog_capacity = {}\ncatalog_ttl_seconds = 86400\ntoken_cache_capacity = {}\n",
        tenants + 16,
        tokens + 1_000
    )
}

fn tenant_id(i: usize) -> String {
    format!("mem-{i}")
}

/// Fills the caches step by step, printing the server's RSS after each.
pub(crate) async fn run(
    server: &Server,
    channels: &[Channel],
    admin: Admin,
    args: &BenchArgs,
    out: &mut impl Write,
) -> Result<(), BenchError> {
    let pid = server
        .pid()
        .ok_or_else(|| BenchError::Usage("--memory needs --spawn".into()))?;
    let rss =
        || rss_kib(pid).ok_or_else(|| BenchError::Setup("cannot read the server's RSS".into()));
    let (tenants, tokens) = (args.memory_tenants.max(1), args.memory_tokens);
    let mut lines = vec![format!("idle server: RSS {} MiB", mib(rss()?))];
    let signer = Arc::new(Signer::generate(Algorithm::EdDSA)?);
    let catalog = Arc::new(setup::catalog(SCOPES_PER_TENANT));
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        let (admin, signer, catalog) = (admin.clone(), Arc::clone(&signer), Arc::clone(&catalog));
        writers.spawn(async move {
            for i in (w..tenants).step_by(WRITERS) {
                setup::create_tenant(&admin, &tenant_id(i), &[&*signer], &catalog).await?;
                if i % 1_000 == 0 {
                    eprintln!("bench: tenant {i} of {tenants} created");
                }
            }
            Ok::<(), BenchError>(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done.map_err(|e| BenchError::Setup(format!("a writer failed: {e}")))??;
    }
    eprintln!(
        "bench: {tenants} tenants created in {:.0?}",
        started.elapsed()
    );
    let before_catalogs = rss()?;
    // Load every tenant's state (settings, catalog, compiled catalog) into the cache.
    let mut loaders = JoinSet::new();
    for (w, channel) in channels.iter().enumerate() {
        let mut client = ScopeDecisionClient::new(channel.clone());
        let step = channels.len();
        loaders.spawn(async move {
            for i in (w..tenants).step_by(step) {
                let request = pb::ListSupportedScopesRequest {
                    tenant: tenant_id(i),
                };
                client
                    .list_supported_scopes(request)
                    .await
                    .map_err(|s| setup::setup_failed("ListSupportedScopes", &s))?;
            }
            Ok::<(), BenchError>(())
        });
    }
    while let Some(done) = loaders.join_next().await {
        done.map_err(|e| BenchError::Setup(format!("a loader failed: {e}")))??;
    }
    let after_catalogs = rss()?;
    lines.push(format!(
        "{tenants} tenants x {SCOPES_PER_TENANT} scopes cached: RSS {} MiB (+{} MiB, {:.1} KiB per tenant)",
        mib(after_catalogs),
        mib(after_catalogs.saturating_sub(before_catalogs)),
        after_catalogs.saturating_sub(before_catalogs) as f64 / tenants as f64
    ));
    if tokens > 0 {
        eprintln!("bench: minting {tokens} EdDSA tokens");
        let run = uuid::Uuid::new_v4().simple().to_string();
        let now = crate::store::now_ms() / 1000;
        let scope = setup::token_scope();
        let minted = signer.mint_many(tokens, &|i| {
            json!({
                "iss": issuer(&tenant_id(i % tenants)),
                "aud": AUDIENCE,
                "sub": format!("user-{i}"),
                "client_id": CLIENT_ID,
                "iat": now,
                "exp": now + 3600,
                "jti": format!("{run}-{i}"),
                // 12 scopes, as issue #15's per-token figure is defined.
                "scope": scope,
            })
        })?;
        let conns: Vec<Conn> = channels.iter().map(Conn::new).collect();
        let workload = Arc::new(Workload::Cold {
            pool: Pool::new(minted),
        });
        let load = Load {
            concurrency: 64,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(3600),
            server_pid: None,
        };
        let verified = driver::drive("memory", workload, &conns, load).await?;
        if verified.errors > 0 {
            return Err(BenchError::Setup(format!(
                "{} tokens failed to verify: {}",
                verified.errors,
                verified.first_error.unwrap_or_default()
            )));
        }
        let after_tokens = rss()?;
        lines.push(format!(
            "+ {tokens} verified tokens cached: RSS {} MiB (+{} MiB, {:.0} bytes per token)",
            mib(after_tokens),
            mib(after_tokens.saturating_sub(after_catalogs)),
            after_tokens.saturating_sub(after_catalogs) as f64 * 1024.0 / tokens as f64
        ));
    }
    let text = lines.join("\n") + "\n";
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| BenchError::Write {
            path: "stdout".into(),
            source,
        })
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
