//! `scopegate introspection-credentials list|create|delete`: the credentials HTTP-only resource
//! servers use for RFC 7662 introspection on the HTTP door.

use super::{
    Connection,
    connect::{Admin, next_token, page},
    error::CliError,
    output::{Printer, Table, fields},
};
use crate::pb::{
    self, manage_introspection_credential_request::Action,
    manage_introspection_credential_response::Result as CredentialResult,
};

/// The introspection credential subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CredentialsCommand {
    /// List a tenant's introspection credentials sorted by client id (all pages), without
    /// their secrets.
    List {
        /// The tenant.
        tenant: String,
    },
    /// Create a credential; its client id and secret are generated and the secret is printed
    /// this once (only its hash is stored).
    Create {
        /// The tenant whose tokens it may introspect.
        tenant: String,
        /// What it is for (which resource server uses it).
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete a credential: it is refused as soon as this returns.
    Delete {
        /// The tenant.
        tenant: String,
        /// The credential's client id (`ic_…`).
        client_id: String,
    },
}

/// Runs an introspection credential subcommand.
pub async fn run(
    connection: &Connection,
    command: CredentialsCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let admin = Admin::connect(connection).await?;
    let response = match command {
        CredentialsCommand::List { tenant } => list_all(&admin, &tenant).await?,
        CredentialsCommand::Create { tenant, name } => {
            let create = pb::CreateIntrospectionCredential {
                name: name.unwrap_or_default(),
            };
            admin
                .introspection_credential(&tenant, Action::Create(create))
                .await?
        }
        CredentialsCommand::Delete { tenant, client_id } => {
            let delete = pb::DeleteIntrospectionCredential { client_id };
            admin
                .introspection_credential(&tenant, Action::Delete(delete))
                .await?
        }
    };
    print(out, &response)
}

/// Every page of the listing. Credentials are not part of the catalog: there is no revision to
/// hold the pages together, and none is needed for a list an operator reads.
async fn list_all(
    admin: &Admin,
    tenant: &str,
) -> Result<pb::ManageIntrospectionCredentialResponse, CliError> {
    let mut credentials = Vec::new();
    let mut token = String::new();
    loop {
        let list = pb::ListIntrospectionCredentials {
            page: page(None, &token),
        };
        let response = admin
            .introspection_credential(tenant, Action::List(list))
            .await?;
        let Some(CredentialResult::Credentials(p)) = response.result else {
            break;
        };
        credentials.extend(p.credentials);
        token = next_token(&token, p.next_page_token)?;
        if token.is_empty() {
            break;
        }
    }
    Ok(pb::ManageIntrospectionCredentialResponse {
        result: Some(CredentialResult::Credentials(
            pb::IntrospectionCredentialPage {
                credentials,
                next_page_token: String::new(),
            },
        )),
    })
}

fn print(
    out: &mut Printer<'_>,
    response: &pb::ManageIntrospectionCredentialResponse,
) -> Result<(), CliError> {
    if out.is_json() {
        return out.json(response);
    }
    let time = |ts: Option<&prost_types::Timestamp>| ts.map_or("-".to_owned(), ToString::to_string);
    match &response.result {
        Some(CredentialResult::Credentials(page)) => {
            let mut table = Table::new(&["CLIENT ID", "CREATED", "NAME"]);
            for c in &page.credentials {
                table.row(vec![
                    c.client_id.clone(),
                    time(c.created_at.as_ref()),
                    c.name.clone(),
                ]);
            }
            table.print(out)
        }
        Some(CredentialResult::Created(created)) => {
            let c = created.credential.clone().unwrap_or_default();
            fields(
                out,
                &[
                    ("client id", c.client_id),
                    ("client secret", created.client_secret.clone()),
                    ("name", c.name),
                    ("created", time(c.created_at.as_ref())),
                ],
            )?;
            out.line("the secret is not shown again: store it now")
        }
        Some(CredentialResult::Deleted(c)) => {
            out.line(format!("deleted introspection credential {}", c.client_id))
        }
        None => Ok(()),
    }
}
