//! Generated gRPC code of the `scopegate.v1` contract, walled off with its own lint allows.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]

tonic::include_proto!("scopegate.v1");

/// The encoded file descriptor set of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("scopegate_descriptor");

/// The encoded file descriptor set of Envoy's `envoy.service.auth.v3` ext_authz service and its
/// imports, for server reflection (compiled from `proto/vendor/envoy`: `envoy-types` has none).
pub const ENVOY_EXT_AUTHZ_FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("envoy_ext_authz_descriptor");
