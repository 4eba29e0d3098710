//! gRPC-Web, Connect and plain HTTP/JSON on the gRPC port: a translation
//! layer over the very same gRPC service, in-process.
//!
//! [`HttpLayer`] sits outside tonic-web's `GrpcWebLayer` and the edge layer
//! (see `server::run` for the whole stack). For each request it does one of
//! three things:
//!
//! - `content-type: application/grpc…` passes straight through. gRPC pays one
//!   header comparison; gRPC-Web (`application/grpc-web…`, translated by
//!   tonic-web just inside) is also marked with its [`Protocol`].
//! - A Connect call (`POST /bedrock.gateway.v1.TextGenerationService/<RPC>`
//!   with a JSON or protobuf body) or a JSON route (`/v1/…`, the RPCs'
//!   `google.api.http` annotations) becomes an inner gRPC request: the body,
//!   read lazily and bounded by `--max-message-bytes`, is converted into the
//!   protobuf message (canonical proto3 JSON through `prost-reflect`) and
//!   framed; `authorization`, `x-request-id` and `traceparent` are carried
//!   over and `Connect-Timeout-Ms` becomes `grpc-timeout`. The inner call
//!   therefore meets the edge (keys, request IDs, deadlines), tonic's size
//!   limit, validation, limits, metrics and logs exactly as a gRPC call
//!   does. Its gRPC response (frames and trailers) is translated back:
//!   `connect.rs` for Connect, `json.rs` for the JSON routes and their
//!   Server-Sent Events.
//! - Anything else goes on unchanged (tonic-web answers HTTP/1.1 requests it
//!   does not know with 400).
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

use crate::metrics::Protocol;
use codec::{Decode, Schema};
use futures::future::{BoxFuture, Either};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Version};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;

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
}

impl HttpLayer {
    /// A layer whose request bodies may be at most `max_message_bytes` (the
    /// limit tonic applies to the gRPC message they become).
    pub fn new(max_message_bytes: usize) -> Self {
        HttpLayer(Arc::new(Shared {
            schema: Schema::load(),
            max_message_bytes,
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

impl<S> tower::Service<Request<Body>> for Http<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The gRPC fast path: one header comparison, nothing else.
        let content_type = req.headers().get(CONTENT_TYPE).map_or(&b""[..], HeaderValue::as_bytes);
        if let Some(rest) = content_type.strip_prefix(b"application/grpc") {
            if rest.starts_with(b"-web") {
                req.extensions_mut().insert(Protocol::GrpcWeb);
            }
            return Either::Left(self.inner.call(req));
        }
        let (rpc, dialect, decode) = match route(&req) {
            Routed::Call(rpc, dialect, decode) => (Some(rpc), dialect, decode),
            Routed::Other(dialect, decode) => (None, dialect, decode),
            Routed::Refuse(status, why) => {
                return Either::Right(Box::pin(std::future::ready(Ok(plain(status, why)))));
            }
            Routed::Pass => return Either::Left(self.inner.call(req)),
        };
        let shared = self.shared.clone();
        let input = rpc.map(|rpc| shared.schema.input(rpc));
        let (parts, body) = req.into_parts();
        let uri = match rpc {
            Some(rpc) => http::Uri::from_static(rpc.path()),
            None => parts.uri.path().parse().unwrap_or_else(|_| parts.uri.clone()),
        };
        let body = codec::request_body(body, decode, input, shared.max_message_bytes);
        let future = self.inner.call(inner_request(&parts, uri, dialect, body));
        Either::Right(Box::pin(async move {
            let response = future.await?;
            let output = shared.schema.output(rpc);
            Ok(match dialect {
                Dialect::ConnectUnary { json } => connect::unary(response, json, &output).await,
                Dialect::ConnectStream { json } => connect::stream(response, json, output),
                Dialect::Json => json::unary(response, &output).await,
                Dialect::Sse => json::sse(response, output),
            })
        }))
    }
}

/// Where a request goes.
enum Routed {
    /// Translate it into a call of this RPC.
    Call(Rpc, Dialect, Decode),
    /// A Connect call in protobuf of another service (health, reflection):
    /// its messages pass as they are (a Connect envelope is a gRPC frame),
    /// so `buf curl --protocol connect` can use reflection.
    Other(Dialect, Decode),
    /// Answer at once with a plain-text refusal.
    Refuse(StatusCode, &'static str),
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
            return Routed::Pass;
        };
        if method != Method::POST {
            return Routed::Refuse(StatusCode::METHOD_NOT_ALLOWED, "Connect calls are POSTs\n");
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
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "use application/grpc, application/grpc-web, application/json or application/proto \
                 (application/connect+json or +proto for GenerateStream)\n",
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
        return Routed::Refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route\n");
    }
    Routed::Call(rpc, dialect, decode)
}

/// The query string as a JSON object of its (percent-decoded) parameters;
/// the message's JSON mapping then reads them like a body, so a parameter
/// that names no field is refused the same way.
fn query(req: &Request<Body>) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for pair in req.uri().query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
        };
        let v = decode(v);
        // Booleans are JSON booleans; everything else a string, which the
        // proto3 JSON mapping also accepts for numbers and enums.
        let value = match v.as_str() {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(v),
        };
        fields.insert(decode(k), value);
    }
    serde_json::Value::Object(fields)
}

/// The inner gRPC request: the RPC's path, the caller's credentials, request
/// ID, trace context and deadline, the protocol mark, and the lazily
/// converted body. The caller's extensions (connection info) come along.
fn inner_request(parts: &http::request::Parts, uri: http::Uri, dialect: Dialect, body: Body) -> Request<Body> {
    let mut req = Request::new(body);
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    // tonic-web passes only HTTP/2 requests on to tonic.
    *req.version_mut() = Version::HTTP_2;
    *req.extensions_mut() = parts.extensions.clone();
    req.extensions_mut().insert(match dialect {
        Dialect::ConnectUnary { .. } | Dialect::ConnectStream { .. } => Protocol::Connect,
        Dialect::Json | Dialect::Sse => Protocol::HttpJson,
    });
    let headers = req.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    for name in [AUTHORIZATION, REQUEST_ID, TRACEPARENT, GRPC_TIMEOUT] {
        if let Some(v) = parts.headers.get(&name) {
            headers.insert(name, v.clone());
        }
    }
    if let Some(timeout) = parts.headers.get(CONNECT_TIMEOUT_MS).and_then(connect_timeout) {
        headers.insert(GRPC_TIMEOUT, timeout);
    }
    req
}

/// `Connect-Timeout-Ms` (up to 10 digits) as a `grpc-timeout` value (up to
/// 8 digits and a unit).
fn connect_timeout(value: &HeaderValue) -> Option<HeaderValue> {
    let s = value.to_str().ok()?.trim();
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = s.parse().ok()?;
    let value = if ms <= 99_999_999 { format!("{ms}m") } else { format!("{}S", ms / 1000) };
    HeaderValue::from_str(&value).ok()
}

/// A plain-text answer for requests that never become calls.
fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(bytes::Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
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
            Routed::Refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, _)
        ));
        assert_eq!(
            call(route(&req(Method::POST, "/v1/generate:stream", ""))),
            Some((Rpc::GenerateStream, Dialect::Sse))
        );
        assert!(matches!(route(&req(Method::GET, "/v1/generate", "")), Routed::Refuse(StatusCode::METHOD_NOT_ALLOWED, _)));
        match route(&req(Method::GET, "/v1/models/us.anthropic.claude-3-haiku-20240307-v1%3A0", "")) {
            Routed::Call(Rpc::GetModel, Dialect::Json, Decode::Given(v)) => {
                assert_eq!(v["model_id"], "us.anthropic.claude-3-haiku-20240307-v1:0")
            }
            _ => panic!("GetModel"),
        }
        match route(&req(Method::GET, "/v1/models?provider=Meta%20AI&response_streaming_supported=true", "")) {
            Routed::Call(Rpc::ListModels, Dialect::Json, Decode::Query(v)) => {
                assert_eq!(v, serde_json::json!({"provider": "Meta AI", "response_streaming_supported": true}))
            }
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
    fn connect_timeouts_become_grpc_timeouts() {
        let t = |s: &'static str| connect_timeout(&HeaderValue::from_static(s));
        assert_eq!(t("250").unwrap(), "250m");
        assert_eq!(t("1234567890").unwrap(), "1234567S");
        assert!(t("-1").is_none() && t("").is_none() && t("12345678901").is_none());
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
