//! Hostile input over real sockets: each row of RELIABILITY.md's
//! hostile-input table, with its expected result. No input, however hostile,
//! crashes the process, reaches a backend when it should not, or produces an
//! answer the caller cannot read.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::pb::{
    generate_stream_response::Event, text_generation_service_client::TextGenerationServiceClient,
    GenerateRequest, GenerateStreamRequest, GenerationParameters, GetModelRequest, Message, Role,
};
use bedrock_gateway::server::ServerConfig;
use common::{quick_config, MockBackend, TestServer};
use futures::StreamExt;
use prost_types::{value::Kind, ListValue, Struct, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
/// A model whose capability row sets no output ceiling: Bedrock judges.
const NO_CEILING: &str = "cohere.command-r-v1:0";
const GENERATE: &str = "/bedrock.gateway.v1.TextGenerationService/Generate";
/// What a status may weigh in trailers and still reach grpc-java (8 KiB).
const READABLE_STATUS_BYTES: usize = 8 * 1024;

fn request(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        model_id: TITAN.into(),
        prompt: prompt.into(),
        ..Default::default()
    }
}

fn with_parameters(p: GenerationParameters) -> GenerateRequest {
    GenerateRequest {
        parameters: Some(p),
        ..request("Write a poem about sky")
    }
}

async fn mock_server() -> (TestServer, Arc<MockBackend>, TextGenerationServiceClient<Channel>) {
    let backend = Arc::new(MockBackend::new(&["fine"]));
    let server = TestServer::start(backend.clone(), quick_config()).await;
    let client = server.client().await;
    (server, backend, client)
}

/// The fields a BadRequest names.
fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The size of what a status puts in trailers: grpc-message (percent-encoded)
/// and grpc-status-details-bin (base64).
fn status_bytes(status: &tonic::Status) -> usize {
    let message: usize = status
        .message()
        .bytes()
        .map(|b| if b.is_ascii_graphic() || b == b' ' { 1 } else { 3 })
        .sum();
    message + status.details().len().div_ceil(3) * 4
}

// ---------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------

/// Over `--max-input-bytes` (1 MiB): INVALID_ARGUMENT naming `prompt` (or
/// `messages`), before the backend. Over `--max-message-bytes` (4 MiB):
/// tonic's OUT_OF_RANGE before decoding. The connection serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_prompt_is_refused_before_any_work() {
    let (server, backend, mut client) = mock_server().await;
    let limit = ServerConfig::default().limits.max_input_bytes;

    let err = client.generate(request(&"x".repeat(limit + 1))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(fields(&err), ["prompt"]);
    assert!(err.message().contains(&format!("at most {limit} bytes, got {} bytes", limit + 1)), "{}", err.message());

    // The same budget covers a conversation and the system prompt together.
    let half = "y".repeat(limit / 2);
    let conversation = GenerateRequest {
        prompt: String::new(),
        system: half.clone(),
        messages: vec![Message { role: Role::User as i32, content: half + "z", blocks: vec![] }],
        ..request("")
    };
    let err = client.generate(conversation).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(fields(&err), ["messages"]);

    let max_message = ServerConfig::default().max_message_bytes;
    let started = Instant::now();
    let err = client.generate(request(&"x".repeat(max_message + 1))).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("message length too large"), "{}", err.message());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(backend.calls(), 0, "nothing reached the backend");

    client.generate(request("still serving")).await.unwrap();
    assert_eq!(backend.calls(), 1);
    server.stop().await;
}

fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A million stop sequences (a 3 MB message, under the 4 MiB limit) are
/// refused by their count, with one violation rather than a million, fast,
/// and with the gateway's peak memory bounded by the message size. Measured
/// on the real binary's own peak RSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_stop_sequences_are_refused_by_count_fast_and_in_bounded_memory() {
    let gw = common::GatewayProcess::start(&["--backend", "simulated"], &[]);
    let mut client = gw.client().await;
    client.generate(request("warm up")).await.unwrap();
    let pid = gw.child.id();
    let before = hwm_kib(pid);
    for entry in ["x", ""] {
        let r = with_parameters(GenerationParameters {
            stop_sequences: vec![entry.to_owned(); 1_000_000],
            ..Default::default()
        });
        let started = Instant::now();
        let err = client.generate(r).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(fields(&err), ["parameters.stop_sequences"], "one violation, by count");
        assert!(err.message().contains("at most 2500 entries, got 1000000"), "{}", err.message());
        assert!(took < Duration::from_secs(3), "refused in {took:?}");
    }
    let grown_mib = (hwm_kib(pid) - before) / 1024;
    eprintln!("peak RSS grew by {grown_mib} MiB for two 2-3 MB messages of a million entries");
    assert!(grown_mib < 160, "peak RSS grew by {grown_mib} MiB");
    client.generate(request("still serving")).await.unwrap();
}

/// Errors stay readable however many rules a request breaks or however long
/// the values it echoes: 2,500 empty stop sequences (2,500 violations), 2,500
/// long stop sequences for Titan (each echoed by the model rule), and an
/// unknown 2,048-character model ID of 4-byte characters. Each status fits
/// in 8 KiB of trailers and reaches tonic's client (16 KiB cap) intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_that_echo_hostile_input_stay_small_enough_to_read() {
    let (server, _backend, mut client) = mock_server().await;
    let err = client
        .generate(with_parameters(GenerationParameters {
            stop_sequences: vec![String::new(); 2500],
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().starts_with("invalid request: 2500 rules broken"), "{}", err.message());
    let named = fields(&err);
    assert!(!named.is_empty() && named.len() < 2500, "{} violations", named.len());
    assert_eq!(named[0], "parameters.stop_sequences[0]");
    assert!(status_bytes(&err) < READABLE_STATUS_BYTES, "{} bytes", status_bytes(&err));
    server.stop().await;

    let fake = fake_bedrock::FakeBedrock::start().await;
    let backend = common::bedrock_backend(&fake.url(), 1).await;
    let server = TestServer::start(Arc::new(backend), quick_config()).await;
    let mut client = server.client().await;
    let err = client
        .generate(with_parameters(GenerationParameters {
            stop_sequences: vec!["z".repeat(1500); 2500],
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(fields(&err).iter().all(|f| f == "parameters.stop_sequences"));
    assert!(status_bytes(&err) < READABLE_STATUS_BYTES, "{} bytes", status_bytes(&err));
    assert_eq!(fake.count("/converse"), 0);
    server.stop().await;

    let server = TestServer::start(Arc::new(SimulatedBackend::new(SimulatedConfig::default())), quick_config()).await;
    let mut client = server.client().await;
    let err = client
        .get_model(GetModelRequest { model_id: "\u{1D11E}".repeat(2048) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(status_bytes(&err) < READABLE_STATUS_BYTES, "{} bytes", status_bytes(&err));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Depth
// ---------------------------------------------------------------------------

/// `{"a": {"a": ... {"leaf": 1}}}`, `depth` Structs deep.
fn nested_struct(depth: usize) -> Struct {
    let mut s = Struct::default();
    s.fields.insert("leaf".into(), Value { kind: Some(Kind::NumberValue(1.0)) });
    for _ in 1..depth {
        let mut outer = Struct::default();
        outer.fields.insert("a".into(), Value { kind: Some(Kind::StructValue(s)) });
        s = outer;
    }
    s
}

/// `{"l": [[[ ... [1] ... ]]]}` with `depth` lists.
fn nested_list(depth: usize) -> Struct {
    let mut v = Value { kind: Some(Kind::NumberValue(1.0)) };
    for _ in 0..depth {
        v = Value { kind: Some(Kind::ListValue(ListValue { values: vec![v] })) };
    }
    let mut s = Struct::default();
    s.fields.insert("l".into(), v);
    s
}

fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn length_delimited(tag: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    varint(inner.len(), &mut out);
    out.extend_from_slice(inner);
    out
}

/// The wire bytes of a `depth`-deep `{"a": {"a": ... {}}}` Struct, built
/// iteratively: prost's own encoder (like its decoder and `Drop`) recurses
/// and would overflow this test's stack long before 10,000 levels.
fn deep_struct_bytes(depth: usize) -> Vec<u8> {
    let mut s: Vec<u8> = Vec::new();
    for _ in 0..depth {
        let value = length_delimited(0x2a, &s); // Value.struct_value = 5
        let mut entry = length_delimited(0x0a, b"a"); // key = 1
        entry.extend(length_delimited(0x12, &value)); // value = 2
        s = length_delimited(0x0a, &entry); // Struct.fields = 1
    }
    s
}

/// A message already encoded, sent as is.
#[derive(Debug, Default, Clone)]
struct Encoded(Vec<u8>);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        _tag: u32,
        _wire_type: prost::encoding::WireType,
        _buf: &mut impl bytes::Buf,
        _ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        unimplemented!("only sent")
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Which limit fires for a deeply nested `additional_model_request_fields`:
/// the gateway's 32 levels (INVALID_ARGUMENT naming the path) fires first,
/// at 33 Structs or 32 lists; prost's recursion limit (100 message levels,
/// three per Struct level) fires from 34 Structs or 49 lists, as tonic's
/// INTERNAL "failed to decode", before any handler runs. Neither overflows
/// the stack, and nothing reaches the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_structs_hit_the_gateways_depth_limit_then_prosts() {
    let (server, backend, mut client) = mock_server().await;
    let call = |fields: Struct| {
        let r = GenerateRequest {
            additional_model_request_fields: Some(fields),
            ..request("hi")
        };
        let mut client = client.clone();
        async move { client.generate(r).await }
    };
    // At the limit: accepted.
    call(nested_struct(32)).await.unwrap();
    call(nested_list(31)).await.unwrap();
    assert_eq!(backend.calls(), 2);

    // Just past it: ours.
    let err = call(nested_struct(33)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let path = format!("additional_model_request_fields{}.leaf", ".a".repeat(32));
    assert_eq!(fields(&err), [path]);
    assert!(err.message().contains("at most 32 levels deep"));
    for depth in [32, 48] {
        let err = call(nested_list(depth)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "lists {depth}: {err:?}");
        assert!(fields(&err)[0].starts_with("additional_model_request_fields.l[0][0]"), "{:?}", fields(&err));
    }

    // Deeper: prost refuses to decode.
    for fields in [nested_struct(34), nested_list(49), nested_list(90)] {
        let err = call(fields).await.unwrap_err();
        assert_eq!(err.code(), Code::Internal, "{err:?}");
        assert!(err.message().contains("recursion limit reached"), "{}", err.message());
        assert!(status_bytes(&err) < READABLE_STATUS_BYTES);
    }
    // 10,000 levels (about 90 KB on the wire), sent as raw bytes.
    let mut wire = prost::Message::encode_to_vec(&request("hi"));
    wire.extend(length_delimited(0x32, &deep_struct_bytes(10_000))); // field 6
    let r = common::raw_grpc_call(server.addr, GENERATE, &Encoded(wire), "5S").await;
    assert_eq!(r.grpc_status.as_deref(), Some("13"), "{r:?}");
    assert!(r.grpc_message.unwrap_or_default().contains("recursion%20limit%20reached"), "percent-encoded in the raw trailer");
    assert_eq!(backend.calls(), 2, "nothing past a limit reached the backend");
    client.generate(request("still serving")).await.unwrap();
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    })
}

fn header<'a>(r: &'a common::RawResponse, name: &str) -> &'a str {
    r.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// Bad metadata never fails a call that is otherwise fine (except a bad API
/// key, which is UNAUTHENTICATED): a non-ASCII, binary or oversized
/// `x-request-id` is replaced by a fresh UUID; a malformed `grpc-timeout` is
/// ignored (no deadline, as in tonic), an absurd one is honoured; a
/// malformed `traceparent` starts a new trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_is_replaced_or_ignored() {
    let (server, backend, _client) = mock_server().await;
    let send = |headers: Vec<(&'static str, Vec<u8>)>| {
        let addr = server.addr;
        async move {
            let refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            common::raw_grpc_request(addr, GENERATE, &request("hi"), &refs).await
        }
    };

    for bad in [
        b"\xff\xfe\x80binary".to_vec(),
        "caf\u{e9}-\u{1F600}".as_bytes().to_vec(),
        vec![b'r'; 8 * 1024],
        b"   ".to_vec(),
    ] {
        let r = send(vec![("x-request-id", bad.clone())]).await;
        assert_eq!(r.grpc_status.as_deref(), Some("0"), "{r:?}");
        assert!(is_uuid(header(&r, "x-request-id")), "x-request-id {bad:?} → {:?}", header(&r, "x-request-id"));
    }
    let kept = send(vec![("x-request-id", b"caller-id-7".to_vec())]).await;
    assert_eq!(header(&kept, "x-request-id"), "caller-id-7");

    for bad in ["", "abc", "-5m", "5", "5x", "1.5S", "123456789m", "99999999999H", "\u{e9}5m"] {
        let r = send(vec![("grpc-timeout", bad.as_bytes().to_vec())]).await;
        assert_eq!(r.grpc_status.as_deref(), Some("0"), "grpc-timeout {bad:?}: {r:?}");
    }
    let r = send(vec![("grpc-timeout", b"99999999H".to_vec())]).await;
    assert_eq!(r.grpc_status.as_deref(), Some("0"), "the largest legal timeout: {r:?}");

    let their_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    for bad in [
        format!("00-{their_trace}-00f067aa0ba902b7").into_bytes(),
        format!("ff-{their_trace}-00f067aa0ba902b7-01").into_bytes(),
        b"00-\xff\xfe-00f067aa0ba902b7-01".to_vec(),
        "x".repeat(4096).into_bytes(),
    ] {
        let r = send(vec![("traceparent", bad.clone())]).await;
        assert_eq!(r.grpc_status.as_deref(), Some("0"), "{r:?}");
        let ours: Vec<&str> = header(&r, "traceparent").split('-').collect();
        assert_eq!(ours.len(), 4, "{:?}", header(&r, "traceparent"));
        assert_eq!((ours[0], ours[1].len(), ours[2].len()), ("00", 32, 16));
        assert_ne!(ours[1], their_trace);
    }

    // Without API keys configured, `authorization` is not looked at.
    let r = send(vec![("authorization", b"\xff garbage".to_vec())]).await;
    assert_eq!(r.grpc_status.as_deref(), Some("0"), "{r:?}");
    let calls = backend.calls();
    assert!(calls >= 20, "{calls}");
    server.stop().await;
}

/// With API keys, any malformed `authorization` is UNAUTHENTICATED at the
/// edge, before decoding, and the backend is never called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_authorization_is_unauthenticated_before_any_work() {
    let keys = bedrock_gateway::auth::ApiKeys::parse("team:team-key-0123456789", "test").unwrap();
    let backend = Arc::new(MockBackend::new(&["fine"]));
    let config = ServerConfig {
        auth: bedrock_gateway::grpc::edge::AuthPolicy {
            keys: Some(Arc::new(keys)),
            protect_health_and_reflection: false,
        },
        ..quick_config()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let long = format!("Bearer {}", "k".repeat(8 * 1024)).into_bytes();
    for bad in [
        b"garbage".to_vec(),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Basic dGVhbTp0ZWFtLWtleQ==".to_vec(),
        b"Bearer \xff\xfe\x80".to_vec(),
        b"Bearer team-key-0123456789\xff".to_vec(),
        b"bearer team-key-012345678".to_vec(),
        long,
    ] {
        let r = common::raw_grpc_request(server.addr, GENERATE, &request("hi"), &[("authorization", &bad)]).await;
        assert_eq!(r.grpc_status.as_deref(), Some("16"), "authorization {:?}: {r:?}", String::from_utf8_lossy(&bad));
    }
    assert_eq!(backend.calls(), 0);
    let good = common::raw_grpc_request(
        server.addr,
        GENERATE,
        &request("hi"),
        &[("authorization", b"Bearer team-key-0123456789")],
    )
    .await;
    assert_eq!(good.grpc_status.as_deref(), Some("0"), "{good:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// `max_tokens` = u32::MAX passes general validation (it is a valid "as many
/// as you like"); Titan's model rule refuses it before Bedrock is called, on
/// every backend; a model without such a rule gets Converse's i32 maximum (saturated, never
/// wrapped negative); and the simulated backend answers at once without
/// allocating per requested token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enormous_max_tokens_is_judged_by_the_model_and_costs_nothing() {
    let huge = GenerationParameters {
        max_tokens: Some(u32::MAX),
        ..Default::default()
    };
    let (server, backend, mut client) = mock_server().await;
    let no_ceiling = GenerateRequest {
        model_id: NO_CEILING.into(),
        ..with_parameters(huge.clone())
    };
    client.generate(no_ceiling.clone()).await.unwrap();
    let seen = backend.last_request.lock().unwrap().clone().unwrap();
    assert_eq!(seen.parameters.max_tokens.map(|n| n.get()), Some(u32::MAX));
    server.stop().await;

    let fake = fake_bedrock::FakeBedrock::start().await;
    let bedrock = common::bedrock_backend(&fake.url(), 1).await;
    let server = TestServer::start(Arc::new(bedrock), quick_config()).await;
    let mut client = server.client().await;
    let err = client.generate(with_parameters(huge.clone())).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(fields(&err), ["parameters.max_tokens"]);
    assert!(err.message().contains("at most 8192 tokens, got 4294967295"), "{}", err.message());
    assert_eq!(fake.count("/converse"), 0, "refused before Bedrock");
    let r = client.generate(no_ceiling).await.unwrap().into_inner();
    assert_eq!(r.text, fake_bedrock::natural_text());
    let sent = fake.requests().into_iter().find(|q| q.path.ends_with("/converse")).unwrap();
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], i32::MAX);
    server.stop().await;

    let simulated = SimulatedBackend::new(SimulatedConfig::default());
    let server = TestServer::start(Arc::new(simulated), quick_config()).await;
    let mut client = server.client().await;
    let started = Instant::now();
    let r = client
        .generate(GenerateRequest { model_id: NO_CEILING.into(), ..with_parameters(huge.clone()) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.stop_reason(), bedrock_gateway::pb::StopReason::EndTurn);
    assert!(r.usage.unwrap().output_tokens < 1000);
    let stream_request = GenerateStreamRequest {
        model_id: NO_CEILING.into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(huge),
        ..Default::default()
    };
    let mut events = client.generate_stream(stream_request).await.unwrap().into_inner();
    let mut completed = false;
    while let Some(m) = events.next().await {
        completed |= matches!(m.unwrap().event, Some(Event::Complete(_)));
    }
    assert!(completed);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    server.stop().await;
}

/// NaN (any payload), ±infinity, negative numbers (even the smallest
/// subnormal) and anything over 1 are INVALID_ARGUMENT naming the field;
/// negative zero reaches the backend as plain 0; a positive subnormal
/// passes unchanged, bit for bit. In the model-specific Struct, NaN and
/// infinity are refused by path; -0 and subnormals pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_infinity_negative_zero_and_subnormals() {
    let (server, backend, mut client) = mock_server().await;
    let refused = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001),
        f32::from_bits(0xff80_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        -f32::from_bits(1),
        -f32::MIN_POSITIVE,
        1.0 + f32::EPSILON,
        f32::MAX,
    ];
    for (field, set) in [
        ("parameters.temperature", (|p: &mut GenerationParameters, x| p.temperature = Some(x)) as fn(&mut GenerationParameters, f32)),
        ("parameters.top_p", |p: &mut GenerationParameters, x| p.top_p = Some(x)),
    ] {
        for x in refused {
            let mut p = GenerationParameters::default();
            set(&mut p, x);
            let err = client.generate(with_parameters(p)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{field} = {x:?}");
            assert_eq!(fields(&err), [field], "{field} = {x:?}");
        }
        for (x, want_bits) in [(-0.0f32, 0u32), (f32::from_bits(1), 1), (f32::MIN_POSITIVE, f32::MIN_POSITIVE.to_bits()), (1.0, 1.0f32.to_bits())] {
            let mut p = GenerationParameters::default();
            set(&mut p, x);
            client.generate(with_parameters(p)).await.unwrap_or_else(|e| panic!("{field} = {x:?}: {e:?}"));
            let seen = backend.last_request.lock().unwrap().clone().unwrap().parameters;
            let got = if field.ends_with("temperature") { seen.temperature } else { seen.top_p };
            assert_eq!(got.map(f32::to_bits), Some(want_bits), "{field} = {x:?}");
        }
    }
    let calls = backend.calls();

    let number = |n: f64| Value { kind: Some(Kind::NumberValue(n)) };
    for (n, ok) in [
        (f64::NAN, false),
        (f64::INFINITY, false),
        (f64::NEG_INFINITY, false),
        (-0.0, true),
        (f64::from_bits(1), true),
        (-f64::from_bits(1), true),
        (f64::MAX, true),
    ] {
        let mut s = Struct::default();
        s.fields.insert("top_k".into(), number(n));
        let r = GenerateRequest {
            additional_model_request_fields: Some(s),
            ..request("hi")
        };
        match client.generate(r).await {
            Ok(_) => {
                assert!(ok, "{n:?} was accepted");
                let seen = backend.last_request.lock().unwrap().clone().unwrap();
                let v = &seen.additional_model_request_fields.unwrap()["top_k"];
                assert_eq!(v.as_f64(), Some(if n == 0.0 { 0.0 } else { n }), "{n:?} → {v}");
            }
            Err(e) => {
                assert!(!ok, "{n:?}: {e:?}");
                assert_eq!(fields(&e), ["additional_model_request_fields.top_k"]);
            }
        }
    }
    assert_eq!(backend.calls(), calls + 4);
    server.stop().await;
}

/// Conversations with tens of thousands of blocks cost time in proportion
/// to their size, not its square: 60,000 tool calls answered by 60,000
/// results (a valid request, answered), and 100,000 documents of one name
/// (refused, each duplicate named). A quadratic check would take minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tens_of_thousands_of_blocks_are_checked_in_linear_time() {
    use bedrock_gateway::pb::{content_block::Block, tool_result_content, ContentBlock, Document, ToolConfig, ToolResult, ToolResultContent, ToolUse, Tool};
    let gw = common::GatewayProcess::start(&["--backend", "simulated", "--max-message-bytes", "16777216"], &[]);
    let mut client = gw.client().await.max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20);
    let block = |b: Block| ContentBlock { block: Some(b) };
    let turn = |role: Role, blocks: Vec<ContentBlock>| Message { role: role as i32, content: String::new(), blocks };
    const CALLS: usize = 60_000; // about 3 MB of calls and results
    let calls = (0..CALLS)
        .map(|i| block(Block::ToolUse(ToolUse { id: format!("t{i}"), name: "f".into(), input: None })))
        .collect();
    let results = (0..CALLS)
        .map(|i| {
            block(Block::ToolResult(ToolResult {
                tool_use_id: format!("t{i}"),
                content: vec![ToolResultContent { content: Some(tool_result_content::Content::Text("ok".into())) }],
                status: 0,
            }))
        })
        .collect();
    let mut schema = Struct::default();
    schema.fields.insert("type".into(), Value { kind: Some(Kind::StringValue("object".into())) });
    let r = GenerateRequest {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        messages: vec![
            turn(Role::User, vec![block(Block::Text("go".into()))]),
            turn(Role::Assistant, calls),
            turn(Role::User, results),
        ],
        tool_config: Some(ToolConfig {
            tools: vec![Tool { name: "f".into(), description: String::new(), input_schema: Some(schema) }],
            tool_choice: None,
            cache_point: None,
        }),
        ..Default::default()
    };
    let started = Instant::now();
    let answer = client.generate(r).await.unwrap().into_inner();
    let took = started.elapsed();
    // The answer quotes the results until the default max_tokens cuts it.
    assert!(answer.text.starts_with("The f tool returned ok. The f tool returned ok."), "{}", &answer.text[..80]);
    assert_eq!(answer.stop_reason(), bedrock_gateway::pb::StopReason::MaxTokens);
    assert!(took < Duration::from_secs(20), "answered in {took:?}");

    let docs = (0..100_000)
        .map(|_| block(Block::Document(Document { format: 8, name: "d".into(), data: b"x".to_vec().into() })))
        .chain([block(Block::Text("read".into()))])
        .collect();
    let r = GenerateRequest {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        messages: vec![turn(Role::User, docs)],
        ..Default::default()
    };
    let started = Instant::now();
    let err = client.generate(r).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("over Bedrock's limit of 5 documents"), "{}", err.message());
    // The duplicates among the first five are named; none past the limit.
    assert!(fields(&err).len() <= 6, "{:?}", &fields(&err)[..10.min(fields(&err).len())]);
    assert!(took < Duration::from_secs(20), "refused in {took:?}");
    client.generate(request("still serving")).await.unwrap();
}
