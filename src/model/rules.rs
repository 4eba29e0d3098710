//! The rules that depend on the model, read from its [`Capabilities`] row:
//! the same for every backend, checked by validation before any call.
//!
//! Bedrock would refuse these requests too, but with one ValidationException
//! at a time and wording that names Bedrock's fields, not the caller's. Here
//! every broken rule is reported at once, against the gateway's field names,
//! with what to change. Only rules Bedrock is known to enforce are listed;
//! a model without a row of its own gets none of them.

use super::capabilities::{
    CacheTtl, Capabilities, SamplingRule, ServiceTier, StopSequenceRule, ToolChoiceMode,
};
use super::family::Family;
use super::target::Target;
use crate::error::FieldViolation;

/// The parts of a request the model rules read, already checked against the
/// general rules (ranges, non-empty strings).
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Whether the call uses the native InvokeModel API rather than Converse.
    pub native: bool,
    /// The system prompt, if any.
    pub system: Option<&'a str>,
    /// Temperature, if set.
    pub temperature: Option<f32>,
    /// Top-p, if set.
    pub top_p: Option<f32>,
    /// Maximum output tokens, if set.
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    pub stop_sequences: &'a [String],
    /// The field path of the request's first image, if it has one.
    pub image: Option<&'a str>,
    /// The field path of its first document, if any.
    pub document: Option<&'a str>,
    /// `tool_config`, or the first tool block's path, if the request uses tools.
    pub tools: Option<&'a str>,
    /// `output_schema`, if set.
    pub output_schema: Option<&'a str>,
    /// The tool-choice mode, when the request forces a tool (ANY or TOOL).
    pub tool_choice: Option<ToolChoiceMode>,
    /// The reasoning budget, when the request asks for extended thinking.
    pub reasoning: Option<u32>,
    /// The path of the first replayed reasoning block, if any.
    pub reasoning_block: Option<&'a str>,
    /// The path of the first cache point, if any.
    pub cache_point: Option<&'a str>,
    /// The path of the first 1-hour cache point, if any.
    pub one_hour_cache_point: Option<&'a str>,
    /// Whether a guardrail is set.
    pub guardrail: bool,
    /// The service tier asked for, if any.
    pub service_tier: Option<ServiceTier>,
    /// Whether latency-optimized inference is asked for.
    pub latency_optimized: bool,
}

/// Every rule `ask` breaks for `target`'s model, in field order.
pub fn check(target: &Target, ask: &Ask<'_>) -> Vec<FieldViolation> {
    let caps = target.capabilities();
    let mut v = Vec::new();
    if !target.model.outputs_text() {
        let outputs = target
            .model
            .info
            .as_ref()
            .map(|m| m.output_modalities.join(", "))
            .unwrap_or_default();
        v.push(FieldViolation::new(
            "model_id",
            format!(
                "must name a model that outputs TEXT; `{}` outputs {outputs}",
                target.requested
            ),
        ));
    }
    if ask.native && caps.native.is_none() {
        v.push(native_unsupported(target));
    }
    max_tokens(caps, ask, &mut v);
    stop_sequences(caps, ask, &mut v);
    sampling(caps, target, ask, &mut v);
    system(caps, ask, &mut v);
    features(caps, target, ask, &mut v);
    reasoning(caps, target, ask, &mut v);
    serving(caps, target, ask, &mut v);
    v
}

/// Extended thinking: only on a model that reasons, and, for Claude, with
/// the sampling it allows while thinking (temperature 1, no top_p).
fn reasoning(caps: &Capabilities, target: &Target, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    let model = &target.requested;
    let used = [(ask.reasoning.map(|_| "reasoning"), "a reasoning budget"), (ask.reasoning_block, "a reasoning block")];
    for (path, given) in used {
        if let (Some(path), false) = (path, caps.reasoning) {
            v.push(FieldViolation::new(
                path,
                format!(
                    "`{model}` ({}) does not support extended thinking, got {given}; remove it or use \
                     a model that reasons (Claude 3.7 Sonnet and later; the README's model table \
                     lists them)",
                    caps.name
                ),
            ));
        }
    }
    let Some(budget) = ask.reasoning.filter(|_| caps.reasoning && caps.native == Some(Family::Anthropic)) else {
        return;
    };
    if let Some(mode) = ask.tool_choice {
        v.push(FieldViolation::new(
            "tool_config.tool_choice.mode",
            format!(
                "{} cannot think while a tool is forced, got {} with a reasoning budget of \
                 {budget}; leave tool_choice unset (AUTO) or remove `reasoning`",
                caps.name,
                mode.contract_name()
            ),
        ));
    }
    if let Some(t) = ask.temperature.filter(|t| *t != 1.0) {
        v.push(FieldViolation::new(
            "parameters.temperature",
            format!(
                "{} takes no temperature other than 1 while thinking, got {t} with a reasoning budget \
                 of {budget}; unset temperature or set it to 1",
                caps.name
            ),
        ));
    }
    // (A model that takes temperature or top_p may have refused the pair
    // already; one violation of the field says enough.)
    if let Some(top_p) = ask.top_p.filter(|_| !v.iter().any(|x| x.field == "parameters.top_p")) {
        v.push(FieldViolation::new(
            "parameters.top_p",
            format!(
                "{} takes no top_p while thinking, got {top_p} with a reasoning budget of {budget}; \
                 unset top_p",
                caps.name
            ),
        ));
    }
}

/// How the call is served: prompt caching (and its 1-hour TTL), guardrails,
/// service tiers and latency-optimized inference, each only where the
/// model offers it.
fn serving(caps: &Capabilities, target: &Target, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    let model = &target.requested;
    let refuse = |path: &str, feature: &str, given: &str, v: &mut Vec<FieldViolation>| {
        v.push(FieldViolation::new(
            path,
            format!(
                "`{model}` ({}) does not offer {feature}, got {given}; remove it or use a model that \
                 does (the README's model table lists them)",
                caps.name
            ),
        ));
    };
    if let (Some(path), true) = (ask.cache_point, caps.prompt_caching.is_empty()) {
        refuse(path, "prompt caching", "a cache point", v);
    }
    if let Some(path) = ask
        .one_hour_cache_point
        .filter(|_| !caps.prompt_caching.is_empty() && !caps.prompt_caching.contains(&CacheTtl::OneHour))
    {
        v.push(FieldViolation::new(
            format!("{path}.ttl"),
            format!(
                "`{model}` ({}) caches prompts for 5 minutes only, got CACHE_TTL_1_HOUR; use \
                 CACHE_TTL_5_MINUTES (or leave it unset) or a model with the 1-hour cache",
                caps.name
            ),
        ));
    }
    if ask.guardrail && !caps.guardrails {
        refuse("guardrail", "guardrails", "a guardrail", v);
    }
    if let Some(tier) = ask.service_tier.filter(|t| !caps.service_tiers.contains(t)) {
        let offered: Vec<&str> = caps.service_tiers.iter().map(|t| t.contract_name()).collect();
        v.push(FieldViolation::new(
            "service_tier",
            format!(
                "`{model}` ({}) is served on {} only, got {}; leave service_tier unset or pick one \
                 of those",
                caps.name,
                offered.join(" or "),
                tier.contract_name()
            ),
        ));
    }
    if ask.latency_optimized && !caps.latency_optimized {
        refuse("latency", "latency-optimized inference", "LATENCY_OPTIMIZED", v);
    }
}

/// Images, documents, tools and structured output, each only for a model
/// that takes it. Images are the catalogue's word (its input modalities),
/// the rest the capability table's.
fn features(caps: &Capabilities, target: &Target, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    let model = &target.requested;
    if let Some(path) = ask.image.filter(|_| !target.model.accepts_images()) {
        let inputs = target
            .model
            .info
            .as_ref()
            .map(|m| m.input_modalities.join(", "))
            .unwrap_or_default();
        v.push(FieldViolation::new(
            path,
            format!(
                "`{model}` takes no images (its input modalities: {inputs}), got an image; use a \
                 model whose ListModels entry lists IMAGE input"
            ),
        ));
    }
    let refusals = [
        (ask.document, caps.document_input, "documents", "a document"),
        (ask.tools, caps.tool_use, "tool use", "tools"),
        (ask.output_schema, caps.structured_output, "structured output", "an output schema"),
    ];
    if let Some(mode) = ask.tool_choice.filter(|m| caps.tool_use && !caps.tool_choice.contains(m)) {
        let accepted: Vec<&str> = caps.tool_choice.iter().map(|m| m.contract_name()).collect();
        v.push(FieldViolation::new(
            "tool_config.tool_choice.mode",
            format!(
                "`{model}` ({}) accepts only {} as tool choice, got {}; leave it unset (AUTO) and \
                 ask for the tool in the prompt, or use a model that takes it",
                caps.name,
                accepted.join(" or "),
                mode.contract_name()
            ),
        ));
    }
    for (path, supported, feature, given) in refusals {
        if let (Some(path), false) = (path, supported) {
            v.push(FieldViolation::new(
                path,
                format!(
                    "`{model}` ({}) does not support {feature}, got {given}; remove it or use a model \
                     that does (the README's model table lists them)",
                    caps.name
                ),
            ));
        }
    }
}

fn native_unsupported(target: &Target) -> FieldViolation {
    let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
    FieldViolation::new(
        "api",
        format!(
            "native InvokeModel is supported only for the {} families, got model `{}`; use \
             BEDROCK_API_CONVERSE for this model",
            names.join(", "),
            target.requested
        ),
    )
}

fn max_tokens(caps: &Capabilities, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    if let (Some(n), Some(limit)) = (ask.max_tokens, caps.max_output_tokens) {
        if n > limit {
            v.push(FieldViolation::new(
                "parameters.max_tokens",
                format!(
                    "{} generates at most {limit} tokens, got {n}; set max_tokens to {limit} or less",
                    caps.name
                ),
            ));
        }
    }
}

fn stop_sequences(caps: &Capabilities, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    let stops = ask.stop_sequences;
    if ask.native && !caps.native_stop_sequences && !stops.is_empty() {
        v.push(FieldViolation::new(
            "parameters.stop_sequences",
            format!(
                "{}'s native InvokeModel body has no stop sequences, got {} ({stops:?}); remove \
                 them or use BEDROCK_API_CONVERSE, which supports them",
                caps.name,
                stops.len()
            ),
        ));
    }
    if caps.stop_sequences == StopSequenceRule::Titan {
        if stops.len() > 1 {
            v.push(FieldViolation::new(
                "parameters.stop_sequences",
                format!(
                    "{} accepts at most 1 stop sequence, got {} ({stops:?}); keep only one",
                    caps.name,
                    stops.len()
                ),
            ));
        }
        for s in stops.iter().filter(|s| !titan_stop_allowed(s)) {
            v.push(FieldViolation::new(
                "parameters.stop_sequences",
                format!(
                    "{} accepts only \"User:\" or a run of '|' (such as \"|\" or \"||\") as a \
                     stop sequence, got {s:?}; use one of those or remove it",
                    caps.name
                ),
            ));
        }
    }
}

fn titan_stop_allowed(s: &str) -> bool {
    s == "User:" || (!s.is_empty() && s.bytes().all(|b| b == b'|'))
}

fn sampling(caps: &Capabilities, target: &Target, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    if let (SamplingRule::Either, Some(t), Some(top_p)) =
        (caps.sampling, ask.temperature, ask.top_p)
    {
        v.push(FieldViolation::new(
            "parameters.top_p",
            format!(
                "`{}` ({}) accepts temperature or top_p but not both, got temperature {t} and \
                 top_p {top_p}; unset one of them",
                target.requested, caps.name
            ),
        ));
    }
}

fn system(caps: &Capabilities, ask: &Ask<'_>, v: &mut Vec<FieldViolation>) {
    if let (false, Some(system)) = (caps.system_prompt, ask.system) {
        v.push(FieldViolation::new(
            "system",
            format!(
                "{} accepts no system prompt, got one of {} characters; put the instructions in \
                 the prompt instead",
                caps.name,
                system.chars().count()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        crate::model::test_target(id)
    }

    fn ask() -> Ask<'static> {
        Ask {
            native: false,
            system: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop_sequences: &[],
            image: None,
            document: None,
            tools: None,
            output_schema: None,
            tool_choice: None,
            reasoning: None,
            reasoning_block: None,
            cache_point: None,
            one_hour_cache_point: None,
            guardrail: false,
            service_tier: None,
            latency_optimized: false,
        }
    }

    fn fields(v: &[FieldViolation]) -> Vec<&str> {
        v.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn valid_requests_pass_for_every_family_and_api() {
        for id in [
            "amazon.titan-text-express-v1",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "meta.llama3-8b-instruct-v1:0",
            "mistral.mistral-7b-instruct-v0:2",
        ] {
            for native in [false, true] {
                let a = Ask {
                    native,
                    temperature: Some(1.0),
                    max_tokens: Some(50),
                    ..ask()
                };
                assert_eq!(check(&target(id), &a), [], "{id} native={native}");
            }
        }
        assert_eq!(check(&target("amazon.nova-pro-v1:0"), &ask()), []);
    }

    #[test]
    fn titan_token_ceilings_are_per_model() {
        for (id, limit) in [
            ("amazon.titan-text-lite-v1", 4096),
            ("amazon.titan-text-express-v1", 8192),
            ("amazon.titan-text-premier-v1:0", 3072),
            ("amazon.titan-tg1-large", 8192),
            ("us.amazon.titan-text-premier-v1:0", 3072),
        ] {
            let t = target(id);
            assert_eq!(
                check(
                    &t,
                    &Ask {
                        max_tokens: Some(limit),
                        ..ask()
                    }
                ),
                [],
                "{id} at its limit"
            );
            let v = check(
                &t,
                &Ask {
                    max_tokens: Some(limit + 1),
                    ..ask()
                },
            );
            assert_eq!(fields(&v), ["parameters.max_tokens"], "{id}");
            let d = &v[0].description;
            assert!(
                d.contains(&limit.to_string()) && d.contains(&(limit + 1).to_string()),
                "{d}"
            );
        }
    }

    #[test]
    fn titan_accepts_one_stop_sequence_of_its_two_kinds() {
        let t = target("amazon.titan-text-express-v1");
        for ok in ["User:", "|", "|||"] {
            let stops = [ok.to_owned()];
            assert_eq!(
                check(
                    &t,
                    &Ask {
                        native: true,
                        stop_sequences: &stops,
                        ..ask()
                    }
                ),
                [],
                "{ok}"
            );
        }
        let stops = ["END".to_owned()];
        let v = check(
            &t,
            &Ask {
                stop_sequences: &stops,
                ..ask()
            },
        );
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(
            v[0].description.contains("\"END\"") && v[0].description.contains("User:"),
            "{}",
            v[0].description
        );

        let stops = ["|".to_owned(), "User:".to_owned()];
        let v = check(
            &t,
            &Ask {
                stop_sequences: &stops,
                ..ask()
            },
        );
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(
            v[0].description.contains("at most 1") && v[0].description.contains("got 2"),
            "{}",
            v[0].description
        );
    }

    #[test]
    fn every_titan_violation_is_reported_at_once() {
        let stops = ["User:".to_owned(), "STOP".to_owned()];
        let a = Ask {
            native: true,
            system: Some("Be brief."),
            max_tokens: Some(5000),
            stop_sequences: &stops,
            ..ask()
        };
        let v = check(&target("amazon.titan-text-premier-v1:0"), &a);
        assert_eq!(
            fields(&v),
            [
                "parameters.max_tokens",
                "parameters.stop_sequences",
                "parameters.stop_sequences",
                "system"
            ]
        );
        assert!(
            v[3].description.contains("in the prompt"),
            "{}",
            v[3].description
        );
    }

    #[test]
    fn llama_stop_sequences_only_through_converse() {
        let t = target("meta.llama3-70b-instruct-v1:0");
        let stops = ["###".to_owned()];
        let v = check(
            &t,
            &Ask {
                native: true,
                stop_sequences: &stops,
                ..ask()
            },
        );
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(
            v[0].description.contains("###") && v[0].description.contains("BEDROCK_API_CONVERSE")
        );
        assert_eq!(
            check(
                &t,
                &Ask {
                    stop_sequences: &stops,
                    ..ask()
                }
            ),
            []
        );
    }

    #[test]
    fn newer_claude_models_take_temperature_or_top_p_not_both() {
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-opus-5-20270101-v1:0",
        ] {
            let t = target(id);
            let v = check(
                &t,
                &Ask {
                    temperature: Some(0.5),
                    top_p: Some(0.9),
                    ..ask()
                },
            );
            assert_eq!(fields(&v), ["parameters.top_p"], "{id}");
            assert!(v[0].description.contains("0.5") && v[0].description.contains("0.9"));
            assert_eq!(
                check(
                    &t,
                    &Ask {
                        temperature: Some(0.5),
                        ..ask()
                    }
                ),
                [],
                "{id}"
            );
            assert_eq!(
                check(
                    &t,
                    &Ask {
                        top_p: Some(0.9),
                        ..ask()
                    }
                ),
                [],
                "{id}"
            );
        }
        for id in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-v2:1",
        ] {
            let a = Ask {
                native: true,
                temperature: Some(0.5),
                top_p: Some(0.9),
                ..ask()
            };
            assert_eq!(check(&target(id), &a), [], "{id}");
        }
    }

    #[test]
    fn native_calls_to_other_models_point_to_converse() {
        for id in [
            "amazon.nova-pro-v1:0",
            "cohere.command-r-v1:0",
            "meta.llama4-scout-17b-instruct-v1:0",
        ] {
            let v = check(
                &target(id),
                &Ask {
                    native: true,
                    ..ask()
                },
            );
            assert_eq!(fields(&v), ["api"], "{id}");
            let d = &v[0].description;
            assert!(d.contains(id) && d.contains("BEDROCK_API_CONVERSE"), "{d}");
            assert!(
                d.contains("Titan")
                    && d.contains("Claude")
                    && d.contains("Llama")
                    && d.contains("Mistral"),
                "{d}"
            );
        }
    }

    #[test]
    fn models_that_do_not_output_text_are_refused_by_name() {
        let v = check(&target("amazon.titan-embed-text-v2:0"), &ask());
        assert_eq!(fields(&v), ["model_id"]);
        assert!(
            v[0].description.contains("EMBEDDING"),
            "{}",
            v[0].description
        );
    }

    #[test]
    fn unknown_models_and_routers_get_no_model_specific_rule() {
        let stops = ["a".to_owned(), "b".to_owned()];
        let a = Ask {
            system: Some("s"),
            temperature: Some(0.1),
            top_p: Some(0.2),
            max_tokens: Some(1_000_000),
            stop_sequences: &stops,
            ..ask()
        };
        for id in [
            "someone.new-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:prompt-router/r1",
        ] {
            assert_eq!(check(&target(id), &a), [], "{id}");
        }
    }

    #[test]
    fn reasoning_needs_a_reasoning_model_and_claudes_sampling() {
        let thinking = Ask {
            reasoning: Some(2048),
            max_tokens: Some(4096),
            ..ask()
        };
        let v = check(&target("amazon.titan-text-express-v1"), &thinking);
        assert_eq!(fields(&v), ["reasoning"]);
        assert!(v[0].description.contains("does not support extended thinking"), "{v:?}");
        let sonnet = target("us.anthropic.claude-3-7-sonnet-20250219-v1:0");
        assert_eq!(check(&sonnet, &thinking), []);
        assert_eq!(check(&sonnet, &Ask { temperature: Some(1.0), ..thinking }), []);
        let v = check(&sonnet, &Ask { top_p: Some(0.9), ..thinking });
        assert_eq!(fields(&v), ["parameters.top_p"], "{v:?}");
        assert!(v[0].description.contains("no top_p while thinking"), "{v:?}");
        let v = check(&sonnet, &Ask { temperature: Some(0.5), top_p: Some(0.9), ..thinking });
        assert_eq!(fields(&v), ["parameters.top_p", "parameters.temperature"], "{v:?}");
        let v = check(
            &target("anthropic.claude-3-haiku-20240307-v1:0"),
            &Ask { reasoning_block: Some("messages[1].blocks[0].reasoning"), ..ask() },
        );
        assert_eq!(fields(&v), ["messages[1].blocks[0].reasoning"]);
    }

    #[test]
    fn caching_tiers_latency_and_guardrails_follow_the_table() {
        let titan = target("amazon.titan-text-express-v1");
        let v = check(
            &titan,
            &Ask {
                cache_point: Some("system_cache_point"),
                service_tier: Some(ServiceTier::Flex),
                latency_optimized: true,
                guardrail: true,
                ..ask()
            },
        );
        assert_eq!(fields(&v), ["system_cache_point", "service_tier", "latency"], "{v:?}");
        assert!(v[1].description.contains("SERVICE_TIER_DEFAULT only, got SERVICE_TIER_FLEX"), "{v:?}");
        let one_hour = Ask {
            cache_point: Some("tool_config.cache_point"),
            one_hour_cache_point: Some("tool_config.cache_point"),
            ..ask()
        };
        let v = check(&target("anthropic.claude-3-5-haiku-20241022-v1:0"), &one_hour);
        assert_eq!(fields(&v), ["tool_config.cache_point.ttl"], "{v:?}");
        assert_eq!(check(&target("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), &one_hour), []);
        assert_eq!(
            check(&target("amazon.nova-pro-v1:0"), &Ask { service_tier: Some(ServiceTier::Flex), ..ask() }),
            []
        );
        assert_eq!(
            check(&target("anthropic.claude-3-5-haiku-20241022-v1:0"), &Ask { latency_optimized: true, ..ask() }),
            []
        );
    }
}
