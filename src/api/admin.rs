//! `scopegate.v1.ScopeAdmin`: thin handlers that authorize, convert, and hand the rules to
//! `scope::edit` inside a store transaction; one file per resource, one method per action.

mod callers;
mod catalog;
mod clients;
mod credentials;
mod operations;
mod scopes;
mod tenants;

use tonic::{Request, Response, Status};

use super::{
    auth::{Access, AdminAuth},
    convert,
    status::ApiError,
};
use crate::{
    pb, pipeline::TokenPipeline, scope::edit::EditError, store::Actor, tenant::TenantId,
    tenant_states::TenantStates,
};

/// NOT_FOUND for the `kind` named `name`, as the catalog's edit rules report it.
fn not_found(kind: &'static str, name: &str) -> ApiError {
    EditError::NotFound {
        kind,
        name: name.to_owned(),
    }
    .into()
}

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    states: TenantStates,
    auth: AdminAuth,
}

impl AdminService {
    /// Serves admin calls over the pipeline's tenant states (through which every write goes),
    /// gated by `auth`.
    pub fn new(pipeline: &TokenPipeline, auth: AdminAuth) -> Self {
        Self {
            states: pipeline.states().clone(),
            auth,
        }
    }

    /// The parsed tenant, the action and the acting admin of a tenant-scoped request: reads
    /// (`is_read`) need read access, everything else write access.
    async fn begin<T, A: Clone>(
        &self,
        request: &Request<T>,
        tenant: &str,
        action: Option<&A>,
        is_read: impl Fn(&A) -> bool,
    ) -> Result<(TenantId, A, Actor), ApiError> {
        let tenant = convert::tenant_id(tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        let action = action
            .cloned()
            .ok_or_else(|| ApiError::invalid("action", "is required"))?;
        let access = if is_read(&action) {
            Access::Read
        } else {
            Access::Write
        };
        let actor = self.authorize(request, &tenant, access).await?;
        Ok((tenant, action, actor))
    }

    async fn authorize<T>(
        &self,
        request: &Request<T>,
        tenant: &TenantId,
        access: Access,
    ) -> Result<Actor, ApiError> {
        self.auth
            .authorize(request.metadata(), Some(tenant), access)
            .await
    }
}

#[tonic::async_trait]
impl pb::scope_admin_server::ScopeAdmin for AdminService {
    async fn manage_scope(
        &self,
        request: Request<pb::ManageScopeRequest>,
    ) -> Result<Response<pb::ManageScopeResponse>, Status> {
        Ok(Response::new(self.manage_scope_inner(request).await?))
    }

    async fn manage_tenant(
        &self,
        request: Request<pb::ManageTenantRequest>,
    ) -> Result<Response<pb::ManageTenantResponse>, Status> {
        Ok(Response::new(self.manage_tenant_inner(request).await?))
    }

    async fn manage_client(
        &self,
        request: Request<pb::ManageClientRequest>,
    ) -> Result<Response<pb::ManageClientResponse>, Status> {
        Ok(Response::new(self.manage_client_inner(request).await?))
    }

    async fn manage_operation(
        &self,
        request: Request<pb::ManageOperationRequest>,
    ) -> Result<Response<pb::ManageOperationResponse>, Status> {
        Ok(Response::new(self.manage_operation_inner(request).await?))
    }

    async fn export_catalog(
        &self,
        request: Request<pb::ExportCatalogRequest>,
    ) -> Result<Response<pb::ExportCatalogResponse>, Status> {
        Ok(Response::new(self.export_catalog_inner(request).await?))
    }

    async fn import_catalog(
        &self,
        request: Request<pb::ImportCatalogRequest>,
    ) -> Result<Response<pb::ImportCatalogResponse>, Status> {
        Ok(Response::new(self.import_catalog_inner(request).await?))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        Ok(Response::new(self.list_audit_events_inner(request).await?))
    }

    async fn manage_introspection_credential(
        &self,
        request: Request<pb::ManageIntrospectionCredentialRequest>,
    ) -> Result<Response<pb::ManageIntrospectionCredentialResponse>, Status> {
        Ok(Response::new(
            self.manage_introspection_credential_inner(request).await?,
        ))
    }

    async fn manage_caller(
        &self,
        request: Request<pb::ManageCallerRequest>,
    ) -> Result<Response<pb::ManageCallerResponse>, Status> {
        Ok(Response::new(self.manage_caller_inner(request).await?))
    }
}
