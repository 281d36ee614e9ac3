//! `scopegate clients list|get|create|update|delete`.

use super::{
    Connection,
    connect::{Admin, all_pages, page},
    error::CliError,
    output::{Printer, Table, fields, list, yes_no},
};
use crate::pb::{
    self, manage_client_request::Action, manage_client_response::Result as ClientResult,
};

/// The client subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientsCommand {
    /// List a tenant's OAuth clients sorted by client id (all pages).
    List {
        /// The tenant.
        tenant: String,
    },
    /// Show one client.
    Get {
        /// The tenant.
        tenant: String,
        /// The OAuth `client_id`.
        client_id: String,
    },
    /// Register a client.
    Create {
        /// The tenant.
        tenant: String,
        /// The OAuth `client_id`: 1-200 printable ASCII characters.
        client_id: String,
        /// Human-readable name.
        #[arg(long)]
        name: Option<String>,
        /// First-party clients may receive reserved (admin) scopes.
        #[arg(long)]
        first_party: bool,
        /// A scope it may be granted; repeat for several.
        #[arg(long = "allowed-scope", alias = "allow", value_name = "SCOPE")]
        allowed_scopes: Vec<String>,
    },
    /// Change a client; what is not given stays as it is.
    Update {
        /// The tenant.
        tenant: String,
        /// The OAuth `client_id`.
        client_id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New first-party flag.
        #[arg(long, value_name = "BOOL")]
        first_party: Option<bool>,
        /// A scope it may be granted; repeat for several. Replaces the allowed set.
        #[arg(long = "allowed-scope", alias = "allow", value_name = "SCOPE")]
        allowed_scopes: Vec<String>,
        /// Allow it no scope at all.
        #[arg(long, conflicts_with = "allowed_scopes")]
        clear_allowed_scopes: bool,
    },
    /// Delete a client.
    Delete {
        /// The tenant.
        tenant: String,
        /// The OAuth `client_id`.
        client_id: String,
    },
}

/// Runs a client subcommand.
pub async fn run(
    connection: &Connection,
    command: ClientsCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let (tenant, action) = match command {
        ClientsCommand::List { tenant } => {
            let admin = Admin::connect(connection).await?;
            let response = list_all(&admin, &tenant).await?;
            return print(out, &response);
        }
        ClientsCommand::Get { tenant, client_id } => {
            (tenant, Action::Get(pb::GetClient { client_id }))
        }
        ClientsCommand::Create {
            tenant,
            client_id,
            name,
            first_party,
            allowed_scopes,
        } => (
            tenant,
            Action::Create(pb::Client {
                client_id,
                name: name.unwrap_or_default(),
                first_party,
                allowed_scopes,
            }),
        ),
        ClientsCommand::Update {
            tenant,
            client_id,
            name,
            first_party,
            allowed_scopes,
            clear_allowed_scopes,
        } => {
            let allowed_scopes =
                (clear_allowed_scopes || !allowed_scopes.is_empty()).then_some(pb::ScopeNames {
                    names: allowed_scopes,
                });
            if name.is_none() && first_party.is_none() && allowed_scopes.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give --name, --first-party, --allowed-scope or \
                     --clear-allowed-scopes"
                        .to_owned(),
                ));
            }
            let update = pb::UpdateClient {
                client_id,
                name,
                first_party,
                allowed_scopes,
            };
            (tenant, Action::Update(update))
        }
        ClientsCommand::Delete { tenant, client_id } => {
            (tenant, Action::Delete(pb::DeleteClient { client_id }))
        }
    };
    let admin = Admin::connect(connection).await?;
    let response = admin.client(&tenant, action).await?;
    print(out, &response)
}

async fn list_all(admin: &Admin, tenant: &str) -> Result<pb::ManageClientResponse, CliError> {
    let (clients, revision) = all_pages(tenant, |token| async move {
        let list = pb::ListClients {
            page: page(None, &token),
        };
        let response = admin.client(tenant, Action::List(list)).await?;
        Ok(match response.result {
            Some(ClientResult::Clients(p)) => {
                (p.clients, p.next_page_token, response.catalog_revision)
            }
            _ => (Vec::new(), String::new(), response.catalog_revision),
        })
    })
    .await?;
    Ok(pb::ManageClientResponse {
        result: Some(ClientResult::Clients(pb::ClientPage {
            clients,
            next_page_token: String::new(),
        })),
        catalog_revision: revision,
    })
}

fn print(out: &mut Printer<'_>, response: &pb::ManageClientResponse) -> Result<(), CliError> {
    if out.is_json() {
        return out.json(response);
    }
    match &response.result {
        Some(ClientResult::Clients(page)) => {
            let mut table = Table::new(&["CLIENT ID", "FIRST PARTY", "NAME", "ALLOWED SCOPES"]);
            for c in &page.clients {
                table.row(vec![
                    c.client_id.clone(),
                    yes_no(c.first_party),
                    c.name.clone(),
                    list(&c.allowed_scopes),
                ]);
            }
            table.print(out)
        }
        Some(ClientResult::Client(c)) => fields(
            out,
            &[
                ("client id", c.client_id.clone()),
                ("name", c.name.clone()),
                ("first party", yes_no(c.first_party)),
                ("allowed scopes", list(&c.allowed_scopes)),
                ("catalog revision", response.catalog_revision.to_string()),
            ],
        ),
        Some(ClientResult::Deleted(c)) => out.line(format!(
            "deleted client {} (catalog revision {})",
            c.client_id, response.catalog_revision
        )),
        None => Ok(()),
    }
}
