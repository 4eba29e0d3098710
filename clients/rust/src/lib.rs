//! `bedrock-client`: a command-line client for the bedrock-gateway gRPC service.
//!
//! The binary is a thin `main` over these modules, so the integration tests
//! and other tools can reuse the pieces:
//!
//! - [`cli`] — the clap types: global flags and one subcommand per RPC.
//! - [`request`] — command-line values into protobuf requests.
//! - [`content`] — `--image`, `--document` and `--tool-result` as content blocks.
//! - [`tools`] — `--tools`, `--tool-choice` and `--json-schema`.
//! - [`conversation`] — the JSON conversation files of `--messages` and `--save`.
//! - [`commands`] — connecting, calling and choosing an exit code.
//! - [`tls`] — the TLS configuration for https:// addresses.
//! - [`render`] — responses into text, tables and hand-written JSON.
//! - [`error`] — the client's error type and how errors are printed.
//! - [`pb`] — the generated client stubs and messages.

pub mod cli;
pub mod commands;
pub mod content;
pub mod conversation;
pub mod error;
pub mod render;
pub mod request;
pub mod tls;
pub mod tools;

/// The generated protobuf messages and the `TextGenerationService` and
/// `AdminService` clients.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("bedrock.gateway.v1");
}
