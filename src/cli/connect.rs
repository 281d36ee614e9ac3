//! The connection to the server's `ScopeAdmin` service, each call carrying the admin key.

use std::{future::Future, time::Duration};

use tonic::{
    Request,
    metadata::{AsciiMetadataValue, MetadataValue},
    transport::{Channel, Endpoint},
};

use super::{
    Connection,
    error::{CliError, chain},
};
use crate::pb::{self, scope_admin_client::ScopeAdminClient};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a catalog listing starts over when the catalog changes between its pages.
const LIST_ATTEMPTS: usize = 3;

/// A connected admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    client: ScopeAdminClient<Channel>,
    channel: Channel,
    bearer: Option<AsciiMetadataValue>,
}

impl Admin {
    /// Connects to `--server`; a key that cannot be a header value is refused before that.
    pub async fn connect(connection: &Connection) -> Result<Self, CliError> {
        let server = connection.server.as_str();
        let bearer = match connection.admin_key.as_ref().map(|k| k.expose()) {
            None | Some("") => None,
            // A header value may carry obs-text bytes, but the server reads ASCII only.
            Some(key) if !key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => {
                return Err(CliError::Usage(
                    "the admin key must be printable ASCII".to_owned(),
                ));
            }
            Some(key) => {
                let mut value = MetadataValue::try_from(format!("Bearer {key}")).map_err(|_| {
                    CliError::Usage("the admin key must be printable ASCII".to_owned())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let mut endpoint = Endpoint::from_shared(server.to_owned())
            .map_err(|e| CliError::Usage(format!("invalid --server {server:?}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        if server.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls_config(connection)?)
                .map_err(|e| CliError::Usage(format!("cannot use TLS for {server}: {e}")))?;
        }
        let channel = endpoint.connect().await.map_err(|e| CliError::Connect {
            server: server.to_owned(),
            detail: chain(&e),
        })?;
        Ok(Self {
            client: ScopeAdminClient::new(channel.clone()),
            channel,
            bearer,
        })
    }

    /// The connection, for the server's other services.
    pub(super) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `message` as a request carrying the admin credential, if one was given.
    pub(super) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        request
    }

    /// One `ManageTenant` call.
    pub async fn tenant(
        &self,
        action: pb::manage_tenant_request::Action,
    ) -> Result<pb::ManageTenantResponse, CliError> {
        let request = self.request(pb::ManageTenantRequest {
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_tenant(request)
            .await?
            .into_inner())
    }

    /// One `ManageScope` call on `tenant`.
    pub async fn scope(
        &self,
        tenant: &str,
        action: pb::manage_scope_request::Action,
    ) -> Result<pb::ManageScopeResponse, CliError> {
        let request = self.request(pb::ManageScopeRequest {
            tenant: tenant.to_owned(),
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_scope(request)
            .await?
            .into_inner())
    }

    /// One `ManageClient` call on `tenant`.
    pub async fn client(
        &self,
        tenant: &str,
        action: pb::manage_client_request::Action,
    ) -> Result<pb::ManageClientResponse, CliError> {
        let request = self.request(pb::ManageClientRequest {
            tenant: tenant.to_owned(),
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_client(request)
            .await?
            .into_inner())
    }

    /// One `ManageIntrospectionCredential` call on `tenant`.
    pub async fn introspection_credential(
        &self,
        tenant: &str,
        action: pb::manage_introspection_credential_request::Action,
    ) -> Result<pb::ManageIntrospectionCredentialResponse, CliError> {
        let request = self.request(pb::ManageIntrospectionCredentialRequest {
            tenant: tenant.to_owned(),
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_introspection_credential(request)
            .await?
            .into_inner())
    }

    /// One `ManageCaller` call.
    pub async fn caller(
        &self,
        action: pb::manage_caller_request::Action,
    ) -> Result<pb::ManageCallerResponse, CliError> {
        let request = self.request(pb::ManageCallerRequest {
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_caller(request)
            .await?
            .into_inner())
    }

    /// One `ManageOperation` call on `tenant`.
    pub async fn operation(
        &self,
        tenant: &str,
        action: pb::manage_operation_request::Action,
    ) -> Result<pb::ManageOperationResponse, CliError> {
        let request = self.request(pb::ManageOperationRequest {
            tenant: tenant.to_owned(),
            action: Some(action),
        });
        Ok(self
            .client
            .clone()
            .manage_operation(request)
            .await?
            .into_inner())
    }

    /// `ExportCatalog` of `tenant`.
    pub async fn export(&self, tenant: &str) -> Result<pb::ExportCatalogResponse, CliError> {
        let request = self.request(pb::ExportCatalogRequest {
            tenant: tenant.to_owned(),
        });
        Ok(self
            .client
            .clone()
            .export_catalog(request)
            .await?
            .into_inner())
    }

    /// `ImportCatalog` into `tenant`.
    pub async fn import(
        &self,
        message: pb::ImportCatalogRequest,
    ) -> Result<pb::ImportCatalogResponse, CliError> {
        let request = self.request(message);
        Ok(self
            .client
            .clone()
            .import_catalog(request)
            .await?
            .into_inner())
    }

    /// One page of `ListAuditEvents`.
    pub async fn audit(
        &self,
        message: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, CliError> {
        let request = self.request(message);
        Ok(self
            .client
            .clone()
            .list_audit_events(request)
            .await?
            .into_inner())
    }
}

/// A page request for `token`, with the server's default size unless `size` is given.
pub fn page(size: Option<u32>, token: &str) -> Option<pb::PageRequest> {
    Some(pb::PageRequest {
        page_size: size.unwrap_or(0),
        page_token: token.to_owned(),
    })
}

/// The token of the next page, refusing a server that hands back the token it was given
/// (following it would never end).
pub fn next_token(current: &str, next: String) -> Result<String, CliError> {
    if !next.is_empty() && next == current {
        return Err(CliError::Unsettled(
            "the server returned the same page token twice; listing stopped".to_owned(),
        ));
    }
    Ok(next)
}

/// One page of a catalog listing: its items, the next page token, the catalog revision.
pub type Page<T> = (Vec<T>, String, i64);

/// Every page of a listing of `tenant`'s catalog, all from one catalog revision: when the
/// catalog changes between two pages the listing starts over, a few times at most.
/// `fetch` gets the page token and returns one page.
pub async fn all_pages<T, F, Fut>(tenant: &str, mut fetch: F) -> Result<(Vec<T>, i64), CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Page<T>, CliError>>,
{
    'attempt: for _ in 0..LIST_ATTEMPTS {
        let mut items = Vec::new();
        let mut token = String::new();
        let mut revision = None;
        loop {
            let (page, next, at) = fetch(token.clone()).await?;
            if *revision.get_or_insert(at) != at {
                continue 'attempt;
            }
            items.extend(page);
            token = next_token(&token, next)?;
            if token.is_empty() {
                return Ok((items, at));
            }
        }
    }
    Err(CliError::Unsettled(format!(
        "the catalog of {tenant} changed during each of {LIST_ATTEMPTS} listings; try again"
    )))
}

/// TLS for an `https://` server: the CA of `--ca-cert` only, and the client certificate of
/// `--client-cert` when the server requires mTLS.
fn tls_config(connection: &Connection) -> Result<tonic::transport::ClientTlsConfig, CliError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
    };
    let ca = connection.ca_cert.as_deref().ok_or_else(|| {
        CliError::Usage(
            "an https:// server needs --ca-cert (the CA its certificate chains to)".to_owned(),
        )
    })?;
    let mut config = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&connection.client_cert, &connection.client_key) {
        config = config.identity(tonic::transport::Identity::from_pem(
            read(cert)?,
            read(key)?,
        ));
    }
    Ok(config)
}
