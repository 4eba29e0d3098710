//! Mistral's text-completion models: a `prompt` in the `[INST]` format.

use super::{
    chunk_events, decoded, malformed, merge_extra, number, parse, put, ChunkEvent, Decoded, Family,
};
use crate::domain::{GenerationRequest, Role, StopReason};
use crate::error::GatewayError;
use serde::Deserialize;
use serde_json::{Map, Value};

pub(super) fn encode(request: &GenerationRequest) -> Map<String, Value> {
    let p = &request.parameters;
    let mut body = Map::new();
    body.insert("prompt".into(), prompt(request).into());
    put(
        &mut body,
        "max_tokens",
        p.max_tokens.map(|n| n.get().into()),
    );
    put(&mut body, "temperature", p.temperature.map(number));
    put(&mut body, "top_p", p.top_p.map(number));
    if !p.stop_sequences.is_empty() {
        body.insert("stop".into(), p.stop_sequences.clone().into());
    }
    merge_extra(&mut body, request);
    body
}

/// `<s>[INST] user [/INST] answer</s>[INST] user [/INST]`. The format has no
/// system role, so the system prompt leads the first user turn.
fn prompt(request: &GenerationRequest) -> String {
    let mut out = String::from("<s>");
    let mut system = request.system.as_deref();
    for m in &request.messages {
        match m.role {
            Role::User => {
                out.push_str("[INST] ");
                if let Some(s) = system.take() {
                    out.push_str(s);
                    out.push_str("\n\n");
                }
                out.push_str(&m.joined_text());
                out.push_str(" [/INST]");
            }
            Role::Assistant => {
                out.push(' ');
                out.push_str(&m.joined_text());
                out.push_str("</s>");
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct Response {
    outputs: Vec<Output>,
}

#[derive(Deserialize)]
struct Output {
    text: String,
    stop_reason: Option<String>,
}

/// Mistral's body reports no token counts; Bedrock's response headers do.
pub(super) fn decode(body: &[u8]) -> Result<Decoded, GatewayError> {
    let r: Response = parse(Family::Mistral, "response", body)?;
    let Some(first) = r.outputs.into_iter().next() else {
        return Err(malformed(
            Family::Mistral,
            "response",
            &"`outputs` is empty",
            body,
        ));
    };
    Ok(decoded(
        Family::Mistral,
        first.text,
        first.stop_reason,
        None,
        None,
    ))
}

pub(super) fn stop_reason(raw: &str) -> StopReason {
    match raw {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "model_length" => StopReason::ModelContextWindowExceeded,
        _ => StopReason::Other,
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    outputs: Vec<ChunkOutput>,
}

#[derive(Deserialize)]
struct ChunkOutput {
    text: Option<String>,
    stop_reason: Option<String>,
}

pub(super) fn chunk(value: &Value) -> Result<Vec<ChunkEvent>, serde_json::Error> {
    let c = Chunk::deserialize(value)?;
    let (text, stop) = c
        .outputs
        .into_iter()
        .next()
        .map_or((None, None), |o| (o.text, o.stop_reason));
    Ok(chunk_events(Family::Mistral, text, stop, None, None))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{conversation, json, prompt};
    use super::super::{decode, decode_chunk, encode, stop_reason};
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;
    use std::num::NonZeroU32;

    const MODEL: &str = "mistral.mistral-7b-instruct-v0:2";

    #[test]
    fn a_conversation_uses_the_inst_format_with_the_system_folded_in() {
        let mut r = conversation(MODEL);
        r.system = Some("Be brief.".into());
        r.parameters.temperature = Some(0.5);
        r.parameters.top_p = Some(0.9);
        r.parameters.max_tokens = NonZeroU32::new(64);
        r.parameters.stop_sequences = vec!["###".into()];
        let body = json(encode(Family::Mistral, &r).unwrap());
        assert_eq!(
            body,
            json!({
                "prompt": "<s>[INST] Be brief.\n\nHi [/INST] Hello!</s>[INST] Name a colour. [/INST]",
                "max_tokens": 64,
                "temperature": 0.5,
                "top_p": 0.9,
                "stop": ["###"],
            })
        );
    }

    #[test]
    fn unset_parameters_are_left_out() {
        let body = json(encode(Family::Mistral, &prompt(MODEL, "Hi")).unwrap());
        assert_eq!(body, json!({"prompt": "<s>[INST] Hi [/INST]"}));
    }

    #[test]
    fn a_response_decodes_without_usage() {
        let body = br#"{"outputs":[{"text":" Blue.","stop_reason":"stop"}]}"#;
        let d = decode(Family::Mistral, body).unwrap();
        assert_eq!(d.text, " Blue.");
        assert_eq!(
            (d.raw_stop_reason.as_str(), d.stop_reason),
            ("stop", StopReason::EndTurn)
        );
        assert_eq!((d.input_tokens, d.output_tokens), (None, None));
    }

    #[test]
    fn an_empty_response_is_internal() {
        let err = decode(Family::Mistral, br#"{"outputs":[]}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.message().contains("`outputs` is empty"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains(r#"{"outputs":[]}"#),
            "{}",
            err.message()
        );
    }

    #[test]
    fn every_stop_reason_maps() {
        for (raw, want) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("model_length", StopReason::ModelContextWindowExceeded),
            ("tool_calls", StopReason::Other),
        ] {
            assert_eq!(stop_reason(Family::Mistral, raw), want, "{raw}");
        }
    }

    #[test]
    fn chunks_give_text_and_stop() {
        let first = br#"{"outputs":[{"text":" Blue","stop_reason":null}]}"#;
        assert_eq!(
            decode_chunk(Family::Mistral, first).unwrap(),
            [ChunkEvent::Delta(" Blue".into())]
        );
        let last = br#"{"outputs":[{"text":".","stop_reason":"model_length"}]}"#;
        assert_eq!(
            decode_chunk(Family::Mistral, last).unwrap(),
            [
                ChunkEvent::Delta(".".into()),
                ChunkEvent::Stop {
                    raw: "model_length".into(),
                    reason: StopReason::ModelContextWindowExceeded
                },
            ]
        );
    }
}
