//! Native InvokeModel bodies, per model family: the request JSON each family
//! expects, and the response and stream-chunk JSON it sends back.
//!
//! Everything here is pure: bytes in, bytes or domain values out, no I/O. The
//! Bedrock backend calls [`encode`] before InvokeModel, [`decode`] on its
//! answer and [`decode_chunk`] on each InvokeModelWithResponseStream chunk.
//!
//! Guardrails are the same for every family: Bedrock adds
//! `"amazon-bedrock-guardrailAction"` (`"INTERVENED"` or `"NONE"`) and, when
//! the trace is on, `"amazon-bedrock-trace": {"guardrail": {...}}` to the
//! family's own body or chunk. [`decode_guardrail`] reads them from a body,
//! and [`decode_chunk`] yields them as a [`ChunkEvent::Guardrail`].
//!
//! Unset parameters are left out of the body rather than sent as 0, so the
//! model's own default applies. A parameter the caller also sets through
//! `additional_model_request_fields` takes the caller's value.

mod anthropic;
mod llama;
mod mistral;
mod titan;

pub use crate::model::Family;
use crate::domain::{GenerationRequest, StopReason};
use crate::error::{ErrorKind, GatewayError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The native InvokeModel body for `request`.
pub fn encode(family: Family, request: &GenerationRequest) -> Result<Vec<u8>, GatewayError> {
    let body = match family {
        Family::Titan => titan::encode(request),
        Family::Anthropic => anthropic::encode(request),
        Family::Llama => llama::encode(request),
        Family::Mistral => mistral::encode(request),
    };
    serde_json::to_vec(&Value::Object(body)).map_err(|e| {
        GatewayError::new(
            ErrorKind::Internal,
            format!(
                "could not serialise the {} request body: {e}",
                family.name()
            ),
        )
    })
}

/// A decoded InvokeModel response.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The generated text.
    pub text: String,
    /// The stop reason as the model spelled it; empty if the body had none.
    pub raw_stop_reason: String,
    /// The stop reason, mapped by [`stop_reason`].
    pub stop_reason: StopReason,
    /// Prompt tokens, when the body reports them.
    pub input_tokens: Option<u32>,
    /// Generated tokens, when the body reports them.
    pub output_tokens: Option<u32>,
}

/// Reads an InvokeModel response body. A body that is not the family's shape
/// is INTERNAL, with an excerpt of the body in the message.
pub fn decode(family: Family, body: &[u8]) -> Result<Decoded, GatewayError> {
    match family {
        Family::Titan => titan::decode(body),
        Family::Anthropic => anthropic::decode(body),
        Family::Llama => llama::decode(body),
        Family::Mistral => mistral::decode(body),
    }
}

/// Maps a family's native stop reason. Every known reason gets its own
/// variant; anything else is [`StopReason::Other`] and the caller keeps the
/// raw string.
pub fn stop_reason(family: Family, raw: &str) -> StopReason {
    match family {
        Family::Titan => titan::stop_reason(raw),
        Family::Anthropic => anthropic::stop_reason(raw),
        Family::Llama => llama::stop_reason(raw),
        Family::Mistral => mistral::stop_reason(raw),
    }
}

/// Maps a Converse `stopReason`; unknown values are [`StopReason::Other`].
pub fn converse_stop_reason(raw: &str) -> StopReason {
    match raw {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" => StopReason::GuardrailIntervened,
        "content_filtered" => StopReason::ContentFiltered,
        "malformed_model_output" => StopReason::MalformedModelOutput,
        "malformed_tool_use" => StopReason::MalformedToolUse,
        "model_context_window_exceeded" => StopReason::ModelContextWindowExceeded,
        _ => StopReason::Other,
    }
}

/// What one InvokeModelWithResponseStream chunk says.
///
/// A [`ChunkEvent::Stop`] does not end the stream: usage often arrives after
/// it, in the same chunk or a later one.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkEvent {
    /// The next piece of text; never empty.
    Delta(String),
    /// Why generation stopped.
    Stop {
        /// The reason as the model spelled it.
        raw: String,
        /// The reason, mapped by [`stop_reason`].
        reason: StopReason,
    },
    /// Token counts. Counts are running totals: a later `Some` replaces an
    /// earlier one, field by field. When a chunk carries Bedrock's
    /// `amazon-bedrock-invocationMetrics`, its counts win, as they are what
    /// Bedrock bills.
    Usage {
        /// Prompt tokens, if this chunk reports them.
        input_tokens: Option<u32>,
        /// Generated tokens so far, if this chunk reports them.
        output_tokens: Option<u32>,
    },
    /// Bedrock's guardrail reported its action or its trace.
    Guardrail(Guardrail),
}

/// What Bedrock's guardrail did, as it adds it to a native body or chunk.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Guardrail {
    /// `amazon-bedrock-guardrailAction` was `INTERVENED`.
    pub intervened: bool,
    /// The `guardrail` member of `amazon-bedrock-trace`, as Bedrock wrote it.
    pub trace: Option<Value>,
}

/// The guardrail members Bedrock adds to a native body.
#[derive(Deserialize)]
struct GuardrailFields {
    #[serde(rename = "amazon-bedrock-guardrailAction")]
    action: Option<String>,
    #[serde(rename = "amazon-bedrock-trace")]
    trace: Option<TraceFields>,
}

#[derive(Deserialize)]
struct TraceFields {
    guardrail: Option<Value>,
}

impl From<GuardrailFields> for Guardrail {
    fn from(f: GuardrailFields) -> Self {
        Guardrail {
            intervened: f.action.as_deref() == Some("INTERVENED"),
            trace: f.trace.and_then(|t| t.guardrail).filter(|g| !g.is_null()),
        }
    }
}

/// Reads the guardrail's action and trace from an InvokeModel body of any
/// family (a second, shallow read of the body: the backend asks for it only
/// when the request carries a guardrail).
pub fn decode_guardrail(family: Family, body: &[u8]) -> Result<Guardrail, GatewayError> {
    parse::<GuardrailFields>(family, "response", body).map(Guardrail::from)
}

/// Reads the JSON payload of one stream chunk, in order: text, then stop,
/// then usage, then the guardrail's action and trace when Bedrock added
/// them. A chunk that is not JSON, or has a field of the wrong type, is
/// INTERNAL with an excerpt; unknown fields and event types are ignored.
pub fn decode_chunk(family: Family, chunk: &[u8]) -> Result<Vec<ChunkEvent>, GatewayError> {
    let value: Value = parse(family, "stream chunk", chunk)?;
    let events = match family {
        Family::Titan => titan::chunk(&value),
        Family::Anthropic => anthropic::chunk(&value),
        Family::Llama => llama::chunk(&value),
        Family::Mistral => mistral::chunk(&value),
    };
    let mut events = events.map_err(|e| malformed(family, "stream chunk", &e, chunk))?;
    if let Some(metrics) = value.get("amazon-bedrock-invocationMetrics") {
        let m = InvocationMetrics::deserialize(metrics)
            .map_err(|e| malformed(family, "stream chunk", &e, chunk))?;
        merge_usage(&mut events, m.input_token_count, m.output_token_count);
    }
    if value.get("amazon-bedrock-guardrailAction").is_some()
        || value.get("amazon-bedrock-trace").is_some()
    {
        let g = GuardrailFields::deserialize(&value)
            .map_err(|e| malformed(family, "stream chunk", &e, chunk))?;
        events.push(ChunkEvent::Guardrail(g.into()));
    }
    Ok(events)
}

/// Bedrock's own counts, appended to the last chunk of every stream.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvocationMetrics {
    input_token_count: Option<u32>,
    output_token_count: Option<u32>,
}

/// Folds counts into the chunk's Usage event (theirs win), so a chunk yields
/// at most one Usage.
fn merge_usage(events: &mut Vec<ChunkEvent>, input: Option<u32>, output: Option<u32>) {
    if input.is_none() && output.is_none() {
        return;
    }
    for e in events.iter_mut() {
        if let ChunkEvent::Usage {
            input_tokens,
            output_tokens,
        } = e
        {
            *input_tokens = input.or(*input_tokens);
            *output_tokens = output.or(*output_tokens);
            return;
        }
    }
    events.push(ChunkEvent::Usage {
        input_tokens: input,
        output_tokens: output,
    });
}

/// Shared chunk tail: a non-empty delta, a non-null stop, and usage.
fn chunk_events(
    family: Family,
    text: Option<String>,
    raw_stop: Option<String>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
) -> Vec<ChunkEvent> {
    let mut events = Vec::new();
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        events.push(ChunkEvent::Delta(t));
    }
    if let Some(raw) = raw_stop {
        events.push(ChunkEvent::Stop {
            reason: stop_reason(family, &raw),
            raw,
        });
    }
    merge_usage(&mut events, input_tokens, output_tokens);
    events
}

/// `Decoded` from a body's parts; a missing stop reason becomes `""`/Other.
fn decoded(
    family: Family,
    text: String,
    raw_stop: Option<String>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
) -> Decoded {
    let raw_stop_reason = raw_stop.unwrap_or_default();
    Decoded {
        text,
        stop_reason: stop_reason(family, &raw_stop_reason),
        raw_stop_reason,
        input_tokens,
        output_tokens,
    }
}

/// Parses `body` as `T`, or INTERNAL naming what was wrong.
fn parse<T: DeserializeOwned>(family: Family, what: &str, body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| malformed(family, what, &e, body))
}

/// The most of an upstream body an error message quotes.
const EXCERPT_BYTES: usize = 200;

/// INTERNAL for an upstream body the gateway cannot read. The excerpt lets an
/// operator see what Bedrock actually sent without logging whole answers.
fn malformed(
    family: Family,
    what: &str,
    problem: &dyn std::fmt::Display,
    body: &[u8],
) -> GatewayError {
    GatewayError::new(
        ErrorKind::Internal,
        format!(
            "Bedrock returned a {} {what} the gateway cannot read ({problem}); {}",
            family.name(),
            excerpt(body)
        ),
    )
}

/// At most [`EXCERPT_BYTES`] bytes of `body`, cut on a character boundary.
fn excerpt(body: &[u8]) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    let mut end = head.len().min(EXCERPT_BYTES);
    while !head.is_char_boundary(end) {
        end -= 1;
    }
    if body.len() > EXCERPT_BYTES {
        format!("body starts: {}", &head[..end])
    } else {
        format!("body: {}", &head[..end])
    }
}

/// A JSON number for a parameter. Goes through the f32's shortest decimal
/// form so 0.7 is sent as 0.7, not as its widened 0.699999988079071.
fn number(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Inserts `value` under `key` unless it is `None`.
fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), v);
    }
}

/// The caller's `additional_model_request_fields` (validation has already
/// taken the simulation controls out).
fn extra_fields(request: &GenerationRequest) -> impl Iterator<Item = (&String, &Value)> {
    request
        .additional_model_request_fields
        .as_ref()
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// Merges the extra fields into the body's top level; the caller's keys win.
fn merge_extra(body: &mut Map<String, Value>, request: &GenerationRequest) {
    for (k, v) in extra_fields(request) {
        body.insert(k.clone(), v.clone());
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Request builders shared by the family tests.

    use crate::domain::{BedrockApi, GenerationRequest, Message, Parameters, Role};

    /// A single-prompt request with no parameters set.
    pub(crate) fn prompt(model_id: &str, text: &str) -> GenerationRequest {
        GenerationRequest {
            target: crate::model::test_target(model_id),
            from_prompt: true,
            messages: vec![Message::text(Role::User, text)],
            system: None,
            parameters: Parameters::default(),
            additional_model_request_fields: None,
            simulation: None,
            api: BedrockApi::InvokeModel,
            tool_config: None,
            output_schema: None,
            options: None,
        }
    }

    /// A three-turn conversation: user, assistant, user.
    pub(crate) fn conversation(model_id: &str) -> GenerationRequest {
        let turn = |role, content: &str| Message::text(role, content);
        GenerationRequest {
            from_prompt: false,
            messages: vec![
                turn(Role::User, "Hi"),
                turn(Role::Assistant, "Hello!"),
                turn(Role::User, "Name a colour."),
            ],
            ..prompt(model_id, "")
        }
    }

    /// The JSON of an encoded body.
    pub(crate) fn json(bytes: Vec<u8>) -> serde_json::Value {
        serde_json::from_slice(&bytes).expect("encode produced JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converse_stop_reasons_stay_distinct() {
        let cases = [
            ("end_turn", StopReason::EndTurn),
            ("tool_use", StopReason::ToolUse),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence),
            ("guardrail_intervened", StopReason::GuardrailIntervened),
            ("content_filtered", StopReason::ContentFiltered),
            ("malformed_model_output", StopReason::MalformedModelOutput),
            ("malformed_tool_use", StopReason::MalformedToolUse),
            (
                "model_context_window_exceeded",
                StopReason::ModelContextWindowExceeded,
            ),
            ("something_new", StopReason::Other),
            ("END_TURN", StopReason::Other),
        ];
        for (raw, want) in cases {
            assert_eq!(converse_stop_reason(raw), want, "{raw}");
        }
    }

    #[test]
    fn guardrail_action_and_trace_are_read_the_same_for_every_family() {
        let body = br#"{"generation":"Sorry.","stop_reason":"stop",
            "amazon-bedrock-guardrailAction":"INTERVENED",
            "amazon-bedrock-trace":{"guardrail":{"input":{"gr1":{"topicPolicy":{"topics":[]}}}}}}"#;
        for family in Family::ALL {
            let g = decode_guardrail(family, body).unwrap();
            assert!(g.intervened, "{family:?}");
            assert_eq!(
                g.trace,
                Some(json!({"input": {"gr1": {"topicPolicy": {"topics": []}}}}))
            );
        }
        let none = br#"{"generation":"x","amazon-bedrock-guardrailAction":"NONE"}"#;
        let none = decode_guardrail(Family::Llama, none).unwrap();
        assert_eq!(none, Guardrail::default());
        let chunk = br#"{"type":"message_stop","amazon-bedrock-guardrailAction":"INTERVENED"}"#;
        let events = decode_chunk(Family::Anthropic, chunk).unwrap();
        assert_eq!(
            events.last(),
            Some(&ChunkEvent::Guardrail(Guardrail { intervened: true, trace: None }))
        );
        let plain = decode_chunk(Family::Anthropic, br#"{"type":"message_stop"}"#).unwrap();
        assert!(!plain.iter().any(|e| matches!(e, ChunkEvent::Guardrail(_))));
    }

    #[test]
    fn parameters_keep_their_short_decimal_form() {
        assert_eq!(serde_json::to_string(&number(0.7)).unwrap(), "0.7");
        assert_eq!(serde_json::to_string(&number(1.0)).unwrap(), "1.0");
        assert_eq!(serde_json::to_string(&number(0.0)).unwrap(), "0.0");
    }

    #[test]
    fn caller_keys_win() {
        let mut r = test_support::prompt("anthropic.claude-3-haiku-20240307-v1:0", "Hi");
        r.additional_model_request_fields = Some(json!({
            "top_k": 5,
            "anthropic_version": "bedrock-2099-01-01",
        }));
        let body = test_support::json(encode(Family::Anthropic, &r).unwrap());
        assert_eq!(body["top_k"], 5);
        assert_eq!(body["anthropic_version"], "bedrock-2099-01-01");
    }

    #[test]
    fn invocation_metrics_are_the_authoritative_usage_in_every_family() {
        let metrics = r#""amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":42,"invocationLatency":900,"firstByteLatency":300}"#;
        let chunks = [
            (
                Family::Titan,
                format!(
                    r#"{{"outputText":"","index":0,"totalOutputTextTokenCount":41,"completionReason":"FINISH","inputTextTokenCount":null,{metrics}}}"#
                ),
            ),
            (
                Family::Anthropic,
                format!(r#"{{"type":"message_stop",{metrics}}}"#),
            ),
            (
                Family::Llama,
                format!(
                    r#"{{"generation":"","prompt_token_count":null,"generation_token_count":41,"stop_reason":"stop",{metrics}}}"#
                ),
            ),
            (
                Family::Mistral,
                format!(r#"{{"outputs":[{{"text":"","stop_reason":"stop"}}],{metrics}}}"#),
            ),
        ];
        for (family, chunk) in chunks {
            let events = decode_chunk(family, chunk.as_bytes()).unwrap();
            let usage: Vec<_> = events
                .iter()
                .filter(|e| matches!(e, ChunkEvent::Usage { .. }))
                .collect();
            assert_eq!(
                usage,
                [&ChunkEvent::Usage {
                    input_tokens: Some(7),
                    output_tokens: Some(42)
                }],
                "{family:?}: {events:?}"
            );
        }
    }

    #[test]
    fn a_chunk_that_is_not_json_is_internal_with_an_excerpt() {
        for family in Family::ALL {
            let err = decode_chunk(family, b"<html>Bad gateway</html>").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Internal);
            assert!(
                err.message().contains("<html>Bad gateway</html>"),
                "{}",
                err.message()
            );
            assert!(err.message().contains(family.name()), "{}", err.message());
        }
    }

    #[test]
    fn a_wrongly_typed_chunk_field_is_internal() {
        let err = decode_chunk(Family::Llama, br#"{"generation":17}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.message().contains(r#"{"generation":17}"#),
            "{}",
            err.message()
        );
    }

    #[test]
    fn excerpts_are_short_and_cut_on_character_boundaries() {
        let body = "é".repeat(500);
        let err = decode(Family::Titan, body.as_bytes()).unwrap_err();
        let quoted = err.message().split("body starts: ").nth(1).unwrap();
        assert!(quoted.len() <= EXCERPT_BYTES, "{}", quoted.len());
        assert!(quoted.len() >= EXCERPT_BYTES - 1);
        assert!(quoted.chars().all(|c| c == 'é'));
    }
}
