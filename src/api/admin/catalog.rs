//! Catalog files (export and import) and the audit trail of one tenant.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{auth::Access, convert, status::ApiError},
    pb,
    preset::{self, CatalogFile},
    scope::edit::EditError,
    store::now_ms,
    tenant::{SettingsError, Tenant},
};

impl AdminService {
    pub(super) async fn export_catalog_inner(
        &self,
        request: Request<pb::ExportCatalogRequest>,
    ) -> Result<pb::ExportCatalogResponse, ApiError> {
        let tenant = convert::tenant_id(&request.get_ref().tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        self.authorize(&request, &tenant, Access::Read).await?;
        let committed = self.states.get(&tenant).await?;
        Ok(pb::ExportCatalogResponse {
            content: CatalogFile::export(&committed.tenant, committed.catalog()).to_toml(),
            catalog_revision: committed.tenant.revision,
        })
    }

    pub(super) async fn import_catalog_inner(
        &self,
        request: Request<pb::ImportCatalogRequest>,
    ) -> Result<pb::ImportCatalogResponse, ApiError> {
        let tenant = convert::tenant_id(&request.get_ref().tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        let actor = self.authorize(&request, &tenant, Access::Write).await?;
        let file = CatalogFile::parse(&request.get_ref().content)?;
        let now = now_ms();
        let settings = file.tenant.clone().unwrap_or_default();
        let settings_error =
            |e: SettingsError| EditError::invalid(format!("tenant.{}", e.field), e.message);
        let before = self.states.get(&tenant).await?;
        let retuned = settings
            .apply(before.tenant.clone())
            .map_err(settings_error)?
            != before.tenant;
        let plan = |_: &_, c: &_| preset::import(c, &file, now);
        let update = |t: &Tenant| settings.apply(t.clone()).map_err(settings_error);
        let (revision, planned) = if request.get_ref().dry_run {
            let planned = plan(&before.tenant, before.catalog())?;
            (before.tenant.revision, planned)
        } else {
            let (committed, planned) = if retuned {
                self.states
                    .edit_with_settings(&tenant, &actor, &update, &plan)
                    .await?
            } else {
                self.states.edit(&tenant, &actor, &plan).await?
            };
            (committed.tenant.revision, planned)
        };
        let tenant_change = retuned.then(|| format!("tenant.update {tenant}"));
        Ok(pb::ImportCatalogResponse {
            changes: tenant_change
                .into_iter()
                .chain(
                    planned
                        .audit
                        .iter()
                        .map(|a| format!("{} {}", a.action, a.target)),
                )
                .collect(),
            catalog_revision: revision,
            dry_run: request.get_ref().dry_run,
        })
    }

    pub(super) async fn list_audit_events_inner(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<pb::ListAuditEventsResponse, ApiError> {
        // No tenant: the platform's own records (the caller registry's), for platform admins.
        let tenant = match request.get_ref().tenant.as_str() {
            "" => None,
            raw => Some(convert::tenant_id(raw, "tenant")?),
        };
        match &tenant {
            Some(tenant) => {
                crate::telemetry::record_tenant(tenant);
                self.authorize(&request, tenant, Access::Read).await?;
            }
            None => {
                self.auth
                    .authorize(request.metadata(), None, Access::Read)
                    .await?;
            }
        }
        let page = request.get_ref().page.as_ref();
        let before_id = match page.map(|p| p.page_token.as_str()).unwrap_or_default() {
            "" => 0,
            token => token.parse::<i64>().map_err(|_| {
                ApiError::invalid("page.page_token", "is not a token this server issued")
            })?,
        };
        let size = convert::page_size(page);
        let limit = u32::try_from(size).unwrap_or(500);
        let store = self.states.store();
        let events = match &tenant {
            Some(tenant) => store.audit_events(tenant, before_id, limit).await?,
            None => store.platform_audit_events(before_id, limit).await?,
        };
        let next = if events.len() == size {
            events.last().map(|e| e.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListAuditEventsResponse {
            events: events
                .into_iter()
                .map(|e| pb::AuditEvent {
                    id: e.id,
                    at: Some(convert::timestamp(e.at_ms)),
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    before: e.before,
                    after: e.after,
                    revision: e.revision,
                })
                .collect(),
            next_page_token: next,
        })
    }
}
