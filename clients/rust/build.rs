//! Generates client-only stubs from the repository's proto with protox.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto");
    println!("cargo:rerun-if-changed=../../third_party/googleapis");
    // The contract imports google/api/annotations.proto (its HTTP/JSON
    // routes) from the vendored googleapis.
    // admin.proto: the admin service (`usage`); same package, so its stubs
    // land in the same module.
    let mut fds = protox::compile(
        [
            "bedrock/gateway/v1/gateway.proto",
            "bedrock/gateway/v1/admin.proto",
        ],
        ["../../proto", "../../third_party/googleapis"],
    )?;
    // Stubs for our own package only: google.api's types are never used.
    fds.file.retain(|f| !f.name().starts_with("google/api/"));
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
