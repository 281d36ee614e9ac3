//! scopegate: token introspection, scope decisions and per-tenant OAuth scope catalogs.

pub mod api;
pub mod app;
pub mod bench;
pub mod catalogs;
pub mod cli;
pub mod config;
pub mod introspect;
pub mod pb;
pub mod preset;
pub mod scope;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod token;
