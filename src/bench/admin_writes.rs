//! `bench --admin-writes`: how fast the catalog takes writes through the admin API. For one
//! writer and for eight at once, `ManageScope` creates of distinct scopes into one throwaway
//! tenant for `--duration` seconds (each a committed write: planned against the tenant's
//! current catalog, stored with its audit event, announced, the cached state dropped); then
//! the time `ImportCatalog` takes to bring a second throwaway tenant from the `oidc` preset to
//! 1,000 custom scopes. Both tenants are deleted at the end, also when a step failed.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use jsonwebtoken::Algorithm;
use tokio::task::JoinSet;

use super::{
    BenchArgs, BenchError,
    keys::Signer,
    setup::{self, Admin, setup_failed},
};
use crate::{pb, preset::CatalogFile, preset::FileScope};

/// Writers of the concurrent round.
const CONCURRENT_WRITERS: usize = 8;
/// Custom scopes of the imported catalog.
const IMPORTED_SCOPES: usize = 1_000;

/// What one round of creates did.
struct Round {
    writers: usize,
    created: u64,
    elapsed: Duration,
}

impl Round {
    fn per_second(&self) -> f64 {
        self.created as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the rounds and the import, printing one line each to `out`.
pub(crate) async fn run(
    admin: Admin,
    args: &BenchArgs,
    out: &mut impl Write,
) -> Result<(), BenchError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (writes, imports) = (
        format!("bench-w-{}", &run[..12]),
        format!("bench-i-{}", &run[..12]),
    );
    let signer = Signer::generate(Algorithm::EdDSA)?;
    let empty = CatalogFile::default();
    let window = Duration::from_secs_f64(args.duration);
    let outcome = async {
        setup::create_tenant(&admin, &writes, &[&signer], &empty).await?;
        setup::create_tenant(&admin, &imports, &[&signer], &empty).await?;
        let mut lines = Vec::new();
        for writers in [1, CONCURRENT_WRITERS] {
            let round = creates(&admin, &writes, writers, window).await?;
            lines.push(format!(
                "ManageScope create, {} writer{}: {} scopes in {:.2} s, {:.0} creates/s",
                round.writers,
                if round.writers == 1 { "" } else { "s at once" },
                round.created,
                round.elapsed.as_secs_f64(),
                round.per_second()
            ));
        }
        let started = Instant::now();
        admin.import(&imports, &imported_catalog()).await?;
        lines.push(format!(
            "ImportCatalog of {IMPORTED_SCOPES} custom scopes into a new tenant: {:.2} s",
            started.elapsed().as_secs_f64()
        ));
        Ok::<_, BenchError>(lines)
    }
    .await;
    for tenant in [&writes, &imports] {
        if let Err(status) = admin.delete_tenant(tenant).await
            && status.code() != tonic::Code::NotFound
        {
            eprintln!(
                "bench: could not delete tenant {tenant}: {}",
                status.message()
            );
        }
    }
    let text = outcome?.join("\n") + "\n";
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| BenchError::Write {
            path: "stdout".into(),
            source,
        })
}

/// `writers` tasks creating distinct scopes in `tenant` until `window` has passed.
async fn creates(
    admin: &Admin,
    tenant: &str,
    writers: usize,
    window: Duration,
) -> Result<Round, BenchError> {
    let created = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + window;
    let mut tasks = JoinSet::new();
    for w in 0..writers {
        let (admin, tenant, created) = (admin.clone(), tenant.to_owned(), Arc::clone(&created));
        tasks.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < until {
                let name = format!("w{writers}-{w}-{i}:write");
                let create = pb::CreateScope {
                    name,
                    description: "created by scopegate bench --admin-writes".to_owned(),
                    is_default: false,
                    implies: Vec::new(),
                };
                let request = admin.request(pb::ManageScopeRequest {
                    tenant: tenant.clone(),
                    action: Some(pb::manage_scope_request::Action::Create(create)),
                });
                admin
                    .client()
                    .manage_scope(request)
                    .await
                    .map_err(|s| setup_failed("ManageScope create", &s))?;
                created.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok::<(), BenchError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Setup(format!("a writer failed: {e}")))??;
    }
    Ok(Round {
        writers,
        created: created.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// The oidc preset's scopes plus `IMPORTED_SCOPES` custom ones, every second implying the one
/// before it.
fn imported_catalog() -> CatalogFile {
    let scopes = (0..IMPORTED_SCOPES)
        .map(|i| FileScope {
            name: format!(
                "imported{}:{}",
                i / 2,
                if i % 2 == 0 { "read" } else { "write" }
            ),
            description: format!("imported scope {i}"),
            default: false,
            implies: if i % 2 == 1 {
                vec![format!("imported{}:read", i / 2)]
            } else {
                Vec::new()
            },
        })
        .collect();
    CatalogFile {
        scopes,
        ..CatalogFile::default()
    }
}
