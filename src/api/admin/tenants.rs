//! `ManageTenant`: list, get, create from a preset, update settings, delete; one method each.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{auth::Access, convert, status::ApiError},
    pb::{self, manage_tenant_request::Action, manage_tenant_response::Result as TenantResult},
    preset::{self, CatalogFile},
    store::now_ms,
};

impl AdminService {
    /// Dispatches the action to its method, which authorizes it: listing and creating need
    /// access beyond one tenant, the rest access to the tenant they name.
    pub(super) async fn manage_tenant_inner(
        &self,
        request: Request<pb::ManageTenantRequest>,
    ) -> Result<pb::ManageTenantResponse, ApiError> {
        let action = request
            .get_ref()
            .action
            .clone()
            .ok_or_else(|| ApiError::invalid("action", "is required"))?;
        let result = match action {
            Action::List(list) => self.list_tenants(&request, list).await?,
            Action::Get(get) => self.get_tenant(&request, get).await?,
            Action::Create(create) => self.create_tenant(&request, create).await?,
            Action::Update(update) => self.update_tenant(&request, update).await?,
            Action::Delete(delete) => self.delete_tenant(&request, delete).await?,
        };
        Ok(pb::ManageTenantResponse {
            result: Some(result),
        })
    }

    async fn list_tenants<T>(
        &self,
        request: &Request<T>,
        list: pb::ListTenants,
    ) -> Result<TenantResult, ApiError> {
        self.auth
            .authorize(request.metadata(), None, Access::Read)
            .await?;
        let after = convert::page_after(list.page.as_ref())?;
        let size = convert::page_size(list.page.as_ref());
        let limit = u32::try_from(size + 1).unwrap_or(u32::MAX);
        // Reads go to the store directly; every write goes through `self.states`.
        let mut tenants = self.states.store().list_tenants(&after, limit).await?;
        let next = if tenants.len() > size {
            tenants.truncate(size);
            tenants
                .last()
                .map(|t| convert::page_token(t.id.as_str()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(TenantResult::Tenants(pb::TenantPage {
            tenants: tenants.iter().map(convert::tenant).collect(),
            next_page_token: next,
        }))
    }

    async fn get_tenant<T>(
        &self,
        request: &Request<T>,
        get: pb::GetTenant,
    ) -> Result<TenantResult, ApiError> {
        let id = convert::tenant_id(&get.id, "get.id")?;
        crate::telemetry::record_tenant(&id);
        self.authorize(request, &id, Access::Read).await?;
        let tenant = self.states.store().tenant(&id).await?;
        Ok(TenantResult::Tenant(convert::tenant(&tenant)))
    }

    /// Creates the tenant with the preset's catalog, the preset's tenant defaults and then the
    /// request's settings applied in that order.
    async fn create_tenant<T>(
        &self,
        request: &Request<T>,
        create: pb::CreateTenant,
    ) -> Result<TenantResult, ApiError> {
        let id = convert::tenant_id(&create.id, "create.id")?;
        crate::telemetry::record_tenant(&id);
        let actor = self
            .auth
            .authorize(request.metadata(), None, Access::Write)
            .await?;
        crate::tenant::check_display_name(&create.display_name)
            .map_err(|m| ApiError::invalid("create.display_name", m))?;
        let preset_name = if create.preset.is_empty() {
            preset::DEFAULT_PRESET
        } else {
            &create.preset
        };
        let file = CatalogFile::preset(preset_name)
            .map_err(|e| ApiError::invalid("create.preset", e.to_string()))?;
        let style = file.admin_style()?;
        let now = now_ms();
        let display_name = if create.display_name.is_empty() {
            create.id.clone()
        } else {
            create.display_name
        };
        let mut base = crate::tenant::new_tenant(id, display_name, preset_name, style, now);
        if let Some(defaults) = &file.tenant {
            base = defaults
                .apply(base)
                .map_err(|e| ApiError::invalid(format!("preset.tenant.{}", e.field), e.message))?;
        }
        let tenant = match &create.settings {
            Some(settings) => convert::apply_settings(base, settings)?,
            None => base,
        };
        let seed = preset::seed(&file, style, now)?;
        let committed = self.states.create_tenant(&tenant, &seed, &actor).await?;
        tracing::info!(tenant = %committed.tenant.id, %actor, preset = preset_name, "tenant created");
        Ok(TenantResult::Tenant(convert::tenant(&committed.tenant)))
    }

    /// Applies the settings the request sets, and the display name, to the tenant as it is
    /// inside the transaction.
    async fn update_tenant<T>(
        &self,
        request: &Request<T>,
        update: pb::UpdateTenant,
    ) -> Result<TenantResult, ApiError> {
        let id = convert::tenant_id(&update.id, "update.id")?;
        crate::telemetry::record_tenant(&id);
        let actor = self.authorize(request, &id, Access::Write).await?;
        let settings = update.settings.unwrap_or_default();
        let display_name = update.display_name;
        if let Some(name) = &display_name {
            crate::tenant::check_display_name(name)
                .map_err(|m| ApiError::invalid("update.display_name", m))?;
        }
        let patch = convert::settings(&settings);
        // Validate before taking the lock, so bad input never reaches the store. The stored
        // upstream secret is only known under the lock: stand in a set one here.
        let mut base =
            crate::tenant::new_tenant(id.clone(), String::new(), "", Default::default(), 0);
        base.upstream = settings.upstream_introspection.as_ref().map(|_| {
            crate::tenant::UpstreamIntrospection {
                endpoint: String::new(),
                client_id: String::new(),
                client_secret: crate::tenant::ClientSecret::new("stored".to_owned()),
                timeout_ms: 0,
                tokens: crate::tenant::UpstreamTokens::default(),
                cache_ttl_seconds: 0,
            }
        });
        convert::apply_settings(base, &settings)?;
        let apply = move |current: &crate::tenant::Tenant| {
            let mut next = patch.apply(current.clone()).map_err(|e| {
                crate::scope::edit::EditError::invalid(format!("settings.{}", e.field), e.message)
            })?;
            if let Some(name) = &display_name {
                next.display_name.clone_from(name);
            }
            Ok(next)
        };
        let tenant = self.states.update_tenant(&id, &actor, &apply).await?;
        tracing::info!(tenant = %id, %actor, revision = tenant.revision, "tenant settings changed");
        Ok(TenantResult::Tenant(convert::tenant(&tenant)))
    }

    async fn delete_tenant<T>(
        &self,
        request: &Request<T>,
        delete: pb::DeleteTenant,
    ) -> Result<TenantResult, ApiError> {
        let id = convert::tenant_id(&delete.id, "delete.id")?;
        crate::telemetry::record_tenant(&id);
        let actor = self.authorize(request, &id, Access::Write).await?;
        let tenant = self.states.delete_tenant(&id, &actor).await?;
        tracing::info!(tenant = %id, %actor, "tenant deleted");
        Ok(TenantResult::Deleted(convert::tenant(&tenant)))
    }
}
