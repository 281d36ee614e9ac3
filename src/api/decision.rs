//! `scopegate.v1.ScopeDecision`: batched scope checks on the hot path, and scope resolution and
//! discovery for authorization servers. Not admin-authenticated: its callers are backends
//! behind the mesh, and it reveals nothing an OAuth discovery document would not.

mod answer;
mod check;

use tonic::{Request, Response, Status};

use self::check::Batch;
use super::{convert, status::ApiError, subject::resource_uri};
use crate::{
    caller::{self, Caller},
    decision_log::DecisionLog,
    pb,
    pipeline::TokenPipeline,
    scope::{DropReason, Resolution, ResolveError, is_scope_char},
    store::now_ms,
    tenant::TenantId,
};

pub use self::check::MAX_GRANTED_SCOPES;
pub(crate) use self::check::{check_scope_token, names};

/// Most checks one `CheckScopes` call may carry.
pub const MAX_CHECKS: usize = 100;

/// Most scope-tokens one `ResolveScopes` request may name.
pub const MAX_REQUESTED_SCOPES: usize = 256;

/// Longest `ResolveScopes` scope parameter, in bytes (256 names of 128 bytes and their spaces).
pub const MAX_SCOPE_PARAM_BYTES: usize = 33 * 1024;

/// The decision service.
#[derive(Debug, Clone)]
pub struct DecisionService {
    pipeline: TokenPipeline,
    log: DecisionLog,
}

impl DecisionService {
    /// Decides over the token `pipeline` and its tenant state cache; every check's answer is
    /// named and logged by `log`.
    pub fn new(pipeline: TokenPipeline, log: DecisionLog) -> Self {
        Self { pipeline, log }
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(tenant = %request.tenant, checks = request.checks.len())
    )]
    async fn check_scopes_inner(
        &self,
        request: pb::CheckScopesRequest,
        caller: Option<&Caller>,
    ) -> Result<pb::CheckScopesResponse, ApiError> {
        let pb::CheckScopesRequest {
            tenant,
            checks,
            explain,
        } = request;
        if checks.is_empty() {
            return Err(ApiError::invalid(
                "checks",
                "at least one check is required",
            ));
        }
        if checks.len() > MAX_CHECKS {
            let message = format!("at most {MAX_CHECKS} checks per call");
            return Err(ApiError::invalid("checks", message));
        }
        let batch = Batch {
            pipeline: &self.pipeline,
            caller,
            raw_tenant: &tenant,
            tenant: match tenant.as_str() {
                "" => Ok(None),
                raw => TenantId::parse(raw)
                    .inspect(crate::telemetry::record_tenant)
                    .map(Some),
            },
            now: now_ms() / 1000,
            explain,
            log: &self.log,
        };
        let mut results = Vec::with_capacity(checks.len());
        for check in checks {
            results.push(batch.check(check).await);
        }
        Ok(pb::CheckScopesResponse { results })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %request.tenant))]
    async fn resolve_scopes_inner(
        &self,
        caller: Option<&Caller>,
        request: pb::ResolveScopesRequest,
    ) -> Result<pb::ResolveScopesResponse, ApiError> {
        let tenant = convert::tenant_id(&request.tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        caller::permit(caller, &tenant)?;
        let requested = request.scope.split(' ').filter(|t| !t.is_empty());
        if request.scope.len() > MAX_SCOPE_PARAM_BYTES || requested.count() > MAX_REQUESTED_SCOPES {
            let message = format!(
                "must name at most {MAX_REQUESTED_SCOPES} scopes in {MAX_SCOPE_PARAM_BYTES} bytes"
            );
            return Err(ApiError::invalid("scope", message));
        }
        let state = self.pipeline.states().get(&tenant).await?;
        let compiled = &state.compiled;
        let client = Some(request.client_id.as_str()).filter(|c| !c.is_empty());
        let mut response = match compiled.resolve(&request.scope, client) {
            Ok(resolution) => resolved(&resolution),
            Err(ResolveError::InvalidScope { unknown }) => pb::ResolveScopesResponse {
                error: "invalid_scope".to_owned(),
                error_description: format!(
                    "unknown or malformed scopes: {}",
                    describable(&unknown.join(" "))
                ),
                invalid_scopes: unknown,
                ..Default::default()
            },
        };
        response.catalog_revision = compiled.revision();
        Ok(response)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %request.tenant))]
    async fn list_supported_scopes_inner(
        &self,
        request: pb::ListSupportedScopesRequest,
    ) -> Result<pb::ListSupportedScopesResponse, ApiError> {
        let tenant = convert::tenant_id(&request.tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        let state = self.pipeline.states().get(&tenant).await?;
        Ok(pb::ListSupportedScopesResponse {
            scopes_supported: state
                .compiled
                .discoverable_scopes()
                .map(|s| s.name.as_str().to_owned())
                .collect(),
            catalog_revision: state.compiled.revision(),
        })
    }
}

impl DecisionService {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %request.tenant))]
    async fn get_resource_metadata_inner(
        &self,
        request: pb::GetResourceMetadataRequest,
    ) -> Result<pb::ResourceMetadata, ApiError> {
        let tenant = convert::tenant_id(&request.tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        let Some(uri) = resource_uri(&request.resource, "resource")? else {
            return Err(ApiError::invalid("resource", "is required"));
        };
        let state = self.pipeline.states().get(&tenant).await?;
        let resource = state
            .tenant
            .resource(uri)
            .ok_or(ApiError::NotFound("no such protected resource"))?;
        let document = resource.metadata(&state.tenant, &state.compiled);
        Ok(pb::ResourceMetadata {
            json: serde_json::to_string(&document).unwrap_or_default(),
            metadata_url: resource.metadata_url(),
            resource: document.resource,
            authorization_servers: document.authorization_servers,
            scopes_supported: document.scopes_supported,
            bearer_methods_supported: document.bearer_methods_supported,
            resource_name: document.resource_name.unwrap_or_default(),
            resource_documentation: document.resource_documentation.unwrap_or_default(),
            catalog_revision: state.compiled.revision(),
        })
    }
}

/// A resolution on the wire. Nothing left to grant is RFC 6749 §3.3's `invalid_scope`, naming
/// what was dropped.
fn resolved(resolution: &Resolution) -> pb::ResolveScopesResponse {
    let dropped: Vec<pb::DroppedScope> = resolution
        .dropped
        .iter()
        .map(|(name, why)| pb::DroppedScope {
            scope: name.as_str().to_owned(),
            reason: drop_reason(*why).to_owned(),
        })
        .collect();
    let refused = resolution.granted.is_empty();
    let error_description = match (refused, resolution.defaulted) {
        (false, _) => "",
        (true, true) => "no scope was requested and no default scope may be granted to this client",
        (true, false) => "none of the requested scopes may be granted to this client",
    };
    pb::ResolveScopesResponse {
        granted: resolution
            .granted
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
        scope: resolution.scope_string(),
        narrowed: resolution.must_echo_scope(),
        error: if refused { "invalid_scope" } else { "" }.to_owned(),
        error_description: error_description.to_owned(),
        invalid_scopes: if refused {
            dropped.iter().map(|d| d.scope.clone()).collect()
        } else {
            Vec::new()
        },
        dropped,
        catalog_revision: 0,
    }
}

fn drop_reason(why: DropReason) -> &'static str {
    match why {
        DropReason::Unknown => "unknown",
        DropReason::Reserved => "reserved",
        DropReason::NotAllowedForClient => "not_allowed",
    }
}

/// Keeps only the characters RFC 6749 allows in `error_description` (`%x20-21 / %x23-5B /
/// %x5D-7E`): a malformed name may hold anything.
fn describable(text: &str) -> String {
    text.bytes()
        .filter(|&b| b == b' ' || is_scope_char(b))
        .map(char::from)
        .collect()
}

#[tonic::async_trait]
impl pb::scope_decision_server::ScopeDecision for DecisionService {
    async fn check_scopes(
        &self,
        request: Request<pb::CheckScopesRequest>,
    ) -> Result<Response<pb::CheckScopesResponse>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        Ok(Response::new(
            self.check_scopes_inner(request.into_inner(), caller.as_ref())
                .await?,
        ))
    }

    async fn resolve_scopes(
        &self,
        request: Request<pb::ResolveScopesRequest>,
    ) -> Result<Response<pb::ResolveScopesResponse>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        Ok(Response::new(
            self.resolve_scopes_inner(caller.as_ref(), request.into_inner())
                .await?,
        ))
    }

    async fn get_resource_metadata(
        &self,
        request: Request<pb::GetResourceMetadataRequest>,
    ) -> Result<Response<pb::ResourceMetadata>, Status> {
        Ok(Response::new(
            self.get_resource_metadata_inner(request.into_inner())
                .await?,
        ))
    }

    async fn list_supported_scopes(
        &self,
        request: Request<pb::ListSupportedScopesRequest>,
    ) -> Result<Response<pb::ListSupportedScopesResponse>, Status> {
        Ok(Response::new(
            self.list_supported_scopes_inner(request.into_inner())
                .await?,
        ))
    }
}
