//! Compiles the gRPC contract with protox (pure Rust, no system `protoc`) and writes the
//! descriptor sets that server reflection serves: ours, and Envoy's ext_authz v3 (descriptor
//! only: its types come from `envoy-types`, see `proto/vendor/envoy/README.md`).

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: [&str; 4] = [
    "scopegate/v1/common.proto",
    "scopegate/v1/introspection.proto",
    "scopegate/v1/decision.proto",
    "scopegate/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("scopegate_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    let envoy = protox::compile(
        ["envoy/service/auth/v3/external_auth.proto"],
        ["proto/vendor/envoy"],
    )?;
    fs::write(
        out_dir.join("envoy_ext_authz_descriptor.bin"),
        envoy.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
