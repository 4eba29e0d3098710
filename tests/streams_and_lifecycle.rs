//! Streaming behaviour a caller notices: cancellation reaches the backend,
//! errors after text keep the text, deadlines answer DEADLINE_EXCEEDED, and
//! shutdown drains in-flight streams while refusing new calls.

mod common;

use bedrock_gateway::error::{ErrorKind, GatewayError};
use bedrock_gateway::pb::{self, generate_stream_response::Event, GenerateStreamRequest};
use common::{quick_config, Ending, MockBackend, TestServer};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Code;

fn request() -> GenerateStreamRequest {
    GenerateStreamRequest {
        model_id: "mock-model".into(),
        prompt: "hello".into(),
        ..Default::default()
    }
}

fn words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!(" w{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_drops_the_backend_stream() {
    let w = words(1000);
    let mut backend = MockBackend::new(&w.iter().map(String::as_str).collect::<Vec<_>>());
    backend.token_delay = Duration::from_millis(10);
    let backend = Arc::new(backend);
    let server = TestServer::start(backend.clone(), quick_config()).await;
    let mut client = server.client().await;
    let mut stream = client.generate_stream(request()).await.unwrap().into_inner();
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    assert!(!backend.stream_dropped.load(Ordering::SeqCst));
    drop(stream);
    tokio::time::timeout(Duration::from_secs(2), backend.dropped_notify.notified())
        .await
        .expect("the backend stream is dropped within 2 s of the cancel");
    assert!(backend.stream_dropped.load(Ordering::SeqCst));
    // Production stopped: far fewer than the 1000 events were ever produced.
    let produced = backend.events_produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(backend.events_produced.load(Ordering::SeqCst), produced);
    assert!(produced < 50, "{produced}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_text_ends_the_stream_with_the_mapped_status() {
    let mut backend = MockBackend::new(&["Once", " upon", " a"]);
    backend.ending = Ending::Fail(GatewayError::new(ErrorKind::ResourceExhausted, "throttled"));
    let server = TestServer::start(Arc::new(backend), quick_config()).await;
    let mut client = server.client().await;
    let mut stream = client.generate_stream(request()).await.unwrap().into_inner();
    let mut text = String::new();
    let status = loop {
        match stream.next().await.unwrap() {
            Ok(pb::GenerateStreamResponse { event: Some(Event::Delta(d)) }) => text.push_str(&d.text),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(status) => break status,
        }
    };
    assert_eq!(text, "Once upon a");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(stream.next().await.is_none(), "nothing after the status");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_answer_deadline_exceeded_not_cancelled() {
    // Status code 4 is DEADLINE_EXCEEDED; tonic's own timeout would send 1 (CANCELLED).
    const DEADLINE_EXCEEDED: &str = "4";

    // Unary: the backend takes 2 s; the caller allows 100 ms.
    let mut slow = MockBackend::new(&["late"]);
    slow.latency = Duration::from_secs(2);
    let server = TestServer::start(Arc::new(slow), quick_config()).await;
    let unary = pb::GenerateRequest {
        model_id: "mock-model".into(),
        prompt: "hello".into(),
        ..Default::default()
    };
    let path = "/bedrock.gateway.v1.TextGenerationService/Generate";
    let outcome = common::raw_grpc_call(server.addr, path, &unary, "100m").await;
    assert_eq!(outcome.grpc_status.as_deref(), Some(DEADLINE_EXCEEDED), "{outcome:?}");
    assert!(outcome.grpc_message.unwrap().contains("deadline"));
    assert!(outcome.elapsed >= Duration::from_millis(90), "{:?}", outcome.elapsed);
    assert!(outcome.elapsed < Duration::from_millis(600), "{:?}", outcome.elapsed);
    server.stop().await;

    // Streaming: the headers come at once, tokens trickle; the deadline still
    // ends the body with DEADLINE_EXCEEDED and drops the backend stream.
    let w = words(1000);
    let mut trickle = MockBackend::new(&w.iter().map(String::as_str).collect::<Vec<_>>());
    trickle.token_delay = Duration::from_millis(20);
    let trickle = Arc::new(trickle);
    let server = TestServer::start(trickle.clone(), quick_config()).await;
    let path = "/bedrock.gateway.v1.TextGenerationService/GenerateStream";
    let outcome = common::raw_grpc_call(server.addr, path, &request(), "200m").await;
    assert_eq!(outcome.grpc_status.as_deref(), Some(DEADLINE_EXCEEDED), "{outcome:?}");
    assert!(outcome.data_frames > 0, "some tokens arrived before the deadline");
    assert!(outcome.elapsed < Duration::from_millis(700), "{:?}", outcome.elapsed);
    assert!(trickle.stream_dropped.load(Ordering::SeqCst), "the backend stream was dropped");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_streams_finish_and_refuses_new_calls() {
    let w = words(20);
    let mut backend = MockBackend::new(&w.iter().map(String::as_str).collect::<Vec<_>>());
    backend.token_delay = Duration::from_millis(25);
    let backend = Arc::new(backend);
    let mut server = TestServer::start(backend.clone(), quick_config()).await;
    let mut client = server.client().await;
    let mut stream = client.generate_stream(request()).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A new connection is refused: the listener is closed.
    let fresh = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await;
    assert!(fresh.is_err(), "new connections are refused while draining");

    // The in-flight stream runs to its completion event.
    let mut deltas = 1;
    let mut completed = false;
    while let Some(m) = stream.next().await {
        match m.unwrap().event.unwrap() {
            Event::Delta(_) => deltas += 1,
            Event::Complete(_) => completed = true,
            other => panic!("a text-only answer has only text events, got {other:?}"),
        }
    }
    assert!(completed);
    assert_eq!(deltas, 20);
    assert!(!backend.stream_dropped.load(Ordering::SeqCst));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_timeout_bounds_shutdown() {
    let w = words(10_000);
    let mut backend = MockBackend::new(&w.iter().map(String::as_str).collect::<Vec<_>>());
    backend.token_delay = Duration::from_millis(50);
    let backend = Arc::new(backend);
    let config = bedrock_gateway::server::ServerConfig {
        drain_timeout: Duration::from_millis(300),
        ..quick_config()
    };
    let mut server = TestServer::start(backend.clone(), config).await;
    let mut client = server.client().await;
    let mut stream = client.generate_stream(request()).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    let started = Instant::now();
    server.begin_shutdown();
    // Keep reading so the client is not the one that stops the stream.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    server.stop().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
}
