//! Property-based fuzzing (proptest) of everything that parses input the
//! gateway does not control:
//!
//! - (a) request bytes into protobuf decoding and then validation, and
//!   arbitrary well-formed requests against an independent oracle of the
//!   validation rules;
//! - (b) the native InvokeModel codecs' response and stream-chunk parsers,
//!   over arbitrary bytes, arbitrary JSON and family-shaped JSON;
//! - (c) AWS event-stream: arbitrary bytes into the frame decoder, and
//!   arbitrary frames and payloads sent by the fake Bedrock through the real
//!   SDK and backend.
//!
//! Nothing may panic, every error has its documented code, and every status
//! stays small enough for a client to read. Each property runs
//! `PROPTEST_CASES` cases (256 by default; the network one a quarter of
//! that): `PROPTEST_CASES=10000 cargo test --test fuzz_inputs` runs longer.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::bedrock::native::{self, ChunkEvent, Family};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::domain::{self, Role as DomainRole, StreamEvent};
use bedrock_gateway::error::{ErrorKind, GatewayError};
use bedrock_gateway::pb::{
    GenerateRequest, GenerateStreamRequest, GenerationParameters, GetModelRequest,
    ListModelsRequest, Message, Role,
};
use bedrock_gateway::validation::{self, Limits, MAX_MODEL_ID_CHARS, MAX_STOP_SEQUENCES, MAX_STRUCT_DEPTH};
use futures::StreamExt;
use prost::Message as _;
use prost_types::{value::Kind, ListValue, Struct, Value as PbValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;
use std::time::Duration;

/// `PROPTEST_CASES`, or 256.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // Failures print the minimal input and the seed; no files are written.
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `test` over `strategy`, failing the Rust test with proptest's
/// minimal counter-example.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

/// A status must fit in grpc-java's 8 KiB of trailers (see grpc/status.rs).
fn readable(e: GatewayError) -> Result<tonic::Code, TestCaseError> {
    let status = tonic::Status::from(e);
    let message: usize = status
        .message()
        .bytes()
        .map(|b| if b.is_ascii_graphic() || b == b' ' { 1 } else { 3 })
        .sum();
    let size = message + status.details().len().div_ceil(3) * 4;
    prop_assert!(size < 8 * 1024, "a {size}-byte status");
    Ok(status.code())
}

// ---------------------------------------------------------------------------
// (a) Requests: bytes → protobuf → validation
// ---------------------------------------------------------------------------

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => Just("   ".to_owned()),
        6 => "[a-z :|\n]{1,24}",
        3 => "\\PC{1,16}",
        1 => "x{1020,1030}",
    ]
    .boxed()
}

fn model_id() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just("amazon.titan-text-express-v1".to_owned()),
        4 => text(),
        1 => "m{2040,2056}",
        1 => "\u{1D11E}{2040,2056}",
    ]
    .boxed()
}

fn float() -> BoxedStrategy<f32> {
    prop_oneof![
        4 => 0.0f32..=1.0,
        2 => any::<f32>(),
        1 => Just(-0.0f32),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::from_bits(1)),
        1 => Just(-f32::from_bits(1)),
        1 => Just(1.0f32),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<PbValue> {
    let kind = prop_oneof![
        Just(None),
        Just(Some(Kind::NullValue(0))),
        any::<bool>().prop_map(|b| Some(Kind::BoolValue(b))),
        any::<f64>().prop_map(|n| Some(Kind::NumberValue(n))),
        prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), Just(1e300)]
            .prop_map(|n| Some(Kind::NumberValue(n))),
        text().prop_map(|s| Some(Kind::StringValue(s))),
    ];
    kind.prop_map(|kind| PbValue { kind }).boxed()
}

fn pb_struct() -> BoxedStrategy<Struct> {
    let value = leaf().prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|values| PbValue { kind: Some(Kind::ListValue(ListValue { values })) }),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|fields| PbValue { kind: Some(Kind::StructValue(Struct { fields })) }),
        ]
    });
    let shallow = prop::collection::btree_map("[a-z_]{0,8}", value, 0..5).prop_map(|fields| Struct { fields });
    // Chains around the depth limit, with a random leaf at the bottom.
    let deep = (28usize..40, leaf(), any::<bool>()).prop_map(|(depth, leaf, lists)| {
        let mut v = leaf;
        for _ in 1..depth {
            v = if lists {
                PbValue { kind: Some(Kind::ListValue(ListValue { values: vec![v] })) }
            } else {
                let mut s = Struct::default();
                s.fields.insert("k".into(), v);
                PbValue { kind: Some(Kind::StructValue(s)) }
            };
        }
        let mut root = Struct::default();
        root.fields.insert("root".into(), v);
        root
    });
    prop_oneof![4 => shallow, 1 => deep].boxed()
}

fn parameters() -> BoxedStrategy<GenerationParameters> {
    let stops = prop_oneof![
        8 => prop::collection::vec(text(), 0..4),
        1 => (2495usize..2506).prop_map(|n| vec!["s".to_owned(); n]),
    ];
    (
        prop::option::of(float()),
        prop::option::of(float()),
        prop::option::of(prop_oneof![Just(0u32), 1u32..5000, any::<u32>()]),
        stops,
    )
        .prop_map(|(temperature, top_p, max_tokens, stop_sequences)| GenerationParameters {
            temperature,
            top_p,
            max_tokens,
            stop_sequences,
        })
        .boxed()
}

fn generate_request() -> BoxedStrategy<GenerateRequest> {
    let message = (prop_oneof![8 => 1i32..=2, 1 => Just(0), 1 => any::<i32>()], text())
        .prop_map(|(role, content)| Message { role, content, blocks: vec![] });
    (
        model_id(),
        prop_oneof![2 => text(), 1 => Just(String::new())],
        prop_oneof![
            2 => Just(Vec::new()),
            3 => prop::collection::vec(message, 1..6),
        ],
        prop_oneof![3 => Just(String::new()), 1 => text()],
        prop::option::of(parameters()),
        prop::option::of(pb_struct()),
        prop_oneof![4 => 0i32..=2, 1 => any::<i32>()],
    )
        .prop_map(
            |(model_id, prompt, messages, system, parameters, additional_model_request_fields, api)| GenerateRequest {
                model_id,
                prompt,
                messages,
                system,
                parameters,
                additional_model_request_fields,
                api,
                ..Default::default()
            },
        )
        .boxed()
}


/// Whether `field` is a path the proto has: what a violation may name.
fn real_field(field: &str) -> bool {
    let indexed = |s: &str, name: &str| -> Option<String> {
        let rest = s.strip_prefix(name)?.strip_prefix('[')?;
        let close = rest.find(']')?;
        rest[..close].parse::<usize>().ok()?;
        Some(rest[close + 1..].to_owned())
    };
    if matches!(
        field,
        "model_id" | "prompt" | "messages" | "system" | "api" | "parameters.temperature"
            | "parameters.top_p" | "parameters.max_tokens" | "parameters.stop_sequences"
    ) {
        return true;
    }
    if let Some(rest) = indexed(field, "parameters.stop_sequences") {
        return rest.is_empty();
    }
    if let Some(rest) = indexed(field, "messages") {
        return rest == ".role" || rest == ".content";
    }
    field.starts_with("additional_model_request_fields.")
}

/// The oracle's Struct rules: at most MAX_STRUCT_DEPTH levels, finite numbers.
fn value_ok(v: &PbValue, depth: usize) -> bool {
    if depth > MAX_STRUCT_DEPTH {
        return false;
    }
    match &v.kind {
        Some(Kind::NumberValue(n)) => n.is_finite(),
        Some(Kind::StructValue(s)) => s.fields.values().all(|v| value_ok(v, depth + 1)),
        Some(Kind::ListValue(l)) => l.values.iter().all(|v| value_ok(v, depth + 1)),
        _ => true,
    }
}

fn unit(x: Option<f32>) -> bool {
    x.is_none_or(|x| (0.0..=1.0).contains(&x))
}

/// The rules, written again from the README and the proto comments, each
/// with the field its violation must name.
fn oracle(r: &GenerateRequest, limits: &Limits) -> Vec<&'static str> {
    let mut broken = Vec::new();
    if r.model_id.trim().is_empty() || r.model_id.chars().count() > MAX_MODEL_ID_CHARS {
        broken.push("model_id");
    }
    if r.prompt.is_empty() == r.messages.is_empty() {
        broken.push("prompt");
    } else if !r.messages.is_empty() {
        let roles_ok = r.messages.iter().enumerate().all(|(i, m)| {
            m.role == if i % 2 == 0 { Role::User as i32 } else { Role::Assistant as i32 }
        }) && r.messages.len() % 2 == 1;
        if !roles_ok || r.messages.iter().any(|m| m.content.is_empty()) {
            broken.push("messages[");
        }
    }
    let input = r.system.len() + r.prompt.len() + r.messages.iter().map(|m| m.content.len()).sum::<usize>();
    if input > limits.max_input_bytes && r.prompt.is_empty() != r.messages.is_empty() {
        broken.push(if r.prompt.is_empty() { "messages" } else { "prompt" });
    }
    if let Some(p) = &r.parameters {
        if !unit(p.temperature) {
            broken.push("parameters.temperature");
        }
        if !unit(p.top_p) {
            broken.push("parameters.top_p");
        }
        if p.max_tokens == Some(0) {
            broken.push("parameters.max_tokens");
        }
        if p.stop_sequences.len() > MAX_STOP_SEQUENCES {
            broken.push("parameters.stop_sequences");
        } else if p.stop_sequences.iter().any(String::is_empty) {
            broken.push("parameters.stop_sequences[");
        }
    }
    if let Some(s) = &r.additional_model_request_fields {
        if !s.fields.values().all(|v| value_ok(v, 1)) {
            broken.push("additional_model_request_fields.");
        }
    }
    if !(0..=2).contains(&r.api) {
        broken.push("api");
    }
    broken
}

/// What every validated request satisfies.
fn assert_valid(r: &validation::CheckedRequest, limits: &Limits) -> Result<(), TestCaseError> {
    prop_assert!(!r.model_id.trim().is_empty());
    prop_assert!(!r.messages.is_empty());
    prop_assert_eq!(r.messages.first().map(|m| m.role), Some(DomainRole::User));
    prop_assert_eq!(r.messages.last().map(|m| m.role), Some(DomainRole::User));
    for pair in r.messages.windows(2) {
        prop_assert_ne!(pair[0].role, pair[1].role);
    }
    prop_assert!(r.messages.iter().all(|m| !m.content.is_empty()));
    let input = r.system.as_ref().map_or(0, String::len) + r.messages.iter().map(|m| m.content.len()).sum::<usize>();
    prop_assert!(input <= limits.max_input_bytes);
    for x in [r.parameters.temperature, r.parameters.top_p].into_iter().flatten() {
        prop_assert!((0.0..=1.0).contains(&x) && x.is_sign_positive(), "{x:?}");
    }
    prop_assert!(r.parameters.stop_sequences.len() <= MAX_STOP_SEQUENCES);
    prop_assert!(r.parameters.stop_sequences.iter().all(|s| !s.is_empty()));
    Ok(())
}

fn check_generate(r: GenerateRequest) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let expected = oracle(&r, &limits);
    let unary = validation::generate_request(r.clone(), &limits);
    let stream = validation::generate_stream_request(common::stream_request(r.clone()), &limits);
    prop_assert_eq!(&unary, &stream, "unary and stream validate alike");
    match unary {
        Ok(valid) => {
            prop_assert!(expected.is_empty(), "accepted, but the oracle says {:?} are broken", expected);
            assert_valid(&valid, &limits)?;
        }
        Err(e) => {
            prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            prop_assert!(!e.violations().is_empty());
            for v in e.violations() {
                prop_assert!(real_field(&v.field), "a violation names {:?}", v.field);
            }
            prop_assert!(!expected.is_empty(), "refused, but the oracle sees nothing wrong: {}", e.message());
            for field in &expected {
                prop_assert!(
                    e.violations().iter().any(|v| v.field.starts_with(field)),
                    "{field} is broken but not named: {:?}",
                    e.violations()
                );
            }
            prop_assert_eq!(readable(e)?, tonic::Code::InvalidArgument);
        }
    }
    Ok(())
}

#[test]
fn arbitrary_requests_validate_or_name_real_fields() {
    check(cases(), generate_request(), check_generate);
}

/// Bytes: random, or a valid encoding cut, extended or with bytes flipped.
fn request_bytes() -> BoxedStrategy<Vec<u8>> {
    let mutated = (generate_request(), prop::collection::vec((any::<usize>(), any::<u8>()), 0..6), any::<usize>(), 0u8..3)
        .prop_map(|(r, flips, cut, mode)| {
            let mut bytes = r.encode_to_vec();
            if !bytes.is_empty() {
                for (at, b) in flips {
                    let at = at % bytes.len();
                    bytes[at] ^= b;
                }
                match mode {
                    0 => bytes.truncate(cut % (bytes.len() + 1)),
                    1 => bytes.extend_from_slice(&bytes.clone()[..cut % (bytes.len() + 1)]),
                    _ => {}
                }
            }
            bytes
        });
    prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..512), 3 => mutated].boxed()
}

#[test]
fn raw_bytes_never_panic_in_decoding_or_validation() {
    check(cases(), request_bytes(), |bytes| {
        if let Ok(r) = GenerateRequest::decode(bytes.as_slice()) {
            check_generate(r)?;
        }
        if let Ok(r) = GenerateStreamRequest::decode(bytes.as_slice()) {
            let _ = validation::generate_stream_request(r, &Limits::default());
        }
        if let Ok(r) = ListModelsRequest::decode(bytes.as_slice()) {
            let filter = validation::list_models_request(r);
            for f in [&filter.provider, &filter.output_modality, &filter.inference_type, &filter.customization_type]
                .into_iter()
                .flatten()
            {
                prop_assert!(!f.is_empty() && f.trim() == f, "filters are trimmed and non-empty: {f:?}");
            }
        }
        if let Ok(r) = GetModelRequest::decode(bytes.as_slice()) {
            let ok = !r.model_id.trim().is_empty() && r.model_id.chars().count() <= MAX_MODEL_ID_CHARS;
            match validation::get_model_request(r) {
                Ok(id) => prop_assert!(ok, "accepted {id:?}"),
                Err(e) => {
                    prop_assert!(!ok);
                    prop_assert_eq!(e.violations()[0].field.as_str(), "model_id");
                    readable(e)?;
                }
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// (b) Native codecs: response bodies and stream chunks
// ---------------------------------------------------------------------------

/// Field names and values the four families use, so random JSON often
/// lands on the shapes the parsers look for.
const VOCABULARY: &[&str] = &[
    "results", "outputText", "completionReason", "tokenCount", "inputTextTokenCount",
    "totalOutputTextTokenCount", "index", "content", "type", "text", "stop_reason", "usage",
    "input_tokens", "output_tokens", "message", "delta", "generation", "prompt_token_count",
    "generation_token_count", "outputs", "amazon-bedrock-invocationMetrics", "inputTokenCount",
    "outputTokenCount", "message_start", "content_block_delta", "message_delta", "text_delta",
    "FINISH", "LENGTH", "end_turn", "stop", "length", "max_tokens",
];

fn word() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "\\PC{0,10}",
    ]
    .boxed()
}

fn json() -> BoxedStrategy<Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<u32>().prop_map(Json::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Json::Number)),
        word().prop_map(Json::String),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((word(), inner), 0..5)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A value for a field that is usually the right type, sometimes anything.
fn typed(good: BoxedStrategy<Json>) -> BoxedStrategy<Option<Json>> {
    prop_oneof![6 => good.prop_map(Some), 1 => json().prop_map(Some), 1 => Just(None)].boxed()
}

fn count() -> BoxedStrategy<Json> {
    prop_oneof![4 => (0u64..100_000).prop_map(Json::from), 1 => any::<u64>().prop_map(Json::from), 1 => Just(Json::from(-1))]
        .boxed()
}

fn string() -> BoxedStrategy<Json> {
    prop_oneof![word(), "\\PC{0,30}"].prop_map(Json::String).boxed()
}

fn object(fields: Vec<(&'static str, BoxedStrategy<Option<Json>>)>) -> BoxedStrategy<Json> {
    let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    values
        .prop_map(move |values| {
            Json::Object(
                names
                    .iter()
                    .zip(values)
                    .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v)))
                    .collect(),
            )
        })
        .boxed()
}

fn metrics() -> BoxedStrategy<Option<Json>> {
    prop_oneof![
        2 => Just(None),
        1 => object(vec![("inputTokenCount", typed(count())), ("outputTokenCount", typed(count()))]).prop_map(Some),
        1 => json().prop_map(Some),
    ]
    .boxed()
}

/// Near-valid bodies and chunks of each family.
fn shaped(family: Family) -> BoxedStrategy<Json> {
    let list = |item: BoxedStrategy<Json>| typed(prop::collection::vec(item, 0..3).prop_map(Json::Array).boxed());
    match family {
        Family::Titan => object(vec![
            ("inputTextTokenCount", typed(count())),
            ("results", list(object(vec![
                ("tokenCount", typed(count())),
                ("outputText", typed(string())),
                ("completionReason", typed(string())),
            ]))),
            ("outputText", typed(string())),
            ("completionReason", typed(string())),
            ("totalOutputTextTokenCount", typed(count())),
            ("amazon-bedrock-invocationMetrics", metrics()),
        ]),
        Family::Anthropic => object(vec![
            ("type", typed(string())),
            ("content", list(object(vec![("type", typed(string())), ("text", typed(string()))]))),
            ("stop_reason", typed(string())),
            ("usage", typed(object(vec![("input_tokens", typed(count())), ("output_tokens", typed(count()))]))),
            ("message", typed(object(vec![("usage", typed(object(vec![("input_tokens", typed(count()))])))]))),
            ("delta", typed(object(vec![
                ("type", typed(string())),
                ("text", typed(string())),
                ("stop_reason", typed(string())),
            ]))),
            ("amazon-bedrock-invocationMetrics", metrics()),
        ]),
        Family::Llama => object(vec![
            ("generation", typed(string())),
            ("prompt_token_count", typed(count())),
            ("generation_token_count", typed(count())),
            ("stop_reason", typed(string())),
            ("amazon-bedrock-invocationMetrics", metrics()),
        ]),
        Family::Mistral => object(vec![
            ("outputs", list(object(vec![("text", typed(string())), ("stop_reason", typed(string()))]))),
            ("amazon-bedrock-invocationMetrics", metrics()),
        ]),
    }
}

fn check_codecs(family: Family, body: &[u8]) -> Result<(), TestCaseError> {
    match native::decode(family, body) {
        Ok(d) => prop_assert_eq!(d.stop_reason, native::stop_reason(family, &d.raw_stop_reason)),
        Err(e) => {
            prop_assert_eq!(e.kind(), ErrorKind::Internal);
            prop_assert_eq!(readable(e)?, tonic::Code::Internal);
        }
    }
    match native::decode_chunk(family, body) {
        Ok(events) => {
            for e in &events {
                if let ChunkEvent::Delta(text) = e {
                    prop_assert!(!text.is_empty(), "a delta is never empty");
                }
            }
            let usage = events.iter().filter(|e| matches!(e, ChunkEvent::Usage { .. })).count();
            prop_assert!(usage <= 1, "at most one Usage per chunk");
        }
        Err(e) => {
            prop_assert_eq!(e.kind(), ErrorKind::Internal);
            readable(e)?;
        }
    }
    Ok(())
}

fn family() -> BoxedStrategy<Family> {
    prop::sample::select(Family::ALL.to_vec()).boxed()
}

#[test]
fn native_codecs_never_panic_on_arbitrary_bytes() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        // Valid JSON, then cut or corrupted.
        (json(), any::<usize>(), any::<u8>()).prop_map(|(j, at, b)| {
            let mut v = serde_json::to_vec(&j).unwrap();
            if !v.is_empty() {
                let at = at % v.len();
                v[at] ^= b;
                v.truncate(at + 1);
            }
            v
        }),
    ];
    check(cases(), (family(), bytes), |(family, body)| check_codecs(family, &body));
}

#[test]
fn native_codecs_never_panic_on_arbitrary_or_family_shaped_json() {
    let strategy = family().prop_flat_map(|f| (Just(f), prop_oneof![1 => json(), 3 => shaped(f)]));
    check(cases(), strategy, |(family, value)| check_codecs(family, &serde_json::to_vec(&value).unwrap()));
}

// ---------------------------------------------------------------------------
// (c) Event-stream payloads
// ---------------------------------------------------------------------------

/// Arbitrary bytes, fed in arbitrary pieces to the decoder the SDK uses,
/// never panic; and a valid frame round-trips.
#[test]
fn the_event_stream_frame_decoder_never_panics() {
    use aws_smithy_eventstream::frame::{read_message_from, DecodedFrame, MessageFrameDecoder};
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        // A valid frame with bytes flipped or cut.
        (prop::collection::vec(any::<u8>(), 0..64), any::<usize>(), any::<u8>(), any::<bool>()).prop_map(
            |(payload, at, b, cut)| {
                let mut frame = fake_bedrock::event_message(&[(":message-type", "event"), (":event-type", "chunk")], &payload);
                let at = at % frame.len();
                if cut {
                    frame.truncate(at);
                } else {
                    frame[at] ^= b;
                }
                frame
            }
        ),
    ];
    let pieces = prop::collection::vec(1usize..64, 1..8);
    check(cases() * 4, (bytes, pieces), |(bytes, pieces)| {
        let _ = read_message_from(bytes.as_slice());
        let mut decoder = MessageFrameDecoder::new();
        let mut buffer = bytes::BytesMut::new();
        let mut rest = bytes.as_slice();
        let mut sizes = pieces.iter().cycle();
        let mut steps = 0;
        while !rest.is_empty() && steps < 1000 {
            steps += 1;
            let n = (*sizes.next().unwrap()).min(rest.len());
            buffer.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            // Decode every frame the buffer completes; stop at a partial or bad one.
            while let Ok(DecodedFrame::Complete(_)) = decoder.decode_frame(&mut buffer) {}
        }
        Ok(())
    });
    let frame = fake_bedrock::event_message(&[(":event-type", "chunk")], b"{}");
    assert_eq!(read_message_from(frame.as_slice()).unwrap().payload().as_ref(), b"{}");
}

/// One frame the fake sends.
#[derive(Debug, Clone)]
enum Frame {
    Event { event_type: String, payload: Vec<u8> },
    Exception { exception_type: String, payload: Vec<u8> },
    Garbage(Vec<u8>),
}

const EVENT_TYPES: &[&str] = &[
    "messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop",
    "metadata", "chunk", "unexpected", "",
];

const EXCEPTION_TYPES: &[&str] = &[
    "throttlingException", "modelStreamErrorException", "internalServerException",
    "validationException", "serviceUnavailableException", "modelTimeoutException", "madeUpException",
];

/// Payloads the receivers might meet: Converse event JSON, Invoke chunks
/// (`{"bytes": base64}` of family-shaped JSON or junk), or anything.
fn payload() -> BoxedStrategy<Vec<u8>> {
    use base64::Engine as _;
    let converse = object(vec![
        ("role", typed(string())),
        ("contentBlockIndex", typed(count())),
        ("delta", typed(object(vec![("text", typed(string()))]))),
        ("stopReason", typed(string())),
        ("usage", typed(object(vec![
            ("inputTokens", typed(count())),
            ("outputTokens", typed(count())),
            ("totalTokens", typed(count())),
        ]))),
        ("metrics", typed(object(vec![("latencyMs", typed(count()))]))),
    ]);
    let chunk = prop_oneof![
        shaped(Family::Titan).prop_map(|j| serde_json::to_vec(&j).unwrap()),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
    .prop_map(|b| serde_json::to_vec(&serde_json::json!({"bytes": base64::engine::general_purpose::STANDARD.encode(b)})).unwrap());
    prop_oneof![
        3 => converse.prop_map(|j| serde_json::to_vec(&j).unwrap()),
        3 => chunk,
        1 => json().prop_map(|j| serde_json::to_vec(&j).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..60),
    ]
    .boxed()
}

fn frame() -> BoxedStrategy<Frame> {
    prop_oneof![
        8 => (prop_oneof![4 => prop::sample::select(EVENT_TYPES).prop_map(str::to_owned), 1 => "\\PC{0,12}"], payload())
            .prop_map(|(event_type, payload)| Frame::Event { event_type, payload }),
        1 => (prop::sample::select(EXCEPTION_TYPES), payload())
            .prop_map(|(t, payload)| Frame::Exception { exception_type: t.to_owned(), payload }),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Frame::Garbage),
    ]
    .boxed()
}

/// A well-formed ConverseStream (arbitrary text and stop reason), cut at a
/// random point, followed by `tail`.
fn well_formed_then(tail: impl Strategy<Value = Vec<Frame>>) -> impl Strategy<Value = Vec<Frame>> {
    let event = |event_type: &str, json: Json| Frame::Event {
        event_type: event_type.to_owned(),
        payload: serde_json::to_vec(&json).unwrap(),
    };
    (prop::collection::vec("\\PC{0,12}", 0..4), string(), 0usize..8, tail).prop_map(move |(texts, stop, keep, tail)| {
        let mut frames = vec![event("messageStart", serde_json::json!({"role": "assistant"}))];
        for t in texts {
            frames.push(event("contentBlockDelta", serde_json::json!({"contentBlockIndex": 0, "delta": {"text": t}})));
        }
        frames.push(event("messageStop", serde_json::json!({ "stopReason": stop })));
        frames.push(event("metadata", serde_json::json!({"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}, "metrics": {"latencyMs": 4}})));
        frames.truncate(keep.max(1).min(frames.len()));
        frames.extend(tail);
        frames
    })
}

fn encode(frame: &Frame) -> Vec<u8> {
    match frame {
        Frame::Event { event_type, payload } => fake_bedrock::event_message(
            &[(":message-type", "event"), (":event-type", event_type.as_str()), (":content-type", "application/json")],
            payload,
        ),
        Frame::Exception { exception_type, payload } => fake_bedrock::event_message(
            &[(":message-type", "exception"), (":exception-type", exception_type.as_str()), (":content-type", "application/json")],
            payload,
        ),
        Frame::Garbage(bytes) => bytes.clone(),
    }
}

/// Arbitrary frames from the fake, through the real SDK into the Bedrock
/// backend's ConverseStream and InvokeModelWithResponseStream receivers, and
/// arbitrary bodies into Converse and InvokeModel: nothing panics, every
/// stream ends (with a completion or one error), and unless Bedrock sent an
/// exception frame every error is INTERNAL.
#[test]
fn arbitrary_event_streams_and_bodies_through_the_sdk_never_panic() {
    const TITAN: &str = "amazon.titan-text-express-v1";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (fake, backend) = runtime.block_on(async {
        let fake = fake_bedrock::FakeBedrock::start().await;
        let backend = common::bedrock_backend(&fake.url(), 1).await;
        (fake, backend)
    });
    let panics = common::panic_count();
    let titan = runtime.block_on(backend.models().resolve(TITAN)).unwrap();
    let request = |api| domain::GenerationRequest {
        target: titan.clone(),
        from_prompt: true,
        messages: vec![domain::Message::text(DomainRole::User, "hi")],
        system: None,
        parameters: domain::Parameters::default(),
        additional_model_request_fields: None,
        simulation: None,
        api,
        tool_config: None,
        output_schema: None,
        options: None,
    };
    // What the cases reached: completed streams, errors, unary answers.
    let completed = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let not_internal = std::sync::atomic::AtomicUsize::new(0);
    let frames = prop_oneof![
        3 => prop::collection::vec(frame(), 0..6),
        1 => well_formed_then(prop::collection::vec(frame(), 0..2)),
        1 => well_formed_then(
            (prop::sample::select(EXCEPTION_TYPES), "\\PC{0,20}").prop_map(|(t, m)| {
                vec![Frame::Exception {
                    exception_type: t.to_owned(),
                    payload: serde_json::to_vec(&serde_json::json!({ "message": m })).unwrap(),
                }]
            }),
        ),
    ];
    let strategy = (frames, prop::collection::vec(any::<u8>(), 0..80), json());
    check((cases() / 4).max(16), strategy, |(frames, body, value)| {
        let streamed: Vec<Vec<u8>> = frames.iter().map(encode).collect();
        let exception = frames.iter().any(|f| !matches!(f, Frame::Event { .. }));
        runtime.block_on(async {
            for api in [domain::BedrockApi::Converse, domain::BedrockApi::InvokeModel] {
                fake.set_behavior(TITAN, fake_bedrock::Behavior::RawBody(streamed.clone()));
                let ended = tokio::time::timeout(Duration::from_secs(5), async {
                    let mut events = match backend.generate_stream(request(api)).await {
                        Ok(s) => s.events,
                        Err(e) => return vec![Err(e)],
                    };
                    let mut seen = Vec::new();
                    while let Some(e) = events.next().await {
                        seen.push(e);
                    }
                    seen
                })
                .await;
                let events = ended.map_err(|_| TestCaseError::fail("the stream did not end within 5 s"))?;
                let last = events.last().ok_or_else(|| TestCaseError::fail("no event at all"))?;
                prop_assert!(
                    matches!(last, Ok(StreamEvent::Complete(_)) | Err(_)),
                    "the stream ends with a completion or an error"
                );
                prop_assert_eq!(events.iter().filter(|e| e.is_err() || matches!(e, Ok(StreamEvent::Complete(_)))).count(), 1);
                if matches!(last, Ok(StreamEvent::Complete(_))) {
                    completed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(Err(e)) = events.last() {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if e.kind() != ErrorKind::Internal {
                        not_internal.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if !exception {
                        prop_assert_eq!(e.kind(), ErrorKind::Internal, "{:?}: {}", api, e.message());
                    }
                    readable(e.clone())?;
                }

                for raw in [body.clone(), serde_json::to_vec(&value).unwrap()] {
                    fake.set_behavior(TITAN, fake_bedrock::Behavior::RawBody(vec![raw]));
                    let out = tokio::time::timeout(Duration::from_secs(5), backend.generate(request(api)))
                        .await
                        .map_err(|_| TestCaseError::fail("a unary call did not end within 5 s"))?;
                    if let Err(e) = out {
                        prop_assert_eq!(e.kind(), ErrorKind::Internal, "{:?}: {}", api, e.message());
                        readable(e)?;
                    }
                }
            }
            Ok(())
        })
    });
    eprintln!(
        "event streams: {} completed, {} failed ({} with a mapped exception's code)",
        completed.into_inner(),
        failed.into_inner(),
        not_internal.into_inner()
    );
    assert_eq!(common::panic_count(), panics, "something panicked inside the SDK or the backend");
    runtime.block_on(async { assert!(fake.wait_idle(Duration::from_secs(5)).await) });
}
