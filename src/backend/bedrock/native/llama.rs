//! Meta Llama 3.x: a `prompt` in the Llama 3 chat template.

use super::{chunk_events, decoded, merge_extra, number, parse, put, ChunkEvent, Decoded, Family};
use crate::domain::{GenerationRequest, Role, StopReason};
use crate::error::GatewayError;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The body has no stop-sequence field; model_rules refuses stop sequences
/// for native Llama calls before this is reached.
pub(super) fn encode(request: &GenerationRequest) -> Map<String, Value> {
    let p = &request.parameters;
    let mut body = Map::new();
    body.insert("prompt".into(), prompt(request).into());
    put(
        &mut body,
        "max_gen_len",
        p.max_tokens.map(|n| n.get().into()),
    );
    put(&mut body, "temperature", p.temperature.map(number));
    put(&mut body, "top_p", p.top_p.map(number));
    merge_extra(&mut body, request);
    body
}

/// The Llama 3 chat template, ending with an open assistant header so the
/// model answers as the assistant instead of continuing the user's text.
fn prompt(request: &GenerationRequest) -> String {
    fn turn(out: &mut String, role: &str, content: &str) {
        out.push_str("<|start_header_id|>");
        out.push_str(role);
        out.push_str("<|end_header_id|>\n\n");
        out.push_str(content);
        out.push_str("<|eot_id|>");
    }
    let mut out = String::from("<|begin_of_text|>");
    if let Some(system) = &request.system {
        turn(&mut out, "system", system);
    }
    for m in &request.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        turn(&mut out, role, &m.joined_text());
    }
    out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
    out
}

#[derive(Deserialize)]
struct Response {
    generation: String,
    prompt_token_count: Option<u32>,
    generation_token_count: Option<u32>,
    stop_reason: Option<String>,
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, GatewayError> {
    let r: Response = parse(Family::Llama, "response", body)?;
    Ok(decoded(
        Family::Llama,
        r.generation,
        r.stop_reason,
        r.prompt_token_count,
        r.generation_token_count,
    ))
}

pub(super) fn stop_reason(raw: &str) -> StopReason {
    match raw {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        _ => StopReason::Other,
    }
}

#[derive(Deserialize)]
struct Chunk {
    generation: Option<String>,
    prompt_token_count: Option<u32>,
    generation_token_count: Option<u32>,
    stop_reason: Option<String>,
}

pub(super) fn chunk(value: &Value) -> Result<Vec<ChunkEvent>, serde_json::Error> {
    let c = Chunk::deserialize(value)?;
    Ok(chunk_events(
        Family::Llama,
        c.generation,
        c.stop_reason,
        c.prompt_token_count,
        c.generation_token_count,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{conversation, json, prompt};
    use super::super::{decode, decode_chunk, encode, stop_reason};
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;
    use std::num::NonZeroU32;

    const MODEL: &str = "meta.llama3-8b-instruct-v1:0";

    #[test]
    fn a_conversation_uses_the_llama_3_template() {
        let mut r = conversation(MODEL);
        r.system = Some("Be brief.".into());
        r.parameters.temperature = Some(0.5);
        r.parameters.top_p = Some(0.9);
        r.parameters.max_tokens = NonZeroU32::new(64);
        let body = json(encode(Family::Llama, &r).unwrap());
        assert_eq!(
            body,
            json!({
                "prompt": "<|begin_of_text|>\
                    <|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
                    <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
                    <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
                    <|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>\
                    <|start_header_id|>assistant<|end_header_id|>\n\n",
                "max_gen_len": 64,
                "temperature": 0.5,
                "top_p": 0.9,
            })
        );
    }

    #[test]
    fn unset_parameters_are_left_out() {
        let body = json(encode(Family::Llama, &prompt(MODEL, "Hi")).unwrap());
        assert_eq!(
            body,
            json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"})
        );
    }

    #[test]
    fn a_response_decodes() {
        let body = br#"{"generation":"Blue.","prompt_token_count":18,"generation_token_count":3,"stop_reason":"stop"}"#;
        let d = decode(Family::Llama, body).unwrap();
        assert_eq!(d.text, "Blue.");
        assert_eq!(
            (d.raw_stop_reason.as_str(), d.stop_reason),
            ("stop", StopReason::EndTurn)
        );
        assert_eq!((d.input_tokens, d.output_tokens), (Some(18), Some(3)));
    }

    #[test]
    fn a_response_without_generation_is_internal() {
        let body = br#"{"outputs":[{"text":"Blue."}]}"#;
        let err = decode(Family::Llama, body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("generation"), "{}", err.message());
        assert!(err.message().contains(r#"{"outputs":[{"text":"Blue."}]}"#));
    }

    #[test]
    fn every_stop_reason_maps() {
        for (raw, want) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("eos", StopReason::Other),
        ] {
            assert_eq!(stop_reason(Family::Llama, raw), want, "{raw}");
        }
    }

    #[test]
    fn chunks_give_text_usage_and_stop() {
        let first = br#"{"generation":"Blue","prompt_token_count":18,"generation_token_count":1,"stop_reason":null}"#;
        assert_eq!(
            decode_chunk(Family::Llama, first).unwrap(),
            [
                ChunkEvent::Delta("Blue".into()),
                ChunkEvent::Usage {
                    input_tokens: Some(18),
                    output_tokens: Some(1)
                },
            ]
        );
        let last = br#"{"generation":"","prompt_token_count":null,"generation_token_count":9,"stop_reason":"length"}"#;
        assert_eq!(
            decode_chunk(Family::Llama, last).unwrap(),
            [
                ChunkEvent::Stop {
                    raw: "length".into(),
                    reason: StopReason::MaxTokens
                },
                ChunkEvent::Usage {
                    input_tokens: None,
                    output_tokens: Some(9)
                },
            ]
        );
    }
}
