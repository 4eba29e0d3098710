//! Prometheus metrics, served as text at `/metrics` on their own HTTP port.
//!
//! One [`Metrics`] per server (not a process-global recorder), so tests that
//! run several servers in one process each read their own numbers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

// Model and key labels are `Arc<str>`s shared with the call, so recording a
// call copies no strings.

/// Labels of a finished call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    rpc: &'static str,
    protocol: &'static str,
    model: Arc<str>,
    code: &'static str,
}

/// Labels of an RPC's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    rpc: &'static str,
}

/// Labels of a model's time to first token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: Arc<str>,
}

/// Labels of token counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: Arc<str>,
    key: Arc<str>,
}

/// Labels of the service-tier counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    model: Arc<str>,
    key: Arc<str>,
    tier: &'static str,
}

/// Labels of content-block counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlockLabels {
    model: Arc<str>,
    kind: &'static str,
}

/// Labels of upstream errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    error_type: String,
}

/// Labels of refusals by the gateway's own limits.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    key: Arc<str>,
    limit: &'static str,
}

/// The transport a call arrived on: the `protocol` label of the request
/// counter and the `protocol` field of the call's log line.
///
/// The HTTP layer (`crate::http`) puts it in a request's extensions for every
/// call that is not plain gRPC; a call without one is gRPC, so plain gRPC
/// calls carry nothing extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// gRPC over HTTP/2.
    #[default]
    Grpc,
    /// gRPC-Web, binary or text, translated by tonic-web.
    GrpcWeb,
    /// The Connect protocol, unary or server-streaming, JSON or binary.
    Connect,
    /// The JSON routes (`/v1/...`), Server-Sent Events included.
    HttpJson,
}

impl Protocol {
    /// The label value: `grpc`, `grpc-web`, `connect` or `http-json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
            Protocol::Connect => "connect",
            Protocol::HttpJson => "http-json",
        }
    }

    /// The protocol of a request, from its extensions (gRPC when unmarked).
    pub fn of(extensions: &http::Extensions) -> Protocol {
        extensions.get::<Protocol>().copied().unwrap_or_default()
    }
}

/// The service's RPCs, as the handlers (and the edge) name them.
pub const RPCS: [&str; 6] = [
    "Generate",
    "GenerateStream",
    "ListModels",
    "GetModel",
    "CountTokens",
    "GetUsage",
];

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~65 s: gateway overhead at the bottom, long generations at the top.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<CallLabels, Counter>,
    latency: Family<RpcLabels, Histogram, fn() -> Histogram>,
    /// The latency histogram of each RPC, looked up once: the RPCs are
    /// known at start, so a call's latency needs no family lookup.
    latency_by_rpc: Vec<(&'static str, Histogram)>,
    time_to_first_token: Family<ModelLabels, Histogram, fn() -> Histogram>,
    input_tokens: Family<TokenLabels, Counter>,
    output_tokens: Family<TokenLabels, Counter>,
    cache_read_tokens: Family<TokenLabels, Counter>,
    cache_write_tokens: Family<TokenLabels, Counter>,
    guardrail_interventions: Family<TokenLabels, Counter>,
    service_tiers: Family<TierLabels, Counter>,
    streams_in_flight: Gauge,
    upstream_errors: Family<UpstreamLabels, Counter>,
    limit_refusals: Family<LimitLabels, Counter>,
    content_blocks: Family<BlockLabels, Counter>,
    tool_calls: Family<ModelLabels, Counter>,
    limit_store_errors: Counter,
    limit_store_fallback: Gauge,
    fleet_replicas: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bedrock_gateway");
        let requests = Family::<CallLabels, Counter>::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let time_to_first_token = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let input_tokens = Family::<TokenLabels, Counter>::default();
        let output_tokens = Family::<TokenLabels, Counter>::default();
        let cache_read_tokens = Family::<TokenLabels, Counter>::default();
        let cache_write_tokens = Family::<TokenLabels, Counter>::default();
        let guardrail_interventions = Family::<TokenLabels, Counter>::default();
        let service_tiers = Family::<TierLabels, Counter>::default();
        let streams_in_flight = Gauge::default();
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        let limit_refusals = Family::<LimitLabels, Counter>::default();
        let content_blocks = Family::<BlockLabels, Counter>::default();
        let tool_calls = Family::<ModelLabels, Counter>::default();
        let limit_store_errors = Counter::default();
        let limit_store_fallback = Gauge::default();
        let fleet_replicas = Gauge::default();
        registry.register("requests", "Calls by RPC, transport protocol, model and gRPC status code: finished, refused or cancelled", requests.clone());
        registry.register("request_duration_seconds", "Call latency by RPC, to the last message", latency.clone());
        registry.register(
            "time_to_first_token_seconds",
            "GenerateStream: time from the call to its first text delta, by model",
            time_to_first_token.clone(),
        );
        registry.register("input_tokens", "Input tokens by model and API key", input_tokens.clone());
        registry.register(
            "output_tokens",
            "Output tokens (reasoning included) by model and API key",
            output_tokens.clone(),
        );
        registry.register(
            "cache_read_input_tokens",
            "Input tokens read from the prompt cache, by model and API key",
            cache_read_tokens.clone(),
        );
        registry.register(
            "cache_write_input_tokens",
            "Input tokens written to the prompt cache, by model and API key",
            cache_write_tokens.clone(),
        );
        registry.register(
            "guardrail_interventions",
            "Generations a guardrail intervened in, by model and API key",
            guardrail_interventions.clone(),
        );
        registry.register(
            "service_tier_requests",
            "Generations by the service tier Bedrock served them on, by model and API key",
            service_tiers.clone(),
        );
        registry.register("streams_in_flight", "GenerateStream calls open now", streams_in_flight.clone());
        registry.register(
            "upstream_errors",
            "Errors from Bedrock by error type (ThrottlingException, ...)",
            upstream_errors.clone(),
        );
        registry.register(
            "limit_refusals",
            "Calls refused by the gateway's own limits, by key and limit (concurrency, requests, tokens, \
             tokens_per_day, tokens_per_month, limits_store)",
            limit_refusals.clone(),
        );
        registry.register(
            "content_blocks",
            "Content blocks other than text in generation requests, by model and kind (image, \
             document, tool_use, tool_result)",
            content_blocks.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls in generation answers, by model",
            tool_calls.clone(),
        );
        registry.register(
            "limit_store_errors",
            "Calls to the shared limits store (Redis) that failed or timed out (--redis-timeout)",
            limit_store_errors.clone(),
        );
        registry.register(
            "limit_store_fallback",
            "1 while the shared limits store is not answering and admission uses this replica's \
             share of each limit, else 0",
            limit_store_fallback.clone(),
        );
        registry.register(
            "fleet_replicas",
            "Replicas sharing the limits store, as last seen in its heartbeats (1 with the local store)",
            fleet_replicas.clone(),
        );
        fleet_replicas.set(1);
        let latency_by_rpc = RPCS
            .iter()
            .map(|&rpc| (rpc, latency.get_or_create(&RpcLabels { rpc }).clone()))
            .collect();
        Metrics {
            registry,
            requests,
            latency,
            latency_by_rpc,
            time_to_first_token,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            guardrail_interventions,
            service_tiers,
            streams_in_flight,
            upstream_errors,
            limit_refusals,
            content_blocks,
            tool_calls,
            limit_store_errors,
            limit_store_fallback,
            fleet_replicas,
        }
    }

    /// Counts a failed or timed-out call to the shared limits store.
    pub fn limit_store_error(&self) {
        self.limit_store_errors.inc();
    }

    /// Says whether admission runs on this replica's share of the limits
    /// because the shared store is not answering.
    pub fn limit_store_fallback(&self, on: bool) {
        self.limit_store_fallback.set(i64::from(on));
    }

    /// The replicas sharing the limits store.
    pub fn fleet_replicas(&self, n: u64) {
        self.fleet_replicas.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts `count` request blocks of `kind` ("image", "tool_result", ...).
    pub fn content_blocks(&self, model: &Arc<str>, kind: &'static str, count: u64) {
        self.content_blocks
            .get_or_create(&BlockLabels { model: model.clone(), kind })
            .inc_by(count);
    }

    /// Counts tool calls in an answer.
    pub fn tool_calls(&self, model: &Arc<str>, count: u64) {
        self.tool_calls
            .get_or_create(&ModelLabels { model: model.clone() })
            .inc_by(count);
    }

    /// Records a finished call, with the transport it arrived on.
    pub fn call(
        &self,
        rpc: &'static str,
        protocol: Protocol,
        model: &Arc<str>,
        code: tonic::Code,
        latency: Duration,
    ) {
        self.requests
            .get_or_create(&CallLabels {
                rpc,
                protocol: protocol.as_str(),
                model: model.clone(),
                code: code_name(code),
            })
            .inc();
        let seconds = latency.as_secs_f64();
        match self.latency_by_rpc.iter().find(|(name, _)| *name == rpc) {
            Some((_, histogram)) => histogram.observe(seconds),
            None => self.latency.get_or_create(&RpcLabels { rpc }).observe(seconds),
        }
    }

    /// Records a stream's time to first token.
    pub fn first_token(&self, model: &Arc<str>, after: Duration) {
        self.time_to_first_token
            .get_or_create(&ModelLabels {
                model: model.clone(),
            })
            .observe(after.as_secs_f64());
    }

    /// Counts tokens used: input (not cached), output, and the prompt
    /// cache's reads and writes (counted only when there are some).
    pub fn tokens(&self, model: &Arc<str>, key: &Arc<str>, used: TokenCounts) {
        let labels = TokenLabels {
            model: model.clone(),
            key: key.clone(),
        };
        self.input_tokens.get_or_create(&labels).inc_by(u64::from(used.input));
        self.output_tokens.get_or_create(&labels).inc_by(u64::from(used.output));
        if used.cache_read > 0 {
            self.cache_read_tokens.get_or_create(&labels).inc_by(u64::from(used.cache_read));
        }
        if used.cache_write > 0 {
            self.cache_write_tokens.get_or_create(&labels).inc_by(u64::from(used.cache_write));
        }
    }

    /// Counts a generation a guardrail intervened in.
    pub fn guardrail_intervened(&self, model: &Arc<str>, key: &Arc<str>) {
        self.guardrail_interventions
            .get_or_create(&TokenLabels {
                model: model.clone(),
                key: key.clone(),
            })
            .inc();
    }

    /// Counts a generation by the service tier it was served on ("default",
    /// "priority", "flex", "reserved").
    pub fn served_on_tier(&self, model: &Arc<str>, key: &Arc<str>, tier: &'static str) {
        self.service_tiers
            .get_or_create(&TierLabels {
                model: model.clone(),
                key: key.clone(),
                tier,
            })
            .inc();
    }

    /// Counts an upstream error.
    pub fn upstream_error(&self, error_type: &str) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                error_type: error_type.to_owned(),
            })
            .inc();
    }

    /// Counts a refusal by a gateway limit (`concurrency`, `requests`, `tokens`,
    /// `tokens_per_day`, `tokens_per_month`, `limits_store`).
    pub fn limit_refused(&self, key: &Arc<str>, limit: &'static str) {
        self.limit_refusals
            .get_or_create(&LimitLabels {
                key: key.clone(),
                limit,
            })
            .inc();
    }

    /// Marks a stream open until the returned guard drops.
    pub fn stream_opened(self: &Arc<Self>) -> StreamGuard {
        self.streams_in_flight.inc();
        StreamGuard(self.clone())
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// One call's token counts, as the metrics split them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenCounts {
    /// Input neither read from nor written to the prompt cache.
    pub input: u32,
    /// Output, reasoning included.
    pub output: u32,
    /// Input read from the prompt cache.
    pub cache_read: u32,
    /// Input written to the prompt cache.
    pub cache_write: u32,
}

/// Keeps the in-flight stream gauge up while alive.
#[derive(Debug)]
pub struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams_in_flight.dec();
    }
}

/// Serves, until `shutdown` completes, on `listener`:
/// - `GET /metrics`: Prometheus text;
/// - `GET /healthz`: 200 while the process serves (liveness);
/// - `GET /readyz`: 200 when ready, 503 otherwise (readiness; NOT ready from
///   the start of a shutdown).
///
/// The probes are plain HTTP, for deployments whose gRPC port speaks TLS,
/// which the kubelet's gRPC probes cannot.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: tokio::sync::watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let ready = *ready.borrow();
                async move {
                    let text = |status: u16, body: &'static str| {
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "text/plain; charset=utf-8")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                    };
                    let response = match req.uri().path() {
                        "/metrics" => hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                            .body(Full::new(Bytes::from(metrics.render()))),
                        "/healthz" => text(200, "ok\n"),
                        "/readyz" if ready => text(200, "ready\n"),
                        "/readyz" => text(503, "not ready\n"),
                        _ => text(404, "see /metrics, /healthz and /readyz\n"),
                    };
                    Ok::<_, hyper::http::Error>(response.expect("static response parts are valid"))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}
/// The canonical upper-case name of a code, e.g. `INVALID_ARGUMENT`: the
/// `code` label of the metrics, and the log line's `code`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

