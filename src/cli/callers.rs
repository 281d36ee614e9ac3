//! `scopegate callers list|get|create|update|delete|add-key|delete-key`: the services allowed
//! onto the decision and introspection surfaces (`--caller-auth`), their limits and keys.

use super::{
    Connection,
    connect::{Admin, next_token, page},
    error::CliError,
    output::{Printer, Table, fields},
};
use crate::pb::{
    self, manage_caller_request::Action, manage_caller_response::Result as CallerResult,
};

/// The caller subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CallersCommand {
    /// List the registered callers sorted by name (all pages), with key ids, never keys.
    List,
    /// Show one caller.
    Get {
        /// The caller's name.
        name: String,
    },
    /// Register a caller (then `add-key` to give it a key, or let a client certificate naming
    /// it in.
    Create {
        #[command(flatten)]
        limits: LimitsArgs,
    },
    /// Replace a caller's tenants and surfaces: in force when this returns.
    Update {
        #[command(flatten)]
        limits: LimitsArgs,
    },
    /// Delete a caller and its keys: refused as soon as this returns.
    Delete {
        /// The caller's name.
        name: String,
    },
    /// Generate a key for a caller and print it this once (only its hash is stored); a
    /// caller may hold several, to rotate.
    AddKey {
        /// The caller's name.
        name: String,
    },
    /// Delete one key of a caller: refused as soon as this returns.
    DeleteKey {
        /// The caller's name.
        name: String,
        /// The key's id (as listed; the 16 characters after `sgk_`).
        key_id: String,
    },
}

/// A caller's name and limits.
#[derive(Debug, clap::Args)]
pub struct LimitsArgs {
    /// The caller's name (a certificate's DNS or URI name to let that certificate in).
    name: String,
    /// A tenant it may ask about (repeat, or comma-separate); `*` for every tenant.
    #[arg(long = "tenant", value_delimiter = ',', required = true)]
    tenants: Vec<String>,
    /// A surface it may use: `decision`, `introspection` (repeat, or comma-separate).
    #[arg(long = "surface", value_delimiter = ',', required = true)]
    surfaces: Vec<String>,
}

impl LimitsArgs {
    fn limits(self) -> Result<pb::CallerLimits, CliError> {
        let all_tenants = self.tenants.iter().any(|t| t == "*");
        let surfaces = self
            .surfaces
            .iter()
            .map(|s| match s.as_str() {
                "decision" => Ok(pb::CallerSurface::Decision as i32),
                "introspection" => Ok(pb::CallerSurface::Introspection as i32),
                other => Err(CliError::Usage(format!(
                    "unknown surface {other:?}: use decision or introspection"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(pb::CallerLimits {
            name: self.name,
            tenants: if all_tenants {
                Vec::new()
            } else {
                self.tenants
            },
            all_tenants,
            surfaces,
        })
    }
}

/// Runs a caller subcommand.
pub async fn run(
    connection: &Connection,
    command: CallersCommand,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let admin = Admin::connect(connection).await?;
    let response = match command {
        CallersCommand::List => list_all(&admin).await?,
        CallersCommand::Get { name } => admin.caller(Action::Get(pb::GetCaller { name })).await?,
        CallersCommand::Create { limits } => admin.caller(Action::Create(limits.limits()?)).await?,
        CallersCommand::Update { limits } => admin.caller(Action::Update(limits.limits()?)).await?,
        CallersCommand::Delete { name } => {
            admin
                .caller(Action::Delete(pb::DeleteCaller { name }))
                .await?
        }
        CallersCommand::AddKey { name } => {
            admin
                .caller(Action::AddKey(pb::AddCallerKey { name }))
                .await?
        }
        CallersCommand::DeleteKey { name, key_id } => {
            admin
                .caller(Action::DeleteKey(pb::DeleteCallerKey { name, key_id }))
                .await?
        }
    };
    print(out, &response)
}

/// Every page of the listing.
async fn list_all(admin: &Admin) -> Result<pb::ManageCallerResponse, CliError> {
    let mut callers = Vec::new();
    let mut token = String::new();
    loop {
        let list = pb::ListCallers {
            page: page(None, &token),
        };
        let response = admin.caller(Action::List(list)).await?;
        let Some(CallerResult::Callers(p)) = response.result else {
            break;
        };
        callers.extend(p.callers);
        token = next_token(&token, p.next_page_token)?;
        if token.is_empty() {
            break;
        }
    }
    Ok(pb::ManageCallerResponse {
        result: Some(CallerResult::Callers(pb::CallerPage {
            callers,
            next_page_token: String::new(),
        })),
    })
}

fn tenants(caller: &pb::RegisteredCaller) -> String {
    if caller.all_tenants {
        "*".to_owned()
    } else {
        caller.tenants.join(",")
    }
}

fn surfaces(caller: &pb::RegisteredCaller) -> String {
    caller
        .surfaces
        .iter()
        .map(|s| match pb::CallerSurface::try_from(*s) {
            Ok(pb::CallerSurface::Decision) => "decision",
            Ok(pb::CallerSurface::Introspection) => "introspection",
            _ => "?",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn key_ids(caller: &pb::RegisteredCaller) -> String {
    caller
        .keys
        .iter()
        .map(|k| k.key_id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn print(out: &mut Printer<'_>, response: &pb::ManageCallerResponse) -> Result<(), CliError> {
    if out.is_json() {
        return out.json(response);
    }
    match &response.result {
        Some(CallerResult::Callers(page)) => {
            let mut table = Table::new(&["NAME", "TENANTS", "SURFACES", "KEY IDS"]);
            for c in &page.callers {
                table.row(vec![c.name.clone(), tenants(c), surfaces(c), key_ids(c)]);
            }
            table.print(out)
        }
        Some(CallerResult::Caller(c)) => fields(
            out,
            &[
                ("name", c.name.clone()),
                ("tenants", tenants(c)),
                ("surfaces", surfaces(c)),
                ("key ids", key_ids(c)),
            ],
        ),
        Some(CallerResult::CreatedKey(created)) => {
            let c = created.caller.clone().unwrap_or_default();
            fields(
                out,
                &[
                    ("caller", c.name),
                    ("key id", created.key_id.clone()),
                    ("key", created.key.clone()),
                ],
            )?;
            out.line("the key is not shown again: store it now (send it as x-scopegate-caller-key)")
        }
        None => Ok(()),
    }
}
