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
