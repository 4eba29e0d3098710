//! gRPC-Web, Connect and the JSON routes on the gRPC port, against the real
//! server: the same answers, refusals, limits, metrics and cancellation as
//! gRPC, through real tools (curl, buf curl) where they exist and
//! hand-framed requests where the framing itself is under test.

mod common;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::error::{ErrorKind, GatewayError};
use bedrock_gateway::pb;
use bedrock_gateway::server::ServerConfig;
use bytes::{Buf, Bytes};
use common::{quick_config, Ending, GatewayProcess, MockBackend, TestServer};
use http_body_util::{BodyExt, Full};
use prost::Message as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_types::StatusExt;

const GENERATE: &str = "/bedrock.gateway.v1.TextGenerationService/Generate";
const GENERATE_STREAM: &str = "/bedrock.gateway.v1.TextGenerationService/GenerateStream";

/// What an HTTP/1.1 call answered.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh connection, answered whole within 30 s.
async fn http1(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let body = body.into();
    tokio::time::timeout(Duration::from_secs(30), http1_unbounded(addr, method, path, headers, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no whole answer within 30 s"))
}

async fn http1_unbounded(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Bytes) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = sender.send_request(req.body(Full::new(body)).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

fn frame(flags: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Splits enveloped messages (gRPC, gRPC-Web, Connect streaming) into
/// (flags, message) pairs.
fn unframe(mut body: Bytes) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let flags = body.get_u8();
        let len = body.get_u32() as usize;
        out.push((flags, body.split_to(len)));
    }
    assert!(body.is_empty(), "trailing bytes");
    out
}

fn invalid_request() -> pb::GenerateRequest {
    pb::GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(pb::GenerationParameters {
            temperature: Some(3.0),
            top_p: Some(1.5),
            ..Default::default()
        }),
        ..Default::default()
    }
}

const INVALID_JSON: &str = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "Write a poem about sky", "parameters": {"temperature": 3, "top_p": 1.5}}"#;

fn violations_of(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

fn violations_in_json(details: &Value, type_key: &str, wanted: &str, fields_of: impl Fn(&Value) -> &Value) -> Vec<(String, String)> {
    let detail = details
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d[type_key].as_str().is_some_and(|t| t.ends_with(wanted)))
        .unwrap_or_else(|| panic!("no {wanted} in {details}"));
    fields_of(detail)["fieldViolations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["field"].as_str().unwrap().to_owned(), v["description"].as_str().unwrap().to_owned()))
        .collect()
}

fn simulated() -> Arc<SimulatedBackend> {
    Arc::new(SimulatedBackend::new(SimulatedConfig {
        token_delay: Duration::from_millis(1),
        ..Default::default()
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_gets_the_same_code_and_violations_on_every_transport() {
    let config = quick_config();
    let metrics = config.metrics.clone();
    let server = TestServer::start(simulated(), config).await;

    // gRPC.
    let status = server.client().await.generate(invalid_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let expected = violations_of(&status);
    assert_eq!(expected.len(), 2, "{expected:?}");

    // gRPC-Web, hand-framed, over HTTP/1.1: a refusal is trailers-only, so
    // its status is in the headers.
    let web = http1(
        server.addr,
        "POST",
        GENERATE,
        &[("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")],
        frame(0, &invalid_request().encode_to_vec()),
    )
    .await;
    assert_eq!(web.status, 200);
    let web_status = tonic::Status::from_header_map(&web.headers).expect("grpc-status in the headers");
    assert_eq!(web_status.code(), Code::InvalidArgument);
    assert_eq!(violations_of(&web_status), expected);
    assert_eq!(web_status.message(), status.message());

    // Connect, JSON.
    let connect = http1(server.addr, "POST", GENERATE, &[("content-type", "application/json")], INVALID_JSON).await;
    assert_eq!(connect.status, 400);
    let error = connect.json();
    assert_eq!(error["code"], "invalid_argument");
    assert_eq!(error["message"], status.message());
    assert_eq!(violations_in_json(&error["details"], "type", "google.rpc.BadRequest", |d| &d["debug"]), expected);
    // The detail's value is the same encoded BadRequest gRPC sends.
    use base64::Engine as _;
    let value = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "google.rpc.BadRequest")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(value).unwrap();
    let bad_request = tonic_types::pb::BadRequest::decode(&bytes[..]).unwrap();
    assert_eq!(bad_request.field_violations.len(), 2);

    // Connect, protobuf: the same error JSON.
    let connect_proto = http1(
        server.addr,
        "POST",
        GENERATE,
        &[("content-type", "application/proto")],
        invalid_request().encode_to_vec(),
    )
    .await;
    assert_eq!(connect_proto.status, 400);
    assert_eq!(connect_proto.json()["code"], "invalid_argument");

    // The JSON route: a google.rpc.Status.
    let route = http1(server.addr, "POST", "/v1/generate", &[], INVALID_JSON).await;
    assert_eq!(route.status, 400);
    let status_json = route.json();
    assert_eq!(status_json["code"], 3);
    assert_eq!(status_json["message"], status.message());
    assert_eq!(violations_in_json(&status_json["details"], "@type", "google.rpc.BadRequest", |d| d), expected);
    assert!(route.headers.contains_key("x-request-id"));

    // Every call counted once, under its transport.
    let text = metrics.render();
    for protocol in ["grpc", "grpc-web", "connect", "http-json"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("bedrock_gateway_requests_total{")
                    && l.contains("rpc=\"Generate\"")
                    && l.contains(&format!("protocol=\"{protocol}\""))
                    && l.contains("code=\"INVALID_ARGUMENT\"")
            })
            .unwrap_or_else(|| panic!("no {protocol} line in\n{text}"));
        let expected = if protocol == "connect" { " 2" } else { " 1" };
        assert!(line.ends_with(expected), "{line}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_the_message_is_refused_after_authentication_and_logged() {
    let keys = Arc::new(bedrock_gateway::auth::ApiKeys::parse("team:team-key-0123456789", "test").unwrap());
    let config = ServerConfig {
        auth: bedrock_gateway::grpc::edge::AuthPolicy {
            keys: Some(keys),
            protect_health_and_reflection: false,
        },
        ..quick_config()
    };
    let metrics = config.metrics.clone();
    let server = TestServer::start(simulated(), config).await;
    // No key: UNAUTHENTICATED, whatever the body.
    let anonymous = http1(server.addr, "POST", "/v1/generate", &[], "{not json").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], 16);
    // A key and a body naming no field: INVALID_ARGUMENT naming the field.
    let auth = [("authorization", "Bearer team-key-0123456789"), ("content-type", "application/json")];
    let bad = http1(server.addr, "POST", GENERATE, &auth, r#"{"model": "x"}"#).await;
    assert_eq!(bad.status, 400);
    let error = bad.json();
    assert_eq!(error["code"], "invalid_argument");
    assert!(error["message"].as_str().unwrap().contains("model"), "{error}");
    // A key and a good body.
    let ok = http1(
        server.addr,
        "POST",
        GENERATE,
        &auth,
        r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "hi", "parameters": {"max_tokens": 3}}"#,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json()["usage"]["outputTokens"], 3);
    let text = metrics.render();
    assert!(text.lines().any(|l| l.contains("protocol=\"connect\"") && l.contains("code=\"INVALID_ARGUMENT\"")), "{text}");
    assert!(text.lines().any(|l| l.contains("protocol=\"http-json\"") && l.contains("code=\"UNAUTHENTICATED\"")), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_message_bytes_is_refused_like_grpc() {
    let config = ServerConfig {
        max_message_bytes: 1024,
        ..quick_config()
    };
    let server = TestServer::start(simulated(), config).await;
    let big = json!({"model_id": "amazon.titan-text-express-v1", "prompt": "x".repeat(4096)}).to_string();
    let answer = http1(server.addr, "POST", "/v1/generate", &[], big).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], Code::OutOfRange as i32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_ms_is_the_calls_deadline() {
    let mut slow = MockBackend::new(&["late"]);
    slow.latency = Duration::from_secs(2);
    let server = TestServer::start(Arc::new(slow), quick_config()).await;
    let started = std::time::Instant::now();
    let answer = http1(
        server.addr,
        "POST",
        GENERATE,
        &[("content-type", "application/json"), ("connect-timeout-ms", "150")],
        r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "hi"}"#,
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert_eq!(answer.status, 504);
    assert_eq!(answer.json()["code"], "deadline_exceeded");
    server.stop().await;
}

/// A Connect or JSON call that sends `grpc-timeout` (which CORS allows)
/// meets tonic's own timer too, which wraps the whole stack and would answer
/// in gRPC's shape; the translated call's deadline falls earlier, so the
/// answer is always the dialect's own DEADLINE_EXCEEDED, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_timeout_on_a_translated_call_answers_in_the_calls_own_shape() {
    let config = quick_config();
    let metrics = config.metrics.clone();
    let server = TestServer::start(simulated(), config).await;
    let slow = json!({
        "model_id": "amazon.titan-text-express-v1",
        "prompt": "hi",
        "additional_model_request_fields": {"gateway_simulation": {"latency_ms": 2000}}
    })
    .to_string();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let route = http1(server.addr, "POST", "/v1/generate", &[("grpc-timeout", "100m")], slow.clone()).await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
        assert_eq!(route.headers["content-type"], "application/json", "{:?}", route.headers);
        assert_eq!(route.status, 504, "{}", String::from_utf8_lossy(&route.body));
        assert_eq!(route.json()["code"], Code::DeadlineExceeded as i32);
        assert!(route.headers.contains_key("x-request-id"));

        let connect = http1(
            server.addr,
            "POST",
            GENERATE,
            &[("content-type", "application/json"), ("grpc-timeout", "100m")],
            slow.clone(),
        )
        .await;
        assert_eq!(connect.headers["content-type"], "application/json", "{:?}", connect.headers);
        assert_eq!(connect.status, 504, "{}", String::from_utf8_lossy(&connect.body));
        assert_eq!(connect.json()["code"], "deadline_exceeded");

        let sse = http1(server.addr, "POST", "/v1/generate:stream", &[("grpc-timeout", "100m")], slow.clone()).await;
        assert_eq!(sse.headers["content-type"], "text/event-stream", "{:?}", sse.headers);
        let events = sse_events(std::str::from_utf8(&sse.body).unwrap());
        let (name, error) = events.last().expect("an event");
        assert_eq!(name, "error");
        assert_eq!(error["code"], Code::DeadlineExceeded as i32);
    }
    // A body still arriving at the deadline: the handler never ran, so the
    // layer answers (and counts) the deadline itself, before tonic's timer.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/generate HTTP/1.1\r\nhost: {}\r\ngrpc-timeout: 200m\r\ncontent-length: 100\r\n\r\n{{\"model_id\"",
        server.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("}") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let seen = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(seen.starts_with("http/1.1 504"), "{seen}");
    assert!(seen.contains("content-type: application/json") && !seen.contains("application/grpc"), "{seen}");
    assert!(seen.contains(&format!("\"code\":{}", Code::DeadlineExceeded as i32)), "{seen}");
    // Counted, under each transport.
    let text = metrics.render();
    for (rpc, protocol, n) in [("Generate", "http-json", 4), ("Generate", "connect", 3), ("GenerateStream", "http-json", 3)] {
        let counted: u64 = text
            .lines()
            .filter(|l| {
                l.starts_with("bedrock_gateway_requests_total{")
                    && l.contains(&format!("rpc=\"{rpc}\""))
                    && l.contains(&format!("protocol=\"{protocol}\""))
                    && l.contains("code=\"DEADLINE_EXCEEDED\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, n, "{rpc} {protocol} in\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_timeout_ms_that_is_not_a_timeout_is_refused() {
    let server = TestServer::start(simulated(), quick_config()).await;
    let body = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "hi", "parameters": {"max_tokens": 3}}"#;
    for bad in ["soon", "-5", "12345678901"] {
        let answer = http1(
            server.addr,
            "POST",
            GENERATE,
            &[("content-type", "application/json"), ("connect-timeout-ms", bad)],
            body,
        )
        .await;
        assert_eq!(answer.status, 400, "{bad}");
        let error = answer.json();
        assert_eq!(error["code"], "invalid_argument");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("Connect-Timeout-Ms") && message.contains(bad), "{message}");
    }
    // A valid one, long enough, is the call's deadline and nothing more.
    let ok = http1(
        server.addr,
        "POST",
        GENERATE,
        &[("content-type", "application/json"), ("connect-timeout-ms", "10000")],
        body,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    server.stop().await;
}

/// A browser on another origin can POST a form or `text/plain` without a
/// preflight; unless the origin is allowed, the gateway refuses it before
/// it runs. Callers without `Origin` (curl) are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_without_a_preflight_is_refused() {
    let body = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "hi", "parameters": {"max_tokens": 3}}"#;
    for origins in [vec![], vec!["https://app.example".to_owned()]] {
        let cors_on = !origins.is_empty();
        let config = ServerConfig {
            cors_allow_origins: origins,
            ..quick_config()
        };
        let metrics = config.metrics.clone();
        let server = TestServer::start(simulated(), config).await;
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let refused = http1(
                server.addr,
                "POST",
                "/v1/generate",
                &[("origin", "https://evil.example"), ("content-type", content_type)],
                body,
            )
            .await;
            assert_eq!(refused.status, 403, "{content_type}");
            let status = refused.json();
            assert_eq!(status["code"], Code::PermissionDenied as i32);
            let message = status["message"].as_str().unwrap();
            assert!(message.contains("https://evil.example") && message.contains("--cors-allow-origin"), "{message}");
        }
        // Nothing ran.
        let text = metrics.render();
        assert!(!text.lines().any(|l| l.starts_with("bedrock_gateway_requests_total{") && l.contains("rpc=\"Generate\"")), "{text}");
        // Without Origin (curl): served. From an allowed origin: served.
        let curl = http1(server.addr, "POST", "/v1/generate", &[("content-type", "text/plain")], body).await;
        assert_eq!(curl.status, 200, "{}", String::from_utf8_lossy(&curl.body));
        if cors_on {
            let allowed = http1(
                server.addr,
                "POST",
                "/v1/generate",
                &[("origin", "https://app.example"), ("content-type", "text/plain")],
                body,
            )
            .await;
            assert_eq!(allowed.status, 200, "{}", String::from_utf8_lossy(&allowed.body));
        }
        // application/json is always preflighted by browsers, so it passes
        // here and CORS decides whether the page may read the answer.
        let json_post = http1(
            server.addr,
            "POST",
            "/v1/generate",
            &[("origin", "https://evil.example"), ("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(json_post.status, 200);
        assert!(!json_post.headers.contains_key("access-control-allow-origin"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_a_call_are_in_the_dialects_own_shape() {
    let server = TestServer::start(simulated(), quick_config()).await;
    // An unknown method on the service's path: Connect's unimplemented, 404.
    let unknown = http1(
        server.addr,
        "POST",
        "/bedrock.gateway.v1.TextGenerationService/Nope",
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "unimplemented");
    assert!(unknown.json()["message"].as_str().unwrap().contains("Nope"));
    // A content type Connect does not serve there: 415, Connect's error JSON.
    let media = http1(server.addr, "POST", GENERATE, &[("content-type", "text/plain")], "{}").await;
    assert_eq!(media.status, 415);
    assert_eq!(media.headers["content-type"], "application/json");
    assert_eq!(media.json()["code"], "invalid_argument");
    // A JSON route's wrong method: 405 and a google.rpc.Status.
    let method = http1(server.addr, "GET", "/v1/generate", &[], Bytes::new()).await;
    assert_eq!(method.status, 405);
    assert_eq!(method.json()["code"], Code::Unimplemented as i32);
    // Unknown query parameters, and a boolean that is not one.
    let unknown = http1(server.addr, "GET", "/v1/models?providr=Meta&limit=3", &[], Bytes::new()).await;
    assert_eq!(unknown.status, 400);
    let message = unknown.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("`providr`") && message.contains("`limit`"), "{message}");
    let bad_bool = http1(server.addr, "GET", "/v1/models?response_streaming_supported=yes", &[], Bytes::new()).await;
    assert_eq!(bad_bool.status, 400);
    // A string field stays a string, even when it reads as a boolean.
    let none = http1(server.addr, "GET", "/v1/models?provider=true&response_streaming_supported=true", &[], Bytes::new()).await;
    assert_eq!(none.status, 200, "{}", String::from_utf8_lossy(&none.body));
    assert!(none.json()["models"].as_array().is_none_or(|m| m.is_empty()), "{}", none.json());
    server.stop().await;
}

fn stream_body() -> String {
    json!({"model_id": "amazon.titan-text-express-v1", "prompt": "hello"}).to_string()
}

/// SSE events as (name, data) pairs.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_text_ends_sse_and_connect_streams_with_the_status() {
    let mut backend = MockBackend::new(&["Once", " upon", " a"]);
    backend.ending = Ending::Fail(GatewayError::new(ErrorKind::ResourceExhausted, "throttled"));
    let server = TestServer::start(Arc::new(backend), quick_config()).await;

    let sse = http1(server.addr, "POST", "/v1/generate:stream", &[], stream_body()).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    let events = sse_events(std::str::from_utf8(&sse.body).unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["delta", "delta", "delta", "error"]);
    assert_eq!(events[0].1, json!({"text": "Once"}));
    assert_eq!(events[3].1["code"], Code::ResourceExhausted as i32);
    assert!(events[3].1["message"].as_str().unwrap().contains("throttled"));

    let connect = http1(
        server.addr,
        "POST",
        GENERATE_STREAM,
        &[("content-type", "application/connect+json")],
        frame(0, stream_body().as_bytes()),
    )
    .await;
    assert_eq!(connect.status, 200);
    assert_eq!(connect.headers["content-type"], "application/connect+json");
    let messages = unframe(connect.body);
    assert_eq!(messages.len(), 4);
    let first: Value = serde_json::from_slice(&messages[0].1).unwrap();
    assert_eq!(first, json!({"delta": {"text": "Once"}}));
    let (flags, end) = &messages[3];
    assert_eq!(*flags, 2, "the end-of-stream message");
    let end: Value = serde_json::from_slice(end).unwrap();
    assert_eq!(end["error"]["code"], "resource_exhausted", "{end}");
    server.stop().await;
}

/// Opens a stream over raw HTTP/1.1, reads three events' worth, and hangs up.
async fn hang_up_mid_stream(addr: SocketAddr, path: &str, content_type: &str, body: &[u8], marker: &str) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&seen).matches(marker).count() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the stream ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    drop(tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_on_sse_or_connect_drops_the_backend_stream() {
    for (path, content_type, body, marker) in [
        ("/v1/generate:stream", "application/json", stream_body().into_bytes(), "event: delta"),
        (GENERATE_STREAM, "application/connect+json", frame(0, stream_body().as_bytes()), "\"delta\""),
    ] {
        let words: Vec<String> = (0..1000).map(|i| format!(" w{i}")).collect();
        let mut backend = MockBackend::new(&words.iter().map(String::as_str).collect::<Vec<_>>());
        backend.token_delay = Duration::from_millis(10);
        let backend = Arc::new(backend);
        let config = quick_config();
        let metrics = config.metrics.clone();
        let server = TestServer::start(backend.clone(), config).await;
        hang_up_mid_stream(server.addr, path, content_type, &body, marker).await;
        tokio::time::timeout(Duration::from_secs(2), backend.dropped_notify.notified())
            .await
            .unwrap_or_else(|_| panic!("{path}: the backend stream is dropped within 2 s of the hang-up"));
        assert!(backend.stream_dropped.load(Ordering::SeqCst));
        let produced = backend.events_produced.load(Ordering::SeqCst);
        assert!(produced < 100, "{path}: {produced}");
        // The relay drops the backend stream first, then its gauge guard.
        let mut text = metrics.render();
        for _ in 0..100 {
            if text.contains("bedrock_gateway_streams_in_flight 0") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            text = metrics.render();
        }
        assert!(text.contains("bedrock_gateway_streams_in_flight 0"), "{text}");
        assert!(
            text.lines().any(|l| l.contains("rpc=\"GenerateStream\"") && l.contains("code=\"CANCELLED\"")),
            "{text}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_are_allowed_for_listed_origins_only() {
    let config = ServerConfig {
        cors_allow_origins: vec!["https://app.example".into()],
        ..quick_config()
    };
    let server = TestServer::start(simulated(), config).await;
    let preflight = |origin: &'static str| {
        let addr = server.addr;
        async move {
            http1(
                addr,
                "OPTIONS",
                GENERATE,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type,x-grpc-web,authorization"),
                ],
                Bytes::new(),
            )
            .await
        }
    };
    let allowed = preflight("https://app.example").await;
    assert_eq!(allowed.headers["access-control-allow-origin"], "https://app.example");
    let methods = allowed.headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers["access-control-allow-headers"].to_str().unwrap();
    for h in ["content-type", "authorization", "x-grpc-web", "connect-timeout-ms", "traceparent"] {
        assert!(headers.contains(h), "{headers}");
    }
    let refused = preflight("https://evil.example").await;
    for h in ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"] {
        assert!(!refused.headers.contains_key(h), "{h} sent to another origin: {:?}", refused.headers);
    }
    // A real call from the allowed origin can read the status headers.
    let call = http1(
        server.addr,
        "POST",
        GENERATE,
        &[("origin", "https://app.example"), ("content-type", "application/grpc-web+proto")],
        frame(0, &invalid_request().encode_to_vec()),
    )
    .await;
    assert_eq!(call.headers["access-control-allow-origin"], "https://app.example");
    let exposed = call.headers["access-control-expose-headers"].to_str().unwrap();
    for h in ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    // Requests without Origin never meet CORS: a gRPC call's answer (and a
    // gRPC-Web or JSON one without Origin) carries no CORS header at all.
    let mut client = server.client().await;
    let answer = client
        .generate(pb::GenerateRequest {
            model_id: "amazon.titan-text-express-v1".into(),
            prompt: "hi".into(),
            parameters: Some(pb::GenerationParameters {
                max_tokens: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let cors_headers = |keys: Vec<String>| keys.into_iter().filter(|k| k.starts_with("access-control-") || k == "vary").collect::<Vec<_>>();
    let keys = |m: &tonic::metadata::MetadataMap| {
        m.keys()
            .map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => k.as_str().to_owned(),
                tonic::metadata::KeyRef::Binary(k) => k.as_str().to_owned(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(cors_headers(keys(answer.metadata())), Vec::<String>::new());
    let refused = client.generate(invalid_request()).await.unwrap_err();
    assert_eq!(cors_headers(keys(refused.metadata())), Vec::<String>::new());
    for (path, ct, body) in [
        (GENERATE, "application/grpc-web+proto", Bytes::from(frame(0, &invalid_request().encode_to_vec()))),
        ("/v1/generate", "application/json", Bytes::from(INVALID_JSON)),
    ] {
        let plain = http1(server.addr, "POST", path, &[("content-type", ct)], body).await;
        let names: Vec<String> = plain.headers.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(cors_headers(names), Vec::<String>::new(), "{path}");
    }
    server.stop().await;

    // Without --cors-allow-origin: no CORS headers at all.
    let server = TestServer::start(simulated(), quick_config()).await;
    let none = http1(
        server.addr,
        "OPTIONS",
        "/v1/generate",
        &[("origin", "https://app.example"), ("access-control-request-method", "POST")],
        Bytes::new(),
    )
    .await;
    assert!(!none.headers.keys().any(|k| k.as_str().starts_with("access-control-")), "{:?}", none.headers);
    server.stop().await;
}

/// A tool from PATH or the repository's node_modules/.bin, or `None` (which
/// fails under `BEDROCK_GATEWAY_REQUIRE_TOOLS`).
fn tool(name: &str) -> Option<String> {
    if Command::new(name).arg("--version").output().is_ok() {
        return Some(name.to_owned());
    }
    let local = format!("{}/node_modules/.bin/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::path::Path::new(&local).exists() {
        return Some(local);
    }
    assert!(
        std::env::var_os("BEDROCK_GATEWAY_REQUIRE_TOOLS").is_none(),
        "{name} is not on PATH; scripts/install-tools installs it"
    );
    eprintln!("skipped: {name} not on PATH");
    None
}

/// Runs a tool to completion, killed (and the test failed) after 60 s.
async fn run(program: &str, args: Vec<String>) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut out_bytes, mut err_bytes) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        let (a, b, status) = tokio::join!(
            stdout.read_to_end(&mut out_bytes),
            stderr.read_to_end(&mut err_bytes),
            child.wait()
        );
        a.unwrap();
        b.unwrap();
        status.unwrap()
    })
    .await;
    let status = match finished {
        Ok(status) => status,
        Err(_) => {
            let _ = child.kill().await;
            panic!("{program} ran for over 60 s and was killed");
        }
    };
    let out = std::process::Output {
        status,
        stdout: out_bytes,
        stderr: err_bytes,
    };
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_streams_sse_whose_deltas_are_generates_text() {
    let Some(curl) = tool("curl") else { return };
    let server = TestServer::start(simulated(), quick_config()).await;
    let body = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "Write a poem about sky", "parameters": {"temperature": 0, "max_tokens": 60}}"#;
    let url = |path: &str| format!("http://{}{path}", server.addr);
    let args = |path: &str| vec!["-sS".into(), "--max-time".into(), "30".into(), "-N".into(), "--fail-with-body".into(), "-d".into(), body.into(), url(path)];
    let (ok, unary, err) = run(&curl, args("/v1/generate")).await;
    assert!(ok, "{err}{unary}");
    let unary: Value = serde_json::from_str(&unary).unwrap();
    let text = unary["text"].as_str().unwrap();
    assert!(text.len() > 20, "{unary}");

    let (ok, stream, err) = run(&curl, args("/v1/generate:stream")).await;
    assert!(ok, "{err}{stream}");
    let events = sse_events(&stream);
    let joined: String = events
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| data["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(joined, text);
    let (last, complete) = events.last().unwrap();
    assert_eq!(last, "complete");
    assert_eq!(complete["usage"]["outputTokens"], unary["usage"]["outputTokens"]);
    assert_eq!(complete["stopReason"], "STOP_REASON_MAX_TOKENS");

    // The model routes, with ':' and '.' in the ID, percent-encoded or not.
    for id in ["anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1%3A0"] {
        let (ok, model, err) = run(&curl, vec!["-sS".into(), "--max-time".into(), "30".into(), "--fail-with-body".into(), url(&format!("/v1/models/{id}"))]).await;
        assert!(ok, "{err}{model}");
        let model: Value = serde_json::from_str(&model).unwrap();
        assert_eq!(model["model"]["modelId"], "anthropic.claude-3-haiku-20240307-v1:0");
    }
    let (ok, list, err) = run(&curl, vec!["-sS".into(), "--max-time".into(), "30".into(), "--fail-with-body".into(), url("/v1/models?provider=Anthropic")]).await;
    assert!(ok, "{err}{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let models = list["models"].as_array().unwrap();
    assert!(!models.is_empty());
    assert!(models.iter().all(|m| m["providerName"] == "Anthropic"), "{list}");
    let (ok, missing, _) = run(&curl, vec!["-sS".into(), "--max-time".into(), "30".into(), "--fail-with-body".into(), url("/v1/models/nope.nothing-v1")]).await;
    assert!(!ok);
    assert_eq!(serde_json::from_str::<Value>(&missing).unwrap()["code"], Code::NotFound as i32);
    let count = r#"{"model_id": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "prompt": "Write a poem about sky"}"#;
    let (ok, counted, err) =
        run(&curl, vec!["-sS".into(), "--max-time".into(), "30".into(), "--fail-with-body".into(), "-d".into(), count.into(), url("/v1/count-tokens")]).await;
    assert!(ok, "{err}{counted}");
    assert_eq!(serde_json::from_str::<Value>(&counted).unwrap()["inputTokens"], 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buf_curl_speaks_connect_and_grpc_web_to_the_gateway_binary() {
    let Some(buf) = tool("buf") else { return };
    let gateway = GatewayProcess::start(&["--backend", "simulated", "--simulated-token-delay", "0ms"], &[]);
    let url = |path: &str| format!("{}{path}", gateway.url());
    let body = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "Write a poem about sky", "parameters": {"max_tokens": 5}}"#;
    // Connect over HTTP/2, reflection included (Connect's bidirectional
    // stream needs HTTP/2).
    let (ok, out, err) = run(
        &buf,
        vec!["curl".into(), "--protocol".into(), "connect".into(), "--http2-prior-knowledge".into(), "-d".into(), body.into(), url(GENERATE_STREAM)],
    )
    .await;
    assert!(ok, "{err}{out}");
    assert!(out.contains("\"delta\"") && out.contains("\"complete\""), "{out}");
    // Connect over HTTP/1.1 with the schema from the repository's protos.
    let (ok, out, err) = run(
        &buf,
        vec![
            "curl".into(),
            "--protocol".into(),
            "connect".into(),
            "--schema".into(),
            env!("CARGO_MANIFEST_DIR").into(),
            "-d".into(),
            body.into(),
            url(GENERATE),
        ],
    )
    .await;
    assert!(ok, "{err}{out}");
    assert!(out.contains("\"outputTokens\": 5"), "{out}");
    // gRPC-Web.
    for path in [GENERATE, GENERATE_STREAM] {
        let (ok, out, err) =
            run(&buf, vec!["curl".into(), "--protocol".into(), "grpcweb".into(), "-d".into(), body.into(), url(path)]).await;
        assert!(ok, "{path}: {err}{out}");
        assert!(out.contains("STOP_REASON_MAX_TOKENS"), "{out}");
    }
    // A refusal, the same on both.
    for protocol in ["connect", "grpcweb"] {
        let (ok, out, err) = run(
            &buf,
            vec![
                "curl".into(),
                "--protocol".into(),
                protocol.into(),
                "--http2-prior-knowledge".into(),
                "-d".into(),
                INVALID_JSON.into(),
                url(GENERATE),
            ],
        )
        .await;
        assert!(!ok, "{protocol}: {out}");
        assert!(err.contains("invalid_argument") && err.contains("top_p"), "{protocol}: {err}");
    }
    let logs = gateway.log_text();
    for protocol in ["\"protocol\":\"connect\"", "\"protocol\":\"grpc-web\""] {
        assert!(logs.contains(protocol), "no {protocol} in the logs:\n{logs}");
    }
    drop(gateway);
}

/// Over TLS tonic offers only `h2` in ALPN, so the HTTP transports need
/// HTTP/2 there: curl's default (ALPN h2) works; an HTTP/1.1-only client
/// fails the handshake (README, "Over TLS").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_json_routes_answer_curl_over_http2() {
    let Some(curl) = tool("curl") else { return };
    use tonic::transport::{Identity, ServerTlsConfig};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let config = ServerConfig {
        tls: Some(ServerTlsConfig::new().identity(Identity::from_pem(&cert_pem, &key_pem))),
        ..quick_config()
    };
    let server = TestServer::start(simulated(), config).await;
    let port = server.addr.port();
    let body = r#"{"model_id": "amazon.titan-text-express-v1", "prompt": "hi", "parameters": {"max_tokens": 3}}"#;
    let args = |version: &str| -> Vec<String> {
        vec![
            "-sS".into(),
            "--max-time".into(),
            "30".into(),
            "--fail-with-body".into(),
            version.into(),
            "--cacert".into(),
            ca.display().to_string(),
            "--resolve".into(),
            format!("localhost:{port}:127.0.0.1"),
            "-d".into(),
            body.into(),
            format!("https://localhost:{port}/v1/generate"),
        ]
    };
    let (ok, out, err) = run(&curl, args("--http2")).await;
    assert!(ok, "{err}{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["usage"]["outputTokens"], 3, "{out}");
    let (ok, out, _) = run(&curl, args("--http1.1")).await;
    assert!(!ok, "HTTP/1.1 over TLS is not offered, yet: {out}");
    server.stop().await;
}
