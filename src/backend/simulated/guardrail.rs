//! The simulated guardrail.
//!
//! Every guardrail identifier and version is accepted and behaves alike: it
//! denies one topic, and intervenes on the input when the last user turn
//! contains [`MARKER`]. The model is then not invoked (no reasoning, no
//! tool call, no prompt-cache read or write): the answer is
//! [`BLOCKED_MESSAGE`], with stop reason `guardrail_intervened`.
//!
//! With the trace on, the completion carries Bedrock's
//! GuardrailTraceAssessment JSON (camelCase): an intervention reports the
//! denied topic under `inputAssessment.<identifier>.topicPolicy` and
//! `"actionReason": "Guardrail blocked."`; a call it lets through reports
//! an assessment without policies. Both carry `invocationMetrics` (a fixed
//! processing latency, one policy unit per 1,000 characters of the turns'
//! text, and those characters as guarded). `enabled_full` also lists the
//! content filter that did not match (`VIOLENCE`, `"detected": false`). The
//! stream mode (sync or async) changes nothing here.

use crate::domain::{GenerationRequest, GuardrailConfig, GuardrailTrace};
use serde_json::{json, Value};

/// The text in the last user turn that makes a configured guardrail
/// intervene.
pub(super) const MARKER: &str = "[[guardrail]]";

/// The answer when the guardrail intervenes (Bedrock's default blocked
/// message).
pub(super) const BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// The name of the simulated guardrail's denied topic.
pub(super) const DENIED_TOPIC: &str = "Simulated denied topic";

/// The processing latency the trace reports, in milliseconds.
const PROCESSING_LATENCY_MS: u64 = 5;

/// Whether the request's guardrail intervenes.
pub(super) fn intervenes(request: &GenerationRequest) -> bool {
    request.options().guardrail.is_some() && request.last_user_text().contains(MARKER)
}

/// The trace the completion carries, when the guardrail asks for one.
pub(super) fn trace(request: &GenerationRequest, intervened: bool) -> Option<Box<Value>> {
    let config: &GuardrailConfig = request.options().guardrail.as_ref()?;
    if config.trace == GuardrailTrace::Disabled {
        return None;
    }
    let characters: usize = request
        .messages
        .iter()
        .flat_map(|m| m.texts())
        .map(|t| t.chars().count())
        .sum();
    let units = characters.div_ceil(1000).max(1);
    let mut assessment = serde_json::Map::new();
    if intervened {
        assessment.insert(
            "topicPolicy".into(),
            json!({"topics": [{
                "name": DENIED_TOPIC,
                "type": "DENY",
                "action": "BLOCKED",
                "detected": true
            }]}),
        );
    }
    if config.trace == GuardrailTrace::EnabledFull {
        assessment.insert(
            "contentPolicy".into(),
            json!({"filters": [{
                "type": "VIOLENCE",
                "confidence": "NONE",
                "filterStrength": "HIGH",
                "action": "NONE",
                "detected": false
            }]}),
        );
    }
    assessment.insert(
        "invocationMetrics".into(),
        json!({
            "guardrailProcessingLatency": PROCESSING_LATENCY_MS,
            "usage": {
                "topicPolicyUnits": units,
                "contentPolicyUnits": units,
                "wordPolicyUnits": 0,
                "sensitiveInformationPolicyUnits": 0,
                "sensitiveInformationPolicyFreeUnits": 0,
                "contextualGroundingPolicyUnits": 0
            },
            "guardrailCoverage": {
                "textCharacters": {"guarded": characters, "total": characters}
            }
        }),
    );
    let mut trace = serde_json::Map::new();
    let mut input = serde_json::Map::new();
    input.insert(config.identifier.clone(), Value::Object(assessment));
    trace.insert("inputAssessment".into(), Value::Object(input));
    if intervened {
        trace.insert("actionReason".into(), json!("Guardrail blocked."));
    }
    Some(Box::new(Value::Object(trace)))
}
