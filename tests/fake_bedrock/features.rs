//! Reasoning (extended thinking), prompt caching, guardrails, service tiers, latency mode,
//! request metadata and CountTokens: the parts of Bedrock's runtime beyond the plain
//! conversation.
//!
//! Shapes follow botocore's bedrock-runtime service model (2023-09-30): `CachePointBlock
//! {type: default, ttl?: 5m | 1h}` (a member of ContentBlock, SystemContentBlock and Tool),
//! `ReasoningContentBlock {reasoningText {text, signature?} | redactedContent}` and its delta
//! `{text | signature | redactedContent}`, `GuardrailConfiguration {guardrailIdentifier,
//! guardrailVersion, trace: enabled | disabled | enabled_full}` (ConverseStream's
//! `GuardrailStreamConfiguration` adds `streamProcessingMode: sync | async`), `ServiceTier
//! {type: priority | default | flex | reserved}`, `PerformanceConfiguration {latency: standard
//! | optimized}`, `RequestMetadata` (1–16 pairs), `CountTokens` at
//! `POST /model/{modelId}/count-tokens`, and InvokeModel's headers
//! `X-Amzn-Bedrock-GuardrailIdentifier`, `X-Amzn-Bedrock-GuardrailVersion`,
//! `X-Amzn-Bedrock-Trace` (ENABLED | DISABLED | ENABLED_FULL),
//! `X-Amzn-Bedrock-PerformanceConfig-Latency`, `X-Amzn-Bedrock-Service-Tier` and
//! `X-Amzn-Bedrock-Request-Metadata` (a JSON string); InvokeModel's response echoes the
//! tier and latency headers.
//!
//! As in the rest of the fake, each error message says where its wording comes from:
//! "verified" means it was seen in a real Bedrock answer quoted in a public issue, "wording
//! unverified" means the rule is Bedrock's (or the model room's) but the sentence is the
//! fake's own.
//!
//! ## The fake's choices where Bedrock leaves room
//! - **Prompt cache.** A real cache: each cache point's prefix (model, then tools, system
//!   and messages in that order up to the point) is hashed; a hit is the longest prefix
//!   still alive; a read refreshes its expiry. Real Bedrock ignores prefixes shorter than
//!   about 1,024 tokens (the minimum depends on the model); the fake has **no minimum**, so
//!   tests stay small. Usage is disjoint as Bedrock reports it: `cacheReadInputTokens` (the
//!   hit), `cacheWriteInputTokens` (from the hit to the last cache point), `inputTokens`
//!   (the rest), `totalTokens` = all three + output. Both cache fields are present (0 when
//!   nothing was read or written) whenever the request carries a cache point, and absent
//!   otherwise.
//! - **Service tier and latency.** Echoed (`serviceTier {type}`, `performanceConfig
//!   {latency}`) in the Converse response, in ConverseStream's `metadata` event and in
//!   InvokeModel's response headers exactly when the request sent them; omitted otherwise.
//! - **Guardrail intervention** (configured guardrail, `[[guardrail]]` in the last user
//!   text): the model is not invoked, so usage is all zeros and the prompt cache is not
//!   touched; the answer is [`GUARDRAIL_BLOCKED_MESSAGE`] with stop reason
//!   `guardrail_intervened`. InvokeModel bodies get `"amazon-bedrock-guardrailAction":
//!   "INTERVENED"` (documented; `"NONE"` when a guardrail ran and did not intervene) and,
//!   with trace on, `"amazon-bedrock-trace": {"guardrail": {...}}`; the blocked message is
//!   the family's output: Claude `content[0].text` with `stop_reason` "end_turn", Titan
//!   `outputText` with `completionReason` "CONTENT_FILTERED", Llama `generation` and Mistral
//!   `outputs[0].text` with `stop_reason` "stop". (Only the two top-level keys are
//!   documented by AWS; the per-family stop reasons are the fake's choice.)
//! - **CountTokens** takes foundation-model IDs (or foundation-model ARNs) only, as
//!   Bedrock's does: a cross-region profile ID such as `us.anthropic...` answers
//!   [`COUNT_TOKENS_UNSUPPORTED_MESSAGE`] (verified: agentgateway/agentgateway#3254,
//!   strands-agents/harness-sdk#2254), so a caller must strip the profile's region prefix.
//!   Its count equals `inputTokens + cacheReadInputTokens + cacheWriteInputTokens` that
//!   Converse reports for the same input (one counting function, [`input_tokens`]).

use super::*;
use sha2::{Digest, Sha256};

// --- Constants and messages -------------------------------------------------------------

/// The marker that makes a configured guardrail intervene when the last user text holds it.
pub const GUARDRAIL_MARKER: &str = "[[guardrail]]";

/// The marker that makes a reasoning model answer with redacted reasoning.
pub const REDACTED_MARKER: &str = "[[redacted]]";

/// The blocked-input message the fake's guardrails are configured with.
pub const GUARDRAIL_BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// The denied topic of the fake's guardrails, reported in traces.
pub const GUARDRAIL_TOPIC: &str = "Forbidden topic";

/// A second denied topic that never matches; traces show it with `enabled_full` only.
pub const GUARDRAIL_QUIET_TOPIC: &str = "Weather";

/// `actionReason` of an intervention's trace (wording unverified).
pub const GUARDRAIL_ACTION_REASON: &str = "Guardrail blocked.";

/// What the fake model thinks, as reasoning text (before the answer).
pub const REASONING_TEXT: &str =
    "The user wants an answer. I will describe the sky, which is wide and blue and full of light.";

/// Most cache points one request may carry (tools, system and messages together).
pub const MAX_CACHE_POINTS: usize = 4;

/// The smallest `budget_tokens` a thinking configuration may have.
pub const MIN_REASONING_BUDGET: u64 = 1024;

/// The secret the fake signs reasoning text with.
const SIGNATURE_SECRET: &[u8] = b"fake-bedrock reasoning signature v1";

/// Verified (cline/cline#2064, microsoft/vscode#296675): a cache point on a model without
/// prompt caching. The fake also answers it for a 1-hour TTL on a model whose cache only
/// takes 5 minutes (that use of the sentence is the fake's choice).
pub const CACHE_UNSUPPORTED_MESSAGE: &str = "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.";

/// Verified (agentgateway/agentgateway#3254, strands-agents/harness-sdk#2250, 400
/// ValidationException): CountTokens for a model (or profile ID) that cannot count.
pub const COUNT_TOKENS_UNSUPPORTED_MESSAGE: &str =
    "The provided model doesn't support counting tokens.";

/// Verified (openclaw/openclaw#58588): a guardrail identifier Bedrock does not know (the
/// fake answers it for an empty identifier).
pub const INVALID_GUARDRAIL_MESSAGE: &str = "The provided guardrail identifier is invalid.";

/// Wording unverified (modelled on [`INVALID_GUARDRAIL_MESSAGE`]): an empty version.
pub const INVALID_GUARDRAIL_VERSION_MESSAGE: &str = "The provided guardrail version is invalid.";

/// Verified (NousResearch/hermes-agent#34476, live test table): a `serviceTier` type
/// Bedrock does not know (Bedrock checks it itself, not as an enum shape error).
pub const INVALID_SERVICE_TIER_MESSAGE: &str = "service tier provided is invalid";

/// Verified (envoyproxy/ai-gateway#1749, NousResearch/hermes-agent#34476): the `reserved`
/// tier without a reservation.
pub const RESERVATION_NOT_FOUND_MESSAGE: &str = "Reservation not found.";

/// Verified (danny-avila/LibreChat#8346): a thinking budget under 1024.
pub const BUDGET_TOO_SMALL_MESSAGE: &str = "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";

/// Verified (vercel/ai#7927): `max_tokens` not above the thinking budget.
pub const BUDGET_NOT_BELOW_MAX_TOKENS_MESSAGE: &str = "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size";

/// Verified (Aider-AI/aider#3720): a temperature other than 1 while thinking.
pub const THINKING_TEMPERATURE_MESSAGE: &str =
    "The model returned the following errors: temperature may only be set to 1 when thinking is enabled.";

/// Verified (n8n-io/n8n#14288): top_p while thinking.
pub const THINKING_TOP_P_MESSAGE: &str =
    "The model returned the following errors: top_p must be unset when thinking is enabled.";

/// Verified (can1357/oh-my-pi#333, Anthropic's sentence as Bedrock relays it): thinking with
/// a forced tool (`toolChoice` any or tool).
pub const THINKING_FORCED_TOOL_MESSAGE: &str =
    "The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use.";

/// Verified (openclaw/openclaw#88020, quoted from Bedrock in a code block): a replayed
/// reasoning block whose signature does not verify, at Converse message `message` and
/// block `block` (0-based).
pub fn invalid_signature_message(message: usize, block: usize) -> String {
    format!(
        "The model returned the following errors: messages.{message}.content.{block}: Invalid signature in thinking block"
    )
}

/// Verified (can1357/oh-my-pi#10486): a replayed reasoning block without a signature (or
/// with an empty one).
pub fn missing_signature_message(message: usize, block: usize) -> String {
    format!(
        "The model returned the following errors: messages.{message}.content.{block}.thinking.signature: Field required"
    )
}

/// Anthropic's sentence verified (Wei-Shaw/sub2api#176); the "The model returned the
/// following errors: " prefix is how Bedrock relays Anthropic's errors elsewhere: more than
/// [`MAX_CACHE_POINTS`] cache points (`found` of them).
pub fn too_many_cache_points_message(found: usize) -> String {
    format!(
        "The model returned the following errors: A maximum of 4 blocks with cache_control may be provided. Found {found}."
    )
}

/// Anthropic's sentence verified (headroom-ai#2939, cnighswonger/claude-code-cache-fix#44),
/// Bedrock's prefix as above: a 1-hour cache point after a 5-minute one. `path` is
/// Anthropic's path of the block the cache point marks (a Converse cache point marks the
/// block before it): "tools.0", "system.1" or "messages.2.content.0".
pub fn cache_ttl_order_message(path: &str) -> String {
    format!(
        "The model returned the following errors: {path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."
    )
}

/// Wording unverified: latency `optimized` on a model without latency-optimized inference.
pub fn latency_unsupported_message(model: &str) -> String {
    format!(
        "The model {model} doesn't support latency-optimized inference. Try again with performanceConfig latency set to standard."
    )
}

/// Wording unverified: a service tier the model is not offered in.
pub fn service_tier_unsupported_message(tier: &str, model: &str) -> String {
    format!("The service tier {tier} isn't supported for the model {model}.")
}

/// Form verified (Bedrock relays Anthropic's pydantic errors, boto/boto3#4626): `thinking`
/// sent to a Claude model that does not reason.
pub const THINKING_NOT_PERMITTED_MESSAGE: &str =
    "The model returned the following errors: thinking: Extra inputs are not permitted";

/// Form verified (BerriAI/litellm#9128): a key the model's own body does not take, e.g.
/// `thinking` for a model other than Claude.
pub fn extraneous_key_message(key: &str) -> String {
    format!(
        "The model returned the following errors: Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
    )
}

// --- What each model offers --------------------------------------------------------------

/// The foundation-model ID without a cross-region profile prefix.
fn strip_profile(id: &str) -> &str {
    PROFILE_PREFIXES
        .iter()
        .chain(["global"].iter())
        .find_map(|p| id.strip_prefix(&format!("{p}.")))
        .unwrap_or(id)
}

/// Whether the model takes a thinking budget (Claude 3.7 Sonnet and later), with or
/// without a profile prefix.
pub fn model_reasons(model: &str) -> bool {
    let m = strip_profile(model);
    [
        "anthropic.claude-3-7",
        "anthropic.claude-sonnet-4",
        "anthropic.claude-opus-4",
        "anthropic.claude-haiku-4",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

/// The cache-point TTLs a model takes (empty: no prompt caching), as the model room's
/// table has them: Claude 3.5 Haiku, 3.7 Sonnet and Claude 4 "5m"; Claude 4.5 and later
/// also "1h"; Nova Pro, Lite and Micro "5m".
pub fn cache_ttls(model: &str) -> &'static [&'static str] {
    let m = strip_profile(model);
    let five_minutes = [
        "anthropic.claude-3-5-haiku",
        "anthropic.claude-3-7-sonnet",
        "anthropic.claude-sonnet-4-2",
        "anthropic.claude-opus-4-2",
        "anthropic.claude-opus-4-1-",
        "amazon.nova-pro",
        "amazon.nova-lite",
        "amazon.nova-micro",
    ];
    if five_minutes.iter().any(|p| m.starts_with(p)) {
        &["5m"]
    } else if [
        "anthropic.claude-sonnet-",
        "anthropic.claude-haiku-",
        "anthropic.claude-opus-",
    ]
    .iter()
    .any(|p| m.starts_with(p))
    {
        &["5m", "1h"]
    } else {
        &[]
    }
}

/// Whether the model offers latency-optimized inference (Nova Pro, Claude 3.5 Haiku,
/// Llama 3.1 to 3.3, as the model room's table has it).
pub fn latency_optimized(model: &str) -> bool {
    let m = strip_profile(model);
    [
        "amazon.nova-pro",
        "anthropic.claude-3-5-haiku",
        "meta.llama3-1-",
        "meta.llama3-2-",
        "meta.llama3-3-",
    ]
    .iter()
    .any(|p| m.starts_with(p))
}

/// The service tiers the model is offered in ("default" everywhere; "priority" and "flex"
/// on Nova, as the model room's table has it).
pub fn service_tiers(model: &str) -> &'static [&'static str] {
    if strip_profile(model).starts_with("amazon.nova-") {
        &["default", "priority", "flex"]
    } else {
        &["default"]
    }
}

/// Whether CountTokens counts for this ID: a Claude 3.5 or later foundation-model ID (or
/// its foundation-model ARN); never a profile ID.
pub fn counts_tokens(model_id: &str) -> bool {
    let base = arn_resource_id(model_id)
        .filter(|_| model_id.contains(":foundation-model/"))
        .unwrap_or_else(|| model_id.to_string());
    [
        "anthropic.claude-3-5-",
        "anthropic.claude-3-7-",
        "anthropic.claude-sonnet-4",
        "anthropic.claude-opus-4",
        "anthropic.claude-haiku-4",
    ]
    .iter()
    .any(|p| base.starts_with(p))
}

// --- Reasoning ----------------------------------------------------------------------------

/// The signature the fake gives reasoning `text`: base64 of SHA-256 over a fixed secret and
/// the text. [`verify_signature`] checks it.
pub fn reasoning_signature(text: &str) -> String {
    let mut h = Sha256::new();
    h.update(SIGNATURE_SECRET);
    h.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Whether `signature` is the fake's signature of `text`.
pub fn verify_signature(text: &str, signature: &str) -> bool {
    reasoning_signature(text) == signature
}

/// The bytes of the fake's redacted reasoning (an opaque, deterministic blob).
pub fn redacted_reasoning_bytes() -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(SIGNATURE_SECRET);
    h.update(b"redacted:");
    h.update(REASONING_TEXT.as_bytes());
    [&b"fake-redacted-reasoning:"[..], &h.finalize()[..]].concat()
}

/// `additionalModelRequestFields.thinking.budget_tokens` when thinking is enabled.
pub fn thinking_budget(body: &Value) -> Option<u64> {
    let thinking = &body["additionalModelRequestFields"]["thinking"];
    (thinking["type"] == "enabled").then(|| thinking["budget_tokens"].as_u64().unwrap_or(0))
}

/// The most output tokens a reasoning model answers when `maxTokens` is unset (the model
/// room's ceilings: 131,072 for Claude 3.7 Sonnet, 64,000 for later models).
fn default_max_tokens(model: &str) -> u64 {
    if strip_profile(model).starts_with("anthropic.claude-3-7") {
        131_072
    } else {
        64_000
    }
}

/// Thinking's rules (Anthropic's, as Bedrock relays them), and replayed reasoning blocks'
/// signatures.
pub(super) fn reasoning_rules(base: &str, body: &Value, messages: &[Value]) -> Result<(), Fail> {
    let thinking = &body["additionalModelRequestFields"]["thinking"];
    if !thinking.is_null() {
        if family(base) != Some(Family::Claude) {
            return Err(validation(&extraneous_key_message("thinking")));
        }
        if !model_reasons(base) {
            return Err(validation(THINKING_NOT_PERMITTED_MESSAGE));
        }
    }
    if let Some(budget) = thinking_budget(body) {
        if budget < MIN_REASONING_BUDGET {
            return Err(validation(BUDGET_TOO_SMALL_MESSAGE));
        }
        let cfg = &body["inferenceConfig"];
        let max_tokens = cfg["maxTokens"]
            .as_u64()
            .unwrap_or_else(|| default_max_tokens(base));
        if max_tokens <= budget {
            return Err(validation(BUDGET_NOT_BELOW_MAX_TOKENS_MESSAGE));
        }
        if cfg["temperature"].as_f64().is_some_and(|t| t != 1.0) {
            return Err(validation(THINKING_TEMPERATURE_MESSAGE));
        }
        if !cfg["topP"].is_null() {
            return Err(validation(THINKING_TOP_P_MESSAGE));
        }
        let choice = &body["toolConfig"]["toolChoice"];
        if choice.get("any").is_some() || choice.get("tool").is_some() {
            return Err(validation(THINKING_FORCED_TOOL_MESSAGE));
        }
    }
    for (i, message) in messages.iter().enumerate() {
        for (j, block) in content(message).iter().enumerate() {
            let text = &block["reasoningContent"]["reasoningText"];
            if text.is_null() {
                continue;
            }
            let signature = text["signature"].as_str().unwrap_or_default();
            if signature.is_empty() {
                return Err(validation(&missing_signature_message(i, j)));
            }
            if !verify_signature(text["text"].as_str().unwrap_or_default(), signature) {
                return Err(validation(&invalid_signature_message(i, j)));
            }
        }
    }
    Ok(())
}

// --- Token counting and the prompt cache --------------------------------------------------

/// The fake's input tokens of one content or system block: the words of its text, of a
/// reasoning block's text, of a guardContent's text, and of a tool result's text parts.
/// Images, documents, tool calls and cache points count nothing.
pub fn block_tokens(block: &Value) -> usize {
    let mut n = block["text"].as_str().map_or(0, count_words);
    n += block["reasoningContent"]["reasoningText"]["text"]
        .as_str()
        .map_or(0, count_words);
    n += block["guardContent"]["text"]["text"]
        .as_str()
        .map_or(0, count_words);
    for part in block["toolResult"]["content"]
        .as_array()
        .into_iter()
        .flatten()
    {
        n += part["text"].as_str().map_or(0, count_words);
    }
    n
}

/// The fake's input tokens of one tool: the words of its name and description.
pub fn tool_tokens(tool: &Value) -> usize {
    let spec = &tool["toolSpec"];
    spec["name"].as_str().map_or(0, count_words)
        + spec["description"].as_str().map_or(0, count_words)
}

/// The input tokens of a Converse input (tools, system and messages; `body` may be a
/// Converse request or CountTokens' `input.converse`): what CountTokens answers, and
/// `inputTokens + cacheReadInputTokens + cacheWriteInputTokens` of Converse.
pub fn input_tokens(body: &Value) -> usize {
    layout("", body).total
}

/// One cache point of a request, with the prefix before it.
#[derive(Clone, Debug)]
pub(super) struct CachePointAt {
    /// Tokens of everything before the point.
    pub tokens: usize,
    /// Hash of the model and everything before the point.
    pub hash: [u8; 32],
    /// "5m" or "1h" (absent means "5m").
    pub ttl: String,
    /// Anthropic's path of the block the point marks, for error messages.
    pub marks: String,
}

/// A request's input as the cache sees it: its total tokens and its cache points in order.
pub(super) struct Layout {
    pub total: usize,
    pub points: Vec<CachePointAt>,
}

/// Walks tools → system → messages in order, counting tokens and hashing the prefix at each
/// cache point (cache points themselves are not part of any prefix).
pub(super) fn layout(model: &str, body: &Value) -> Layout {
    let mut hasher = Sha256::new();
    hasher.update(model.as_bytes());
    let mut total = 0;
    let mut points = Vec::new();
    let mut point = |hasher: &Sha256, total: usize, cp: &Value, marks: String| {
        points.push(CachePointAt {
            tokens: total,
            hash: hasher.clone().finalize().into(),
            ttl: cp["ttl"].as_str().unwrap_or("5m").to_string(),
            marks,
        });
    };
    let feed = |hasher: &mut Sha256, v: &Value| {
        hasher.update(sorted_keys(v).to_string().as_bytes());
        hasher.update(b"\n");
    };
    let tools = body["toolConfig"]["tools"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    hasher.update(b"<tools>");
    let mut seen = 0usize;
    for tool in tools {
        if let Some(cp) = tool.get("cachePoint") {
            point(
                &hasher,
                total,
                cp,
                format!("tools.{}", seen.saturating_sub(1)),
            );
        } else {
            feed(&mut hasher, tool);
            total += tool_tokens(tool);
            seen += 1;
        }
    }
    hasher.update(b"<system>");
    let system = body["system"].as_array().map_or(&[][..], Vec::as_slice);
    let mut seen = 0usize;
    for block in system {
        if let Some(cp) = block.get("cachePoint") {
            point(
                &hasher,
                total,
                cp,
                format!("system.{}", seen.saturating_sub(1)),
            );
        } else {
            feed(&mut hasher, block);
            total += block_tokens(block);
            seen += 1;
        }
    }
    let messages = body["messages"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, message) in messages.iter().enumerate() {
        hasher.update(format!("<message {}>", role(message)).as_bytes());
        let mut seen = 0usize;
        for block in content(message) {
            if let Some(cp) = block.get("cachePoint") {
                let marks = format!("messages.{i}.content.{}", seen.saturating_sub(1));
                point(&hasher, total, cp, marks);
            } else {
                feed(&mut hasher, block);
                total += block_tokens(block);
                seen += 1;
            }
        }
    }
    Layout { total, points }
}

fn ttl_duration(ttl: &str) -> Duration {
    if ttl == "1h" {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(300)
    }
}

/// Cache rules: the model caches (and takes each TTL), at most [`MAX_CACHE_POINTS`], TTLs
/// never increasing in the order tools → system → messages.
pub(super) fn cache_rules(base: &str, layout: &Layout) -> Result<(), Fail> {
    if layout.points.is_empty() {
        return Ok(());
    }
    let ttls = cache_ttls(base);
    if layout
        .points
        .iter()
        .any(|p| !ttls.contains(&p.ttl.as_str()))
    {
        return Err(validation(CACHE_UNSUPPORTED_MESSAGE));
    }
    if layout.points.len() > MAX_CACHE_POINTS {
        return Err(validation(&too_many_cache_points_message(
            layout.points.len(),
        )));
    }
    let mut seen_short = false;
    for p in &layout.points {
        if p.ttl == "5m" {
            seen_short = true;
        } else if seen_short {
            return Err(validation(&cache_ttl_order_message(&p.marks)));
        }
    }
    Ok(())
}

/// Cache reads and writes of a request, updating the cache: (read, write).
pub(super) fn use_cache(shared: &Shared, layout: &Layout) -> (usize, usize) {
    let Some(last) = layout.points.last() else {
        return (0, 0);
    };
    let now = Instant::now();
    let mut st = shared.state.lock().unwrap();
    let cache = &mut st.prompt_cache;
    cache.retain(|_, expiry| *expiry > now);
    let hit = layout
        .points
        .iter()
        .rposition(|p| cache.contains_key(&p.hash));
    let read = hit.map_or(0, |k| layout.points[k].tokens);
    if let Some(k) = hit {
        let p = &layout.points[k];
        cache.insert(p.hash, now + ttl_duration(&p.ttl));
    }
    let first_new = hit.map_or(0, |k| k + 1);
    for p in &layout.points[first_new..] {
        cache.insert(p.hash, now + ttl_duration(&p.ttl));
    }
    (read, last.tokens.saturating_sub(read))
}

impl FakeBedrock {
    /// Forgets every cached prefix.
    pub fn clear_prompt_cache(&self) {
        self.shared.state.lock().unwrap().prompt_cache.clear();
    }

    /// Makes every cached prefix expire now (as if its TTL had passed).
    pub fn expire_prompt_cache(&self) {
        let now = Instant::now();
        for expiry in self.shared.state.lock().unwrap().prompt_cache.values_mut() {
            *expiry = now;
        }
    }

    /// Cached prefixes still alive.
    pub fn prompt_cache_entries(&self) -> usize {
        let now = Instant::now();
        let st = self.shared.state.lock().unwrap();
        st.prompt_cache.values().filter(|e| **e > now).count()
    }

    /// Every CountTokens request so far, oldest first.
    pub fn count_tokens_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/count-tokens"))
            .collect()
    }
}

// --- Guardrails ---------------------------------------------------------------------------

/// A guardrail as configured on a call (Converse `guardrailConfig` or InvokeModel headers).
#[derive(Clone, Debug)]
pub(super) struct Guardrail {
    /// The guardrail's ID (the last part of an ARN).
    pub id: String,
    /// "enabled", "disabled" or "enabled_full" (InvokeModel's values lowercased).
    pub trace: String,
}

impl Guardrail {
    fn from_config(config: &Value) -> Option<Guardrail> {
        let identifier = config["guardrailIdentifier"].as_str()?;
        Some(Guardrail {
            id: identifier
                .rsplit_once("guardrail/")
                .map_or(identifier, |(_, id)| id)
                .to_string(),
            trace: config["trace"]
                .as_str()
                .unwrap_or("disabled")
                .to_lowercase(),
        })
    }

    fn traced(&self) -> bool {
        self.trace == "enabled" || self.trace == "enabled_full"
    }

    /// The trace of this guardrail's assessment of `input_text`, when trace is on.
    pub fn trace(&self, intervened: bool, input_text: &str) -> Option<Value> {
        if !self.traced() {
            return None;
        }
        let full = self.trace == "enabled_full";
        let chars = input_text.chars().count();
        let metrics = json!({
            "guardrailProcessingLatency": 1,
            "usage": {
                "topicPolicyUnits": 1, "contentPolicyUnits": 0, "wordPolicyUnits": 0,
                "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 0,
            },
            "guardrailCoverage": { "textCharacters": { "guarded": chars, "total": chars } },
        });
        let mut topics = Vec::new();
        if intervened {
            topics.push(json!({
                "name": GUARDRAIL_TOPIC, "type": "DENY", "action": "BLOCKED", "detected": true,
            }));
        }
        if full {
            if !intervened {
                topics.push(json!({
                    "name": GUARDRAIL_TOPIC, "type": "DENY", "action": "NONE", "detected": false,
                }));
            }
            topics.push(json!({
                "name": GUARDRAIL_QUIET_TOPIC, "type": "DENY", "action": "NONE", "detected": false,
            }));
        }
        let mut assessment = json!({ "invocationMetrics": metrics });
        if !topics.is_empty() {
            assessment["topicPolicy"] = json!({ "topics": topics });
        }
        let mut trace = json!({ "inputAssessment": { self.id.clone(): assessment } });
        if intervened {
            trace["actionReason"] = json!(GUARDRAIL_ACTION_REASON);
        } else {
            trace["outputAssessments"] =
                json!({ self.id.clone(): [{ "invocationMetrics": metrics }] });
        }
        Some(trace)
    }
}

/// The guardrail a Converse request configured, if any.
pub(super) fn converse_guardrail(body: &Value) -> Option<Guardrail> {
    body.get("guardrailConfig").and_then(Guardrail::from_config)
}

/// Empty identifier or version (the patterns allow the empty string; Bedrock does not).
pub(super) fn guardrail_rules(config: &Value) -> Result<(), Fail> {
    if config.is_null() {
        return Ok(());
    }
    if config["guardrailIdentifier"].as_str() == Some("") {
        return Err(validation(INVALID_GUARDRAIL_MESSAGE));
    }
    if config["guardrailVersion"].as_str() == Some("") {
        return Err(validation(INVALID_GUARDRAIL_VERSION_MESSAGE));
    }
    Ok(())
}

/// The text of the last user turn (its text blocks joined by " ").
pub(super) fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(|m| {
            content(m)
                .iter()
                .filter_map(|b| {
                    b["text"]
                        .as_str()
                        .or_else(|| b["guardContent"]["text"]["text"].as_str())
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

// --- Tier, latency, metadata --------------------------------------------------------------

/// Service-tier and latency rules for `model`: `tier` and `latency` as sent.
pub(super) fn tier_rules(
    model: &str,
    tier: Option<&str>,
    latency: Option<&str>,
) -> Result<(), Fail> {
    if let Some(t) = tier {
        match t {
            "reserved" => return Err(validation(RESERVATION_NOT_FOUND_MESSAGE)),
            "default" | "priority" | "flex" => {
                if !service_tiers(model).contains(&t) {
                    return Err(validation(&service_tier_unsupported_message(t, model)));
                }
            }
            _ => return Err(validation(INVALID_SERVICE_TIER_MESSAGE)),
        }
    }
    if latency == Some("optimized") && !latency_optimized(model) {
        return Err(validation(&latency_unsupported_message(model)));
    }
    Ok(())
}

/// RequestMetadata's character class (botocore: `[a-zA-Z0-9\s:_@$#=/+,-.]`).
fn metadata_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c)
}

const METADATA_KEY_PATTERN: &str = "[a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}";
const METADATA_VALUE_PATTERN: &str = "[a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}";

/// Shape errors of the members this module adds (added to the request's other shape
/// errors, in the "Value ... at '...' failed to satisfy constraint" form).
pub(super) fn more_shape_errors(body: &Value, streaming: bool, errors: &mut Vec<String>) {
    // Cache points.
    let cache_point = |cp: &Value, at: &str, errors: &mut Vec<String>| {
        match cp["type"].as_str() {
            None => errors.push(format!(
                "Value null at '{at}.cachePoint.type' failed to satisfy constraint: Member must not be null"
            )),
            Some("default") => {}
            Some(t) => errors.push(enum_error(t, &format!("{at}.cachePoint.type"), &["default"])),
        }
        if let Some(ttl) = cp["ttl"].as_str() {
            if ttl != "5m" && ttl != "1h" {
                errors.push(enum_error(
                    ttl,
                    &format!("{at}.cachePoint.ttl"),
                    &["5m", "1h"],
                ));
            }
        }
    };
    for (i, tool) in body["toolConfig"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(cp) = tool.get("cachePoint") {
            cache_point(cp, &format!("toolConfig.tools.{}.member", i + 1), errors);
        }
    }
    for (i, block) in body["system"].as_array().into_iter().flatten().enumerate() {
        if let Some(cp) = block.get("cachePoint") {
            cache_point(cp, &format!("system.{}.member", i + 1), errors);
        }
    }
    for (i, message) in body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, block) in content(message).iter().enumerate() {
            if let Some(cp) = block.get("cachePoint") {
                let at = format!("messages.{}.member.content.{}.member", i + 1, j + 1);
                cache_point(cp, &at, errors);
            }
        }
    }
    // Guardrail configuration.
    let g = &body["guardrailConfig"];
    if g.is_object() {
        for (key, pattern) in [
            (
                "guardrailIdentifier",
                "(|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))",
            ),
            ("guardrailVersion", "(|([1-9][0-9]{0,7})|(DRAFT))"),
        ] {
            let at = format!("guardrailConfig.{key}");
            match g[key].as_str() {
                None => errors.push(format!(
                    "Value null at '{at}' failed to satisfy constraint: Member must not be null"
                )),
                Some(v) => {
                    let ok = if key == "guardrailVersion" {
                        valid_guardrail_version(v)
                    } else {
                        valid_guardrail_identifier(v)
                    };
                    if !ok {
                        errors.push(format!(
                            "Value '{v}' at '{at}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
                        ));
                    }
                }
            }
        }
        if let Some(t) = g["trace"].as_str() {
            let allowed = ["enabled", "disabled", "enabled_full"];
            if !allowed.contains(&t) {
                errors.push(enum_error(t, "guardrailConfig.trace", &allowed));
            }
        }
        if let Some(m) = g["streamProcessingMode"].as_str() {
            if streaming && m != "sync" && m != "async" {
                errors.push(enum_error(
                    m,
                    "guardrailConfig.streamProcessingMode",
                    &["sync", "async"],
                ));
            }
        }
    }
    // Latency (Bedrock names the enum in this order: NousResearch/hermes-agent#34476).
    if let Some(l) = body["performanceConfig"]["latency"].as_str() {
        if l != "standard" && l != "optimized" {
            errors.push(enum_error(
                l,
                "performanceConfig.latency",
                &["optimized", "standard"],
            ));
        }
    }
    // Request metadata.
    if let Some(map) = body.get("requestMetadata").and_then(Value::as_object) {
        errors.extend(metadata_errors(map, "requestMetadata"));
    }
}

/// RequestMetadata's constraints: 1–16 entries; keys 1–256 and values 0–256 characters of
/// its character class. The "Map keys/values must satisfy constraint" form is Coral's
/// (seen on other AWS services); its use here is the fake's.
pub(super) fn metadata_errors(map: &serde_json::Map<String, Value>, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let shown = format!(
        "{{{}}}",
        map.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let prefix = format!("Value '{shown}' at '{at}' failed to satisfy constraint:");
    if map.is_empty() {
        errors.push(format!(
            "{prefix} Member must have length greater than or equal to 1"
        ));
    }
    if map.len() > 16 {
        errors.push(format!(
            "{prefix} Member must have length less than or equal to 16"
        ));
    }
    if map
        .keys()
        .any(|k| k.is_empty() || k.chars().count() > 256 || !k.chars().all(metadata_char))
    {
        errors.push(format!(
            "{prefix} Map keys must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: {METADATA_KEY_PATTERN}]"
        ));
    }
    if map.values().any(|v| {
        let s = v.as_str().unwrap_or("\u{0}");
        s.chars().count() > 256 || !s.chars().all(metadata_char)
    }) {
        errors.push(format!(
            "{prefix} Map values must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: {METADATA_VALUE_PATTERN}]"
        ));
    }
    errors
}

fn valid_guardrail_version(v: &str) -> bool {
    v.is_empty()
        || v == "DRAFT"
        || (v.len() <= 8 && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_guardrail_identifier(v: &str) -> bool {
    let simple = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if v.is_empty() || simple(v) {
        return true;
    }
    // arn:aws(-[^:]+)?:bedrock:REGION:ACCOUNT:guardrail/ID
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && (parts[1] == "aws" || parts[1].starts_with("aws-"))
        && parts[2] == "bedrock"
        && (1..=20).contains(&parts[3].len())
        && parts[3]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].strip_prefix("guardrail/").is_some_and(simple)
}

// --- InvokeModel's options (headers) ------------------------------------------------------

/// InvokeModel's and InvokeModelWithResponseStream's options, from their headers.
#[derive(Clone, Debug, Default)]
pub(super) struct InvokeOptions {
    pub guardrail: Option<Guardrail>,
    pub tier: Option<String>,
    pub latency: Option<String>,
}

/// Reads and validates the option headers (names lowercased, as recorded).
pub(super) fn invoke_options(headers: &HashMap<String, String>) -> Result<InvokeOptions, Fail> {
    let get = |k: &str| headers.get(k).map(String::as_str);
    let mut errors = Vec::new();
    let identifier = get("x-amzn-bedrock-guardrailidentifier");
    let version = get("x-amzn-bedrock-guardrailversion");
    let trace = get("x-amzn-bedrock-trace");
    if let Some(id) = identifier {
        if !valid_guardrail_identifier(id) {
            errors.push(format!(
                "Value '{id}' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{{1,20}}:[0-9]{{12}}:guardrail/[a-z0-9]+))"
            ));
        }
    }
    if let Some(v) = version {
        if !valid_guardrail_version(v) {
            errors.push(format!(
                "Value '{v}' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (|([1-9][0-9]{{0,7}})|(DRAFT))"
            ));
        }
    }
    match (identifier, version) {
        (Some(_), None) => errors.push(
            "Value null at 'guardrailVersion' failed to satisfy constraint: Member must not be null".into(),
        ),
        (None, Some(_)) => errors.push(
            "Value null at 'guardrailIdentifier' failed to satisfy constraint: Member must not be null".into(),
        ),
        _ => {}
    }
    if let Some(t) = trace {
        let allowed = ["ENABLED", "DISABLED", "ENABLED_FULL"];
        if !allowed.contains(&t) {
            errors.push(enum_error(t, "trace", &allowed));
        }
    }
    let latency = get("x-amzn-bedrock-performanceconfig-latency");
    if let Some(l) = latency {
        if l != "standard" && l != "optimized" {
            errors.push(enum_error(
                l,
                "performanceConfigLatency",
                &["optimized", "standard"],
            ));
        }
    }
    if let Some(m) = get("x-amzn-bedrock-request-metadata") {
        match serde_json::from_str::<Value>(m) {
            Ok(Value::Object(map)) => errors.extend(metadata_errors(&map, "requestMetadata")),
            _ => errors.push(format!(
                "Value '{m}' at 'requestMetadata' failed to satisfy constraint: Member must be a JSON object of string pairs"
            )),
        }
    }
    shape_result(errors)?;
    if identifier == Some("") {
        return Err(validation(INVALID_GUARDRAIL_MESSAGE));
    }
    if version == Some("") {
        return Err(validation(INVALID_GUARDRAIL_VERSION_MESSAGE));
    }
    let guardrail = identifier.map(|id| {
        Guardrail::from_config(&json!({
            "guardrailIdentifier": id,
            "trace": trace.unwrap_or("DISABLED"),
        }))
        .expect("an identifier")
    });
    Ok(InvokeOptions {
        guardrail,
        tier: get("x-amzn-bedrock-service-tier").map(str::to_string),
        latency: latency.map(str::to_string),
    })
}

/// The errors in Bedrock's "N validation error(s) detected" form, if any.
pub(super) fn shape_result(errors: Vec<String>) -> Result<(), Fail> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(validation(&format!(
            "1 validation error detected: {}",
            errors[0]
        ))),
        n => Err(validation(&format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        ))),
    }
}

// --- CountTokens --------------------------------------------------------------------------

/// `POST /model/{modelId}/count-tokens`.
pub(super) fn count_tokens(shared: &Shared, id: &str, body: &Value) -> Result<Reply, Fail> {
    let input = &body["input"];
    if !input.is_object() {
        return shape_result(vec![
            "Value null at 'input' failed to satisfy constraint: Member must not be null".into(),
        ])
        .map(|_| unreachable!());
    }
    if let Some(converse) = input.get("converse") {
        let mut errors = Vec::new();
        more_shape_errors(converse, false, &mut errors);
        shape_result(errors)?;
    }
    // The model: a foundation model of the catalogue (or its ARN), which must count.
    let base = if id.starts_with("arn:") {
        arn_resource_id(id)
            .filter(|_| id.contains(":foundation-model/"))
            .unwrap_or_default()
    } else {
        id.to_string()
    };
    let known = shared.model(&base).is_some()
        || PROFILE_PREFIXES.iter().chain(["global"].iter()).any(|p| {
            id.strip_prefix(&format!("{p}."))
                .is_some_and(|b| shared.model(b).is_some())
        });
    if !known && !id.starts_with("arn:") {
        return Err(validation(INVALID_MODEL_MESSAGE));
    }
    if !counts_tokens(id) || shared.model(&base).is_none() {
        return Err(validation(COUNT_TOKENS_UNSUPPORTED_MESSAGE));
    }
    let tokens = if let Some(converse) = input.get("converse") {
        input_tokens(converse)
    } else if let Some(invoke) = input.get("invokeModel") {
        let native = invoke["body"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let Some(native) = native.filter(Value::is_object) else {
            return Err(validation(
                "Malformed input request, please reformat your input and try again.",
            ));
        };
        claude_native_input_tokens(&native)
    } else {
        return shape_result(vec![
            "Value '{}' at 'input' failed to satisfy constraint: Member must have exactly one member set".into(),
        ])
        .map(|_| unreachable!());
    };
    Ok(Reply::Unary {
        value: json!({ "inputTokens": tokens }),
        headers: vec![],
    })
}

/// The input tokens of a Claude messages body (the words of its system and message texts),
/// as InvokeModel counts them.
pub fn claude_native_input_tokens(body: &Value) -> usize {
    let mut n = claude_text_words(&body["system"]);
    for m in body["messages"].as_array().into_iter().flatten() {
        n += claude_text_words(&m["content"]);
    }
    n
}

// --- What tests read back -----------------------------------------------------------------

/// A cache point as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCachePoint {
    /// Where it sat: "toolConfig.tools.2", "system.1" or "messages.0.content.3".
    pub path: String,
    /// Its `ttl` as sent (None when absent).
    pub ttl: Option<String>,
}

impl RecordedRequest {
    /// `guardrailConfig` exactly as sent (Converse), or the guardrail headers as
    /// `{"guardrailIdentifier", "guardrailVersion", "trace"}` (InvokeModel).
    pub fn guardrail_config(&self) -> Option<Value> {
        if let Some(g) = self.body.get("guardrailConfig") {
            return Some(g.clone());
        }
        let h = |k: &str| self.headers.get(k).cloned();
        let id = h("x-amzn-bedrock-guardrailidentifier")?;
        let mut v = json!({ "guardrailIdentifier": id });
        if let Some(version) = h("x-amzn-bedrock-guardrailversion") {
            v["guardrailVersion"] = json!(version);
        }
        if let Some(trace) = h("x-amzn-bedrock-trace") {
            v["trace"] = json!(trace);
        }
        Some(v)
    }

    /// The service tier's type as sent (`serviceTier.type`, or InvokeModel's header).
    pub fn service_tier(&self) -> Option<String> {
        self.body["serviceTier"]["type"]
            .as_str()
            .map(str::to_string)
            .or_else(|| self.headers.get("x-amzn-bedrock-service-tier").cloned())
    }

    /// The latency mode as sent (`performanceConfig.latency`, or InvokeModel's header).
    pub fn performance_config(&self) -> Option<String> {
        self.body["performanceConfig"]["latency"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                self.headers
                    .get("x-amzn-bedrock-performanceconfig-latency")
                    .cloned()
            })
    }

    /// `requestMetadata` as sent (Converse), or InvokeModel's metadata header parsed.
    pub fn request_metadata(&self) -> Option<Value> {
        if let Some(m) = self.body.get("requestMetadata") {
            return Some(m.clone());
        }
        let h = self.headers.get("x-amzn-bedrock-request-metadata")?;
        serde_json::from_str(h).ok()
    }

    /// Every cache point in order: tools, then system, then messages.
    pub fn cache_points(&self) -> Vec<RecordedCachePoint> {
        let body = self.body["input"].get("converse").unwrap_or(&self.body);
        let mut out = Vec::new();
        let mut push = |cp: &Value, path: String| {
            out.push(RecordedCachePoint {
                path,
                ttl: cp["ttl"].as_str().map(str::to_string),
            })
        };
        for (i, t) in body["toolConfig"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(cp) = t.get("cachePoint") {
                push(cp, format!("toolConfig.tools.{i}"));
            }
        }
        for (i, b) in body["system"].as_array().into_iter().flatten().enumerate() {
            if let Some(cp) = b.get("cachePoint") {
                push(cp, format!("system.{i}"));
            }
        }
        for (i, m) in body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, b) in content(m).iter().enumerate() {
                if let Some(cp) = b.get("cachePoint") {
                    push(cp, format!("messages.{i}.content.{j}"));
                }
            }
        }
        out
    }

    /// Every `reasoningContent` block of the request's messages, exactly as sent, with its
    /// path ("messages.1.content.0").
    pub fn reasoning_blocks(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (i, m) in self.messages().iter().enumerate() {
            for (j, b) in content(m).iter().enumerate() {
                if let Some(r) = b.get("reasoningContent") {
                    out.push((format!("messages.{i}.content.{j}"), r.clone()));
                }
            }
        }
        out
    }

    /// `additionalModelRequestFields.thinking.budget_tokens` when thinking is enabled.
    pub fn reasoning_budget(&self) -> Option<u64> {
        thinking_budget(&self.body)
    }

    /// CountTokens' input, exactly as sent (`{"converse": ...}` or `{"invokeModel": ...}`).
    pub fn count_tokens_input(&self) -> Option<&Value> {
        if self.path.ends_with("/count-tokens") {
            self.body.get("input")
        } else {
            None
        }
    }
}
