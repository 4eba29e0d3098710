//! The gateway's own vocabulary: plain Rust types with no protobuf in them.
//!
//! A [`GenerationRequest`] is made by `validation`, so a backend holding one
//! knows every rule already holds: the model is resolved to its [`Target`],
//! the conversation alternates and ends with a user turn, every parameter is
//! in range, and the model's own rules (from `model::rules`) are met. Unset
//! parameters stay `None` ("the model's default").

pub use crate::model::{ModelFilter, ModelInfo, Target};
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

/// Per-request instructions to the simulated backend, read by validation
/// from `additional_model_request_fields.gateway_simulation`:
///
/// ```json
/// {"gateway_simulation": {"fail_with": "ThrottlingException",
///                         "fail_after_tokens": 5,
///                         "latency_ms": 200, "token_delay_ms": 20}}
/// ```
///
/// `fail_with` takes any Bedrock error type in the README's error table.
/// Without `fail_after_tokens` the call fails before any text; with it, a
/// stream fails after that many deltas (a unary call fails outright). Only
/// the simulated backend accepts them; validation refuses them for any
/// other, so they never reach Bedrock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimulationDirectives {
    /// The Bedrock error type to fail with.
    pub fail_with: Option<String>,
    /// Fail mid-stream after this many deltas.
    pub fail_after_tokens: Option<u32>,
    /// Overrides the first-token latency.
    pub latency: Option<Duration>,
    /// Overrides the per-token delay.
    pub token_delay: Option<Duration>,
}

/// A validated generation request. Made by `validation`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The model, resolved once: what was asked for, what is invoked, and
    /// the model behind it with its capabilities.
    pub target: Target,
    /// Whether the caller sent a single `prompt` rather than `messages`. Native
    /// single-prompt bodies (Titan's `inputText`) then use the text unchanged.
    pub from_prompt: bool,
    /// Non-empty, alternating, starting and ending with a user turn.
    pub messages: Vec<Message>,
    /// The system prompt, when one was given (never `Some("")`).
    pub system: Option<String>,
    /// Sampling and length controls.
    pub parameters: Parameters,
    /// Model-specific fields, passed to the model unchanged. Always a
    /// non-empty JSON object when present; never holds `gateway_simulation`.
    pub additional_model_request_fields: Option<serde_json::Value>,
    /// The simulation controls, when the caller sent them (simulated
    /// backend only).
    pub simulation: Option<SimulationDirectives>,
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
    /// The foundation model that served the call.
    pub resolved_model_id: String,
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
