//! An HTTP-level fake of Amazon Bedrock for integration tests.
//!
//! It speaks the real wire protocol (restJson1 and `application/vnd.amazon.eventstream`)
//! on `127.0.0.1` over plain HTTP/1.1 or h2c, and serves both the control plane
//! (`bedrock`: ListFoundationModels, GetFoundationModel, ListInferenceProfiles,
//! GetInferenceProfile) and the runtime (`bedrock-runtime`: Converse, ConverseStream,
//! InvokeModel, InvokeModelWithResponseStream) on one port. Point the AWS SDK at
//! [`FakeBedrock::url`] with `endpoint_url` (or `AWS_ENDPOINT_URL`) and dummy credentials.
//!
//! Generated text is deterministic: token `i` is `WORDS[i % WORDS.len()]`, the first one
//! without a leading space and every later one with one. A generation is naturally
//! [`NATURAL_TOKENS`] tokens long unless a max-token limit or a stop sequence ends it earlier.
//!
//! Converse takes the whole conversation: images, documents, tool calls and results, tools
//! (`toolConfig`) and output JSON schemas (`outputConfig`). It refuses what Bedrock refuses
//! (tool blocks without tools, results that do not answer the calls before them, images
//! whose bytes are not their format, too many images or documents, bad names) with
//! Bedrock's messages, and answers like a model: a tool call when a tool is forced or named
//! in the last user turn, a sentence per tool result after results, JSON for a schema, and
//! otherwise the text above. [`RecordedRequest::attachments`],
//! [`RecordedRequest::tool_config`] and [`FakeBedrock::last_converse`] show tests what
//! arrived.
//!
//! Beyond the conversation (module `features`): extended thinking (a signed
//! `reasoningContent` block first, redacted on `[[redacted]]`; replayed blocks' signatures
//! checked), a real prompt cache behind `cachePoint` blocks with Bedrock's disjoint usage
//! counts, guardrails (`guardrailConfig` or InvokeModel's headers) that intervene on
//! `[[guardrail]]` with a trace, `serviceTier` and `performanceConfig` echoed,
//! `requestMetadata` validated, and CountTokens (`POST /model/{id}/count-tokens`) counting
//! exactly what Converse counts. [`RecordedRequest::cache_points`],
//! [`RecordedRequest::reasoning_blocks`], [`RecordedRequest::guardrail_config`],
//! [`RecordedRequest::service_tier`], [`RecordedRequest::performance_config`] and
//! [`RecordedRequest::request_metadata`] show what arrived;
//! [`FakeBedrock::expire_prompt_cache`] and [`FakeBedrock::clear_prompt_cache`] reset the cache.
//!
//! Tests script failures per model ID with [`FakeBedrock::set_behavior`]; see [`Behavior`].
//! The control plane can be scripted too, under the keys [`FOUNDATION_MODELS_KEY`] and
//! [`INFERENCE_PROFILES_KEY`].
#![allow(dead_code, unreachable_pub)]

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The words the fake model cycles through, one word per token.
pub const WORDS: [&str; 10] = [
    "The", "sky", "is", "wide", "and", "blue", "and", "full", "of", "light",
];

/// How many tokens a generation has when nothing stops it earlier.
pub const NATURAL_TOKENS: usize = 12;

/// What follows the error type in the `x-amzn-errortype` header.
pub const ERROR_TYPE_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazon.bedrock/";

/// Behaviour key for ListFoundationModels and GetFoundationModel.
pub const FOUNDATION_MODELS_KEY: &str = "/foundation-models";

/// Behaviour key for ListInferenceProfiles and GetInferenceProfile.
pub const INFERENCE_PROFILES_KEY: &str = "/inference-profiles";

/// Region prefixes of the system-defined cross-region inference profiles.
pub const PROFILE_PREFIXES: [&str; 3] = ["us", "eu", "apac"];

/// The account that owns the fake's inference profiles.
pub const ACCOUNT_ID: &str = "123456789012";

/// Bedrock's message for an unknown model ID.
pub const INVALID_MODEL_MESSAGE: &str = "The provided model identifier is invalid.";

/// Bedrock's message for a Converse request whose first message is not from the user.
pub const FIRST_MESSAGE_USER_MESSAGE: &str = "A conversation must start with a user message. Try again with a conversation that starts with a user message.";

/// Message for a Converse call to a model without TEXT output.
pub const UNSUPPORTED_MODEL_MESSAGE: &str = "This action doesn't support the model that you provided. Try again with a supported text or chat model.";

/// Message for a Converse call to Titan Text with a system prompt (wording not verified
/// against real Bedrock; only the fact of refusal is).
pub const NO_SYSTEM_MESSAGE: &str =
    "This model doesn't support system messages. Try again without system messages.";

/// Timestamp used for `createdAt` / `updatedAt` of inference profiles.
pub const PROFILE_TIMESTAMP: &str = "2025-02-19T00:00:00Z";

mod features;
pub use features::*;

const CATALOGUE_JSON: &str = include_str!("../../data/foundation-models.json");

/// Bedrock's message when a base model ID is used on demand but the model only supports
/// inference profiles or provisioned throughput.
pub fn on_demand_message(model_id: &str) -> String {
    format!(
        "Invocation of model ID {model_id} with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model."
    )
}

/// Token `i` of every generation (with its leading space, except for the first).
pub fn token(i: usize) -> String {
    let word = WORDS[i % WORDS.len()];
    if i == 0 {
        word.to_string()
    } else {
        format!(" {word}")
    }
}

/// The text of the first `n` tokens.
pub fn expected_text(n: usize) -> String {
    (0..n).map(token).collect()
}

/// The text of a natural, uninterrupted generation.
pub fn natural_text() -> String {
    expected_text(NATURAL_TOKENS)
}

/// Counts whitespace-separated words: the fake's input-token count.
pub fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The foundation-model summaries of `data/foundation-models.json`.
pub fn catalogue() -> Vec<Value> {
    let v: Value = serde_json::from_str(CATALOGUE_JSON).expect("foundation-models.json parses");
    v["modelSummaries"]
        .as_array()
        .cloned()
        .expect("modelSummaries is an array")
}

/// The system-defined cross-region inference profiles the fake lists, in order.
pub fn inference_profiles() -> Vec<Value> {
    build_profiles(&catalogue())
}

/// What the fake does on a call. Set per model ID with [`FakeBedrock::set_behavior`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Answer normally.
    #[default]
    Normal,
    /// Answer with this HTTP status, `x-amzn-errortype: <error_type>:http://internal...`
    /// and body `{"message": message}`, before any body (also for streaming calls).
    Error {
        /// HTTP status code, e.g. 429.
        status: u16,
        /// Error shape name, e.g. "ThrottlingException".
        error_type: String,
        /// The `message` of the body.
        message: String,
    },
    /// Streams: after `after_tokens` token frames, an event-stream frame with
    /// `:message-type exception`, `:exception-type <exception_type>` (first letter lowered
    /// to camelCase, as Bedrock sends e.g. `modelStreamErrorException`) and payload
    /// `{"message": message}`; then the body ends. Unary calls answer with an HTTP error of
    /// that type instead (status from Bedrock's table, 500 when unknown).
    StreamException {
        /// Token frames sent before the exception.
        after_tokens: usize,
        /// Exception name, e.g. "ModelStreamErrorException" or "throttlingException".
        exception_type: String,
        /// The `message` of the payload.
        message: String,
    },
    /// Sleep this long before sending the response headers, then answer normally.
    Latency(Duration),
    /// Streams: sleep this long before every frame after the first. Unary calls unaffected.
    TokenDelay(Duration),
    /// Converse and ConverseStream answer normally, but a text generation is naturally
    /// `tokens` long instead of [`NATURAL_TOKENS`] (a max-token limit or a stop sequence
    /// still ends it earlier). Streams send the first token at once and every later one
    /// `token_delay` after the one before, on a fixed cadence from the first (so timer
    /// rounding does not add up); the frames before the first token and after the last go
    /// at once. For benchmarks: paced streams of a chosen length.
    Paced {
        /// The natural length of a generation, in tokens.
        tokens: usize,
        /// The time between consecutive token frames (zero: no pause).
        token_delay: Duration,
        /// Time the token frames on the fake's own timer thread, to tens of microseconds,
        /// instead of tokio's timer: that one fires on 1 ms ticks after epoll timeouts
        /// rounded up to whole milliseconds, so a cadence drifts by up to 1 ms. Each frame
        /// then costs that thread a wakeup: for a few streams at once, not thousands.
        precise: bool,
    },
    /// Streams: send 200 and headers, then nothing, forever. Unary calls: never answer.
    Stall,
    /// Drop the connection mid-body: streams after `after_tokens` token frames; unary
    /// calls after half of the JSON body.
    ResetMidResponse {
        /// Token frames sent before the reset (streams only).
        after_tokens: usize,
    },
    /// Streams: after `after_tokens` token frames, send the next frame with a corrupted
    /// message CRC, then end the body. Unary calls answer normally.
    BadCrcFrame {
        /// Token frames sent before the corrupt frame.
        after_tokens: usize,
    },
    /// Unary: 200 with the first half of the JSON body. ConverseStream: the first
    /// contentBlockDelta event carries truncated JSON (the SDK fails to unmarshal it).
    /// InvokeModelWithResponseStream: the first token chunk's `bytes` decode to truncated
    /// model JSON (the SDK passes it on; the caller's codec must fail).
    TruncatedJson,
    /// Unary: 200 with `{"unexpected":true}`. ConverseStream: one event of the unknown
    /// type `unexpected` with that payload, then the body ends. InvokeModelWithResponseStream:
    /// one chunk whose bytes are `{"unexpected":true}`, then the body ends.
    UnexpectedBody,
    /// 200 whose body is exactly these byte chunks, in order, then the end of the body.
    /// Streams get `content-type: application/vnd.amazon.eventstream` (build well-formed
    /// frames with [`event_message`], or send anything at all); unary calls get
    /// `application/json`.
    RawBody(Vec<Vec<u8>>),
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method, e.g. "POST".
    pub method: String,
    /// The path with every segment percent-decoded, e.g.
    /// "/model/amazon.titan-text-express-v1/converse".
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// The decoded model ID of runtime calls and GetFoundationModel / GetInferenceProfile.
    pub model_id: Option<String>,
    /// Request headers, names lowercased, repeated values joined with ", ".
    pub headers: HashMap<String, String>,
    /// The body as JSON, or `Value::Null` when empty or not JSON.
    pub body: Value,
    /// Whether an `authorization` header starting with "AWS4-HMAC-SHA256" was present.
    pub signed: bool,
    /// Which connection (accept order, from 1) carried the request.
    pub connection: u64,
    /// The HTTP version the request came over, e.g. `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
}

/// A running fake Bedrock. Dropping it stops the server and every connection.
pub struct FakeBedrock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    /// With TLS: the PEM of the CA that signed the fake's certificate.
    ca_pem: Option<String>,
}

/// The fake's TLS identity: a throwaway CA, and a certificate it signed for
/// 127.0.0.1 and localhost. rustls (the SDK's TLS) refuses a self-signed
/// leaf as its own trust anchor, hence the CA.
struct TlsIdentity {
    ca_pem: String,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsIdentity {
    fn generate() -> TlsIdentity {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake Bedrock CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("the server certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("the server identity");
        // As Bedrock's endpoints: HTTP/2 for clients that offer it.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsIdentity {
            ca_pem: ca_cert.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl FakeBedrock {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start() -> FakeBedrock {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// Binds `addr` (e.g. a port that was refusing connections a moment ago) and starts
    /// serving.
    pub async fn start_on(addr: SocketAddr) -> FakeBedrock {
        Self::serve(addr, None, None).await
    }

    /// Binds 127.0.0.1:0 and serves over TLS, offering HTTP/2 and HTTP/1.1
    /// by ALPN as Bedrock's endpoints do. Clients trust [`Self::ca_pem`].
    /// An HTTP/2 connection carries at most `streams_per_connection` calls
    /// at once (its SETTINGS_MAX_CONCURRENT_STREAMS; `None`: no limit).
    /// Bedrock does not publish its own; AWS endpoints commonly announce 128.
    pub async fn start_tls(streams_per_connection: Option<u32>) -> FakeBedrock {
        let addr = "127.0.0.1:0".parse().unwrap();
        Self::serve(addr, Some(TlsIdentity::generate()), streams_per_connection).await
    }

    async fn serve(
        addr: SocketAddr,
        tls: Option<TlsIdentity>,
        streams_per_connection: Option<u32>,
    ) -> FakeBedrock {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the fake's address");
        let addr = listener.local_addr().expect("local addr");
        let catalogue = catalogue();
        let profiles = build_profiles(&catalogue);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            request_counter: AtomicU64::new(0),
            connection_counter: AtomicU64::new(0),
            streams_opened: AtomicUsize::new(0),
            streams_closed: AtomicUsize::new(0),
            exchanges_started: AtomicUsize::new(0),
            exchanges_ended: AtomicUsize::new(0),
            connections_closed: AtomicUsize::new(0),
            catalogue,
            profiles,
        });
        let (ca_pem, acceptor) = match tls {
            Some(t) => (Some(t.ca_pem), Some(t.acceptor)),
            None => (None, None),
        };
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            streams_per_connection,
            shared.clone(),
        ));
        FakeBedrock {
            addr,
            shared,
            task,
            ca_pem,
        }
    }

    /// "http://127.0.0.1:PORT", or "https://…" when serving TLS.
    pub fn url(&self) -> String {
        match self.ca_pem {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// With TLS, the PEM certificate of the CA to trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Scripts every later call for `model_id` (the ID as decoded from the path, e.g.
    /// "amazon.titan-text-express-v1", "us.anthropic...", or a full ARN; for an ARN the ID
    /// inside it is looked up too). [`FOUNDATION_MODELS_KEY`] and [`INFERENCE_PROFILES_KEY`]
    /// script the control plane.
    pub fn set_behavior(&self, model_id: &str, b: Behavior) {
        let mut st = self.shared.state.lock().unwrap();
        if b == Behavior::Normal {
            st.behaviors.remove(model_id);
        } else {
            st.behaviors.insert(model_id.to_string(), b);
        }
    }

    /// Creates an application inference profile over `model_id` (a foundation model of
    /// the catalogue), as CreateInferenceProfile with a foundation-model ARN as its copy
    /// source would; returns its ARN. It is listed under `typeEquals=APPLICATION`, read by
    /// GetInferenceProfile and accepted as `modelId` by the runtime.
    pub fn add_application_profile(&self, id: &str, model_id: &str) -> String {
        let arn = application_profile_arn(id);
        let profile = json!({
            "inferenceProfileName": format!("{id} ({model_id})"),
            "description": format!("Application profile over {model_id}"),
            "createdAt": PROFILE_TIMESTAMP,
            "updatedAt": PROFILE_TIMESTAMP,
            "inferenceProfileArn": arn,
            "models": [{ "modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{model_id}") }],
            "inferenceProfileId": id,
            "status": "ACTIVE",
            "type": "APPLICATION",
        });
        self.shared
            .state
            .lock()
            .unwrap()
            .application_profiles
            .push(profile);
        arn
    }

    /// Makes reads and invocations of the profile `arn` fail with AccessDeniedException,
    /// as for a caller whose IAM policy does not cover it.
    pub fn deny_profile(&self, arn: &str) {
        self.shared
            .state
            .lock()
            .unwrap()
            .denied
            .push(arn.to_owned());
    }

    /// Scripts only the next `calls` calls for `model_id` (then its usual behaviour
    /// returns): e.g. a throttle that one retry gets past.
    pub fn set_behavior_for_calls(&self, model_id: &str, calls: usize, b: Behavior) {
        self.shared
            .state
            .lock()
            .unwrap()
            .transient
            .insert(model_id.to_string(), (calls, b));
    }

    /// Resets every model to [`Behavior::Normal`].
    pub fn clear_behaviors(&self) {
        self.shared.state.lock().unwrap().behaviors.clear();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// Forgets the recorded requests (counters of streams are kept).
    pub fn clear_requests(&self) {
        self.shared.state.lock().unwrap().requests.clear();
    }

    /// How many requests had a decoded path ending with `path_suffix`, e.g. "/converse",
    /// "/converse-stream", "/invoke", "/foundation-models", "/inference-profiles".
    pub fn count(&self, path_suffix: &str) -> usize {
        self.shared
            .state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .count()
    }

    /// Streaming response bodies currently alive (opened and not yet dropped by hyper).
    pub fn streams_open(&self) -> usize {
        self.streams_opened().saturating_sub(self.streams_closed())
    }

    /// Streaming response bodies created so far.
    pub fn streams_opened(&self) -> usize {
        self.shared.streams_opened.load(Ordering::SeqCst)
    }

    /// Streaming response bodies dropped so far.
    pub fn streams_closed(&self) -> usize {
        self.shared.streams_closed.load(Ordering::SeqCst)
    }

    /// Waits until no streaming body is open; false if `timeout` passed first.
    pub async fn wait_streams_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.streams_open() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// HTTP exchanges (request handlers, before any streamed body) still running: a
    /// stalled or slow unary answer counts until its handler returns or its connection
    /// is dropped.
    pub fn exchanges_open(&self) -> usize {
        let started = self.shared.exchanges_started.load(Ordering::SeqCst);
        started.saturating_sub(self.shared.exchanges_ended.load(Ordering::SeqCst))
    }

    /// TCP connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connection_counter.load(Ordering::SeqCst) as usize
    }

    /// TCP connections closed so far (by either side).
    pub fn connections_closed(&self) -> usize {
        self.shared.connections_closed.load(Ordering::SeqCst)
    }

    /// Waits until no handler is running and no streamed body is open; false if
    /// `timeout` passed first.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.streams_open() == 0 && self.exchanges_open() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for FakeBedrock {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Server plumbing
// ---------------------------------------------------------------------------------------

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

struct Shared {
    state: Mutex<State>,
    request_counter: AtomicU64,
    connection_counter: AtomicU64,
    streams_opened: AtomicUsize,
    streams_closed: AtomicUsize,
    /// Request handlers started and finished (or dropped with their connection).
    exchanges_started: AtomicUsize,
    exchanges_ended: AtomicUsize,
    /// TCP connections accepted and closed.
    connections_closed: AtomicUsize,
    catalogue: Vec<Value>,
    profiles: Vec<Value>,
}

/// Counts a handler or a connection as ended when dropped, however it ends.
struct EndCounter<'a>(&'a AtomicUsize);

impl Drop for EndCounter<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct State {
    behaviors: HashMap<String, Behavior>,
    requests: Vec<RecordedRequest>,
    /// The account's application inference profiles, in GetInferenceProfile's shape.
    application_profiles: Vec<Value>,
    /// Profile ARNs whose reads and invocations are refused with AccessDeniedException.
    denied: Vec<String>,
    /// Behaviours for the next few calls only, by model ID: (calls left, behaviour).
    transient: HashMap<String, (usize, Behavior)>,
    /// The prompt cache: prefix hash → expiry.
    prompt_cache: HashMap<[u8; 32], Instant>,
}

impl Shared {
    fn behavior(&self, keys: &[&str]) -> Behavior {
        let mut st = self.state.lock().unwrap();
        for k in keys {
            if let Some((left, b)) = st.transient.get_mut(*k) {
                if *left > 0 {
                    *left -= 1;
                    return b.clone();
                }
            }
        }
        keys.iter()
            .find_map(|k| st.behaviors.get(*k).cloned())
            .unwrap_or_default()
    }

    fn model(&self, id: &str) -> Option<&Value> {
        self.catalogue.iter().find(|m| m["modelId"] == id)
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    streams_per_connection: Option<u32>,
    shared: Arc<Shared>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let tls = tls.clone();
                let conn_no = shared.connection_counter.fetch_add(1, Ordering::SeqCst) + 1;
                connections.spawn(async move {
                    let counted = shared.clone();
                    let _closed = EndCounter(&counted.connections_closed);
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(shared, conn_no, req).await) }
                    });
                    let mut builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    builder.http1().timer(hyper_util::rt::TokioTimer::new());
                    builder.http2().max_concurrent_streams(streams_per_connection);
                    // The builder tells HTTP/2 from HTTP/1.1 by the preface,
                    // so one path serves whatever ALPN settled.
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let _ = builder
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A streaming body's frames; counts itself closed when hyper drops it.
struct TrackedStream {
    inner: Pin<Box<dyn futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>,
    shared: Option<Arc<Shared>>,
}

impl futures::Stream for TrackedStream {
    type Item = Result<Frame<Bytes>, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.streams_closed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One step of a streamed body.
enum Step {
    Data(Bytes),
    Reset,
    StallForever,
    /// Wait until this long after the body was first polled (then go on to the next step).
    At(Duration),
    /// [`Step::At`] on the precise timer ([`precise_timer`]).
    AtPrecisely(Duration),
}

fn stream_body(steps: Vec<Step>, delay: Option<Duration>, track: Option<Arc<Shared>>) -> Body {
    if let Some(shared) = &track {
        shared.streams_opened.fetch_add(1, Ordering::SeqCst);
    }
    let steps: VecDeque<Step> = steps.into();
    let start = (steps, true, None::<tokio::time::Instant>);
    let inner = futures::stream::unfold(start, move |(mut steps, first, origin)| async move {
        let origin = origin.unwrap_or_else(tokio::time::Instant::now);
        let step = loop {
            match steps.pop_front()? {
                Step::At(offset) => tokio::time::sleep_until(origin + offset).await,
                Step::AtPrecisely(offset) => {
                    precise_timer::sleep_until(origin.into_std() + offset).await
                }
                step => break step,
            }
        };
        if let (Some(d), false) = (delay, first) {
            tokio::time::sleep(d).await;
        }
        match step {
            Step::Data(b) => Some((Ok(Frame::data(b)), (steps, false, Some(origin)))),
            Step::Reset => Some((
                {
                    // Returning Pending first lets hyper flush what came before; a body
                    // error aborts the connection without flushing buffered bytes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fake bedrock: scripted reset",
                    ))
                },
                (VecDeque::new(), false, Some(origin)),
            )),
            Step::StallForever => {
                futures::future::pending::<()>().await;
                None
            }
            Step::At(_) | Step::AtPrecisely(_) => unreachable!("waits are taken above"),
        }
    });
    StreamBody::new(TrackedStream {
        inner: Box::pin(inner),
        shared: track,
    })
    .boxed_unsync()
}

/// A timer finer than tokio's, for [`Behavior::Paced`] streams with `precise`: one
/// thread waits on a condvar (a futex with a nanosecond timeout, so within the kernel's
/// timer slack, 50 µs by default) for the earliest deadline and wakes its task.
mod precise_timer {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Condvar, Mutex, Once, OnceLock};
    use std::task::{Context, Poll, Waker};
    use std::time::Instant;

    /// One wait: whether it fired, and the task to wake.
    #[derive(Default)]
    struct Slot {
        fired: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    struct Entry {
        at: Instant,
        /// Orders equal deadlines.
        seq: u64,
        slot: Arc<Slot>,
    }

    impl PartialEq for Entry {
        fn eq(&self, other: &Self) -> bool {
            (self.at, self.seq) == (other.at, other.seq)
        }
    }
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Entry {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            (self.at, self.seq).cmp(&(other.at, other.seq))
        }
    }

    #[derive(Default)]
    struct Timer {
        /// Pending waits, earliest first, and the next sequence number.
        queue: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
        changed: Condvar,
    }

    fn timer() -> &'static Timer {
        static TIMER: OnceLock<Timer> = OnceLock::new();
        static THREAD: Once = Once::new();
        let timer = TIMER.get_or_init(Timer::default);
        THREAD.call_once(|| {
            std::thread::Builder::new()
                .name("fake-bedrock-timer".into())
                .spawn(move || fire(timer))
                .expect("start the fake's timer thread");
        });
        timer
    }

    /// The timer thread: wakes each wait at its deadline, for the process's life.
    fn fire(timer: &Timer) {
        let mut queue = timer.queue.lock().unwrap();
        loop {
            let now = Instant::now();
            let next = queue.0.peek().map(|Reverse(e)| e.at);
            match next {
                None => queue = timer.changed.wait(queue).unwrap(),
                Some(at) if at <= now => {
                    if let Some(Reverse(e)) = queue.0.pop() {
                        e.slot.fired.store(true, Ordering::SeqCst);
                        if let Some(waker) = e.slot.waker.lock().unwrap().take() {
                            waker.wake();
                        }
                    }
                }
                Some(at) => queue = timer.changed.wait_timeout(queue, at - now).unwrap().0,
            }
        }
    }

    /// Completes at `at`.
    pub(super) struct Sleep {
        at: Instant,
        slot: Option<Arc<Slot>>,
    }

    pub(super) fn sleep_until(at: Instant) -> Sleep {
        Sleep { at, slot: None }
    }

    impl Future for Sleep {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if Instant::now() >= self.at {
                return Poll::Ready(());
            }
            let at = self.at;
            let slot = self
                .slot
                .get_or_insert_with(|| {
                    let slot = Arc::new(Slot::default());
                    let timer = timer();
                    let mut queue = timer.queue.lock().unwrap();
                    queue.1 += 1;
                    let seq = queue.1;
                    queue.0.push(Reverse(Entry {
                        at,
                        seq,
                        slot: slot.clone(),
                    }));
                    timer.changed.notify_one();
                    slot
                })
                .clone();
            *slot.waker.lock().unwrap() = Some(cx.waker().clone());
            // Fired before the waker was stored: nobody will wake this task.
            if slot.fired.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }
}

fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn json_response(status: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full_body(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

fn error_response(status: u16, error_type: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(
            "x-amzn-errortype",
            format!("{error_type}{ERROR_TYPE_SUFFIX}"),
        )
        .body(full_body(
            serde_json::to_vec(&json!({ "message": message })).unwrap(),
        ))
        .unwrap()
}

/// A failed request's response, boxed to keep `Result`s small.
type Fail = Box<Response<Body>>;

fn validation(message: &str) -> Fail {
    Box::new(error_response(400, "ValidationException", message))
}

/// Bedrock's HTTP status for an error shape name (either case of the first letter).
pub fn status_for(error_type: &str) -> u16 {
    match pascal_case(error_type).as_str() {
        "ValidationException" | "ServiceQuotaExceededException" => 400,
        "AccessDeniedException" => 403,
        "ResourceNotFoundException" => 404,
        "ModelTimeoutException" => 408,
        "ThrottlingException" | "ModelNotReadyException" => 429,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        "ServiceUnavailableException" => 503,
        _ => 500,
    }
}

fn pascal_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn camel_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[derive(Clone, Debug)]
enum Route {
    ListFoundationModels,
    GetFoundationModel(String),
    ListInferenceProfiles,
    GetInferenceProfile(String),
    Converse(String),
    ConverseStream(String),
    Invoke(String),
    InvokeStream(String),
    CountTokens(String),
    Unknown,
}

impl Route {
    fn parse(method: &Method, segs: &[String]) -> Route {
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["foundation-models"]) => Route::ListFoundationModels,
            ("GET", ["foundation-models", id]) => Route::GetFoundationModel(id.to_string()),
            ("GET", ["inference-profiles"]) => Route::ListInferenceProfiles,
            ("GET", ["inference-profiles", id]) => Route::GetInferenceProfile(id.to_string()),
            ("POST", ["model", rest @ .., op]) if !rest.is_empty() => {
                let id = rest.join("/");
                match *op {
                    "converse" => Route::Converse(id),
                    "converse-stream" => Route::ConverseStream(id),
                    "invoke" => Route::Invoke(id),
                    "invoke-with-response-stream" => Route::InvokeStream(id),
                    "count-tokens" => Route::CountTokens(id),
                    _ => Route::Unknown,
                }
            }
            _ => Route::Unknown,
        }
    }

    fn model_id(&self) -> Option<&str> {
        match self {
            Route::GetFoundationModel(id)
            | Route::GetInferenceProfile(id)
            | Route::Converse(id)
            | Route::ConverseStream(id)
            | Route::Invoke(id)
            | Route::InvokeStream(id)
            | Route::CountTokens(id) => Some(id),
            _ => None,
        }
    }

    fn is_stream(&self) -> bool {
        matches!(self, Route::ConverseStream(_) | Route::InvokeStream(_))
    }
}

async fn handle(shared: Arc<Shared>, conn_no: u64, req: Request<Incoming>) -> Response<Body> {
    shared.exchanges_started.fetch_add(1, Ordering::SeqCst);
    let counted = shared.clone();
    let _ended = EndCounter(&counted.exchanges_ended);
    let started = Instant::now();
    let req_no = shared.request_counter.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let segs: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query = parse_query(parts.uri.query());
    let route = Route::parse(&parts.method, &segs);
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let signed = headers
        .get("authorization")
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"));
    let body_json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    shared.state.lock().unwrap().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: format!("/{}", segs.join("/")),
        query: query.clone(),
        model_id: route.model_id().map(str::to_string),
        headers,
        body: body_json.clone(),
        signed,
        connection: conn_no,
        version: format!("{:?}", parts.version),
    });

    let mut resp = dispatch(
        &shared,
        &route,
        &query,
        &body_json,
        &headers_of(&parts.headers),
        started,
        req_no,
    )
    .await;
    resp.headers_mut().insert(
        "x-amzn-requestid",
        format!("fake-req-{req_no}").parse().unwrap(),
    );
    resp
}

/// Request headers, names lowercased, repeated values joined with ", ".
fn headers_of(h: &hyper::HeaderMap) -> HashMap<String, String> {
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in h {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    headers
}

async fn dispatch(
    shared: &Arc<Shared>,
    route: &Route,
    query: &[(String, String)],
    body: &Value,
    headers: &HashMap<String, String>,
    started: Instant,
    req_no: u64,
) -> Response<Body> {
    // Which behaviour applies.
    let behavior = match route {
        Route::ListFoundationModels | Route::GetFoundationModel(_) => {
            shared.behavior(&[FOUNDATION_MODELS_KEY])
        }
        Route::ListInferenceProfiles | Route::GetInferenceProfile(_) => {
            shared.behavior(&[INFERENCE_PROFILES_KEY])
        }
        Route::Converse(id)
        | Route::ConverseStream(id)
        | Route::Invoke(id)
        | Route::InvokeStream(id)
        | Route::CountTokens(id) => {
            let inner = arn_resource_id(id).unwrap_or_default();
            shared.behavior(&[id.as_str(), inner.as_str()])
        }
        Route::Unknown => Behavior::Normal,
    };

    // Behaviours that act before the request is even looked at.
    match &behavior {
        Behavior::Latency(d) => tokio::time::sleep(*d).await,
        Behavior::Error {
            status,
            error_type,
            message,
        } => return error_response(*status, error_type, message),
        Behavior::Stall if !route.is_stream() => {
            futures::future::pending::<()>().await;
        }
        Behavior::StreamException {
            exception_type,
            message,
            ..
        } if !route.is_stream() => {
            let t = pascal_case(exception_type);
            return error_response(status_for(&t), &t, message);
        }
        _ => {}
    }

    // The natural length of a Converse generation.
    let natural = match &behavior {
        Behavior::Paced { tokens, .. } => *tokens,
        _ => NATURAL_TOKENS,
    };
    let reply = match route {
        Route::ListFoundationModels => Ok(list_foundation_models(shared, query)),
        Route::GetFoundationModel(id) => get_foundation_model(shared, id),
        Route::ListInferenceProfiles => list_inference_profiles(shared, query),
        Route::GetInferenceProfile(id) => get_inference_profile(shared, id),
        Route::Converse(id) => converse(shared, id, body, started, false, req_no, natural),
        Route::ConverseStream(id) => converse(shared, id, body, started, true, req_no, natural),
        Route::Invoke(id) => invoke(shared, id, body, headers, started, false, req_no),
        Route::InvokeStream(id) => invoke(shared, id, body, headers, started, true, req_no),
        Route::CountTokens(id) => count_tokens(shared, id, body),
        Route::Unknown => Err(Box::new(error_response(
            404,
            "UnknownOperationException",
            "fake bedrock: no such operation",
        ))),
    };
    let reply = match reply {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match reply {
        Reply::Unary { value, headers } => unary_response(value, headers, &behavior),
        Reply::Stream {
            kind,
            events,
            headers,
        } => stream_response(shared, kind, events, headers, &behavior),
    }
}

enum Reply {
    Unary {
        value: Value,
        headers: Vec<(&'static str, String)>,
    },
    Stream {
        kind: StreamKind,
        events: Vec<Ev>,
        headers: Vec<(&'static str, String)>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    /// ConverseStream: each event's payload is the member's JSON.
    Converse,
    /// InvokeModelWithResponseStream: `chunk` events with `{"bytes": base64(model JSON)}`.
    Invoke,
}

/// One event of a stream before encoding.
struct Ev {
    event_type: &'static str,
    json: Value,
    token: bool,
}

fn unary_response(
    value: Value,
    headers: Vec<(&'static str, String)>,
    behavior: &Behavior,
) -> Response<Body> {
    let mut bytes = serde_json::to_vec(&value).unwrap();
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let body = match behavior {
        Behavior::TruncatedJson => {
            bytes.truncate(bytes.len() / 2);
            full_body(bytes)
        }
        Behavior::UnexpectedBody => full_body(br#"{"unexpected":true}"#.to_vec()),
        Behavior::RawBody(chunks) => full_body(chunks.concat()),
        Behavior::ResetMidResponse { .. } => {
            let all = Bytes::from(bytes);
            let first = all.slice(..all.len() / 2);
            stream_body(vec![Step::Data(first), Step::Reset], None, None)
        }
        _ => full_body(bytes),
    };
    builder.body(body).unwrap()
}

/// One well-formed AWS event-stream message (valid prelude and message CRCs) with string
/// headers, e.g. `[(":message-type", "event"), (":event-type", "chunk")]`, for
/// [`Behavior::RawBody`].
pub fn event_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    event_frame(headers.to_vec(), payload.to_vec()).to_vec()
}

fn event_frame(headers: Vec<(&str, &str)>, payload: Vec<u8>) -> Bytes {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let mut msg = Message::new(payload);
    for (k, v) in headers {
        msg = msg.add_header(Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut buf: Vec<u8> = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&msg, &mut buf).expect("frame encodes");
    Bytes::from(buf)
}

fn encode_event(kind: StreamKind, event_type: &str, model_json: &[u8]) -> Bytes {
    let payload = match kind {
        StreamKind::Converse => model_json.to_vec(),
        StreamKind::Invoke => serde_json::to_vec(&json!({
            "bytes": base64::engine::general_purpose::STANDARD.encode(model_json)
        }))
        .unwrap(),
    };
    event_frame(
        vec![
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    event_frame(
        vec![
            (":message-type", "exception"),
            (":exception-type", &camel_case(exception_type)),
            (":content-type", "application/json"),
        ],
        serde_json::to_vec(&json!({ "message": message })).unwrap(),
    )
}

fn stream_response(
    shared: &Arc<Shared>,
    kind: StreamKind,
    events: Vec<Ev>,
    headers: Vec<(&'static str, String)>,
    behavior: &Behavior,
) -> Response<Body> {
    let encode =
        |ev: &Ev| encode_event(kind, ev.event_type, &serde_json::to_vec(&ev.json).unwrap());
    // Index of the first event after `n` token events (or after the preamble for n = 0).
    let position_after = |n: usize| -> usize {
        let mut seen = 0;
        for (i, ev) in events.iter().enumerate() {
            if ev.token {
                if seen == n {
                    return i;
                }
                seen += 1;
            }
        }
        // Fewer tokens than n: after the last token event.
        events
            .iter()
            .rposition(|e| e.token)
            .map(|i| i + 1)
            .unwrap_or(events.len())
    };
    let mut delay = None;
    let steps: Vec<Step> = match behavior {
        Behavior::Stall => vec![Step::StallForever],
        Behavior::StreamException {
            after_tokens,
            exception_type,
            message,
        } => {
            let pos = position_after(*after_tokens);
            let mut s: Vec<Step> = events[..pos]
                .iter()
                .map(|e| Step::Data(encode(e)))
                .collect();
            s.push(Step::Data(exception_frame(exception_type, message)));
            s
        }
        Behavior::ResetMidResponse { after_tokens } => {
            let pos = position_after(*after_tokens);
            let mut s: Vec<Step> = events[..pos]
                .iter()
                .map(|e| Step::Data(encode(e)))
                .collect();
            s.push(Step::Reset);
            s
        }
        Behavior::BadCrcFrame { after_tokens } => {
            let pos = position_after(*after_tokens);
            let mut s: Vec<Step> = events[..pos]
                .iter()
                .map(|e| Step::Data(encode(e)))
                .collect();
            let victim = events
                .get(pos)
                .or(events.last())
                .map(&encode)
                .unwrap_or_else(|| encode_event(kind, "chunk", b"{}"));
            let mut bad = victim.to_vec();
            let last = bad.len() - 1;
            bad[last] ^= 0xff;
            s.push(Step::Data(Bytes::from(bad)));
            s
        }
        Behavior::TruncatedJson => {
            let mut truncated_one = false;
            events
                .iter()
                .map(|e| {
                    if e.token && !truncated_one {
                        truncated_one = true;
                        let mut j = serde_json::to_vec(&e.json).unwrap();
                        j.truncate(j.len() / 2);
                        Step::Data(encode_event(kind, e.event_type, &j))
                    } else {
                        Step::Data(encode(e))
                    }
                })
                .collect()
        }
        Behavior::UnexpectedBody => {
            let event_type = match kind {
                StreamKind::Converse => "unexpected",
                StreamKind::Invoke => "chunk",
            };
            vec![Step::Data(encode_event(
                kind,
                event_type,
                br#"{"unexpected":true}"#,
            ))]
        }
        Behavior::RawBody(chunks) => chunks
            .iter()
            .map(|c| Step::Data(Bytes::from(c.clone())))
            .collect(),
        Behavior::TokenDelay(d) => {
            delay = Some(*d);
            events.iter().map(|e| Step::Data(encode(e))).collect()
        }
        Behavior::Paced {
            token_delay,
            precise,
            ..
        } => {
            let mut s = Vec::with_capacity(2 * events.len());
            let mut tokens = 0u32;
            for e in &events {
                if e.token {
                    if tokens > 0 && !token_delay.is_zero() {
                        let offset = *token_delay * tokens;
                        s.push(if *precise {
                            Step::AtPrecisely(offset)
                        } else {
                            Step::At(offset)
                        });
                    }
                    tokens += 1;
                }
                s.push(Step::Data(encode(e)));
            }
            s
        }
        _ => events.iter().map(|e| Step::Data(encode(e))).collect(),
    };
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/vnd.amazon.eventstream");
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    builder
        .body(stream_body(steps, delay, Some(shared.clone())))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Control plane
// ---------------------------------------------------------------------------------------

fn contains_str(v: &Value, needle: &str) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(needle)))
}

fn list_foundation_models(shared: &Shared, query: &[(String, String)]) -> Reply {
    let provider = query_get(query, "byProvider");
    let output = query_get(query, "byOutputModality");
    let inference = query_get(query, "byInferenceType");
    let customization = query_get(query, "byCustomizationType");
    let summaries: Vec<Value> = shared
        .catalogue
        .iter()
        .filter(|m| {
            provider.is_none_or(|p| {
                m["providerName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(p))
            })
        })
        .filter(|m| output.is_none_or(|o| contains_str(&m["outputModalities"], o)))
        .filter(|m| inference.is_none_or(|i| contains_str(&m["inferenceTypesSupported"], i)))
        .filter(|m| customization.is_none_or(|c| contains_str(&m["customizationsSupported"], c)))
        .cloned()
        .collect();
    Reply::Unary {
        value: json!({ "modelSummaries": summaries }),
        headers: vec![],
    }
}

/// The resource part of an ARN ("foundation-model/x" → "x"), if `id` is an ARN.
fn arn_resource_id(id: &str) -> Option<String> {
    if !id.starts_with("arn:") {
        return None;
    }
    let resource = id.splitn(6, ':').nth(5)?;
    let (_, rest) = resource.split_once('/')?;
    Some(rest.to_string())
}

fn get_foundation_model(shared: &Shared, id: &str) -> Result<Reply, Fail> {
    let base = if id.starts_with("arn:") {
        if id.contains(":foundation-model/") {
            arn_resource_id(id).unwrap_or_default()
        } else {
            String::new()
        }
    } else {
        id.to_string()
    };
    match shared.model(&base) {
        Some(m) => Ok(Reply::Unary {
            value: json!({ "modelDetails": m }),
            headers: vec![],
        }),
        None => Err(Box::new(error_response(
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        ))),
    }
}

fn profile_regions(prefix: &str) -> [&'static str; 3] {
    match prefix {
        "us" => ["us-east-1", "us-east-2", "us-west-2"],
        "eu" => ["eu-central-1", "eu-west-1", "eu-west-3"],
        _ => ["ap-northeast-1", "ap-southeast-1", "ap-southeast-2"],
    }
}

fn build_profiles(catalogue: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for m in catalogue {
        if !contains_str(&m["inferenceTypesSupported"], "INFERENCE_PROFILE") {
            continue;
        }
        let model_id = m["modelId"].as_str().unwrap_or_default();
        let provider = m["providerName"].as_str().unwrap_or_default();
        let name = m["modelName"].as_str().unwrap_or(model_id);
        for prefix in PROFILE_PREFIXES {
            let regions = profile_regions(prefix);
            let id = format!("{prefix}.{model_id}");
            out.push(json!({
                "inferenceProfileName": format!("{} {provider} {name}", prefix.to_uppercase()),
                "description": format!(
                    "Routes requests to {provider} {name} in {}, {} and {}.",
                    regions[0], regions[1], regions[2]
                ),
                "createdAt": PROFILE_TIMESTAMP,
                "updatedAt": PROFILE_TIMESTAMP,
                "inferenceProfileArn": format!(
                    "arn:aws:bedrock:us-east-1:{ACCOUNT_ID}:inference-profile/{id}"
                ),
                "models": regions.iter().map(|r| json!({
                    "modelArn": format!("arn:aws:bedrock:{r}::foundation-model/{model_id}")
                })).collect::<Vec<_>>(),
                "inferenceProfileId": id,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            }));
        }
    }
    out
}

/// The ARN of the fake account's application profile `id`.
pub fn application_profile_arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{ACCOUNT_ID}:application-inference-profile/{id}")
}

/// Bedrock's AccessDeniedException wording for an IAM refusal.
fn access_denied(action: &str, resource: &str) -> Fail {
    Box::new(error_response(
        403,
        "AccessDeniedException",
        &format!(
            "User: arn:aws:iam::{ACCOUNT_ID}:user/gateway is not authorized to perform: {action} on \
             resource: {resource} because no identity-based policy allows the {action} action"
        ),
    ))
}

fn list_inference_profiles(shared: &Shared, query: &[(String, String)]) -> Result<Reply, Fail> {
    let max = match query_get(query, "maxResults") {
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(validation(&format!(
                    "1 validation error detected: Value '{s}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )))
            }
        },
        None => 1000,
    };
    let start = match query_get(query, "nextToken") {
        Some(t) => match t.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Err(validation("The provided pagination token is invalid.")),
        },
        None => 0,
    };
    // `typeEquals` (wire name `type`) defaults to SYSTEM_DEFINED.
    let kind = query_get(query, "type").unwrap_or("SYSTEM_DEFINED");
    if kind != "SYSTEM_DEFINED" && kind != "APPLICATION" {
        return Err(validation(&format!(
            "1 validation error detected: Value '{kind}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]"
        )));
    }
    let applications = shared.state.lock().unwrap().application_profiles.clone();
    let all: Vec<&Value> = shared
        .profiles
        .iter()
        .chain(applications.iter())
        .filter(|p| p["type"] == kind)
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|v| (*v).clone())
        .collect();
    let mut value = json!({ "inferenceProfileSummaries": page });
    if start + max < all.len() {
        value["nextToken"] = json!((start + max).to_string());
    }
    Ok(Reply::Unary {
        value,
        headers: vec![],
    })
}

fn get_inference_profile(shared: &Shared, id: &str) -> Result<Reply, Fail> {
    let pid = arn_resource_id(id).unwrap_or_else(|| id.to_string());
    let (applications, denied) = {
        let st = shared.state.lock().unwrap();
        (st.application_profiles.clone(), st.denied.clone())
    };
    if denied
        .iter()
        .any(|d| d == id || arn_resource_id(d).as_deref() == Some(pid.as_str()))
    {
        return Err(access_denied("bedrock:GetInferenceProfile", id));
    }
    match shared
        .profiles
        .iter()
        .chain(applications.iter())
        .find(|p| p["inferenceProfileId"] == pid.as_str())
    {
        Some(p) => Ok(Reply::Unary {
            value: p.clone(),
            headers: vec![],
        }),
        None => Err(Box::new(error_response(
            404,
            "ResourceNotFoundException",
            &format!("Inference profile {id} not found."),
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------

/// Resolves a runtime model ID (base ID, profile ID, or ARN of either) to its catalogue
/// entry, or Bedrock's error.
fn resolve<'a>(shared: &'a Shared, id: &str) -> Result<&'a Value, Fail> {
    let invalid = || validation(INVALID_MODEL_MESSAGE);
    let (id, via_profile) = if id.starts_with("arn:") {
        let resource = id.splitn(6, ':').nth(5).unwrap_or_default();
        match resource.split_once('/') {
            Some(("foundation-model", base)) => (base.to_string(), false),
            Some(("inference-profile", pid)) => (pid.to_string(), true),
            Some(("application-inference-profile", _)) => {
                let st = shared.state.lock().unwrap();
                if st.denied.iter().any(|d| d == id) {
                    return Err(access_denied("bedrock:InvokeModel", id));
                }
                let model_arn = st
                    .application_profiles
                    .iter()
                    .find(|p| p["inferenceProfileArn"] == id)
                    .and_then(|p| p["models"][0]["modelArn"].as_str().map(str::to_owned));
                drop(st);
                let base = model_arn
                    .as_deref()
                    .and_then(|a| a.split_once("foundation-model/"))
                    .map(|(_, m)| m.to_owned())
                    .ok_or_else(invalid)?;
                return shared.model(&base).ok_or_else(invalid);
            }
            _ => return Err(invalid()),
        }
    } else {
        (id.to_string(), false)
    };
    let profile_base = PROFILE_PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(&format!("{p}.")));
    match profile_base {
        Some(base) => match shared.model(base) {
            Some(m) if contains_str(&m["inferenceTypesSupported"], "INFERENCE_PROFILE") => Ok(m),
            _ => Err(invalid()),
        },
        None if via_profile => Err(invalid()),
        None => match shared.model(&id) {
            Some(m) if contains_str(&m["inferenceTypesSupported"], "ON_DEMAND") => Ok(m),
            Some(_) => Err(validation(&on_demand_message(&id))),
            None => Err(invalid()),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    EndTurn,
    MaxTokens,
    Sequence,
}

/// A planned generation.
#[derive(Clone, Debug)]
struct Generation {
    /// The pieces streamed, concatenating to `text` (the last may be a partial token).
    pieces: Vec<String>,
    text: String,
    output_tokens: usize,
    stop: Stop,
    stop_sequence: Option<String>,
}

fn generate(max_tokens: Option<u64>, stop_sequences: &[String]) -> Generation {
    generate_up_to(NATURAL_TOKENS, max_tokens, stop_sequences)
}

/// [`generate`] with a natural length of `natural` tokens.
fn generate_up_to(
    natural: usize,
    max_tokens: Option<u64>,
    stop_sequences: &[String],
) -> Generation {
    let limit = max_tokens.map_or(natural, |m| (m as usize).min(natural));
    let tokens: Vec<String> = (0..limit).map(token).collect();
    let mut text = String::new();
    for (k, t) in tokens.iter().enumerate() {
        text.push_str(t);
        let hit = stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()).map(|p| (p, s)))
            .min_by_key(|(p, _)| *p);
        if let Some((p, seq)) = hit {
            let mut pieces = Vec::new();
            let mut offset = 0;
            for t in &tokens[..=k] {
                let end = offset + t.len();
                if offset < p {
                    pieces.push(t[..(end.min(p) - offset)].to_string());
                }
                offset = end;
            }
            return Generation {
                pieces,
                text: text[..p].to_string(),
                output_tokens: k + 1,
                stop: Stop::Sequence,
                stop_sequence: Some(seq.clone()),
            };
        }
    }
    Generation {
        pieces: tokens.clone(),
        text,
        output_tokens: limit,
        stop: if limit < natural {
            Stop::MaxTokens
        } else {
            Stop::EndTurn
        },
        stop_sequence: None,
    }
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

fn converse(
    shared: &Arc<Shared>,
    id: &str,
    body: &Value,
    started: Instant,
    streaming: bool,
    req_no: u64,
    natural: usize,
) -> Result<Reply, Fail> {
    // Bedrock checks the request's shape (enums, patterns, lengths) before it even looks
    // the model up; the conversation rules come after the model is known.
    shape_errors(body, streaming)?;
    let model = resolve(shared, id)?;
    if !contains_str(&model["outputModalities"], "TEXT") {
        return Err(validation(UNSUPPORTED_MODEL_MESSAGE));
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if messages.first().and_then(|m| m["role"].as_str()) != Some("user") {
        return Err(validation(FIRST_MESSAGE_USER_MESSAGE));
    }
    let system = body["system"].as_array().cloned().unwrap_or_default();
    let base = model["modelId"].as_str().unwrap_or_default();
    if family(base) == Some(Family::Titan) && !system.is_empty() {
        return Err(validation(NO_SYSTEM_MESSAGE));
    }
    if family(base) == Some(Family::Titan) {
        titan_rules(
            base,
            body["inferenceConfig"]["maxTokens"].as_u64(),
            &body["inferenceConfig"]["stopSequences"],
        )?;
    }
    conversation_rules(body, &messages)?;
    media_rules(&messages, family(base))?;
    output_config_rules(body)?;
    guardrail_rules(&body["guardrailConfig"])?;
    reasoning_rules(base, body, &messages)?;
    let layout = layout(base, body);
    cache_rules(base, &layout)?;
    let tier = body["serviceTier"]["type"].as_str();
    let latency_mode = body["performanceConfig"]["latency"].as_str();
    tier_rules(base, tier, latency_mode)?;

    let guardrail = converse_guardrail(body);
    let user_text = last_user_text(&messages);
    let intervened = guardrail.is_some() && user_text.contains(GUARDRAIL_MARKER);
    let (answer, usage) = if intervened {
        // The input guardrail blocks: the model is not invoked and nothing is cached.
        let mut answer = Answer::text(GUARDRAIL_BLOCKED_MESSAGE);
        answer.stop_reason = "guardrail_intervened";
        let usage = json!({ "inputTokens": 0, "outputTokens": 0, "totalTokens": 0 });
        (answer, usage)
    } else {
        let mut answer = plan_answer(body, &messages, req_no, natural);
        if thinking_budget(body).is_some() {
            answer.add_reasoning(user_text.contains(REDACTED_MARKER));
        }
        let (read, write) = use_cache(shared, &layout);
        let input = layout.total - read - write;
        let mut usage = json!({
            "inputTokens": input,
            "outputTokens": answer.output_tokens,
            "totalTokens": layout.total + answer.output_tokens,
        });
        if !layout.points.is_empty() {
            usage["cacheReadInputTokens"] = json!(read);
            usage["cacheWriteInputTokens"] = json!(write);
        }
        (answer, usage)
    };
    // What the response adds beyond usage and metrics: the guardrail's trace, and the
    // tier and latency served (echoed when sent).
    let mut extras = serde_json::Map::new();
    if let Some(trace) = guardrail
        .as_ref()
        .and_then(|g| g.trace(intervened, &user_text))
    {
        extras.insert("trace".into(), json!({ "guardrail": trace }));
    }
    if let Some(t) = tier {
        extras.insert("serviceTier".into(), json!({ "type": t }));
    }
    if let Some(l) = latency_mode {
        extras.insert("performanceConfig".into(), json!({ "latency": l }));
    }
    let latency = started.elapsed().as_millis() as u64;
    if !streaming {
        let mut value = json!({
            "output": { "message": { "role": "assistant", "content": answer.content_json() } },
            "stopReason": answer.stop_reason,
            "usage": usage,
            "metrics": { "latencyMs": latency },
        });
        value.as_object_mut().unwrap().extend(extras);
        return Ok(Reply::Unary {
            value,
            headers: vec![],
        });
    }
    let mut events = vec![Ev {
        event_type: "messageStart",
        json: json!({ "role": "assistant" }),
        token: false,
    }];
    for (index, block) in answer.blocks.iter().enumerate() {
        events.extend(block_events(index, block));
    }
    events.push(Ev {
        event_type: "messageStop",
        json: json!({ "stopReason": answer.stop_reason }),
        token: false,
    });
    let mut metadata = json!({ "usage": usage, "metrics": { "latencyMs": latency } });
    metadata.as_object_mut().unwrap().extend(extras);
    events.push(Ev {
        event_type: "metadata",
        json: metadata,
        token: false,
    });
    Ok(Reply::Stream {
        kind: StreamKind::Converse,
        events,
        headers: vec![],
    })
}

/// The stream events of answer block `index`. Text blocks have no contentBlockStart (as
/// Bedrock streams text); a tool call starts with its ID and name, then its input arrives
/// as fragments of JSON.
fn block_events(index: usize, block: &AnswerBlock) -> Vec<Ev> {
    let mut events = Vec::new();
    match block {
        AnswerBlock::Reasoning {
            pieces,
            signature,
            redacted,
        } => match redacted {
            // Redacted reasoning arrives whole, in one delta.
            Some(bytes) => events.push(Ev {
                event_type: "contentBlockDelta",
                json: json!({
                    "contentBlockIndex": index,
                    "delta": { "reasoningContent": {
                        "redactedContent": base64::engine::general_purpose::STANDARD.encode(bytes),
                    } },
                }),
                token: true,
            }),
            // Text in pieces, then one delta that carries only the signature.
            None => {
                for piece in pieces {
                    events.push(Ev {
                        event_type: "contentBlockDelta",
                        json: json!({
                            "contentBlockIndex": index,
                            "delta": { "reasoningContent": { "text": piece } },
                        }),
                        token: true,
                    });
                }
                events.push(Ev {
                    event_type: "contentBlockDelta",
                    json: json!({
                        "contentBlockIndex": index,
                        "delta": { "reasoningContent": { "signature": signature } },
                    }),
                    token: false,
                });
            }
        },
        AnswerBlock::Text { pieces } => {
            for piece in pieces {
                events.push(Ev {
                    event_type: "contentBlockDelta",
                    json: json!({ "contentBlockIndex": index, "delta": { "text": piece } }),
                    token: true,
                });
            }
        }
        AnswerBlock::ToolUse {
            id,
            name,
            fragments,
            ..
        } => {
            events.push(Ev {
                event_type: "contentBlockStart",
                json: json!({
                    "contentBlockIndex": index,
                    "start": { "toolUse": { "toolUseId": id, "name": name } },
                }),
                token: false,
            });
            for fragment in fragments {
                events.push(Ev {
                    event_type: "contentBlockDelta",
                    json: json!({
                        "contentBlockIndex": index,
                        "delta": { "toolUse": { "input": fragment } },
                    }),
                    token: true,
                });
            }
        }
    }
    events.push(Ev {
        event_type: "contentBlockStop",
        json: json!({ "contentBlockIndex": index }),
        token: false,
    });
    events
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Titan,
    Claude,
    Llama,
    Mistral,
}

fn family(base: &str) -> Option<Family> {
    if base.starts_with("amazon.titan-text") || base.starts_with("amazon.titan-tg1") {
        Some(Family::Titan)
    } else if base.starts_with("anthropic.claude") {
        Some(Family::Claude)
    } else if base.starts_with("meta.llama") {
        Some(Family::Llama)
    } else if base.starts_with("mistral.") {
        Some(Family::Mistral)
    } else {
        None
    }
}

/// Titan Text's own limits, which Bedrock enforces for both APIs: at most one stop
/// sequence, only `User:` or a run of `|`, and a per-model `maxTokenCount` ceiling. (The
/// facts are Bedrock's; the wording of these two messages is not verified against it.)
fn titan_rules(base: &str, max_tokens: Option<u64>, stops: &Value) -> Result<(), Fail> {
    let stops = string_list(stops);
    if stops.len() > 1
        || stops
            .iter()
            .any(|s| s != "User:" && (s.is_empty() || !s.bytes().all(|b| b == b'|')))
    {
        return Err(validation(&format!(
            "Malformed input request: #/textGenerationConfig/stopSequences: {stops:?} is not valid; \
             expected at most 1 item, \"User:\" or a sequence of '|', please reformat your input and try again."
        )));
    }
    let ceiling = if base.starts_with("amazon.titan-text-lite") {
        4096
    } else if base.starts_with("amazon.titan-text-premier") {
        3072
    } else {
        8192
    };
    match max_tokens {
        Some(n) if n > ceiling => Err(validation(&format!(
            "Malformed input request: #/textGenerationConfig/maxTokenCount: {n} is not less or equal to {ceiling}, please reformat your input and try again."
        ))),
        _ => Ok(()),
    }
}

fn malformed_missing(key: &str) -> Fail {
    validation(&format!(
        "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
    ))
}

fn claude_text_words(v: &Value) -> usize {
    match v {
        Value::String(s) => count_words(s),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| b["text"].as_str().map_or(0, count_words))
            .sum(),
        _ => 0,
    }
}

fn invoke(
    shared: &Arc<Shared>,
    id: &str,
    body: &Value,
    headers: &HashMap<String, String>,
    started: Instant,
    streaming: bool,
    req_no: u64,
) -> Result<Reply, Fail> {
    let options = invoke_options(headers)?;
    let model = resolve(shared, id)?;
    let base = model["modelId"].as_str().unwrap_or_default().to_string();
    let Some(fam) = family(&base) else {
        return Err(validation(&format!(
            "fake bedrock: no native request format implemented for model {base}"
        )));
    };
    if !body.is_object() {
        return Err(validation(
            "Malformed input request, please reformat your input and try again.",
        ));
    }
    tier_rules(&base, options.tier.as_deref(), options.latency.as_deref())?;
    let (input_tokens, mut gen) = match fam {
        Family::Titan => {
            let Some(text) = body["inputText"].as_str() else {
                return Err(malformed_missing("inputText"));
            };
            let cfg = &body["textGenerationConfig"];
            titan_rules(&base, cfg["maxTokenCount"].as_u64(), &cfg["stopSequences"])?;
            (
                count_words(text),
                generate(
                    cfg["maxTokenCount"].as_u64(),
                    &string_list(&cfg["stopSequences"]),
                ),
            )
        }
        Family::Claude => {
            for key in ["anthropic_version", "max_tokens", "messages"] {
                if body.get(key).is_none() {
                    return Err(malformed_missing(key));
                }
            }
            (
                claude_native_input_tokens(body),
                generate(
                    body["max_tokens"].as_u64(),
                    &string_list(&body["stop_sequences"]),
                ),
            )
        }
        Family::Llama => {
            let Some(prompt) = body["prompt"].as_str() else {
                return Err(malformed_missing("prompt"));
            };
            (
                count_words(prompt),
                generate(body["max_gen_len"].as_u64(), &[]),
            )
        }
        Family::Mistral => {
            let Some(prompt) = body["prompt"].as_str() else {
                return Err(malformed_missing("prompt"));
            };
            (
                count_words(prompt),
                generate(body["max_tokens"].as_u64(), &string_list(&body["stop"])),
            )
        }
    };
    // A guardrail (from the headers) intervenes on `[[guardrail]]` in the prompt's last
    // user text: the model is not invoked and the blocked message is the output.
    let prompt_text = match fam {
        Family::Titan => body["inputText"].as_str().unwrap_or_default().to_string(),
        Family::Claude => body["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .map(|m| match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(blocks) => blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            })
            .unwrap_or_default(),
        Family::Llama | Family::Mistral => body["prompt"].as_str().unwrap_or_default().to_string(),
    };
    let intervened = options.guardrail.is_some() && prompt_text.contains(GUARDRAIL_MARKER);
    let input_tokens = if intervened { 0 } else { input_tokens };
    if intervened {
        gen = Generation {
            pieces: text_pieces(GUARDRAIL_BLOCKED_MESSAGE),
            text: GUARDRAIL_BLOCKED_MESSAGE.to_string(),
            output_tokens: 0,
            stop: Stop::EndTurn,
            stop_sequence: None,
        };
    }
    // Added to the native body (unary) or its last chunk (streams) when a guardrail ran.
    let mut guardrail_fields = serde_json::Map::new();
    if let Some(g) = &options.guardrail {
        guardrail_fields.insert(
            "amazon-bedrock-guardrailAction".into(),
            json!(if intervened { "INTERVENED" } else { "NONE" }),
        );
        if let Some(trace) = g.trace(intervened, &prompt_text) {
            guardrail_fields.insert("amazon-bedrock-trace".into(), json!({ "guardrail": trace }));
        }
    }
    // The tier and latency served, echoed as response headers when sent.
    let mut echoed: Vec<(&'static str, String)> = Vec::new();
    if let Some(t) = &options.tier {
        echoed.push(("x-amzn-bedrock-service-tier", t.clone()));
    }
    if let Some(l) = &options.latency {
        echoed.push(("x-amzn-bedrock-performanceconfig-latency", l.clone()));
    }
    let latency = started.elapsed().as_millis() as u64;
    let out = gen.output_tokens;
    let titan_reason = match gen.stop {
        _ if intervened => "CONTENT_FILTERED",
        Stop::EndTurn => "FINISH",
        Stop::MaxTokens => "LENGTH",
        Stop::Sequence => "STOP_CRITERIA_MET",
    };
    let claude_reason = match gen.stop {
        Stop::EndTurn => "end_turn",
        Stop::MaxTokens => "max_tokens",
        Stop::Sequence => "stop_sequence",
    };
    let short_reason = match gen.stop {
        Stop::MaxTokens => "length",
        _ => "stop",
    };
    let msg_id = format!("msg_bdrk_fake{req_no:06}");

    if !streaming {
        let mut value = match fam {
            Family::Titan => json!({
                "inputTextTokenCount": input_tokens,
                "results": [{
                    "tokenCount": out,
                    "outputText": gen.text,
                    "completionReason": titan_reason,
                }],
            }),
            Family::Claude => json!({
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": base,
                "content": [{ "type": "text", "text": gen.text }],
                "stop_reason": claude_reason,
                "stop_sequence": gen.stop_sequence,
                "usage": { "input_tokens": input_tokens, "output_tokens": out },
            }),
            Family::Llama => json!({
                "generation": gen.text,
                "prompt_token_count": input_tokens,
                "generation_token_count": out,
                "stop_reason": short_reason,
            }),
            Family::Mistral => json!({
                "outputs": [{ "text": gen.text, "stop_reason": short_reason }],
            }),
        };
        value.as_object_mut().unwrap().extend(guardrail_fields);
        let mut headers = vec![
            ("x-amzn-bedrock-input-token-count", input_tokens.to_string()),
            ("x-amzn-bedrock-output-token-count", out.to_string()),
            ("x-amzn-bedrock-invocation-latency", latency.to_string()),
        ];
        headers.extend(echoed);
        return Ok(Reply::Unary { value, headers });
    }

    let metrics = json!({
        "inputTokenCount": input_tokens,
        "outputTokenCount": out,
        "invocationLatency": latency,
        "firstByteLatency": latency,
    });
    let chunk = |json: Value, token: bool| Ev {
        event_type: "chunk",
        json,
        token,
    };
    let mut events = Vec::new();
    match fam {
        Family::Claude => {
            events.push(chunk(
                json!({
                    "type": "message_start",
                    "message": {
                        "id": msg_id, "type": "message", "role": "assistant", "model": base,
                        "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": { "input_tokens": input_tokens, "output_tokens": 1 },
                    },
                }),
                false,
            ));
            events.push(chunk(
                json!({
                    "type": "content_block_start", "index": 0,
                    "content_block": { "type": "text", "text": "" },
                }),
                false,
            ));
            for p in &gen.pieces {
                events.push(chunk(
                    json!({
                        "type": "content_block_delta", "index": 0,
                        "delta": { "type": "text_delta", "text": p },
                    }),
                    true,
                ));
            }
            events.push(chunk(
                json!({ "type": "content_block_stop", "index": 0 }),
                false,
            ));
            events.push(chunk(
                json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": claude_reason, "stop_sequence": gen.stop_sequence },
                    "usage": { "output_tokens": out },
                }),
                false,
            ));
            events.push(chunk(
                json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": metrics }),
                false,
            ));
        }
        Family::Titan | Family::Llama | Family::Mistral => {
            // One chunk per piece; the last carries the stop reason and the metrics. With
            // no pieces at all, one empty chunk carries them.
            let pieces: Vec<(String, bool)> = if gen.pieces.is_empty() {
                vec![(String::new(), false)]
            } else {
                gen.pieces.iter().map(|p| (p.clone(), true)).collect()
            };
            let n = pieces.len();
            for (i, (p, is_token)) in pieces.into_iter().enumerate() {
                let last = i + 1 == n;
                let mut j = match fam {
                    Family::Titan => json!({
                        "outputText": p,
                        "index": 0,
                        "totalOutputTextTokenCount": if last { out } else { i + 1 },
                        "completionReason": if last { Value::from(titan_reason) } else { Value::Null },
                        "inputTextTokenCount": input_tokens,
                    }),
                    Family::Llama => json!({
                        "generation": p,
                        "prompt_token_count": input_tokens,
                        "generation_token_count": if last { out } else { i + 1 },
                        "stop_reason": if last { Value::from(short_reason) } else { Value::Null },
                    }),
                    _ => json!({
                        "outputs": [{
                            "text": p,
                            "stop_reason": if last { Value::from(short_reason) } else { Value::Null },
                        }],
                    }),
                };
                if last {
                    j["amazon-bedrock-invocationMetrics"] = metrics.clone();
                }
                events.push(chunk(j, is_token));
            }
        }
    }
    if let Some(last) = events.last_mut() {
        if let Some(o) = last.json.as_object_mut() {
            o.extend(guardrail_fields);
        }
    }
    let mut headers = vec![(
        "x-amzn-bedrock-content-type",
        "application/json".to_string(),
    )];
    headers.extend(echoed);
    Ok(Reply::Stream {
        kind: StreamKind::Invoke,
        events,
        headers,
    })
}

// ---------------------------------------------------------------------------------------
// Converse: content blocks, tools and structured output
// ---------------------------------------------------------------------------------------
//
// Shapes follow botocore's bedrock-runtime service model (2023-09-30). Each error message
// below says where its wording comes from: "verified" means it was seen in a real Bedrock
// answer quoted in a public issue; "wording unverified" means the rule is Bedrock's but the
// sentence is the fake's own.

/// Most images one Converse request may carry (tool results' included).
pub const MAX_IMAGES: usize = 20;

/// Most documents one Converse request may carry (tool results' included).
pub const MAX_DOCUMENTS: usize = 5;

/// Largest image: 3.75 MiB, whose base64 is exactly the 5 MiB Claude takes. Bedrock's
/// documentation says "3.75 MB"; the fake takes the larger reading so that it never refuses
/// an image Bedrock would take.
pub const MAX_IMAGE_BYTES: usize = 3_932_160;

/// Largest document: 4.5 MiB (the larger reading of Bedrock's "4.5 MB", as for images).
pub const MAX_DOCUMENT_BYTES: usize = 4_718_592;

/// The image formats Converse takes, in the service model's order.
pub const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];

/// The document formats Converse takes, in the service model's order.
pub const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

/// What the fake model writes into free-text strings of tool inputs and structured answers.
pub const EXAMPLE_STRING: &str = "sky";

/// Verified (langgenius/dify#7328, vercel/ai#7537 and others).
pub const TOOL_CONFIG_REQUIRED_MESSAGE: &str =
    "The toolConfig field must be defined when using toolUse and toolResult content blocks.";

/// Verified (strands-agents/sdk-python#2214).
pub const USER_TOOL_USE_MESSAGE: &str =
    "User messages cannot contain tool uses. Please remove the tool uses and try again.";

/// Wording unverified (modelled on [`USER_TOOL_USE_MESSAGE`]).
pub const ASSISTANT_TOOL_RESULT_MESSAGE: &str =
    "Assistant messages cannot contain tool results. Please remove the tool results and try again.";

/// Verified (boto/boto3#4632, reproduced by an AWS maintainer with a Claude model).
pub const TOO_MANY_IMAGES_MESSAGE: &str =
    "The model returned the following errors: messages: too many images: image_count > 20";

/// Verified (aws-samples/generative-ai-use-cases#1685, production logs).
pub const TOO_MANY_DOCUMENTS_MESSAGE: &str =
    "You can't include more than 5 documents in a request.";

/// Verified (maximhq/bifrost#7003, aws-samples/generative-ai-use-cases#1685).
pub const DUPLICATE_DOCUMENT_NAMES_MESSAGE: &str =
    "Messages can't contain duplicate document names. Rename the document and retry your request.";

/// Verified (simonw/llm-bedrock#8, vercel/ai#20365).
pub const DOCUMENT_NAME_MESSAGE: &str = "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character. Check that the file name conforms to these restrictions and retry your request.";

/// Verified for Llama 3.2 (boto/boto3#4415): the image-mismatch wording of models other
/// than Claude.
pub const IMAGE_MISMATCH_MESSAGE: &str =
    "The model returned the following errors: The provided image does not match the specified image format.";

/// Verified (aws-samples/sample-multi-agent-orchestration-chat-on-agentcore#15): a
/// toolResult with status "error" and no content, at `path` (e.g.
/// "messages.2.content.0.toolResult").
pub fn empty_error_result_message(path: &str) -> String {
    format!("The content field at {path} cannot be empty when status value is error.")
}

/// Wording unverified (Anthropic's own sentence, as Bedrock would relay it).
pub const DUPLICATE_TOOL_NAMES_MESSAGE: &str =
    "The model returned the following errors: tools: Tool names must be unique.";

/// Verified (Just-Curieous/Curie#16, strands-agents/sdk-python#1435): more toolResult blocks
/// in user message `message` (0-based) than toolUse blocks in the assistant turn before.
pub fn tool_results_exceed_message(message: usize) -> String {
    format!(
        "The number of toolResult blocks at messages.{message}.content exceeds the number of toolUse blocks of previous turn."
    )
}

/// Verified (camel-ai/camel#3954): toolUse IDs of the assistant turn before user message
/// `message` (0-based) that got no toolResult, joined with ", ".
pub fn missing_tool_results_message(message: usize, ids: &[&str]) -> String {
    format!(
        "Expected toolResult blocks at messages.{message}.content for the following Ids: {}",
        ids.join(", ")
    )
}

/// A Claude model's answer to an image whose bytes are not its declared format; `path` is
/// the block's Converse path, e.g. "messages.0.content.1.image". Partly verified: the prefix
/// "The model returned the following errors: messages.0.content.1.image.so" and Anthropic's
/// sentence were seen (NousResearch/hermes-agent#55429, ziatdinovmax/SciLink#382); the
/// ".source.bytes" between them is a guess.
pub fn claude_image_mismatch_message(path: &str, declared: &str, actual: &str) -> String {
    format!(
        "The model returned the following errors: {path}.source.bytes: The image was specified using the image/{declared} media type, but the image appears to be a image/{actual} image"
    )
}

/// Wording unverified: bytes that are no image format at all.
pub fn unreadable_image_message(path: &str) -> String {
    format!("The model returned the following errors: {path}.source.bytes: Could not process image")
}

/// Anthropic's wording for an image over 5 MiB of base64 (`encoded_len` bytes), as Bedrock
/// would relay it; wording unverified on Bedrock.
pub fn image_too_large_message(path: &str, encoded_len: usize) -> String {
    format!(
        "The model returned the following errors: {path}.source.bytes: image exceeds 5 MB maximum: {encoded_len} bytes > 5242880 bytes"
    )
}

/// Wording unverified.
pub fn document_too_large_message(name: &str) -> String {
    format!(
        "The document {name} is larger than the 4.5 MB limit. Reduce the document's size and retry your request."
    )
}

/// Wording unverified: a `toolChoice.tool.name` that names no declared tool.
pub fn unknown_tool_choice_message(name: &str) -> String {
    format!(
        "The model returned the following errors: tool_choice: Tool '{name}' not found in tools."
    )
}

/// Wording unverified: `outputConfig.textFormat.structure.jsonSchema.schema` that is not a
/// JSON object (`detail` says why).
pub fn invalid_output_schema_message(detail: &str) -> String {
    format!(
        "The JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is invalid: {detail}. Provide a valid JSON schema and try again."
    )
}

/// The fake model's sentence about one tool result: "The NAME tool returned SUMMARY." or,
/// for status "error", "The NAME tool failed: SUMMARY.". SUMMARY is the result's text pieces
/// and JSON pieces (compact, keys sorted: see [`sorted_keys`]) joined by " ".
pub fn tool_result_sentence(name: &str, summary: &str, failed: bool) -> String {
    if failed {
        format!("The {name} tool failed: {summary}.")
    } else {
        format!("The {name} tool returned {summary}.")
    }
}

/// The sentence the fake model says before a tool call it chose itself (toolChoice auto,
/// or none, with the tool named in the last user turn).
pub fn tool_call_announcement(name: &str) -> String {
    format!("I will call {name}.")
}

/// Whether `id` has Bedrock's tool-use ID shape: "tooluse_" and 22 ASCII letters/digits.
pub fn is_tool_use_id(id: &str) -> bool {
    id.strip_prefix("tooluse_")
        .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The image format whose signature `bytes` start with ("png", "jpeg", "gif", "webp").
pub fn sniff_image_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Small bytes of an image in `format` ("png" and "gif" are real 1x1 images; "jpeg" and
/// "webp" only carry the signature, which is all the fake checks).
pub fn sample_image(format: &str) -> Vec<u8> {
    let b64 = match format {
        "png" => "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "gif" => "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7",
        "jpeg" => return [&[0xff, 0xd8, 0xff, 0xe0][..], b"\x00\x10JFIF\x00fake jpeg", &[0xff, 0xd9]].concat(),
        "webp" => return [&b"RIFF"[..], &[20, 0, 0, 0], b"WEBPVP8 fake webp."].concat(),
        other => panic!("no sample image for format {other:?}"),
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// `v` with every object's keys in sorted order. The fake writes JSON this way, since the
/// order in which keys arrive is not stable (the SDK's Document objects are hash maps).
pub fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_keys(&o[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// The input the fake model passes to a tool whose input schema is `schema`: an object
/// with every `required` property, filled by type (see [`example_structured_output`]).
pub fn example_tool_input(schema: &Value) -> Value {
    sorted_keys(&example(schema, Fill::Required, 0))
}

/// The JSON the fake model answers under an output JSON schema: every property filled.
/// Values by schema: `const`, else the first `enum` value, else `default`, else the first
/// of anyOf/oneOf/allOf, else by type: string [`EXAMPLE_STRING`] (or a sample of its
/// `format`, within min/maxLength), integer `minimum` or 1, number `minimum` or 1.5,
/// boolean true, array `minItems` (at least 1) items, object its properties; keys sorted.
pub fn example_structured_output(schema: &Value) -> Value {
    sorted_keys(&example(schema, Fill::All, 0))
}

/// An image or document of a recorded Converse request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// "image" or "document".
    pub kind: &'static str,
    /// The declared format as sent, e.g. "png" or "pdf".
    pub format: String,
    /// The document's name (None for images).
    pub name: Option<String>,
    /// The base64-decoded `source.bytes`; empty when the source was not inline bytes.
    pub bytes: Vec<u8>,
    /// Where the block sat, e.g. "messages.0.content.1.image" or
    /// "messages.2.content.0.toolResult.content.1.document".
    pub path: String,
}

impl RecordedRequest {
    /// Whether this was a Converse or ConverseStream call.
    pub fn is_converse(&self) -> bool {
        self.path.ends_with("/converse") || self.path.ends_with("/converse-stream")
    }

    /// The request's `messages` (empty when absent).
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Every image and document, in order (those inside tool results included).
    pub fn attachments(&self) -> Vec<Attachment> {
        attachments_of(self.messages())
    }

    /// Every image, in order.
    pub fn images(&self) -> Vec<Attachment> {
        self.attachments()
            .into_iter()
            .filter(|a| a.kind == "image")
            .collect()
    }

    /// Every document, in order.
    pub fn documents(&self) -> Vec<Attachment> {
        self.attachments()
            .into_iter()
            .filter(|a| a.kind == "document")
            .collect()
    }

    /// `toolConfig` exactly as sent.
    pub fn tool_config(&self) -> Option<&Value> {
        self.body.get("toolConfig")
    }

    /// `outputConfig` exactly as sent.
    pub fn output_config(&self) -> Option<&Value> {
        self.body.get("outputConfig")
    }

    /// The JSON schema of `outputConfig`, parsed from the string it travels as.
    pub fn output_json_schema(&self) -> Option<Value> {
        output_json_schema(&self.body)
    }
}

impl FakeBedrock {
    /// Every Converse and ConverseStream request so far, oldest first.
    pub fn converse_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_converse)
            .collect()
    }

    /// The latest Converse or ConverseStream request.
    pub fn last_converse(&self) -> Option<RecordedRequest> {
        self.converse_requests().pop()
    }

    /// The JSON body of the latest Converse or ConverseStream request.
    pub fn last_converse_body(&self) -> Option<Value> {
        self.last_converse().map(|r| r.body)
    }
}

/// The content blocks of a message (empty when absent).
fn content(message: &Value) -> &[Value] {
    message["content"].as_array().map_or(&[], Vec::as_slice)
}

fn role(message: &Value) -> &str {
    message["role"].as_str().unwrap_or_default()
}

fn output_json_schema(body: &Value) -> Option<Value> {
    let schema =
        body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"].as_str()?;
    serde_json::from_str(schema).ok()
}

fn attachments_of(messages: &[Value]) -> Vec<Attachment> {
    let mut out = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        for (j, block) in content(message).iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            push_attachment(block, &at, &mut out);
            let results = block["toolResult"]["content"].as_array();
            for (k, part) in results.into_iter().flatten().enumerate() {
                push_attachment(part, &format!("{at}.toolResult.content.{k}"), &mut out);
            }
        }
    }
    out
}

fn push_attachment(block: &Value, at: &str, out: &mut Vec<Attachment>) {
    for kind in ["image", "document"] {
        let Some(b) = block.get(kind) else { continue };
        let bytes = b["source"]["bytes"]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .unwrap_or_default();
        out.push(Attachment {
            kind,
            format: b["format"].as_str().unwrap_or_default().to_string(),
            name: b["name"].as_str().map(str::to_string),
            bytes,
            path: format!("{at}.{kind}"),
        });
    }
}

// --- Validation -------------------------------------------------------------------------

/// Bedrock's first line of validation: the service model's own constraints (enums, patterns,
/// lengths), all reported at once in the "N validation errors detected" form with 1-based
/// `member` paths (the form is verified, e.g. openclaw/openclaw#12892; which constraints
/// the fake checks is a choice).
fn shape_errors(body: &Value, streaming: bool) -> Result<(), Fail> {
    let mut errors = Vec::new();
    if let Some(tools) = body["toolConfig"]["tools"].as_array() {
        if tools.is_empty() {
            errors.push(
                "Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1".to_string(),
            );
        }
        for (i, tool) in tools.iter().enumerate() {
            if let Some(name) = tool["toolSpec"]["name"].as_str() {
                let at = format!("toolConfig.tools.{}.member.toolSpec.name", i + 1);
                tool_name_errors(name, &at, &mut errors);
            }
        }
    }
    if let Some(name) = body["toolConfig"]["toolChoice"]["tool"]["name"].as_str() {
        tool_name_errors(name, "toolConfig.toolChoice.tool.name", &mut errors);
    }
    let messages = body["messages"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, message) in messages.iter().enumerate() {
        for (j, block) in content(message).iter().enumerate() {
            let at = format!("messages.{}.member.content.{}.member", i + 1, j + 1);
            if let Some(name) = block["toolUse"]["name"].as_str() {
                tool_name_errors(name, &format!("{at}.toolUse.name"), &mut errors);
            }
            media_shape_errors(block, &at, &mut errors);
            let results = block["toolResult"]["content"].as_array();
            for (k, part) in results.into_iter().flatten().enumerate() {
                let inner = format!("{at}.toolResult.content.{}.member", k + 1);
                media_shape_errors(part, &inner, &mut errors);
            }
        }
    }
    if let Some(kind) = body["outputConfig"]["textFormat"]["type"].as_str() {
        if kind != "json_schema" {
            errors.push(enum_error(
                kind,
                "outputConfig.textFormat.type",
                &["json_schema"],
            ));
        }
    }
    more_shape_errors(body, streaming, &mut errors);
    shape_result(errors)
}

/// ToolName: 1 to 64 characters of `[a-zA-Z0-9_-]`.
fn tool_name_errors(name: &str, at: &str, errors: &mut Vec<String>) {
    let prefix = format!("Value '{name}' at '{at}' failed to satisfy constraint: Member must");
    if name.is_empty() {
        errors.push(format!("{prefix} have length greater than or equal to 1"));
        return;
    }
    if name.chars().count() > 64 {
        errors.push(format!("{prefix} have length less than or equal to 64"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        errors.push(format!(
            "{prefix} satisfy regular expression pattern: [a-zA-Z0-9_-]+"
        ));
    }
}

fn media_shape_errors(block: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(format) = block["image"]["format"].as_str() {
        if !IMAGE_FORMATS.contains(&format) {
            errors.push(enum_error(
                format,
                &format!("{at}.image.format"),
                &IMAGE_FORMATS,
            ));
        }
    }
    if let Some(format) = block["document"]["format"].as_str() {
        if !DOCUMENT_FORMATS.contains(&format) {
            errors.push(enum_error(
                format,
                &format!("{at}.document.format"),
                &DOCUMENT_FORMATS,
            ));
        }
    }
    if let Some(name) = block["document"]["name"].as_str() {
        let at = format!("{at}.document.name");
        let prefix = format!("Value '{name}' at '{at}' failed to satisfy constraint: Member must");
        if name.is_empty() {
            errors.push(format!("{prefix} have length greater than or equal to 1"));
        } else if name.chars().count() > 200 {
            errors.push(format!("{prefix} have length less than or equal to 200"));
        }
    }
}

fn enum_error(value: &str, at: &str, allowed: &[&str]) -> String {
    format!(
        "Value '{value}' at '{at}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    )
}

/// The rules of a conversation with tools: tool blocks need `toolConfig`; toolUse only in
/// assistant turns and toolResult only in user turns; a failed result says why; a user turn
/// answers every toolUse of the assistant turn just before it, and nothing else; tool names
/// are unique and a forced tool is one of them.
fn conversation_rules(body: &Value, messages: &[Value]) -> Result<(), Fail> {
    let has = |key: &str| {
        messages
            .iter()
            .flat_map(content)
            .any(|b| b.get(key).is_some())
    };
    let no_tool_config = body.get("toolConfig").is_none_or(Value::is_null);
    if (has("toolUse") || has("toolResult")) && no_tool_config {
        return Err(validation(TOOL_CONFIG_REQUIRED_MESSAGE));
    }
    for message in messages {
        let blocks = content(message);
        if role(message) == "user" && blocks.iter().any(|b| b.get("toolUse").is_some()) {
            return Err(validation(USER_TOOL_USE_MESSAGE));
        }
        if role(message) == "assistant" && blocks.iter().any(|b| b.get("toolResult").is_some()) {
            return Err(validation(ASSISTANT_TOOL_RESULT_MESSAGE));
        }
    }
    for (i, message) in messages.iter().enumerate() {
        for (j, block) in content(message).iter().enumerate() {
            let result = &block["toolResult"];
            let empty = result["content"].as_array().is_none_or(Vec::is_empty);
            if result["status"] == "error" && empty {
                let path = format!("messages.{i}.content.{j}.toolResult");
                return Err(validation(&empty_error_result_message(&path)));
            }
        }
        if role(message) == "user" {
            let previous = i.checked_sub(1).map(|p| &messages[p]);
            let calls = previous.map_or(vec![], |p| block_ids(p, "toolUse"));
            tool_results_answer_calls(i, &calls, &block_ids(message, "toolResult"))?;
        }
    }
    tool_rules(&body["toolConfig"])
}

/// The `toolUseId`s of a message's `key` blocks ("toolUse" or "toolResult").
fn block_ids<'a>(message: &'a Value, key: &str) -> Vec<&'a str> {
    content(message)
        .iter()
        .filter_map(|b| b.get(key))
        .map(|b| b["toolUseId"].as_str().unwrap_or_default())
        .collect()
}

/// User message `index` must answer exactly the tool calls of the turn before it.
fn tool_results_answer_calls(index: usize, calls: &[&str], results: &[&str]) -> Result<(), Fail> {
    if results.len() > calls.len() {
        return Err(validation(&tool_results_exceed_message(index)));
    }
    let missing: Vec<&str> = calls
        .iter()
        .copied()
        .filter(|c| !results.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(validation(&missing_tool_results_message(index, &missing)));
    }
    Ok(())
}

fn tool_rules(tool_config: &Value) -> Result<(), Fail> {
    let names: Vec<&str> = tool_specs(tool_config)
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err(validation(DUPLICATE_TOOL_NAMES_MESSAGE));
    }
    match tool_config["toolChoice"]["tool"]["name"].as_str() {
        Some(chosen) if !names.contains(&chosen) => {
            Err(validation(&unknown_tool_choice_message(chosen)))
        }
        _ => Ok(()),
    }
}

/// The `toolSpec`s of a `toolConfig`, in order.
fn tool_specs(tool_config: &Value) -> Vec<&Value> {
    tool_config["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("toolSpec"))
        .collect()
}

/// Limits on images and documents, and images whose bytes are not their declared format.
fn media_rules(messages: &[Value], family: Option<Family>) -> Result<(), Fail> {
    let attachments = attachments_of(messages);
    let (images, documents): (Vec<&Attachment>, Vec<&Attachment>) =
        attachments.iter().partition(|a| a.kind == "image");
    if images.len() > MAX_IMAGES {
        return Err(validation(TOO_MANY_IMAGES_MESSAGE));
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(validation(TOO_MANY_DOCUMENTS_MESSAGE));
    }
    document_rules(&documents)?;
    for image in images {
        image_rules(image, family == Some(Family::Claude))?;
    }
    Ok(())
}

fn document_rules(documents: &[&Attachment]) -> Result<(), Fail> {
    let names: Vec<&str> = documents.iter().filter_map(|d| d.name.as_deref()).collect();
    if !names.iter().all(|n| valid_document_name(n)) {
        return Err(validation(DOCUMENT_NAME_MESSAGE));
    }
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err(validation(DUPLICATE_DOCUMENT_NAMES_MESSAGE));
    }
    match documents
        .iter()
        .find(|d| d.bytes.len() > MAX_DOCUMENT_BYTES)
    {
        Some(d) => Err(validation(&document_too_large_message(
            d.name.as_deref().unwrap_or_default(),
        ))),
        None => Ok(()),
    }
}

/// Bedrock's document-name rule: ASCII letters and digits, single spaces, hyphens,
/// parentheses and square brackets. Underscores pass too: Bedrock takes them although its
/// message does not list them (strands-agents/sdk-python#3019, tested live there).
fn valid_document_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || " -()[]_".contains(c))
        && !name.contains("  ")
}

fn image_rules(image: &Attachment, claude: bool) -> Result<(), Fail> {
    if image.bytes.is_empty() {
        // Not inline bytes (an S3 location): nothing the fake can look at.
        return Ok(());
    }
    if image.bytes.len() > MAX_IMAGE_BYTES {
        let encoded_len = image.bytes.len().div_ceil(3) * 4;
        return Err(validation(&image_too_large_message(
            &image.path,
            encoded_len,
        )));
    }
    match sniff_image_format(&image.bytes) {
        None => Err(validation(&unreadable_image_message(&image.path))),
        Some(actual) if actual != image.format && claude => Err(validation(
            &claude_image_mismatch_message(&image.path, &image.format, actual),
        )),
        Some(actual) if actual != image.format => Err(validation(IMAGE_MISMATCH_MESSAGE)),
        Some(_) => Ok(()),
    }
}

/// The output JSON schema travels as a string; it must hold a JSON object.
fn output_config_rules(body: &Value) -> Result<(), Fail> {
    let structure = &body["outputConfig"]["textFormat"]["structure"];
    let Some(schema) = structure["jsonSchema"]["schema"].as_str() else {
        return Ok(());
    };
    match serde_json::from_str::<Value>(schema) {
        Ok(v) if v.is_object() => Ok(()),
        Ok(_) => Err(validation(&invalid_output_schema_message(
            "the schema must be a JSON object",
        ))),
        Err(e) => Err(validation(&invalid_output_schema_message(&format!(
            "not valid JSON ({e})"
        )))),
    }
}

// --- Answers ----------------------------------------------------------------------------

/// Longest piece of text or tool input a stream sends in one delta.
const MAX_PIECE_CHARS: usize = 16;

/// One block of the fake model's answer.
enum AnswerBlock {
    /// Reasoning: its text as streamed pieces and its signature, or redacted bytes.
    Reasoning {
        pieces: Vec<String>,
        signature: String,
        redacted: Option<Vec<u8>>,
    },
    /// Text, as the pieces a stream sends (they concatenate to the text).
    Text { pieces: Vec<String> },
    /// A tool call; a stream sends its input's JSON as `fragments`.
    ToolUse {
        id: String,
        name: String,
        input: Value,
        fragments: Vec<String>,
    },
}

/// The fake model's answer to a Converse request.
struct Answer {
    blocks: Vec<AnswerBlock>,
    stop_reason: &'static str,
    output_tokens: usize,
}

impl Answer {
    /// An `end_turn` answer of this text, one output token per streamed piece.
    fn text(text: &str) -> Answer {
        let pieces = text_pieces(text);
        Answer {
            output_tokens: pieces.len(),
            blocks: vec![AnswerBlock::Text { pieces }],
            stop_reason: "end_turn",
        }
    }

    /// Puts the fake model's reasoning first ([`REASONING_TEXT`] signed, or redacted);
    /// its tokens count as output tokens.
    fn add_reasoning(&mut self, redacted: bool) {
        let pieces = text_pieces(REASONING_TEXT);
        self.output_tokens += pieces.len();
        self.blocks.insert(
            0,
            AnswerBlock::Reasoning {
                pieces,
                signature: reasoning_signature(REASONING_TEXT),
                redacted: redacted.then(redacted_reasoning_bytes),
            },
        );
    }

    /// The answer's `output.message.content`.
    fn content_json(&self) -> Value {
        let blocks = self.blocks.iter().map(|b| match b {
            AnswerBlock::Reasoning {
                redacted: Some(bytes),
                ..
            } => json!({ "reasoningContent": {
                "redactedContent": base64::engine::general_purpose::STANDARD.encode(bytes),
            } }),
            AnswerBlock::Reasoning {
                pieces, signature, ..
            } => json!({ "reasoningContent": {
                "reasoningText": { "text": pieces.concat(), "signature": signature },
            } }),
            AnswerBlock::Text { pieces } => json!({ "text": pieces.concat() }),
            AnswerBlock::ToolUse {
                id, name, input, ..
            } => {
                json!({ "toolUse": { "toolUseId": id, "name": name, "input": input } })
            }
        });
        Value::Array(blocks.collect())
    }
}

/// Decides the answer, like a model would but deterministically: after tool results, a
/// sentence per result; a tool call when one is forced or the user named a tool; JSON for
/// an output schema; otherwise the usual generated text.
fn plan_answer(body: &Value, messages: &[Value], req_no: u64, natural: usize) -> Answer {
    let last_user = messages.last().filter(|m| role(m) == "user");
    let blocks = last_user.map_or(&[][..], content);
    if blocks.iter().any(|b| b.get("toolResult").is_some()) {
        return Answer::text(&tool_results_text(messages, blocks));
    }
    if let Some((tool, announced)) = chosen_tool(&body["toolConfig"], blocks) {
        return tool_call_answer(tool, announced, req_no);
    }
    if let Some(schema) = output_json_schema(body) {
        return Answer::text(&example_structured_output(&schema).to_string());
    }
    let cfg = &body["inferenceConfig"];
    let gen = generate_up_to(
        natural,
        cfg["maxTokens"].as_u64(),
        &string_list(&cfg["stopSequences"]),
    );
    Answer {
        stop_reason: match gen.stop {
            Stop::EndTurn => "end_turn",
            Stop::MaxTokens => "max_tokens",
            Stop::Sequence => "stop_sequence",
        },
        output_tokens: gen.output_tokens,
        blocks: vec![AnswerBlock::Text { pieces: gen.pieces }],
    }
}

/// The tool to call, and whether the model chose it itself (and so announces it): the
/// tool `toolChoice.tool` forces; for `any`, the tool the user named or else the first; for
/// `auto` (or no choice), the tool the user named, if any.
fn chosen_tool<'a>(tool_config: &'a Value, last_user: &[Value]) -> Option<(&'a Value, bool)> {
    let specs = tool_specs(tool_config);
    let text = last_user
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let named = specs.iter().copied().find(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| text.contains(&n.to_lowercase()))
    });
    let choice = &tool_config["toolChoice"];
    if let Some(forced) = choice["tool"]["name"].as_str() {
        return specs
            .into_iter()
            .find(|s| s["name"] == forced)
            .map(|s| (s, false));
    }
    if choice.get("any").is_some() {
        return named.or(specs.first().copied()).map(|s| (s, false));
    }
    named.map(|s| (s, true))
}

fn tool_call_answer(spec: &Value, announced: bool, req_no: u64) -> Answer {
    let name = spec["name"].as_str().unwrap_or_default().to_string();
    let input = example_tool_input(&spec["inputSchema"]["json"]);
    let mut blocks = Vec::new();
    if announced {
        blocks.push(AnswerBlock::Text {
            pieces: text_pieces(&tool_call_announcement(&name)),
        });
    }
    blocks.push(AnswerBlock::ToolUse {
        id: tool_use_id(req_no),
        name,
        fragments: json_fragments(&input.to_string()),
        input,
    });
    let output_tokens = blocks
        .iter()
        .map(|b| match b {
            AnswerBlock::Text { pieces } | AnswerBlock::Reasoning { pieces, .. } => pieces.len(),
            AnswerBlock::ToolUse { fragments, .. } => fragments.len(),
        })
        .sum();
    Answer {
        blocks,
        stop_reason: "tool_use",
        output_tokens,
    }
}

/// One [`tool_result_sentence`] per toolResult of the last user turn, naming the tool from
/// the assistant turn before it, joined by " ".
fn tool_results_text(messages: &[Value], last_user: &[Value]) -> String {
    let calls = messages
        .len()
        .checked_sub(2)
        .map_or(&[][..], |i| content(&messages[i]));
    let tool_name = |id: &str| {
        calls
            .iter()
            .find(|b| b["toolUse"]["toolUseId"] == id)
            .and_then(|b| b["toolUse"]["name"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    last_user
        .iter()
        .filter_map(|b| b.get("toolResult"))
        .map(|r| {
            let name = tool_name(r["toolUseId"].as_str().unwrap_or_default());
            tool_result_sentence(
                &name,
                &result_summary(&r["content"]),
                r["status"] == "error",
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tool result's text pieces and compact JSON pieces (keys sorted), joined by " "
/// (images and documents say nothing).
fn result_summary(content: &Value) -> String {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|part| match (part.get("text"), part.get("json")) {
            (Some(Value::String(t)), _) => Some(t.clone()),
            (_, Some(j)) => Some(sorted_keys(j).to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits text as a model streams it: at spaces (a piece starts with its space), and no
/// piece longer than [`MAX_PIECE_CHARS`].
fn text_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let word_ends = c == ' ' && !current.is_empty() && !current.ends_with(' ');
        if word_ends || current.chars().count() >= MAX_PIECE_CHARS {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Splits a tool input's JSON into at least two fragments (as Bedrock streams it, the
/// fragments alone are not valid JSON; only their concatenation is).
fn json_fragments(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    let count = chars.len().div_ceil(MAX_PIECE_CHARS).max(2);
    let size = chars.len().div_ceil(count).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// A tool-use ID of Bedrock's shape, "tooluse_" and 22 letters and digits, derived from
/// the request number so that runs repeat and requests differ.
fn tool_use_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed;
    let mut id = String::from("tooluse_");
    for _ in 0..22 {
        // SplitMix64 steps.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        id.push(char::from(ALPHABET[(z % ALPHABET.len() as u64) as usize]));
    }
    id
}

/// Which object properties an example fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Only the required ones (a tool call's input).
    Required,
    /// All of them (a structured answer).
    All,
}

/// How deep an example follows nested schemas (a recursive `$ref`-free schema can still
/// nest arbitrarily).
const MAX_EXAMPLE_DEPTH: usize = 16;

fn example(schema: &Value, fill: Fill, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return json!(EXAMPLE_STRING);
    };
    if depth > MAX_EXAMPLE_DEPTH {
        return Value::Null;
    }
    if let Some(v) = s.get("const") {
        return v.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(v) = s.get("default") {
        return v.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return example(first, fill, depth + 1);
        }
    }
    match schema_type(s) {
        "object" => object_example(s, fill, depth),
        "array" => {
            let count = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 8);
            let item = s
                .get("items")
                .map_or(json!(EXAMPLE_STRING), |i| example(i, fill, depth + 1));
            Value::Array(vec![item; count as usize])
        }
        "integer" => {
            let low = s
                .get("minimum")
                .and_then(Value::as_f64)
                .map_or(1, |m| m.ceil() as i64);
            let high = s
                .get("maximum")
                .and_then(Value::as_f64)
                .map_or(i64::MAX, |m| m.floor() as i64);
            json!(low.min(high))
        }
        "number" => {
            let low = s.get("minimum").and_then(Value::as_f64).unwrap_or(1.5);
            let high = s.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
            json!(low.min(high))
        }
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(string_example(s)),
    }
}

/// The schema's type: its `type` (the first non-null one of a list), or what its keywords
/// imply.
fn schema_type(s: &serde_json::Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    }
}

fn object_example(s: &serde_json::Map<String, Value>, fill: Fill, depth: usize) -> Value {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (name, property) in s
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if fill == Fill::All || required.contains(&name.as_str()) {
            out.insert(name.clone(), example(property, fill, depth + 1));
        }
    }
    // A required property the schema does not describe still gets a value.
    for name in required {
        out.entry(name.to_string())
            .or_insert_with(|| json!(EXAMPLE_STRING));
    }
    Value::Object(out)
}

fn string_example(s: &serde_json::Map<String, Value>) -> String {
    let base = match s.get("format").and_then(Value::as_str) {
        Some("date") => "2026-01-01",
        Some("date-time") => "2026-01-01T00:00:00Z",
        Some("time") => "00:00:00Z",
        Some("email") => "someone@example.com",
        Some("uri" | "url") => "https://example.com/",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        _ => EXAMPLE_STRING,
    };
    let mut text: String = match s.get("maxLength").and_then(Value::as_u64) {
        Some(max) => base.chars().take(max as usize).collect(),
        None => base.to_string(),
    };
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    while text.chars().count() < min {
        text.push('x');
    }
    text
}
