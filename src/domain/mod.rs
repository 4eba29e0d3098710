//! The gateway's own vocabulary: plain Rust types with no protobuf in them.
//!
//! A [`GenerationRequest`] is made by `validation`, so a backend holding one
//! knows every rule already holds: the model is resolved to its [`Target`],
//! the conversation alternates and ends with a user turn, every parameter is
//! in range, and the model's own rules (from `model::rules`) are met. Unset
//! parameters stay `None` ("the model's default").
//!
//! `content` holds the blocks besides text: images, documents, tool calls
//! and results, reasoning and cache points, and the tool and output-schema
//! settings.

mod content;

pub use crate::model::{ModelFilter, ModelInfo, Target};
pub use crate::model::capabilities::ServiceTier;
pub use content::{
    BlockKind, CachePoint, CacheTtl, ContentBlock, Document, DocumentFormat, Image, ImageFormat,
    OutputSchema, Reasoning, Summary, Tool, ToolChoice, ToolConfig, ToolResult, ToolResultContent,
    ToolResultStatus, ToolUse,
};
use bytes::Bytes;
use std::collections::HashMap;
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

/// Bedrock's limit on one image's bytes (3.75 MB).
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Bedrock's limit on one document's bytes (4.5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4_500_000;
/// Bedrock's limit on images per request.
pub const MAX_IMAGES: usize = 20;
/// Bedrock's limit on documents per request.
pub const MAX_DOCUMENTS: usize = 5;

/// One turn of a conversation: at least one block, each valid; images,
/// documents and tool results only in user turns, tool calls only in
/// assistant turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who spoke.
    pub role: Role,
    /// What was said, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A turn of one text block.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// The turn's text blocks, in order.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.content.iter().filter_map(ContentBlock::as_text)
    }

    /// The turn's text: its one text block as is, or its text blocks joined
    /// by blank lines (for the native bodies, which take one string a turn).
    pub fn joined_text(&self) -> std::borrow::Cow<'_, str> {
        let mut texts = self.texts();
        match (texts.next(), texts.next()) {
            (None, _) => std::borrow::Cow::Borrowed(""),
            (Some(only), None) => std::borrow::Cow::Borrowed(only),
            (Some(_), Some(_)) => std::borrow::Cow::Owned(self.texts().collect::<Vec<_>>().join("\n\n")),
        }
    }
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

/// Bedrock's latency modes (Converse `performanceConfig.latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Latency {
    /// Standard inference.
    Standard,
    /// Latency-optimized inference.
    Optimized,
}

impl Latency {
    /// Bedrock's spelling: "standard" or "optimized".
    pub fn name(self) -> &'static str {
        match self {
            Latency::Standard => "standard",
            Latency::Optimized => "optimized",
        }
    }
}

/// Extended thinking: `budget_tokens` is at least 1024 and below the
/// request's `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasoningConfig {
    /// The most tokens the model may reason with.
    pub budget_tokens: u32,
}

/// Whether a guardrail reports what it assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardrailTrace {
    /// No trace.
    #[default]
    Disabled,
    /// The trace.
    Enabled,
    /// The trace, with assessments that did not intervene.
    EnabledFull,
}

impl GuardrailTrace {
    /// Bedrock's spelling: "disabled", "enabled", "enabled_full".
    pub fn name(self) -> &'static str {
        match self {
            GuardrailTrace::Disabled => "disabled",
            GuardrailTrace::Enabled => "enabled",
            GuardrailTrace::EnabledFull => "enabled_full",
        }
    }
}

/// How a guardrail checks a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailStreamMode {
    /// Each chunk before it is sent.
    Sync,
    /// Alongside.
    Async,
}

impl GuardrailStreamMode {
    /// Bedrock's spelling: "sync" or "async".
    pub fn name(self) -> &'static str {
        match self {
            GuardrailStreamMode::Sync => "sync",
            GuardrailStreamMode::Async => "async",
        }
    }
}

/// A guardrail to apply: identifier and version both set; a stream mode
/// only on streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailConfig {
    /// The guardrail's ID or ARN.
    pub identifier: String,
    /// "DRAFT" or a version number.
    pub version: String,
    /// Whether the answer carries the trace.
    pub trace: GuardrailTrace,
    /// Streams only: how streamed text is checked; `None` is Bedrock's
    /// default (sync).
    pub stream_mode: Option<GuardrailStreamMode>,
}

/// What a request asks of Bedrock beyond the conversation and sampling:
/// caching the system prompt, reasoning, a guardrail, a tier, a latency
/// mode and invocation-log metadata. Each is `None`/empty when not asked
/// for; a request that asks for none carries no `Options` at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    /// A cache point after the system prompt (which is then set).
    pub system_cache_point: Option<CachePoint>,
    /// Extended thinking.
    pub reasoning: Option<ReasoningConfig>,
    /// The guardrail.
    pub guardrail: Option<GuardrailConfig>,
    /// The service tier asked for.
    pub service_tier: Option<ServiceTier>,
    /// The latency mode asked for.
    pub latency: Option<Latency>,
    /// Invocation-log metadata: 1 to 16 pairs within Bedrock's limits, or
    /// empty.
    pub request_metadata: HashMap<String, String>,
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
    /// Fail mid-stream after this many text deltas (tool-call events are
    /// not counted).
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
    /// The tools the model may call, when given. Boxed, as the schema: the
    /// request moves through every step, and a text-only call should not
    /// copy room for what it does not use.
    pub tool_config: Option<Box<ToolConfig>>,
    /// The schema the answer's text follows, when given.
    pub output_schema: Option<Box<OutputSchema>>,
    /// Caching, reasoning, guardrail, tier, latency and metadata, when any
    /// is asked for.
    pub options: Option<Box<Options>>,
}

impl GenerationRequest {
    /// The options asked for, or none.
    pub fn options(&self) -> &Options {
        static NONE: std::sync::LazyLock<Options> = std::sync::LazyLock::new(Options::default);
        self.options.as_deref().unwrap_or(&NONE)
    }


    /// The text of the last user turn: the prompt, for single-turn requests.
    pub fn last_user_text(&self) -> std::borrow::Cow<'_, str> {
        self.messages
            .last()
            .map(Message::joined_text)
            .unwrap_or_default()
    }

    /// Whether any turn holds a block other than text. Plain-text requests
    /// (the common case) skip the per-kind accounting this enables.
    pub fn has_non_text_blocks(&self) -> bool {
        self.messages
            .iter()
            .any(|m| m.content.iter().any(|b| !matches!(b, ContentBlock::Text(_))))
    }
}

/// The most output a request is assumed to ask for when it sets no
/// `max_tokens` and its model's ceiling is unknown, for token admission.
pub const DEFAULT_MAX_OUTPUT_ESTIMATE: u32 = 4_096;

/// Tokens a model is assumed to read per image when the input cannot be
/// counted exactly (Claude's documented cost of a 1092×1092 image).
pub const ESTIMATED_TOKENS_PER_IMAGE: u32 = 1_600;

/// The gateway's estimate of a request's input tokens, for token admission
/// on a model without a token counter: one token per 4 bytes of text
/// (system prompt, turns, tool definitions, inputs and results, text
/// documents; rounded up), one per 32 bytes of a binary document (PDF and
/// Office files are compressed, and much of them is layout),
/// [`ESTIMATED_TOKENS_PER_IMAGE`] per image. Generous for English, as an
/// admission estimate should be; the call is then charged what it really
/// used.
pub fn estimate_input_tokens(request: &GenerationRequest) -> u32 {
    fn json_bytes(v: &serde_json::Value) -> usize {
        serde_json::to_string(v).map_or(0, |s| s.len())
    }
    // As bytes of text: a binary document's bytes count an eighth (one
    // token per 32 bytes rather than per 4).
    fn document_bytes(d: &Document) -> usize {
        let data = if d.format.signature().is_some() { d.data.len() / 8 } else { d.data.len() };
        d.name.len() + data
    }
    let mut bytes = request.system.as_ref().map_or(0, String::len);
    let mut images = 0u32;
    if let Some(tools) = &request.tool_config {
        for t in &tools.tools {
            bytes += t.name.len()
                + t.description.as_ref().map_or(0, String::len)
                + json_bytes(&t.input_schema);
        }
    }
    for block in request.messages.iter().flat_map(|m| &m.content) {
        match block {
            ContentBlock::Text(t) => bytes += t.len(),
            ContentBlock::Image(_) => images += 1,
            ContentBlock::Document(d) => bytes += document_bytes(d),
            ContentBlock::ToolUse(u) => bytes += u.name.len() + json_bytes(&u.input),
            ContentBlock::ToolResult(r) => {
                for c in &r.content {
                    match c {
                        ToolResultContent::Text(t) => bytes += t.len(),
                        ToolResultContent::Json(j) => bytes += json_bytes(j),
                        ToolResultContent::Image(_) => images += 1,
                        ToolResultContent::Document(d) => bytes += document_bytes(d),
                    }
                }
            }
            ContentBlock::Reasoning(Reasoning::Text { text, .. }) => bytes += text.len(),
            ContentBlock::Reasoning(Reasoning::Redacted(_)) | ContentBlock::CachePoint(_) => {}
        }
    }
    let text_tokens = u32::try_from(bytes.div_ceil(4)).unwrap_or(u32::MAX);
    text_tokens.saturating_add(images.saturating_mul(ESTIMATED_TOKENS_PER_IMAGE))
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
    /// A stream's tool calls, assembled from their fragments, in order.
    /// Empty for a whole generation, whose calls are in its content.
    pub tool_uses: Vec<ToolUse>,
    /// The service tier served, when reported.
    pub service_tier: Option<ServiceTier>,
    /// The latency mode served, when reported.
    pub latency: Option<Latency>,
    /// The guardrail's trace in Bedrock's JSON shape, when asked for and
    /// given.
    pub guardrail_trace: Option<Box<serde_json::Value>>,
}

/// A whole generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The answer's blocks in order: reasoning, text and tool calls.
    pub content: Vec<ContentBlock>,
    /// How it ended.
    pub completion: Completion,
}

impl Generation {
    /// The answer's text: its text blocks, concatenated.
    pub fn text(&self) -> String {
        self.content.iter().filter_map(ContentBlock::as_text).collect()
    }

    /// The answer's tool calls, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> + '_ {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }
}

/// One event of a generation stream: text and tool-call events, then one
/// completion. `index` is the answer's content block the event belongs to,
/// counting from 0; a block's events are contiguous.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of text.
    Text {
        /// The content block.
        index: u32,
        /// The text.
        text: String,
    },
    /// A tool call starts.
    ToolUseStart {
        /// The content block.
        index: u32,
        /// Bedrock's ID for the call.
        id: String,
        /// The tool called.
        name: String,
    },
    /// The next fragment of a tool call's input JSON.
    ToolUseDelta {
        /// The content block.
        index: u32,
        /// The fragment.
        input_json: String,
    },
    /// The next piece of reasoning: text, the block's signature, or
    /// redacted bytes.
    Reasoning {
        /// The content block.
        index: u32,
        /// What arrived.
        delta: ReasoningDelta,
    },
    /// The end. Nothing follows it.
    Complete(Completion),
}

/// One piece of a streamed reasoning block.
#[derive(Debug, Clone, PartialEq)]
pub enum ReasoningDelta {
    /// The next piece of its text.
    Text(String),
    /// Its signature (arrives alone, after the text).
    Signature(String),
    /// Redacted reasoning.
    Redacted(Bytes),
}

/// Joins a stream's tool-call fragments into whole calls, for the complete
/// event, for a backend that receives a call in fragments (Bedrock's
/// ConverseStream; the simulated backend knows its calls whole).
#[derive(Debug, Default)]
pub struct ToolUseAssembly {
    calls: Vec<(u32, ToolUse, String)>,
}

impl ToolUseAssembly {
    /// Notes an event; only tool-call events matter.
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::ToolUseStart { index, id, name } => self.calls.push((
                *index,
                ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    input: serde_json::Value::Object(Default::default()),
                },
                String::new(),
            )),
            StreamEvent::ToolUseDelta { index, input_json } => {
                if let Some((_, _, json)) = self.calls.iter_mut().rev().find(|(i, _, _)| i == index) {
                    json.push_str(input_json);
                }
            }
            _ => {}
        }
    }

    /// The calls, with their joined input parsed. An input that is not a
    /// JSON object stays `{}` (the fragments carried its text).
    pub fn finish(&mut self) -> Vec<ToolUse> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(_, mut call, json)| {
                if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(&json) {
                    call.input = v;
                }
                call
            })
            .collect()
    }
}
