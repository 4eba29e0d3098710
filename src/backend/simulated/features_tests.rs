//! Tests of reasoning, the prompt cache, the guardrail, tiers and latency,
//! and CountTokens on the simulated backend.

use super::cache::Clock;
use super::*;
use crate::domain::{
    CachePoint, CacheTtl, GuardrailConfig, GuardrailTrace, Image, ImageFormat, Message, Options,
    Parameters, ReasoningConfig, Role, Tool, ToolChoice, ToolConfig,
};
use bytes::Bytes;
use serde_json::json;
use std::num::NonZeroU32;

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        target: crate::model::test_target(CLAUDE),
        from_prompt: true,
        messages: vec![Message::text(Role::User, prompt)],
        system: None,
        parameters: Parameters {
            temperature: Some(0.0),
            max_tokens: NonZeroU32::new(4096),
            ..Default::default()
        },
        additional_model_request_fields: None,
        simulation: None,
        api: Default::default(),
        tool_config: None,
        output_schema: None,
        options: None,
    }
}

fn with_options(mut r: GenerationRequest, options: Options) -> GenerationRequest {
    r.options = Some(Box::new(options));
    r
}

fn reasoning(prompt: &str) -> GenerationRequest {
    with_options(
        request(prompt),
        Options {
            reasoning: Some(ReasoningConfig {
                budget_tokens: 2048,
            }),
            ..Default::default()
        },
    )
}

fn backend() -> SimulatedBackend {
    SimulatedBackend::new(SimulatedConfig::default())
}

async fn events(b: &SimulatedBackend, r: GenerationRequest) -> Vec<StreamEvent> {
    b.generate_stream(r)
        .await
        .unwrap()
        .events
        .map(Result::unwrap)
        .collect()
        .await
}

fn complete(events: &[StreamEvent]) -> &Completion {
    match events.last() {
        Some(StreamEvent::Complete(c)) => c,
        other => panic!("unexpected {other:?}"),
    }
}

fn tokens(text: &str) -> u32 {
    token_spans(text).count() as u32
}

/// Tools (7 tokens) with a cache point after them, a system prompt (5) with
/// one after it, a first user block (8) with one after it, then the
/// question (5): prefixes of 7, 12 and 20 tokens, 25 in all.
fn cached(question: &str, ttl: Option<CacheTtl>) -> GenerationRequest {
    let mut r = request(question);
    r.from_prompt = false;
    r.system = Some("You are a helpful assistant.".into());
    r.tool_config = Some(Box::new(ToolConfig {
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("The weather in a city".into()),
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        choice: ToolChoice::Auto,
        cache_point: Some(CachePoint { ttl }),
    }));
    r.messages = vec![Message {
        role: Role::User,
        content: vec![
            ContentBlock::Text("Here is a long document about the sea.".into()),
            ContentBlock::CachePoint(CachePoint { ttl }),
            ContentBlock::Text(question.into()),
        ],
    }];
    with_options(
        r,
        Options {
            system_cache_point: Some(CachePoint { ttl }),
            ..Default::default()
        },
    )
}

fn cache_counts(u: &Usage) -> (u32, u32, u32) {
    (
        u.input_tokens,
        u.cache_read_input_tokens,
        u.cache_write_input_tokens,
    )
}

#[tokio::test]
async fn reasoning_comes_first_with_its_signature() {
    let b = backend();
    let g = b
        .generate(reasoning("Write a poem about sky"))
        .await
        .unwrap();
    let again = b
        .generate(reasoning("Write a poem about sky"))
        .await
        .unwrap();
    assert_eq!(g.content, again.content, "temperature 0 thinks the same");
    let [ContentBlock::Reasoning(Reasoning::Text { text, signature }), ContentBlock::Text(answer)] =
        g.content.as_slice()
    else {
        panic!("unexpected {:?}", g.content);
    };
    assert!(text.starts_with("The user asks about sky."), "{text}");
    assert!(text.contains("poem"), "{text}");
    assert_eq!(
        signature.as_deref(),
        Some(reasoning::signature(text).as_str())
    );
    // Reasoning counts as output.
    let u = g.completion.usage;
    assert_eq!(u.output_tokens, tokens(text) + tokens(answer));
    assert_eq!(u.total_tokens, u.input_tokens + u.output_tokens);
    assert_eq!(g.completion.stop_reason, StopReason::EndTurn);
    // Without reasoning, the same text.
    let plain = b.generate(request("Write a poem about sky")).await.unwrap();
    assert_eq!(&plain.text(), answer);
}

#[tokio::test]
async fn reasoning_fits_the_budget_and_max_tokens_includes_it() {
    let b = backend();
    let mut r = reasoning("Explain gateways");
    r.options.as_mut().unwrap().reasoning = Some(ReasoningConfig { budget_tokens: 5 });
    let g = b.generate(r).await.unwrap();
    let ContentBlock::Reasoning(Reasoning::Text { text, .. }) = &g.content[0] else {
        panic!("unexpected {:?}", g.content);
    };
    assert_eq!(tokens(text), 5);
    let mut r = reasoning("Explain gateways");
    r.parameters.max_tokens = NonZeroU32::new(2100);
    r.options.as_mut().unwrap().reasoning = Some(ReasoningConfig {
        budget_tokens: 2048,
    });
    let thought = match &b.generate(r.clone()).await.unwrap().content[0] {
        ContentBlock::Reasoning(Reasoning::Text { text, .. }) => tokens(text),
        other => panic!("unexpected {other:?}"),
    };
    r.parameters.max_tokens = NonZeroU32::new(thought + 3);
    let g = b.generate(r).await.unwrap();
    assert_eq!(g.completion.usage.output_tokens, thought + 3);
    assert_eq!(tokens(&g.text()), 3);
    assert_eq!(g.completion.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn streamed_reasoning_ends_with_a_signature_only_delta() {
    let b = backend();
    let unary = b
        .generate(reasoning("Write a poem about sky"))
        .await
        .unwrap();
    let ContentBlock::Reasoning(Reasoning::Text {
        text: thought,
        signature,
    }) = &unary.content[0]
    else {
        panic!("unexpected {:?}", unary.content);
    };
    let events = events(&b, reasoning("Write a poem about sky")).await;
    let (mut reasoning_text, mut signatures, mut text) = (String::new(), Vec::new(), String::new());
    let mut saw_text = false;
    for e in &events[..events.len() - 1] {
        match e {
            StreamEvent::Reasoning {
                index: 0,
                delta: ReasoningDelta::Text(t),
            } => {
                assert!(
                    signatures.is_empty() && !saw_text,
                    "reasoning text after its signature"
                );
                reasoning_text.push_str(t);
            }
            StreamEvent::Reasoning {
                index: 0,
                delta: ReasoningDelta::Signature(s),
            } => signatures.push(s.clone()),
            StreamEvent::Text { index: 1, text: t } => {
                assert_eq!(signatures.len(), 1, "text before the signature");
                saw_text = true;
                text.push_str(t);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(token_spans(&reasoning_text).count() > 3);
    assert_eq!(&reasoning_text, thought);
    assert_eq!(signatures, [signature.clone().unwrap()]);
    assert_eq!(text, unary.text());
    assert_eq!(complete(&events).usage, unary.completion.usage);
}

#[tokio::test]
async fn redacted_reasoning_is_opaque_and_still_counted() {
    let b = backend();
    let prompt = "Write a poem about sky [[redacted]]";
    let g = b.generate(reasoning(prompt)).await.unwrap();
    let ContentBlock::Reasoning(Reasoning::Redacted(bytes)) = &g.content[0] else {
        panic!("unexpected {:?}", g.content);
    };
    assert_eq!(bytes.len(), 64);
    assert!(
        !g.text().contains("redacted"),
        "the marker is not a topic: {}",
        g.text()
    );
    let again = b.generate(reasoning(prompt)).await.unwrap();
    assert_eq!(again.content[0], g.content[0]);
    assert!(g.completion.usage.output_tokens > tokens(&g.text()));

    let events = events(&b, reasoning(prompt)).await;
    assert_eq!(
        events[0],
        StreamEvent::Reasoning {
            index: 0,
            delta: ReasoningDelta::Redacted(bytes.clone())
        }
    );
    assert!(
        matches!(events[1], StreamEvent::Text { index: 1, .. }),
        "{:?}",
        events[1]
    );
    assert!(!events.iter().any(|e| matches!(
        e,
        StreamEvent::Reasoning {
            delta: ReasoningDelta::Text(_) | ReasoningDelta::Signature(_),
            ..
        }
    )));
    assert_eq!(complete(&events).usage, g.completion.usage);
}

#[tokio::test]
async fn reasoning_before_a_tool_call_shifts_its_index() {
    let b = backend();
    let mut r = reasoning("What is the weather in Paris?");
    r.tool_config = Some(Box::new(ToolConfig {
        tools: vec![Tool {
            name: "get_weather".into(),
            description: None,
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }],
        choice: ToolChoice::Tool("get_weather".into()),
        cache_point: None,
    }));
    let g = b.generate(r.clone()).await.unwrap();
    assert!(
        matches!(
            g.content.as_slice(),
            [ContentBlock::Reasoning(_), ContentBlock::ToolUse(_)]
        ),
        "{:?}",
        g.content
    );
    let events = events(&b, r).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolUseStart { index: 1, .. })),
        "{events:?}"
    );
    assert_eq!(complete(&events).stop_reason, StopReason::ToolUse);
}

#[tokio::test]
async fn replayed_reasoning_counts_as_input() {
    let b = backend();
    let mut r = request("Write a poem about sky");
    r.from_prompt = false;
    r.messages = vec![
        Message::text(Role::User, "hi"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Reasoning(Reasoning::Text {
                    text: "Let me think about it carefully".into(),
                    signature: Some("c2lnbmF0dXJl".into()),
                }),
                ContentBlock::Reasoning(Reasoning::Redacted(Bytes::from_static(b"opaque bytes"))),
                ContentBlock::Text("Hello".into()),
            ],
        },
        Message::text(Role::User, "Write a poem about sky"),
    ];
    let g = b.generate(r.clone()).await.unwrap();
    assert_eq!(g.completion.usage.input_tokens, 1 + 6 + 1 + 5);
    assert_eq!(b.count_tokens(&r).await.unwrap(), 13);
}

#[tokio::test]
async fn the_cache_writes_then_reads_with_disjoint_counts() {
    let b = SimulatedBackend::with_clock(SimulatedConfig::default(), Clock::manual());
    let first = b
        .generate(cached("Write a poem about sky", None))
        .await
        .unwrap();
    let u = first.completion.usage;
    assert_eq!(cache_counts(&u), (5, 0, 20));
    assert_eq!(u.total_tokens, 25 + u.output_tokens);
    let second = b
        .generate(cached("Write a poem about sky", None))
        .await
        .unwrap();
    let u = second.completion.usage;
    assert_eq!(cache_counts(&u), (5, 20, 0));
    assert_eq!(u.total_tokens, 25 + u.output_tokens);
    assert_eq!(second.text(), first.text());
    // Another question after the same prefix reads all of it.
    let other = b.generate(cached("Explain gateways", None)).await.unwrap();
    assert_eq!(cache_counts(&other.completion.usage), (2, 20, 0));
    // A changed first block reads the tools and system prompt, writes it.
    let mut changed = cached("Write a poem about sky", None);
    changed.messages[0].content[0] =
        ContentBlock::Text("Here is a short note about the moon.".into());
    let u = b.generate(changed).await.unwrap().completion.usage;
    assert_eq!(cache_counts(&u), (5, 12, 8));
    // Another model reads nothing of this model's cache.
    let mut elsewhere = cached("Write a poem about sky", None);
    elsewhere.target = crate::model::test_target("anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(
        cache_counts(&b.generate(elsewhere).await.unwrap().completion.usage),
        (5, 0, 20)
    );
    // Streams count the same way.
    let events = events(&b, cached("Write a poem about sky", None)).await;
    assert_eq!(cache_counts(&complete(&events).usage), (5, 20, 0));
}

#[tokio::test]
async fn cached_prefixes_expire_after_their_ttl() {
    let clock = Clock::manual();
    let b = SimulatedBackend::with_clock(SimulatedConfig::default(), clock.clone());
    let b = &b;
    let usage = |r| async move { cache_counts(&b.generate(r).await.unwrap().completion.usage) };
    assert_eq!(
        usage(cached("Write a poem about sky", None)).await,
        (5, 0, 20)
    );
    clock.advance(Duration::from_secs(299));
    // The read refreshes the prefix for another 5 minutes.
    assert_eq!(
        usage(cached("Write a poem about sky", None)).await,
        (5, 20, 0)
    );
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        usage(cached("Write a poem about sky", None)).await,
        (5, 20, 0)
    );
    clock.advance(Duration::from_secs(301));
    assert_eq!(
        usage(cached("Write a poem about sky", None)).await,
        (5, 0, 20)
    );
    // The hour-long TTL outlives five minutes.
    let hour = Some(CacheTtl::OneHour);
    assert_eq!(usage(cached("Explain gateways", hour)).await, (2, 20, 0));
    clock.advance(Duration::from_secs(301));
    assert_eq!(usage(cached("Explain gateways", hour)).await, (2, 20, 0));
    clock.advance(Duration::from_secs(3601));
    assert_eq!(usage(cached("Explain gateways", hour)).await, (2, 0, 20));
}

#[tokio::test]
async fn calls_without_cache_points_never_touch_the_store() {
    let b = backend();
    b.generate(request("Write a poem about sky")).await.unwrap();
    b.generate(reasoning("Write a poem about sky"))
        .await
        .unwrap();
    let mut tools = cached("Write a poem about sky", None);
    tools.tool_config.as_mut().unwrap().cache_point = None;
    tools.options = None;
    tools.messages[0].content.remove(1);
    assert!(!input::has_cache_points(&tools));
    assert!(input::count(&tools, false).prefixes.is_empty());
    let g = b.generate(tools).await.unwrap();
    assert_eq!(cache_counts(&g.completion.usage), (25, 0, 0));
    events(&b, request("Explain gateways")).await;
    assert_eq!(b.cache.lookups(), 0);
    // Nor does a call the guardrail stops, or one that fails outright.
    let mut blocked = cached("Write a poem [[guardrail]]", None);
    blocked.options.as_mut().unwrap().guardrail = Some(guardrail_config(GuardrailTrace::Disabled));
    let u = b.generate(blocked).await.unwrap().completion.usage;
    assert_eq!(
        (u.cache_read_input_tokens, u.cache_write_input_tokens),
        (0, 0)
    );
    let mut failing = cached("Write a poem about sky", None);
    failing.simulation = Some(SimulationDirectives {
        fail_with: Some("ThrottlingException".into()),
        ..Default::default()
    });
    b.generate(failing).await.unwrap_err();
    assert_eq!(b.cache.lookups(), 0);
    b.generate(cached("Write a poem about sky", None))
        .await
        .unwrap();
    assert_eq!(b.cache.lookups(), 1);
}

#[tokio::test]
async fn count_tokens_is_generates_input_total() {
    let b = backend();
    let png = Bytes::from_static(
        b"\x89PNG\r\n\x1a\n0000000000000000000000000000000000000000000000000000000000000000",
    );
    let mut image = request("What is in this picture?");
    image.messages[0].content.insert(
        0,
        ContentBlock::Image(Image {
            format: ImageFormat::Png,
            data: png,
        }),
    );
    let mut tools = cached("Write a poem about sky", None);
    tools.tool_config.as_mut().unwrap().cache_point = None;
    tools.options = None;
    let requests = [
        request("Write a poem about sky"),
        reasoning("Explain gateways"),
        image,
        tools,
        cached("Write a poem about sky", None),
        cached("Explain gateways", Some(CacheTtl::OneHour)),
    ];
    for r in requests {
        let counted = b.count_tokens(&r).await.unwrap();
        for call in ["first", "second"] {
            let u = b.generate(r.clone()).await.unwrap().completion.usage;
            let input = u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens;
            assert_eq!(counted, input, "{call} call of {:?}", r.last_user_text());
            assert_eq!(
                b.count_tokens(&r).await.unwrap(),
                counted,
                "the cache does not change the count"
            );
        }
    }
    assert_eq!(
        b.count_tokens(&request("Write a poem about sky"))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        b.count_tokens(&cached("Write a poem about sky", None))
            .await
            .unwrap(),
        25
    );
}

fn guardrail_config(trace: GuardrailTrace) -> GuardrailConfig {
    GuardrailConfig {
        identifier: "gr-123".into(),
        version: "1".into(),
        trace,
        stream_mode: None,
    }
}

fn guarded(prompt: &str, trace: GuardrailTrace) -> GenerationRequest {
    with_options(
        request(prompt),
        Options {
            guardrail: Some(guardrail_config(trace)),
            reasoning: Some(ReasoningConfig {
                budget_tokens: 2048,
            }),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn the_guardrail_intervenes_with_its_trace() {
    let b = backend();
    let prompt = "Tell me about secrets [[guardrail]]";
    let g = b
        .generate(guarded(prompt, GuardrailTrace::Enabled))
        .await
        .unwrap();
    assert_eq!(
        g.content,
        [ContentBlock::Text(guardrail::BLOCKED_MESSAGE.into())]
    );
    assert_eq!(g.text(), "Sorry, the model cannot answer this question.");
    assert_eq!(g.completion.stop_reason, StopReason::GuardrailIntervened);
    assert_eq!(g.completion.raw_stop_reason, "guardrail_intervened");
    assert_eq!(g.completion.usage.output_tokens, 7);
    let trace = g.completion.guardrail_trace.as_deref().expect("a trace");
    assert_eq!(trace["actionReason"], "Guardrail blocked.");
    let assessment = &trace["inputAssessment"]["gr-123"];
    assert_eq!(
        assessment["topicPolicy"]["topics"],
        json!([{"name": "Simulated denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}])
    );
    let chars = prompt.chars().count() as u64;
    assert_eq!(
        assessment["invocationMetrics"]["guardrailCoverage"]["textCharacters"]["total"],
        chars
    );
    assert_eq!(
        assessment["invocationMetrics"]["usage"]["topicPolicyUnits"],
        1
    );
    assert!(assessment.get("contentPolicy").is_none());
    let full = b
        .generate(guarded(prompt, GuardrailTrace::EnabledFull))
        .await
        .unwrap();
    let full = full.completion.guardrail_trace.unwrap();
    assert_eq!(
        full["inputAssessment"]["gr-123"]["contentPolicy"]["filters"][0]["detected"],
        false
    );

    // The stream sends the same text as deltas and the trace at the end.
    let events = events(&b, guarded(prompt, GuardrailTrace::Enabled)).await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text { index: 0, text } => Some(text.as_str()),
            StreamEvent::Complete(_) => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(text, guardrail::BLOCKED_MESSAGE);
    assert_eq!(
        complete(&events).stop_reason,
        StopReason::GuardrailIntervened
    );
    assert_eq!(complete(&events).raw_stop_reason, "guardrail_intervened");
    assert_eq!(complete(&events).guardrail_trace.as_deref(), Some(trace));
    assert_eq!(complete(&events).usage, g.completion.usage);
}

#[tokio::test]
async fn the_guardrail_without_trace_or_without_cause() {
    let b = backend();
    let g = b
        .generate(guarded(
            "Tell me about secrets [[guardrail]]",
            GuardrailTrace::Disabled,
        ))
        .await
        .unwrap();
    assert_eq!(g.completion.stop_reason, StopReason::GuardrailIntervened);
    assert_eq!(g.completion.guardrail_trace, None);
    // Nothing to stop: the usual answer, and an empty assessment.
    let g = b
        .generate(guarded("Explain gateways", GuardrailTrace::Enabled))
        .await
        .unwrap();
    assert_eq!(g.completion.stop_reason, StopReason::EndTurn);
    assert!(matches!(g.content[0], ContentBlock::Reasoning(_)));
    let trace = g.completion.guardrail_trace.unwrap();
    assert_eq!(trace.get("actionReason"), None);
    let assessment = trace["inputAssessment"]["gr-123"].as_object().unwrap();
    assert_eq!(assessment.keys().collect::<Vec<_>>(), ["invocationMetrics"]);
    // The marker without a guardrail is just text.
    let g = b
        .generate(request("Tell me about secrets [[guardrail]]"))
        .await
        .unwrap();
    assert_eq!(g.completion.stop_reason, StopReason::EndTurn);
    assert_eq!(g.completion.guardrail_trace, None);
}

#[tokio::test]
async fn the_tier_and_latency_asked_for_are_echoed() {
    let b = backend();
    let plain = b.generate(request("Explain gateways")).await.unwrap();
    assert_eq!(
        (plain.completion.service_tier, plain.completion.latency),
        (None, None)
    );
    let r = with_options(
        request("Explain gateways"),
        Options {
            service_tier: Some(ServiceTier::Flex),
            latency: Some(Latency::Optimized),
            request_metadata: [("team".to_owned(), "search".to_owned())].into(),
            ..Default::default()
        },
    );
    let g = b.generate(r.clone()).await.unwrap();
    assert_eq!(g.completion.service_tier, Some(ServiceTier::Flex));
    assert_eq!(g.completion.latency, Some(Latency::Optimized));
    assert_eq!(g.text(), plain.text());
    let events = events(&b, r).await;
    assert_eq!(complete(&events).service_tier, Some(ServiceTier::Flex));
    assert_eq!(complete(&events).latency, Some(Latency::Optimized));
}
