//! The throwaway fixture: two tenants (public keys, and an HMAC secret, which may not share a
//! JWK set with public keys), and when `introspect_cold_opaque` runs a third whose opaque tokens
//! go to the stub IdP's RFC 7662 endpoint; a catalog of 50 scopes with operations and a client,
//! all made through the admin API; and the claims of the tokens the bench mints for them (or,
//! for opaque tokens, the stub's canned answer).

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tonic::{Request, metadata::AsciiMetadataValue, transport::Channel};

use super::{
    BenchError,
    keys::{self, Signer},
};
use crate::{
    pb::{self, scope_admin_client::ScopeAdminClient},
    preset::{CatalogFile, FileClient, FileOperation, FileScope},
};

/// The audience every bench token carries.
pub(crate) const AUDIENCE: &str = "https://api.bench.scopegate.test";
/// The third-party client the tokens are issued to.
pub(crate) const CLIENT_ID: &str = "bench-app";
/// `res{k}:read`/`res{k}:write` pairs: with `reports:*` and the 6 preset scopes, 50 scopes.
const RESOURCE_PAIRS: usize = 21;
/// Operations `op_{k}` (either scope of pair `k`), besides `get_report` and `update_report`.
const RESOURCE_OPERATIONS: usize = 18;

/// What the scenarios need to know about the fixture.
#[derive(Debug)]
pub(crate) struct Fixture {
    /// Unique per run, so no token of an earlier run can be in the server's cache.
    pub run_id: String,
    /// Trusts the RS256, ES256 and EdDSA keys.
    pub tenant: String,
    /// Trusts the HS256 secret.
    pub hs_tenant: String,
    /// Sends its (opaque) tokens to the stub IdP, when the opaque scenario runs.
    pub opaque_tenant: Option<String>,
    pub signers: Vec<Signer>,
    /// Ten operations every bench token satisfies.
    pub allowed_operations: Vec<String>,
    /// The scopes of every bench token.
    pub token_scope: String,
    pub admin: Admin,
}

/// The admin API, every call carrying the admin key.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    client: ScopeAdminClient<Channel>,
    pub bearer: AsciiMetadataValue,
}

impl Admin {
    /// An admin client over `channel` authenticating with `key`.
    pub fn new(channel: Channel, key: &str) -> Result<Self, BenchError> {
        let mut bearer: AsciiMetadataValue = format!("Bearer {key}")
            .parse()
            .map_err(|_| BenchError::Usage("the admin key must be printable ASCII".into()))?;
        bearer.set_sensitive(true);
        Ok(Self {
            client: ScopeAdminClient::new(channel),
            bearer,
        })
    }

    /// `message` with the admin credential attached.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    /// The admin client, for calls without a helper here (each call still needs
    /// [`Admin::request`]).
    pub fn client(&self) -> ScopeAdminClient<Channel> {
        self.client.clone()
    }

    /// One `ManageTenant` action.
    pub async fn tenant(
        &self,
        action: pb::manage_tenant_request::Action,
    ) -> Result<pb::ManageTenantResponse, tonic::Status> {
        let request = self.request(pb::ManageTenantRequest {
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_tenant(request)
            .await?
            .into_inner())
    }

    /// Makes `tenant`'s catalog equal to `catalog`.
    pub async fn import(&self, tenant: &str, catalog: &CatalogFile) -> Result<(), BenchError> {
        let content = toml::to_string(catalog)
            .map_err(|e| BenchError::Setup(format!("catalog file: {e}")))?;
        let request = self.request(pb::ImportCatalogRequest {
            tenant: tenant.to_owned(),
            content,
            dry_run: false,
        });
        self.client
            .clone()
            .import_catalog(request)
            .await
            .map_err(|s| setup_failed("ImportCatalog", &s))?;
        Ok(())
    }

    /// Deletes a tenant (the end of a run against `--target`).
    pub async fn delete_tenant(&self, id: &str) -> Result<(), tonic::Status> {
        let action = pb::manage_tenant_request::Action::Delete(pb::DeleteTenant { id: id.into() });
        self.tenant(action).await.map(|_| ())
    }
}

pub(crate) fn setup_failed(call: &str, status: &tonic::Status) -> BenchError {
    BenchError::Setup(format!("{call}: {:?}: {}", status.code(), status.message()))
}

/// The issuer of a bench tenant's tokens.
pub(crate) fn issuer(tenant: &str) -> String {
    format!("https://id.bench.scopegate.test/{tenant}")
}

/// Creates a tenant from the `oidc` preset trusting `signers`, then imports `catalog`.
pub(crate) async fn create_tenant(
    admin: &Admin,
    id: &str,
    signers: &[&Signer],
    catalog: &CatalogFile,
) -> Result<(), BenchError> {
    let settings = pb::TenantSettings {
        issuer: Some(issuer(id)),
        audiences: Some(pb::StringList {
            values: vec![AUDIENCE.to_owned()],
        }),
        jwks: Some(keys::jwks(signers)),
        algorithms: Some(pb::StringList {
            values: signers.iter().map(|s| keys::alg_name(s.alg)).collect(),
        }),
        // `check_scopes_dpop` sends a fresh proof per call, each remembered for two minutes.
        dpop: Some(pb::DpopSettings {
            replay_capacity: crate::tenant::MAX_DPOP_REPLAY_CAPACITY,
            ..Default::default()
        }),
        ..Default::default()
    };
    let create = pb::CreateTenant {
        id: id.to_owned(),
        display_name: "scopegate bench (throwaway)".to_owned(),
        preset: "oidc".to_owned(),
        settings: Some(settings),
    };
    admin
        .tenant(pb::manage_tenant_request::Action::Create(create))
        .await
        .map_err(|s| setup_failed("ManageTenant create", &s))?;
    admin.import(id, catalog).await
}

/// The scopes of every bench token (and of the stub IdP's answer).
pub(crate) fn token_scope() -> String {
    let mut scope = "openid profile reports:read reports:write".to_owned();
    for k in 0..8 {
        scope.push_str(&format!(" res{k}:read"));
    }
    scope
}

/// 44 custom scopes (50 with the preset's), 20 operations and the bench client.
pub(crate) fn catalog(scopes_wanted: usize) -> CatalogFile {
    let scope = |name: String, implies: Vec<String>| FileScope {
        description: format!("bench scope {name}"),
        name,
        default: false,
        implies,
    };
    let mut scopes = vec![
        scope("reports:read".into(), vec![]),
        scope("reports:write".into(), vec!["reports:read".into()]),
    ];
    // The oidc preset brings 6 scopes; the rest are read/write pairs, a write implying its read.
    let custom = scopes_wanted.saturating_sub(6).max(2 * RESOURCE_PAIRS + 2);
    for i in 0..custom - 2 {
        let (k, write) = (i / 2, i % 2 == 1);
        let implies = if write {
            vec![format!("res{k}:read")]
        } else {
            vec![]
        };
        let kind = if write { "write" } else { "read" };
        scopes.push(scope(format!("res{k}:{kind}"), implies));
    }
    let mut operations = vec![
        operation("get_report", vec![vec!["reports:read".into()]]),
        operation("update_report", vec![vec!["reports:write".into()]]),
    ];
    for k in 0..RESOURCE_OPERATIONS {
        let alternatives = vec![vec![format!("res{k}:read")], vec![format!("res{k}:write")]];
        operations.push(operation(&format!("op_{k}"), alternatives));
    }
    let mut allowed: Vec<String> = vec!["openid".into(), "profile".into()];
    allowed.extend(scopes.iter().map(|s| s.name.clone()));
    CatalogFile {
        scopes,
        operations,
        clients: vec![FileClient {
            client_id: CLIENT_ID.into(),
            name: "bench client".into(),
            first_party: false,
            allowed_scopes: allowed,
        }],
        ..Default::default()
    }
}

fn operation(name: &str, alternatives: Vec<Vec<String>>) -> FileOperation {
    FileOperation {
        name: name.to_owned(),
        description: String::new(),
        alternatives,
    }
}

impl Fixture {
    /// Generates the keys and creates both tenants, and the opaque one when an `opaque`
    /// introspection endpoint is given.
    pub async fn create(admin: Admin, opaque: Option<&str>) -> Result<Self, BenchError> {
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let signers = [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ]
        .into_iter()
        .map(Signer::generate)
        .collect::<Result<Vec<_>, _>>()?;
        let tenant = format!("bench-{run_id}");
        let hs_tenant = format!("bench-{run_id}-hs");
        let catalog = catalog(50);
        let (public, secret): (Vec<&Signer>, Vec<&Signer>) =
            signers.iter().partition(|s| s.alg != Algorithm::HS256);
        create_tenant(&admin, &tenant, &public, &catalog).await?;
        create_tenant(&admin, &hs_tenant, &secret, &catalog).await?;
        let opaque_tenant = match opaque {
            Some(endpoint) => {
                let id = format!("bench-{run_id}-opaque");
                super::idp_stub::create_tenant(&admin, &id, endpoint, &catalog).await?;
                Some(id)
            }
            None => None,
        };
        let mut allowed_operations = vec!["get_report".to_owned(), "update_report".to_owned()];
        allowed_operations.extend((0..8).map(|k| format!("op_{k}")));
        Ok(Self {
            run_id,
            tenant,
            hs_tenant,
            opaque_tenant,
            signers,
            allowed_operations,
            token_scope: token_scope(),
            admin,
        })
    }

    /// The signer for `alg`.
    pub fn signer(&self, alg: Algorithm) -> Result<&Signer, BenchError> {
        self.signers
            .iter()
            .find(|s| s.alg == alg)
            .ok_or_else(|| BenchError::Setup(format!("no {alg:?} key")))
    }

    /// The tenant whose keys verify `alg`.
    pub fn tenant_for(&self, alg: Algorithm) -> &str {
        if alg == Algorithm::HS256 {
            &self.hs_tenant
        } else {
            &self.tenant
        }
    }

    /// The claims of bench token `i` signed with `alg`: an hour of life, twelve scopes, a
    /// `jti` unique to this run, algorithm and index.
    pub fn claims(&self, alg: Algorithm, tag: &str, i: usize) -> Value {
        let now = crate::store::now_ms() / 1000;
        json!({
            "iss": issuer(self.tenant_for(alg)),
            "aud": AUDIENCE,
            "sub": format!("user-{i}"),
            "client_id": CLIENT_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": format!("{}-{tag}-{i}", self.run_id),
            "scope": self.token_scope,
        })
    }

    /// `count` distinct tokens signed with `alg`; `tag` keeps pools of one run apart.
    pub fn tokens(
        &self,
        alg: Algorithm,
        tag: &str,
        count: usize,
    ) -> Result<Vec<String>, BenchError> {
        let signer = self.signer(alg)?;
        signer.mint_many(count, &|i| self.claims(alg, tag, i))
    }

    /// `count` distinct opaque tokens (no dots: never mistaken for a JWS), 43 characters like
    /// a 256-bit random token in base64url; `tag` keeps pools of one run apart.
    pub fn opaque_tokens(&self, tag: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{:_<43}", format!("opq_{}_{tag}_{i}_", self.run_id)))
            .collect()
    }

    /// Deletes the tenants.
    pub async fn remove(&self) -> Result<(), BenchError> {
        let ids = [&self.tenant, &self.hs_tenant];
        for id in ids.into_iter().chain(&self.opaque_tenant) {
            self.admin
                .delete_tenant(id)
                .await
                .map_err(|s| setup_failed("ManageTenant delete", &s))?;
        }
        Ok(())
    }
}
