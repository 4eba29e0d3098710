//! Rules that depend on the model, checked before any Bedrock call.
//!
//! Bedrock would refuse these requests too, but with one ValidationException
//! at a time and wording that names Bedrock's fields, not the caller's. Here
//! every broken rule is reported at once, against the gateway's field names,
//! with what to change. Only rules Bedrock is known to enforce are listed:
//! anything unknown is left for Bedrock to judge.

use super::native::{base_model_id, family_of, Family};
use crate::domain::{BedrockApi, GenerationRequest};
use crate::error::{FieldViolation, GatewayError};

/// Titan Text's `maxTokenCount` ceilings, by base model ID prefix (the
/// prefix also covers provisioned variants such as `…-v1:0:4k`).
const TITAN_MAX_TOKENS: [(&str, &str, u32); 4] = [
    ("amazon.titan-text-lite-v1", "Titan Text Lite", 4096),
    ("amazon.titan-text-express-v1", "Titan Text Express", 8192),
    ("amazon.titan-text-premier-v1", "Titan Text Premier", 3072),
    ("amazon.titan-tg1-large", "Titan Text Large", 8192),
];

/// Checks `request` against the rules known for `model_id` (an ID, profile
/// ID or ARN). Returns INVALID_ARGUMENT listing every violation.
pub fn check(model_id: &str, request: &GenerationRequest) -> Result<(), GatewayError> {
    let mut v = Vec::new();
    let family = family_of(model_id);
    let base = base_model_id(model_id);
    match family {
        Some(Family::Titan) => titan(base, request, &mut v),
        Some(Family::Llama) => llama(request, &mut v),
        Some(Family::Anthropic) => anthropic(base, request, &mut v),
        Some(Family::Mistral) => {}
        None => {
            if request.api == BedrockApi::InvokeModel {
                let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                v.push(FieldViolation::new(
                    "api",
                    format!(
                        "native InvokeModel is supported only for the {} families, got model \
                         `{model_id}`; use BEDROCK_API_CONVERSE for this model",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(GatewayError::invalid(v))
    }
}

fn titan(base: &str, request: &GenerationRequest, v: &mut Vec<FieldViolation>) {
    let p = &request.parameters;
    if let (Some(n), Some((_, name, limit))) = (
        p.max_tokens,
        TITAN_MAX_TOKENS
            .iter()
            .find(|(id, ..)| base.starts_with(id)),
    ) {
        if n.get() > *limit {
            v.push(FieldViolation::new(
                "parameters.max_tokens",
                format!("{name} generates at most {limit} tokens, got {n}; set max_tokens to {limit} or less"),
            ));
        }
    }
    if p.stop_sequences.len() > 1 {
        v.push(FieldViolation::new(
            "parameters.stop_sequences",
            format!(
                "Titan Text accepts at most 1 stop sequence, got {} ({:?}); keep only one",
                p.stop_sequences.len(),
                p.stop_sequences
            ),
        ));
    }
    for s in p.stop_sequences.iter().filter(|s| !titan_stop_allowed(s)) {
        v.push(FieldViolation::new(
            "parameters.stop_sequences",
            format!(
                "Titan Text accepts only \"User:\" or a run of '|' (such as \"|\" or \"||\") as a \
                 stop sequence, got {s:?}; use one of those or remove it"
            ),
        ));
    }
    if let Some(system) = &request.system {
        v.push(FieldViolation::new(
            "system",
            format!(
                "Titan Text accepts no system prompt, got one of {} characters; put the \
                 instructions in the prompt instead",
                system.chars().count()
            ),
        ));
    }
}

fn titan_stop_allowed(s: &str) -> bool {
    s == "User:" || (!s.is_empty() && s.bytes().all(|b| b == b'|'))
}

fn llama(request: &GenerationRequest, v: &mut Vec<FieldViolation>) {
    // Through Converse, Bedrock applies stop sequences for Llama itself.
    let stops = &request.parameters.stop_sequences;
    if request.api == BedrockApi::InvokeModel && !stops.is_empty() {
        v.push(FieldViolation::new(
            "parameters.stop_sequences",
            format!(
                "Llama's native InvokeModel body has no stop sequences, got {} ({stops:?}); remove \
                 them or use BEDROCK_API_CONVERSE, which supports them",
                stops.len()
            ),
        ));
    }
}

fn anthropic(base: &str, request: &GenerationRequest, v: &mut Vec<FieldViolation>) {
    let p = &request.parameters;
    if let (Some(t), Some(top_p)) = (p.temperature, p.top_p) {
        if sampling_exclusive(base) {
            v.push(FieldViolation::new(
                "parameters.top_p",
                format!(
                    "`{base}` accepts temperature or top_p but not both, got temperature {t} and \
                     top_p {top_p}; unset one of them"
                ),
            ));
        }
    }
}

/// Claude 3.7 and every Claude generation from 4 on (`claude-sonnet-4…`,
/// `claude-opus-4-1…`, `claude-haiku-4-5…`, and later majors) refuse a body
/// with both temperature and top_p.
fn sampling_exclusive(base: &str) -> bool {
    let Some(rest) = base.strip_prefix("anthropic.claude-") else {
        return false;
    };
    if rest.starts_with("3-7") {
        return true;
    }
    ["sonnet-", "opus-", "haiku-"].iter().any(|tier| {
        rest.strip_prefix(tier)
            .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Message, Parameters, Role};
    use crate::error::ErrorKind;
    use std::num::NonZeroU32;

    fn request(model_id: &str, api: BedrockApi) -> GenerationRequest {
        GenerationRequest {
            model_id: model_id.to_owned(),
            from_prompt: true,
            messages: vec![Message {
                role: Role::User,
                content: "Write a poem about sky".into(),
            }],
            system: None,
            parameters: Parameters::default(),
            additional_model_request_fields: None,
            api,
        }
    }

    fn violations(model_id: &str, r: &GenerationRequest) -> Vec<FieldViolation> {
        let err = check(model_id, r).expect_err("should be refused");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        err.violations().to_vec()
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
            for api in [BedrockApi::Converse, BedrockApi::InvokeModel] {
                let mut r = request(id, api);
                r.parameters.temperature = Some(1.0);
                r.parameters.max_tokens = NonZeroU32::new(50);
                assert_eq!(check(id, &r), Ok(()), "{id} {api:?}");
            }
        }
        // Converse serves every model; only Bedrock knows its rules.
        let r = request("amazon.nova-pro-v1:0", BedrockApi::Converse);
        assert_eq!(check("amazon.nova-pro-v1:0", &r), Ok(()));
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
            let mut r = request(id, BedrockApi::Converse);
            r.parameters.max_tokens = NonZeroU32::new(limit);
            assert_eq!(check(id, &r), Ok(()), "{id} at its limit");
            r.parameters.max_tokens = NonZeroU32::new(limit + 1);
            let v = violations(id, &r);
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
        let id = "amazon.titan-text-express-v1";
        for ok in ["User:", "|", "|||"] {
            let mut r = request(id, BedrockApi::InvokeModel);
            r.parameters.stop_sequences = vec![ok.into()];
            assert_eq!(check(id, &r), Ok(()), "{ok}");
        }
        let mut r = request(id, BedrockApi::InvokeModel);
        r.parameters.stop_sequences = vec!["END".into()];
        let v = violations(id, &r);
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(v[0].description.contains("\"END\""), "{}", v[0].description);
        assert!(v[0].description.contains("User:"), "{}", v[0].description);

        r.parameters.stop_sequences = vec!["|".into(), "User:".into()];
        let v = violations(id, &r);
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(
            v[0].description.contains("at most 1"),
            "{}",
            v[0].description
        );
        assert!(v[0].description.contains("got 2"), "{}", v[0].description);
    }

    #[test]
    fn titan_refuses_a_system_prompt_and_says_where_to_put_it() {
        let id = "amazon.titan-text-lite-v1";
        let mut r = request(id, BedrockApi::Converse);
        r.system = Some("Be brief.".into());
        let v = violations(id, &r);
        assert_eq!(fields(&v), ["system"]);
        assert!(
            v[0].description.contains("in the prompt"),
            "{}",
            v[0].description
        );
    }

    #[test]
    fn every_titan_violation_is_reported_at_once() {
        let id = "amazon.titan-text-premier-v1:0";
        let mut r = request(id, BedrockApi::InvokeModel);
        r.system = Some("Be brief.".into());
        r.parameters.max_tokens = NonZeroU32::new(5000);
        r.parameters.stop_sequences = vec!["User:".into(), "STOP".into()];
        let v = violations(id, &r);
        assert_eq!(
            fields(&v),
            [
                "parameters.max_tokens",
                "parameters.stop_sequences",
                "parameters.stop_sequences",
                "system"
            ]
        );
    }

    #[test]
    fn llama_stop_sequences_only_through_converse() {
        let id = "meta.llama3-70b-instruct-v1:0";
        let mut r = request(id, BedrockApi::InvokeModel);
        r.parameters.stop_sequences = vec!["###".into()];
        let v = violations(id, &r);
        assert_eq!(fields(&v), ["parameters.stop_sequences"]);
        assert!(v[0].description.contains("###"), "{}", v[0].description);
        assert!(
            v[0].description.contains("BEDROCK_API_CONVERSE"),
            "{}",
            v[0].description
        );

        r.api = BedrockApi::Converse;
        assert_eq!(check(id, &r), Ok(()));
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
            let mut r = request(id, BedrockApi::Converse);
            r.parameters.temperature = Some(0.5);
            r.parameters.top_p = Some(0.9);
            let v = violations(id, &r);
            assert_eq!(fields(&v), ["parameters.top_p"], "{id}");
            assert!(v[0].description.contains("0.5") && v[0].description.contains("0.9"));

            r.parameters.top_p = None;
            assert_eq!(check(id, &r), Ok(()), "{id} temperature alone");
            r.parameters.temperature = None;
            r.parameters.top_p = Some(0.9);
            assert_eq!(check(id, &r), Ok(()), "{id} top_p alone");
        }
        for id in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-v2:1",
        ] {
            let mut r = request(id, BedrockApi::InvokeModel);
            r.parameters.temperature = Some(0.5);
            r.parameters.top_p = Some(0.9);
            assert_eq!(check(id, &r), Ok(()), "{id}");
        }
    }

    #[test]
    fn native_calls_to_other_models_point_to_converse() {
        for id in [
            "amazon.nova-pro-v1:0",
            "cohere.command-r-v1:0",
            "meta.llama4-scout-17b-instruct-v1:0",
            "amazon.titan-embed-text-v2:0",
        ] {
            let r = request(id, BedrockApi::InvokeModel);
            let v = violations(id, &r);
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
}
