//! Hardening found by hostile testing (issue 15): a per-connection stream
//! limit, no busy loop when descriptors run out, a deadline for the HTTP/2
//! preface, retries that survive a storm, and refusals an operator can see.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::pb::{GenerateRequest, GenerationParameters};
use bedrock_gateway::server::ServerConfig;
use common::{quick_config, GatewayProcess, TestServer};
use fake_bedrock::{Behavior, FakeBedrock};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TITAN: &str = "amazon.titan-text-express-v1";

fn simulated() -> Arc<SimulatedBackend> {
    Arc::new(SimulatedBackend::new(SimulatedConfig {
        token_delay: Duration::ZERO,
        ..Default::default()
    }))
}

fn request() -> GenerateRequest {
    GenerateRequest {
        model_id: TITAN.into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(GenerationParameters { max_tokens: Some(5), ..Default::default() }),
        ..Default::default()
    }
}

// --- A raw HTTP/2 client ------------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const REFUSED_STREAM: u32 = 0x7;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing, new name" for each pair:
/// no table state, so every block stands alone.
fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// Reads one frame: (type, flags, stream, payload).
async fn read_frame(socket: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut header = [0u8; 9];
    socket.read_exact(&mut header).await.ok()?;
    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.ok()?;
    Some((header[3], header[4], stream, payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gets_the_advertised_streams_and_the_excess_is_refused() {
    const LIMIT: u32 = 8;
    const OPENED: u32 = 20;
    let config = ServerConfig { max_concurrent_streams_per_connection: LIMIT, ..quick_config() };
    let server = TestServer::start(simulated(), config).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(PREFACE).await.unwrap();
    socket.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();

    // The server's SETTINGS advertise the limit; acknowledging them puts it
    // in force.
    let advertised = loop {
        let (kind, flags, _, payload) = read_frame(&mut socket).await.expect("server SETTINGS");
        if kind == SETTINGS && flags & ACK == 0 {
            break payload
                .chunks(6)
                .find(|s| u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
                .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
        }
    };
    assert_eq!(advertised, Some(LIMIT));
    socket.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();

    // A client that ignores the limit: health Watch streams, which never end.
    let headers = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Watch"),
        (":authority", "gateway"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    let empty_request = [0u8, 0, 0, 0, 0];
    let mut burst = Vec::new();
    for i in 0..OPENED {
        let id = 2 * i + 1;
        burst.extend(frame(HEADERS, END_HEADERS, id, &headers));
        burst.extend(frame(DATA, END_STREAM, id, &empty_request));
    }
    socket.write_all(&burst).await.unwrap();

    let mut refused = std::collections::BTreeSet::new();
    let mut answered = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while refused.len() + answered.len() < OPENED as usize {
        let Ok(Some((kind, _, stream, payload))) = tokio::time::timeout_at(deadline, read_frame(&mut socket)).await else {
            break;
        };
        match kind {
            RST_STREAM if u32::from_be_bytes(payload[..4].try_into().unwrap()) == REFUSED_STREAM => {
                refused.insert(stream);
            }
            HEADERS => {
                answered.insert(stream);
            }
            _ => {}
        }
    }
    assert_eq!(answered.len(), LIMIT as usize, "streams served: {answered:?}");
    assert_eq!(refused.len(), (OPENED - LIMIT) as usize, "streams refused: {refused:?}");
    drop(socket);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_the_preface_is_closed_at_the_handshake_timeout() {
    let config = ServerConfig { handshake_timeout: Duration::from_millis(300), ..quick_config() };
    let server = TestServer::start(simulated(), config).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    // The server's SETTINGS may arrive first; then the connection ends.
    let read = tokio::time::timeout(Duration::from_secs(3), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "still open after 3 s");
    let closed_after = started.elapsed();
    assert!(closed_after >= Duration::from_millis(250), "closed after {closed_after:?}, before the timeout");

    // A client that speaks at once is served as ever.
    let mut client = server.client().await;
    client.generate(request()).await.unwrap();
    server.stop().await;
}

/// CPU seconds the process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_gateway_pauses_instead_of_spinning_and_recovers() {
    let gw = GatewayProcess::start_with_open_file_limit(
        &["--backend", "simulated", "--handshake-timeout", "60s", "--simulated-token-delay", "0ms"],
        &[],
        Some(48),
    );
    let pid = gw.child.id();
    // More idle connections than the process has descriptors.
    let mut idle = Vec::new();
    for _ in 0..80 {
        idle.push(TcpStream::connect(&gw.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.2, "the gateway used {used:.2} CPU seconds in 2 s with descriptors exhausted");
    let warnings = gw.log_text().matches("cannot accept connections").count();
    assert!((1..=4).contains(&warnings), "{warnings} warnings in about 2 s: {}", gw.log_text());

    // Once the idle connections go, the gateway serves again.
    drop(idle);
    let mut served = false;
    for _ in 0..50 {
        if let Ok(mut client) = tokio::time::timeout(Duration::from_secs(1), gw.client()).await {
            if client.generate(request()).await.is_ok() {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the gateway did not serve again: {}", gw.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_throttling_storm_a_call_that_one_retry_saves_still_succeeds() {
    let fake = FakeBedrock::start().await;
    let sdk = common::sdk_config_with_retry(
        &fake.url(),
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(5))
            .with_max_backoff(Duration::from_millis(20)),
    )
    .await;
    let backend = common::bedrock_backend_over(&sdk);
    let server = TestServer::start(Arc::new(backend), quick_config()).await;
    let throttle = Behavior::Error {
        status: 429,
        error_type: "ThrottlingException".into(),
        message: "Too many requests, please wait before trying again.".into(),
    };
    fake.set_behavior(TITAN, throttle.clone());
    let channel = server.channel().await;
    let storm: Vec<_> = (0..60)
        .map(|_| {
            let mut client = bedrock_gateway::pb::text_generation_service_client::TextGenerationServiceClient::new(channel.clone());
            tokio::spawn(async move { client.generate(request()).await })
        })
        .collect();
    for call in storm {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }
    assert_eq!(fake.count("/converse"), 180, "every storm call made all three attempts");

    // Throttled once, then answered: one retry saves it.
    fake.set_behavior(TITAN, Behavior::Normal);
    fake.set_behavior_for_calls(TITAN, 1, throttle);
    let mut client = server.client().await;
    client.generate(request()).await.expect("one retry gets past one throttle, storm or not");
    assert_eq!(fake.count("/converse"), 182);
    server.stop().await;
}

/// A plain HTTP GET of `path`: the body.
async fn http_get(addr: &str, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut body = String::new();
    socket.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_are_counted_and_logged_like_finished_ones() {
    let gw = GatewayProcess::start(
        &[
            "--backend",
            "simulated",
            "--metrics-listen",
            "127.0.0.1:0",
            "--max-message-bytes",
            "2048",
            "--api-keys",
            "team:0123456789abcdef0123",
        ],
        &[],
    );
    let metrics_addr = {
        let started = Instant::now();
        let line = loop {
            if let Some(l) = gw.log_text().lines().find(|l| l.contains("metrics at")) {
                break l.to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "metrics address logged: {}", gw.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["addr"].as_str().unwrap().to_owned()
    };
    let mut client = gw.client().await;

    // No key.
    let mut r = tonic::Request::new(request());
    r.metadata_mut().insert("x-request-id", "no-key-1".parse().unwrap());
    r.metadata_mut()
        .insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    assert_eq!(client.generate(r).await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // A key, but a message over --max-message-bytes: tonic refuses it before
    // the handler runs.
    let mut r = tonic::Request::new(GenerateRequest { prompt: "x".repeat(4096), ..request() });
    r.metadata_mut().insert("authorization", "Bearer 0123456789abcdef0123".parse().unwrap());
    r.metadata_mut().insert("x-request-id", "too-big-1".parse().unwrap());
    assert_eq!(client.generate(r).await.unwrap_err().code(), tonic::Code::OutOfRange);

    // A refusal the handler logs itself is not logged twice, and its mark
    // never reaches the client.
    let mut r = tonic::Request::new(GenerateRequest { model_id: "nope.model".into(), ..request() });
    r.metadata_mut().insert("authorization", "Bearer 0123456789abcdef0123".parse().unwrap());
    r.metadata_mut().insert("x-request-id", "not-found-1".parse().unwrap());
    let status = client.generate(r).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.metadata().get("x-bedrock-gateway-logged").is_none(), "{status:?}");

    let deadline = Instant::now() + Duration::from_secs(5);
    let line_of = |id: &str| -> Option<serde_json::Value> {
        gw.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["request_id"] == id)
    };
    while (line_of("no-key-1").is_none() || line_of("too-big-1").is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let no_key = line_of("no-key-1").expect("the unauthenticated call has a log line");
    assert_eq!(no_key["rpc"], "Generate");
    assert_eq!(no_key["code"], "UNAUTHENTICATED");
    assert_eq!(no_key["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(no_key["latency_us"].is_u64(), "{no_key}");
    let too_big = line_of("too-big-1").expect("the oversized call has a log line");
    assert_eq!((&too_big["rpc"], &too_big["code"], &too_big["key"]), (&"Generate".into(), &"OUT_OF_RANGE".into(), &"team".into()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let handled = gw.log_text().lines().filter(|l| l.contains("not-found-1") && l.contains("\"code\"")).count();
    assert_eq!(handled, 1, "one line for a refusal the handler logged: {}", gw.log_text());

    let metrics = http_get(&metrics_addr, "/metrics").await;
    for code in ["UNAUTHENTICATED", "OUT_OF_RANGE", "NOT_FOUND"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("bedrock_gateway_requests_total{") && l.contains("rpc=\"Generate\"") && l.contains(&format!("code=\"{code}\"")) && l.ends_with(" 1")),
            "no requests_total line for {code}:\n{metrics}"
        );
    }
}

/// With TLS: a client that completes the TLS handshake and then sends
/// nothing is closed at the handshake timeout; a real client that goes on to
/// speak HTTP/2 keeps its connection past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_a_client_silent_after_the_tls_handshake_is_closed_too() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let config = ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        tls: Some(ServerTlsConfig::new().identity(Identity::from_pem(&cert_pem, &key_pem))),
        ..quick_config()
    };
    let server = TestServer::start(simulated(), config).await;

    // A raw TLS client (rustls, ALPN h2) that stops after the handshake.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let started = Instant::now();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut silent = connector.connect(name, tcp).await.expect("the TLS handshake completes");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a client silent after TLS was still connected after 3 s");
    assert!(started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());

    // A real client: two calls on one connection, the second well after the
    // handshake timeout.
    let channel = tonic::transport::Channel::from_shared(format!("https://localhost:{}", server.addr.port()))
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert_pem)).domain_name("localhost"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = bedrock_gateway::pb::text_generation_service_client::TextGenerationServiceClient::new(channel);
    client.generate(request()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.generate(request()).await.expect("a connection past its handshake is kept");
    server.stop().await;
}
