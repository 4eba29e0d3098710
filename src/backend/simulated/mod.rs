//! The simulated backend: a real implementation of the contract with no model
//! behind it, for demos, downstream teams' CI and load tests.
//!
//! - The catalogue is the seed notebook's real ListFoundationModels answer
//!   (`data/foundation-models.json`), parsed once at start.
//! - Text is composed from phrase banks around the prompt's topic, so it reads
//!   as text. Temperature 0 seeds the composer from the request itself, so the
//!   same request always gets the same text; any other temperature (or none:
//!   the "model default" is 0.7) draws a fresh seed. `top_p` narrows the
//!   phrase choice.
//! - `max_tokens` and stop sequences cut the text exactly as a model would,
//!   with the matching stop reason, and usage counts whitespace-led tokens.
//! - Failures can be injected per request through
//!   `additional_model_request_fields.gateway_simulation` (validation reads
//!   them into a [`SimulationDirectives`]) or server-wide with a failure rate.
//! - Conversations with more than text (`conversation`): images and
//!   documents are acknowledged at the start of the answer by format, size
//!   and digest; tools are called when forced or named; tool results are
//!   answered; an output schema gets JSON that follows it.
//! - Application inference profiles declared with
//!   `--simulated-application-profile ARN=MODEL_ID` resolve to their model,
//!   through the same model directory as Bedrock's.
//! - Input tokens (`input`) are counted in Bedrock's prompt order (tools,
//!   system prompt, turns): whitespace-led tokens of every text (tool
//!   names, descriptions and schemas; tool inputs and results; replayed
//!   reasoning text) and one token per 750 bytes of each image and
//!   document. CountTokens answers exactly this count, which is what
//!   Generate reports as input, cache read and cache write tokens together.
//! - Extended thinking (`reasoning`): with `reasoning` set, the answer
//!   starts with a reasoning block (a few sentences on how the model will
//!   answer, within `budget_tokens`, signed with a deterministic
//!   signature), or a redacted block when the last user turn contains
//!   `[[redacted]]`. Its tokens are output tokens and count against
//!   `max_tokens`. Streams send its text token by token at index 0, then
//!   the signature alone in one delta (or the redacted bytes in one delta);
//!   the text and tool calls follow at the next indexes.
//! - A real prompt cache per backend instance (`cache`): the first call
//!   with cache points writes its prefixes, an identical call within the
//!   TTL reads them, with Bedrock's disjoint counts. No minimum prefix
//!   length (Bedrock ignores prefixes under about 1,024 tokens).
//! - A guardrail (`guardrail`): when one is configured and the last user
//!   turn contains `[[guardrail]]`, it intervenes ("Sorry, the model
//!   cannot answer this question.", stop reason `guardrail_intervened`),
//!   with a trace in Bedrock's shape when the trace is on.
//! - The service tier and latency mode asked for are echoed in the
//!   completion (unset stays unset); request metadata is accepted and has
//!   no effect.

mod cache;
mod conversation;
mod guardrail;
mod input;
mod reasoning;

use crate::error::bedrock as errors;
use super::{Backend, GenerationStream};
use crate::domain::{
    Completion, ContentBlock, Generation, GenerationRequest, Latency, ModelFilter, ModelInfo,
    Reasoning, ReasoningDelta, ServiceTier, SimulationDirectives, StopReason, StreamEvent,
    ToolUse, Usage,
};
use conversation::Body;
use crate::model::{Catalogue, InferenceProfile, Listing, ModelDirectory, Unknown};
use std::sync::Arc;
use crate::error::GatewayError;
use crate::ids;
use futures::StreamExt;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// The catalogue the simulated backend serves: the seed's real model list.
pub use crate::model::catalogue::SEED_JSON as CATALOGUE_JSON;

/// The token cap when the caller sets no `max_tokens`, as a model would have.
const DEFAULT_MAX_TOKENS: u32 = 512;

/// Operator settings for the simulation.
#[derive(Debug, Clone, Default)]
pub struct SimulatedConfig {
    /// Delay before each streamed token.
    pub token_delay: Duration,
    /// Delay before the first token (and before a unary answer).
    pub first_token_latency: Duration,
    /// Probability in [0, 1] that a call, of any RPC, fails with `failure_kind`.
    pub failure_rate: f64,
    /// The Bedrock error type injected by `failure_rate`; `None` means
    /// ServiceUnavailableException.
    pub failure_kind: Option<String>,
    /// Application inference profiles to accept, as (ARN, foundation model
    /// ID) pairs (`--simulated-application-profile ARN=MODEL_ID`).
    pub application_profiles: Vec<(String, String)>,
}

/// The offline backend.
#[derive(Debug)]
pub struct SimulatedBackend {
    models: Arc<ModelDirectory>,
    config: SimulatedConfig,
    /// The prompt cache: this instance's own, bounded.
    cache: cache::PromptCache,
}

impl SimulatedBackend {
    /// A simulated backend over the shipped catalogue and the configured
    /// application profiles. Its directory is closed: a model it does not
    /// list is NOT_FOUND.
    pub fn new(config: SimulatedConfig) -> Self {
        let application_profiles = config
            .application_profiles
            .iter()
            .map(|(arn, model_id)| InferenceProfile {
                id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                arn: arn.clone(),
                model_arns: vec![format!("arn:aws:bedrock:us-east-1::foundation-model/{model_id}")],
            })
            .collect();
        let listing = Listing {
            models: Catalogue::seed().models().to_vec(),
            system_profiles: Vec::new(),
            application_profiles,
        };
        SimulatedBackend {
            models: ModelDirectory::fixed(listing, Unknown::NotFound),
            config,
            cache: cache::PromptCache::new(cache::CAPACITY, cache::Clock::default()),
        }
    }

    /// A backend whose prompt cache reads `clock` (tests move it by hand).
    #[cfg(test)]
    fn with_clock(config: SimulatedConfig, clock: cache::Clock) -> Self {
        SimulatedBackend {
            cache: cache::PromptCache::new(cache::CAPACITY, clock),
            ..SimulatedBackend::new(config)
        }
    }

    /// Everything needed to answer, decided before the first token.
    fn plan(&self, request: &GenerationRequest) -> Plan {
        let no_directives = SimulationDirectives::default();
        let directives = request.simulation.as_ref().unwrap_or(&no_directives);
        let request_id = ids::request_id();
        let failure = match &directives.fail_with {
            Some(t) => Some(errors::from_bedrock(t, "simulated failure", Some(request_id.clone()))),
            None => self.random_failure(&request_id),
        };

        let options = request.options();
        let intervened = guardrail::intervenes(request);
        let mut limit = request
            .parameters
            .max_tokens
            .map_or(DEFAULT_MAX_TOKENS, |n| n.get()) as usize;
        // The model thinks first (unless the guardrail stops the call before
        // it), within its budget; the thinking counts against `max_tokens`.
        let thought = options.reasoning.filter(|_| !intervened).map(|r| {
            let subject = topic(&request.last_user_text());
            let thought = reasoning::think(
                request,
                &subject,
                (r.budget_tokens as usize).min(limit),
                &mut rng_for(request),
            );
            limit -= thought.tokens;
            thought
        });
        let (text, tool_call, token_count, stop_reason) = if intervened {
            let text = guardrail::BLOCKED_MESSAGE.to_owned();
            let count = token_spans(&text).count();
            (text, None, count, StopReason::GuardrailIntervened)
        } else {
            // A stop sequence can match anywhere, so only without one may the
            // composer stop early, as soon as `max_tokens` is sure to cut.
            let compose_until = request.parameters.stop_sequences.is_empty().then_some(limit);
            let (text, tool_call) = if request.tool_config.is_none()
                && request.output_schema.is_none()
                && !request.has_non_text_blocks()
            {
                // Plain text, the common case: nothing to decide.
                (compose(request, compose_until), None)
            } else {
                answer_text(request, compose_until)
            };
            let (text, mut token_count, mut stop_reason) = cut(text, request, limit);
            let tool_call = tool_call.filter(|_| stop_reason == StopReason::EndTurn);
            if let Some(call) = &tool_call {
                token_count += token_spans(&call.input.to_string()).count();
                stop_reason = StopReason::ToolUse;
            }
            (text, tool_call, token_count, stop_reason)
        };
        // The prompt cache, only for a call that reaches the model (an
        // outright failure or a guardrail intervention does not) and has
        // cache points; any other call never hashes nor takes the lock.
        let reaches_model =
            !intervened && (failure.is_none() || directives.fail_after_tokens.is_some());
        let counted = input::count(request, reaches_model && input::has_cache_points(request));
        let cached = self.cache.account(&counted.prefixes);
        let last_point = counted.prefixes.last().map_or(0, |p| p.tokens);
        Plan {
            text,
            tool_call,
            token_count,
            reasoning: thought,
            stop_reason,
            input: Usage {
                input_tokens: counted.total - last_point,
                cache_read_input_tokens: cached.read,
                cache_write_input_tokens: cached.write,
                ..Usage::default()
            },
            service_tier: options.service_tier,
            latency_mode: options.latency,
            guardrail_trace: guardrail::trace(request, intervened),
            failure,
            fail_after_tokens: directives.fail_after_tokens,
            latency: directives.latency.unwrap_or(self.config.first_token_latency),
            token_delay: directives.token_delay.unwrap_or(self.config.token_delay),
            invoked_model_id: request.target.invoke_id.to_string(),
            resolved_model_id: request.target.resolved_model_id().to_owned(),
            request_id,
        }
    }
}

/// The answer's text and tool call, for a request with more than text:
/// acknowledgement lines, then the composed text, a fixed text (an answer
/// to tool results, JSON for a schema) or a tool call's preamble.
fn answer_text(request: &GenerationRequest, compose_until: Option<usize>) -> (String, Option<ToolUse>) {
    let subject = topic(&request.last_user_text());
    let answer = conversation::answer(request, &subject, &mut rng_for(request));
    let mut text = answer.acknowledgements.join("\n");
    let (body, call) = match answer.body {
        Body::Compose => (compose(request, compose_until), None),
        Body::Text(t) => (t, None),
        Body::ToolCall { preamble, call } => (preamble.unwrap_or_default(), Some(call)),
    };
    if !text.is_empty() && !body.is_empty() && !body.starts_with('\n') {
        text.push('\n');
    }
    text.push_str(&body);
    (text, call)
}

/// A tool call's input JSON in the pieces a stream sends: at least two,
/// of at most 16 bytes, split on character boundaries (as Bedrock streams
/// a call's input in fragments).
fn input_fragments(call: &ToolUse) -> Vec<String> {
    let json = call.input.to_string();
    let size = (json.len() / 2).clamp(1, 16);
    let mut pieces = Vec::new();
    let mut rest = json.as_str();
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece.to_owned());
        rest = tail;
    }
    pieces
}

impl SimulatedBackend {
    /// The server-wide injected failure, drawn with `failure_rate`.
    fn random_failure(&self, request_id: &str) -> Option<GatewayError> {
        if self.config.failure_rate <= 0.0 || fastrand::f64() >= self.config.failure_rate {
            return None;
        }
        let kind = self
            .config
            .failure_kind
            .as_deref()
            .unwrap_or("ServiceUnavailableException");
        Some(errors::from_bedrock(
            kind,
            "simulated failure (--simulated-failure-rate)",
            Some(request_id.to_owned()),
        ))
    }
}

/// A decided answer.
struct Plan {
    /// The answer's text, already cut by stop sequences and `max_tokens`.
    text: String,
    /// The tool call after the text, if the answer makes one.
    tool_call: Option<ToolUse>,
    /// How many tokens (see [`token_spans`]) `text` and the call's input hold.
    token_count: usize,
    /// The reasoning block before the text, when reasoning was asked for.
    reasoning: Option<reasoning::Thought>,
    stop_reason: StopReason,
    /// The input side of the usage: input, cache read and cache write
    /// tokens (output and total are added at the end).
    input: Usage,
    /// The service tier asked for, echoed.
    service_tier: Option<ServiceTier>,
    /// The latency mode asked for, echoed.
    latency_mode: Option<Latency>,
    /// The guardrail's trace, when asked for.
    guardrail_trace: Option<Box<serde_json::Value>>,
    failure: Option<GatewayError>,
    fail_after_tokens: Option<u32>,
    latency: Duration,
    token_delay: Duration,
    invoked_model_id: String,
    resolved_model_id: String,
    request_id: String,
}

impl Plan {
    /// The completion after `emitted` tokens of text and tool input (the
    /// reasoning's tokens are added), taking the plan's IDs (a stream's
    /// plan lends copies; a unary plan gives them up).
    fn completion(&self, emitted: usize, started: Instant) -> Completion {
        self.completion_with(emitted, started, self.invoked_model_id.clone(), self.request_id.clone())
    }

    fn completion_with(
        &self,
        emitted: usize,
        started: Instant,
        invoked_model_id: String,
        request_id: String,
    ) -> Completion {
        Completion {
            stop_reason: self.stop_reason,
            raw_stop_reason: match self.stop_reason {
                StopReason::MaxTokens => "max_tokens",
                StopReason::StopSequence => "stop_sequence",
                StopReason::ToolUse => "tool_use",
                StopReason::GuardrailIntervened => "guardrail_intervened",
                _ => "end_turn",
            }
            .to_owned(),
            usage: self.usage(emitted),
            invoked_model_id,
            resolved_model_id: self.resolved_model_id.clone(),
            backend_latency: started.elapsed(),
            request_id,
            tool_uses: Vec::new(),
            service_tier: self.service_tier,
            latency: self.latency_mode,
            guardrail_trace: self.guardrail_trace.clone(),
        }
    }

    /// Usage after `emitted` tokens of text and tool input: the reasoning
    /// counts as output, and the total is every input token (cache reads
    /// and writes included) plus the output.
    fn usage(&self, emitted: usize) -> Usage {
        let thought = self.reasoning.as_ref().map_or(0, |r| r.tokens);
        let output_tokens = u32::try_from(emitted + thought).unwrap_or(u32::MAX);
        let input = self.input;
        Usage {
            output_tokens,
            total_tokens: input
                .input_tokens
                .saturating_add(input.cache_read_input_tokens)
                .saturating_add(input.cache_write_input_tokens)
                .saturating_add(output_tokens),
            ..input
        }
    }
}

#[async_trait::async_trait]
impl Backend for SimulatedBackend {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn generate(&self, request: GenerationRequest) -> Result<Generation, GatewayError> {
        let started = Instant::now();
        let mut plan = self.plan(&request);
        if !plan.latency.is_zero() {
            tokio::time::sleep(plan.latency).await;
        }
        if let Some(err) = plan.failure.clone() {
            return Err(err);
        }
        let (model, request_id) = (
            std::mem::take(&mut plan.invoked_model_id),
            std::mem::take(&mut plan.request_id),
        );
        let completion = plan.completion_with(plan.token_count, started, model, request_id);
        let mut content = Vec::with_capacity(2 + usize::from(plan.reasoning.is_some()));
        content.extend(plan.reasoning.as_ref().map(reasoning::Thought::content));
        if !plan.text.is_empty() || plan.tool_call.is_none() {
            content.push(ContentBlock::Text(plan.text));
        }
        content.extend(plan.tool_call.map(ContentBlock::ToolUse));
        Ok(Generation { content, completion })
    }

    async fn generate_stream(
        &self,
        request: GenerationRequest,
    ) -> Result<GenerationStream, GatewayError> {
        let started = Instant::now();
        let plan = self.plan(&request);
        if plan.fail_after_tokens.is_none() {
            if let Some(err) = plan.failure.clone() {
                if !plan.latency.is_zero() {
                    tokio::time::sleep(plan.latency).await;
                }
                return Err(err);
            }
        }
        let request_id = plan.request_id.clone();
        // State: the plan, how many tokens have gone out and where the next
        // one starts in the text. Sleeping inside the stream means dropping it
        // (a client cancel) stops it at once.
        let stream = futures::stream::unfold(Streamer::new(plan), move |mut s| async move {
            let event = s.next(started).await?;
            Some((event, s))
        });
        Ok(GenerationStream {
            request_id,
            events: stream.boxed(),
        })
    }

    async fn count_tokens(&self, request: &GenerationRequest) -> Result<u32, GatewayError> {
        if let Some(e) = self.random_failure(&ids::request_id()) {
            return Err(e);
        }
        Ok(input::count(request, false).total)
    }

    async fn list_models(&self, filter: &ModelFilter) -> Result<Vec<ModelInfo>, GatewayError> {
        if let Some(e) = self.random_failure(&ids::request_id()) {
            return Err(e);
        }
        self.models.list(filter).await
    }

    async fn get_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        if let Some(e) = self.random_failure(&ids::request_id()) {
            return Err(e);
        }
        self.models.get(model_id).await
    }

    fn models(&self) -> &Arc<ModelDirectory> {
        &self.models
    }

    fn accepts_simulation(&self) -> bool {
        true
    }
}

/// A planned answer, sent event by event: the reasoning token by token
/// (block 0) and then its signature alone (or its redacted bytes in one
/// delta), the text token by token (the next block), then the tool call's
/// start and input fragments, then the completion. Sleeping inside the
/// stream means dropping it (a client cancel) stops it at once.
struct Streamer {
    plan: Plan,
    /// Text tokens sent.
    sent: usize,
    /// Events sent, reasoning and tool events included: the first waits for
    /// the first-token latency, the rest for the token delay.
    events: usize,
    /// Where the next reasoning token starts.
    reasoning_at: usize,
    /// Whether the reasoning block is out (signature or redacted bytes
    /// sent).
    reasoning_done: bool,
    /// Where the next text token starts.
    at: usize,
    /// The tool call's events, queued once the text is out.
    tool_events: Option<std::collections::VecDeque<StreamEvent>>,
    done: bool,
}

impl Streamer {
    fn new(plan: Plan) -> Self {
        Streamer {
            reasoning_done: plan.reasoning.is_none(),
            plan,
            sent: 0,
            events: 0,
            reasoning_at: 0,
            at: 0,
            tool_events: None,
            done: false,
        }
    }

    async fn next(&mut self, started: Instant) -> Option<Result<StreamEvent, GatewayError>> {
        if self.done {
            return None;
        }
        let plan = &self.plan;
        let delay = if self.events == 0 { plan.latency } else { plan.token_delay };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.events += 1;
        if let (Some(after), Some(err)) = (plan.fail_after_tokens, &plan.failure) {
            if self.sent >= after as usize {
                self.done = true;
                return Some(Err(err.clone()));
            }
        }
        if let (false, Some(thought)) = (self.reasoning_done, &plan.reasoning) {
            let delta = match &thought.block {
                Reasoning::Redacted(bytes) => {
                    self.reasoning_done = true;
                    ReasoningDelta::Redacted(bytes.clone())
                }
                Reasoning::Text { text, signature } => {
                    match token_spans(&text[self.reasoning_at..]).next() {
                        Some(token) => {
                            self.reasoning_at += token.len();
                            ReasoningDelta::Text(token.to_owned())
                        }
                        None => {
                            self.reasoning_done = true;
                            ReasoningDelta::Signature(signature.clone().unwrap_or_default())
                        }
                    }
                }
            };
            return Some(Ok(StreamEvent::Reasoning { index: 0, delta }));
        }
        let text_index = u32::from(plan.reasoning.is_some());
        if let Some(token) = token_spans(&plan.text[self.at..]).next() {
            self.at += token.len();
            self.sent += 1;
            return Some(Ok(StreamEvent::Text { index: text_index, text: token.to_owned() }));
        }
        let index = text_index + u32::from(!plan.text.is_empty());
        let queue = self.tool_events.get_or_insert_with(|| {
            let Some(call) = &plan.tool_call else { return Default::default() };
            let start = StreamEvent::ToolUseStart { index, id: call.id.clone(), name: call.name.clone() };
            std::iter::once(start)
                .chain(input_fragments(call).into_iter().map(|input_json| StreamEvent::ToolUseDelta { index, input_json }))
                .collect()
        });
        if let Some(event) = queue.pop_front() {
            return Some(Ok(event));
        }
        self.done = true;
        let mut completion = plan.completion(plan.token_count, started);
        completion.tool_uses.extend(plan.tool_call.clone());
        Some(Ok(StreamEvent::Complete(completion)))
    }
}

/// Byte spans of tokens: each token is its leading whitespace plus the
/// following run of non-whitespace, like " day" or "\nFrom". Whitespace is
/// `char::is_whitespace`.
fn token_spans(text: &str) -> impl Iterator<Item = &str> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_start = run_len(rest, true);
        let end = word_start + run_len(&rest[word_start..], false);
        let (token, tail) = rest.split_at(end);
        rest = tail;
        Some(token)
    })
}

/// The byte length of `s`'s leading run of whitespace (or, with `whitespace`
/// false, of non-whitespace). ASCII bytes are classified by table, in a tight
/// loop; only a multi-byte character is decoded. This runs over every token
/// of every answer.
fn run_len(s: &str, whitespace: bool) -> usize {
    let bytes = s.as_bytes();
    let want = if whitespace { ASCII_SPACE } else { ASCII_OTHER };
    let mut i = 0;
    loop {
        while i < bytes.len() && BYTE_CLASS[usize::from(bytes[i])] == want {
            i += 1;
        }
        if i == bytes.len() || BYTE_CLASS[usize::from(bytes[i])] != MULTI_BYTE {
            return i;
        }
        let c = s[i..].chars().next().expect("i is on a char boundary");
        if c.is_whitespace() != whitespace {
            return i;
        }
        i += c.len_utf8();
    }
}

const ASCII_OTHER: u8 = 0;
const ASCII_SPACE: u8 = 1;
const MULTI_BYTE: u8 = 2;

/// The class of each byte: `char::is_whitespace`'s ASCII members (\t \n
/// \x0B \x0C \r and space), other ASCII, and bytes of multi-byte characters.
const BYTE_CLASS: [u8; 256] = {
    let mut class = [ASCII_OTHER; 256];
    let mut b = 0x80;
    while b < 256 {
        class[b] = MULTI_BYTE;
        b += 1;
    }
    let mut b = b'\t';
    while b <= b'\r' {
        class[b as usize] = ASCII_SPACE;
        b += 1;
    }
    class[b' ' as usize] = ASCII_SPACE;
    class
};

/// Applies stop sequences and then `limit` (the `max_tokens`) to the composed
/// text, in the order a model meets them. Returns the text to send, its token
/// count and why it stops.
fn cut(mut text: String, request: &GenerationRequest, limit: usize) -> (String, usize, StopReason) {
    let stop_at = request
        .parameters
        .stop_sequences
        .iter()
        .filter_map(|s| text.find(s.as_str()))
        .min();
    let mut reason = match stop_at {
        Some(at) => {
            text.truncate(at);
            StopReason::StopSequence
        }
        None => StopReason::EndTurn,
    };
    let (mut count, mut end) = (0, 0);
    for token in token_spans(&text) {
        if count == limit {
            reason = StopReason::MaxTokens;
            break;
        }
        count += 1;
        end += token.len();
    }
    text.truncate(end);
    (text, count, reason)
}

/// The composer's random source: seeded from the request at temperature 0.
fn rng_for(request: &GenerationRequest) -> fastrand::Rng {
    match request.parameters.temperature {
        Some(0.0) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            request.target.requested.hash(&mut h);
            request.system.hash(&mut h);
            for m in &request.messages {
                for t in m.texts() {
                    t.hash(&mut h);
                }
            }
            request.parameters.top_p.map(f32::to_bits).hash(&mut h);
            fastrand::Rng::with_seed(h.finish())
        }
        _ => fastrand::Rng::new(),
    }
}

/// Picks from the first `top_p` share of a bank (at least one entry).
fn pick<'a>(rng: &mut fastrand::Rng, bank: &[&'a str], top_p: f32) -> &'a str {
    let n = ((bank.len() as f32 * top_p).ceil() as usize).clamp(1, bank.len());
    bank[rng.usize(..n)]
}

const POEM_LINES: &[&str] = &[
    "Above the {t}, the morning opens wide,",
    "I watch the {t} where quiet colours hide,",
    "and every cloud that wanders slow and white",
    "becomes a sail that carries off the night.",
    "The {t} keeps counsel with the patient sun,",
    "it holds the evening when the day is done,",
    "a field of blue that no one ever ploughed,",
    "a silver road for every passing cloud.",
    "I lay my thoughts beneath the open {t}",
    "and let the wind decide where they will fly;",
    "the swallows write their letters on the air,",
    "and leave them for the stars to answer there.",
    "When storms arrive, the {t} does not complain,",
    "it lends the hills its thunder and its rain,",
    "then clears its throat in gold and rose and grey,",
    "and sings the sleeping valley into day.",
];

const PROSE_SENTENCES: &[&str] = &[
    "The {t} is easiest to understand by starting with what it is for.",
    "At its simplest, the {t} connects a question to a useful answer.",
    "Most people first meet the {t} through a small, practical problem.",
    "A good way to think about the {t} is as a set of trade-offs.",
    "The first trade-off is between speed and care.",
    "The second is between what is simple today and what will last.",
    "In practice, the {t} rewards patience more than cleverness.",
    "Small, honest steps tend to beat one large leap.",
    "It also helps to measure before deciding what to change.",
    "Seen this way, the {t} is less a mystery than a habit.",
    "The details matter, but the shape of the idea matters more.",
    "In short, the {t} is worth learning well, one piece at a time.",
];

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "about", "write", "me", "please", "tell", "of", "on", "in", "for", "to",
    "and", "is", "what", "how", "why", "explain", "describe", "short", "poem", "story", "can",
    "you", "with", "give", "some", "my", "your", "it", "that", "this",
];

/// The subject of the last user turn: the words after "about", else the
/// longest word that is not a stopword, else "sky". Control markers
/// (`[[...]]`) are skipped; words are trimmed of
/// punctuation and compared ignoring ASCII case; the subject is lower case.
fn topic(text: &str) -> String {
    // One pass: up to three words after the first "about" (articles skipped)
    // make the subject; until then, remember the longest candidate word.
    // Control markers (`[[guardrail]]`, `[[redacted]]`) are not words.
    let words = text
        .split_whitespace()
        .filter(|w| !(w.starts_with("[[") && w.ends_with("]]")))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-'))
        .filter(|w| !w.is_empty());
    let mut subject = String::new();
    let (mut after_about, mut taken) = (false, 0);
    let (mut longest, mut longest_len) = (None, 0);
    for word in words {
        if after_about {
            if !["the", "a", "an"].iter().any(|a| word.eq_ignore_ascii_case(a)) {
                if taken > 0 {
                    subject.push(' ');
                }
                subject.push_str(&word.to_lowercase());
                taken += 1;
                if taken == 3 {
                    break;
                }
            }
        } else if word.eq_ignore_ascii_case("about") {
            after_about = true;
        } else if word.chars().all(char::is_alphabetic)
            && !STOPWORDS.iter().any(|s| word.eq_ignore_ascii_case(s))
        {
            // Length in lower case; on a tie the later word wins.
            let len = if word.is_ascii() {
                word.len()
            } else {
                word.chars().flat_map(char::to_lowercase).map(char::len_utf8).sum()
            };
            if len >= longest_len {
                (longest, longest_len) = (Some(word), len);
            }
        }
    }
    if !subject.is_empty() {
        return subject;
    }
    longest.map_or_else(|| "sky".to_owned(), str::to_lowercase)
}

/// Whether `text` contains `word` (lower-case ASCII), ignoring ASCII case.
fn contains_ignoring_case(text: &str, word: &str) -> bool {
    let Some(&first) = word.as_bytes().first() else {
        return true;
    };
    text.as_bytes()
        .windows(word.len())
        .any(|window| window[0].to_ascii_lowercase() == first && window.eq_ignore_ascii_case(word.as_bytes()))
}

/// The text the "model" writes, one piece (a poem line or a prose sentence) at
/// a time. With `until` set it stops once the text holds more than that many
/// tokens, since the rest would be cut anyway: every piece starts with
/// whitespace, so tokens never straddle pieces, and the random draws of the
/// pieces written are the same as in a full composition, so the text is
/// exactly the full text's prefix and temperature-0 answers do not change.
fn compose(request: &GenerationRequest, until: Option<usize>) -> String {
    let mut rng = rng_for(request);
    let top_p = request.parameters.top_p.unwrap_or(1.0);
    let prompt = request.last_user_text();
    let subject = topic(&prompt);
    let poem = ["poem", "verse", "haiku", "sonnet", "song", "rhyme"]
        .iter()
        .any(|w| contains_ignoring_case(&prompt, w));
    // Three stanzas of four lines, or six sentences of prose.
    let (pieces, bank) = if poem { (12, POEM_LINES) } else { (6, PROSE_SENTENCES) };
    let mut out = String::with_capacity(512);
    let mut tokens = 0;
    for i in 0..pieces {
        let lead = match (poem, i) {
            (_, 0) => "\n",
            (true, i) if i % 4 == 0 => "\n\n",
            (true, _) => "\n",
            (false, _) => " ",
        };
        let start = out.len();
        out.push_str(lead);
        fill(&mut out, pick(&mut rng, bank, top_p), &subject);
        // Counting piece by piece is exact only if no piece ends in
        // whitespace (the next piece's lead would join its last token).
        debug_assert!(!out.ends_with(char::is_whitespace), "a piece ends in whitespace: {out:?}");
        if let Some(until) = until {
            tokens += token_spans(&out[start..]).count();
            if tokens > until {
                break;
            }
        }
    }
    out
}

/// Appends `template` with each `{t}` replaced by `subject`. (A search for
/// the byte `{` is a memchr; a search for the string "{t}" would set up a
/// substring searcher for every line.)
fn fill(out: &mut String, template: &str, subject: &str) {
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        if rest[at..].starts_with("{t}") {
            out.push_str(&rest[..at]);
            out.push_str(subject);
            rest = &rest[at + 3..];
        } else {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod features_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::domain::{Message, Parameters, Role};
    use std::num::NonZeroU32;

    fn request(prompt: &str, parameters: Parameters) -> GenerationRequest {
        GenerationRequest {
            target: crate::model::test_target("amazon.titan-text-express-v1"),
            from_prompt: true,
            messages: vec![Message::text(Role::User, prompt)],
            system: None,
            parameters,
            additional_model_request_fields: None,
            simulation: None,
            api: Default::default(),
            tool_config: None,
            output_schema: None,
            options: None,
        }
    }

    fn zero_temp() -> Parameters {
        Parameters {
            temperature: Some(0.0),
            ..Default::default()
        }
    }

    #[test]
    fn tokens_concatenate_back_to_the_text() {
        let text = "\nFrom day to day\n\nas I  lay down";
        let tokens: Vec<_> = token_spans(text).collect();
        assert_eq!(tokens, ["\nFrom", " day", " to", " day", "\n\nas", " I", "  lay", " down"]);
        assert_eq!(tokens.concat(), text);
        // Unicode whitespace (ideographic space, no-break space, next line)
        // and ASCII's vertical tab separate tokens too; other bytes do not.
        let text = "a\u{3000}b\u{a0}c\u{85}dé\x0Bf";
        let tokens: Vec<_> = token_spans(text).collect();
        assert_eq!(tokens, ["a", "\u{3000}b", "\u{a0}c", "\u{85}dé", "\x0Bf"]);
        assert_eq!(token_spans("  ").collect::<Vec<_>>(), ["  "]);
    }

    #[test]
    fn the_topic_follows_about() {
        assert_eq!(topic("Write a poem about sky"), "sky");
        assert_eq!(topic("Tell me about the deep blue sea."), "deep blue sea");
        assert_eq!(topic("Explain gateways"), "gateways");
        assert_eq!(topic("ABOUT The Northern LIGHTS!"), "northern lights");
        assert_eq!(topic("Tell me about"), "sky");
        assert_eq!(topic("Tell me about the"), "sky");
        assert_eq!(topic("Explain oceans, then about about clouds and rain"), "about clouds and");
        assert_eq!(topic("rivers mountains valley"), "mountains");
        assert_eq!(topic("rivers valley"), "valley");
        assert_eq!(topic("Describe tides, currents and waves"), "currents");
        assert_eq!(topic("Write me a POEM"), "sky");
        assert_eq!(topic("Über Äpfel"), "äpfel");
        assert!(contains_ignoring_case("Write a SONNET now", "sonnet"));
        assert!(!contains_ignoring_case("Write a son", "sonnet"));
    }

    #[tokio::test]
    async fn temperature_zero_is_deterministic_and_reads_as_a_poem() {
        let b = SimulatedBackend::new(SimulatedConfig::default());
        let a = b.generate(request("Write a poem about sky", zero_temp())).await.unwrap();
        let c = b.generate(request("Write a poem about sky", zero_temp())).await.unwrap();
        assert_eq!(a.text(), c.text());
        assert!(a.text().contains("sky"), "{}", a.text());
        assert!(a.text().lines().count() >= 12, "{}", a.text());
        assert_eq!(a.completion.stop_reason, StopReason::EndTurn);
        assert_eq!(a.completion.usage.input_tokens, 5);
        assert_eq!(
            a.completion.usage.output_tokens as usize,
            token_spans(&a.text()).count()
        );
    }

    #[tokio::test]
    async fn max_tokens_and_stop_sequences_cut_the_text() {
        let b = SimulatedBackend::new(SimulatedConfig::default());
        let full = b.generate(request("Write a poem about sky", zero_temp())).await.unwrap();
        let mut p = zero_temp();
        p.max_tokens = NonZeroU32::new(7);
        let short = b.generate(request("Write a poem about sky", p)).await.unwrap();
        assert_eq!(short.completion.stop_reason, StopReason::MaxTokens);
        assert_eq!(short.completion.usage.output_tokens, 7);
        assert!(full.text().starts_with(&short.text()));

        let mut p = zero_temp();
        p.stop_sequences = vec!["\n\n".into()];
        let first_stanza = b.generate(request("Write a poem about sky", p)).await.unwrap();
        assert_eq!(first_stanza.completion.stop_reason, StopReason::StopSequence);
        assert_eq!(first_stanza.text(), full.text()[..full.text().find("\n\n").unwrap()]);
    }

    #[tokio::test]
    async fn every_max_tokens_gives_exactly_that_prefix_of_the_full_answer() {
        // The composer stops early under max_tokens; what it sends must be
        // what cutting the full composition would send.
        let b = SimulatedBackend::new(SimulatedConfig::default());
        for prompt in ["Write a poem about sky", "Explain gateways"] {
            let full = b.generate(request(prompt, zero_temp())).await.unwrap();
            let full_text = full.text();
            let full_tokens: Vec<_> = token_spans(&full_text).collect();
            assert_eq!(full.completion.stop_reason, StopReason::EndTurn);
            assert!(full_tokens.len() > 40, "{prompt}: {}", full.text());
            for n in 1..=full_tokens.len() + 1 {
                let mut p = zero_temp();
                p.max_tokens = NonZeroU32::new(n as u32);
                let cut = b.generate(request(prompt, p)).await.unwrap();
                let kept = n.min(full_tokens.len());
                assert_eq!(cut.text(), full_tokens[..kept].concat(), "{prompt}, max_tokens {n}");
                assert_eq!(cut.completion.usage.output_tokens as usize, kept);
                let expected = if n < full_tokens.len() { StopReason::MaxTokens } else { StopReason::EndTurn };
                assert_eq!(cut.completion.stop_reason, expected, "{prompt}, max_tokens {n}");
            }
        }
    }

    #[tokio::test]
    async fn the_stream_is_the_unary_text_in_pieces() {
        let b = SimulatedBackend::new(SimulatedConfig::default());
        let unary = b.generate(request("Write a poem about sky", zero_temp())).await.unwrap();
        let events: Vec<_> = b
            .generate_stream(request("Write a poem about sky", zero_temp()))
            .await
            .unwrap()
            .events
            .collect()
            .await;
        let mut text = String::new();
        for e in &events[..events.len() - 1] {
            match e {
                Ok(StreamEvent::Text { text: d, .. }) => text.push_str(d),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(text, unary.text());
        match events.last() {
            Some(Ok(StreamEvent::Complete(c))) => {
                assert_eq!(c.usage, unary.completion.usage);
                assert_eq!(c.stop_reason, unary.completion.stop_reason);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn injected_failures_follow_the_bedrock_table() {
        let b = SimulatedBackend::new(SimulatedConfig::default());
        let mut r = request("hi", Parameters::default());
        r.simulation = Some(SimulationDirectives {
            fail_with: Some("ThrottlingException".into()),
            ..Default::default()
        });
        let err = b.generate(r.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResourceExhausted);

        r.simulation = Some(SimulationDirectives {
            fail_with: Some("ModelStreamErrorException".into()),
            fail_after_tokens: Some(3),
            ..Default::default()
        });
        let events: Vec<_> = b.generate_stream(r.clone()).await.unwrap().events.collect().await;
        assert_eq!(events.len(), 4);
        assert!(events[..3].iter().all(|e| matches!(e, Ok(StreamEvent::Text { .. }))));
        assert_eq!(events[3].as_ref().unwrap_err().kind(), ErrorKind::Internal);
    }

    #[tokio::test]
    async fn declared_application_profiles_resolve_to_their_model() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        let b = SimulatedBackend::new(SimulatedConfig {
            application_profiles: vec![(arn.into(), "amazon.titan-text-express-v1".into())],
            ..Default::default()
        });
        let mut r = request("hi", Parameters::default());
        r.target = b.models().resolve(arn).await.unwrap();
        let g = b.generate(r).await.unwrap();
        assert_eq!(g.completion.invoked_model_id, arn);
        assert_eq!(g.completion.resolved_model_id, "amazon.titan-text-express-v1");
        assert_eq!(b.get_model(arn).await.unwrap().model_id, "amazon.titan-text-express-v1");
        let other = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/zzz";
        assert_eq!(b.models().resolve(other).await.unwrap_err().kind(), ErrorKind::NotFound);
    }
}
