//! Admin subcommands: a gRPC client of a running server's `ScopeAdmin` service that prints
//! aligned text or the response messages as proto3 JSON.
//!
//! `main` parses an [`AdminCommand`] with clap and hands it to [`run`] with stdout; tests do
//! the same with a `Vec<u8>`. Each resource lives in its own module: its clap arguments, the
//! requests they become, and how the answers are printed.

mod callers;
mod catalog;
mod clients;
mod connect;
mod credentials;
mod decide;
mod error;
mod json;
mod operations;
mod output;
mod scopes;
mod tenants;

use std::{fmt, io::Write};

use output::Printer;

pub use callers::CallersCommand;
pub use catalog::{AuditArgs, CatalogCommand};
pub use clients::ClientsCommand;
pub use credentials::CredentialsCommand;
pub use decide::{CheckArgs, IntrospectArgs, RevokeArgs, TokenArgs};
pub use error::CliError;
pub use operations::{OperationsCommand, RequirementArgs};
pub use output::Output;
pub use scopes::ScopesCommand;
pub use tenants::{SettingsArgs, TenantsCommand};

/// Where the admin subcommands connect when neither `--server` nor `SCOPEGATE_SERVER` is set.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

const SERVER_OPTIONS: &str = "Server options";

/// The exit codes of the admin subcommands, shown in their `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure: cannot connect, UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE, INTERNAL, ...
  2  refused as given: bad arguments or file, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
     FAILED_PRECONDITION (system scope, implication cycle), ABORTED (etag mismatch)
  3  `check`: denied; `introspect`: the token is not active (the answer is printed)
Errors go to stderr as `error: <gRPC code>: <message>`, then one `  <field>: <reason>` line
per field violation the server reports beyond its message.";

/// An admin credential: sent as `authorization: Bearer <key>`, never printed (`Debug` hides it).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKey(String);

impl AdminKey {
    /// The key as sent on the wire.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for AdminKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(<hidden>)")
    }
}

/// How to reach the server and how to print: the global flags of every admin subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// gRPC endpoint of the running server: `http://host:port`, or `https://host:port` with
    /// `--ca-cert`.
    #[arg(
        long,
        env = "SCOPEGATE_SERVER",
        default_value = DEFAULT_SERVER,
        global = true,
        help_heading = SERVER_OPTIONS
    )]
    pub server: String,
    /// Admin credential (the bootstrap key or an admin access token), sent as a bearer token.
    #[arg(
        long,
        env = "SCOPEGATE_ADMIN_KEY",
        hide_env_values = true,
        global = true,
        value_name = "KEY",
        help_heading = SERVER_OPTIONS
    )]
    pub admin_key: Option<AdminKey>,
    /// `text` (aligned tables) or `json`: the response message in the proto3 JSON mapping
    /// (lowerCamelCase names, 64-bit integers as strings, RFC 3339 timestamps).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value_t = Output::Text,
        global = true,
        help_heading = SERVER_OPTIONS
    )]
    pub output: Output,
    /// CA certificates (PEM) an `https://` server's certificate must chain to (no system
    /// roots are trusted).
    #[arg(long, env = "SCOPEGATE_CA_CERT", global = true, value_name = "PEM", help_heading = SERVER_OPTIONS)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for a server that requires mTLS; with `--client-key`.
    #[arg(long, env = "SCOPEGATE_CLIENT_CERT", global = true, value_name = "PEM", requires = "client_key", help_heading = SERVER_OPTIONS)]
    pub client_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--client-cert`.
    #[arg(long, env = "SCOPEGATE_CLIENT_KEY", global = true, value_name = "PEM", requires = "client_cert", help_heading = SERVER_OPTIONS)]
    pub client_key: Option<std::path::PathBuf>,
}

/// The admin subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Manage tenants on a running server.
    #[command(after_help = EXIT_CODES)]
    Tenants {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Manage the scopes of a tenant's catalog on a running server.
    #[command(after_help = EXIT_CODES)]
    Scopes {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ScopesCommand,
    },
    /// Manage a tenant's OAuth clients on a running server.
    #[command(after_help = EXIT_CODES)]
    Clients {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Manage a tenant's RFC 7662 introspection credentials (HTTP Basic on the HTTP door).
    #[command(after_help = EXIT_CODES)]
    IntrospectionCredentials {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Manage the registered callers (`--caller-auth`): their tenants, surfaces and keys.
    #[command(after_help = EXIT_CODES)]
    Callers {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: CallersCommand,
    },
    /// Manage a tenant's named operations (MCP tools, routes) on a running server.
    #[command(after_help = EXIT_CODES)]
    Operations {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: OperationsCommand,
    },
    /// Export or import a tenant's whole catalog as a catalog file (TOML).
    #[command(after_help = EXIT_CODES)]
    Catalog {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Show a tenant's audit trail, newest first.
    #[command(after_help = EXIT_CODES)]
    Audit {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: AuditArgs,
    },
    /// Ask for a decision as a resource server would (CheckScopes): a token or granted
    /// scopes against an operation or scopes; prints the reason, what is missing and the
    /// challenge. Exit 0 allowed, 3 denied.
    #[command(after_help = EXIT_CODES)]
    Check {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: CheckArgs,
    },
    /// Show what the server makes of a token (Introspect). Exit 0 active, 3 inactive.
    #[command(after_help = EXIT_CODES)]
    Introspect {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: IntrospectArgs,
    },
    /// Revoke a token, a `jti`, or a client's or subject's tokens (RevokeToken; needs the
    /// admin credential).
    #[command(after_help = EXIT_CODES)]
    Revoke {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: RevokeArgs,
    },
}

/// Runs one admin subcommand against the server it names, writing its result to `out`.
/// On error nothing more is written to `out`; the caller prints [`CliError::report`] to
/// stderr and exits with [`CliError::exit_code`].
pub async fn run(command: AdminCommand, out: &mut impl Write) -> Result<(), CliError> {
    let (AdminCommand::Tenants { connection, .. }
    | AdminCommand::Scopes { connection, .. }
    | AdminCommand::Clients { connection, .. }
    | AdminCommand::IntrospectionCredentials { connection, .. }
    | AdminCommand::Callers { connection, .. }
    | AdminCommand::Operations { connection, .. }
    | AdminCommand::Catalog { connection, .. }
    | AdminCommand::Audit { connection, .. }
    | AdminCommand::Check { connection, .. }
    | AdminCommand::Introspect { connection, .. }
    | AdminCommand::Revoke { connection, .. }) = &command;
    let mut printer = Printer::new(connection.output, out);
    let out = &mut printer;
    match command {
        AdminCommand::Tenants {
            connection,
            command,
        } => tenants::run(&connection, command, out).await,
        AdminCommand::Scopes {
            connection,
            command,
        } => scopes::run(&connection, command, out).await,
        AdminCommand::Clients {
            connection,
            command,
        } => clients::run(&connection, command, out).await,
        AdminCommand::IntrospectionCredentials {
            connection,
            command,
        } => credentials::run(&connection, command, out).await,
        AdminCommand::Callers {
            connection,
            command,
        } => callers::run(&connection, command, out).await,
        AdminCommand::Operations {
            connection,
            command,
        } => operations::run(&connection, command, out).await,
        AdminCommand::Catalog {
            connection,
            command,
        } => catalog::run(&connection, command, out).await,
        AdminCommand::Audit { connection, args } => catalog::audit(&connection, args, out).await,
        AdminCommand::Check { connection, args } => decide::check(&connection, args, out).await,
        AdminCommand::Introspect { connection, args } => {
            decide::introspect(&connection, args, out).await
        }
        AdminCommand::Revoke { connection, args } => decide::revoke(&connection, args, out).await,
    }
}
