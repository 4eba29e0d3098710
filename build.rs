//! Compiles `proto/` with protox (pure Rust; no system protoc) into tonic
//! server and client code, and writes the encoded descriptor set that the
//! reflection service serves.

use prost::Message as _;
use std::path::PathBuf;

const PROTOS: [&str; 2] = [
    "proto/bedrock/gateway/v1/gateway.proto",
    "proto/bedrock/gateway/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=third_party/googleapis");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // The proto imports google/api/annotations.proto (its routes for the
    // JSON transport) from the vendored googleapis.
    let mut compiler = protox::Compiler::new(["proto", "third_party/googleapis"])?;
    compiler.include_source_info(true).include_imports(true).open_files(PROTOS)?;
    let fds = compiler.file_descriptor_set();
    // `compile_fds` does not write the descriptor set itself; reflection
    // needs it (imports included, so grpcurl and buf curl resolve them), and
    // the HTTP layer reads the messages and the annotations from it. Encoded
    // by protox itself: a round trip through prost_types would drop the
    // `google.api.http` options, which prost_types has no field for.
    std::fs::write(
        out_dir.join("gateway_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    // Code only for our own package: google.api's HttpRule is read from the
    // descriptors, never as a Rust type.
    let mut codegen = fds.clone();
    codegen.file.retain(|f| !f.name().starts_with("google/api/"));

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
        .compile_fds(codegen)?;
    Ok(())
}
