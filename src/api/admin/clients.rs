//! `ManageClient`: one method per action over a tenant's OAuth clients.

use tonic::Request;

use super::{AdminService, not_found};
use crate::{
    api::{convert, status::ApiError},
    pb::{
        self, manage_client_request::Action as ClientAction,
        manage_client_response::Result as ClientResult,
    },
    scope::{
        CatalogSnapshot,
        edit::{self, EditError},
    },
    store::Actor,
    tenant::TenantId,
};

/// An action's result and the catalog revision it was read from or written at.
type Answer = Result<(ClientResult, i64), ApiError>;

impl AdminService {
    /// Authorizes the call (reads need read access, the rest write access) and dispatches the
    /// action to its method.
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
            ClientAction::List(list) => self.list_clients(&tenant, list).await?,
            ClientAction::Get(get) => self.get_client(&tenant, get).await?,
            ClientAction::Create(create) => self.create_client(&tenant, &actor, create).await?,
            ClientAction::Update(update) => self.update_client(&tenant, &actor, update).await?,
            ClientAction::Delete(delete) => self.delete_client(&tenant, &actor, delete).await?,
        };
        Ok(pb::ManageClientResponse {
            result: Some(result),
            catalog_revision: revision,
        })
    }

    async fn list_clients(&self, tenant: &TenantId, list: pb::ListClients) -> Answer {
        let committed = self.states.get(tenant).await?;
        let after = convert::page_after(list.page.as_ref())?;
        let size = convert::page_size(list.page.as_ref());
        let (page, next) =
            convert::paginate(&committed.catalog().clients, |c| &c.client_id, &after, size);
        let clients = page.into_iter().map(convert::client).collect();
        Ok((
            ClientResult::Clients(pb::ClientPage {
                clients,
                next_page_token: next,
            }),
            committed.tenant.revision,
        ))
    }

    async fn get_client(&self, tenant: &TenantId, get: pb::GetClient) -> Answer {
        convert::client_id(&get.client_id, "get.client_id")?;
        let committed = self.states.get(tenant).await?;
        found_client(
            committed.catalog(),
            &get.client_id,
            committed.tenant.revision,
        )
    }

    async fn create_client(&self, tenant: &TenantId, actor: &Actor, create: pb::Client) -> Answer {
        let client = convert::client_from(create)?;
        let client_id = client.client_id.clone();
        let plan = move |_: &_, c: &_| edit::put_client(c, client.clone(), true);
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        found_client(&committed.catalog, &client_id, committed.tenant.revision)
    }

    /// Changes only the fields the request sets, on the client as it is inside the transaction.
    async fn update_client(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        update: pb::UpdateClient,
    ) -> Answer {
        convert::client_id(&update.client_id, "update.client_id")?;
        let allowed = update
            .allowed_scopes
            .map(|s| convert::scope_names(&s.names, "update.allowed_scopes.names"))
            .transpose()?;
        let client_id = update.client_id.clone();
        let plan = move |_: &_, c: &CatalogSnapshot| {
            let current = c
                .client(&update.client_id)
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
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        found_client(&committed.catalog, &client_id, committed.tenant.revision)
    }

    /// Answers with the client as it was before the deletion.
    async fn delete_client(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        delete: pb::DeleteClient,
    ) -> Answer {
        convert::client_id(&delete.client_id, "delete.client_id")?;
        let before = self.states.get(tenant).await?;
        let plan = |_: &_, c: &_| edit::delete_client(c, &delete.client_id);
        let (committed, _) = self.states.edit(tenant, actor, &plan).await?;
        let gone = before.catalog().client(&delete.client_id);
        let gone = gone.map(convert::client).unwrap_or_else(|| pb::Client {
            client_id: delete.client_id.clone(),
            ..Default::default()
        });
        Ok((ClientResult::Deleted(gone), committed.tenant.revision))
    }
}

/// The client `client_id` in `catalog`, rendered, with the revision it was read at.
fn found_client(catalog: &CatalogSnapshot, client_id: &str, revision: i64) -> Answer {
    let found = catalog.client(client_id);
    let found = found.ok_or_else(|| not_found("client", client_id))?;
    Ok((ClientResult::Client(convert::client(found)), revision))
}
