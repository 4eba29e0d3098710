//! Compiles `proto/` with protox (pure Rust; no system protoc) into tonic
//! server and client code, and writes the encoded descriptor set that the
//! reflection service serves.

use prost::Message as _;
use std::path::PathBuf;

const PROTO: &str = "proto/bedrock/gateway/v1/gateway.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=third_party/googleapis");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile([PROTO], ["proto"])?;
    // `compile_fds` does not write the descriptor set itself; reflection needs it.
    std::fs::write(
        out_dir.join("gateway_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    // google.rpc error details: served by reflection only (no code), so that
    // grpcurl can print our errors' details.
    let details = protox::compile(["google/rpc/error_details.proto"], ["third_party/googleapis"])?;
    std::fs::write(
        out_dir.join("error_details_descriptor.bin"),
        details.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Image and document bytes as `bytes::Bytes`: decoding slices the
        // request buffer instead of copying it, and the domain shares them.
        .bytes(".bedrock.gateway.v1")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
