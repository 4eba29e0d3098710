# syntax=docker/dockerfile:1
#
# bedrock-gateway container image.
#
#   docker build -t bedrock-gateway .
#   docker run --rm -p 50051:50051 -p 9090:9090 bedrock-gateway --backend simulated
#
# Two stages: the builder compiles the release binary; the runtime image holds
# that one file on distroless (glibc, libgcc, CA certificates, tzdata; no
# shell, no package manager) and runs it as a numeric non-root user.
#
# The builder and the runtime must share a glibc: rust:*-bookworm and
# distroless cc-debian12 are both Debian 12. Move them together (e.g. to
# rust:*-trixie and cc-debian13), never one alone. The Rust tag follows the
# toolchain the project is developed and tested with.

FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: copy only the manifests and the lock
# file, build the whole dependency graph against stub sources, then forget the
# stub crate. This layer is reused until Cargo.toml or Cargo.lock changes, so
# a source-only change recompiles the gateway alone, not the AWS SDK.
# Cargo needs every workspace member's manifest to load the workspace (the
# other members' manifests are enough: they declare their targets and are
# never built here); the gateway needs stubs for its library, binary and build
# script (scripts/check-deploy checks both against the Cargo manifests).
COPY Cargo.toml Cargo.lock ./
COPY clients/rust/Cargo.toml clients/rust/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p src \
    && printf '//! stub\nfn main() {}\n' > build.rs \
    && printf '//! stub\nfn main() {}\n' > src/main.rs \
    && printf '//! stub\n' > src/lib.rs \
    && cargo build --release --locked --bin bedrock-gateway \
    && cargo clean --release --package bedrock-gateway \
    && rm -rf build.rs src

# The gateway itself: its build script, the protos it compiles (protox, pure
# Rust: no protoc), the seed model catalogue it embeds, and its sources.
COPY build.rs ./
COPY proto proto
COPY third_party third_party
COPY data data
COPY src src
RUN cargo build --release --locked --bin bedrock-gateway \
    && install -D -m 0755 target/release/bedrock-gateway /out/bedrock-gateway

# Runtime. The :nonroot variant's user is 65532:65532; it is named numerically
# below so that Kubernetes' runAsNonRoot can verify it without a passwd lookup
# (deploy/kubernetes/deployment.yaml uses the same UID).
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="bedrock-gateway" \
      org.opencontainers.image.description="A gRPC gateway to Amazon Bedrock text generation" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/bedrock-gateway /usr/local/bin/bedrock-gateway

# Container defaults: listen on every interface (the binary's own default is
# loopback), metrics on their own port, JSON logs for log pipelines. Every
# other setting keeps the binary's default; override any with -e or flags.
ENV BEDROCK_GATEWAY_LISTEN=0.0.0.0:50051 \
    BEDROCK_GATEWAY_METRICS_LISTEN=0.0.0.0:9090 \
    BEDROCK_GATEWAY_LOG_FORMAT=json

USER 65532:65532
# 50051: gRPC (TextGenerationService, grpc.health.v1, reflection).
# 9090: Prometheus /metrics over HTTP.
EXPOSE 50051 9090

# No HEALTHCHECK: there is no shell or probe binary in the image, and
# Kubernetes ignores HEALTHCHECK anyway; it probes grpc.health.v1 natively.
# SIGTERM (the default stop signal) starts the gateway's drain.
ENTRYPOINT ["/usr/local/bin/bedrock-gateway"]
