//! `scopegate.v1.ScopeAdmin`: thin handlers that authorize, convert, and hand the rules to
//! `scope::edit` inside a store transaction.

mod catalog;
mod credentials;
mod tenants;

use tonic::{Request, Response, Status};

use super::{
    auth::{Access, AdminAuth},
    convert,
    status::ApiError,
};
use crate::{
    catalogs::Catalogs,
    introspect::Introspector,
    pb::{
        self, manage_scope_request::Action as ScopeAction,
        manage_scope_response::Result as ScopeResult,
    },
    scope::edit::{self, NewScope, ScopePatch},
    store::{Actor, now_ms},
    tenant::TenantId,
};

/// The admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    catalogs: Catalogs,
    auth: AdminAuth,
}

impl AdminService {
    /// Serves admin calls over the introspector's catalogs (through which every write goes),
    /// gated by `auth`.
    pub fn new(introspector: &Introspector, auth: AdminAuth) -> Self {
        Self {
            catalogs: introspector.catalogs().clone(),
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

    async fn manage_scope_inner(
        &self,
        request: Request<pb::ManageScopeRequest>,
    ) -> Result<pb::ManageScopeResponse, ApiError> {
        let message = request.get_ref();
        let (tenant, action, actor) = self
            .begin(&request, &message.tenant, message.action.as_ref(), |a| {
                matches!(a, ScopeAction::List(_) | ScopeAction::Get(_))
            })
            .await?;
        let scope = |t: &crate::tenant::Tenant, s| convert::scope(t.id.as_str(), s);
        let (result, revision) = match action {
            ScopeAction::List(list) => {
                let committed = self.catalogs.get(&tenant).await?;
                let scopes: Vec<_> = committed
                    .catalog
                    .scopes
                    .iter()
                    .filter(|s| !(list.discoverable_only && s.is_reserved))
                    .collect();
                let after = convert::page_after(list.page.as_ref())?;
                let (page, next) = convert::paginate(
                    &scopes,
                    |s| s.name.as_str(),
                    &after,
                    convert::page_size(list.page.as_ref()),
                );
                let scopes = page
                    .into_iter()
                    .map(|s| scope(&committed.tenant, s))
                    .collect();
                (
                    ScopeResult::Scopes(pb::ScopePage {
                        scopes,
                        next_page_token: next,
                    }),
                    committed.tenant.revision,
                )
            }
            ScopeAction::Get(get) => {
                let key = convert::scope_key(get.scope.as_ref(), "get.scope")?;
                let committed = self.catalogs.get(&tenant).await?;
                let found = edit::find_scope(&committed.catalog, &key)?;
                (
                    ScopeResult::Scope(scope(&committed.tenant, found)),
                    committed.tenant.revision,
                )
            }
            ScopeAction::Create(create) => {
                let new = NewScope {
                    name: convert::scope_name(&create.name, "create.name")?,
                    description: create.description,
                    is_default: create.is_default,
                    implies: convert::scope_names(&create.implies, "create.implies")?,
                };
                let name = new.name.clone();
                let now = now_ms();
                let plan = move |_: &_, c: &_| edit::create_scope(c, new.clone(), now);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let found =
                    edit::find_scope(&committed.catalog, &edit::ScopeKey::Name(name.to_string()))?;
                (
                    ScopeResult::Scope(scope(&committed.tenant, found)),
                    committed.tenant.revision,
                )
            }
            ScopeAction::Update(update) => {
                let key = convert::scope_key(update.scope.as_ref(), "update.scope")?;
                let patch = ScopePatch {
                    description: update.description,
                    is_default: update.is_default,
                    implies: update
                        .implies
                        .map(|i| convert::scope_names(&i.names, "update.implies.names"))
                        .transpose()?,
                    etag: Some(update.etag).filter(|e| !e.is_empty()),
                };
                let now = now_ms();
                let plan_key = key.clone();
                let plan = move |_: &_, c: &_| edit::update_scope(c, &plan_key, patch.clone(), now);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let found = edit::find_scope(&committed.catalog, &key)?;
                (
                    ScopeResult::Scope(scope(&committed.tenant, found)),
                    committed.tenant.revision,
                )
            }
            ScopeAction::Delete(delete) => {
                let key = convert::scope_key(delete.scope.as_ref(), "delete.scope")?;
                let etag = Some(delete.etag).filter(|e| !e.is_empty());
                let now = now_ms();
                let plan = move |_: &_, c: &_| edit::delete_scope(c, &key, etag.as_deref(), now);
                let (tenant_name, revision, planned) = if delete.dry_run {
                    let committed = self.catalogs.get(&tenant).await?;
                    let planned = plan(&committed.tenant, &committed.catalog)?;
                    (
                        committed.tenant.id.to_string(),
                        committed.tenant.revision,
                        planned,
                    )
                } else {
                    let (committed, planned) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                    (
                        committed.tenant.id.to_string(),
                        committed.tenant.revision,
                        planned,
                    )
                };
                let deletion = planned.deletion.unwrap_or_default();
                let deleted = pb::ScopeDeletion {
                    scope: deletion
                        .scope
                        .as_ref()
                        .map(|s| convert::scope(&tenant_name, s)),
                    dry_run: delete.dry_run,
                    clients: deletion.clients,
                    operations: deletion.operations,
                    implied_by: deletion.implied_by,
                };
                (ScopeResult::Deleted(deleted), revision)
            }
        };
        Ok(pb::ManageScopeResponse {
            result: Some(result),
            catalog_revision: revision,
        })
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
}
