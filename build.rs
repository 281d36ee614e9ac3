//! Compiles the gRPC contract with protox (pure Rust, no system `protoc`) and writes the
//! descriptor sets that server reflection serves (and the CLI's proto3 JSON reads): ours, and
//! Envoy's ext_authz v3 (descriptor only: its types come from `envoy-types`, see
//! `proto/vendor/envoy/README.md`). Also sets
//! `cfg(scopegate_pg)` when the Postgres half of the test suite is to run, so that without it
//! those tests report as ignored (a runtime check could only let them pass without running).

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
    postgres_tests_cfg();
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
    // `prost::Name` on every message: the CLI finds a message's descriptor by its full name.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

/// `cfg(scopegate_pg)` when `SCOPEGATE_TEST_POSTGRES_URL` is set, or when CI requires Postgres
/// (`SCOPEGATE_REQUIRE_POSTGRES=1`): then a missing URL fails the tests instead of skipping them.
fn postgres_tests_cfg() {
    println!("cargo::rustc-check-cfg=cfg(scopegate_pg)");
    println!("cargo:rerun-if-env-changed=SCOPEGATE_TEST_POSTGRES_URL");
    println!("cargo:rerun-if-env-changed=SCOPEGATE_REQUIRE_POSTGRES");
    let url_set = env::var("SCOPEGATE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let required = env::var("SCOPEGATE_REQUIRE_POSTGRES").as_deref() == Ok("1");
    if url_set || required {
        println!("cargo:rustc-cfg=scopegate_pg");
    }
}
