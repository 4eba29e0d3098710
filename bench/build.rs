//! Generates client and server stubs for the gateway's contract with protox
//! (no system protoc): the floor server serves the same service, and the
//! load generator encodes and decodes the same messages.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto");
    println!("cargo:rerun-if-changed=../third_party/googleapis");
    let fds = protox::compile(
        ["bedrock/gateway/v1/gateway.proto"],
        ["../proto", "../third_party/googleapis"],
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
