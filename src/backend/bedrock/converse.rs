//! Converse and ConverseStream: Bedrock's model-independent API.
//!
//! The request's conversation (messages, system prompt, tools, additional
//! fields with the reasoning budget) is built by [`conversation`], which
//! CountTokens uses too. What `Options` asks for (guardrail, service tier,
//! latency mode, request metadata) is set only when the request carries
//! `Options`: a call that asks for none of it does no work for it.

use super::content;
use super::guardrail;
use super::native::converse_stop_reason;
use super::options;
use super::sdk_errors::from_sdk;
use crate::backend::{EventStream, GenerationStream};
use crate::domain::{
    Completion, Generation, GenerationRequest, Options, ReasoningConfig, ReasoningDelta, Role,
    StreamEvent, ToolUseAssembly, Usage,
};
use crate::error::{ErrorKind, GatewayError};
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseOutput as Output,
    ConverseStreamMetadataEvent, ConverseStreamOutput as Event, GuardrailTraceAssessment,
    InferenceConfiguration, Message, PerformanceConfiguration, ReasoningContentBlockDelta, ServiceTier, SystemContentBlock,
    TokenUsage, ToolConfiguration,
};
use aws_smithy_types::Document;
use futures::StreamExt;
use std::time::{Duration, Instant};

fn messages(request: &GenerationRequest) -> Result<Vec<Message>, GatewayError> {
    request
        .messages
        .iter()
        .map(|m| {
            Message::builder()
                .role(match m.role {
                    Role::User => ConversationRole::User,
                    Role::Assistant => ConversationRole::Assistant,
                })
                .set_content(Some(content::blocks(&m.content)?))
                .build()
                .map_err(|e| GatewayError::new(ErrorKind::Internal, format!("building a Converse message: {e}")))
        })
        .collect()
}

fn inference_config(request: &GenerationRequest) -> Option<InferenceConfiguration> {
    let p = &request.parameters;
    if p.temperature.is_none() && p.top_p.is_none() && p.max_tokens.is_none() && p.stop_sequences.is_empty() {
        return None;
    }
    Some(
        InferenceConfiguration::builder()
            .set_temperature(p.temperature)
            .set_top_p(p.top_p)
            // Bedrock's field is an i32; larger values are refused by Bedrock
            // itself, so saturate rather than wrap.
            .set_max_tokens(p.max_tokens.map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX)))
            .set_stop_sequences((!p.stop_sequences.is_empty()).then(|| p.stop_sequences.clone()))
            .build(),
    )
}

/// JSON into the SDK's Document.
pub(crate) fn document(value: &serde_json::Value) -> Document {
    use aws_smithy_types::Number;
    match value {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        serde_json::Value::String(s) => Document::String(s.clone()),
        serde_json::Value::Array(a) => Document::Array(a.iter().map(document).collect()),
        serde_json::Value::Object(o) => Document::Object(
            o.iter().map(|(k, v)| (k.clone(), document(v))).collect(),
        ),
    }
}

/// The caller's additional fields, with the reasoning budget as Claude's
/// `thinking = {"type": "enabled", "budget_tokens": N}` merged in: the
/// caller's other keys are kept, and a `thinking` of the caller's own is
/// replaced by the one `reasoning` asks for (the typed field wins; validation
/// may refuse the pair instead).
fn additional_fields(request: &GenerationRequest) -> Option<Document> {
    let fields = request.additional_model_request_fields.as_ref();
    let Some(reasoning) = request.options.as_deref().and_then(|o| o.reasoning) else {
        return fields.map(document);
    };
    let mut merged = match fields.map(document) {
        Some(Document::Object(o)) => o,
        // Validation makes the fields a JSON object when present.
        _ => Default::default(),
    };
    merged.insert("thinking".to_owned(), thinking(reasoning));
    Some(Document::Object(merged))
}

/// Claude's extended-thinking field.
fn thinking(r: ReasoningConfig) -> Document {
    use aws_smithy_types::Number;
    Document::Object(
        [
            ("type".to_owned(), Document::String("enabled".to_owned())),
            (
                "budget_tokens".to_owned(),
                Document::Number(Number::PosInt(u64::from(r.budget_tokens))),
            ),
        ]
        .into_iter()
        .collect(),
    )
}

/// The system prompt, with a cache point after it when asked for.
fn system(request: &GenerationRequest) -> Result<Option<Vec<SystemContentBlock>>, GatewayError> {
    let Some(text) = &request.system else {
        return Ok(None);
    };
    let cache = request.options.as_deref().and_then(|o| o.system_cache_point);
    let Some(cache) = cache else {
        return Ok(Some(vec![SystemContentBlock::Text(text.clone())]));
    };
    Ok(Some(vec![
        SystemContentBlock::Text(text.clone()),
        SystemContentBlock::CachePoint(content::cache_point(cache)?),
    ]))
}

fn tool_config(request: &GenerationRequest) -> Result<Option<ToolConfiguration>, GatewayError> {
    request.tool_config.as_deref().map(content::tool_config).transpose()
}

/// What Converse, ConverseStream and CountTokens's Converse input share.
pub(super) struct Conversation {
    pub(super) messages: Vec<Message>,
    pub(super) system: Option<Vec<SystemContentBlock>>,
    pub(super) tool_config: Option<ToolConfiguration>,
    pub(super) additional_fields: Option<Document>,
}

/// The request's conversation in Converse's types: messages (reasoning
/// blocks and cache points included), the system prompt and its cache
/// point, the tools and theirs, and the additional fields with `thinking`.
pub(super) fn conversation(request: &GenerationRequest) -> Result<Conversation, GatewayError> {
    Ok(Conversation {
        messages: messages(request)?,
        system: system(request)?,
        tool_config: tool_config(request)?,
        additional_fields: additional_fields(request),
    })
}

fn output_config(
    request: &GenerationRequest,
) -> Result<Option<aws_sdk_bedrockruntime::types::OutputConfig>, GatewayError> {
    request.output_schema.as_deref().map(content::output_config).transpose()
}

/// Bedrock's usage as reported: `input_tokens` excludes the cache reads and
/// writes (the three are disjoint), and `total_tokens` is Bedrock's own
/// total, which counts all of them and the output.
fn usage(u: Option<&TokenUsage>) -> Usage {
    let n = |x: i32| u32::try_from(x).unwrap_or(0);
    match u {
        None => Usage::default(),
        Some(u) => Usage {
            input_tokens: n(u.input_tokens),
            output_tokens: n(u.output_tokens),
            total_tokens: n(u.total_tokens),
            cache_read_input_tokens: u.cache_read_input_tokens.map_or(0, n),
            cache_write_input_tokens: u.cache_write_input_tokens.map_or(0, n),
        },
    }
}

/// The model a prompt router chose, from the answer's trace: the
/// foundation model ID inside the ARN Bedrock reports, or the ARN itself.
fn routed_model(trace: Option<&aws_sdk_bedrockruntime::types::PromptRouterTrace>) -> Option<String> {
    let invoked = trace?.invoked_model_id.as_deref()?;
    let tail = invoked.rsplit('/').next().unwrap_or(invoked);
    Some(tail.to_owned())
}

/// Bedrock's content block index (an i32 that is never negative).
fn block_index(i: i32) -> u32 {
    u32::try_from(i).unwrap_or(0)
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Converse: one whole answer.
pub(crate) async fn generate(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<Generation, GatewayError> {
    let started = Instant::now();
    // The call is built in a block of its own: a temporary of the awaiting
    // statement would keep room for the whole builder in this future, which
    // every call then copies.
    let sending = { converse_call(client, request)?.send() };
    let mut out = sending.await.map_err(|e| from_sdk("Converse", e, None))?;
    let request_id = out.request_id().unwrap_or_default().to_owned();
    // The SDK accepts a 200 whose body lacks the message (it yields an
    // "unknown" output); that is not an answer, so say so instead of
    // returning empty text with a made-up stop reason.
    let answer = match out.output.take() {
        Some(Output::Message(m)) => content::answer(m.content),
        _ => {
            return Err(GatewayError::new(
                ErrorKind::Internal,
                format!("Bedrock's Converse answer (request {request_id}) held no message"),
            )
            .with_upstream(crate::error::UpstreamError {
                error_type: "MalformedResponse".into(),
                request_id: Some(request_id),
            }))
        }
    };
    let raw = out.stop_reason.as_str().to_owned();
    Ok(Generation {
        content: answer,
        completion: Completion {
            stop_reason: converse_stop_reason(&raw),
            raw_stop_reason: raw,
            usage: usage(out.usage.as_ref()),
            invoked_model_id: request.target.invoke_id.to_string(),
            resolved_model_id: routed_model(out.trace.as_ref().and_then(|t| t.prompt_router.as_ref()))
                .unwrap_or_else(|| request.target.resolved_model_id().to_owned()),
            backend_latency: out
                .metrics
                .as_ref()
                .map_or_else(|| started.elapsed(), |m| millis(m.latency_ms)),
            request_id,
            tool_uses: Vec::new(),
            service_tier: out.service_tier.as_ref().and_then(served_tier),
            latency: out.performance_config.as_ref().and_then(served_latency),
            guardrail_trace: guardrail_trace(out.trace.as_ref().and_then(|t| t.guardrail.as_ref())),
        },
    })
}

/// The Converse call for `request`, ready to send.
fn converse_call(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<
    aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder,
    GatewayError,
> {
    let c = conversation(request)?;
    let call = client
        .converse()
        .model_id(&*request.target.invoke_id)
        .set_messages(Some(c.messages))
        .set_system(c.system)
        .set_inference_config(inference_config(request))
        .set_additional_model_request_fields(c.additional_fields)
        .set_tool_config(c.tool_config)
        .set_output_config(output_config(request)?);
    Ok(match request.options.as_deref() {
        None => call,
        Some(o) => {
            let (tier, performance, metadata) = common_options(o);
            call.set_guardrail_config(o.guardrail.as_ref().map(guardrail::converse_config))
                .set_service_tier(tier)
                .set_performance_config(performance)
                .set_request_metadata(metadata)
        }
    })
}

/// The ConverseStream call for `request`, ready to send.
fn converse_stream_call(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<
    aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder,
    GatewayError,
> {
    let c = conversation(request)?;
    let call = client
        .converse_stream()
        .model_id(&*request.target.invoke_id)
        .set_messages(Some(c.messages))
        .set_system(c.system)
        .set_inference_config(inference_config(request))
        .set_additional_model_request_fields(c.additional_fields)
        .set_tool_config(c.tool_config)
        .set_output_config(output_config(request)?);
    Ok(match request.options.as_deref() {
        None => call,
        Some(o) => {
            let (tier, performance, metadata) = common_options(o);
            call.set_guardrail_config(o.guardrail.as_ref().map(guardrail::stream_config))
                .set_service_tier(tier)
                .set_performance_config(performance)
                .set_request_metadata(metadata)
        }
    })
}

/// The service tier, latency mode and request metadata, as both Converse
/// operations take them; empty metadata is left out.
fn common_options(
    o: &Options,
) -> (
    Option<ServiceTier>,
    Option<PerformanceConfiguration>,
    Option<std::collections::HashMap<String, String>>,
) {
    (
        o.service_tier.map(options::service_tier),
        o.latency.map(options::performance_config),
        (!o.request_metadata.is_empty()).then(|| o.request_metadata.clone()),
    )
}

fn served_tier(t: &ServiceTier) -> Option<crate::domain::ServiceTier> {
    options::served_tier(&t.r#type)
}

fn served_latency(p: &PerformanceConfiguration) -> Option<crate::domain::Latency> {
    options::served_latency(&p.latency)
}

/// The guardrail's trace as Bedrock's JSON, when Bedrock sent one.
fn guardrail_trace(t: Option<&GuardrailTraceAssessment>) -> Option<Box<serde_json::Value>> {
    t.map(|t| Box::new(guardrail::trace(t)))
}

/// ConverseStream: deltas as Bedrock sends them. The SDK's receiver lives in
/// the returned stream; dropping the stream drops the receiver, which closes
/// the HTTP exchange with Bedrock.
pub(crate) async fn generate_stream(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<GenerationStream, GatewayError> {
    let started = Instant::now();
    // Built apart from the await, as in `generate`.
    let sending = { converse_stream_call(client, request)?.send() };
    let out = sending.await.map_err(|e| from_sdk("ConverseStream", e, None))?;
    let request_id = out.request_id().unwrap_or_default().to_owned();
    let state = StreamState {
        receiver: out.stream,
        completion: Completion {
            stop_reason: converse_stop_reason(""),
            raw_stop_reason: String::new(),
            usage: Usage::default(),
            invoked_model_id: request.target.invoke_id.to_string(),
            resolved_model_id: request.target.resolved_model_id().to_owned(),
            backend_latency: Duration::ZERO,
            request_id: request_id.clone(),
            tool_uses: Vec::new(),
            service_tier: None,
            latency: None,
            guardrail_trace: None,
        },
        tools: ToolUseAssembly::default(),
        stopped: false,
        started,
        done: false,
    };
    let events: EventStream = futures::stream::unfold(state, StreamState::next).boxed();
    Ok(GenerationStream { request_id, events })
}

/// A streamed piece of reasoning. Each of Bedrock's deltas carries one
/// member, so a signature (which arrives alone, after the text) is its own
/// event; redacted bytes are passed on as they came, never dropped. Empty
/// text and signatures carry nothing and are skipped.
fn reasoning_delta(r: ReasoningContentBlockDelta) -> Option<ReasoningDelta> {
    match r {
        ReasoningContentBlockDelta::Text(t) if !t.is_empty() => Some(ReasoningDelta::Text(t)),
        ReasoningContentBlockDelta::Signature(s) if !s.is_empty() => {
            Some(ReasoningDelta::Signature(s))
        }
        ReasoningContentBlockDelta::RedactedContent(b) => {
            Some(ReasoningDelta::Redacted(b.into_bytes()))
        }
        _ => None,
    }
}

/// The stream's metadata event into its completion: usage (cache counts
/// included), the model a router chose, the tier and latency mode served,
/// the guardrail's trace and Bedrock's latency.
fn metadata(completion: &mut Completion, e: &ConverseStreamMetadataEvent) {
    completion.usage = usage(e.usage.as_ref());
    if let Some(model) = routed_model(e.trace.as_ref().and_then(|t| t.prompt_router.as_ref())) {
        completion.resolved_model_id = model;
    }
    completion.service_tier = e.service_tier.as_ref().and_then(served_tier);
    completion.latency = e.performance_config.as_ref().and_then(served_latency);
    completion.guardrail_trace =
        guardrail_trace(e.trace.as_ref().and_then(|t| t.guardrail.as_ref()));
    if let Some(m) = &e.metrics {
        completion.backend_latency = millis(m.latency_ms);
    }
}

struct StreamState {
    receiver: aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
        Event,
        aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
    >,
    completion: Completion,
    /// The stream's tool calls, joined for the complete event.
    tools: ToolUseAssembly,
    stopped: bool,
    started: Instant,
    done: bool,
}

impl StreamState {
    async fn next(mut self) -> Option<(Result<StreamEvent, GatewayError>, Self)> {
        if self.done {
            return None;
        }
        loop {
            match self.receiver.recv().await {
                Ok(Some(Event::ContentBlockStart(e))) => {
                    let index = block_index(e.content_block_index);
                    if let Some(ContentBlockStart::ToolUse(t)) = e.start {
                        let event = StreamEvent::ToolUseStart { index, id: t.tool_use_id, name: t.name };
                        self.tools.observe(&event);
                        return Some((Ok(event), self));
                    }
                }
                Ok(Some(Event::ContentBlockDelta(e))) => {
                    let index = block_index(e.content_block_index);
                    match e.delta {
                        Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                            return Some((Ok(StreamEvent::Text { index, text }), self));
                        }
                        Some(ContentBlockDelta::ToolUse(t)) if !t.input.is_empty() => {
                            let event = StreamEvent::ToolUseDelta { index, input_json: t.input };
                            self.tools.observe(&event);
                            return Some((Ok(event), self));
                        }
                        Some(ContentBlockDelta::ReasoningContent(r)) => {
                            if let Some(delta) = reasoning_delta(r) {
                                return Some((Ok(StreamEvent::Reasoning { index, delta }), self));
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Some(Event::MessageStop(e))) => {
                    let raw = e.stop_reason.as_str().to_owned();
                    self.completion.stop_reason = converse_stop_reason(&raw);
                    self.completion.raw_stop_reason = raw;
                    self.stopped = true;
                }
                Ok(Some(Event::Metadata(e))) => metadata(&mut self.completion, &e),
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.done = true;
                    if !self.stopped {
                        let err = GatewayError::new(
                            ErrorKind::Internal,
                            "Bedrock's ConverseStream ended without a messageStop event",
                        );
                        return Some((Err(err), self));
                    }
                    if self.completion.backend_latency.is_zero() {
                        self.completion.backend_latency = self.started.elapsed();
                    }
                    let mut completion = self.completion.clone();
                    completion.tool_uses = self.tools.finish();
                    return Some((Ok(StreamEvent::Complete(completion)), self));
                }
                Err(e) => {
                    self.done = true;
                    let id = Some(self.completion.request_id.clone());
                    return Some((Err(from_sdk("ConverseStream", e, id)), self));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BedrockApi, CachePoint, CacheTtl, ContentBlock, GuardrailConfig, GuardrailStreamMode,
        GuardrailTrace, Latency, Reasoning, ServiceTier as Tier, StopReason,
    };
    use aws_sdk_bedrockruntime::types as sdk;
    use serde_json::json;

    const MODEL: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    fn client() -> aws_sdk_bedrockruntime::Client {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .build();
        aws_sdk_bedrockruntime::Client::from_conf(config)
    }

    fn request() -> GenerationRequest {
        let mut r = super::super::native::test_support::conversation(MODEL);
        r.api = BedrockApi::Converse;
        r.system = Some("Be brief.".into());
        r
    }

    fn all_options() -> Options {
        Options {
            system_cache_point: Some(CachePoint { ttl: Some(CacheTtl::OneHour) }),
            reasoning: Some(ReasoningConfig { budget_tokens: 2048 }),
            guardrail: Some(GuardrailConfig {
                identifier: "gr1".into(),
                version: "3".into(),
                trace: GuardrailTrace::Enabled,
                stream_mode: Some(GuardrailStreamMode::Async),
            }),
            service_tier: Some(Tier::Flex),
            latency: Some(Latency::Optimized),
            request_metadata: [("team".to_owned(), "search".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn a_call_without_options_sets_none_of_them() {
        let mut r = request();
        r.additional_model_request_fields = Some(json!({"top_k": 5}));
        let call = converse_call(&client(), &r).unwrap();
        assert_eq!(call.get_guardrail_config(), &None);
        assert_eq!(call.get_service_tier(), &None);
        assert_eq!(call.get_performance_config(), &None);
        assert_eq!(call.get_request_metadata(), &None);
        assert_eq!(
            call.get_system(),
            &Some(vec![SystemContentBlock::Text("Be brief.".into())]),
            "no cache point"
        );
        // The caller's fields as they were: the same conversion as before.
        assert_eq!(
            call.get_additional_model_request_fields(),
            &Some(document(&json!({"top_k": 5})))
        );
        let stream = converse_stream_call(&client(), &r).unwrap();
        assert_eq!(stream.get_guardrail_config(), &None);
        assert_eq!(stream.get_service_tier(), &None);
        assert_eq!(stream.get_performance_config(), &None);
        assert_eq!(stream.get_request_metadata(), &None);
        assert_eq!(additional_fields(&request()), None);
    }

    #[test]
    fn options_reach_both_converse_operations() {
        let mut r = request();
        r.options = Some(Box::new(all_options()));
        let call = converse_call(&client(), &r).unwrap();
        let g = call.get_guardrail_config().as_ref().unwrap();
        assert_eq!((g.guardrail_identifier.as_str(), g.guardrail_version.as_str()), ("gr1", "3"));
        assert_eq!(g.trace, sdk::GuardrailTrace::Enabled);
        assert_eq!(call.get_service_tier().as_ref().unwrap().r#type, sdk::ServiceTierType::Flex);
        assert_eq!(
            call.get_performance_config().as_ref().unwrap().latency,
            sdk::PerformanceConfigLatency::Optimized
        );
        assert_eq!(call.get_request_metadata().as_ref().unwrap()["team"], "search");
        assert_eq!(
            call.get_system(),
            &Some(vec![
                SystemContentBlock::Text("Be brief.".into()),
                SystemContentBlock::CachePoint(
                    sdk::CachePointBlock::builder()
                        .r#type(sdk::CachePointType::Default)
                        .ttl(sdk::CacheTtl::OneHour)
                        .build()
                        .unwrap()
                ),
            ])
        );
        let stream = converse_stream_call(&client(), &r).unwrap();
        let g = stream.get_guardrail_config().as_ref().unwrap();
        assert_eq!(g.stream_processing_mode, sdk::GuardrailStreamProcessingMode::Async);
        assert_eq!(stream.get_service_tier().as_ref().unwrap().r#type, sdk::ServiceTierType::Flex);
        assert!(stream.get_performance_config().is_some());
        assert!(stream.get_request_metadata().is_some());
    }

    #[test]
    fn thinking_is_merged_into_the_callers_fields() {
        let mut r = request();
        r.options = Some(Box::new(Options {
            reasoning: Some(ReasoningConfig { budget_tokens: 4096 }),
            ..Options::default()
        }));
        let thinking = json!({"type": "enabled", "budget_tokens": 4096});
        assert_eq!(additional_fields(&r), Some(document(&json!({"thinking": thinking}))));
        r.additional_model_request_fields = Some(json!({
            "top_k": 5,
            "thinking": {"type": "disabled"},
        }));
        assert_eq!(
            additional_fields(&r),
            Some(document(&json!({"top_k": 5, "thinking": thinking}))),
            "the caller's other keys kept, the typed reasoning wins"
        );
    }

    #[test]
    fn cache_points_are_placed_where_asked() {
        let mut r = request();
        r.messages[0].content.push(ContentBlock::CachePoint(CachePoint::default()));
        r.tool_config = Some(Box::new(crate::domain::ToolConfig {
            tools: vec![crate::domain::Tool {
                name: "lookup".into(),
                description: None,
                input_schema: json!({"type": "object"}),
            }],
            choice: Default::default(),
            cache_point: Some(CachePoint { ttl: Some(CacheTtl::FiveMinutes) }),
        }));
        let c = conversation(&r).unwrap();
        assert_eq!(
            c.messages[0].content,
            vec![
                sdk::ContentBlock::Text("Hi".into()),
                sdk::ContentBlock::CachePoint(
                    sdk::CachePointBlock::builder()
                        .r#type(sdk::CachePointType::Default)
                        .build()
                        .unwrap()
                ),
            ],
            "in the turn, where it was, with Bedrock's default TTL left unsaid"
        );
        let tools = c.tool_config.unwrap().tools;
        assert_eq!(tools.len(), 2);
        assert!(matches!(tools[0], sdk::Tool::ToolSpec(_)));
        assert_eq!(
            tools[1],
            sdk::Tool::CachePoint(
                sdk::CachePointBlock::builder()
                    .r#type(sdk::CachePointType::Default)
                    .ttl(sdk::CacheTtl::FiveMinutes)
                    .build()
                    .unwrap()
            ),
            "the last tool"
        );
        assert_eq!(c.system.unwrap().len(), 1, "no system cache point unless asked");
    }

    #[test]
    fn a_signature_only_delta_is_its_own_event() {
        assert_eq!(
            reasoning_delta(ReasoningContentBlockDelta::Signature("sig".into())),
            Some(ReasoningDelta::Signature("sig".into()))
        );
        assert_eq!(
            reasoning_delta(ReasoningContentBlockDelta::Text("hmm".into())),
            Some(ReasoningDelta::Text("hmm".into()))
        );
        let bytes = bytes::Bytes::from_static(b"\x00opaque");
        assert_eq!(
            reasoning_delta(ReasoningContentBlockDelta::RedactedContent(
                aws_smithy_types::Blob::from_maybe_shared(bytes.clone())
            )),
            Some(ReasoningDelta::Redacted(bytes))
        );
        assert_eq!(reasoning_delta(ReasoningContentBlockDelta::Text(String::new())), None);
    }

    #[test]
    fn the_metadata_event_completes_the_stream() {
        let mut completion = Completion {
            stop_reason: StopReason::EndTurn,
            raw_stop_reason: "end_turn".into(),
            usage: Usage::default(),
            invoked_model_id: MODEL.into(),
            resolved_model_id: MODEL.into(),
            backend_latency: Duration::ZERO,
            request_id: "r".into(),
            tool_uses: Vec::new(),
            service_tier: None,
            latency: None,
            guardrail_trace: None,
        };
        let event = ConverseStreamMetadataEvent::builder()
            .usage(
                TokenUsage::builder()
                    .input_tokens(3)
                    .output_tokens(7)
                    .total_tokens(110)
                    .cache_read_input_tokens(60)
                    .cache_write_input_tokens(40)
                    .build()
                    .unwrap(),
            )
            .service_tier(options::service_tier(Tier::Priority))
            .performance_config(options::performance_config(Latency::Standard))
            .trace(
                sdk::ConverseStreamTrace::builder()
                    .guardrail(
                        sdk::GuardrailTraceAssessment::builder()
                            .action_reason("Guardrail blocked.")
                            .build(),
                    )
                    .build(),
            )
            .build();
        metadata(&mut completion, &event);
        assert_eq!(
            completion.usage,
            Usage {
                input_tokens: 3,
                output_tokens: 7,
                total_tokens: 110,
                cache_read_input_tokens: 60,
                cache_write_input_tokens: 40,
            }
        );
        assert_eq!(completion.service_tier, Some(Tier::Priority));
        assert_eq!(completion.latency, Some(Latency::Standard));
        assert_eq!(
            completion.guardrail_trace.as_deref(),
            Some(&json!({"actionReason": "Guardrail blocked."}))
        );
    }

    #[test]
    fn reasoning_round_trips_unchanged() {
        let redacted = bytes::Bytes::from_static(b"encrypted");
        let turn = vec![
            ContentBlock::Reasoning(Reasoning::Text {
                text: "Let me think.".into(),
                signature: Some("c2lnbmF0dXJl".into()),
            }),
            ContentBlock::Reasoning(Reasoning::Redacted(redacted.clone())),
            ContentBlock::Text("Blue.".into()),
        ];
        let sent = content::blocks(&turn).unwrap();
        let sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(blob)) =
            &sent[1]
        else {
            panic!("redacted reasoning")
        };
        assert_eq!(blob.as_ref().as_ptr(), redacted.as_ptr(), "the bytes are shared, not copied");
        assert_eq!(content::answer(sent), turn);
    }
}
