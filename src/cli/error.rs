//! Why an admin subcommand failed, how it is reported on stderr, and its exit code.

use std::fmt::Write as _;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Everything an admin subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments, a file or a flag combination refused before anything was sent.
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached.
    #[error("cannot connect to {server}: {detail}")]
    Connect { server: String, detail: String },
    /// The server answered with an error status.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(Box<Status>),
    /// A listing did not settle: the catalog kept changing between its pages.
    #[error("{0}")]
    Unsettled(String),
    /// The server answered, and the answer is a denial (`check`) or an inactive token
    /// (`introspect`): printed already; exit 3.
    #[error("{0}")]
    Denied(String),
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        Self::Status(Box::new(status))
    }
}

impl CliError {
    /// The gRPC code the server answered with, if the failure came from the server.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Status(status) => Some(status.code()),
            _ => None,
        }
    }

    /// 2 when the request was refused as given (arguments, unknown or conflicting objects,
    /// rules of the catalog), 3 for a denial or an inactive token, 1 for every other failure.
    /// Never 0.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Status(status) => match status.code() {
                Code::InvalidArgument
                | Code::NotFound
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::Aborted
                | Code::OutOfRange => 2,
                _ => 1,
            },
            Self::Connect { .. } | Self::Unsettled(_) | Self::Output(_) => 1,
            Self::Denied(_) => 3,
        }
    }

    /// The text for stderr: `error: <code>: <message>`, then one indented `<field>: <reason>`
    /// line per `google.rpc.BadRequest` field violation that the message does not already
    /// say. Ends with a newline; empty for a closed output pipe.
    pub fn report(&self) -> String {
        if let Self::Output(err) = self
            && err.kind() == std::io::ErrorKind::BrokenPipe
        {
            // The reader left (`| head`): there is nobody to tell, and stderr would only add
            // noise to the terminal.
            return String::new();
        }
        if let Self::Denied(why) = self {
            return format!("denied: {why}\n");
        }
        let mut text = format!("error: {self}\n");
        if let Self::Status(status) = self
            && let Some(bad_request) = status.get_details_bad_request()
        {
            for violation in &bad_request.field_violations {
                let line = format!("{}: {}", violation.field, violation.description);
                // The server's message often is the only violation: say it once.
                if line != status.message() {
                    let _ = writeln!(text, "  {line}");
                }
            }
        }
        text
    }
}

/// The canonical name of a gRPC status code, as in the gRPC specification.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error and its sources on one line: transport errors hide the useful part in the chain.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}
