//! The API layer: thin gRPC handlers per service, the gateway doors (Envoy ext_authz, the HTTP
//! door) over one decision core (`gateway`), proto conversion, admin authentication and the one
//! error-to-status table.

pub mod admin;
pub mod admin_token;
pub mod auth;
pub mod callers;
pub mod client_secret;
pub mod convert;
pub mod decision;
pub mod ext_authz;
pub mod gateway;
pub mod http;
pub mod introspection;
pub mod status;
pub(crate) mod subject;

pub use subject::{Presentation, ProofHeader, TokenScheme, access_token};
