//! gRPC-Web, Connect and plain HTTP/JSON on the gRPC port: a translation
//! layer over the very same gRPC service, in-process.
//!
//! [`HttpLayer`] sits outside tonic-web's `GrpcWebLayer` and the edge layer
//! (see `server::run` for the whole stack). For each request it does one of
//! three things:
//!
//! - `content-type: application/grpc…` passes straight through: a gRPC call
//!   pays here one `content-type` lookup, a prefix comparison and a
//!   comparison with tonic-web's four gRPC-Web types; then, further in,
//!   tonic-web's own request-kind check, the edge's lookup of the
//!   [`Protocol`] extension, and one more label on the request counter (see
//!   ARCHITECTURE.md). gRPC-Web (exactly tonic-web's types, translated by
//!   tonic-web just inside) is marked with its [`Protocol`].
//! - A Connect call (`POST /bedrock.gateway.v1.TextGenerationService/<RPC>`
//!   with a JSON or protobuf body) or a JSON route (`/v1/…`, the RPCs'
//!   `google.api.http` annotations) becomes an inner gRPC request: the body,
//!   read lazily and bounded by `--max-message-bytes`, is converted into the
//!   protobuf message (canonical proto3 JSON through `prost-reflect`) and
//!   framed; `authorization`, `x-request-id` and `traceparent` are carried
//!   over, and the deadline (`grpc-timeout` or `Connect-Timeout-Ms`, the
//!   shorter) becomes the inner `grpc-timeout`, `INNER_MARGIN` earlier
//!   (see there for why; a `Connect-Timeout-Ms` that is not one is
//!   refused). A cross-site POST a browser sends without a preflight is
//!   refused unless `--cors-allow-origin` allows its origin. The inner call
//!   therefore meets the edge (keys, request IDs, deadlines), tonic's size
//!   limit, validation, limits, metrics and logs exactly as a gRPC call
//!   does. Its gRPC response (frames and trailers) is translated back:
//!   `connect.rs` for Connect, `json.rs` for the JSON routes and their
//!   Server-Sent Events.
//! - Anything else goes on unchanged (tonic-web answers HTTP/1.1 requests it
//!   does not know with 400), except an unknown method on the service's
//!   path, which is Connect's `unimplemented` (HTTP 404).
//!
//! Every error this module writes goes through `error_response`, in the
//! dialect's shape, and every status it makes through `status`.
//!
//! The body is converted only when tonic reads it, after the edge has
//! authenticated the call, so a caller without a key learns nothing about
//! the request shape, and a malformed body is a refusal the edge counts and
//! logs like tonic's own.
//!
//! Streams: the translated response body owns the inner gRPC body, so when
//! the HTTP client goes away and hyper drops the response, the inner body
//! drops with it and tonic drops the handler's stream, which stops the
//! backend: the same path a cancelled gRPC stream takes.

mod codec;
mod connect;
pub mod cors;
mod json;

use crate::error::{ErrorKind, GatewayError};
use crate::grpc::status::to_status;
use crate::metrics::{Metrics, Protocol};
use codec::{Decode, Output, Schema};
use futures::future::{BoxFuture, Either};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Version};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::body::Body;
use tonic::{Code, Status};

/// The service's RPCs, as Connect paths and the JSON routes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Generate,
    GenerateStream,
    ListModels,
    GetModel,
    CountTokens,
}

impl Rpc {
    const ALL: [Rpc; 5] = [
        Rpc::Generate,
        Rpc::GenerateStream,
        Rpc::ListModels,
        Rpc::GetModel,
        Rpc::CountTokens,
    ];

    fn name(self) -> &'static str {
        match self {
            Rpc::Generate => "Generate",
            Rpc::GenerateStream => "GenerateStream",
            Rpc::ListModels => "ListModels",
            Rpc::GetModel => "GetModel",
            Rpc::CountTokens => "CountTokens",
        }
    }

    /// The gRPC path the inner request takes.
    fn path(self) -> &'static str {
        match self {
            Rpc::Generate => "/bedrock.gateway.v1.TextGenerationService/Generate",
            Rpc::GenerateStream => "/bedrock.gateway.v1.TextGenerationService/GenerateStream",
            Rpc::ListModels => "/bedrock.gateway.v1.TextGenerationService/ListModels",
            Rpc::GetModel => "/bedrock.gateway.v1.TextGenerationService/GetModel",
            Rpc::CountTokens => "/bedrock.gateway.v1.TextGenerationService/CountTokens",
        }
    }

    fn streaming(self) -> bool {
        self == Rpc::GenerateStream
    }
}

/// What a translated request speaks, and so how its answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Connect unary; `json` for `application/json`, else `application/proto`.
    ConnectUnary { json: bool },
    /// Connect server streaming (`application/connect+json` or `+proto`).
    ConnectStream { json: bool },
    /// A JSON route answering one JSON object.
    Json,
    /// `POST /v1/generate:stream`: Server-Sent Events.
    Sse,
}

/// The layer. Build once per server; cloning shares the descriptors.
#[derive(Debug, Clone)]
pub struct HttpLayer(Arc<Shared>);

/// What every translated call reads, built once.
#[derive(Debug)]
struct Shared {
    schema: Schema,
    max_message_bytes: usize,
    origins: cors::Origins,
    metrics: Arc<Metrics>,
    no_model: Arc<str>,
}

impl HttpLayer {
    /// A layer whose request bodies may be at most `max_message_bytes` (the
    /// limit tonic applies to the gRPC message they become), which refuses
    /// cross-site requests from origins `origins` does not allow, and counts
    /// the calls it answers itself (a deadline that passed mid-translation)
    /// in `metrics`.
    pub fn new(max_message_bytes: usize, origins: cors::Origins, metrics: Arc<Metrics>) -> Self {
        HttpLayer(Arc::new(Shared {
            schema: Schema::load(),
            max_message_bytes,
            origins,
            metrics,
            no_model: Arc::from(""),
        }))
    }
}

impl<S> tower::Layer<S> for HttpLayer {
    type Service = Http<S>;
    fn layer(&self, inner: S) -> Http<S> {
        Http {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// The service the layer wraps around tonic-web, the edge and the routes.
#[derive(Debug, Clone)]
pub struct Http<S> {
    inner: S,
    shared: Arc<Shared>,
}

const CONNECT_TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const SERVICE_PREFIX: &str = "/bedrock.gateway.v1.TextGenerationService/";

/// How much earlier than the caller's timeout the inner call's deadline
/// falls (at most half the timeout): the handler's DEADLINE_EXCEEDED, which
/// it counts and logs, then has this long to be translated before...
const INNER_MARGIN: Duration = Duration::from_millis(10);
/// ...this layer answers DEADLINE_EXCEEDED itself (in the dialect's shape),
/// this long (at most a quarter of the timeout) before tonic's own
/// `grpc-timeout` timer, which wraps the whole stack and reads the outer
/// request, would answer in gRPC's shape (`200 application/grpc`,
/// `grpc-status: 1`). tokio's timer has 1 ms ticks.
const ANSWER_MARGIN: Duration = Duration::from_millis(2);

/// tonic-web's content types, exactly as it matches them.
fn is_grpc_web(content_type: &[u8]) -> bool {
    matches!(
        content_type,
        b"application/grpc-web"
            | b"application/grpc-web+proto"
            | b"application/grpc-web-text"
            | b"application/grpc-web-text+proto"
    )
}

type Answer<E> = BoxFuture<'static, Result<Response<Body>, E>>;

fn answer_now<E: Send + 'static>(response: Response<Body>) -> Answer<E> {
    Box::pin(std::future::ready(Ok(response)))
}

impl<S> tower::Service<Request<Body>> for Http<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Answer<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // gRPC and gRPC-Web pass on after a check of the content type's
        // prefix (and, for gRPC-Web, a match of tonic-web's four types).
        let content_type = req.headers().get(CONTENT_TYPE).map_or(&b""[..], HeaderValue::as_bytes);
        if content_type.starts_with(b"application/grpc") {
            if is_grpc_web(content_type) {
                req.extensions_mut().insert(Protocol::GrpcWeb);
            }
            return Either::Left(self.inner.call(req));
        }
        let started = Instant::now();
        let (rpc, dialect, decode) = match route(&req) {
            Routed::Call(rpc, dialect, decode) => (Some(rpc), dialect, decode),
            Routed::Other(dialect, decode) => (None, dialect, decode),
            Routed::Refuse(dialect, status, http) => {
                let output = self.shared.schema.output(None);
                return Either::Right(answer_now(error_response(dialect, &output, &status, http)));
            }
            Routed::Pass => return Either::Left(self.inner.call(req)),
        };
        let shared = self.shared.clone();
        let output = shared.schema.output(rpc);
        if let Some(status) = cross_site(&req, &shared.origins) {
            // Answered as the JSON routes answer, whatever the route.
            return Either::Right(answer_now(error_response(Dialect::Json, &output, &status, None)));
        }
        let timeout = match timeout(req.headers()) {
            Ok(timeout) => timeout,
            Err(status) => return Either::Right(answer_now(error_response(dialect, &output, &status, None))),
        };
        let input = rpc.map(|rpc| shared.schema.input(rpc));
        let (parts, body) = req.into_parts();
        let uri = match rpc {
            Some(rpc) => http::Uri::from_static(rpc.path()),
            None => parts.uri.path().parse().unwrap_or_else(|_| parts.uri.clone()),
        };
        let inner_timeout = timeout.map(|t| t.saturating_sub(INNER_MARGIN.min(t / 2)));
        let answer_by = timeout.map(|t| tokio::time::Instant::from_std(started) + t.saturating_sub(ANSWER_MARGIN.min(t / 4)));
        let request_id = parts.headers.get(&REQUEST_ID).cloned();
        let protocol = protocol_of(dialect);
        let body = codec::request_body(body, decode, input, shared.max_message_bytes);
        let future = self.inner.call(inner_request(&parts, uri, protocol, inner_timeout, body));
        let translate = {
            let output = output.clone();
            async move {
                let response = future.await?;
                Ok(match dialect {
                    Dialect::ConnectUnary { json } => connect::unary(response, json, &output).await,
                    Dialect::ConnectStream { json } => connect::stream(response, json, output),
                    Dialect::Json => json::unary(response, &output).await,
                    Dialect::Sse => json::sse(response, output),
                })
            }
        };
        let Some(answer_by) = answer_by else {
            return Either::Right(Box::pin(translate));
        };
        Either::Right(Box::pin(async move {
            match tokio::time::timeout_at(answer_by, translate).await {
                Ok(answer) => answer,
                Err(_) => {
                    // The inner call (dropped now) had not answered by its
                    // deadline: answered, counted and logged here.
                    let timeout = timeout.unwrap_or_default();
                    let status = status(
                        Code::DeadlineExceeded,
                        format!("the call's deadline ({timeout:?}) passed before it was answered"),
                    );
                    if let Some(rpc) = rpc {
                        record_refusal(&shared, rpc, protocol, &parts.headers, started, &status);
                    }
                    let mut response = error_response(dialect, &output, &status, None);
                    if let Some(id) = request_id {
                        response.headers_mut().insert(REQUEST_ID, id);
                    }
                    Ok(response)
                }
            }
        }))
    }
}

/// Counts and logs a call this layer answered itself, as the edge does its
/// refusals.
fn record_refusal(shared: &Shared, rpc: Rpc, protocol: Protocol, headers: &http::HeaderMap, started: Instant, status: &Status) {
    let latency = started.elapsed();
    shared
        .metrics
        .call(rpc.name(), protocol, &shared.no_model, status.code(), latency);
    tracing::warn!(
        rpc = rpc.name(),
        protocol = protocol.as_str(),
        model = "",
        key = "",
        request_id = headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or(""),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        code = crate::metrics::code_name(status.code()),
        error = status.message(),
        "call refused"
    );
}

/// Where a request goes.
enum Routed {
    /// Translate it into a call of this RPC.
    Call(Rpc, Dialect, Decode),
    /// A Connect call in protobuf of another service (health, reflection):
    /// its messages pass as they are (a Connect envelope is a gRPC frame),
    /// so `buf curl --protocol connect` can use reflection.
    Other(Dialect, Decode),
    /// Answer at once with this status in this dialect, with this HTTP
    /// status rather than the code's own.
    Refuse(Dialect, Status, Option<StatusCode>),
    /// Not ours: on to tonic-web and tonic.
    Pass,
}

/// The media type without parameters (`application/json; charset=utf-8`).
fn media_type(req: &Request<Body>) -> &str {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or("", |v| v.split(';').next().unwrap_or("").trim())
}

/// The dialect route refusals of Connect paths are written in: an HTTP
/// status and Connect's error JSON, which every Connect client reads.
const CONNECT_ERROR: Dialect = Dialect::ConnectUnary { json: true };

fn route(req: &Request<Body>) -> Routed {
    let path = req.uri().path();
    let method = req.method();
    if method == Method::POST && !path.starts_with(SERVICE_PREFIX) && !path.starts_with("/v1/") {
        match media_type(req) {
            "application/proto" => return Routed::Other(Dialect::ConnectUnary { json: false }, Decode::Proto),
            "application/connect+proto" => {
                return Routed::Other(Dialect::ConnectStream { json: false }, Decode::Passthrough)
            }
            _ => {}
        }
    }
    if let Some(name) = path.strip_prefix(SERVICE_PREFIX) {
        let Some(rpc) = Rpc::ALL.into_iter().find(|r| r.name() == name) else {
            return Routed::Refuse(
                CONNECT_ERROR,
                status(Code::Unimplemented, format!("{} has no method {name:?}", crate::pb::SERVICE_NAME)),
                Some(StatusCode::NOT_FOUND),
            );
        };
        if method != Method::POST {
            return Routed::Refuse(
                CONNECT_ERROR,
                status(Code::Unimplemented, format!("Connect calls are POSTs, not {method}")),
                Some(StatusCode::METHOD_NOT_ALLOWED),
            );
        }
        let media = media_type(req);
        return match (rpc.streaming(), media) {
            (false, "application/json") => Routed::Call(rpc, Dialect::ConnectUnary { json: true }, Decode::Json),
            (false, "application/proto") => Routed::Call(rpc, Dialect::ConnectUnary { json: false }, Decode::Proto),
            (true, "application/connect+json") => {
                Routed::Call(rpc, Dialect::ConnectStream { json: true }, Decode::EnvelopedJson)
            }
            (true, "application/connect+proto") => {
                Routed::Call(rpc, Dialect::ConnectStream { json: false }, Decode::EnvelopedProto)
            }
            _ => Routed::Refuse(
                CONNECT_ERROR,
                status(
                    Code::InvalidArgument,
                    format!(
                        "content-type {media:?} is not served for {name}: use application/grpc, \
                         application/grpc-web, {}",
                        if rpc.streaming() {
                            "application/connect+json or application/connect+proto"
                        } else {
                            "application/json or application/proto"
                        }
                    ),
                ),
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ),
        };
    }
    // The JSON routes: the RPCs' google.api.http annotations (a unit test
    // checks that these match the proto).
    let (rpc, want, dialect, decode) = match path {
        "/v1/generate" => (Rpc::Generate, Method::POST, Dialect::Json, Decode::Json),
        "/v1/generate:stream" => (Rpc::GenerateStream, Method::POST, Dialect::Sse, Decode::Json),
        "/v1/count-tokens" => (Rpc::CountTokens, Method::POST, Dialect::Json, Decode::Json),
        "/v1/models" => (Rpc::ListModels, Method::GET, Dialect::Json, Decode::Query(query(req))),
        _ => match path.strip_prefix("/v1/models/") {
            Some(id) if !id.is_empty() => {
                let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
                let fields = serde_json::json!({ "model_id": id });
                (Rpc::GetModel, Method::GET, Dialect::Json, Decode::Given(fields))
            }
            _ => return Routed::Pass,
        },
    };
    if *method != want {
        return Routed::Refuse(
            Dialect::Json,
            status(Code::Unimplemented, format!("{path} takes {want}, not {method}")),
            Some(StatusCode::METHOD_NOT_ALLOWED),
        );
    }
    Routed::Call(rpc, dialect, decode)
}

/// The query string's (percent-decoded) parameters, in order; the request
/// body converts each by its field's type (`codec::query_fields`).
fn query(req: &Request<Body>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
    };
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn protocol_of(dialect: Dialect) -> Protocol {
    match dialect {
        Dialect::ConnectUnary { .. } | Dialect::ConnectStream { .. } => Protocol::Connect,
        Dialect::Json | Dialect::Sse => Protocol::HttpJson,
    }
}

/// The inner gRPC request: the RPC's path, the caller's credentials, request
/// ID and trace context, the deadline, the protocol mark, and the lazily
/// converted body. The caller's extensions (connection info) come along.
fn inner_request(
    parts: &http::request::Parts,
    uri: http::Uri,
    protocol: Protocol,
    timeout: Option<Duration>,
    body: Body,
) -> Request<Body> {
    let mut req = Request::new(body);
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    // tonic-web passes only HTTP/2 requests on to tonic.
    *req.version_mut() = Version::HTTP_2;
    *req.extensions_mut() = parts.extensions.clone();
    req.extensions_mut().insert(protocol);
    let headers = req.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    for name in [AUTHORIZATION, REQUEST_ID, TRACEPARENT] {
        if let Some(v) = parts.headers.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    if let Some(timeout) = timeout {
        headers.insert(GRPC_TIMEOUT, grpc_timeout(timeout));
    }
    req
}

/// The caller's timeout: the shorter of `grpc-timeout` (which tonic also
/// enforces, from outside this layer; one it cannot read it ignores, and so
/// does this) and `Connect-Timeout-Ms` (refused when it is not one).
fn timeout(headers: &http::HeaderMap) -> Result<Option<Duration>, Status> {
    let grpc = headers
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::grpc::deadline::parse_grpc_timeout);
    let connect = match headers.get(CONNECT_TIMEOUT_MS) {
        None => None,
        Some(value) => Some(connect_timeout(value).ok_or_else(|| {
            let shown: String = String::from_utf8_lossy(value.as_bytes()).chars().take(64).collect();
            status(
                Code::InvalidArgument,
                format!("Connect-Timeout-Ms {shown:?} is not a timeout: it takes 1 to 10 digits of milliseconds"),
            )
        })?),
    };
    Ok(match (grpc, connect) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// `Connect-Timeout-Ms`: 1 to 10 ASCII digits of milliseconds.
fn connect_timeout(value: &HeaderValue) -> Option<Duration> {
    let s = value.to_str().ok()?;
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().map(Duration::from_millis)
}

/// A `grpc-timeout` value (up to 8 digits and a unit) for `timeout`, in the
/// finest unit that holds it.
fn grpc_timeout(timeout: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let value = if timeout.as_micros() <= MAX {
        format!("{}u", timeout.as_micros())
    } else if timeout.as_millis() <= MAX {
        format!("{}m", timeout.as_millis())
    } else {
        format!("{}S", timeout.as_secs().min(MAX as u64))
    };
    HeaderValue::from_str(&value).expect("digits and a unit")
}

/// A POST that a browser sends from another origin without a preflight (a
/// form, or `fetch` with `text/plain`) would run with the user's ambient
/// network position; unless `--cors-allow-origin` allows its origin it is
/// refused. Callers without `Origin` (curl, SDKs, gRPC) and the content
/// types browsers always preflight are unaffected.
fn cross_site(req: &Request<Body>, origins: &cors::Origins) -> Option<Status> {
    if req.method() != Method::POST {
        return None;
    }
    let origin = req.headers().get(http::header::ORIGIN)?;
    let media = media_type(req);
    if origins.allows(origin)
        || matches!(
            media,
            "application/json" | "application/proto" | "application/connect+json" | "application/connect+proto"
        )
    {
        return None;
    }
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let why = match origins {
        cors::Origins::None => "--cors-allow-origin is not set".to_owned(),
        _ => format!("--cors-allow-origin does not list {origin}"),
    };
    Some(status(
        Code::PermissionDenied,
        format!(
            "a cross-site request from origin {origin} with content-type {media:?} is refused ({why}); \
             send content-type: application/json from an allowed origin"
        ),
    ))
}

/// A status the translation itself finds, through the gateway's one mapping
/// (`GatewayError` → `grpc::status`) for the codes the gateway's errors
/// have; the protocol's own codes (`UNIMPLEMENTED`, `OUT_OF_RANGE`,
/// `CANCELLED`, ...) as they are.
fn status(code: Code, message: impl Into<String>) -> Status {
    let kind = match code {
        Code::InvalidArgument => ErrorKind::InvalidArgument,
        Code::NotFound => ErrorKind::NotFound,
        Code::PermissionDenied => ErrorKind::PermissionDenied,
        Code::Unauthenticated => ErrorKind::Unauthenticated,
        Code::FailedPrecondition => ErrorKind::FailedPrecondition,
        Code::ResourceExhausted => ErrorKind::ResourceExhausted,
        Code::Unavailable => ErrorKind::Unavailable,
        Code::DeadlineExceeded => ErrorKind::DeadlineExceeded,
        Code::Internal => ErrorKind::Internal,
        _ => return Status::new(code, message),
    };
    to_status(&GatewayError::new(kind, message))
}

/// The one writer of a translated call's error, in its dialect's shape:
/// Connect's error JSON with the HTTP status Connect gives the code (a
/// Connect stream: HTTP 200 and the end-of-stream message holding the
/// error); a google.rpc.Status with that HTTP status for the JSON routes;
/// one `event: error` for SSE. `http` replaces the code's HTTP status
/// (405, 415, 404 for requests that never become calls).
fn error_response(dialect: Dialect, output: &Output, status: &Status, http: Option<StatusCode>) -> Response<Body> {
    let code_status = http.unwrap_or_else(|| connect::http_status(status.code()));
    let full = |bytes: Vec<u8>| Body::new(http_body_util::Full::new(bytes::Bytes::from(bytes)));
    match dialect {
        Dialect::ConnectStream { json } if http.is_none() => {
            let end = serde_json::json!({ "error": output.connect_error_json(status) });
            let end = codec::envelope(2, &serde_json::to_vec(&end).unwrap_or_default());
            let content_type = if json { "application/connect+json" } else { "application/connect+proto" };
            connect::respond(StatusCode::OK, content_type, full(end.to_vec()))
        }
        Dialect::ConnectUnary { .. } | Dialect::ConnectStream { .. } => {
            let body = serde_json::to_vec(&output.connect_error_json(status)).unwrap_or_default();
            connect::respond(code_status, "application/json", full(body))
        }
        Dialect::Json => {
            let body = serde_json::to_vec(&output.status_json(status)).unwrap_or_default();
            connect::respond(code_status, "application/json", full(body))
        }
        Dialect::Sse => connect::respond(code_status, "text/event-stream", full(json::error_event(output, status).to_vec())),
    }
}

/// The gRPC response headers worth passing on: the gateway's own
/// (`x-request-id`, `traceparent`, the backend and its request ID), not
/// gRPC's framing headers.
fn pass_on_headers(from: &http::HeaderMap, to: &mut http::HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if n.starts_with("grpc-") || name == CONTENT_TYPE || name == http::header::CONTENT_LENGTH {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    fn req(method: Method, uri: &str, content_type: &str) -> Request<Body> {
        let mut r = Request::new(Body::empty());
        *r.method_mut() = method;
        *r.uri_mut() = uri.parse().unwrap();
        if !content_type.is_empty() {
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        }
        r
    }

    #[test]
    fn routes_follow_the_paths_methods_and_media_types() {
        let call = |r: Routed| match r {
            Routed::Call(rpc, dialect, _) => Some((rpc, dialect)),
            _ => None,
        };
        let p = "/bedrock.gateway.v1.TextGenerationService/";
        assert_eq!(
            call(route(&req(Method::POST, &format!("{p}Generate"), "application/json; charset=utf-8"))),
            Some((Rpc::Generate, Dialect::ConnectUnary { json: true }))
        );
        assert_eq!(
            call(route(&req(Method::POST, &format!("{p}GenerateStream"), "application/connect+proto"))),
            Some((Rpc::GenerateStream, Dialect::ConnectStream { json: false }))
        );
        assert!(matches!(
            route(&req(Method::POST, &format!("{p}GenerateStream"), "application/json")),
            Routed::Refuse(CONNECT_ERROR, _, Some(StatusCode::UNSUPPORTED_MEDIA_TYPE))
        ));
        match route(&req(Method::POST, &format!("{p}Nope"), "application/json")) {
            Routed::Refuse(CONNECT_ERROR, status, Some(StatusCode::NOT_FOUND)) => {
                assert_eq!(status.code(), Code::Unimplemented);
                assert!(status.message().contains("Nope"), "{}", status.message());
            }
            _ => panic!("an unknown method is Connect's unimplemented"),
        }
        assert_eq!(
            call(route(&req(Method::POST, "/v1/generate:stream", ""))),
            Some((Rpc::GenerateStream, Dialect::Sse))
        );
        assert!(matches!(
            route(&req(Method::GET, "/v1/generate", "")),
            Routed::Refuse(Dialect::Json, _, Some(StatusCode::METHOD_NOT_ALLOWED))
        ));
        match route(&req(Method::GET, "/v1/models/us.anthropic.claude-3-haiku-20240307-v1%3A0", "")) {
            Routed::Call(Rpc::GetModel, Dialect::Json, Decode::Given(v)) => {
                assert_eq!(v["model_id"], "us.anthropic.claude-3-haiku-20240307-v1:0")
            }
            _ => panic!("GetModel"),
        }
        match route(&req(Method::GET, "/v1/models?provider=Meta%20AI&response_streaming_supported=true", "")) {
            Routed::Call(Rpc::ListModels, Dialect::Json, Decode::Query(v)) => assert_eq!(
                v,
                [("provider".to_owned(), "Meta AI".to_owned()), ("response_streaming_supported".to_owned(), "true".to_owned())]
            ),
            _ => panic!("ListModels"),
        }
        assert!(matches!(route(&req(Method::GET, "/", "")), Routed::Pass));
        assert!(matches!(
            route(&req(Method::POST, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "application/connect+proto")),
            Routed::Other(Dialect::ConnectStream { json: false }, Decode::Passthrough)
        ));
        assert!(matches!(route(&req(Method::POST, "/grpc.health.v1.Health/Check", "application/json")), Routed::Pass));
    }

    #[test]
    fn timeouts_come_from_either_header_and_bad_connect_timeouts_are_refused() {
        let t = |name: &'static str, v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert(name, HeaderValue::from_static(v));
            timeout(&h)
        };
        assert_eq!(t("connect-timeout-ms", "250").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(t("connect-timeout-ms", "9999999999").unwrap(), Some(Duration::from_millis(9_999_999_999)));
        assert_eq!(t("grpc-timeout", "100m").unwrap(), Some(Duration::from_millis(100)));
        assert_eq!(t("grpc-timeout", "junk").unwrap(), None);
        for bad in ["-1", "", "12345678901", "1.5", " 5"] {
            let e = t("connect-timeout-ms", bad).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument);
            assert!(e.message().contains("Connect-Timeout-Ms") && e.message().contains(&format!("{bad:?}")), "{}", e.message());
        }
        let mut both = http::HeaderMap::new();
        both.insert("grpc-timeout", HeaderValue::from_static("2S"));
        both.insert("connect-timeout-ms", HeaderValue::from_static("300"));
        assert_eq!(timeout(&both).unwrap(), Some(Duration::from_millis(300)));
        assert_eq!(grpc_timeout(Duration::from_millis(90)), "90000u");
        assert_eq!(grpc_timeout(Duration::from_secs(1000)), "1000000m");
        assert_eq!(grpc_timeout(Duration::from_secs(9_999_999_999 / 1000)), "9999999S");
    }

    #[test]
    fn grpc_web_is_tonic_webs_four_content_types() {
        for ct in ["application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/grpc-web-text+proto"] {
            assert!(is_grpc_web(ct.as_bytes()), "{ct}");
        }
        for ct in ["application/grpc", "application/grpc-web+json", "application/grpc-webx", "application/grpc+proto"] {
            assert!(!is_grpc_web(ct.as_bytes()), "{ct}");
        }
    }

    #[test]
    fn query_parameters_follow_the_fields_types() {
        let schema = Schema::load();
        let input = schema.input(Rpc::ListModels);
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let fields = codec::query_fields(
            pairs(&[("provider", "true"), ("responseStreamingSupported", "false"), ("output_modality", "TEXT")]),
            &input,
        )
        .unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"provider": "true", "response_streaming_supported": false, "output_modality": "TEXT"})
        );
        let e = codec::query_fields(pairs(&[("response_streaming_supported", "yes")]), &input).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("response_streaming_supported"), "{}", e.message());
        let e = codec::query_fields(pairs(&[("providr", "x"), ("limit", "3"), ("provider", "Meta")]), &input).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("`providr`, `limit`"), "{}", e.message());
    }

    #[test]
    fn cross_site_posts_without_a_preflight_are_refused_unless_the_origin_is_allowed() {
        let with = |origin: Option<&'static str>, ct: &str, method: Method| {
            let mut r = req(method, "/v1/generate", ct);
            if let Some(o) = origin {
                r.headers_mut().insert(http::header::ORIGIN, HeaderValue::from_static(o));
            }
            r
        };
        let allowed = cors::Origins::parse(&["https://app.example".into()]).unwrap();
        let e = cross_site(&with(Some("https://evil.example"), "text/plain", Method::POST), &allowed).unwrap();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert!(e.message().contains("https://evil.example") && e.message().contains("--cors-allow-origin"), "{}", e.message());
        let off = cors::Origins::None;
        assert!(cross_site(&with(Some("https://app.example"), "application/x-www-form-urlencoded", Method::POST), &off).is_some());
        assert!(cross_site(&with(Some("https://app.example"), "text/plain", Method::POST), &allowed).is_none());
        assert!(cross_site(&with(Some("https://evil.example"), "application/json", Method::POST), &allowed).is_none());
        assert!(cross_site(&with(None, "text/plain", Method::POST), &off).is_none());
        assert!(cross_site(&with(Some("https://evil.example"), "", Method::GET), &off).is_none());
    }

    /// The routes above are the ones the proto's google.api.http
    /// annotations declare, so buf and other tooling see the same ones.
    #[test]
    fn the_routes_are_the_protos_annotations() {
        let pool = prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
        let http = pool.get_extension_by_name("google.api.http").expect("annotations compiled in");
        let service = pool.get_service_by_name(pb::SERVICE_NAME).unwrap();
        let mut found = Vec::new();
        for method in service.methods() {
            let options = method.options();
            let rule = options.get_extension(&http);
            let rule = rule.as_message().expect("an HttpRule");
            let (verb, path) = ["get", "post"]
                .into_iter()
                .find_map(|verb| {
                    rule.get_field_by_name(verb)
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .filter(|p| !p.is_empty())
                        .map(|p| (verb, p))
                })
                .unwrap_or_else(|| panic!("{} has no google.api.http rule", method.name()));
            let body = rule.get_field_by_name("body").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            found.push((method.name().to_owned(), verb, path, body));
        }
        let expected = [
            ("Generate", "post", "/v1/generate", "*"),
            ("GenerateStream", "post", "/v1/generate:stream", "*"),
            ("ListModels", "get", "/v1/models", ""),
            ("GetModel", "get", "/v1/models/{model_id}", ""),
            ("CountTokens", "post", "/v1/count-tokens", "*"),
        ];
        let found: Vec<(&str, &str, &str, &str)> =
            found.iter().map(|(m, v, p, b)| (m.as_str(), *v, p.as_str(), b.as_str())).collect();
        assert_eq!(found, expected);
        // And each routes to its RPC here.
        for (name, verb, path, _) in expected {
            let method = if verb == "get" { Method::GET } else { Method::POST };
            let path = path.replace("{model_id}", "amazon.titan-text-express-v1");
            match route(&req(method, &path, "")) {
                Routed::Call(rpc, _, _) => assert_eq!(rpc.name(), name),
                _ => panic!("{path} is not routed"),
            }
        }
    }
}
