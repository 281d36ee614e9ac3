//! `ManageScope`: one method per action over a tenant's scopes.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{convert, status::ApiError},
    pb::{
        self, manage_scope_request::Action as ScopeAction,
        manage_scope_response::Result as ScopeResult,
    },
    scope::{
        CatalogSnapshot,
        edit::{self, NewScope, ScopeKey, ScopePatch},
    },
    store::{Actor, now_ms},
    tenant::{Tenant, TenantId},
};

/// An action's result and the catalog revision it was read from or written at.
type Answer = Result<(ScopeResult, i64), ApiError>;

impl AdminService {
    /// Authorizes the call (reads need read access, the rest write access) and dispatches the
    /// action to its method.
    pub(super) async fn manage_scope_inner(
        &self,
        request: Request<pb::ManageScopeRequest>,
    ) -> Result<pb::ManageScopeResponse, ApiError> {
        let message = request.get_ref();
        let (tenant, action, actor) = self
            .begin(&request, &message.tenant, message.action.as_ref(), |a| {
                matches!(a, ScopeAction::List(_) | ScopeAction::Get(_))
            })
            .await?;
        let (result, revision) = match action {
            ScopeAction::List(list) => self.list_scopes(&tenant, list).await?,
            ScopeAction::Get(get) => self.get_scope(&tenant, get).await?,
            ScopeAction::Create(create) => self.create_scope(&tenant, &actor, create).await?,
            ScopeAction::Update(update) => self.update_scope(&tenant, &actor, update).await?,
            ScopeAction::Delete(delete) => self.delete_scope(&tenant, &actor, delete).await?,
        };
        Ok(pb::ManageScopeResponse {
            result: Some(result),
            catalog_revision: revision,
        })
    }

    async fn list_scopes(&self, tenant: &TenantId, list: pb::ListScopes) -> Answer {
        let committed = self.states.get(tenant).await?;
        let scopes: Vec<_> = committed
            .catalog()
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
            .map(|s| convert::scope(committed.tenant.id.as_str(), s))
            .collect();
        Ok((
            ScopeResult::Scopes(pb::ScopePage {
                scopes,
                next_page_token: next,
            }),
            committed.tenant.revision,
        ))
    }

    async fn get_scope(&self, tenant: &TenantId, get: pb::GetScope) -> Answer {
        let key = convert::scope_key(get.scope.as_ref(), "get.scope")?;
        let committed = self.states.get(tenant).await?;
        found_scope(&committed.tenant, committed.catalog(), &key)
    }

    async fn create_scope(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        create: pb::CreateScope,
    ) -> Answer {
        let new = NewScope {
            name: convert::scope_name(&create.name, "create.name")?,
            description: create.description,
            is_default: create.is_default,
            implies: convert::scope_names(&create.implies, "create.implies")?,
        };
        let key = ScopeKey::Name(new.name.to_string());
        let now = now_ms();
        let plan = move |_: &_, c: &_| edit::create_scope(c, new.clone(), now);
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        found_scope(&committed.tenant, &committed.catalog, &key)
    }

    async fn update_scope(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        update: pb::UpdateScope,
    ) -> Answer {
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
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        found_scope(&committed.tenant, &committed.catalog, &key)
    }

    /// Deletes the scope, or with `dry_run` only plans the deletion against the current catalog.
    async fn delete_scope(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        delete: pb::DeleteScope,
    ) -> Answer {
        let key = convert::scope_key(delete.scope.as_ref(), "delete.scope")?;
        let etag = Some(delete.etag).filter(|e| !e.is_empty());
        let now = now_ms();
        let plan = move |_: &_, c: &_| edit::delete_scope(c, &key, etag.as_deref(), now);
        let (tenant_name, revision, planned) = if delete.dry_run {
            let committed = self.states.get(tenant).await?;
            let planned = plan(&committed.tenant, committed.catalog())?;
            (
                committed.tenant.id.to_string(),
                committed.tenant.revision,
                planned,
            )
        } else {
            let (committed, planned) = self.states.edit(tenant, actor, &plan).await?;
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
        Ok((ScopeResult::Deleted(deleted), revision))
    }
}

/// The scope `key` names in `catalog`, rendered, with the revision it was read at.
fn found_scope(tenant: &Tenant, catalog: &CatalogSnapshot, key: &ScopeKey) -> Answer {
    let found = edit::find_scope(catalog, key)?;
    Ok((
        ScopeResult::Scope(convert::scope(tenant.id.as_str(), found)),
        tenant.revision,
    ))
}
