//! One integration binary: every test starts the real server on port 0 against a fresh
//! database and drives it through the generated gRPC clients. Tests written with
//! `backend_tests!` run once on SQLite and once on Postgres.

mod helpers;

mod admin_auth;
mod cli;
mod conformance;
mod health;
mod manage_scope;
mod tenants_clients_operations;
