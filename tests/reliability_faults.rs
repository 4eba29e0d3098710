//! The fault matrix: every way the upstream can fail, through the real Bedrock
//! backend (real AWS SDK, real HTTP and event-stream decoding) against the
//! HTTP fake, and through the simulated backend's failure injection on every
//! RPC. For each fault: the documented gRPC code reaches the client, nothing
//! panics, no call outlives its deadline, the upstream exchange is closed,
//! and the very next request is served normally. RELIABILITY.md holds the
//! table; each row names a test here.
//!
//! Bedrock's own error types (ThrottlingException, ...) are covered by
//! `bedrock_over_http::every_bedrock_error_reaches_the_client_as_its_documented_code`
//! and `an_exception_mid_stream_keeps_the_text_already_sent`, not repeated here.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::pb::{
    generate_stream_response::Event, text_generation_service_client::TextGenerationServiceClient,
    BedrockApi, GenerateRequest, GenerateStreamRequest, GenerationParameters, GetModelRequest,
    ListModelsRequest,
};
use bedrock_gateway::server::ServerConfig;
use common::TestServer;
use fake_bedrock::{Behavior, FakeBedrock};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
const GENERATE: &str = "/bedrock.gateway.v1.TextGenerationService/Generate";
const GENERATE_STREAM: &str = "/bedrock.gateway.v1.TextGenerationService/GenerateStream";

/// The deadline every matrix call carries: a fault must be answered well
/// before it (a hang would instead show tonic's CANCELLED, or time out here).
const CALL_DEADLINE: Duration = Duration::from_secs(3);
/// The deadline of the stall cases, and how late their answer may be.
const STALL_DEADLINE_MS: u64 = 300;
const DEADLINE_MARGIN: Duration = Duration::from_millis(150);

fn config() -> ServerConfig {
    ServerConfig {
        drain_timeout: Duration::from_secs(5),
        // Readiness fetches the catalogue once at start; no probes during the test.
        readiness_interval: Duration::from_secs(60),
        ..ServerConfig::default()
    }
}

/// The gateway, in this process, over the real Bedrock backend pointed at `endpoint`.
async fn gateway(endpoint: &str, max_attempts: u32) -> TestServer {
    let backend = common::bedrock_backend(endpoint, max_attempts).await;
    TestServer::start(Arc::new(backend), config()).await
}

fn unary(api: BedrockApi) -> GenerateRequest {
    GenerateRequest {
        model_id: TITAN.into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(GenerationParameters {
            temperature: Some(0.0),
            ..Default::default()
        }),
        api: api as i32,
        ..Default::default()
    }
}

fn streaming(api: BedrockApi) -> GenerateStreamRequest {
    common::stream_request(unary(api))
}

/// How one call ended, as the client saw it.
#[derive(Debug)]
struct Outcome {
    code: Code,
    message: String,
    /// Text received before the end (streams), or the whole text (unary).
    text: String,
    elapsed: Duration,
    retry_info: bool,
}

/// One call with `grpc-timeout` = `deadline`; a stream is read to its end. The
/// whole call is also bounded here, so a hang fails the test instead of
/// stalling it.
async fn call(
    client: &mut TextGenerationServiceClient<Channel>,
    api: BedrockApi,
    stream: bool,
    deadline: Duration,
) -> Outcome {
    let started = Instant::now();
    let work = async {
        if !stream {
            let mut request = tonic::Request::new(unary(api));
            request.set_timeout(deadline);
            return match client.generate(request).await {
                Ok(r) => (Code::Ok, String::new(), r.into_inner().text, false),
                Err(s) => (s.code(), s.message().to_owned(), String::new(), s.get_details_retry_info().is_some()),
            };
        }
        let mut request = tonic::Request::new(streaming(api));
        request.set_timeout(deadline);
        let mut events = match client.generate_stream(request).await {
            Ok(s) => s.into_inner(),
            Err(s) => {
                return (s.code(), s.message().to_owned(), String::new(), s.get_details_retry_info().is_some())
            }
        };
        let mut text = String::new();
        while let Some(item) = events.next().await {
            match item {
                Ok(m) => match m.event {
                    Some(Event::Delta(d)) => text.push_str(&d.text),
                    Some(Event::Complete(_)) => return (Code::Ok, String::new(), text, false),
                    other => panic!("a text-only answer has only text events, got {other:?}"),
                },
                Err(s) => {
                    return (s.code(), s.message().to_owned(), text, s.get_details_retry_info().is_some())
                }
            }
        }
        panic!("the stream ended with neither a completion nor a status");
    };
    let (code, message, text, retry_info) = tokio::time::timeout(deadline + Duration::from_secs(2), work)
        .await
        .unwrap_or_else(|_| panic!("the call outlived its {deadline:?} deadline by 2 s"));
    Outcome {
        code,
        message,
        text,
        elapsed: started.elapsed(),
        retry_info,
    }
}

/// One row of the matrix.
struct Fault {
    name: &'static str,
    behavior: Behavior,
    api: BedrockApi,
    stream: bool,
    code: Code,
    /// Text the client must have received before the status (streams).
    text_before: usize,
    /// A phrase the status message must contain.
    says: &'static str,
}

fn fault(
    name: &'static str,
    behavior: Behavior,
    api: BedrockApi,
    stream: bool,
    code: Code,
    says: &'static str,
) -> Fault {
    Fault {
        name,
        behavior,
        api,
        stream,
        code,
        text_before: 0,
        says,
    }
}

/// Runs each fault, then the same call with the fake back to normal, on one
/// gateway and one client connection.
async fn run_matrix(faults: Vec<Fault>) {
    let panics = common::panic_count();
    let fake = FakeBedrock::start().await;
    let server = gateway(&fake.url(), 1).await;
    let mut client = server.client().await;
    for f in faults {
        fake.set_behavior(TITAN, f.behavior.clone());
        let out = call(&mut client, f.api, f.stream, CALL_DEADLINE).await;
        let what = format!("{} ({:?}, stream: {}): {out:?}", f.name, f.api, f.stream);
        eprintln!("{what}");
        assert_eq!(out.code, f.code, "{what}");
        assert!(out.message.contains(f.says), "{what}: the message should say {:?}", f.says);
        assert!(out.elapsed < CALL_DEADLINE, "{what}: answered only at the deadline");
        assert_eq!(out.text, fake_bedrock::expected_text(f.text_before), "{what}: text before the fault");
        assert_eq!(out.retry_info, f.code == Code::Unavailable, "{what}: RetryInfo");
        assert!(
            fake.wait_idle(Duration::from_secs(2)).await,
            "{what}: the upstream exchange is still open ({} streams, {} handlers)",
            fake.streams_open(),
            fake.exchanges_open()
        );

        fake.set_behavior(TITAN, Behavior::Normal);
        let next = call(&mut client, f.api, f.stream, CALL_DEADLINE).await;
        assert_eq!(next.code, Code::Ok, "{}: the next request failed: {next:?}", f.name);
        assert_eq!(next.text, fake_bedrock::natural_text(), "{}: the next request's text", f.name);
    }
    assert_eq!(common::panic_count(), panics, "something panicked while handling the faults");
    server.stop().await;
}

const CONVERSE: BedrockApi = BedrockApi::Converse;
const INVOKE: BedrockApi = BedrockApi::InvokeModel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_response_is_unavailable() {
    let mut faults = Vec::new();
    for api in [CONVERSE, INVOKE] {
        faults.push(fault(
            "reset mid-body (unary)",
            Behavior::ResetMidResponse { after_tokens: 0 },
            api,
            false,
            Code::Unavailable,
            "connection",
        ));
        let mut mid_stream = fault(
            "reset mid-stream after 3 tokens",
            Behavior::ResetMidResponse { after_tokens: 3 },
            api,
            true,
            Code::Unavailable,
            "connection",
        );
        mid_stream.text_before = 3;
        faults.push(mid_stream);
    }
    run_matrix(faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_crc_frame_is_internal_and_keeps_the_text_before_it() {
    let mut faults = Vec::new();
    for api in [CONVERSE, INVOKE] {
        let mut f = fault(
            "bad message CRC after 2 tokens",
            Behavior::BadCrcFrame { after_tokens: 2 },
            api,
            true,
            Code::Internal,
            "could not be read",
        );
        f.text_before = 2;
        faults.push(f);
    }
    run_matrix(faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_is_internal_on_every_api() {
    run_matrix(vec![
        fault("truncated JSON", Behavior::TruncatedJson, CONVERSE, false, Code::Internal, "could not be read"),
        fault("truncated JSON", Behavior::TruncatedJson, INVOKE, false, Code::Internal, "cannot read"),
        fault("truncated JSON", Behavior::TruncatedJson, CONVERSE, true, Code::Internal, "could not be read"),
        fault("truncated JSON", Behavior::TruncatedJson, INVOKE, true, Code::Internal, "cannot read"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_with_an_unexpected_body_is_internal_on_every_api() {
    run_matrix(vec![
        fault("unexpected body", Behavior::UnexpectedBody, CONVERSE, false, Code::Internal, "held no message"),
        fault("unexpected body", Behavior::UnexpectedBody, INVOKE, false, Code::Internal, "cannot read"),
        fault("unexpected body", Behavior::UnexpectedBody, CONVERSE, true, Code::Internal, "without a messageStop"),
        fault("unexpected body", Behavior::UnexpectedBody, INVOKE, true, Code::Internal, "without a stop reason"),
    ])
    .await;
}

/// Bedrock's exceptions inside an event stream keep their type: a
/// throttlingException after text is RESOURCE_EXHAUSTED with RetryInfo, a
/// serviceUnavailableException UNAVAILABLE, and so on, with Bedrock's type
/// as the ErrorInfo reason, exactly as before the stream started. (The SDK
/// hands these over without the error-type metadata; they were all INTERNAL
/// with reason "UnknownError" until the backend read the modelled type.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_inside_a_stream_keep_their_bedrock_type() {
    let panics = common::panic_count();
    let fake = FakeBedrock::start().await;
    let server = gateway(&fake.url(), 1).await;
    let mut client = server.client().await;
    // Each API's modelled stream exceptions, as Bedrock names them on the wire.
    let both = [
        ("internalServerException", "InternalServerException", Code::Internal),
        ("modelStreamErrorException", "ModelStreamErrorException", Code::Internal),
        ("validationException", "ValidationException", Code::InvalidArgument),
        ("throttlingException", "ThrottlingException", Code::ResourceExhausted),
        ("serviceUnavailableException", "ServiceUnavailableException", Code::Unavailable),
    ];
    let invoke_only = [("modelTimeoutException", "ModelTimeoutException", Code::DeadlineExceeded)];
    for api in [CONVERSE, INVOKE] {
        let cases = both.iter().chain(if api == INVOKE { &invoke_only[..] } else { &[] });
        for &(wire, error_type, code) in cases {
            fake.set_behavior(
                TITAN,
                Behavior::StreamException {
                    after_tokens: 2,
                    exception_type: wire.into(),
                    message: "mid-stream".into(),
                },
            );
            let mut request = tonic::Request::new(streaming(api));
            request.set_timeout(CALL_DEADLINE);
            let mut events = client.generate_stream(request).await.unwrap().into_inner();
            let mut text = String::new();
            let status = loop {
                match events.next().await.expect("a status ends the stream") {
                    Ok(m) => match m.event {
                        Some(Event::Delta(d)) => text.push_str(&d.text),
                        other => panic!("{wire}: unexpected {other:?}"),
                    },
                    Err(status) => break status,
                }
            };
            let what = format!("{wire} ({api:?}): {status:?}");
            assert_eq!(text, fake_bedrock::expected_text(2), "{what}");
            assert_eq!(status.code(), code, "{what}");
            assert!(status.message().contains("mid-stream"), "{what}");
            let info = status.get_details_error_info().expect("ErrorInfo");
            assert_eq!(info.reason, error_type, "{what}");
            assert_eq!(info.domain, "bedrock.amazonaws.com", "{what}");
            assert_eq!(
                status.get_details_retry_info().is_some(),
                matches!(code, Code::ResourceExhausted | Code::Unavailable),
                "{what}"
            );
        }
    }
    assert!(fake.wait_idle(Duration::from_secs(2)).await);
    fake.set_behavior(TITAN, Behavior::Normal);
    assert_eq!(call(&mut client, CONVERSE, true, CALL_DEADLINE).await.code, Code::Ok);
    assert_eq!(common::panic_count(), panics, "something panicked");
    server.stop().await;
}

/// Stalls answer DEADLINE_EXCEEDED at the caller's deadline (read from the
/// server's own trailers, with no client-side timer in the way), and the
/// stalled upstream exchange is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_past_the_deadline_is_deadline_exceeded_and_closes_the_exchange() {
    let panics = common::panic_count();
    let fake = FakeBedrock::start().await;
    let server = gateway(&fake.url(), 1).await;
    let timeout = format!("{STALL_DEADLINE_MS}m");
    let cases = [
        // Unary: the upstream never answers. Streams: 200 and headers, then nothing.
        ("stall before any answer", Behavior::Stall),
        // The first frame arrives, then nothing for 30 s.
        ("stall mid-stream", Behavior::TokenDelay(Duration::from_secs(30))),
    ];
    for (name, behavior) in cases {
        for api in [CONVERSE, INVOKE] {
            for stream in [false, true] {
                if matches!(behavior, Behavior::TokenDelay(_)) && !stream {
                    continue; // TokenDelay affects streams only
                }
                fake.set_behavior(TITAN, behavior.clone());
                let out = if stream {
                    common::raw_grpc_call(server.addr, GENERATE_STREAM, &streaming(api), &timeout).await
                } else {
                    common::raw_grpc_call(server.addr, GENERATE, &unary(api), &timeout).await
                };
                let what = format!("{name} ({api:?}, stream: {stream}): {out:?}");
                assert_eq!(out.grpc_status.as_deref(), Some("4"), "{what}");
                assert!(out.grpc_message.as_deref().unwrap_or("").contains("deadline"), "{what}");
                assert!(
                    out.elapsed < Duration::from_millis(STALL_DEADLINE_MS) + DEADLINE_MARGIN,
                    "{what}: later than the deadline plus {DEADLINE_MARGIN:?}"
                );
                assert!(out.elapsed >= Duration::from_millis(STALL_DEADLINE_MS - 10), "{what}: too early");
                assert!(
                    fake.wait_idle(Duration::from_secs(2)).await,
                    "{what}: the stalled exchange is still open ({} streams, {} handlers)",
                    fake.streams_open(),
                    fake.exchanges_open()
                );
                fake.set_behavior(TITAN, Behavior::Normal);
                let next = if stream {
                    common::raw_grpc_call(server.addr, GENERATE_STREAM, &streaming(api), "5S").await
                } else {
                    common::raw_grpc_call(server.addr, GENERATE, &unary(api), "5S").await
                };
                assert_eq!(next.grpc_status.as_deref(), Some("0"), "{name}: the next request: {next:?}");
            }
        }
    }
    assert_eq!(common::panic_count(), panics, "something panicked");
    server.stop().await;
}

/// Bedrock unreachable: UNAVAILABLE with RetryInfo at once (no waiting for
/// the deadline), and the gateway recovers by itself when Bedrock is back on
/// the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_unavailable_and_recovers_when_bedrock_returns() {
    let panics = common::panic_count();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = gateway(&format!("http://{closed}"), 1).await;
    let mut client = server.client().await;
    for api in [CONVERSE, INVOKE] {
        for stream in [false, true] {
            let out = call(&mut client, api, stream, CALL_DEADLINE).await;
            let what = format!("connection refused ({api:?}, stream: {stream}): {out:?}");
            assert_eq!(out.code, Code::Unavailable, "{what}");
            assert!(out.message.contains("cannot reach Bedrock"), "{what}");
            assert!(out.retry_info, "{what}: RetryInfo tells the caller to come back");
            assert!(out.elapsed < Duration::from_secs(1), "{what}: should fail fast");
        }
    }
    let fake = FakeBedrock::start_on(closed).await;
    for api in [CONVERSE, INVOKE] {
        for stream in [false, true] {
            let next = call(&mut client, api, stream, CALL_DEADLINE).await;
            assert_eq!(next.code, Code::Ok, "after Bedrock came back ({api:?}, stream: {stream}): {next:?}");
            assert_eq!(next.text, fake_bedrock::natural_text());
        }
    }
    assert_eq!(common::panic_count(), panics, "something panicked");
    server.stop().await;
    drop(fake);
}

/// The SDK's retries (throttling, 5xx, connection errors) happen inside the
/// caller's deadline: a retrying call ends with DEADLINE_EXCEEDED at the
/// deadline, and the retry after it is never sent. Backoff is made
/// deterministic here (no jitter) to count attempts: 0 ms, 200 ms, 600 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_inside_the_callers_deadline() {
    let fake = FakeBedrock::start().await;
    let sdk = common::sdk_config_with_retry(
        &fake.url(),
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(200))
            .with_use_static_exponential_base(true),
    )
    .await;
    let backend = common::bedrock_backend_over(&sdk);
    let server = TestServer::start(Arc::new(backend), config()).await;
    fake.set_behavior(
        TITAN,
        Behavior::Error {
            status: 503,
            error_type: "ServiceUnavailableException".into(),
            message: "try again".into(),
        },
    );

    // With room for every attempt: three attempts, then the mapped error.
    let out = common::raw_grpc_call(server.addr, GENERATE, &unary(CONVERSE), "5S").await;
    assert_eq!(out.grpc_status.as_deref(), Some("14"), "{out:?}");
    assert_eq!(fake.count("/converse"), 3, "three attempts");
    assert!(out.elapsed >= Duration::from_millis(600), "{out:?}: backoff 200 ms + 400 ms");

    // A 500 ms deadline: the attempts at 0 and 200 ms are sent, the one due at
    // 600 ms is not; the caller hears DEADLINE_EXCEEDED at 500 ms.
    fake.clear_requests();
    let out = common::raw_grpc_call(server.addr, GENERATE, &unary(CONVERSE), "500m").await;
    assert_eq!(out.grpc_status.as_deref(), Some("4"), "{out:?}");
    assert!(out.elapsed < Duration::from_millis(500) + DEADLINE_MARGIN, "{out:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fake.count("/converse"), 2, "no attempt after the deadline");
    server.stop().await;
}

/// The process-level view: the real binary against the fake, through every
/// fault in turn. It keeps running, keeps answering health checks, logs no
/// panic, and serves the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_every_fault_and_logs_no_panic() {
    let fake = FakeBedrock::start().await;
    let url = fake.url();
    let mut gw = common::GatewayProcess::start(
        &["--backend", "bedrock", "--bedrock-max-attempts", "1", "--readiness-interval", "60s"],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", &url),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
        ],
    );
    let mut client = gw.client().await;
    let behaviors = [
        (Behavior::ResetMidResponse { after_tokens: 2 }, Code::Unavailable),
        (Behavior::BadCrcFrame { after_tokens: 2 }, Code::Internal),
        (Behavior::TruncatedJson, Code::Internal),
        (Behavior::UnexpectedBody, Code::Internal),
    ];
    for (behavior, code) in behaviors {
        for api in [CONVERSE, INVOKE] {
            for stream in [false, true] {
                if matches!(behavior, Behavior::BadCrcFrame { .. }) && !stream {
                    continue; // a unary body has no frames
                }
                fake.set_behavior(TITAN, behavior.clone());
                let out = call(&mut client, api, stream, CALL_DEADLINE).await;
                assert_eq!(out.code, code, "{behavior:?} ({api:?}, stream: {stream}): {out:?}");
                fake.set_behavior(TITAN, Behavior::Normal);
                let next = call(&mut client, api, stream, CALL_DEADLINE).await;
                assert_eq!(next.code, Code::Ok, "after {behavior:?}: {next:?}");
            }
        }
    }
    fake.set_behavior(TITAN, Behavior::Stall);
    let addr: std::net::SocketAddr = gw.addr.parse().unwrap();
    let out = common::raw_grpc_call(addr, GENERATE_STREAM, &streaming(CONVERSE), "300m").await;
    assert_eq!(out.grpc_status.as_deref(), Some("4"), "{out:?}");
    assert!(fake.wait_idle(Duration::from_secs(2)).await, "the stalled exchange was closed");

    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway process exited");
    let channel = Channel::from_shared(gw.url()).unwrap().connect().await.unwrap();
    let live = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(live, tonic_health::pb::health_check_response::ServingStatus::Serving);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = gw.log_text();
    assert!(!logs.contains("panicked"), "the gateway logged a panic:\n{logs}");
    assert!(logs.contains("call failed"), "the faults were logged");
    gw.sigterm();
    let code = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

// ---------------------------------------------------------------------------
// The simulated backend's failure injection, on every RPC.
// ---------------------------------------------------------------------------

/// The README's error table, written out (not read from the code under test).
const ERROR_TABLE: &[(&str, Code)] = &[
    ("ValidationException", Code::InvalidArgument),
    ("ResourceNotFoundException", Code::NotFound),
    ("AccessDeniedException", Code::PermissionDenied),
    ("UnrecognizedClientException", Code::PermissionDenied),
    ("InvalidSignatureException", Code::PermissionDenied),
    ("ExpiredTokenException", Code::PermissionDenied),
    ("MissingAuthenticationTokenException", Code::PermissionDenied),
    ("ThrottlingException", Code::ResourceExhausted),
    ("ServiceQuotaExceededException", Code::ResourceExhausted),
    ("ModelNotReadyException", Code::Unavailable),
    ("ServiceUnavailableException", Code::Unavailable),
    ("ModelTimeoutException", Code::DeadlineExceeded),
    ("ModelErrorException", Code::Internal),
    ("ModelStreamErrorException", Code::Internal),
    ("InternalServerException", Code::Internal),
];

fn directive(fail_with: &str, after_tokens: Option<u32>) -> prost_types::Struct {
    use prost_types::{value::Kind, Struct, Value};
    let mut sim = Struct::default();
    sim.fields.insert("fail_with".into(), Value { kind: Some(Kind::StringValue(fail_with.into())) });
    if let Some(n) = after_tokens {
        sim.fields.insert("fail_after_tokens".into(), Value { kind: Some(Kind::NumberValue(n.into())) });
    }
    let mut root = Struct::default();
    root.fields.insert("gateway_simulation".into(), Value { kind: Some(Kind::StructValue(sim)) });
    root
}

fn assert_upstream(status: &tonic::Status, error_type: &str, code: Code, what: &str) {
    assert_eq!(status.code(), code, "{what}: {status:?}");
    assert!(status.message().contains(error_type), "{what}: {status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, error_type, "{what}");
    assert_eq!(info.domain, "bedrock.amazonaws.com", "{what}");
    assert_eq!(
        status.get_details_retry_info().is_some(),
        matches!(code, Code::ResourceExhausted | Code::Unavailable),
        "{what}: RetryInfo"
    );
}

/// Per request, on Generate and GenerateStream: every Bedrock error type,
/// before any text and (streams) after three deltas; then the same request
/// without the directive succeeds on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_injection_gives_every_documented_code_on_generate_and_stream() {
    let panics = common::panic_count();
    let backend = SimulatedBackend::new(SimulatedConfig::default());
    let server = TestServer::start(Arc::new(backend), config()).await;
    let mut client = server.client().await;
    let deadline = Duration::from_secs(2);
    for &(error_type, code) in ERROR_TABLE {
        let mut r = unary(CONVERSE);
        r.additional_model_request_fields = Some(directive(error_type, None));
        let mut request = tonic::Request::new(r.clone());
        request.set_timeout(deadline);
        let status = client.generate(request).await.unwrap_err();
        assert_upstream(&status, error_type, code, &format!("Generate {error_type}"));

        for after in [None, Some(3)] {
            let mut s = streaming(CONVERSE);
            s.additional_model_request_fields = Some(directive(error_type, after));
            let started = Instant::now();
            let mut request = tonic::Request::new(s);
            request.set_timeout(deadline);
            let (deltas, status) = match client.generate_stream(request).await {
                Err(status) => (0, status),
                Ok(events) => {
                    let mut events = events.into_inner();
                    let mut deltas = 0;
                    loop {
                        match events.next().await.expect("the stream ends with a status") {
                            Ok(m) => {
                                assert!(matches!(m.event, Some(Event::Delta(_))), "{error_type}: {m:?}");
                                deltas += 1;
                            }
                            Err(status) => break (deltas, status),
                        }
                    }
                }
            };
            let what = format!("GenerateStream {error_type} after {after:?}");
            assert_upstream(&status, error_type, code, &what);
            assert_eq!(deltas, after.unwrap_or(0), "{what}");
            assert!(started.elapsed() < deadline, "{what}");
        }

        // The next request is served normally.
        let ok = client.generate(unary(CONVERSE)).await.unwrap().into_inner();
        assert!(!ok.text.is_empty());
        let mut events = client.generate_stream(streaming(CONVERSE)).await.unwrap().into_inner();
        let mut completed = false;
        while let Some(m) = events.next().await {
            completed |= matches!(m.unwrap().event, Some(Event::Complete(_)));
        }
        assert!(completed, "after {error_type}");
    }
    assert_eq!(common::panic_count(), panics, "something panicked");
    server.stop().await;
}

/// Server-wide, on all four RPCs (ListModels and GetModel have no request
/// fields to carry a directive): every Bedrock error type at failure rate 1.
/// The server stays live (health SERVING) throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_server_wide_injection_gives_every_documented_code_on_every_rpc() {
    let panics = common::panic_count();
    for &(error_type, code) in ERROR_TABLE {
        let backend = SimulatedBackend::new(SimulatedConfig {
            failure_rate: 1.0,
            failure_kind: Some(error_type.into()),
            ..Default::default()
        });
        assert!(backend.ready().await);
        let server = TestServer::start(Arc::new(backend), config()).await;
        let channel = server.channel().await;
        let mut client = TextGenerationServiceClient::new(channel.clone());
        let check = |r: Result<(), tonic::Status>, rpc: &str| {
            assert_upstream(&r.expect_err(rpc), error_type, code, &format!("{rpc} {error_type}"));
        };
        check(client.generate(unary(CONVERSE)).await.map(|_| ()), "Generate");
        check(client.generate_stream(streaming(CONVERSE)).await.map(|_| ()), "GenerateStream");
        check(client.list_models(ListModelsRequest::default()).await.map(|_| ()), "ListModels");
        check(
            client.get_model(GetModelRequest { model_id: TITAN.into() }).await.map(|_| ()),
            "GetModel",
        );
        let live = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(live, tonic_health::pb::health_check_response::ServingStatus::Serving);
        server.stop().await;
    }
    // The same server without injection answers every RPC.
    let server = TestServer::start(Arc::new(SimulatedBackend::new(SimulatedConfig::default())), config()).await;
    let mut client = server.client().await;
    client.generate(unary(CONVERSE)).await.unwrap();
    client.generate_stream(streaming(CONVERSE)).await.unwrap();
    assert!(!client.list_models(ListModelsRequest::default()).await.unwrap().into_inner().models.is_empty());
    client.get_model(GetModelRequest { model_id: TITAN.into() }).await.unwrap();
    assert_eq!(common::panic_count(), panics, "something panicked");
    server.stop().await;
}
