//! The whole conversation (issue 11): images, documents, tool use and
//! structured output, on both backends, through the real server.
//!
//! - Every refusal is INVALID_ARGUMENT naming its field, the same on both
//!   backends, and nothing reaches Bedrock.
//! - The simulated backend acknowledges images and documents, calls tools
//!   and answers their results, and writes JSON for a schema.
//! - The Bedrock backend (the real SDK against the fake Bedrock over HTTP)
//!   sends the bytes, tools and schema exactly, and brings tool calls back
//!   whole, in Generate and in GenerateStream.

mod common;
mod fake_bedrock;

use base64::Engine as _;
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::pb::{
    self, content_block::Block, generate_stream_response::Event,
    text_generation_service_client::TextGenerationServiceClient, tool_result_content::Content,
    BedrockApi, ContentBlock, DocumentFormat, GenerateRequest, GenerateResponse, ImageFormat,
    Message, Role, StopReason, ToolChoiceMode,
};
use common::TestServer;
use fake_bedrock::FakeBedrock;
use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const TITAN: &str = "amazon.titan-text-express-v1";
const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

// --- request builders ------------------------------------------------------

fn text(t: &str) -> ContentBlock {
    ContentBlock {
        block: Some(Block::Text(t.into())),
    }
}

fn image(format: ImageFormat, data: &[u8]) -> ContentBlock {
    ContentBlock {
        block: Some(Block::Image(pb::Image {
            format: format as i32,
            data: data.to_vec().into(),
        })),
    }
}

fn document(format: DocumentFormat, name: &str, data: &[u8]) -> ContentBlock {
    ContentBlock {
        block: Some(Block::Document(pb::Document {
            format: format as i32,
            name: name.into(),
            data: data.to_vec().into(),
        })),
    }
}

fn user(blocks: Vec<ContentBlock>) -> Message {
    Message {
        role: Role::User as i32,
        content: String::new(),
        blocks,
    }
}

fn assistant(blocks: Vec<ContentBlock>) -> Message {
    Message {
        role: Role::Assistant as i32,
        content: String::new(),
        blocks,
    }
}

fn request(model: &str, messages: Vec<Message>) -> GenerateRequest {
    GenerateRequest {
        model_id: model.into(),
        messages,
        ..Default::default()
    }
}

/// JSON into a google.protobuf.Struct.
fn pb_struct(j: Value) -> prost_types::Struct {
    match pb_value(j).kind {
        Some(prost_types::value::Kind::StructValue(s)) => s,
        _ => panic!("not an object"),
    }
}

fn pb_value(j: Value) -> prost_types::Value {
    use prost_types::{value::Kind, ListValue, Struct};
    let kind = match j {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(pb_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(Struct {
            fields: o.into_iter().map(|(k, v)| (k, pb_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A google.protobuf.Struct back into JSON.
fn json_of(s: &prost_types::Struct) -> Value {
    fn value(v: &prost_types::Value) -> Value {
        use prost_types::value::Kind;
        match &v.kind {
            None | Some(Kind::NullValue(_)) => Value::Null,
            Some(Kind::BoolValue(b)) => json!(b),
            Some(Kind::NumberValue(n)) if n.fract() == 0.0 => json!(*n as i64),
            Some(Kind::NumberValue(n)) => json!(n),
            Some(Kind::StringValue(s)) => json!(s),
            Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value).collect()),
            Some(Kind::StructValue(s)) => json_of(s),
        }
    }
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value(v)))
            .collect(),
    )
}

fn weather_tools(mode: ToolChoiceMode, name: &str) -> pb::ToolConfig {
    pb::ToolConfig {
        tools: vec![
            pb::Tool {
                name: "get_weather".into(),
                description: "The current weather in a city".into(),
                input_schema: Some(pb_struct(json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                    "required": ["city", "unit"]
                }))),
            },
            pb::Tool {
                name: "get_time".into(),
                description: String::new(),
                input_schema: Some(pb_struct(json!({"type": "object", "properties": {}}))),
            },
        ],
        tool_choice: Some(pb::ToolChoice {
            mode: mode as i32,
            tool_name: name.into(),
        }),
        cache_point: None,
    }
}

fn tool_result(id: &str, result: Value) -> ContentBlock {
    ContentBlock {
        block: Some(Block::ToolResult(pb::ToolResult {
            tool_use_id: id.into(),
            content: vec![pb::ToolResultContent {
                content: Some(Content::Json(pb_struct(result))),
            }],
            status: pb::ToolResultStatus::Success as i32,
        })),
    }
}

fn short_digest(data: &[u8]) -> String {
    Sha256::digest(data)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tool_uses(r: &GenerateResponse) -> Vec<&pb::ToolUse> {
    r.content
        .iter()
        .filter_map(|b| match &b.block {
            Some(Block::ToolUse(t)) => Some(t),
            _ => None,
        })
        .collect()
}

// --- the two backends ------------------------------------------------------

struct Both {
    simulated: TestServer,
    bedrock: TestServer,
    fake: FakeBedrock,
}

impl Both {
    async fn start() -> Both {
        let fake = FakeBedrock::start().await;
        let bedrock: Arc<dyn Backend> = Arc::new(common::bedrock_backend(&fake.url(), 1).await);
        let simulated: Arc<dyn Backend> =
            Arc::new(SimulatedBackend::new(SimulatedConfig::default()));
        Both {
            simulated: TestServer::start(simulated, common::quick_config()).await,
            bedrock: TestServer::start(bedrock, common::quick_config()).await,
            fake,
        }
    }

    async fn clients(&self) -> [(&'static str, TextGenerationServiceClient<Channel>); 2] {
        [
            ("simulated", self.simulated.client().await),
            ("bedrock", self.bedrock.client().await),
        ]
    }

    fn upstream_generations(&self) -> usize {
        self.fake.count("/converse")
            + self.fake.count("/converse-stream")
            + self.fake.count("/invoke")
            + self.fake.count("/invoke-with-response-stream")
    }
}

// --- refusals --------------------------------------------------------------

/// Each broken rule, and the field its violation must name.
fn refusals() -> Vec<(&'static str, GenerateRequest, &'static str)> {
    let png = || image(ImageFormat::Png, PNG);
    let call = |id: &str| ContentBlock {
        block: Some(Block::ToolUse(pb::ToolUse {
            id: id.into(),
            name: "get_weather".into(),
            input: None,
        })),
    };
    let round_trip = |answer_id: &str| {
        let mut r = request(
            HAIKU,
            vec![
                user(vec![text("Weather in Paris?")]),
                assistant(vec![call("tooluse_1")]),
                user(vec![tool_result(answer_id, json!({"temperature_c": 21}))]),
            ],
        );
        r.tool_config = Some(weather_tools(ToolChoiceMode::Auto, ""));
        r
    };
    let with = |f: &dyn Fn(&mut GenerateRequest), base: GenerateRequest| {
        let mut r = base;
        f(&mut r);
        r
    };
    let haiku_with = |blocks: Vec<ContentBlock>| request(HAIKU, vec![user(blocks)]);
    let haiku_with_tools = |mode: ToolChoiceMode, name: &str| {
        let mut r = haiku_with(vec![text("hi")]);
        r.tool_config = Some(weather_tools(mode, name));
        r
    };
    vec![
        (
            "an image to a model without image input",
            request(TITAN, vec![user(vec![png(), text("What is this?")])]),
            "messages[0].blocks[0].image",
        ),
        (
            "an image without a format",
            haiku_with(vec![image(ImageFormat::Unspecified, PNG)]),
            "messages[0].blocks[0].image.format",
        ),
        (
            "PNG bytes declared JPEG",
            haiku_with(vec![image(ImageFormat::Jpeg, PNG)]),
            "messages[0].blocks[0].image.data",
        ),
        (
            "21 images",
            haiku_with((0..21).map(|_| png()).collect()),
            "messages[0].blocks[20].image",
        ),
        (
            "an image over 3.75 MB",
            haiku_with(vec![image(
                ImageFormat::Png,
                &[PNG, &vec![0u8; 3_750_001][..]].concat(),
            )]),
            "messages[0].blocks[0].image.data",
        ),
        (
            "a document name with a dot",
            haiku_with(vec![document(DocumentFormat::Txt, "notes.txt", b"hi")]),
            "messages[0].blocks[0].document.name",
        ),
        (
            "6 documents",
            haiku_with(
                (0..6)
                    .map(|i| document(DocumentFormat::Txt, &format!("doc {i}"), b"hi"))
                    .chain([text("Compare them")])
                    .collect(),
            ),
            "messages[0].blocks[5].document",
        ),
        (
            "two documents with one name",
            haiku_with(vec![
                document(DocumentFormat::Txt, "notes", b"a"),
                document(DocumentFormat::Txt, "notes", b"b"),
                text("Compare"),
            ]),
            "messages[0].blocks[1].document.name",
        ),
        (
            "a document without a text block",
            haiku_with(vec![document(DocumentFormat::Txt, "notes", b"a")]),
            "messages[0].blocks",
        ),
        ("a blank text block", haiku_with(vec![text("  \n")]), "messages[0].blocks[0].text"),
        (
            "a forced tool for a model that only takes AUTO",
            with(
                &|r| r.tool_config = Some(weather_tools(ToolChoiceMode::Any, "")),
                request("meta.llama3-1-70b-instruct-v1:0", vec![user(vec![text("hi")])]),
            ),
            "tool_config.tool_choice.mode",
        ),
        (
            "a PDF that is not one",
            haiku_with(vec![document(DocumentFormat::Pdf, "report", b"hello")]),
            "messages[0].blocks[0].document.data",
        ),
        (
            "a block with nothing set",
            haiku_with(vec![ContentBlock { block: None }]),
            "messages[0].blocks[0]",
        ),
        (
            "both content and blocks",
            request(
                HAIKU,
                vec![Message {
                    role: Role::User as i32,
                    content: "hi".into(),
                    blocks: vec![text("hi")],
                }],
            ),
            "messages[0].blocks",
        ),
        (
            "a tool call in a user turn",
            haiku_with(vec![call("tooluse_1")]),
            "messages[0].blocks[0].tool_use",
        ),
        (
            "a tool name outside Bedrock's pattern",
            with(
                &|r| r.tool_config.as_mut().unwrap().tools[0].name = "get weather".into(),
                haiku_with_tools(ToolChoiceMode::Auto, ""),
            ),
            "tool_config.tools[0].name",
        ),
        (
            "two tools with one name",
            with(
                &|r| r.tool_config.as_mut().unwrap().tools[1].name = "get_weather".into(),
                haiku_with_tools(ToolChoiceMode::Auto, ""),
            ),
            "tool_config.tools[1].name",
        ),
        (
            "a forced tool that is not declared",
            haiku_with_tools(ToolChoiceMode::Tool, "get_news"),
            "tool_config.tool_choice.tool_name",
        ),
        (
            "a tool result for a call never made",
            round_trip("tooluse_2"),
            "messages[2].blocks[0].tool_result.tool_use_id",
        ),
        (
            "tool blocks without tool_config",
            with(&|r| r.tool_config = None, round_trip("tooluse_1")),
            "tool_config",
        ),
        (
            "a tool call left unanswered",
            with(
                &|r| r.messages[2] = user(vec![text("Never mind")]),
                round_trip("tooluse_1"),
            ),
            "messages[2]",
        ),
        (
            "tools for a model without tool use",
            with(
                &|r| r.tool_config = Some(weather_tools(ToolChoiceMode::Auto, "")),
                request(TITAN, vec![user(vec![text("hi")])]),
            ),
            "tool_config",
        ),
        (
            "an output schema for a model without structured output",
            with(
                &|r| {
                    r.output_schema = Some(pb::OutputSchema {
                        json_schema: Some(pb_struct(json!({"type": "object"}))),
                        ..Default::default()
                    })
                },
                haiku_with(vec![text("hi")]),
            ),
            "output_schema",
        ),
        (
            "an output schema without a schema",
            with(
                &|r| r.output_schema = Some(pb::OutputSchema::default()),
                request(SONNET_45, vec![user(vec![text("hi")])]),
            ),
            "output_schema.json_schema",
        ),
        (
            "an image through InvokeModel",
            with(
                &|r| r.api = BedrockApi::InvokeModel as i32,
                haiku_with(vec![png(), text("What is this?")]),
            ),
            "messages[0].blocks[0].image",
        ),
        (
            "tools through InvokeModel",
            with(
                &|r| {
                    r.api = BedrockApi::InvokeModel as i32;
                    r.tool_config = Some(weather_tools(ToolChoiceMode::Auto, ""))
                },
                haiku_with(vec![text("hi")]),
            ),
            "tool_config",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_names_its_field_on_both_backends_before_any_upstream_call() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        for (what, r, field) in refusals() {
            for streaming in [false, true] {
                let status = if streaming {
                    client
                        .generate_stream(common::stream_request(r.clone()))
                        .await
                        .map(|_| ())
                        .unwrap_err()
                } else {
                    client.generate(r.clone()).await.map(|_| ()).unwrap_err()
                };
                let how = format!("{backend}, {what}, stream={streaming}");
                assert_eq!(status.code(), Code::InvalidArgument, "{how}: {status:?}");
                let fields: Vec<String> = status
                    .get_details_bad_request()
                    .expect("BadRequest")
                    .field_violations
                    .into_iter()
                    .map(|v| v.field)
                    .collect();
                assert!(
                    fields.iter().any(|f| f == field),
                    "{how}: wanted {field}, got {fields:?}"
                );
            }
        }
    }
    assert_eq!(
        both.upstream_generations(),
        0,
        "nothing invalid reached Bedrock"
    );
}

// --- answers ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_model_acknowledges_images_and_documents_by_digest() {
    let both = Both::start().await;
    let mut client = both.simulated.client().await;
    let r = request(
        HAIKU,
        vec![user(vec![
            image(ImageFormat::Png, PNG),
            document(DocumentFormat::Txt, "notes", b"Buy milk"),
            text("What do these say?"),
        ])],
    );
    let answer = client.generate(r).await.unwrap().into_inner();
    let expected = format!(
        "[image png {} bytes sha256:{}]\n[document txt \"notes\" 8 bytes sha256:{}]\n",
        PNG.len(),
        short_digest(PNG),
        short_digest(b"Buy milk")
    );
    assert!(answer.text.starts_with(&expected), "{}", answer.text);
    assert_eq!(answer.content.len(), 1, "one text block");
}

/// Runs call → result → answer on `client` and checks the shapes.
async fn tool_round_trip(client: &mut TextGenerationServiceClient<Channel>, backend: &str) {
    let mut first = request(
        HAIKU,
        vec![user(vec![text("What is the weather in Paris?")])],
    );
    first.tool_config = Some(weather_tools(ToolChoiceMode::Tool, "get_weather"));
    let answer = client.generate(first.clone()).await.unwrap().into_inner();
    assert_eq!(
        answer.stop_reason(),
        StopReason::ToolUse,
        "{backend}: {answer:?}"
    );
    let calls = tool_uses(&answer);
    assert_eq!(calls.len(), 1, "{backend}: {answer:?}");
    assert_eq!(calls[0].name, "get_weather");
    let input = json_of(calls[0].input.as_ref().unwrap());
    assert!(
        input["city"].is_string() && input["unit"] == "celsius",
        "{backend}: {input}"
    );

    // The same request streamed: start, fragments, the assembled call.
    let mut events = client
        .generate_stream(common::stream_request(first.clone()))
        .await
        .unwrap()
        .into_inner();
    let (mut starts, mut fragments, mut complete) = (Vec::new(), Vec::new(), None);
    while let Some(e) = events.next().await {
        match e.unwrap().event.unwrap() {
            Event::ToolUseStart(s) => starts.push(s),
            Event::ToolUseDelta(d) => {
                assert_eq!(
                    Some(d.index),
                    starts.last().map(|s| s.index),
                    "{backend}: a fragment of the started call"
                );
                fragments.push(d.input_json)
            }
            Event::Complete(c) => complete = Some(c),
            Event::Delta(_) | Event::ReasoningDelta(_) => {}
        }
    }
    let complete = complete.expect("a completion");
    assert_eq!(starts.len(), 1, "{backend}");
    assert_eq!(starts[0].name, "get_weather");
    assert!(
        fragments.len() >= 2,
        "{backend}: the input came in fragments: {fragments:?}"
    );
    let joined: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(complete.stop_reason(), StopReason::ToolUse);
    assert_eq!(complete.tool_uses.len(), 1);
    assert_eq!(complete.tool_uses[0].id, starts[0].id);
    assert_eq!(
        json_of(complete.tool_uses[0].input.as_ref().unwrap()),
        joined,
        "{backend}"
    );

    // The result goes back; the answer uses it.
    let mut second = first;
    second.messages.push(assistant(answer.content.clone()));
    second.messages.push(user(vec![tool_result(
        &calls[0].id,
        json!({"temperature_c": 21}),
    )]));
    second.tool_config.as_mut().unwrap().tool_choice = None;
    let answer = client.generate(second.clone()).await.unwrap().into_inner();
    assert_eq!(
        answer.stop_reason(),
        StopReason::EndTurn,
        "{backend}: {answer:?}"
    );
    assert!(
        answer.text.contains("21"),
        "{backend}: the answer uses the result: {}",
        answer.text
    );
    let mut events = client
        .generate_stream(common::stream_request(second))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = String::new();
    while let Some(e) = events.next().await {
        if let Event::Delta(d) = e.unwrap().event.unwrap() {
            streamed.push_str(&d.text);
        }
    }
    assert!(streamed.contains("21"), "{backend}: {streamed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_round_trip_works_in_both_rpcs_on_both_backends() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        tool_round_trip(&mut client, backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_schema_gets_json_that_follows_it_on_both_backends() {
    let both = Both::start().await;
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}, "coastal": {"type": "boolean"}},
        "required": ["city", "population", "coastal"]
    });
    for (backend, mut client) in both.clients().await {
        let mut r = request(SONNET_45, vec![user(vec![text("Describe Paris")])]);
        r.output_schema = Some(pb::OutputSchema {
            json_schema: Some(pb_struct(schema.clone())),
            name: "city".into(),
            description: "A city".into(),
        });
        let answer = client.generate(r).await.unwrap().into_inner();
        let parsed: Value = serde_json::from_str(&answer.text)
            .unwrap_or_else(|e| panic!("{backend}: {e}: {}", answer.text));
        assert!(
            parsed["city"].is_string()
                && parsed["population"].is_i64()
                && parsed["coastal"].is_boolean(),
            "{backend}: {parsed}"
        );
    }
    let sent = both
        .fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/converse"))
        .expect("a Converse call");
    let format = &sent.body["outputConfig"]["textFormat"];
    assert_eq!(format["type"], "json_schema");
    let definition = &format["structure"]["jsonSchema"];
    assert_eq!(
        serde_json::from_str::<Value>(definition["schema"].as_str().unwrap()).unwrap(),
        schema
    );
    assert_eq!(definition["name"], "city");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_png_reaches_converse_byte_for_byte_with_its_document() {
    let both = Both::start().await;
    let mut client = both.bedrock.client().await;
    let r = request(
        HAIKU,
        vec![user(vec![
            image(ImageFormat::Png, PNG),
            document(DocumentFormat::Md, "Notes (v2)", b"# Title"),
            text("Describe both"),
        ])],
    );
    client.generate(r).await.unwrap();
    let sent = both
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/converse"))
        .expect("a Converse call");
    let content = &sent.body["messages"][0]["content"];
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(content[0]["image"]["format"], "png");
    assert_eq!(
        b64.decode(content[0]["image"]["source"]["bytes"].as_str().unwrap())
            .unwrap(),
        PNG
    );
    assert_eq!(content[1]["document"]["format"], "md");
    assert_eq!(content[1]["document"]["name"], "Notes (v2)");
    assert_eq!(
        b64.decode(content[1]["document"]["source"]["bytes"].as_str().unwrap())
            .unwrap(),
        b"# Title"
    );
    assert_eq!(content[2]["text"], "Describe both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_reach_converse_as_bedrock_spells_them() {
    let both = Both::start().await;
    let mut client = both.bedrock.client().await;
    let mut r = request(
        HAIKU,
        vec![user(vec![text("What is the weather in Paris?")])],
    );
    r.tool_config = Some(weather_tools(ToolChoiceMode::Tool, "get_weather"));
    client.generate(r).await.unwrap();
    let sent = both
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/converse"))
        .expect("a Converse call");
    let config = &sent.body["toolConfig"];
    assert_eq!(config["tools"][0]["toolSpec"]["name"], "get_weather");
    assert_eq!(
        config["tools"][0]["toolSpec"]["description"],
        "The current weather in a city"
    );
    assert_eq!(
        config["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"],
        json!(["city", "unit"])
    );
    assert!(
        config["tools"][1]["toolSpec"].get("description").is_none(),
        "an empty description is left out"
    );
    assert_eq!(
        config["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_and_block_kinds_are_counted_per_model() {
    let metrics = Arc::new(bedrock_gateway::metrics::Metrics::new());
    let mut config = common::quick_config();
    config.metrics = metrics.clone();
    let backend: Arc<dyn Backend> = Arc::new(SimulatedBackend::new(SimulatedConfig::default()));
    let server = TestServer::start(backend, config).await;
    let mut client = server.client().await;
    let mut r = request(
        HAIKU,
        vec![user(vec![
            image(ImageFormat::Png, PNG),
            text("What is the weather in Paris?"),
        ])],
    );
    r.tool_config = Some(weather_tools(ToolChoiceMode::Any, ""));
    client.generate(r.clone()).await.unwrap();
    client
        .generate_stream(common::stream_request(r))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    let rendered = metrics.render();
    assert!(
        rendered.contains(&format!(
            "bedrock_gateway_content_blocks_total{{model=\"{HAIKU}\",kind=\"image\"}} 2"
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!(
            "bedrock_gateway_tool_calls_total{{model=\"{HAIKU}\"}} 2"
        )),
        "{rendered}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_and_document_bytes_are_never_logged_even_with_log_prompts() {
    let gw = common::GatewayProcess::start(&["--backend", "simulated", "--log-prompts"], &[]);
    let mut client = gw.client().await;
    // Bytes that would stand out in a log in any encoding.
    let marker = b"SECRET-MARKER-0123456789";
    let png = [PNG, &marker[..]].concat();
    let r = request(
        HAIKU,
        vec![user(vec![
            image(ImageFormat::Png, &png),
            document(DocumentFormat::Txt, "secret", marker),
            text("What are these?"),
        ])],
    );
    client.generate(r.clone()).await.unwrap();
    client
        .generate_stream(common::stream_request(r))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let log = gw.log_text();
    assert!(
        log.contains(&format!("[image png {} bytes]", png.len())),
        "{log}"
    );
    assert!(
        log.contains("[document txt \\\"secret\\\" 24 bytes]")
            || log.contains("[document txt \"secret\" 24 bytes]"),
        "{log}"
    );
    for encoded in [
        String::from_utf8_lossy(marker).into_owned(),
        b64.encode(marker),
        b64.encode(&png),
    ] {
        assert!(
            !log.contains(&encoded),
            "the log holds the bytes ({encoded}): {log}"
        );
    }
}
