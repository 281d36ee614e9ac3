//! `scopegate check`, `introspect` and `revoke`: debug a decision from a shell. `check` asks
//! `CheckScopes` exactly as a resource server would and exits 3 when the answer is a denial;
//! `introspect` shows what the server makes of a token (exit 3 when it is inactive); `revoke`
//! revokes a token, a `jti`, or a client's or subject's tokens issued before an instant.

use std::io::Read as _;

use super::{
    Connection, RequirementArgs,
    connect::Admin,
    error::CliError,
    output::{Printer, fields, list},
};
use crate::pb::{
    self, check::Requirement, check::Subject, revoke_token_request::Target,
    scope_decision_client::ScopeDecisionClient,
    token_introspection_client::TokenIntrospectionClient,
};

/// Where the token comes from: never required on the command line, where it would stay in
/// the shell's history and the process list.
#[derive(Debug, Clone, clap::Args)]
#[group(multiple = false)]
pub struct TokenArgs {
    /// The access token (prefer --token-file: a command line is visible to other users).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// A file holding the access token (`-`: standard input); surrounding whitespace is ignored.
    #[arg(long, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
}

impl TokenArgs {
    /// The token given, if any.
    fn token(&self) -> Result<Option<String>, CliError> {
        let raw = match (&self.token, &self.token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(path)) if path.as_os_str() == "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .take(MAX_TOKEN_FILE)
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::Usage(format!("--token-file -: {e}")))?;
                text
            }
            (None, Some(path)) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    CliError::Usage(format!("--token-file {}: {e}", path.display()))
                })?;
                let mut text = String::new();
                file.take(MAX_TOKEN_FILE)
                    .read_to_string(&mut text)
                    .map_err(|e| {
                        CliError::Usage(format!("--token-file {}: {e}", path.display()))
                    })?;
                text
            }
            (None, None) => return Ok(None),
        };
        match raw.trim() {
            "" => Err(CliError::Usage("the token is empty".to_owned())),
            token => Ok(Some(token.to_owned())),
        }
    }
}

/// Read at most this much of a token file (the server refuses tokens over 16 KiB anyway).
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// `scopegate check`: one `CheckScopes` check.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The tenant (empty: the tenant whose issuer is the token's `iss`).
    #[arg(long, default_value = "")]
    tenant: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Space-separated granted scopes to check instead of a token.
    #[arg(long, value_name = "\"A B\"", conflicts_with_all = ["token", "token_file"])]
    scopes: Option<String>,
    /// The client the granted scopes were given to (with --scopes).
    #[arg(long, requires = "scopes")]
    client_id: Option<String>,
    /// A named operation of the tenant's catalog: an MCP tool or a route (`GET /courses`).
    #[arg(long, conflicts_with_all = ["any_of", "all_of", "alternative"])]
    operation: Option<String>,
    #[command(flatten)]
    requirement: RequirementArgs,
    /// The protected resource (RFC 8707 URI) the request is for.
    #[arg(long)]
    resource: Option<String>,
    /// Include the explain trace (token outcome, cache hit, each alternative's missing scopes).
    #[arg(long)]
    explain: bool,
}

/// `scopegate introspect`: what the server makes of a token.
#[derive(Debug, clap::Args)]
pub struct IntrospectArgs {
    /// The tenant (empty: the tenant whose issuer is the token's `iss`).
    #[arg(long, default_value = "")]
    tenant: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Include why the token is inactive (`expired`, `bad_signature`, …) and its fingerprint.
    #[arg(long)]
    explain: bool,
}

/// `scopegate revoke`: revoke tokens (admin credential with write access needed).
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The tenant (may be empty only with a token: then the token's issuer names it).
    #[arg(long, default_value = "")]
    tenant: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Revoke every token carrying this `jti`.
    #[arg(long, conflicts_with_all = ["token", "token_file", "client", "subject"])]
    jti: Option<String>,
    /// Revoke every token of this client issued before --not-before.
    #[arg(long, conflicts_with_all = ["token", "token_file", "subject"])]
    client: Option<String>,
    /// Revoke every token of this subject issued before --not-before.
    #[arg(long, conflicts_with_all = ["token", "token_file"])]
    subject: Option<String>,
    /// With --client or --subject: an RFC 3339 instant (default: now).
    #[arg(long, value_name = "RFC3339")]
    not_before: Option<prost_types::Timestamp>,
}

/// Runs `scopegate check`: prints the answer; a denial is [`CliError::Denied`] (exit 3).
pub async fn check(
    connection: &Connection,
    args: CheckArgs,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let subject = match (args.token.token()?, args.scopes) {
        (Some(token), _) => Subject::Token(token),
        (None, Some(scopes)) => Subject::Granted(pb::GrantedScopes {
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            client_id: args.client_id.unwrap_or_default(),
        }),
        (None, None) => {
            return Err(CliError::Usage(
                "give a subject: --token, --token-file or --scopes".to_owned(),
            ));
        }
    };
    let alternatives = args.requirement.alternatives()?;
    let requirement = match (args.operation, alternatives.is_empty()) {
        (Some(operation), _) => Some(Requirement::Operation(operation)),
        (None, false) => Some(Requirement::Alternatives(pb::Alternatives { alternatives })),
        (None, true) => None,
    };
    let request = pb::CheckScopesRequest {
        tenant: args.tenant,
        checks: vec![pb::Check {
            subject: Some(subject),
            requirement,
            resource: args.resource.unwrap_or_default(),
            ..Default::default()
        }],
        explain: args.explain,
    };
    let admin = Admin::connect(connection).await?;
    let mut client = ScopeDecisionClient::new(admin.channel());
    let response = client
        .check_scopes(admin.request(request))
        .await?
        .into_inner();
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Usage("the server answered no result".to_owned()))?;
    if let Some(error) = &result.error {
        let status = tonic::Status::new(tonic::Code::from(error.code), error.message.clone());
        return Err(status.into());
    }
    if out.is_json() {
        out.json(&result)?;
    } else {
        print_check(&result, out)?;
    }
    if result.allowed {
        Ok(())
    } else {
        Err(CliError::Denied(reason_name(result.reason)))
    }
}

fn print_check(result: &pb::CheckResult, out: &mut Printer<'_>) -> Result<(), CliError> {
    let mut rows = vec![
        (
            "allowed",
            if result.allowed { "yes" } else { "no" }.to_owned(),
        ),
        ("reason", reason_name(result.reason)),
        ("tenant", result.tenant.clone()),
        ("catalog revision", result.catalog_revision.to_string()),
        ("http status", result.http_status.to_string()),
    ];
    if !result.missing.is_empty() {
        rows.push(("missing", list(&result.missing)));
    }
    if let Some(satisfied) = &result.satisfied_by {
        rows.push(("satisfied by", list(&satisfied.scopes)));
    }
    rows.push(("granted", list(&result.granted)));
    if !result.www_authenticate.is_empty() {
        rows.push(("www-authenticate", result.www_authenticate.clone()));
    }
    if let Some(explain) = &result.explain {
        rows.push(("token outcome", explain.token_outcome.clone()));
        rows.push(("cache hit", explain.cache_hit.to_string()));
        for alternative in &explain.alternatives {
            rows.push((
                "alternative",
                format!(
                    "{} (missing: {})",
                    list(&alternative.scopes),
                    list(&alternative.missing)
                ),
            ));
        }
    }
    fields(out, &rows)
}

/// The reason's proto name without its prefix (`INSUFFICIENT_SCOPE`).
fn reason_name(reason: i32) -> String {
    pb::Reason::try_from(reason).map_or_else(
        |_| reason.to_string(),
        |r| r.as_str_name().trim_start_matches("REASON_").to_owned(),
    )
}

/// Runs `scopegate introspect`: prints the RFC 7662 answer; an inactive token is
/// [`CliError::Denied`] (exit 3).
pub async fn introspect(
    connection: &Connection,
    args: IntrospectArgs,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let token = args
        .token
        .token()?
        .ok_or_else(|| CliError::Usage("give the token: --token or --token-file".to_owned()))?;
    let admin = Admin::connect(connection).await?;
    let mut client = TokenIntrospectionClient::new(admin.channel());
    let request = pb::IntrospectRequest {
        token,
        tenant: args.tenant,
        explain: args.explain,
        ..Default::default()
    };
    let answer = client
        .introspect(admin.request(request))
        .await?
        .into_inner();
    if out.is_json() {
        out.json(&answer)?;
    } else {
        let time = |t: Option<i64>| t.map_or("-".to_owned(), |t| t.to_string());
        let mut rows = vec![(
            "active",
            if answer.active { "yes" } else { "no" }.to_owned(),
        )];
        if answer.active {
            rows.extend([
                ("tenant", answer.tenant.clone()),
                ("scope", answer.scope.clone()),
                ("client id", answer.client_id.clone()),
                ("subject", answer.sub.clone()),
                ("username", answer.username.clone()),
                ("issuer", answer.iss.clone()),
                ("audiences", list(&answer.aud)),
                ("token type", answer.token_type.clone()),
                ("expires (unix)", time(answer.exp)),
                ("issued (unix)", time(answer.iat)),
                ("jti", answer.jti.clone()),
            ]);
        }
        if let Some(explain) = &answer.explain {
            rows.push(("outcome", explain.outcome.clone()));
            rows.push(("cache hit", explain.cache_hit.to_string()));
            rows.push(("fingerprint", explain.token_fingerprint.clone()));
        }
        fields(out, &rows)?;
    }
    if answer.active {
        Ok(())
    } else {
        let outcome = answer.explain.map(|e| e.outcome);
        Err(CliError::Denied(format!(
            "inactive{}",
            outcome.map(|o| format!(" ({o})")).unwrap_or_default()
        )))
    }
}

/// Runs `scopegate revoke`.
pub async fn revoke(
    connection: &Connection,
    args: RevokeArgs,
    out: &mut Printer<'_>,
) -> Result<(), CliError> {
    let not_before = |id: String| pb::NotBefore {
        id,
        not_before: args.not_before,
    };
    let target = match (args.token.token()?, args.jti, args.client, args.subject) {
        (Some(token), ..) => Target::Token(token),
        (None, Some(jti), ..) => Target::Jti(jti),
        (None, None, Some(client), _) => Target::Client(not_before(client)),
        (None, None, None, Some(subject)) => Target::Subject(not_before(subject)),
        (None, None, None, None) => {
            return Err(CliError::Usage(
                "give what to revoke: --token, --token-file, --jti, --client or --subject"
                    .to_owned(),
            ));
        }
    };
    if args.not_before.is_some() && !matches!(target, Target::Client(_) | Target::Subject(_)) {
        return Err(CliError::Usage(
            "--not-before goes with --client or --subject".to_owned(),
        ));
    }
    let admin = Admin::connect(connection).await?;
    let mut client = TokenIntrospectionClient::new(admin.channel());
    let request = pb::RevokeTokenRequest {
        tenant: args.tenant,
        target: Some(target),
    };
    client.revoke_token(admin.request(request)).await?;
    if out.is_json() {
        out.json(&pb::RevokeTokenResponse {})
    } else {
        out.line("revoked")
    }
}
