//! Shared test harness: the real server on 127.0.0.1:0, and a mock backend
//! that records what reached it.
#![allow(dead_code, unreachable_pub)]
pub mod redis;

use bedrock_gateway::backend::{Backend, EventStream, GenerationStream};
use bedrock_gateway::domain::{
    Completion, ContentBlock, Generation, GenerationRequest, ModelFilter, ModelInfo, StopReason,
    StreamEvent, Usage,
};
use bedrock_gateway::error::GatewayError;
use bedrock_gateway::model::{Catalogue, Listing, ModelDirectory, Unknown};
use bedrock_gateway::pb::text_generation_service_client::TextGenerationServiceClient;
use bedrock_gateway::server::{self, ServerConfig};
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};
use tonic::transport::Channel;

/// A running gateway.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<Result<(), bedrock_gateway::server::ServeError>>,
}

impl TestServer {
    /// Starts the real server over `backend`.
    pub async fn start(backend: Arc<dyn Backend>, config: ServerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::run(listener, backend, config, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            shutdown: Some(tx),
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn client(&self) -> TextGenerationServiceClient<Channel> {
        TextGenerationServiceClient::new(self.channel().await)
    }

    /// Starts the shutdown, as SIGTERM does.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits for `run` to return.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("server stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

/// What the mock's stream does after its deltas.
#[derive(Clone)]
pub enum Ending {
    Complete,
    Fail(GatewayError),
}

/// A scripted backend that records calls and notices when its stream is dropped.
pub struct MockBackend {
    pub calls: AtomicUsize,
    pub ready: AtomicBool,
    pub last_request: Mutex<Option<GenerationRequest>>,
    pub deltas: Vec<String>,
    pub token_delay: Duration,
    /// Delay before answering at all (unary and stream start).
    pub latency: Duration,
    pub ending: Ending,
    /// Set when a stream handed out was dropped before it finished.
    pub stream_dropped: Arc<AtomicBool>,
    pub dropped_notify: Arc<Notify>,
    /// Number of stream events the client could have been sent.
    pub events_produced: Arc<AtomicUsize>,
    /// The seed catalogue; unknown models pass through, as on Bedrock.
    pub models: Arc<ModelDirectory>,
}

impl MockBackend {
    pub fn new(deltas: &[&str]) -> Self {
        MockBackend {
            calls: AtomicUsize::new(0),
            ready: AtomicBool::new(true),
            last_request: Mutex::new(None),
            deltas: deltas.iter().map(|s| s.to_string()).collect(),
            token_delay: Duration::ZERO,
            latency: Duration::ZERO,
            ending: Ending::Complete,
            stream_dropped: Arc::new(AtomicBool::new(false)),
            dropped_notify: Arc::new(Notify::new()),
            events_produced: Arc::new(AtomicUsize::new(0)),
            models: ModelDirectory::fixed(
                Listing {
                    models: Catalogue::seed().models().to_vec(),
                    ..Listing::default()
                },
                Unknown::PassThrough,
            ),
        }
    }

    pub fn completion(&self) -> Completion {
        Completion {
            stop_reason: StopReason::EndTurn,
            raw_stop_reason: "end_turn".into(),
            usage: Usage::new(3, self.deltas.len() as u32),
            tool_uses: Vec::new(),
            invoked_model_id: "mock-model".into(),
            resolved_model_id: "mock-foundation-model".into(),
            backend_latency: Duration::from_millis(7),
            request_id: "mock-request-1".into(),
            service_tier: None,
            latency: None,
            guardrail_trace: None,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Flags the mock when dropped before the stream ended.
struct DropGuard {
    finished: bool,
    dropped: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.store(true, Ordering::SeqCst);
            self.notify.notify_one();
        }
    }
}

#[async_trait::async_trait]
impl Backend for MockBackend {
    fn name(&self) -> &'static str {
        "mock"
    }

    async fn generate(&self, request: GenerationRequest) -> Result<Generation, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self.last_request.lock().unwrap() = Some(request);
        tokio::time::sleep(self.latency).await;
        match &self.ending {
            Ending::Fail(e) => Err(e.clone()),
            Ending::Complete => Ok(Generation {
                content: vec![ContentBlock::Text(self.deltas.concat())],
                completion: self.completion(),
            }),
        }
    }

    async fn generate_stream(
        &self,
        request: GenerationRequest,
    ) -> Result<GenerationStream, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self.last_request.lock().unwrap() = Some(request);
        tokio::time::sleep(self.latency).await;
        let guard = DropGuard {
            finished: false,
            dropped: self.stream_dropped.clone(),
            notify: self.dropped_notify.clone(),
        };
        let deltas = self.deltas.clone();
        let delay = self.token_delay;
        let ending = self.ending.clone();
        let completion = self.completion();
        let produced = self.events_produced.clone();
        let events: EventStream =
            futures::stream::unfold((guard, 0usize), move |(mut guard, i)| {
                let deltas = deltas.clone();
                let ending = ending.clone();
                let completion = completion.clone();
                let produced = produced.clone();
                async move {
                    if guard.finished {
                        return None;
                    }
                    tokio::time::sleep(delay).await;
                    produced.fetch_add(1, Ordering::SeqCst);
                    if let Some(d) = deltas.get(i) {
                        return Some((
                            Ok(StreamEvent::Text {
                                index: 0,
                                text: d.clone(),
                            }),
                            (guard, i + 1),
                        ));
                    }
                    guard.finished = true;
                    let last = match ending {
                        Ending::Complete => Ok(StreamEvent::Complete(completion)),
                        Ending::Fail(e) => Err(e),
                    };
                    Some((last, (guard, i)))
                }
            })
            .boxed();
        Ok(GenerationStream {
            request_id: "mock-request-1".into(),
            events,
        })
    }

    async fn list_models(&self, _filter: &ModelFilter) -> Result<Vec<ModelInfo>, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Vec::new())
    }

    async fn get_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(GatewayError::model_not_found(model_id))
    }

    async fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn models(&self) -> &Arc<ModelDirectory> {
        &self.models
    }
}

/// A config with short timers for tests.
/// The same request for `GenerateStream`: the two messages have the same
/// fields, and tests compare the RPCs on identical input.
pub fn stream_request(
    r: bedrock_gateway::pb::GenerateRequest,
) -> bedrock_gateway::pb::GenerateStreamRequest {
    bedrock_gateway::pb::GenerateStreamRequest {
        model_id: r.model_id,
        prompt: r.prompt,
        messages: r.messages,
        system: r.system,
        parameters: r.parameters,
        additional_model_request_fields: r.additional_model_request_fields,
        api: r.api,
        tool_config: r.tool_config,
        output_schema: r.output_schema,
        system_cache_point: r.system_cache_point,
        reasoning: r.reasoning,
        guardrail: r.guardrail,
        service_tier: r.service_tier,
        latency: r.latency,
        request_metadata: r.request_metadata,
    }
}

pub fn quick_config() -> ServerConfig {
    ServerConfig {
        drain_timeout: Duration::from_secs(5),
        readiness_interval: Duration::from_millis(50),
        ..ServerConfig::default()
    }
}

/// What a raw gRPC call saw: the server's own status, with no client-side
/// deadline enforcement in the way (tonic's channel enforces the deadline it
/// sends and would report CANCELLED if its timer won the race).
#[derive(Debug)]
pub struct RawOutcome {
    pub grpc_status: Option<String>,
    pub grpc_message: Option<String>,
    pub data_frames: usize,
    pub elapsed: Duration,
}

/// Sends one gRPC request over a bare HTTP/2 connection with the given
/// `grpc-timeout` header and reads the whole answer, trailers included.
pub async fn raw_grpc_call(
    addr: SocketAddr,
    path: &str,
    message: &impl prost::Message,
    grpc_timeout: &str,
) -> RawOutcome {
    let r = raw_grpc_request(
        addr,
        path,
        message,
        &[("grpc-timeout", grpc_timeout.as_bytes())],
    )
    .await;
    RawOutcome {
        grpc_status: r.grpc_status,
        grpc_message: r.grpc_message,
        data_frames: r.data_frames,
        elapsed: r.elapsed,
    }
}

/// The `bedrock-gateway` binary as a child process, with a clean environment.
/// Killed on drop unless [`GatewayProcess::terminate`] already stopped it.
pub struct GatewayProcess {
    pub child: std::process::Child,
    pub addr: String,
    /// Every line the process wrote to stderr (its logs), as they arrive.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts the binary on 127.0.0.1:0 with JSON logs and waits for its
    /// "listening" line to learn the address.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> GatewayProcess {
        Self::start_with_open_file_limit(args, envs, None)
    }

    /// [`GatewayProcess::start`] with the soft and hard open-file limits set
    /// to `nofile` in the child before it runs.
    pub fn start_with_open_file_limit(
        args: &[&str],
        envs: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> GatewayProcess {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"));
        if let Some(limit) = nofile {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
            }
        }
        command
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("gateway binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // Keep draining stderr for the process's life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                if !sent {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        if v["message"] == "bedrock-gateway listening" {
                            let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                            sent = true;
                        }
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the gateway logs its address within 20 s");
        GatewayProcess { child, addr, logs }
    }

    /// All log lines so far, joined.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> TextGenerationServiceClient<Channel> {
        let channel = Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        TextGenerationServiceClient::new(channel)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the gateway did not exit within {within:?}");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`raw_grpc_request`] saw.
#[derive(Debug)]
pub struct RawResponse {
    /// The HTTP status of the response headers.
    pub http_status: u16,
    /// The response headers (a trailers-only answer carries grpc-status here).
    pub headers: http::HeaderMap,
    pub grpc_status: Option<String>,
    pub grpc_message: Option<String>,
    pub data_frames: usize,
    pub elapsed: Duration,
}

/// Like [`raw_grpc_call`], with any request headers at all (binary values included,
/// which tonic's client would refuse to send), and the response headers returned.
pub async fn raw_grpc_request(
    addr: SocketAddr,
    path: &str,
    message: &impl prost::Message,
    headers: &[(&str, &[u8])],
) -> RawResponse {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let payload = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(0);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    let mut request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let started = std::time::Instant::now();
    let response = sender.send_request(request).await.unwrap();
    let text = |name: &str, map: &http::HeaderMap| {
        map.get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let http_status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let mut grpc_status = text("grpc-status", &response_headers);
    let mut grpc_message = text("grpc-message", &response_headers);
    let mut body = response.into_body();
    let mut data_frames = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if frame.is_data() {
            data_frames += 1;
        } else if let Some(trailers) = frame.trailers_ref() {
            grpc_status = grpc_status.or(text("grpc-status", trailers));
            grpc_message = grpc_message.or(text("grpc-message", trailers));
        }
    }
    RawResponse {
        http_status,
        headers: response_headers,
        grpc_status,
        grpc_message,
        data_frames,
        elapsed: started.elapsed(),
    }
}

/// Counts every panic in this test process (any thread, server tasks included)
/// from the first call on, still printing each one as the default hook does.
/// Tests read the count before and after their work: a gateway that panics
/// while handling a fault fails the test even if tokio kept serving.
pub fn panic_count() -> usize {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// An AWS SDK configuration pointing both Bedrock planes at `endpoint` (a fake
/// on 127.0.0.1, or a closed port) with dummy static credentials, `max_attempts`
/// attempts per call and a 1 s connect timeout.
pub async fn sdk_config_for(endpoint: &str, max_attempts: u32) -> aws_config::SdkConfig {
    sdk_config_with_retry(
        endpoint,
        aws_config::retry::RetryConfig::standard().with_max_attempts(max_attempts),
    )
    .await
}

/// [`sdk_config_for`] with the caller's retry configuration (fast or
/// deterministic backoff for retry tests).
pub async fn sdk_config_with_retry(
    endpoint: &str,
    retry: aws_config::retry::RetryConfig,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "AKIDTEST",
            "dummy-secret",
            None,
            None,
            "test",
        ))
        .retry_config(retry)
        // 3 s, not 1 s: on a loaded machine a loopback SYN can be dropped
        // from a full accept backlog and is retransmitted only after the
        // kernel's 1 s initial RTO (seen once in 1,000 connections of the
        // cancellation storm). Refused connections still fail at once.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .load()
        .await
}

/// The real Bedrock backend over `sdk`, built as the binary builds it.
pub fn bedrock_backend_over(
    sdk: &aws_config::SdkConfig,
) -> bedrock_gateway::backend::bedrock::BedrockBackend {
    bedrock_gateway::backend::bedrock::BedrockBackend::from_sdk_config(
        sdk,
        &bedrock_gateway::backend::bedrock::BedrockConfig::default(),
    )
}

/// The real Bedrock backend (real SDK, real HTTP) in this process, against `endpoint`.
pub async fn bedrock_backend(
    endpoint: &str,
    max_attempts: u32,
) -> bedrock_gateway::backend::bedrock::BedrockBackend {
    let sdk = sdk_config_for(endpoint, max_attempts).await;
    bedrock_gateway::backend::bedrock::BedrockBackend::from_sdk_config(
        &sdk,
        &bedrock_gateway::backend::bedrock::BedrockConfig {
            max_attempts,
            ..Default::default()
        },
    )
}

/// The current value of a metric line without labels (e.g.
/// `bedrock_gateway_streams_in_flight`) in Prometheus text.
pub fn metric_value(rendered: &str, name: &str) -> Option<f64> {
    rendered.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}
