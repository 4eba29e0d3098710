//! Production serving, over real sockets: TLS and mTLS, API keys, the
//! concurrency limit, both rate limits, the metrics endpoint, request IDs and
//! trace context.

mod common;

use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::limits::LimitsConfig;
use bedrock_gateway::pb::{
    text_generation_service_client::TextGenerationServiceClient, GenerateRequest,
    GenerationParameters,
    GenerateStreamRequest, SERVICE_NAME,
};
use bedrock_gateway::server::ServerConfig;
use common::{quick_config, MockBackend, TestServer};
use futures::StreamExt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::Code;
use tonic_types::StatusExt;

const KEY_A: &str = "team-a-0123456789abcdef";
const KEY_B: &str = "team-b-fedcba9876543210";

fn request() -> GenerateRequest {
    GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        ..Default::default()
    }
}

fn stream_request() -> GenerateStreamRequest {
    GenerateStreamRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        ..Default::default()
    }
}

fn simulated(token_delay: Duration) -> Arc<SimulatedBackend> {
    Arc::new(SimulatedBackend::new(SimulatedConfig {
        token_delay,
        ..Default::default()
    }))
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    r
}

/// A throwaway PKI: a CA, a server certificate for localhost/127.0.0.1, a
/// client certificate from the same CA and one from an unrelated CA.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    stranger_cert: String,
    stranger_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (params, key, cert)
    };
    let leaf = |names: Vec<String>, issuer: &Issuer<'_, &KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (ca_params, ca_key, ca_cert) = ca("test CA");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], &issuer);
    let (client_cert, client_key) = leaf(vec!["client.test".into()], &issuer);
    let (other_params, other_key, _) = ca("unrelated CA");
    let other = Issuer::from_params(&other_params, &other_key);
    let (stranger_cert, stranger_key) = leaf(vec!["stranger.test".into()], &other);
    Pki {
        ca: ca_cert.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

async fn tls_channel(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

async fn generate_over(channel: Channel) -> Result<(), tonic::Status> {
    TextGenerationServiceClient::new(channel)
        .generate(request())
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_trusting_clients_and_refuses_plaintext() {
    let pki = pki();
    let config = ServerConfig {
        tls: Some(ServerTlsConfig::new().identity(Identity::from_pem(&pki.server_cert, &pki.server_key))),
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::ZERO), config).await;
    let trusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    generate_over(tls_channel(server.addr, trusting).await.unwrap()).await.unwrap();

    // A client that does not trust the CA fails the handshake.
    let other = pki_other_ca();
    let distrusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(other))
        .domain_name("localhost");
    let refused = match tls_channel(server.addr, distrusting).await {
        Err(_) => true,
        Ok(ch) => generate_over(ch).await.is_err(),
    };
    assert!(refused, "a client that does not trust the CA must fail");

    // Plaintext gRPC against the TLS port fails.
    let plain = Channel::from_shared(server.url()).unwrap().connect().await;
    let refused = match plain {
        Err(_) => true,
        Ok(ch) => generate_over(ch).await.is_err(),
    };
    assert!(refused, "plaintext must not be served on the TLS port");

    // grpcurl with -cacert, when the tool is installed (scripts/test installs it).
    if std::process::Command::new("grpcurl").arg("-version").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, &pki.ca).unwrap();
        let addr = server.addr.to_string();
        let ca = ca_path.display().to_string();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("grpcurl")
                .args(["-cacert", &ca, "-authority", "localhost", &addr, "list"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(SERVICE_NAME));
        let addr = server.addr.to_string();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("grpcurl")
                .args(["-insecure", "-plaintext", &addr, "list"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(!out.status.success(), "grpcurl -plaintext against TLS must fail");
    } else {
        assert!(
            std::env::var_os("BEDROCK_GATEWAY_REQUIRE_TOOLS").is_none(),
            "grpcurl is not on PATH; scripts/install-tools installs it"
        );
    }
    server.stop().await;
}

fn pki_other_ca() -> String {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_requires_a_client_certificate_from_the_configured_ca() {
    let pki = pki();
    let config = ServerConfig {
        tls: Some(
            ServerTlsConfig::new()
                .identity(Identity::from_pem(&pki.server_cert, &pki.server_key))
                .client_ca_root(Certificate::from_pem(&pki.ca)),
        ),
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::ZERO), config).await;
    let base = || {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pki.ca))
            .domain_name("localhost")
    };
    let attempt = |tls: ClientTlsConfig| async move {
        match tls_channel(server.addr, tls).await {
            Err(e) => Err(e.to_string()),
            Ok(ch) => generate_over(ch).await.map_err(|s| s.to_string()),
        }
    };
    attempt(base().identity(Identity::from_pem(&pki.client_cert, &pki.client_key)))
        .await
        .expect("a client certificate from the CA is accepted");
    assert!(attempt(base()).await.is_err(), "no client certificate: refused");
    assert!(
        attempt(base().identity(Identity::from_pem(&pki.stranger_cert, &pki.stranger_key)))
            .await
            .is_err(),
        "a certificate from another CA: refused"
    );
    server.stop().await;
}

fn keys() -> Arc<ApiKeys> {
    Arc::new(ApiKeys::parse(&format!("team-a:{KEY_A}\nteam-b:{KEY_B}"), "test").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_required_and_named_in_metrics() {
    let backend = Arc::new(MockBackend::new(&["ok"]));
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let config = ServerConfig {
        auth: AuthPolicy { keys: Some(keys()), protect_health_and_reflection: false },
        metrics_listener: Some(metrics_listener),
        ..quick_config()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let mut client = server.client().await;

    let missing = client.generate(request()).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("authorization"));
    let wrong = client.generate(with_key(request(), "team-a-0123456789abcdeX")).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(!wrong.message().contains("0123456789"), "the key is never echoed");
    assert_eq!(backend.calls(), 0, "refused before any backend call");

    client.generate(with_key(request(), KEY_A)).await.unwrap();
    client.generate(with_key(request(), KEY_B)).await.unwrap();
    client.generate(with_key(request(), KEY_B)).await.unwrap();
    assert_eq!(backend.calls(), 3);

    // Health stays open without a key by default.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest { service: SERVICE_NAME.into() })
        .await
        .unwrap();

    let scrape = scrape(metrics_addr).await;
    // The mock reports 3 input and 1 output token per call.
    assert_eq!(metric(&scrape, "bedrock_gateway_output_tokens_total", &["key=\"team-b\""]), 2.0);
    assert_eq!(metric(&scrape, "bedrock_gateway_output_tokens_total", &["key=\"team-a\""]), 1.0);
    assert_eq!(metric(&scrape, "bedrock_gateway_input_tokens_total", &["key=\"team-b\""]), 6.0);
    assert!(!scrape.contains(KEY_A) && !scrape.contains(KEY_B), "keys never reach metrics");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protecting_health_and_reflection_is_a_setting() {
    let config = ServerConfig {
        auth: AuthPolicy { keys: Some(keys()), protect_health_and_reflection: true },
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::ZERO), config).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let check = || tonic_health::pb::HealthCheckRequest { service: String::new() };
    assert_eq!(health.check(check()).await.unwrap_err().code(), Code::Unauthenticated);
    health.check(with_key(check(), KEY_A)).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_calls_fail_fast_and_streams_hold_permits() {
    let config = ServerConfig {
        rate_limits: LimitsConfig { max_concurrent_generations: 2, ..Default::default() },
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::from_millis(20)), config).await;
    let mut client = server.client().await;
    let mut first = client.generate_stream(stream_request()).await.unwrap().into_inner();
    let mut second = client.generate_stream(stream_request()).await.unwrap().into_inner();
    first.next().await.unwrap().unwrap();
    second.next().await.unwrap().unwrap();

    let started = std::time::Instant::now();
    let refused = client.generate(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("2 concurrent"), "{}", refused.message());
    assert!(started.elapsed() < Duration::from_millis(500), "fails fast, no queueing");
    let refused = client.generate_stream(stream_request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);

    // A cancelled stream gives its permit back.
    drop(first);
    let mut admitted = false;
    for _ in 0..50 {
        if client.generate(request()).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "the cancelled stream's permit was released");
    drop(second);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_limits_refuse_with_retry_info() {
    let config = ServerConfig {
        auth: AuthPolicy { keys: Some(keys()), protect_health_and_reflection: false },
        rate_limits: LimitsConfig { requests_per_minute: 2, ..Default::default() },
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::ZERO), config).await;
    let mut client = server.client().await;
    client.generate(with_key(request(), KEY_A)).await.unwrap();
    client.generate(with_key(request(), KEY_A)).await.unwrap();
    let refused = client.generate(with_key(request(), KEY_A)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let retry = refused.get_details_retry_info().unwrap().retry_delay.unwrap();
    assert!(retry > Duration::from_secs(20) && retry <= Duration::from_secs(30), "{retry:?}");
    // Another key has its own bucket.
    client.generate(with_key(request(), KEY_B)).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_budgets_admit_on_counted_input_plus_max_tokens_and_charge_usage() {
    let backend = Arc::new(MockBackend::new(&["a", "b", "c", "d", "e", "f", "g"]));
    let config = ServerConfig {
        rate_limits: LimitsConfig { tokens_per_minute: 100, ..Default::default() },
        ..quick_config()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let mut client = server.client().await;
    let asking = |max_tokens: u32| GenerateRequest {
        parameters: Some(GenerationParameters { max_tokens: Some(max_tokens), ..Default::default() }),
        ..request()
    };
    // The prompt is 22 bytes: 6 tokens by the gateway's estimate (Titan
    // cannot count). Each call reserves 6 + 40 = 46 tokens, then is charged
    // its usage, 3 input + 7 output = 10: the reservation does not stay
    // spent, so five calls fit in a budget of 100 that two reservations
    // would nearly fill.
    for _ in 0..5 {
        client.generate(asking(40)).await.unwrap();
    }
    assert_eq!(backend.calls(), 5);
    // 50 spent, 50 left: a request that may need 6 + 60 waits, refused
    // before the backend with a time to retry.
    let refused = client.generate(asking(60)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("needs 66"), "{}", refused.message());
    assert!(refused.get_details_retry_info().is_some());
    // One that could never fit is told so, without a retry hint.
    let never = client.generate(asking(200)).await.unwrap_err();
    assert_eq!(never.code(), Code::ResourceExhausted);
    assert!(never.message().contains("alone needs 206 tokens"), "{}", never.message());
    assert!(never.get_details_retry_info().is_none());
    assert_eq!(backend.calls(), 5, "the refused calls never reached the backend");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_trace_context_round_trip() {
    let server = TestServer::start(simulated(Duration::ZERO), quick_config()).await;
    let mut client = server.client().await;
    let mut r = tonic::Request::new(request());
    r.metadata_mut().insert("x-request-id", "caller-chosen-id-42".parse().unwrap());
    r.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    let response = client.generate(r).await.unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "caller-chosen-id-42");
    let tp = response.metadata().get("traceparent").unwrap().to_str().unwrap();
    assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{tp}");
    assert!(!tp.contains("00f067aa0ba902b7"), "the gateway reports its own span");

    let response = client.generate(request()).await.unwrap();
    let made = response.metadata().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(made.len(), 36, "a UUID is made when the caller sends none: {made}");

    // Errors carry the request ID too.
    let mut bad = tonic::Request::new(GenerateRequest { model_id: String::new(), ..request() });
    bad.metadata_mut().insert("x-request-id", "bad-call-7".parse().unwrap());
    let status = client.generate(bad).await.unwrap_err();
    assert_eq!(status.metadata().get("x-request-id").unwrap(), "bad-call-7");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_tokens_streams_and_refusals() {
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let config = ServerConfig {
        metrics_listener: Some(metrics_listener),
        rate_limits: LimitsConfig { max_concurrent_generations: 1, ..Default::default() },
        ..quick_config()
    };
    let server = TestServer::start(simulated(Duration::from_millis(10)), config).await;
    let mut client = server.client().await;

    let generated = client.generate(request()).await.unwrap().into_inner();
    let usage = generated.usage.unwrap();
    client.generate(request()).await.unwrap();
    client.generate(GenerateRequest { model_id: String::new(), ..request() }).await.unwrap_err();

    let mut stream = client.generate_stream(stream_request()).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    let during = scrape(metrics_addr).await;
    assert_eq!(metric(&during, "bedrock_gateway_streams_in_flight", &[]), 1.0);
    // The stream holds the only permit: this one is refused and counted.
    assert_eq!(client.generate(request()).await.unwrap_err().code(), Code::ResourceExhausted);
    while let Some(m) = stream.next().await {
        m.unwrap();
    }

    let after = scrape(metrics_addr).await;
    let titan = "model=\"amazon.titan-text-express-v1\"";
    assert_eq!(metric(&after, "bedrock_gateway_requests_total", &["rpc=\"Generate\"", titan, "code=\"OK\""]), 2.0);
    assert_eq!(metric(&after, "bedrock_gateway_requests_total", &["rpc=\"Generate\"", "code=\"INVALID_ARGUMENT\""]), 1.0);
    assert_eq!(metric(&after, "bedrock_gateway_requests_total", &["rpc=\"Generate\"", "code=\"RESOURCE_EXHAUSTED\""]), 1.0);
    assert_eq!(metric(&after, "bedrock_gateway_requests_total", &["rpc=\"GenerateStream\"", "code=\"OK\""]), 1.0);
    assert_eq!(metric(&after, "bedrock_gateway_limit_refusals_total", &["limit=\"concurrency\""]), 1.0);
    assert_eq!(metric(&after, "bedrock_gateway_streams_in_flight", &[]), 0.0);
    assert_eq!(metric(&after, "bedrock_gateway_time_to_first_token_seconds_count", &[titan]), 1.0);
    assert_eq!(metric(&after, "bedrock_gateway_request_duration_seconds_count", &["rpc=\"Generate\""]), 4.0);
    // Two unary calls and one stream, each with the poem's usage.
    assert_eq!(
        metric(&after, "bedrock_gateway_input_tokens_total", &[titan]),
        3.0 * f64::from(usage.input_tokens)
    );
    server.stop().await;
}

/// GETs `path` over plain HTTP/1.0: (status code, whole response).
async fn http_get(addr: std::net::SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out)
    })
    .await
    .unwrap()
}

/// GETs /metrics.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, out) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_on_the_metrics_port_follow_readiness_and_shutdown() {
    let mut backend = MockBackend::new(&["a"; 40]);
    backend.token_delay = Duration::from_millis(50);
    backend.ready.store(false, std::sync::atomic::Ordering::SeqCst);
    let backend = Arc::new(backend);
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = metrics_listener.local_addr().unwrap();
    let config = ServerConfig { metrics_listener: Some(metrics_listener), ..quick_config() };
    let mut server = TestServer::start(backend.clone(), config).await;
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    assert_eq!(http_get(addr, "/readyz").await.0, 503, "the backend is not ready");
    backend.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut became_ready = false;
    for _ in 0..100 {
        if http_get(addr, "/readyz").await.0 == 200 {
            became_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(became_ready, "readiness follows the backend");
    assert_eq!(http_get(addr, "/nope").await.0, 404);

    // A stream in flight (about 2 s of tokens) keeps the server draining
    // after the signal, and the probes answering.
    let mut client = server.client().await;
    let mut stream = client.generate_stream(stream_request()).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    server.begin_shutdown();
    let mut not_ready = false;
    for _ in 0..100 {
        if http_get(addr, "/readyz").await.0 == 503 {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(not_ready, "/readyz turns 503 as soon as shutdown begins");
    assert_eq!(http_get(addr, "/healthz").await.0, 200, "still alive while draining");
    reader.await.unwrap();
    server.stop().await;
}

/// Sums the samples of `name` whose labels contain every fragment.
fn metric(scrape: &str, name: &str, labels: &[&str]) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' ')))
        .filter(|l| labels.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads HTTP/2 frames from `socket` until one of `frame_type` (without the
/// ACK flag) arrives, or `within` passes. Returns when it arrived.
async fn first_frame_of_type(
    socket: &mut tokio::net::TcpStream,
    frame_type: u8,
    within: Duration,
) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let read = async {
        let mut header = [0u8; 9];
        loop {
            socket.read_exact(&mut header).await.ok()?;
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0u8; len];
            socket.read_exact(&mut payload).await.ok()?;
            if header[3] == frame_type && header[4] & 0x1 == 0 {
                return Some(started.elapsed());
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_get_keepalive_pings_at_the_configured_interval() {
    use tokio::io::AsyncWriteExt;
    const PING: u8 = 0x6;
    // An HTTP/2 client that says hello and then goes quiet: the client
    // preface and an empty SETTINGS frame.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    for (interval, expect_ping) in [(Some(Duration::from_millis(200)), true), (None, false)] {
        let config = ServerConfig { http2_keepalive_interval: interval, ..quick_config() };
        let server = TestServer::start(simulated(Duration::ZERO), config).await;
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(&hello).await.unwrap();
        let ping = first_frame_of_type(&mut socket, PING, Duration::from_millis(1500)).await;
        match (expect_ping, ping) {
            (true, Some(after)) => assert!(
                after >= Duration::from_millis(150),
                "the first ping came after {after:?}, before the 200 ms interval"
            ),
            (true, None) => panic!("no keepalive PING within 1.5 s at a 200 ms interval"),
            (false, Some(after)) => panic!("a PING after {after:?} with keepalive off"),
            (false, None) => {}
        }
        drop(socket);
        server.stop().await;
    }
}
