//! Guardrails between the domain and the AWS SDK: the request's guardrail as
//! Converse's `guardrailConfig` (ConverseStream's stream configuration, and
//! InvokeModel's `trace` parameter), and Bedrock's guardrail trace back as
//! JSON in Bedrock's own wire shape.
//!
//! The SDK's trace types are not serde, so [`trace`] writes every member of
//! `GuardrailTraceAssessment` and `GuardrailAssessment` by hand, with
//! botocore's camelCase member names and enum spellings, leaving out members
//! Bedrock left out: topic, content, word, sensitive-information,
//! contextual-grounding and automated-reasoning policies (every finding
//! kind, fully), invocation metrics (latency, usage, coverage) and the
//! applied guardrail's details. A member a newer SDK adds is not written
//! until it is added here.

use crate::domain::{GuardrailConfig, GuardrailStreamMode, GuardrailTrace};
use aws_sdk_bedrockruntime::types as sdk;
use serde_json::{Map, Value};
use std::collections::HashMap;

fn trace_mode(t: GuardrailTrace) -> sdk::GuardrailTrace {
    match t {
        GuardrailTrace::Disabled => sdk::GuardrailTrace::Disabled,
        GuardrailTrace::Enabled => sdk::GuardrailTrace::Enabled,
        GuardrailTrace::EnabledFull => sdk::GuardrailTrace::EnabledFull,
    }
}

/// InvokeModel's `trace` parameter (`X-Amzn-Bedrock-Trace`).
pub(super) fn invoke_trace(t: GuardrailTrace) -> sdk::Trace {
    match t {
        GuardrailTrace::Disabled => sdk::Trace::Disabled,
        GuardrailTrace::Enabled => sdk::Trace::Enabled,
        GuardrailTrace::EnabledFull => sdk::Trace::EnabledFull,
    }
}

/// Converse's `guardrailConfig`. The trace mode is always sent (disabled
/// when not asked for, as Bedrock's own default).
pub(super) fn converse_config(g: &GuardrailConfig) -> sdk::GuardrailConfiguration {
    sdk::GuardrailConfiguration::builder()
        .guardrail_identifier(g.identifier.clone())
        .guardrail_version(g.version.clone())
        .trace(trace_mode(g.trace))
        .build()
}

/// ConverseStream's `guardrailConfig`, with its processing mode: sync,
/// Bedrock's default, unless the caller asked for async (the SDK's shape
/// requires the member, so the default is written out).
pub(super) fn stream_config(g: &GuardrailConfig) -> sdk::GuardrailStreamConfiguration {
    sdk::GuardrailStreamConfiguration::builder()
        .guardrail_identifier(g.identifier.clone())
        .guardrail_version(g.version.clone())
        .trace(trace_mode(g.trace))
        .stream_processing_mode(match g.stream_mode.unwrap_or(GuardrailStreamMode::Sync) {
            GuardrailStreamMode::Sync => sdk::GuardrailStreamProcessingMode::Sync,
            GuardrailStreamMode::Async => sdk::GuardrailStreamProcessingMode::Async,
        })
        .build()
}

/// A JSON object written member by member; `None` members are left out, as
/// Bedrock leaves them out of its own JSON.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Self {
        Obj(Map::new())
    }

    fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn list<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().map(f).collect())
}

fn opt_list<T>(items: Option<&Vec<T>>, f: impl Fn(&T) -> Value) -> Option<Value> {
    items.map(|items| list(items, f))
}

/// A JSON number for a score or threshold (a non-finite one, which JSON
/// cannot hold, becomes null).
fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// `trace.guardrail` as Bedrock's JSON: `modelOutput`, `inputAssessment`
/// (guardrail ID → assessment), `outputAssessments` (guardrail ID → list of
/// assessments) and `actionReason`.
pub(super) fn trace(t: &sdk::GuardrailTraceAssessment) -> Value {
    Obj::new()
        .opt("modelOutput", t.model_output.clone())
        .opt(
            "inputAssessment",
            t.input_assessment.as_ref().map(|m| by_id(m, assessment)),
        )
        .opt(
            "outputAssessments",
            t.output_assessments
                .as_ref()
                .map(|m| by_id(m, |list_of| list(list_of, assessment))),
        )
        .opt("actionReason", t.action_reason.clone())
        .done()
}

/// A map keyed by guardrail ID, its keys sorted so the JSON is stable.
fn by_id<T>(m: &HashMap<String, T>, f: impl Fn(&T) -> Value) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(keys.into_iter().map(|k| (k.clone(), f(&m[k]))).collect())
}

fn assessment(a: &sdk::GuardrailAssessment) -> Value {
    Obj::new()
        .opt("topicPolicy", a.topic_policy.as_ref().map(topic_policy))
        .opt(
            "contentPolicy",
            a.content_policy.as_ref().map(content_policy),
        )
        .opt("wordPolicy", a.word_policy.as_ref().map(word_policy))
        .opt(
            "sensitiveInformationPolicy",
            a.sensitive_information_policy
                .as_ref()
                .map(sensitive_information_policy),
        )
        .opt(
            "contextualGroundingPolicy",
            a.contextual_grounding_policy
                .as_ref()
                .map(contextual_grounding_policy),
        )
        .opt(
            "automatedReasoningPolicy",
            a.automated_reasoning_policy
                .as_ref()
                .map(automated_reasoning_policy),
        )
        .opt(
            "invocationMetrics",
            a.invocation_metrics.as_ref().map(invocation_metrics),
        )
        .opt(
            "appliedGuardrailDetails",
            a.applied_guardrail_details.as_ref().map(applied_details),
        )
        .done()
}

fn topic_policy(p: &sdk::GuardrailTopicPolicyAssessment) -> Value {
    Obj::new()
        .put(
            "topics",
            list(&p.topics, |t| {
                Obj::new()
                    .put("name", t.name.clone())
                    .put("type", t.r#type.as_str())
                    .put("action", t.action.as_str())
                    .opt("detected", t.detected)
                    .done()
            }),
        )
        .done()
}

fn content_policy(p: &sdk::GuardrailContentPolicyAssessment) -> Value {
    Obj::new()
        .put(
            "filters",
            list(&p.filters, |f| {
                Obj::new()
                    .put("type", f.r#type.as_str())
                    .put("confidence", f.confidence.as_str())
                    .opt(
                        "filterStrength",
                        f.filter_strength.as_ref().map(|s| s.as_str()),
                    )
                    .put("action", f.action.as_str())
                    .opt("detected", f.detected)
                    .done()
            }),
        )
        .done()
}

fn word_policy(p: &sdk::GuardrailWordPolicyAssessment) -> Value {
    Obj::new()
        .put(
            "customWords",
            list(&p.custom_words, |w| {
                Obj::new()
                    .put("match", w.r#match.clone())
                    .put("action", w.action.as_str())
                    .opt("detected", w.detected)
                    .done()
            }),
        )
        .put(
            "managedWordLists",
            list(&p.managed_word_lists, |w| {
                Obj::new()
                    .put("match", w.r#match.clone())
                    .put("type", w.r#type.as_str())
                    .put("action", w.action.as_str())
                    .opt("detected", w.detected)
                    .done()
            }),
        )
        .done()
}

fn sensitive_information_policy(p: &sdk::GuardrailSensitiveInformationPolicyAssessment) -> Value {
    Obj::new()
        .put(
            "piiEntities",
            list(&p.pii_entities, |e| {
                Obj::new()
                    .put("match", e.r#match.clone())
                    .put("type", e.r#type.as_str())
                    .put("action", e.action.as_str())
                    .opt("detected", e.detected)
                    .done()
            }),
        )
        .put(
            "regexes",
            list(&p.regexes, |r| {
                Obj::new()
                    .opt("name", r.name.clone())
                    .opt("match", r.r#match.clone())
                    .opt("regex", r.regex.clone())
                    .put("action", r.action.as_str())
                    .opt("detected", r.detected)
                    .done()
            }),
        )
        .done()
}

fn contextual_grounding_policy(p: &sdk::GuardrailContextualGroundingPolicyAssessment) -> Value {
    Obj::new()
        .opt(
            "filters",
            opt_list(p.filters.as_ref(), |f| {
                Obj::new()
                    .put("type", f.r#type.as_str())
                    .put("threshold", float(f.threshold))
                    .put("score", float(f.score))
                    .put("action", f.action.as_str())
                    .opt("detected", f.detected)
                    .done()
            }),
        )
        .done()
}

fn invocation_metrics(m: &sdk::GuardrailInvocationMetrics) -> Value {
    Obj::new()
        .opt("guardrailProcessingLatency", m.guardrail_processing_latency)
        .opt("usage", m.usage.as_ref().map(guardrail_usage))
        .opt(
            "guardrailCoverage",
            m.guardrail_coverage.as_ref().map(coverage),
        )
        .done()
}

fn guardrail_usage(u: &sdk::GuardrailUsage) -> Value {
    Obj::new()
        .put("topicPolicyUnits", u.topic_policy_units)
        .put("contentPolicyUnits", u.content_policy_units)
        .put("wordPolicyUnits", u.word_policy_units)
        .put(
            "sensitiveInformationPolicyUnits",
            u.sensitive_information_policy_units,
        )
        .put(
            "sensitiveInformationPolicyFreeUnits",
            u.sensitive_information_policy_free_units,
        )
        .put(
            "contextualGroundingPolicyUnits",
            u.contextual_grounding_policy_units,
        )
        .opt("contentPolicyImageUnits", u.content_policy_image_units)
        .opt(
            "automatedReasoningPolicyUnits",
            u.automated_reasoning_policy_units,
        )
        .opt("automatedReasoningPolicies", u.automated_reasoning_policies)
        .done()
}

fn coverage(c: &sdk::GuardrailCoverage) -> Value {
    let counts = |guarded: Option<i32>, total: Option<i32>| {
        Obj::new()
            .opt("guarded", guarded)
            .opt("total", total)
            .done()
    };
    Obj::new()
        .opt(
            "textCharacters",
            c.text_characters
                .as_ref()
                .map(|t| counts(t.guarded, t.total)),
        )
        .opt(
            "images",
            c.images.as_ref().map(|i| counts(i.guarded, i.total)),
        )
        .done()
}

fn applied_details(d: &sdk::AppliedGuardrailDetails) -> Value {
    Obj::new()
        .opt("guardrailId", d.guardrail_id.clone())
        .opt("guardrailVersion", d.guardrail_version.clone())
        .opt("guardrailArn", d.guardrail_arn.clone())
        .opt(
            "guardrailOrigin",
            opt_list(d.guardrail_origin.as_ref(), |o| Value::from(o.as_str())),
        )
        .opt(
            "guardrailOwnership",
            d.guardrail_ownership.as_ref().map(|o| o.as_str()),
        )
        .done()
}

fn automated_reasoning_policy(p: &sdk::GuardrailAutomatedReasoningPolicyAssessment) -> Value {
    Obj::new()
        .opt("findings", opt_list(p.findings.as_ref(), finding))
        .done()
}

/// One automated-reasoning finding: a union, written as Bedrock writes it,
/// an object with the one member that is set.
fn finding(f: &sdk::GuardrailAutomatedReasoningFinding) -> Value {
    use sdk::GuardrailAutomatedReasoningFinding as F;
    let (kind, body) = match f {
        F::Valid(v) => (
            "valid",
            Obj::new()
                .opt("translation", v.translation.as_ref().map(translation))
                .opt(
                    "claimsTrueScenario",
                    v.claims_true_scenario.as_ref().map(scenario),
                )
                .opt(
                    "supportingRules",
                    opt_list(v.supporting_rules.as_ref(), rule),
                )
                .opt("logicWarning", v.logic_warning.as_ref().map(logic_warning))
                .done(),
        ),
        F::Invalid(v) => (
            "invalid",
            Obj::new()
                .opt("translation", v.translation.as_ref().map(translation))
                .opt(
                    "contradictingRules",
                    opt_list(v.contradicting_rules.as_ref(), rule),
                )
                .opt("logicWarning", v.logic_warning.as_ref().map(logic_warning))
                .done(),
        ),
        F::Satisfiable(v) => (
            "satisfiable",
            Obj::new()
                .opt("translation", v.translation.as_ref().map(translation))
                .opt(
                    "claimsTrueScenario",
                    v.claims_true_scenario.as_ref().map(scenario),
                )
                .opt(
                    "claimsFalseScenario",
                    v.claims_false_scenario.as_ref().map(scenario),
                )
                .opt("logicWarning", v.logic_warning.as_ref().map(logic_warning))
                .done(),
        ),
        F::Impossible(v) => (
            "impossible",
            Obj::new()
                .opt("translation", v.translation.as_ref().map(translation))
                .opt(
                    "contradictingRules",
                    opt_list(v.contradicting_rules.as_ref(), rule),
                )
                .opt("logicWarning", v.logic_warning.as_ref().map(logic_warning))
                .done(),
        ),
        F::TranslationAmbiguous(v) => (
            "translationAmbiguous",
            Obj::new()
                .opt(
                    "options",
                    opt_list(v.options.as_ref(), |o| {
                        Obj::new()
                            .opt(
                                "translations",
                                opt_list(o.translations.as_ref(), translation),
                            )
                            .done()
                    }),
                )
                .opt(
                    "differenceScenarios",
                    opt_list(v.difference_scenarios.as_ref(), scenario),
                )
                .done(),
        ),
        F::TooComplex(_) => ("tooComplex", Obj::new().done()),
        F::NoTranslations(_) => ("noTranslations", Obj::new().done()),
        // A finding kind newer than this SDK: the SDK keeps nothing of it.
        _ => ("unknown", Obj::new().done()),
    };
    Obj::new().put(kind, body).done()
}

fn translation(t: &sdk::GuardrailAutomatedReasoningTranslation) -> Value {
    let references = |refs: Option<&Vec<sdk::GuardrailAutomatedReasoningInputTextReference>>| {
        opt_list(refs, |r| Obj::new().opt("text", r.text.clone()).done())
    };
    Obj::new()
        .opt("premises", opt_list(t.premises.as_ref(), statement))
        .opt("claims", opt_list(t.claims.as_ref(), statement))
        .opt(
            "untranslatedPremises",
            references(t.untranslated_premises.as_ref()),
        )
        .opt(
            "untranslatedClaims",
            references(t.untranslated_claims.as_ref()),
        )
        .opt("confidence", t.confidence.map(float))
        .done()
}

fn statement(s: &sdk::GuardrailAutomatedReasoningStatement) -> Value {
    Obj::new()
        .opt("logic", s.logic.clone())
        .opt("naturalLanguage", s.natural_language.clone())
        .done()
}

fn scenario(s: &sdk::GuardrailAutomatedReasoningScenario) -> Value {
    Obj::new()
        .opt("statements", opt_list(s.statements.as_ref(), statement))
        .done()
}

fn rule(r: &sdk::GuardrailAutomatedReasoningRule) -> Value {
    Obj::new()
        .opt("identifier", r.identifier.clone())
        .opt("policyVersionArn", r.policy_version_arn.clone())
        .done()
}

fn logic_warning(w: &sdk::GuardrailAutomatedReasoningLogicWarning) -> Value {
    Obj::new()
        .opt("type", w.r#type.as_ref().map(|t| t.as_str()))
        .opt("premises", opt_list(w.premises.as_ref(), statement))
        .opt("claims", opt_list(w.claims.as_ref(), statement))
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topic_assessment() -> sdk::GuardrailAssessment {
        sdk::GuardrailAssessment::builder()
            .topic_policy(
                sdk::GuardrailTopicPolicyAssessment::builder()
                    .topics(
                        sdk::GuardrailTopic::builder()
                            .name("Investment advice")
                            .r#type(sdk::GuardrailTopicType::Deny)
                            .action(sdk::GuardrailTopicPolicyAction::Blocked)
                            .detected(true)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .content_policy(
                sdk::GuardrailContentPolicyAssessment::builder()
                    .filters(
                        sdk::GuardrailContentFilter::builder()
                            .r#type(sdk::GuardrailContentFilterType::Violence)
                            .confidence(sdk::GuardrailContentFilterConfidence::High)
                            .filter_strength(sdk::GuardrailContentFilterStrength::Medium)
                            .action(sdk::GuardrailContentPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .word_policy(
                sdk::GuardrailWordPolicyAssessment::builder()
                    .custom_words(
                        sdk::GuardrailCustomWord::builder()
                            .r#match("stonks")
                            .action(sdk::GuardrailWordPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .managed_word_lists(
                        sdk::GuardrailManagedWord::builder()
                            .r#match("darn")
                            .r#type(sdk::GuardrailManagedWordType::Profanity)
                            .action(sdk::GuardrailWordPolicyAction::None)
                            .detected(false)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .sensitive_information_policy(
                sdk::GuardrailSensitiveInformationPolicyAssessment::builder()
                    .pii_entities(
                        sdk::GuardrailPiiEntityFilter::builder()
                            .r#match("a@b.c")
                            .r#type(sdk::GuardrailPiiEntityType::Email)
                            .action(sdk::GuardrailSensitiveInformationPolicyAction::Anonymized)
                            .build()
                            .unwrap(),
                    )
                    .regexes(
                        sdk::GuardrailRegexFilter::builder()
                            .name("account")
                            .regex("ACC-[0-9]+")
                            .action(sdk::GuardrailSensitiveInformationPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .contextual_grounding_policy(
                sdk::GuardrailContextualGroundingPolicyAssessment::builder()
                    .filters(
                        sdk::GuardrailContextualGroundingFilter::builder()
                            .r#type(sdk::GuardrailContextualGroundingFilterType::Grounding)
                            .threshold(0.5)
                            .score(0.25)
                            .action(sdk::GuardrailContextualGroundingPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .automated_reasoning_policy(
                sdk::GuardrailAutomatedReasoningPolicyAssessment::builder()
                    .findings(sdk::GuardrailAutomatedReasoningFinding::Invalid(
                        sdk::GuardrailAutomatedReasoningInvalidFinding::builder()
                            .translation(
                                sdk::GuardrailAutomatedReasoningTranslation::builder()
                                    .claims(
                                        sdk::GuardrailAutomatedReasoningStatement::builder()
                                            .logic("(= x 1)")
                                            .natural_language("x is one")
                                            .build(),
                                    )
                                    .untranslated_premises(
                                        sdk::GuardrailAutomatedReasoningInputTextReference::builder()
                                            .text("maybe")
                                            .build(),
                                    )
                                    .confidence(1.0)
                                    .build(),
                            )
                            .contradicting_rules(
                                sdk::GuardrailAutomatedReasoningRule::builder()
                                    .identifier("R1")
                                    .policy_version_arn("arn:p/1")
                                    .build(),
                            )
                            .build(),
                    ))
                    .findings(sdk::GuardrailAutomatedReasoningFinding::TooComplex(
                        sdk::GuardrailAutomatedReasoningTooComplexFinding::builder().build(),
                    ))
                    .build(),
            )
            .invocation_metrics(
                sdk::GuardrailInvocationMetrics::builder()
                    .guardrail_processing_latency(120)
                    .usage(
                        sdk::GuardrailUsage::builder()
                            .topic_policy_units(1)
                            .content_policy_units(1)
                            .word_policy_units(1)
                            .sensitive_information_policy_units(1)
                            .sensitive_information_policy_free_units(0)
                            .contextual_grounding_policy_units(0)
                            .automated_reasoning_policies(1)
                            .build()
                            .unwrap(),
                    )
                    .guardrail_coverage(
                        sdk::GuardrailCoverage::builder()
                            .text_characters(
                                sdk::GuardrailTextCharactersCoverage::builder()
                                    .guarded(40)
                                    .total(40)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .applied_guardrail_details(
                sdk::AppliedGuardrailDetails::builder()
                    .guardrail_id("gr1")
                    .guardrail_version("1")
                    .guardrail_origin(sdk::GuardrailOrigin::Request)
                    .guardrail_ownership(sdk::GuardrailOwnership::SelfValue)
                    .build(),
            )
            .build()
    }

    #[test]
    fn the_trace_is_bedrocks_json_shape() {
        let t = sdk::GuardrailTraceAssessment::builder()
            .model_output("I can't help with that.")
            .input_assessment("gr1", topic_assessment())
            .output_assessments("gr1", vec![sdk::GuardrailAssessment::builder().build()])
            .action_reason("Guardrail blocked.")
            .build();
        let got = trace(&t);
        assert_eq!(
            got,
            json!({
                "modelOutput": ["I can't help with that."],
                "inputAssessment": {"gr1": {
                    "topicPolicy": {"topics": [
                        {"name": "Investment advice", "type": "DENY", "action": "BLOCKED", "detected": true}
                    ]},
                    "contentPolicy": {"filters": [
                        {"type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "MEDIUM", "action": "BLOCKED"}
                    ]},
                    "wordPolicy": {
                        "customWords": [{"match": "stonks", "action": "BLOCKED"}],
                        "managedWordLists": [
                            {"match": "darn", "type": "PROFANITY", "action": "NONE", "detected": false}
                        ]
                    },
                    "sensitiveInformationPolicy": {
                        "piiEntities": [{"match": "a@b.c", "type": "EMAIL", "action": "ANONYMIZED"}],
                        "regexes": [{"name": "account", "regex": "ACC-[0-9]+", "action": "BLOCKED"}]
                    },
                    "contextualGroundingPolicy": {"filters": [
                        {"type": "GROUNDING", "threshold": 0.5, "score": 0.25, "action": "BLOCKED"}
                    ]},
                    "automatedReasoningPolicy": {"findings": [
                        {"invalid": {
                            "translation": {
                                "claims": [{"logic": "(= x 1)", "naturalLanguage": "x is one"}],
                                "untranslatedPremises": [{"text": "maybe"}],
                                "confidence": 1.0
                            },
                            "contradictingRules": [{"identifier": "R1", "policyVersionArn": "arn:p/1"}]
                        }},
                        {"tooComplex": {}}
                    ]},
                    "invocationMetrics": {
                        "guardrailProcessingLatency": 120,
                        "usage": {
                            "topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                            "sensitiveInformationPolicyUnits": 1,
                            "sensitiveInformationPolicyFreeUnits": 0,
                            "contextualGroundingPolicyUnits": 0,
                            "automatedReasoningPolicies": 1
                        },
                        "guardrailCoverage": {"textCharacters": {"guarded": 40, "total": 40}}
                    },
                    "appliedGuardrailDetails": {
                        "guardrailId": "gr1", "guardrailVersion": "1",
                        "guardrailOrigin": ["REQUEST"], "guardrailOwnership": "SELF"
                    }
                }},
                "outputAssessments": {"gr1": [{}]},
                "actionReason": "Guardrail blocked."
            })
        );
    }

    #[test]
    fn configurations_carry_identifier_version_trace_and_mode() {
        let g = GuardrailConfig {
            identifier: "gr1".into(),
            version: "DRAFT".into(),
            trace: GuardrailTrace::EnabledFull,
            stream_mode: Some(GuardrailStreamMode::Async),
        };
        let c = converse_config(&g);
        assert_eq!(
            (
                c.guardrail_identifier.as_str(),
                c.guardrail_version.as_str()
            ),
            ("gr1", "DRAFT")
        );
        assert_eq!(c.trace, sdk::GuardrailTrace::EnabledFull);
        let s = stream_config(&g);
        assert_eq!(
            s.stream_processing_mode,
            sdk::GuardrailStreamProcessingMode::Async
        );
        assert_eq!(s.trace, sdk::GuardrailTrace::EnabledFull);
        assert_eq!(invoke_trace(GuardrailTrace::Enabled), sdk::Trace::Enabled);
    }
}
