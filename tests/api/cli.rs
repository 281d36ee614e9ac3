//! The admin CLI, run in-process against the real server: arguments parsed as `main` parses
//! them, output captured, errors checked by gRPC code and exit code.

// `allow-unwrap-in-tests` does not reach the async bodies `backend_tests!` stamps out; a
// panic here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use scopegate::cli::{self, AdminCommand, CliError};
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, TestApp};

mod callers;
mod catalog;
mod credentials;
mod decide;
mod errors;
mod manage;

/// The admin subcommands as the binary sees them.
#[derive(Debug, Parser)]
#[command(name = "scopegate")]
pub struct Args {
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// What one command printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub out: String,
    pub result: Result<(), CliError>,
}

impl Run {
    /// The output, failing the test (with the error report) when the command failed.
    pub fn ok(self) -> String {
        match self.result {
            Ok(()) => self.out,
            Err(err) => panic!("command failed: {}", err.report()),
        }
    }

    /// The error, failing the test when the command succeeded.
    pub fn err(self) -> CliError {
        match self.result {
            Ok(()) => panic!("command succeeded unexpectedly:\n{}", self.out),
            Err(err) => err,
        }
    }

    /// The output parsed as JSON.
    pub fn json(self) -> Value {
        serde_json::from_str(&self.ok()).expect("JSON output parses")
    }
}

/// Runs `scopegate <args>` against `app` with the bootstrap key.
pub async fn scopegate(app: &TestApp, args: &[&str]) -> Run {
    scopegate_as(app, ADMIN_KEY, args).await
}

/// Runs `scopegate <args>` against `app` with `key`.
pub async fn scopegate_as(app: &TestApp, key: &str, args: &[&str]) -> Run {
    let server = format!("http://{}", app.addr);
    let argv = ["scopegate"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--server", &server, "--admin-key", key]);
    let parsed = Args::try_parse_from(argv).expect("arguments parse");
    let mut out = Vec::new();
    let result = cli::run(parsed.command, &mut out).await;
    let out = String::from_utf8(out).expect("utf-8 output");
    Run { out, result }
}

/// The first column of every table row but the header.
pub fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
