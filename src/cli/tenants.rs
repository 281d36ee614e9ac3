//! `scopegate tenants list|get|create|update|delete`.

use std::path::PathBuf;

use super::{
    Connection,
    connect::{Admin, next_token, page},
    error::CliError,
    output::{Printer, Table, fields, list, yes_no},
};
use crate::pb::{
    self, manage_tenant_request::Action, manage_tenant_response::Result as TenantResult,
};

/// The tenant subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TenantsCommand {
    /// List every tenant (all pages).
    List,
    /// Show one tenant.
    Get {
        /// The tenant id.
        id: String,
    },
    /// Create a tenant and seed its catalog from a preset.
    Create {
        /// The tenant id: 1-63 of a-z, 0-9, `-`.
        id: String,
        /// Catalog preset to seed from [default on the server: oidc].
        #[arg(long, value_parser = ["oidc", "loopwise", "lumoauth"])]
        preset: Option<String>,
        /// Human-readable name [default: the id].
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change a tenant's display name or token settings; what is not given stays as it is.
    Update {
        /// The tenant id.
        id: String,
        /// New human-readable name.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete a tenant with its whole catalog and revocations (its audit trail is kept).
    Delete {
        /// The tenant id.
        id: String,
    },
}

/// A tenant's token settings; on create, what is not given takes the server's defaults.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// The `iss` its tokens carry, matched exactly.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// An accepted audience; repeat for several. Replaces the list.
    #[arg(long = "audience", value_name = "AUDIENCE")]
    audiences: Vec<String>,
    /// Accept no audience at all (empties the list).
    #[arg(long, conflicts_with = "audiences")]
    clear_audiences: bool,
    /// URL to fetch the JWK set from; "" removes it.
    #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
    jwks_uri: Option<String>,
    /// File holding an inline JWK set (RFC 7517 JSON); it is never echoed back.
    #[arg(long, value_name = "FILE")]
    jwks_file: Option<PathBuf>,
    /// An accepted JWS algorithm; repeat for several. Replaces the list [server default:
    /// RS256, ES256, EdDSA].
    #[arg(long = "algorithm", value_name = "ALG")]
    algorithms: Vec<String>,
    /// Clock leeway for `exp`, `nbf`, `iat` [server default: 60, at most 600].
    #[arg(long, value_name = "N")]
    leeway_seconds: Option<u32>,
    /// Require `typ` = `at+jwt` (RFC 9068) [server default for new tenants: true];
    /// `--require-at-jwt-typ=false` lifts it for IdPs that stamp `typ: JWT` (ID-token-shaped
    /// tokens are still refused).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    require_at_jwt_typ: Option<bool>,
    /// Minimum seconds between two JWKS refreshes [server default: 300].
    #[arg(long, value_name = "N")]
    jwks_refresh_seconds: Option<u32>,
    /// `ResolveScopes` drops unknown scopes instead of refusing; `=false` undoes it.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    drop_unknown_scopes: Option<bool>,
    /// A protected resource's canonical URI (RFC 8707; MCP servers, APIs); repeat for several.
    /// Replaces the list (names, documentation and operations: use a catalog file).
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    /// Protect no resource (empties the list).
    #[arg(long, conflicts_with = "resources")]
    clear_resources: bool,
    /// A DPoP proof algorithm (asymmetric); repeat for several [server default: every
    /// asymmetric algorithm]. Any `--dpop-*` flag replaces the whole DPoP policy: the ones
    /// not given take their defaults.
    #[arg(long = "dpop-algorithm", value_name = "ALG")]
    dpop_algorithms: Vec<String>,
    /// How far a DPoP proof's `iat` may be from now, in seconds [server default: 60, at most
    /// 600].
    #[arg(long, value_name = "N")]
    dpop_iat_window_seconds: Option<u32>,
    /// Most DPoP proofs remembered at once for the replay check, per replica [server
    /// default: 100000].
    #[arg(long, value_name = "N")]
    dpop_replay_capacity: Option<u32>,
    /// Introspect opaque tokens at this RFC 7662 endpoint (replaces the whole upstream
    /// configuration: give the other `--upstream-*` flags with it).
    #[arg(long, value_name = "URL", conflicts_with = "clear_upstream")]
    upstream_endpoint: Option<String>,
    /// The client id scopegate authenticates upstream as (`client_secret_basic`).
    #[arg(long, value_name = "ID", requires = "upstream_endpoint")]
    upstream_client_id: Option<String>,
    /// File holding the upstream client secret (kept out of the process list and shell
    /// history); without it the stored secret is kept.
    #[arg(long, value_name = "FILE", requires = "upstream_endpoint")]
    upstream_client_secret_file: Option<PathBuf>,
    /// Timeout of one upstream call in milliseconds [server default: 2000].
    #[arg(long, value_name = "MS", requires = "upstream_endpoint")]
    upstream_timeout_ms: Option<u32>,
    /// Which tokens go upstream: `non-jws` (default), `all` or `none`.
    #[arg(long, value_name = "WHICH", requires = "upstream_endpoint", value_parser = ["non-jws", "all", "none"])]
    upstream_tokens: Option<String>,
    /// Longest an upstream answer is cached, in seconds [server default: 60]: how long a
    /// revocation at the authorization server may go unseen.
    #[arg(long, value_name = "N", requires = "upstream_endpoint")]
    upstream_cache_ttl_seconds: Option<u32>,
    /// Remove the upstream introspection configuration.
    #[arg(long)]
    clear_upstream: bool,
}

impl SettingsArgs {
    /// The settings message; reads `--jwks-file`.
    fn to_settings(&self) -> Result<pb::TenantSettings, CliError> {
        let jwks = match &self.jwks_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("cannot read --jwks-file {}: {e}", path.display()))
            })?),
            None => None,
        };
        let audiences =
            (self.clear_audiences || !self.audiences.is_empty()).then(|| pb::StringList {
                values: self.audiences.clone(),
            });
        let algorithms = (!self.algorithms.is_empty()).then(|| pb::StringList {
            values: self.algorithms.clone(),
        });
        Ok(pb::TenantSettings {
            issuer: self.issuer.clone(),
            audiences,
            jwks,
            jwks_uri: self.jwks_uri.clone(),
            algorithms,
            leeway_seconds: self.leeway_seconds,
            require_at_jwt_typ: self.require_at_jwt_typ,
            jwks_refresh_seconds: self.jwks_refresh_seconds,
            drop_unknown_scopes: self.drop_unknown_scopes,
            resources: (self.clear_resources || !self.resources.is_empty()).then(|| {
                pb::ProtectedResourceList {
                    values: self
                        .resources
                        .iter()
                        .map(|uri| pb::ProtectedResource {
                            resource: uri.clone(),
                            ..Default::default()
                        })
                        .collect(),
                }
            }),
            // Roles claims mappings are set through the API or a catalog file.
            scope_claims: None,
            upstream_introspection: self.upstream()?,
            dpop: self.dpop_settings(),
        })
    }

    /// The DPoP policy the `--dpop-*` flags describe, `None` when none is given.
    fn dpop_settings(&self) -> Option<pb::DpopSettings> {
        let given = !self.dpop_algorithms.is_empty()
            || self.dpop_iat_window_seconds.is_some()
            || self.dpop_replay_capacity.is_some();
        given.then(|| pb::DpopSettings {
            algorithms: self.dpop_algorithms.clone(),
            iat_window_seconds: self.dpop_iat_window_seconds.unwrap_or(0),
            replay_capacity: self.dpop_replay_capacity.unwrap_or(0),
        })
    }

    /// The upstream introspection message of the `--upstream-*` flags; reads the secret file.
    fn upstream(&self) -> Result<Option<pb::UpstreamIntrospection>, CliError> {
        if self.clear_upstream {
            return Ok(Some(pb::UpstreamIntrospection::default()));
        }
        let Some(endpoint) = &self.upstream_endpoint else {
            return Ok(None);
        };
        let client_secret = match &self.upstream_client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    CliError::Usage(format!(
                        "cannot read --upstream-client-secret-file {}: {e}",
                        path.display()
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => String::new(),
        };
        let tokens = match self.upstream_tokens.as_deref() {
            Some("all") => pb::UpstreamTokens::All,
            Some("none") => pb::UpstreamTokens::None,
            _ => pb::UpstreamTokens::NonJws,
        };
        Ok(Some(pb::UpstreamIntrospection {
            endpoint: endpoint.clone(),
            client_id: self.upstream_client_id.clone().unwrap_or_default(),
            client_secret,
            timeout_ms: self.upstream_timeout_ms,
            tokens: tokens.into(),
            cache_ttl_seconds: self.upstream_cache_ttl_seconds,
            client_secret_set: false,
        }))
    }
}

/// Runs a tenant subcommand.
pub async fn run(
    connection: &Connection,
    command: TenantsCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let action = match command {
        TenantsCommand::List => return list_all(&Admin::connect(connection).await?, out).await,
        TenantsCommand::Get { id } => Action::Get(pb::GetTenant { id }),
        TenantsCommand::Create {
            id,
            preset,
            display_name,
            settings,
        } => Action::Create(pb::CreateTenant {
            id,
            display_name: display_name.unwrap_or_default(),
            preset: preset.unwrap_or_default(),
            settings: Some(settings.to_settings()?),
        }),
        TenantsCommand::Update {
            id,
            display_name,
            settings,
        } => {
            let settings = settings.to_settings()?;
            if display_name.is_none() && settings == pb::TenantSettings::default() {
                return Err(CliError::Usage(
                    "nothing to update: give --display-name or a setting".to_owned(),
                ));
            }
            Action::Update(pb::UpdateTenant {
                id,
                settings: Some(settings),
                display_name,
            })
        }
        TenantsCommand::Delete { id } => Action::Delete(pb::DeleteTenant { id }),
    };
    let response = Admin::connect(connection).await?.tenant(action).await?;
    if out.is_json() {
        return out.json(&response);
    }
    match &response.result {
        Some(TenantResult::Tenant(tenant)) => show(out, tenant),
        Some(TenantResult::Deleted(tenant)) => out.line(format!(
            "deleted tenant {} with its catalog (its audit trail is kept)",
            tenant.id
        )),
        Some(TenantResult::Tenants(page)) => table(out, &page.tenants),
        None => Ok(()),
    }
}

async fn list_all(admin: &Admin, out: &mut Printer<'_>) -> Result<(), CliError> {
    let mut tenants = Vec::new();
    let mut token = String::new();
    loop {
        let list = pb::ListTenants {
            page: page(None, &token),
        };
        let response = admin.tenant(Action::List(list)).await?;
        let Some(TenantResult::Tenants(page)) = response.result else {
            break;
        };
        tenants.extend(page.tenants);
        token = next_token(&token, page.next_page_token)?;
        if token.is_empty() {
            break;
        }
    }
    if out.is_json() {
        let response = pb::ManageTenantResponse {
            result: Some(TenantResult::Tenants(pb::TenantPage {
                tenants,
                next_page_token: String::new(),
            })),
        };
        return out.json(&response);
    }
    table(out, &tenants)
}

fn table(out: &mut Printer<'_>, tenants: &[pb::Tenant]) -> Result<(), CliError> {
    let mut table = Table::new(&["ID", "PRESET", "REVISION", "ISSUER", "DISPLAY NAME"]);
    for t in tenants {
        table.row(vec![
            t.id.clone(),
            t.preset.clone(),
            t.catalog_revision.to_string(),
            if t.issuer.is_empty() { "-" } else { &t.issuer }.to_owned(),
            t.display_name.clone(),
        ]);
    }
    table.print(out)
}

fn show(out: &mut Printer<'_>, t: &pb::Tenant) -> Result<(), CliError> {
    let keys = match (t.jwks_uri.as_str(), t.has_inline_jwks) {
        ("", true) => "inline JWK set".to_owned(),
        ("", false) => "none".to_owned(),
        (uri, _) => format!("jwks_uri {uri}"),
    };
    let time = |ts: Option<&prost_types::Timestamp>| ts.map_or("-".to_owned(), ToString::to_string);
    fields(
        out,
        &[
            ("id", t.id.clone()),
            ("display name", t.display_name.clone()),
            ("preset", t.preset.clone()),
            (
                "issuer",
                if t.issuer.is_empty() { "-" } else { &t.issuer }.to_owned(),
            ),
            ("audiences", list(&t.audiences)),
            ("keys", keys),
            ("algorithms", list(&t.algorithms)),
            ("leeway seconds", t.leeway_seconds.to_string()),
            ("require at+jwt typ", yes_no(t.require_at_jwt_typ)),
            ("jwks refresh seconds", t.jwks_refresh_seconds.to_string()),
            ("drop unknown scopes", yes_no(t.drop_unknown_scopes)),
            (
                "resources",
                list(
                    &t.resources
                        .iter()
                        .map(|r| r.resource.clone())
                        .collect::<Vec<_>>(),
                ),
            ),
            ("reserved scopes", list(&t.reserved_scopes)),
            ("catalog revision", t.catalog_revision.to_string()),
            ("created", time(t.created_at.as_ref())),
            ("updated", time(t.updated_at.as_ref())),
        ],
    )
}
