//! bedrock-gateway: a gRPC gateway to Amazon Bedrock text generation.
//!
//! Data flows one way through these modules:
//!
//!
//! ```text
//! client ─gRPC─> grpc (tonic service) ─> validation ─> backend::Backend ─> bedrock | simulated | test mock
//!        <─pb──  grpc::convert        <──────────── domain results / events
//! ```
//!
//! - [`config`] — command-line flags and their `BEDROCK_GATEWAY_*` variables.
//! - [`auth`] — hashed API keys and constant-time lookup.
//! - [`ids`] — request, trace and span IDs, without a system call each.
//! - [`limits`] — admission: the concurrency limit and per-key GCRA rate limits.
//! - [`metrics`] — Prometheus metrics and their `/metrics` endpoint.
//! - [`server`] — `run(listener, backend, config, shutdown)`: health, reflection, drain.
//! - [`http`] — gRPC-Web, Connect and the JSON routes (with SSE) on the gRPC
//!   port: a translation layer over the same gRPC service, and CORS.
//! - [`grpc`] — the edge layer (deadline, request ID, trace context, API keys),
//!   the `TextGenerationService` handlers, the streaming relay, and the one
//!   mapping of errors to gRPC statuses.
//! - [`validation`] — protobuf requests into [`domain`] requests, or field violations.
//! - [`domain`] — plain Rust types; nothing behind the backend trait sees protobuf.
//! - [`error`] — the one error type and its one mapping to gRPC status codes.
//! - [`backend`] — the [`backend::Backend`] trait, the simulated and Bedrock backends.
//! - [`model`] — the model room: identifiers, catalogue, capabilities, the
//!   directory that resolves a request's model once, and the model rules.
//! - [`pb`] — the generated protobuf code and descriptor set, behind one door.
//! - [`telemetry`] — logging.

pub mod auth;
pub mod backend;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod pb;
pub mod server;
pub mod telemetry;
pub mod validation;
