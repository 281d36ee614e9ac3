//! `scopegate catalog export|import` and `scopegate audit`.

use std::{io::Read, path::PathBuf};

use super::{
    Connection,
    connect::{Admin, next_token, page},
    error::CliError,
    output::{Printer, Table},
};
use crate::pb;

/// Audit events per call at most, as the server caps them.
const MAX_PAGE: u32 = 500;

/// The catalog file subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Print a tenant's catalog (scopes, clients, operations) as a catalog file (TOML).
    Export {
        /// The tenant.
        tenant: String,
    },
    /// Make a tenant's catalog equal to a catalog file, in one transaction; prints one line
    /// per change. System scopes are left as they are. Importing the same file again
    /// changes nothing.
    Import {
        /// The tenant.
        tenant: String,
        /// The catalog file (TOML); `-` reads standard input.
        file: PathBuf,
        /// Print the changes without applying them.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The arguments of `scopegate audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The tenant.
    tenant: String,
    /// Show at most this many events, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: u32,
}

/// Runs a catalog file subcommand.
pub async fn run(
    connection: &Connection,
    command: CatalogCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    match command {
        CatalogCommand::Export { tenant } => {
            let response = Admin::connect(connection).await?.export(&tenant).await?;
            if out.is_json() {
                return out.json(&response);
            }
            out.text(&response.content)
        }
        CatalogCommand::Import {
            tenant,
            file,
            dry_run,
        } => {
            let content = read(&file)?;
            let request = pb::ImportCatalogRequest {
                tenant,
                content,
                dry_run,
            };
            let response = Admin::connect(connection).await?.import(request).await?;
            if out.is_json() {
                return out.json(&response);
            }
            for change in &response.changes {
                out.line(change)?;
            }
            let count = response.changes.len();
            let revision = response.catalog_revision;
            out.line(match (response.dry_run, count) {
                (_, 0) => {
                    format!("no changes: the catalog already equals the file (revision {revision})")
                }
                (true, _) => format!("dry run: {count} change(s) would be made; nothing changed"),
                (false, _) => format!("{count} change(s) applied (catalog revision {revision})"),
            })
        }
    }
}

fn read(file: &PathBuf) -> Result<String, CliError> {
    let mut content = String::new();
    let result = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut content).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|c| content = c)
    };
    result.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    Ok(content)
}

/// Runs `scopegate audit`: the newest `--limit` events, fetching only as many as shown.
pub async fn audit(
    connection: &Connection,
    args: AuditArgs,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let admin = Admin::connect(connection).await?;
    let mut events = Vec::new();
    let mut token = String::new();
    while let Some(remaining) = args
        .limit
        .checked_sub(u32::try_from(events.len()).unwrap_or(u32::MAX))
        .filter(|&n| n > 0)
    {
        let request = pb::ListAuditEventsRequest {
            tenant: args.tenant.clone(),
            page: page(Some(remaining.min(MAX_PAGE)), &token),
        };
        let response = admin.audit(request).await?;
        events.extend(response.events);
        token = next_token(&token, response.next_page_token)?;
        if token.is_empty() {
            break;
        }
    }
    let response = pb::ListAuditEventsResponse {
        events,
        next_page_token: token,
    };
    if out.is_json() {
        return out.json(&response);
    }
    let mut table = Table::new(&["ID", "AT", "REVISION", "ACTOR", "ACTION", "TARGET"]);
    for e in &response.events {
        table.row(vec![
            e.id.to_string(),
            e.at.as_ref().map_or("-".to_owned(), ToString::to_string),
            e.revision.to_string(),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
        ]);
    }
    table.print(out)
}
