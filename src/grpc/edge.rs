//! The first thing every call meets: a tower layer in front of all services.
//!
//! In one pass over the request headers it:
//! - records the caller's deadline from `grpc-timeout` (see `grpc::deadline`
//!   for why tonic's own enforcement is not enough);
//! - takes the caller's `x-request-id` or makes one, and returns it;
//! - continues the caller's W3C `traceparent` (or starts a trace) and returns
//!   the gateway's own span in `traceparent`;
//! - authenticates `authorization: Bearer <key>` when API keys are configured,
//!   answering UNAUTHENTICATED itself, before any decoding.
//!
//! What it learned goes into the request's extensions as a [`CallContext`];
//! the handlers put the request ID, trace ID and key name on the call's log
//! line. At debug level a tracing span also puts them on every line of the
//! call.
//!
//! A gateway call refused without its handler's log line (a bad key here;
//! tonic's own refusals inside this layer, such as a message over
//! `--max-message-bytes`) is counted in `bedrock_gateway_requests_total` and
//! logged here with the same fields as a finished call's line. (tonic's own
//! `grpc-timeout` timer sits outside this layer. The gateway's deadline, 2 ms
//! earlier, normally answers first and the handler logs it; a call whose
//! request body is still arriving when tonic's timer fires has no line, except
//! a translated one: `crate::http` answers, counts and logs those itself, in
//! the caller's dialect, before tonic's timer.) Calls the handler
//! logged carry [`LOGGED_MARK`] in their status headers, which the edge
//! removes before the response leaves.

use super::deadline::{self, Deadline};
use super::status::to_status;
use crate::auth::{self, ApiKeys, KeyPolicy, KeyRing, Rpc};
use crate::error::GatewayError;
use crate::ids::{self, TraceId};
use crate::metrics::{code_name, Metrics, Protocol};
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

/// Status header set by a handler that logged and counted its call itself.
pub const LOGGED_MARK: &str = "x-bedrock-gateway-logged";
const LOGGED_MARK_NAME: HeaderName = HeaderName::from_static(LOGGED_MARK);
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Response header carrying the call's request ID.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The W3C trace-context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

// The same names, parsed at compile time rather than on every insert.
const REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
const TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT_HEADER);

/// What the edge learned about a call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The caller's `x-request-id`, or one the gateway made.
    pub request_id: Arc<str>,
    /// The W3C trace ID, the caller's or a new one.
    pub trace_id: TraceId,
    /// The name of the API key used, or `anonymous`.
    pub key: Arc<str>,
    /// The key's policy (the open policy when authentication is off).
    pub policy: Arc<KeyPolicy>,
    /// The caller's deadline, if it sent one.
    pub deadline: Option<Deadline>,
    /// The transport the call arrived on (set by `crate::http`; gRPC when
    /// unmarked), a label of the call's metrics and log line.
    pub protocol: Protocol,
}

/// Authentication settings.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    /// The keys at start; `None` turns authentication off. The server puts
    /// them in a [`KeyRing`], which reloads replace.
    pub keys: Option<Arc<ApiKeys>>,
    /// Also require a key for health and reflection (open by default, since
    /// probes and load balancers carry no keys).
    pub protect_health_and_reflection: bool,
}

/// The layer.
#[derive(Debug, Clone)]
pub struct EdgeLayer(Arc<Shared>);

/// What every call of the layer reads; one reference count for all of it.
#[derive(Debug)]
struct Shared {
    /// The keys in force; `None`: authentication is off.
    keys: Option<KeyRing>,
    protect_health_and_reflection: bool,
    anonymous: Arc<KeyPolicy>,
    /// The model label of refusals, which come before any model is known.
    no_model: Arc<str>,
    metrics: Arc<Metrics>,
}

impl EdgeLayer {
    /// A layer checking keys against `keys` (none: authentication off),
    /// counting refusals in `metrics`.
    pub fn new(keys: Option<KeyRing>, protect_health_and_reflection: bool, metrics: Arc<Metrics>) -> Self {
        EdgeLayer(Arc::new(Shared {
            keys,
            protect_health_and_reflection,
            anonymous: Arc::new(KeyPolicy::open(Arc::from(auth::ANONYMOUS))),
            no_model: Arc::from(""),
            metrics,
        }))
    }
}

/// The RPC name of a gateway call's path, as the metrics name it; `None`
/// for health, reflection and unknown paths.
fn gateway_rpc(path: &str) -> Option<&'static str> {
    let method = path
        .strip_prefix("/bedrock.gateway.v1.TextGenerationService/")
        .or_else(|| path.strip_prefix("/bedrock.gateway.v1.AdminService/"))?;
    crate::metrics::RPCS.into_iter().find(|m| *m == method)
}

/// The RPC a policy may withhold, for the call's path.
fn restricted_rpc(path: &str) -> Option<Rpc> {
    match path {
        "/bedrock.gateway.v1.TextGenerationService/CountTokens" => Some(Rpc::CountTokens),
        "/bedrock.gateway.v1.TextGenerationService/ListModels"
        | "/bedrock.gateway.v1.TextGenerationService/GetModel" => Some(Rpc::ListModels),
        _ if path.starts_with("/bedrock.gateway.v1.AdminService/") => Some(Rpc::Admin),
        _ => None,
    }
}

/// Counts and logs a call refused before (or without) its handler's own line.
struct Refusal<'a> {
    rpc: &'static str,
    protocol: Protocol,
    request_id: &'a str,
    trace_id: TraceId,
    key: Option<&'a str>,
    started: Instant,
}

impl Refusal<'_> {
    fn record(&self, layer: &Shared, code: tonic::Code, message: &str) {
        let latency = self.started.elapsed();
        layer.metrics.call(self.rpc, self.protocol, &layer.no_model, code, latency);
        tracing::warn!(
            rpc = self.rpc,
            protocol = self.protocol.as_str(),
            model = "",
            key = self.key.unwrap_or(""),
            request_id = self.request_id,
            trace_id = %self.trace_id,
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            code = code_name(code),
            error = message,
            "call refused"
        );
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the layer wraps around the router.
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

/// A W3C trace context: the trace continues, the span is the gateway's.
struct Trace {
    trace_id: TraceId,
    span_id: u64,
    flags: u8,
}

impl Trace {
    fn from_header(value: Option<&HeaderValue>) -> Trace {
        let parsed = value.and_then(|v| v.to_str().ok()).and_then(|v| {
            let v = v.trim();
            let mut parts = v.split('-');
            let (version, trace, parent, flags) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            // W3C trace context: lower-case hex only; version ff is invalid;
            // version 00 is exactly 55 bytes (later versions may append
            // fields); all-zero trace and parent IDs are invalid.
            let hex = |s: &str, n: usize| {
                s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            };
            let zero = |s: &str| s.bytes().all(|b| b == b'0');
            let valid = hex(version, 2)
                && version != "ff"
                && (version != "00" || v.len() == 55)
                && hex(trace, 32)
                && hex(parent, 16)
                && !zero(parent)
                && hex(flags, 2);
            if !valid {
                return None;
            }
            let trace = u128::from_str_radix(trace, 16).ok().filter(|&t| t != 0)?;
            Some((TraceId(trace), u8::from_str_radix(flags, 16).ok()?))
        });
        let (trace_id, flags) = parsed.unwrap_or_else(|| (TraceId::random(), 0x01));
        Trace {
            trace_id,
            span_id: ids::span_id(),
            flags,
        }
    }

    /// The `traceparent` value naming the gateway's span:
    /// `00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>`, 55 bytes.
    fn header(&self) -> HeaderValue {
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        ids::write_hex(&mut buf[3..35], self.trace_id.0);
        ids::write_hex(&mut buf[36..52], u128::from(self.span_id));
        ids::write_hex(&mut buf[53..55], u128::from(self.flags));
        HeaderValue::from_bytes(&buf).expect("a traceparent is ASCII hex and dashes")
    }
}

fn request_id(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(ids::request_id)
}

/// Marks a header value that is new on every call as never to be indexed:
/// HPACK would otherwise insert it into the connection's header table, where
/// it can never be used again and only evicts values that repeat.
fn never_indexed(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

fn is_gateway_rpc(path: &str) -> bool {
    path.starts_with("/bedrock.gateway.v1.")
}

impl<S, B> tower::Service<Request<B>> for Edge<S>
where
    S: tower::Service<Request<B>, Response = Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let rpc = gateway_rpc(req.uri().path());
        let protocol = Protocol::of(req.extensions());
        let deadline = deadline::from_headers(req.headers());
        let headers = req.headers();
        let request_id = request_id(headers.get(&REQUEST_ID_NAME));
        let trace = Trace::from_header(headers.get(&TRACEPARENT_NAME));
        let shared = &self.layer.0;

        let path = req.uri().path();
        let key = match &shared.keys {
            Some(keys) if is_gateway_rpc(path) || shared.protect_health_and_reflection => {
                let presented = headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(auth::bearer);
                match presented {
                    None => Err(GatewayError::unauthenticated(
                        "missing `authorization: Bearer <api key>` metadata",
                    )),
                    Some(k) => keys
                        .load()
                        .identify(k)
                        .ok_or_else(|| GatewayError::unauthenticated("the API key in `authorization` is not valid")),
                }
            }
            _ => Ok(shared.anonymous.clone()),
        };
        // The policy's RPCs: checked here, before decoding, like the key.
        // A refusal names the key (None: no valid key).
        let key = key.map_err(|e| (e, None)).and_then(|policy| match restricted_rpc(path) {
            Some(Rpc::Admin) if shared.keys.is_none() => Err((
                GatewayError::new(
                    crate::error::ErrorKind::PermissionDenied,
                    "the admin service needs API keys (--keys-file) and a key marked `admin = true`",
                ),
                None,
            )),
            Some(rpc) if !policy.allows(rpc) => Err((
                GatewayError::new(crate::error::ErrorKind::PermissionDenied, policy.refusal(rpc)),
                Some(policy.name.clone()),
            )),
            _ => Ok(policy),
        });

        // A debug-level span: at the default `info` level it is disabled and
        // costs nothing (with JSON logs an enabled span's fields are
        // serialized and re-parsed for every event). The per-call log line
        // carries the request ID, key and trace ID itself.
        let span = tracing::debug_span!(
            "call",
            path = req.uri().path(),
            request_id = %request_id,
            trace_id = %trace.trace_id,
            key = tracing::field::Empty,
        );
        let request_id_header = HeaderValue::from_str(&request_id).ok().map(never_indexed);
        let traceparent_header = never_indexed(trace.header());
        let with_headers = move |mut response: Response<tonic::body::Body>| {
            let h = response.headers_mut();
            if let Some(v) = request_id_header {
                h.insert(REQUEST_ID_NAME, v);
            }
            h.insert(TRACEPARENT_NAME, traceparent_header);
            response
        };

        match key {
            Err((error, name)) => {
                let refusal = Refusal {
                    rpc: rpc.unwrap_or("other"),
                    protocol,
                    request_id: &request_id,
                    trace_id: trace.trace_id,
                    key: name.as_deref(),
                    started,
                };
                let code = super::status::code_of(error.kind());
                span.in_scope(|| refusal.record(&self.layer.0, code, error.message()));
                let response = to_status(&error).into_http();
                Box::pin(std::future::ready(Ok(with_headers(response))))
            }
            Ok(policy) => {
                let key = policy.name.clone();
                span.record("key", &*key);
                let request_id: Arc<str> = Arc::from(request_id);
                req.extensions_mut().insert(CallContext {
                    request_id: request_id.clone(),
                    trace_id: trace.trace_id,
                    key: key.clone(),
                    policy,
                    deadline,
                    protocol,
                });
                let future = self.inner.call(req);
                let layer = self.layer.0.clone();
                Box::pin(
                    async move {
                        let mut response = future.await?;
                        match rpc {
                            Some(rpc) => {
                                let refusal = Refusal {
                                    rpc,
                                    protocol,
                                    request_id: &request_id,
                                    trace_id: trace.trace_id,
                                    key: Some(&key),
                                    started,
                                };
                                settle_refusal(&mut response, &layer, &refusal);
                            }
                            // Only gateway handlers mark; the mark never leaves.
                            None => {
                                response.headers_mut().remove(&LOGGED_MARK_NAME);
                            }
                        }
                        Ok(with_headers(response))
                    }
                    .instrument(span),
                )
            }
        }
    }
}

/// A gateway call's response that carries its status in the headers
/// (trailers-only: a refusal) was either logged by its handler, which marked
/// it, or refused before the handler finished (tonic's decoding limit, its
/// timer); the edge counts and logs the latter. The mark never leaves.
fn settle_refusal<B>(response: &mut Response<B>, layer: &Shared, refusal: &Refusal<'_>) {
    let headers = response.headers_mut();
    if !headers.contains_key(&GRPC_STATUS) || headers.remove(&LOGGED_MARK_NAME).is_some() {
        return;
    }
    // tonic reads grpc-status and the percent-encoded grpc-message.
    if let Some(status) = tonic::Status::from_header_map(headers) {
        if status.code() != tonic::Code::Ok {
            refusal.record(layer, status.code(), status.message());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_continues_its_trace_with_a_new_span() {
        let incoming =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let t = Trace::from_header(Some(&incoming));
        assert_eq!(t.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(t.span_id, 0x00f0_67aa_0ba9_02b7);
        let header = t.header();
        let header = header.to_str().unwrap();
        assert_eq!(header.len(), 55);
        assert!(
            header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{header}"
        );
        assert!(header.ends_with("-01"), "{header}");
        assert_ne!(&header[36..52], "00f067aa0ba902b7");
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let incoming = HeaderValue::from_static(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
        );
        let t = Trace::from_header(Some(&incoming));
        assert_eq!(t.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn the_traceparent_header_is_the_w3c_layout() {
        let t = Trace {
            trace_id: TraceId(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
            span_id: 0xb7ad_6b71_6920_3331,
            flags: 1,
        };
        assert_eq!(
            t.header(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        let t = Trace {
            trace_id: TraceId(1),
            span_id: u64::MAX,
            flags: 0,
        };
        assert_eq!(
            t.header(),
            "00-00000000000000000000000000000001-ffffffffffffffff-00"
        );
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let t = Trace::from_header(Some(&HeaderValue::from_static(bad)));
            assert_ne!(t.trace_id.0, 0, "{bad}");
            assert_ne!(t.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(t.flags, 0x01, "{bad}");
        }
    }

    #[test]
    fn only_the_gateway_rpcs_are_counted() {
        assert_eq!(
            gateway_rpc("/bedrock.gateway.v1.TextGenerationService/Generate"),
            Some("Generate")
        );
        assert_eq!(
            gateway_rpc("/bedrock.gateway.v1.TextGenerationService/CountTokens"),
            Some("CountTokens")
        );
        assert_eq!(
            gateway_rpc("/bedrock.gateway.v1.TextGenerationService/Nope"),
            None
        );
        assert_eq!(gateway_rpc("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        assert_eq!(
            request_id(Some(&HeaderValue::from_static("abc-123"))),
            "abc-123"
        );
        assert_eq!(request_id(None).len(), 36);
        let long = "x".repeat(200);
        assert_eq!(
            request_id(Some(&HeaderValue::from_str(&long).unwrap())).len(),
            36
        );
    }
}
