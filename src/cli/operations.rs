//! `scopegate operations list|get|create|update|delete`, and the requirement flags.

use super::{
    Connection,
    connect::{Admin, all_pages, page},
    error::CliError,
    output::{Printer, Table, fields},
};
use crate::pb::{
    self, manage_operation_request::Action, manage_operation_response::Result as OpResult,
};

/// The operation subcommands. A requirement is a list of alternatives; the operation is
/// allowed when every scope of any one alternative is granted. Text output writes
/// alternatives separated by ` | `, the scopes of one alternative separated by spaces.
#[derive(Debug, clap::Subcommand)]
pub enum OperationsCommand {
    /// List a tenant's operations sorted by name (all pages).
    List {
        /// The tenant.
        tenant: String,
    },
    /// Show one operation.
    Get {
        /// The tenant.
        tenant: String,
        /// The operation name: an MCP tool (`get_settings`) or a route (`GET /courses`).
        name: String,
    },
    /// Create an operation.
    Create {
        /// The tenant.
        tenant: String,
        /// The operation name: an MCP tool (`get_settings`) or a route (`GET /courses`).
        name: String,
        /// What it does.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        requirement: RequirementArgs,
    },
    /// Change an operation's description or requirement (a requirement given replaces the
    /// old one; what is not given stays as it is).
    Update {
        /// The tenant.
        tenant: String,
        /// The operation name.
        name: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        requirement: RequirementArgs,
    },
    /// Delete an operation.
    Delete {
        /// The tenant.
        tenant: String,
        /// The operation name.
        name: String,
    },
}

/// The alternatives of a requirement; every flag may be repeated and they add up.
#[derive(Debug, clap::Args)]
pub struct RequirementArgs {
    /// Comma-separated scopes, any one of which suffices (one alternative per scope).
    #[arg(long, value_name = "A,B")]
    any_of: Vec<String>,
    /// Comma-separated scopes that are all needed (one alternative).
    #[arg(long, value_name = "A,B")]
    all_of: Vec<String>,
    /// Space-separated scopes that are all needed (one alternative).
    #[arg(long, value_name = "\"A B\"")]
    alternative: Vec<String>,
}

impl RequirementArgs {
    /// The alternatives, in the order any-of, all-of, alternative.
    pub fn alternatives(&self) -> Result<Vec<pb::Alternative>, CliError> {
        let mut alternatives = Vec::new();
        for raw in &self.any_of {
            for scope in split(raw, ',', "--any-of")? {
                alternatives.push(pb::Alternative {
                    scopes: vec![scope],
                });
            }
        }
        for raw in &self.all_of {
            let scopes = split(raw, ',', "--all-of")?;
            alternatives.push(pb::Alternative { scopes });
        }
        for raw in &self.alternative {
            let scopes: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
            if scopes.is_empty() {
                return Err(CliError::Usage("--alternative: no scope given".to_owned()));
            }
            alternatives.push(pb::Alternative { scopes });
        }
        Ok(alternatives)
    }
}

fn split(raw: &str, separator: char, flag: &str) -> Result<Vec<String>, CliError> {
    raw.split(separator)
        .map(|s| match s.trim() {
            "" => Err(CliError::Usage(format!(
                "{flag} {raw:?}: an empty scope name"
            ))),
            s => Ok(s.to_owned()),
        })
        .collect()
}

/// Runs an operation subcommand.
pub async fn run(
    connection: &Connection,
    command: OperationsCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let (tenant, action) = match command {
        OperationsCommand::List { tenant } => {
            let admin = Admin::connect(connection).await?;
            let response = list_all(&admin, &tenant).await?;
            return print(out, &response);
        }
        OperationsCommand::Get { tenant, name } => (tenant, Action::Get(pb::GetOperation { name })),
        OperationsCommand::Create {
            tenant,
            name,
            description,
            requirement,
        } => {
            let operation = pb::Operation {
                name,
                description: description.unwrap_or_default(),
                alternatives: requirement.alternatives()?,
            };
            (tenant, Action::Create(operation))
        }
        OperationsCommand::Update {
            tenant,
            name,
            description,
            requirement,
        } => {
            let alternatives = requirement.alternatives()?;
            if description.is_none() && alternatives.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --description or a requirement".to_owned(),
                ));
            }
            // UpdateOperation replaces the whole operation: start from the stored one.
            let admin = Admin::connect(connection).await?;
            let get = Action::Get(pb::GetOperation { name: name.clone() });
            let mut operation = match admin.operation(&tenant, get).await?.result {
                Some(OpResult::Operation(op)) => op,
                _ => pb::Operation {
                    name,
                    ..Default::default()
                },
            };
            if let Some(description) = description {
                operation.description = description;
            }
            if !alternatives.is_empty() {
                operation.alternatives = alternatives;
            }
            let response = admin.operation(&tenant, Action::Update(operation)).await?;
            return print(out, &response);
        }
        OperationsCommand::Delete { tenant, name } => {
            (tenant, Action::Delete(pb::DeleteOperation { name }))
        }
    };
    let admin = Admin::connect(connection).await?;
    let response = admin.operation(&tenant, action).await?;
    print(out, &response)
}

async fn list_all(admin: &Admin, tenant: &str) -> Result<pb::ManageOperationResponse, CliError> {
    let (operations, revision) = all_pages(tenant, |token| async move {
        let list = pb::ListOperations {
            page: page(None, &token),
        };
        let response = admin.operation(tenant, Action::List(list)).await?;
        Ok(match response.result {
            Some(OpResult::Operations(p)) => {
                (p.operations, p.next_page_token, response.catalog_revision)
            }
            _ => (Vec::new(), String::new(), response.catalog_revision),
        })
    })
    .await?;
    Ok(pb::ManageOperationResponse {
        result: Some(OpResult::Operations(pb::OperationPage {
            operations,
            next_page_token: String::new(),
        })),
        catalog_revision: revision,
    })
}

/// `a b | c`: alternatives separated by ` | `, the scopes of one separated by spaces.
fn requirement(o: &pb::Operation) -> String {
    if o.alternatives.is_empty() {
        return "(nothing left: denies every request)".to_owned();
    }
    let alternatives: Vec<String> = o.alternatives.iter().map(|a| a.scopes.join(" ")).collect();
    alternatives.join(" | ")
}

fn print(out: &mut Printer<'_>, response: &pb::ManageOperationResponse) -> Result<(), CliError> {
    if out.is_json() {
        return out.json(response);
    }
    match &response.result {
        Some(OpResult::Operations(page)) => {
            let mut table = Table::new(&["NAME", "REQUIRES", "DESCRIPTION"]);
            for o in &page.operations {
                table.row(vec![o.name.clone(), requirement(o), o.description.clone()]);
            }
            table.print(out)
        }
        Some(OpResult::Operation(o)) => fields(
            out,
            &[
                ("name", o.name.clone()),
                ("description", o.description.clone()),
                ("requires", requirement(o)),
                ("catalog revision", response.catalog_revision.to_string()),
            ],
        ),
        Some(OpResult::Deleted(o)) => out.line(format!(
            "deleted operation {} (catalog revision {})",
            o.name, response.catalog_revision
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(any_of: &[&str], all_of: &[&str], alternative: &[&str]) -> RequirementArgs {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        RequirementArgs {
            any_of: owned(any_of),
            all_of: owned(all_of),
            alternative: owned(alternative),
        }
    }

    fn scopes(alternatives: &[pb::Alternative]) -> Vec<Vec<&str>> {
        alternatives
            .iter()
            .map(|a| a.scopes.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn requirement_flags_add_up_to_alternatives() {
        let parsed = args(&["a, b"], &["c,d"], &["e  f"]).alternatives().unwrap();

        assert_eq!(
            scopes(&parsed),
            [vec!["a"], vec!["b"], vec!["c", "d"], vec!["e", "f"]]
        );
    }

    #[test]
    fn an_empty_scope_in_a_requirement_is_a_usage_error() {
        for bad in [
            args(&["a,,b"], &[], &[]),
            args(&[], &[","], &[]),
            args(&[], &[], &[" "]),
        ] {
            let err = bad.alternatives().unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
        }
    }
}
