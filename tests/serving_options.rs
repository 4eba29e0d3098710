//! Reasoning, prompt caching, guardrails, service tiers, latency, request
//! metadata and CountTokens (issue 12), on both backends, through the real
//! server.
//!
//! - Every refusal is INVALID_ARGUMENT naming its field (FAILED_PRECONDITION
//!   for a model that cannot count tokens), the same on both backends, and
//!   nothing reaches Bedrock.
//! - A second identical cached request reads what the first wrote, with
//!   disjoint counts, in Generate and in the stream's final event.
//! - Reasoning arrives whole (a signature-only delta included) and replays
//!   unchanged; redacted reasoning is never dropped.
//! - A guardrail intervention comes back as such, with its trace.
//! - Tier, latency and metadata reach Converse; the served ones come back.
//! - CountTokens equals Generate's input, and a key's token budget admits a
//!   request on its counted input before any generation call.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::limits::LimitsConfig;
use bedrock_gateway::metrics::Metrics;
use bedrock_gateway::pb::{
    self, content_block::Block, generate_stream_response::Event,
    text_generation_service_client::TextGenerationServiceClient, BedrockApi, CachePoint, CacheTtl,
    ContentBlock, CountTokensRequest, GenerateRequest, GenerateResponse, GenerationParameters,
    GuardrailConfig, GuardrailStreamMode, GuardrailTrace, Latency, Message, ReasoningConfig, Role,
    ServiceTier, StopReason, Usage,
};
use bedrock_gateway::server::ServerConfig;
use common::TestServer;
use fake_bedrock::FakeBedrock;
use futures::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_35: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const NOVA_PRO: &str = "amazon.nova-pro-v1:0";

/// A system prompt long enough to be worth caching, different per test so
/// tests never read each other's cache.
fn long_system(tag: &str) -> String {
    format!("You are {tag}, a careful assistant. ").repeat(40)
}

fn text(t: &str) -> ContentBlock {
    ContentBlock {
        block: Some(Block::Text(t.into())),
    }
}

fn turn(role: Role, blocks: Vec<ContentBlock>) -> Message {
    Message {
        role: role as i32,
        content: String::new(),
        blocks,
    }
}

fn request(model: &str, prompt: &str) -> GenerateRequest {
    GenerateRequest {
        model_id: model.into(),
        prompt: prompt.into(),
        ..Default::default()
    }
}

fn max_tokens(n: u32) -> Option<GenerationParameters> {
    Some(GenerationParameters {
        max_tokens: Some(n),
        ..Default::default()
    })
}

fn thinking(model: &str, prompt: &str) -> GenerateRequest {
    GenerateRequest {
        reasoning: Some(ReasoningConfig {
            budget_tokens: 1024,
        }),
        parameters: max_tokens(2048),
        ..request(model, prompt)
    }
}

fn cache(ttl: CacheTtl) -> Option<CachePoint> {
    Some(CachePoint { ttl: ttl as i32 })
}

fn guardrail(trace: GuardrailTrace) -> Option<GuardrailConfig> {
    Some(GuardrailConfig {
        identifier: "gr0test1".into(),
        version: "1".into(),
        trace: trace as i32,
        stream_mode: 0,
    })
}

fn usage(r: &GenerateResponse) -> Usage {
    r.usage.unwrap()
}

fn reasoning_blocks(content: &[ContentBlock]) -> Vec<&pb::Reasoning> {
    content
        .iter()
        .filter_map(|b| match &b.block {
            Some(Block::Reasoning(r)) => Some(r),
            _ => None,
        })
        .collect()
}

/// A stream's events, all of them.
async fn stream_events(
    client: &mut TextGenerationServiceClient<Channel>,
    r: GenerateRequest,
) -> Vec<Event> {
    let mut stream = client
        .generate_stream(common::stream_request(r))
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(m) = stream.next().await {
        events.push(m.unwrap().event.unwrap());
    }
    events
}

fn completion(events: &[Event]) -> &pb::GenerationComplete {
    match events.last() {
        Some(Event::Complete(c)) => c,
        other => panic!("the stream ends with its completion, got {other:?}"),
    }
}

// --- the two backends ------------------------------------------------------

struct Both {
    simulated: TestServer,
    bedrock: TestServer,
    fake: FakeBedrock,
    metrics: [Arc<Metrics>; 2],
}

impl Both {
    async fn start() -> Both {
        Both::start_with(LimitsConfig::default()).await
    }

    async fn start_with(rate_limits: LimitsConfig) -> Both {
        let fake = FakeBedrock::start().await;
        let bedrock: Arc<dyn Backend> = Arc::new(common::bedrock_backend(&fake.url(), 1).await);
        let simulated: Arc<dyn Backend> =
            Arc::new(SimulatedBackend::new(SimulatedConfig::default()));
        let metrics = [Arc::new(Metrics::new()), Arc::new(Metrics::new())];
        let config = |metrics: &Arc<Metrics>| ServerConfig {
            rate_limits,
            metrics: metrics.clone(),
            ..common::quick_config()
        };
        Both {
            simulated: TestServer::start(simulated, config(&metrics[0])).await,
            bedrock: TestServer::start(bedrock, config(&metrics[1])).await,
            fake,
            metrics,
        }
    }

    async fn clients(&self) -> [(&'static str, TextGenerationServiceClient<Channel>); 2] {
        [
            ("simulated", self.simulated.client().await),
            ("bedrock", self.bedrock.client().await),
        ]
    }

    fn upstream_calls(&self) -> usize {
        self.fake.count("/converse")
            + self.fake.count("/converse-stream")
            + self.fake.count("/invoke")
            + self.fake.count("/invoke-with-response-stream")
            + self.fake.count("/count-tokens")
    }

    fn last_converse(&self) -> Value {
        self.fake.last_converse_body().expect("a Converse call reached the fake")
    }
}

// --- refusals --------------------------------------------------------------

/// Each broken rule, and the field its violation must name.
fn refusals() -> Vec<(&'static str, GenerateRequest, &'static str)> {
    let with = |f: &dyn Fn(&mut GenerateRequest), base: GenerateRequest| {
        let mut r = base;
        f(&mut r);
        r
    };
    let cached_turns = |ttls: &[CacheTtl]| {
        let mut blocks = vec![text("Summarise our talk.")];
        for ttl in ttls {
            blocks.push(ContentBlock {
                block: Some(Block::CachePoint(CachePoint { ttl: *ttl as i32 })),
            });
            blocks.push(text("And then?"));
        }
        GenerateRequest {
            messages: vec![turn(Role::User, blocks)],
            ..request(SONNET_45, "")
        }
    };
    let replay = |reasoning: pb::Reasoning, role: Role| GenerateRequest {
        messages: vec![
            turn(Role::User, vec![text("What is 2 + 2?")]),
            turn(
                role,
                vec![
                    ContentBlock {
                        block: Some(Block::Reasoning(reasoning)),
                    },
                    text("4"),
                ],
            ),
            turn(Role::User, vec![text("And 3 + 3?")]),
        ],
        ..thinking(SONNET_45, "")
    };
    vec![
        (
            "reasoning on a model without it",
            thinking(TITAN, "Think hard."),
            "reasoning",
        ),
        (
            "a budget under 1024",
            with(&|r| r.reasoning = Some(ReasoningConfig { budget_tokens: 512 }), thinking(SONNET_45, "Hi")),
            "reasoning.budget_tokens",
        ),
        (
            "a budget not below max_tokens",
            with(&|r| r.parameters = max_tokens(1024), thinking(SONNET_45, "Hi")),
            "reasoning.budget_tokens",
        ),
        (
            "reasoning without max_tokens",
            with(&|r| r.parameters = None, thinking(SONNET_45, "Hi")),
            "parameters.max_tokens",
        ),
        (
            "a temperature other than 1 while thinking",
            with(
                &|r| r.parameters.as_mut().unwrap().temperature = Some(0.2),
                thinking(SONNET_45, "Hi"),
            ),
            "parameters.temperature",
        ),
        (
            "top_p while thinking",
            with(&|r| r.parameters.as_mut().unwrap().top_p = Some(0.9), thinking(SONNET_45, "Hi")),
            "parameters.top_p",
        ),
        (
            "replayed reasoning text without its signature",
            replay(
                pb::Reasoning {
                    text: "2 + 2 is 4.".into(),
                    ..Default::default()
                },
                Role::Assistant,
            ),
            "messages[1].blocks[0].reasoning.signature",
        ),
        (
            "reasoning in a user turn",
            replay(
                pb::Reasoning {
                    text: "x".into(),
                    signature: "sig".into(),
                    ..Default::default()
                },
                Role::User,
            ),
            "messages[1].blocks[0].reasoning",
        ),
        (
            "a cache point on a model without caching",
            GenerateRequest {
                model_id: TITAN.into(),
                ..cached_turns(&[CacheTtl::Unspecified])
            },
            "messages[0].blocks[1].cache_point",
        ),
        (
            "a system cache point without a system prompt",
            GenerateRequest {
                system_cache_point: cache(CacheTtl::Unspecified),
                ..request(SONNET_45, "Hi")
            },
            "system_cache_point",
        ),
        (
            "five cache points",
            cached_turns(&[CacheTtl::Unspecified; 5]),
            "messages[0].blocks[9].cache_point",
        ),
        (
            "a 1-hour cache point after a 5-minute one",
            GenerateRequest {
                system: "Be brief.".into(),
                system_cache_point: cache(CacheTtl::CacheTtl5Minutes),
                ..cached_turns(&[CacheTtl::CacheTtl1Hour])
            },
            "messages[0].blocks[1].cache_point.ttl",
        ),
        (
            "a 1-hour cache point where only 5 minutes is offered",
            GenerateRequest {
                system: "Be brief.".into(),
                system_cache_point: cache(CacheTtl::CacheTtl1Hour),
                ..request(HAIKU_35, "Hi")
            },
            "system_cache_point.ttl",
        ),
        (
            "a cache point first in its turn",
            GenerateRequest {
                messages: vec![turn(
                    Role::User,
                    vec![
                        ContentBlock {
                            block: Some(Block::CachePoint(CachePoint::default())),
                        },
                        text("Hi"),
                    ],
                )],
                ..request(SONNET_45, "")
            },
            "messages[0].blocks[0].cache_point",
        ),
        (
            "a guardrail without a version",
            GenerateRequest {
                guardrail: Some(GuardrailConfig {
                    identifier: "gr0test1".into(),
                    ..Default::default()
                }),
                ..request(SONNET_45, "Hi")
            },
            "guardrail.version",
        ),
        (
            "a guardrail stream mode on Generate",
            GenerateRequest {
                guardrail: Some(GuardrailConfig {
                    stream_mode: GuardrailStreamMode::Async as i32,
                    ..guardrail(GuardrailTrace::Enabled).unwrap()
                }),
                ..request(SONNET_45, "Hi")
            },
            "guardrail.stream_mode",
        ),
        (
            "a tier the model does not offer",
            GenerateRequest {
                service_tier: ServiceTier::Flex as i32,
                ..request(TITAN, "Hi")
            },
            "service_tier",
        ),
        (
            "optimized latency on a model without it",
            GenerateRequest {
                latency: Latency::Optimized as i32,
                ..request(TITAN, "Hi")
            },
            "latency",
        ),
        (
            "seventeen metadata entries",
            GenerateRequest {
                request_metadata: (0..17).map(|i| (format!("k{i}"), "v".into())).collect(),
                ..request(TITAN, "Hi")
            },
            "request_metadata",
        ),
        (
            "a metadata value outside Bedrock's alphabet",
            GenerateRequest {
                request_metadata: [("team".to_owned(), "a;b".to_owned())].into(),
                ..request(TITAN, "Hi")
            },
            "request_metadata[\"team\"]",
        ),
        (
            "reasoning over InvokeModel",
            GenerateRequest {
                api: BedrockApi::InvokeModel as i32,
                ..thinking("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "Hi")
            },
            "reasoning",
        ),
        (
            "a forced tool while Claude thinks",
            GenerateRequest {
                tool_config: Some(pb::ToolConfig {
                    tools: vec![pb::Tool {
                        name: "get_time".into(),
                        description: String::new(),
                        input_schema: Some(prost_types::Struct {
                            fields: [(
                                "type".to_owned(),
                                prost_types::Value {
                                    kind: Some(prost_types::value::Kind::StringValue("object".into())),
                                },
                            )]
                            .into(),
                        }),
                    }],
                    tool_choice: Some(pb::ToolChoice {
                        mode: pb::ToolChoiceMode::Any as i32,
                        tool_name: String::new(),
                    }),
                    cache_point: None,
                }),
                ..thinking(SONNET_45, "What time is it?")
            },
            "tool_config.tool_choice.mode",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_names_its_field_before_any_upstream_call() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        for (rule, r, field) in refusals() {
            let status = match client.generate(r).await {
                Err(status) => status,
                Ok(answer) => panic!("{backend}: {rule}: served: {answer:?}"),
            };
            assert_eq!(status.code(), Code::InvalidArgument, "{backend}: {rule}: {status:?}");
            let fields: Vec<String> = status
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert!(
                fields.iter().any(|f| f == field),
                "{backend}: {rule}: expected a violation of {field}, got {fields:?}: {}",
                status.message()
            );
        }
    }
    assert_eq!(both.upstream_calls(), 0, "no refused request reached Bedrock");
}

// --- prompt caching --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_cached_request_reads_what_the_first_wrote() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        let r = GenerateRequest {
            system: long_system(backend),
            system_cache_point: cache(CacheTtl::Unspecified),
            ..request(SONNET_45, "Name three rivers.")
        };
        let first = usage(&client.generate(r.clone()).await.unwrap().into_inner());
        assert!(first.cache_write_input_tokens > 0, "{backend}: the first call writes: {first:?}");
        assert_eq!(first.cache_read_input_tokens, 0, "{backend}: {first:?}");
        let second = usage(&client.generate(r.clone()).await.unwrap().into_inner());
        assert_eq!(
            second.cache_read_input_tokens, first.cache_write_input_tokens,
            "{backend}: the second reads what the first wrote: {second:?}"
        );
        assert_eq!(second.cache_write_input_tokens, 0, "{backend}: {second:?}");
        assert_eq!(second.input_tokens, first.input_tokens, "{backend}: input excludes the cache");
        assert_eq!(
            second.total_tokens,
            second.input_tokens + second.cache_read_input_tokens + second.output_tokens,
            "{backend}: total counts every token once"
        );
        // The stream's final event reports the same.
        let events = stream_events(&mut client, r.clone()).await;
        let streamed = completion(&events).usage.unwrap();
        assert_eq!(streamed.cache_read_input_tokens, first.cache_write_input_tokens, "{backend}");
        assert_eq!(streamed.input_tokens, first.input_tokens, "{backend}");
        // CountTokens counts every input token, cached or not.
        let counted = client
            .count_tokens(CountTokensRequest {
                model_id: r.model_id.clone(),
                prompt: r.prompt.clone(),
                system: r.system.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            counted.input_tokens,
            first.input_tokens + first.cache_write_input_tokens,
            "{backend}"
        );
    }
    // What Bedrock received: the cache point right after the system prompt.
    let body = both.last_converse();
    let system = body["system"].as_array().unwrap();
    assert_eq!(system.len(), 2, "{body}");
    assert_eq!(system[1]["cachePoint"]["type"], "default", "{body}");
    let rendered = both.metrics[1].render();
    assert!(
        rendered.contains("bedrock_gateway_cache_read_input_tokens_total{"),
        "cache reads are counted:\n{rendered}"
    );
}

// --- reasoning -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_arrives_whole_with_its_signature_and_replays_unchanged() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        let question = thinking(SONNET_45, "Is 1001 a prime number?");
        let answer = client.generate(question.clone()).await.unwrap().into_inner();
        let reasoning = reasoning_blocks(&answer.content);
        assert_eq!(reasoning.len(), 1, "{backend}: {answer:?}");
        assert!(
            !reasoning[0].text.is_empty() && !reasoning[0].signature.is_empty(),
            "{backend}: reasoning text with its signature: {answer:?}"
        );
        assert!(
            matches!(answer.content[0].block, Some(Block::Reasoning(_))),
            "{backend}: the reasoning comes first"
        );
        assert!(!answer.text.is_empty(), "{backend}: and then the answer");

        // In a stream: text pieces, then a delta with only the signature.
        let events = stream_events(&mut client, question.clone()).await;
        let deltas: Vec<&pb::ReasoningDelta> = events
            .iter()
            .filter_map(|e| match e {
                Event::ReasoningDelta(d) => Some(d),
                _ => None,
            })
            .collect();
        assert!(deltas.len() >= 2, "{backend}: {events:?}");
        let signature_only: Vec<_> = deltas
            .iter()
            .filter(|d| d.text.is_empty() && !d.signature.is_empty())
            .collect();
        assert_eq!(signature_only.len(), 1, "{backend}: one signature-only delta: {deltas:?}");
        assert!(deltas.iter().any(|d| !d.text.is_empty()), "{backend}");
        assert!(
            events.iter().any(|e| matches!(e, Event::Delta(d) if !d.text.is_empty() && d.index > signature_only[0].index)),
            "{backend}: the answer's text follows in its own block"
        );

        // Replayed in the next turn, exactly as it came.
        let mut next = question.clone();
        next.prompt = String::new();
        next.messages = vec![
            turn(Role::User, vec![text("Is 1001 a prime number?")]),
            turn(Role::Assistant, answer.content.clone()),
            turn(Role::User, vec![text("And 1003?")]),
        ];
        let again = client.generate(next).await.unwrap().into_inner();
        assert_eq!(again.stop_reason(), StopReason::EndTurn, "{backend}: {again:?}");
        if backend == "bedrock" {
            let body = both.last_converse();
            let replayed = &body["messages"][1]["content"][0]["reasoningContent"]["reasoningText"];
            assert_eq!(replayed["text"], reasoning[0].text.as_str(), "{body}");
            assert_eq!(replayed["signature"], reasoning[0].signature.as_str(), "{body}");
            assert_eq!(
                body["additionalModelRequestFields"]["thinking"]["budget_tokens"], 1024,
                "{body}"
            );
        }

        // Redacted reasoning comes back as bytes, and replays byte for byte.
        let redacted = client
            .generate(thinking(SONNET_45, "Think about this [[redacted]] carefully."))
            .await
            .unwrap()
            .into_inner();
        let blocks = reasoning_blocks(&redacted.content);
        assert_eq!(blocks.len(), 1, "{backend}: {redacted:?}");
        assert!(!blocks[0].redacted.is_empty() && blocks[0].text.is_empty(), "{backend}");
        let mut replay = thinking(SONNET_45, "");
        replay.prompt = String::new();
        replay.messages = vec![
            turn(Role::User, vec![text("Think about this [[redacted]] carefully.")]),
            turn(Role::Assistant, redacted.content.clone()),
            turn(Role::User, vec![text("Thanks. Go on.")]),
        ];
        client.generate(replay).await.unwrap();
        if backend == "bedrock" {
            use base64::Engine as _;
            let body = both.last_converse();
            let sent = body["messages"][1]["content"][0]["reasoningContent"]["redactedContent"]
                .as_str()
                .unwrap_or_else(|| panic!("redacted reasoning was replayed: {body}"));
            let sent = base64::engine::general_purpose::STANDARD.decode(sent).unwrap();
            assert_eq!(sent, blocks[0].redacted.to_vec(), "byte for byte");
        }
    }
}

// --- guardrails ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_intervention_comes_back_with_its_trace() {
    let both = Both::start().await;
    for (i, (backend, mut client)) in both.clients().await.into_iter().enumerate() {
        let r = GenerateRequest {
            guardrail: guardrail(GuardrailTrace::Enabled),
            ..request(SONNET_45, "Tell me about [[guardrail]] things.")
        };
        let answer = client.generate(r.clone()).await.unwrap().into_inner();
        assert_eq!(answer.stop_reason(), StopReason::GuardrailIntervened, "{backend}: {answer:?}");
        let trace = answer.guardrail_trace.as_ref().expect("the trace was asked for");
        assert!(!trace.fields.is_empty(), "{backend}: {trace:?}");

        // Streamed, with the asynchronous mode.
        let mut streamed = r.clone();
        streamed.guardrail.as_mut().unwrap().stream_mode = GuardrailStreamMode::Async as i32;
        let events = stream_events(&mut client, streamed).await;
        let done = completion(&events);
        assert_eq!(done.stop_reason(), StopReason::GuardrailIntervened, "{backend}: {done:?}");
        assert!(done.guardrail_trace.is_some(), "{backend}: {done:?}");
        if backend == "bedrock" {
            let body = both.last_converse();
            let config = &body["guardrailConfig"];
            assert_eq!(config["guardrailIdentifier"], "gr0test1", "{body}");
            assert_eq!(config["guardrailVersion"], "1", "{body}");
            assert_eq!(config["trace"], "enabled", "{body}");
            assert_eq!(config["streamProcessingMode"], "async", "{body}");
        }

        // Without the trigger the guardrail lets the answer through, and
        // without `trace` there is none.
        let calm = GenerateRequest {
            guardrail: guardrail(GuardrailTrace::Unspecified),
            ..request(SONNET_45, "Tell me about rivers.")
        };
        let answer = client.generate(calm).await.unwrap().into_inner();
        assert_ne!(answer.stop_reason(), StopReason::GuardrailIntervened, "{backend}");
        assert_eq!(answer.guardrail_trace, None, "{backend}");
        let rendered = both.metrics[i].render();
        assert!(
            rendered.contains("bedrock_gateway_guardrail_interventions_total{"),
            "{backend}: interventions are counted:\n{rendered}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_model_carries_the_guardrail_and_metadata_in_its_own_parameters() {
    let both = Both::start().await;
    let mut client = both.bedrock.client().await;
    let r = GenerateRequest {
        api: BedrockApi::InvokeModel as i32,
        guardrail: guardrail(GuardrailTrace::Enabled),
        request_metadata: [("team".to_owned(), "search".to_owned())].into(),
        ..request(TITAN, "Tell me about [[guardrail]] things.")
    };
    let answer = client.generate(r).await.unwrap().into_inner();
    assert_eq!(answer.stop_reason(), StopReason::GuardrailIntervened, "{answer:?}");
    let invoke = both
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/invoke"))
        .expect("an InvokeModel call");
    assert_eq!(invoke.headers.get("x-amzn-bedrock-guardrailidentifier").map(String::as_str), Some("gr0test1"));
    assert_eq!(invoke.headers.get("x-amzn-bedrock-guardrailversion").map(String::as_str), Some("1"));
    assert_eq!(invoke.headers.get("x-amzn-bedrock-trace").map(String::as_str), Some("ENABLED"));
    let metadata: Value = serde_json::from_str(&invoke.headers["x-amzn-bedrock-request-metadata"]).unwrap();
    assert_eq!(metadata, serde_json::json!({"team": "search"}));
}

// --- tiers, latency and metadata --------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_latency_and_metadata_reach_converse_and_the_served_ones_come_back() {
    let both = Both::start().await;
    for (i, (backend, mut client)) in both.clients().await.into_iter().enumerate() {
        let flex = GenerateRequest {
            service_tier: ServiceTier::Flex as i32,
            request_metadata: [("team".to_owned(), "search/ranking".to_owned())].into(),
            ..request(NOVA_PRO, "Name a river.")
        };
        let answer = client.generate(flex.clone()).await.unwrap().into_inner();
        assert_eq!(answer.service_tier(), ServiceTier::Flex, "{backend}: {answer:?}");
        let events = stream_events(&mut client, flex).await;
        assert_eq!(completion(&events).service_tier(), ServiceTier::Flex, "{backend}");
        if backend == "bedrock" {
            let body = both.last_converse();
            assert_eq!(body["serviceTier"]["type"], "flex", "{body}");
            assert_eq!(body["requestMetadata"]["team"], "search/ranking", "{body}");
        }
        let fast = GenerateRequest {
            latency: Latency::Optimized as i32,
            ..request(HAIKU_35, "Name a river.")
        };
        let answer = client.generate(fast).await.unwrap().into_inner();
        assert_eq!(answer.latency(), Latency::Optimized, "{backend}: {answer:?}");
        if backend == "bedrock" {
            let body = both.last_converse();
            assert_eq!(body["performanceConfig"]["latency"], "optimized", "{body}");
        }
        let rendered = both.metrics[i].render();
        assert!(
            rendered.contains("tier=\"flex\""),
            "{backend}: requests are counted by tier:\n{rendered}"
        );
    }
}

// --- CountTokens -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_equals_generates_input_and_refuses_models_without_it() {
    let both = Both::start().await;
    for (backend, mut client) in both.clients().await {
        let tools = pb::ToolConfig {
            tools: vec![pb::Tool {
                name: "get_weather".into(),
                description: "The weather in a city".into(),
                input_schema: Some(prost_types::Struct {
                    fields: [(
                        "type".to_owned(),
                        prost_types::Value {
                            kind: Some(prost_types::value::Kind::StringValue("object".into())),
                        },
                    )]
                    .into(),
                }),
            }],
            ..Default::default()
        };
        let messages = vec![
            turn(Role::User, vec![text("Hello there.")]),
            turn(Role::Assistant, vec![text("Hello! How can I help?")]),
            turn(Role::User, vec![text("What should I wear in Paris today?")]),
        ];
        let counted = client
            .count_tokens(CountTokensRequest {
                model_id: SONNET_45.into(),
                messages: messages.clone(),
                system: "Be brief.".into(),
                tool_config: Some(tools.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let generated = client
            .generate(GenerateRequest {
                model_id: SONNET_45.into(),
                messages,
                system: "Be brief.".into(),
                tool_config: Some(tools),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(counted.input_tokens > 0, "{backend}");
        assert_eq!(counted.input_tokens, usage(&generated).input_tokens, "{backend}");

        let refused = client
            .count_tokens(CountTokensRequest {
                model_id: TITAN.into(),
                prompt: "Hi".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{backend}: {refused:?}");
        assert!(refused.message().contains(TITAN), "{backend}: {}", refused.message());
        let failure = refused.get_details_precondition_failure().expect("PreconditionFailure");
        assert_eq!(failure.violations[0].subject, TITAN, "{backend}");
    }
    assert_eq!(both.fake.count("/count-tokens"), 1, "one CountTokens call reached Bedrock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_admits_on_counted_input_before_any_generation() {
    let both = Both::start_with(LimitsConfig {
        tokens_per_minute: 3_000,
        ..Default::default()
    })
    .await;
    for (backend, mut client) in both.clients().await {
        let r = |max: u32| GenerateRequest {
            system: long_system("budget"),
            parameters: max_tokens(max),
            ..request(SONNET_45, "Name three rivers.")
        };
        let counted = client
            .count_tokens(CountTokensRequest {
                model_id: SONNET_45.into(),
                prompt: "Name three rivers.".into(),
                system: long_system("budget"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .input_tokens;
        assert!(counted > 100, "{backend}: the system prompt is long: {counted}");
        let converse_before = both.fake.count("/converse");
        // Counted input plus max_tokens over the whole budget: refused as
        // never admissible, before any generation.
        let refused = client.generate(r(3_000)).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{backend}: {refused:?}");
        assert!(
            refused.message().contains(&format!("alone needs {}", counted + 3_000)),
            "{backend}: the counted input is named: {}",
            refused.message()
        );
        assert_eq!(both.fake.count("/converse"), converse_before, "{backend}");
        // One that fits is served, and charged only what it used.
        let fits = 2_000 - counted.min(1_000);
        let answer = client.generate(r(fits)).await.unwrap().into_inner();
        assert!(usage(&answer).output_tokens < fits, "{backend}");
        // Its reservation was given back but its usage kept: a second fits too.
        client.generate(r(fits)).await.unwrap();
    }
}
