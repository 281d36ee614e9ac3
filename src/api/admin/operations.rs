//! `ManageOperation`: one method per action over a tenant's operations.

use tonic::Request;

use super::{AdminService, not_found};
use crate::{
    api::{convert, status::ApiError},
    pb::{
        self, manage_operation_request::Action as OpAction,
        manage_operation_response::Result as OpResult,
    },
    scope::{CatalogSnapshot, edit},
    store::Actor,
    tenant::TenantId,
};

/// An action's result and the catalog revision it was read from or written at.
type Answer = Result<(OpResult, i64), ApiError>;

impl AdminService {
    /// Authorizes the call (reads need read access, the rest write access) and dispatches the
    /// action to its method.
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
            OpAction::List(list) => self.list_operations(&tenant, list).await?,
            OpAction::Get(get) => self.get_operation(&tenant, get).await?,
            OpAction::Create(op) => self.put_operation(&tenant, &actor, op, true).await?,
            OpAction::Update(op) => self.put_operation(&tenant, &actor, op, false).await?,
            OpAction::Delete(delete) => self.delete_operation(&tenant, &actor, delete).await?,
        };
        Ok(pb::ManageOperationResponse {
            result: Some(result),
            catalog_revision: revision,
        })
    }

    async fn list_operations(&self, tenant: &TenantId, list: pb::ListOperations) -> Answer {
        let committed = self.states.get(tenant).await?;
        let after = convert::page_after(list.page.as_ref())?;
        let size = convert::page_size(list.page.as_ref());
        let (page, next) =
            convert::paginate(&committed.catalog().operations, |o| &o.name, &after, size);
        let operations = page.into_iter().map(convert::operation).collect();
        Ok((
            OpResult::Operations(pb::OperationPage {
                operations,
                next_page_token: next,
            }),
            committed.tenant.revision,
        ))
    }

    async fn get_operation(&self, tenant: &TenantId, get: pb::GetOperation) -> Answer {
        convert::operation_name(&get.name, "get.name")?;
        let committed = self.states.get(tenant).await?;
        found_operation(committed.catalog(), &get.name, committed.tenant.revision)
    }

    /// Creates the operation (`create`) or replaces an existing one: the two actions differ
    /// only in which of those `edit::put_operation` accepts.
    async fn put_operation(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        op: pb::Operation,
        create: bool,
    ) -> Answer {
        let op = convert::operation_from(op)?;
        let name = op.name.clone();
        let plan = move |_: &_, c: &_| edit::put_operation(c, op.clone(), create);
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        found_operation(&committed.catalog, &name, committed.tenant.revision)
    }

    /// Answers with the operation as it was before the deletion.
    async fn delete_operation(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        delete: pb::DeleteOperation,
    ) -> Answer {
        convert::operation_name(&delete.name, "delete.name")?;
        let before = self.states.get(tenant).await?;
        let plan = |_: &_, c: &_| edit::delete_operation(c, &delete.name);
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        let gone = before.catalog().operation(&delete.name);
        let gone = gone
            .map(convert::operation)
            .unwrap_or_else(|| pb::Operation {
                name: delete.name.clone(),
                ..Default::default()
            });
        Ok((OpResult::Deleted(gone), committed.tenant.revision))
    }
}

/// The operation `name` in `catalog`, rendered, with the revision it was read at.
fn found_operation(catalog: &CatalogSnapshot, name: &str, revision: i64) -> Answer {
    let found = catalog.operation(name);
    let found = found.ok_or_else(|| not_found("operation", name))?;
    Ok((OpResult::Operation(convert::operation(found)), revision))
}
