//! The gateway's own vocabulary: plain Rust types with no protobuf in them.
//!
//! A [`GenerationRequest`] can only be built by [`crate::validation`], so a
//! backend holding one knows every general rule already holds: the model ID is
//! non-empty, the conversation alternates and ends with a user turn, and every
//! parameter is in range. Unset parameters stay `None` ("the model's default").

use std::num::NonZeroU32;
use std::time::Duration;

/// Who spoke a conversation turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The model, in an earlier turn.
    Assistant,
}

/// One turn of a conversation. `content` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who spoke.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// Which Bedrock API carries a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BedrockApi {
    /// Converse / ConverseStream.
    #[default]
    Converse,
    /// InvokeModel / InvokeModelWithResponseStream with a native body.
    InvokeModel,
}

/// Sampling and length controls, each `None` when the caller left it unset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters {
    /// In [0, 1], never NaN.
    pub temperature: Option<f32>,
    /// In [0, 1], never NaN.
    pub top_p: Option<f32>,
    /// At least 1.
    pub max_tokens: Option<NonZeroU32>,
    /// Each non-empty.
    pub stop_sequences: Vec<String>,
}

/// A validated generation request. Built only by [`crate::validation`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// A model ID, inference-profile ID or ARN; never empty.
    pub model_id: String,
    /// Whether the caller sent a single `prompt` rather than `messages`. Native
    /// single-prompt bodies (Titan's `inputText`) then use the text unchanged.
    pub from_prompt: bool,
    /// Non-empty, alternating, starting and ending with a user turn.
    pub messages: Vec<Message>,
    /// The system prompt, when one was given (never `Some("")`).
    pub system: Option<String>,
    /// Sampling and length controls.
    pub parameters: Parameters,
    /// Model-specific fields, passed to the model unchanged. Always a JSON
    /// object when present.
    pub additional_model_request_fields: Option<serde_json::Value>,
    /// The Bedrock API to use.
    pub api: BedrockApi,
}

impl GenerationRequest {
    /// The text of the last user turn: the prompt, for single-turn requests.
    pub fn last_user_text(&self) -> &str {
        self.messages
            .last()
            .map(|m| m.content.as_str())
            .unwrap_or_default()
    }
}

/// Why generation stopped. One variant per distinct upstream reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished.
    EndTurn,
    /// The token limit was reached.
    MaxTokens,
    /// A stop sequence was reached.
    StopSequence,
    /// Content filters intervened.
    ContentFiltered,
    /// A guardrail intervened.
    GuardrailIntervened,
    /// The model asked for a tool.
    ToolUse,
    /// The model's output could not be parsed.
    MalformedModelOutput,
    /// The model's tool call could not be parsed.
    MalformedToolUse,
    /// The context window is full.
    ModelContextWindowExceeded,
    /// A reason without a name of its own; the raw string is kept beside it.
    Other,
}

/// Token accounting for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// As reported, normally input + output.
    pub total_tokens: u32,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u32,
    /// Input tokens written to the prompt cache.
    pub cache_write_input_tokens: u32,
}

impl Usage {
    /// Usage with the total computed from input and output.
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Usage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            ..Usage::default()
        }
    }
}

/// Everything about a finished generation except its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Why generation stopped.
    pub stop_reason: StopReason,
    /// The reason as the backend spelled it.
    pub raw_stop_reason: String,
    /// Tokens counted.
    pub usage: Usage,
    /// The model or inference profile actually invoked.
    pub invoked_model_id: String,
    /// Time the backend spent, as it reports it.
    pub backend_latency: Duration,
    /// The backend's request ID.
    pub request_id: String,
}

/// A whole generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// How it ended.
    pub completion: Completion,
}

/// One event of a generation stream: some deltas, then one completion.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of text.
    Delta(String),
    /// The end. Nothing follows it.
    Complete(Completion),
}

/// Catalogue filters; `None` matches everything. String filters match
/// ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFilter {
    /// Provider name.
    pub provider: Option<String>,
    /// Output modality.
    pub output_modality: Option<String>,
    /// Inference type.
    pub inference_type: Option<String>,
    /// Streaming support.
    pub response_streaming_supported: Option<bool>,
    /// Customization type.
    pub customization_type: Option<String>,
}

impl ModelFilter {
    /// Whether `model` passes every set filter.
    pub fn matches(&self, model: &ModelInfo) -> bool {
        fn has(list: &[String], wanted: &Option<String>) -> bool {
            wanted
                .as_ref()
                .is_none_or(|w| list.iter().any(|v| v.eq_ignore_ascii_case(w)))
        }
        self.provider
            .as_ref()
            .is_none_or(|p| model.provider_name.eq_ignore_ascii_case(p))
            && has(&model.output_modalities, &self.output_modality)
            && has(&model.inference_types_supported, &self.inference_type)
            && has(&model.customizations_supported, &self.customization_type)
            && self
                .response_streaming_supported
                .is_none_or(|want| model.response_streaming_supported.unwrap_or(false) == want)
    }
}

/// A foundation model, with every field of Bedrock's FoundationModelSummary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// Model ID.
    pub model_id: String,
    /// Model ARN.
    pub model_arn: String,
    /// Display name.
    #[serde(default)]
    pub model_name: String,
    /// Provider name.
    #[serde(default)]
    pub provider_name: String,
    /// Input modalities.
    #[serde(default)]
    pub input_modalities: Vec<String>,
    /// Output modalities.
    #[serde(default)]
    pub output_modalities: Vec<String>,
    /// Streaming support; `None` when not reported.
    #[serde(default)]
    pub response_streaming_supported: Option<bool>,
    /// Customizations supported.
    #[serde(default)]
    pub customizations_supported: Vec<String>,
    /// Inference types supported.
    #[serde(default)]
    pub inference_types_supported: Vec<String>,
    /// Lifecycle status.
    #[serde(default, rename = "modelLifecycle", deserialize_with = "lifecycle_status")]
    pub lifecycle_status: String,
}

impl ModelInfo {
    /// Whether the model can be invoked directly, without an inference profile.
    pub fn supports_on_demand(&self) -> bool {
        self.inference_types_supported
            .iter()
            .any(|t| t == "ON_DEMAND")
    }
}

/// Reads Bedrock's `"modelLifecycle": {"status": "ACTIVE"}` as `"ACTIVE"`.
fn lifecycle_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    struct Lifecycle {
        #[serde(default)]
        status: String,
    }
    Ok(<Lifecycle as serde::Deserialize>::deserialize(d)?.status)
}
