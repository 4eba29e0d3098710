//! Converse and ConverseStream: Bedrock's model-independent API.

use super::content;
use super::native::converse_stop_reason;
use super::sdk_errors::from_sdk;
use crate::backend::{EventStream, GenerationStream};
use crate::domain::{
    Completion, Generation, GenerationRequest, Role, StreamEvent, ToolUseAssembly, Usage,
};
use crate::error::{ErrorKind, GatewayError};
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseOutput as Output,
    ConverseStreamOutput as Event, InferenceConfiguration, Message, SystemContentBlock, TokenUsage,
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

fn additional_fields(request: &GenerationRequest) -> Option<Document> {
    request.additional_model_request_fields.as_ref().map(document)
}

fn tool_config(
    request: &GenerationRequest,
) -> Result<Option<aws_sdk_bedrockruntime::types::ToolConfiguration>, GatewayError> {
    request.tool_config.as_deref().map(content::tool_config).transpose()
}

fn output_config(
    request: &GenerationRequest,
) -> Result<Option<aws_sdk_bedrockruntime::types::OutputConfig>, GatewayError> {
    request.output_schema.as_deref().map(content::output_config).transpose()
}

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
    let mut out = client
        .converse()
        .model_id(&*request.target.invoke_id)
        .set_messages(Some(messages(request)?))
        .set_system(request.system.clone().map(|s| vec![SystemContentBlock::Text(s)]))
        .set_inference_config(inference_config(request))
        .set_additional_model_request_fields(additional_fields(request))
        .set_tool_config(tool_config(request)?)
        .set_output_config(output_config(request)?)
        .send()
        .await
        .map_err(|e| from_sdk("Converse", e, None))?;
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
        },
    })
}

/// ConverseStream: deltas as Bedrock sends them. The SDK's receiver lives in
/// the returned stream; dropping the stream drops the receiver, which closes
/// the HTTP exchange with Bedrock.
pub(crate) async fn generate_stream(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<GenerationStream, GatewayError> {
    let started = Instant::now();
    let out = client
        .converse_stream()
        .model_id(&*request.target.invoke_id)
        .set_messages(Some(messages(request)?))
        .set_system(request.system.clone().map(|s| vec![SystemContentBlock::Text(s)]))
        .set_inference_config(inference_config(request))
        .set_additional_model_request_fields(additional_fields(request))
        .set_tool_config(tool_config(request)?)
        .set_output_config(output_config(request)?)
        .send()
        .await
        .map_err(|e| from_sdk("ConverseStream", e, None))?;
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
        },
        tools: ToolUseAssembly::default(),
        stopped: false,
        started,
        done: false,
    };
    let events: EventStream = futures::stream::unfold(state, StreamState::next).boxed();
    Ok(GenerationStream { request_id, events })
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
                        _ => {}
                    }
                }
                Ok(Some(Event::MessageStop(e))) => {
                    let raw = e.stop_reason.as_str().to_owned();
                    self.completion.stop_reason = converse_stop_reason(&raw);
                    self.completion.raw_stop_reason = raw;
                    self.stopped = true;
                }
                Ok(Some(Event::Metadata(e))) => {
                    self.completion.usage = usage(e.usage.as_ref());
                    if let Some(model) = routed_model(e.trace.as_ref().and_then(|t| t.prompt_router.as_ref())) {
                        self.completion.resolved_model_id = model;
                    }
                    if let Some(m) = e.metrics {
                        self.completion.backend_latency = millis(m.latency_ms);
                    }
                }
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
