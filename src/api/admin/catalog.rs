//! Clients, operations, catalog files and the audit trail of one tenant.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{auth::Access, convert, status::ApiError},
    pb::{
        self, manage_client_request::Action as ClientAction,
        manage_client_response::Result as ClientResult,
        manage_operation_request::Action as OpAction,
        manage_operation_response::Result as OpResult,
    },
    preset::{self, CatalogFile},
    scope::edit::{self, EditError},
    store::now_ms,
    tenant::{SettingsError, Tenant},
};

fn not_found(kind: &'static str, name: &str) -> ApiError {
    EditError::NotFound {
        kind,
        name: name.to_owned(),
    }
    .into()
}

impl AdminService {
    pub(super) async fn manage_client_inner(
        &self,
        request: Request<pb::ManageClientRequest>,
    ) -> Result<pb::ManageClientResponse, ApiError> {
        let message = request.get_ref();
        let (tenant, action, actor) = self
            .begin(&request, &message.tenant, message.action.as_ref(), |a| {
                matches!(a, ClientAction::List(_) | ClientAction::Get(_))
            })
            .await?;
        let (result, revision) = match action {
            ClientAction::List(list) => {
                let committed = self.catalogs.get(&tenant).await?;
                let after = convert::page_after(list.page.as_ref())?;
                let size = convert::page_size(list.page.as_ref());
                let (page, next) =
                    convert::paginate(&committed.catalog.clients, |c| &c.client_id, &after, size);
                let clients = page.into_iter().map(convert::client).collect();
                (
                    ClientResult::Clients(pb::ClientPage {
                        clients,
                        next_page_token: next,
                    }),
                    committed.tenant.revision,
                )
            }
            ClientAction::Get(get) => {
                convert::client_id(&get.client_id, "get.client_id")?;
                let committed = self.catalogs.get(&tenant).await?;
                let found = committed.catalog.client(&get.client_id);
                let found = found.ok_or_else(|| not_found("client", &get.client_id))?;
                (
                    ClientResult::Client(convert::client(found)),
                    committed.tenant.revision,
                )
            }
            ClientAction::Create(create) => {
                let client = convert::client_from(create)?;
                let client_id = client.client_id.clone();
                let plan = move |_: &_, c: &_| edit::put_client(c, client.clone(), true);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let found = committed.catalog.client(&client_id);
                let found = found.ok_or_else(|| not_found("client", &client_id))?;
                (
                    ClientResult::Client(convert::client(found)),
                    committed.tenant.revision,
                )
            }
            ClientAction::Update(update) => {
                convert::client_id(&update.client_id, "update.client_id")?;
                let allowed = update
                    .allowed_scopes
                    .map(|s| convert::scope_names(&s.names, "update.allowed_scopes.names"))
                    .transpose()?;
                let client_id = update.client_id.clone();
                let plan = move |_: &_, c: &crate::scope::CatalogSnapshot| {
                    let current =
                        c.client(&update.client_id)
                            .ok_or_else(|| EditError::NotFound {
                                kind: "client",
                                name: update.client_id.clone(),
                            })?;
                    let mut next = current.clone();
                    if let Some(name) = &update.name {
                        next.name.clone_from(name);
                    }
                    if let Some(first_party) = update.first_party {
                        next.first_party = first_party;
                    }
                    if let Some(allowed) = &allowed {
                        next.allowed_scopes.clone_from(allowed);
                    }
                    edit::put_client(c, next, false)
                };
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let found = committed.catalog.client(&client_id);
                let found = found.ok_or_else(|| not_found("client", &client_id))?;
                (
                    ClientResult::Client(convert::client(found)),
                    committed.tenant.revision,
                )
            }
            ClientAction::Delete(delete) => {
                convert::client_id(&delete.client_id, "delete.client_id")?;
                let before = self.catalogs.get(&tenant).await?;
                let plan = |_: &_, c: &_| edit::delete_client(c, &delete.client_id);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let gone = before.catalog.client(&delete.client_id);
                let gone = gone.map(convert::client).unwrap_or_else(|| pb::Client {
                    client_id: delete.client_id.clone(),
                    ..Default::default()
                });
                (ClientResult::Deleted(gone), committed.tenant.revision)
            }
        };
        Ok(pb::ManageClientResponse {
            result: Some(result),
            catalog_revision: revision,
        })
    }

    pub(super) async fn manage_operation_inner(
        &self,
        request: Request<pb::ManageOperationRequest>,
    ) -> Result<pb::ManageOperationResponse, ApiError> {
        let message = request.get_ref();
        let (tenant, action, actor) = self
            .begin(&request, &message.tenant, message.action.as_ref(), |a| {
                matches!(a, OpAction::List(_) | OpAction::Get(_))
            })
            .await?;
        let (result, revision) = match action {
            OpAction::List(list) => {
                let committed = self.catalogs.get(&tenant).await?;
                let after = convert::page_after(list.page.as_ref())?;
                let size = convert::page_size(list.page.as_ref());
                let (page, next) =
                    convert::paginate(&committed.catalog.operations, |o| &o.name, &after, size);
                let operations = page.into_iter().map(convert::operation).collect();
                (
                    OpResult::Operations(pb::OperationPage {
                        operations,
                        next_page_token: next,
                    }),
                    committed.tenant.revision,
                )
            }
            OpAction::Get(get) => {
                convert::operation_name(&get.name, "get.name")?;
                let committed = self.catalogs.get(&tenant).await?;
                let found = committed.catalog.operation(&get.name);
                let found = found.ok_or_else(|| not_found("operation", &get.name))?;
                (
                    OpResult::Operation(convert::operation(found)),
                    committed.tenant.revision,
                )
            }
            OpAction::Create(op) | OpAction::Update(op) => {
                let create = matches!(request.get_ref().action, Some(OpAction::Create(_)));
                let op = convert::operation_from(op)?;
                let name = op.name.clone();
                let plan = move |_: &_, c: &_| edit::put_operation(c, op.clone(), create);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let found = committed.catalog.operation(&name);
                let found = found.ok_or_else(|| not_found("operation", &name))?;
                (
                    OpResult::Operation(convert::operation(found)),
                    committed.tenant.revision,
                )
            }
            OpAction::Delete(delete) => {
                convert::operation_name(&delete.name, "delete.name")?;
                let before = self.catalogs.get(&tenant).await?;
                let plan = |_: &_, c: &_| edit::delete_operation(c, &delete.name);
                let (committed, _) = self.catalogs.edit(&tenant, &actor, &plan).await?;
                let gone = before.catalog.operation(&delete.name);
                let gone = gone
                    .map(convert::operation)
                    .unwrap_or_else(|| pb::Operation {
                        name: delete.name.clone(),
                        ..Default::default()
                    });
                (OpResult::Deleted(gone), committed.tenant.revision)
            }
        };
        Ok(pb::ManageOperationResponse {
            result: Some(result),
            catalog_revision: revision,
        })
    }

    pub(super) async fn export_catalog_inner(
        &self,
        request: Request<pb::ExportCatalogRequest>,
    ) -> Result<pb::ExportCatalogResponse, ApiError> {
        let tenant = convert::tenant_id(&request.get_ref().tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        self.authorize(&request, &tenant, Access::Read).await?;
        let committed = self.catalogs.get(&tenant).await?;
        Ok(pb::ExportCatalogResponse {
            content: CatalogFile::export(&committed.tenant, &committed.catalog).to_toml(),
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
        let before = self.catalogs.get(&tenant).await?;
        let retuned = settings
            .apply(before.tenant.clone())
            .map_err(settings_error)?
            != before.tenant;
        let plan = |_: &_, c: &_| preset::import(c, &file, now);
        let update = |t: &Tenant| settings.apply(t.clone()).map_err(settings_error);
        let (revision, planned) = if request.get_ref().dry_run {
            let planned = plan(&before.tenant, &before.catalog)?;
            (before.tenant.revision, planned)
        } else {
            let (committed, planned) = if retuned {
                self.catalogs
                    .edit_with_settings(&tenant, &actor, &update, &plan)
                    .await?
            } else {
                self.catalogs.edit(&tenant, &actor, &plan).await?
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
        let tenant = convert::tenant_id(&request.get_ref().tenant, "tenant")?;
        crate::telemetry::record_tenant(&tenant);
        self.authorize(&request, &tenant, Access::Read).await?;
        let page = request.get_ref().page.as_ref();
        let before_id = match page.map(|p| p.page_token.as_str()).unwrap_or_default() {
            "" => 0,
            token => token.parse::<i64>().map_err(|_| {
                ApiError::invalid("page.page_token", "is not a token this server issued")
            })?,
        };
        let size = convert::page_size(page);
        let limit = u32::try_from(size).unwrap_or(500);
        let events = self
            .catalogs
            .store()
            .audit_events(&tenant, before_id, limit)
            .await?;
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
