//! Each scenario's workload, built from the fixture: the cached tokens (verified once before
//! any scenario, and checked to be cache hits), and for the cold scenarios a pool of fresh
//! tokens (signed, or opaque ones the stub IdP answers for) sized from a short probe of the
//! server's rate, so none repeats during the run.

use std::{sync::Arc, time::Duration};

use super::{
    BenchArgs, BenchError,
    driver::{self, Load},
    idp_stub::IdpStub,
    keys::DpopSigner,
    requests,
    scenario::{Conn, Pool, Workload},
    setup::{CLIENT_ID, Fixture},
    wire::{self, Rpc},
};
use jsonwebtoken::Algorithm;

/// Builds workloads; owns the cached tokens.
#[derive(Debug)]
pub(crate) struct Plans<'a> {
    fixture: &'a Fixture,
    conns: &'a [Conn],
    args: &'a BenchArgs,
    /// RS256 tokens, each verified once already, so every later call is a cache hit.
    cached: Vec<String>,
    /// Cold pools minted so far, to keep their tags apart.
    pools: usize,
    /// The stub IdP, when the opaque scenario runs.
    stub: Option<&'a IdpStub>,
}

impl<'a> Plans<'a> {
    /// Mints the cached tokens and gets each verified (hence cached) once.
    pub async fn new(
        fixture: &'a Fixture,
        conns: &'a [Conn],
        args: &'a BenchArgs,
        stub: Option<&'a IdpStub>,
    ) -> Result<Self, BenchError> {
        eprintln!("bench: minting {} cached tokens", args.cached_tokens);
        let cached = fixture.tokens(Algorithm::RS256, "cached", args.cached_tokens)?;
        let prime = Arc::new(Workload::Cold {
            pool: Pool::new(cached.clone()),
        });
        let load = Load {
            concurrency: args.concurrency.min(cached.len()),
            warmup: Duration::ZERO,
            duration: Duration::from_secs(600),
            server_pid: None,
        };
        let primed = driver::drive("prime", prime, conns, load).await?;
        if primed.errors > 0 || primed.ok < cached.len() as u64 {
            return Err(BenchError::Setup(format!(
                "priming the cached tokens: {} of {} verified ({})",
                primed.ok,
                cached.len(),
                primed.first_error.unwrap_or_default()
            )));
        }
        Ok(Self {
            fixture,
            conns,
            args,
            cached,
            pools: 0,
            stub,
        })
    }

    /// The workload of scenario `name` for a run at `load`.
    pub async fn workload(&mut self, name: &str, load: Load) -> Result<Arc<Workload>, BenchError> {
        let f = self.fixture;
        let workload = match name {
            "health_check" => Workload::Health,
            "check_scopes_cached_token" | "check_scopes_batch10" => {
                let batch = if name == "check_scopes_batch10" {
                    10
                } else {
                    1
                };
                let operations = &f.allowed_operations;
                Workload::Encoded {
                    rpc: Rpc::CheckScopes { expected: batch },
                    requests: requests::per_token(&self.cached, |t| {
                        requests::check_scopes(&f.tenant, t, operations, batch)
                    }),
                }
            }
            "check_scopes_dpop" => self.dpop(load).await?,
            "ext_authz_cached_token" => Workload::Encoded {
                rpc: Rpc::ExtAuthz,
                requests: requests::per_token(&self.cached, |t| {
                    requests::envoy_check(&f.tenant, &f.allowed_operations[0], t)
                }),
            },
            "check_scopes_granted" => {
                let scopes: Vec<String> = f.token_scope.split(' ').map(str::to_owned).collect();
                let request = requests::check_granted(&f.tenant, &scopes, &f.allowed_operations[0]);
                Workload::Encoded {
                    rpc: Rpc::CheckScopes { expected: 1 },
                    requests: vec![wire::encode(&request)],
                }
            }
            "introspect_cached" => {
                self.confirm_cached().await?;
                Workload::Encoded {
                    rpc: Rpc::Introspect,
                    requests: requests::per_token(&self.cached, requests::introspect),
                }
            }
            "introspect_cold_rs256" => self.cold(Algorithm::RS256, load).await?,
            "introspect_cold_es256" => self.cold(Algorithm::ES256, load).await?,
            "introspect_cold_eddsa" => self.cold(Algorithm::EdDSA, load).await?,
            "introspect_cold_hs256" => self.cold(Algorithm::HS256, load).await?,
            "introspect_cold_opaque" => self.cold_opaque(load).await?,
            "resolve_scopes" => Workload::Resolve {
                tenant: f.tenant.clone(),
                scope: "openid profile reports:read res0:read".to_owned(),
                client_id: CLIENT_ID.to_owned(),
            },
            "manage_scope_list" => Workload::ListScopes {
                tenant: f.tenant.clone(),
                bearer: f.admin.bearer.clone(),
            },
            other => return Err(BenchError::Usage(format!("unknown scenario {other:?}"))),
        };
        Ok(Arc::new(workload))
    }

    /// Asks the server (explain trace) whether a cached token is really served from cache.
    async fn confirm_cached(&self) -> Result<(), BenchError> {
        let token = self.cached[self.cached.len() / 2].clone();
        let answer = self.conns[0]
            .clone()
            .explain(token)
            .await
            .map_err(|s| super::setup::setup_failed("Introspect", &s))?;
        match answer.explain {
            Some(e) if answer.active && e.cache_hit => Ok(()),
            _ => Err(BenchError::Setup(
                "a primed token was not served from the token cache".into(),
            )),
        }
    }

    /// A pool of fresh `alg` tokens, sized by [`Self::sized_pool`].
    async fn cold(&mut self, alg: Algorithm, load: Load) -> Result<Workload, BenchError> {
        let probe_size = if alg == Algorithm::RS256 {
            1_000
        } else {
            3_000
        };
        let fixture = self.fixture;
        let (pool, _) = self
            .sized_pool(&format!("{alg:?} tokens"), load, probe_size, |tag, n| {
                Ok(Pool::new(fixture.tokens(alg, tag, n)?))
            })
            .await?;
        Ok(Workload::Cold { pool })
    }

    /// A pool of fresh opaque tokens of the tenant that asks the stub IdP.
    async fn cold_opaque(&mut self, load: Load) -> Result<Workload, BenchError> {
        let fixture = self.fixture;
        let (Some(stub), Some(tenant)) = (self.stub, &fixture.opaque_tenant) else {
            return Err(BenchError::Setup(
                "no stub IdP for the opaque tokens".into(),
            ));
        };
        let asked_before = stub.calls();
        let (pool, probed) = self
            .sized_pool("opaque tokens", load, 1_000, |tag, n| {
                Ok(Pool::for_tenant(tenant, fixture.opaque_tokens(tag, n)))
            })
            .await?;
        // Every active answer must have come from the stub: nothing cheaper stood in.
        let asked = stub.calls() - asked_before;
        if asked < probed {
            return Err(BenchError::Setup(format!(
                "{probed} opaque tokens were active but the stub IdP was asked {asked} times"
            )));
        }
        Ok(Workload::IntrospectOpaque {
            pool,
            stub: stub.clock,
        })
    }

    /// A pool from `mint(tag, count)`, and how many of the probe's calls succeeded: a probe of
    /// `probe_size` tokens measures the server's cold rate, then enough tokens for the warm-up
    /// and the window with 60 % to spare (the probe runs on a cold pool of its own, and the
    /// rate climbs once the run is warm; capped by `--max-cold-tokens`). A pool that runs dry
    /// ends the window there: no token is sent twice, and the row is flagged `cut`
    /// (`window_cut` in the JSON).
    async fn sized_pool(
        &mut self,
        what: &str,
        load: Load,
        probe_size: usize,
        mint: impl Fn(&str, usize) -> Result<Pool, BenchError>,
    ) -> Result<(Pool, u64), BenchError> {
        self.pools += 1;
        let tag = format!("cold{}", self.pools);
        let probe = Workload::Cold {
            pool: mint(&format!("{tag}p"), probe_size)?,
        };
        let probe_load = Load {
            concurrency: load.concurrency,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(2),
            server_pid: None,
        };
        let probed = driver::drive("probe", Arc::new(probe), self.conns, probe_load).await?;
        let seconds = (load.warmup + load.duration).as_secs_f64();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
        let wanted = (probed.rps() * seconds * 1.6) as usize + 4 * load.concurrency;
        let size = wanted.clamp(1_000, self.args.max_cold_tokens.max(1_000));
        if size < wanted {
            eprintln!(
                "bench: {what}: {wanted} wanted, capped by --max-cold-tokens at {size}: the window \
                 may be cut when they run out (the table flags it `cut`)"
            );
        }
        eprintln!(
            "bench: making {size} {what} (probe: {:.0} calls/s)",
            probed.rps()
        );
        Ok((mint(&tag, size)?, probed.ok))
    }

    /// CheckScopes of one DPoP-bound token (cached after its first use), each call with a
    /// fresh proof (RFC 9449 forbids reuse): a pool sized like a cold pool, from a probe of
    /// the server's rate. Proofs carry `iat` = now at minting, so the window must end within
    /// the tenant's `iat` window (60 s) of the minting; longer runs would see stale proofs.
    async fn dpop(&mut self, load: Load) -> Result<Workload, BenchError> {
        const URI: &str = "https://api.bench.test/courses";
        self.pools += 1;
        let tag = format!("{}-dpop{}", self.fixture.run_id, self.pools);
        let signer = DpopSigner::generate()?;
        let mut claims = self.fixture.claims(Algorithm::ES256, &tag, 0);
        claims["cnf"] = serde_json::json!({ "jkt": signer.jkt });
        let token = self.fixture.signer(Algorithm::ES256)?.mint(&claims)?;
        let f = self.fixture;
        let operation = &f.allowed_operations[0];
        let pool = |proofs: Vec<String>| {
            let requests = proofs
                .into_iter()
                .map(|p| {
                    wire::encode(&requests::check_scopes_dpop(
                        &f.tenant, &token, operation, p, URI,
                    ))
                })
                .collect();
            Pool::encoded(Rpc::CheckScopes { expected: 1 }, requests)
        };
        let (pool, _) = self
            .sized_pool("DPoP proofs", load, 3_000, |t, n| {
                Ok(pool(signer.proofs(
                    n,
                    URI,
                    &token,
                    &format!("{tag}-{t}"),
                )?))
            })
            .await?;
        Ok(Workload::Cold { pool })
    }
}
