//! Introspection credentials: create (the secret is shown once), list (never secrets),
//! delete. Writes go through `TenantStates`.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{client_secret, convert, status::ApiError},
    pb::{
        self, manage_introspection_credential_request::Action,
        manage_introspection_credential_response::Result as CredentialResult,
    },
    store::{IntrospectionCredential, now_ms},
};

/// Longest credential name.
const MAX_NAME_CHARS: usize = 200;

impl AdminService {
    pub(super) async fn manage_introspection_credential_inner(
        &self,
        request: Request<pb::ManageIntrospectionCredentialRequest>,
    ) -> Result<pb::ManageIntrospectionCredentialResponse, ApiError> {
        let message = request.get_ref();
        let (tenant, action, actor) = self
            .begin(&request, &message.tenant, message.action.as_ref(), |a| {
                matches!(a, Action::List(_))
            })
            .await?;
        let result = match action {
            Action::List(list) => {
                let after = convert::page_after(list.page.as_ref())?;
                let size = convert::page_size(list.page.as_ref());
                let limit = u32::try_from(size + 1).unwrap_or(u32::MAX);
                // An unknown tenant is NOT_FOUND, not an empty page.
                self.states.store().tenant(&tenant).await?;
                let mut found = self
                    .states
                    .store()
                    .introspection_credentials(&tenant, &after, limit)
                    .await?;
                let next = if found.len() > size {
                    found.truncate(size);
                    found
                        .last()
                        .map(|c| convert::page_token(&c.client_id))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                CredentialResult::Credentials(pb::IntrospectionCredentialPage {
                    credentials: found.iter().map(shown).collect(),
                    next_page_token: next,
                })
            }
            Action::Create(create) => {
                if create.name.chars().count() > MAX_NAME_CHARS
                    || create.name.chars().any(char::is_control)
                {
                    return Err(ApiError::invalid(
                        "create.name",
                        "must be at most 200 characters without control characters",
                    ));
                }
                let secret = client_secret::new_secret()?;
                let credential = IntrospectionCredential {
                    client_id: client_secret::new_client_id()?,
                    tenant: tenant.clone(),
                    name: create.name,
                    secret_sha256: client_secret::digest(&secret),
                    created_at_ms: now_ms(),
                };
                self.states
                    .create_introspection_credential(&credential, &actor)
                    .await?;
                tracing::info!(%tenant, %actor, client_id = %credential.client_id, "introspection credential created");
                CredentialResult::Created(pb::CreatedIntrospectionCredential {
                    credential: Some(shown(&credential)),
                    client_secret: secret,
                })
            }
            Action::Delete(delete) => {
                if delete.client_id.is_empty() {
                    return Err(ApiError::invalid("delete.client_id", "is required"));
                }
                let deleted = self
                    .states
                    .delete_introspection_credential(&tenant, &delete.client_id, &actor)
                    .await?;
                tracing::info!(%tenant, %actor, client_id = %deleted.client_id, "introspection credential deleted");
                CredentialResult::Deleted(shown(&deleted))
            }
        };
        Ok(pb::ManageIntrospectionCredentialResponse {
            result: Some(result),
        })
    }
}

/// A credential as the admin API shows it: never its secret or digest.
fn shown(credential: &IntrospectionCredential) -> pb::IntrospectionCredential {
    pb::IntrospectionCredential {
        client_id: credential.client_id.clone(),
        name: credential.name.clone(),
        created_at: Some(convert::timestamp(credential.created_at_ms)),
    }
}
