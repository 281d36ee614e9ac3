//! `scopegate scopes list|get|create|update|delete`.

use super::{
    Connection,
    connect::{Admin, all_pages, page},
    error::CliError,
    output::{Printer, Table, fields, list, yes_no},
};
use crate::pb::{
    self, manage_scope_request::Action, manage_scope_response::Result as ScopeResult,
    scope_ref::Ref,
};

/// The scope subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ScopesCommand {
    /// List a tenant's scopes sorted by name (all pages, from one catalog revision).
    List {
        /// The tenant.
        tenant: String,
        /// Hide reserved (admin) scopes, as discovery and client registration do.
        #[arg(long)]
        discoverable_only: bool,
        /// Scopes per call [default: the server's, 50].
        #[arg(long, value_name = "N")]
        page_size: Option<u32>,
    },
    /// Show one scope, with its etag.
    Get {
        /// The tenant.
        tenant: String,
        /// The scope name.
        name: String,
    },
    /// Create a custom scope.
    Create {
        /// The tenant.
        tenant: String,
        /// The scope name (RFC 6749 scope-token), unique in the tenant.
        name: String,
        /// User-facing text for consent screens.
        #[arg(long)]
        description: String,
        /// Grant it when an authorization request asks for no scope.
        #[arg(long = "default")]
        is_default: bool,
        /// A scope this one includes; repeat for several.
        #[arg(long, value_name = "SCOPE")]
        implies: Vec<String>,
    },
    /// Change a custom scope; what is not given stays as it is.
    Update {
        /// The tenant.
        tenant: String,
        /// The scope name.
        name: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New default flag.
        #[arg(long = "default", value_name = "BOOL")]
        is_default: Option<bool>,
        /// A scope this one includes; repeat for several. Replaces the list.
        #[arg(long, value_name = "SCOPE")]
        implies: Vec<String>,
        /// Make it imply nothing.
        #[arg(long, conflicts_with = "implies")]
        clear_implies: bool,
        /// Apply only if the scope's etag is still this one (ABORTED otherwise).
        #[arg(long)]
        etag: Option<String>,
    },
    /// Delete a custom scope, removing it from clients, operations and implications.
    Delete {
        /// The tenant.
        tenant: String,
        /// The scope name.
        name: String,
        /// Show what would be touched; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply only if the scope's etag is still this one (ABORTED otherwise).
        #[arg(long)]
        etag: Option<String>,
    },
}

fn by_name(name: String) -> Option<pb::ScopeRef> {
    Some(pb::ScopeRef {
        r#ref: Some(Ref::Name(name)),
    })
}

/// Runs a scope subcommand.
pub async fn run(
    connection: &Connection,
    command: ScopesCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let (tenant, action) = match command {
        ScopesCommand::List {
            tenant,
            discoverable_only,
            page_size,
        } => {
            let admin = Admin::connect(connection).await?;
            let response = list_all(&admin, &tenant, discoverable_only, page_size).await?;
            return print(out, &response);
        }
        ScopesCommand::Get { tenant, name } => (
            tenant,
            Action::Get(pb::GetScope {
                scope: by_name(name),
            }),
        ),
        ScopesCommand::Create {
            tenant,
            name,
            description,
            is_default,
            implies,
        } => (
            tenant,
            Action::Create(pb::CreateScope {
                name,
                description,
                is_default,
                implies,
            }),
        ),
        ScopesCommand::Update {
            tenant,
            name,
            description,
            is_default,
            implies,
            clear_implies,
            etag,
        } => {
            let implies =
                (clear_implies || !implies.is_empty()).then_some(pb::ScopeNames { names: implies });
            if description.is_none() && is_default.is_none() && implies.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give --description, --default, --implies or \
                     --clear-implies"
                        .to_owned(),
                ));
            }
            let update = pb::UpdateScope {
                scope: by_name(name),
                description,
                is_default,
                implies,
                etag: etag.unwrap_or_default(),
            };
            (tenant, Action::Update(update))
        }
        ScopesCommand::Delete {
            tenant,
            name,
            dry_run,
            etag,
        } => (
            tenant,
            Action::Delete(pb::DeleteScope {
                scope: by_name(name),
                dry_run,
                etag: etag.unwrap_or_default(),
            }),
        ),
    };
    let admin = Admin::connect(connection).await?;
    let response = admin.scope(&tenant, action).await?;
    print(out, &response)
}

async fn list_all(
    admin: &Admin,
    tenant: &str,
    discoverable_only: bool,
    page_size: Option<u32>,
) -> Result<pb::ManageScopeResponse, CliError> {
    let (scopes, revision) = all_pages(tenant, |token| async move {
        let list = pb::ListScopes {
            page: page(page_size, &token),
            discoverable_only,
        };
        let response = admin.scope(tenant, Action::List(list)).await?;
        Ok(match response.result {
            Some(ScopeResult::Scopes(p)) => {
                (p.scopes, p.next_page_token, response.catalog_revision)
            }
            _ => (Vec::new(), String::new(), response.catalog_revision),
        })
    })
    .await?;
    Ok(pb::ManageScopeResponse {
        result: Some(ScopeResult::Scopes(pb::ScopePage {
            scopes,
            next_page_token: String::new(),
        })),
        catalog_revision: revision,
    })
}

fn print(out: &mut Printer<'_>, response: &pb::ManageScopeResponse) -> Result<(), CliError> {
    if out.is_json() {
        return out.json(response);
    }
    match &response.result {
        Some(ScopeResult::Scopes(page)) => {
            let mut table = Table::new(&[
                "NAME",
                "DEFAULT",
                "SYSTEM",
                "RESERVED",
                "IMPLIES",
                "DESCRIPTION",
            ]);
            for s in &page.scopes {
                table.row(vec![
                    s.name.clone(),
                    yes_no(s.is_default),
                    yes_no(s.is_system),
                    yes_no(s.is_reserved),
                    list(&s.implies),
                    s.description.clone(),
                ]);
            }
            table.print(out)
        }
        Some(ScopeResult::Scope(s)) => show(out, s, response.catalog_revision),
        Some(ScopeResult::Deleted(d)) => deleted(out, d, response.catalog_revision),
        None => Ok(()),
    }
}

fn show(out: &mut Printer<'_>, s: &pb::Scope, revision: i64) -> Result<(), CliError> {
    let time = |ts: Option<&prost_types::Timestamp>| ts.map_or("-".to_owned(), ToString::to_string);
    fields(
        out,
        &[
            ("name", s.name.clone()),
            ("description", s.description.clone()),
            ("default", yes_no(s.is_default)),
            ("system", yes_no(s.is_system)),
            ("reserved", yes_no(s.is_reserved)),
            ("implies", list(&s.implies)),
            ("etag", s.etag.clone()),
            ("created", time(s.created_at.as_ref())),
            ("updated", time(s.updated_at.as_ref())),
            ("catalog revision", revision.to_string()),
        ],
    )
}

fn deleted(out: &mut Printer<'_>, d: &pb::ScopeDeletion, revision: i64) -> Result<(), CliError> {
    let name = d.scope.as_ref().map_or("", |s| s.name.as_str());
    if d.dry_run {
        out.line(format!(
            "would delete scope {name} (dry run: nothing changed)"
        ))?;
    } else {
        out.line(format!(
            "deleted scope {name} (catalog revision {revision})"
        ))?;
    }
    fields(
        out,
        &[
            ("  removed from clients", list(&d.clients)),
            ("  removed from operations", list(&d.operations)),
            ("  no longer implied by", list(&d.implied_by)),
        ],
    )
}
