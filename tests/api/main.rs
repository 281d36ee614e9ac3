//! One integration binary: every test starts the real server on port 0 against a fresh
//! database and drives it through the generated gRPC clients. Tests written with
//! `backend_tests!` run once on SQLite and once on Postgres.

// The whole binary is test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod http_door;
mod jwks_server;
mod process;
mod tokens;

mod admin_auth;
mod authzen;
mod bench;
mod bound_tokens;
mod callers;
mod cli;
mod coherence;
mod conformance;
mod decision;
mod decision_log;
mod deploy;
mod dpop;
mod ext_authz;
mod first_run;
mod health;
mod introspection;
mod jwks_destinations;
mod limits;
mod limits_input;
mod logs;
mod manage_scope;
mod mcp;
mod nginx;
mod opaque;
mod otlp;
mod outage;
mod replicas;
mod resources;
mod roles_claims;
mod store_failures;
mod tenants_clients_operations;
mod tls;
mod token_types;
