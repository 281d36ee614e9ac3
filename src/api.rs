//! The gRPC layer: thin handlers per service, proto conversion, admin authentication and the
//! one error-to-status table.

pub mod admin;
pub mod admin_token;
pub mod auth;
pub mod convert;
pub mod decision;
pub mod ext_authz;
pub mod gateway;
pub mod introspection;
pub mod status;
pub(crate) mod subject;
