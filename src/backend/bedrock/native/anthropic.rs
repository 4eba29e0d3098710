//! Anthropic Claude through the Messages API, as Bedrock wraps it.

use super::{chunk_events, decoded, merge_extra, number, parse, put, ChunkEvent, Decoded, Family};
use crate::domain::{GenerationRequest, Role, StopReason};
use crate::error::GatewayError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The Messages API version Bedrock requires in every Claude body.
const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Claude refuses a body without `max_tokens`. 4096 is the largest output
/// every Claude model on Bedrock accepts (Claude 3 Haiku's ceiling).
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub(super) fn encode(request: &GenerationRequest) -> Map<String, Value> {
    let p = &request.parameters;
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            // Native bodies carry text only (validation refuses other
            // blocks with InvokeModel); each text block stays its own.
            let content: Vec<Value> = m.texts().map(|t| json!({"type": "text", "text": t})).collect();
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = Map::new();
    body.insert("anthropic_version".into(), ANTHROPIC_VERSION.into());
    body.insert(
        "max_tokens".into(),
        p.max_tokens.map_or(DEFAULT_MAX_TOKENS, |n| n.get()).into(),
    );
    body.insert("messages".into(), messages.into());
    put(&mut body, "system", request.system.clone().map(Value::from));
    put(&mut body, "temperature", p.temperature.map(number));
    put(&mut body, "top_p", p.top_p.map(number));
    if !p.stop_sequences.is_empty() {
        body.insert("stop_sequences".into(), p.stop_sequences.clone().into());
    }
    merge_extra(&mut body, request);
    body
}

#[derive(Deserialize)]
struct Response {
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<UsageCounts>,
}

/// A content block; only `text` blocks carry answer text (others are tool
/// calls or thinking, which this text gateway does not return).
#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct UsageCounts {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, GatewayError> {
    let r: Response = parse(Family::Anthropic, "response", body)?;
    let text = r
        .content
        .into_iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text)
        .collect::<String>();
    let (input, output) = r
        .usage
        .map_or((None, None), |u| (u.input_tokens, u.output_tokens));
    Ok(decoded(
        Family::Anthropic,
        text,
        r.stop_reason,
        input,
        output,
    ))
}

pub(super) fn stop_reason(raw: &str) -> StopReason {
    match raw {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        // Claude declined for safety reasons: to a caller, a content filter.
        "refusal" => StopReason::ContentFiltered,
        "model_context_window_exceeded" => StopReason::ModelContextWindowExceeded,
        _ => StopReason::Other,
    }
}

/// One Messages API stream event. The fields of every event type the gateway
/// reads are merged here; each is absent from the other types.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    message: Option<StartMessage>,
    delta: Option<Delta>,
    usage: Option<UsageCounts>,
}

#[derive(Deserialize)]
struct StartMessage {
    usage: Option<UsageCounts>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    stop_reason: Option<String>,
}

pub(super) fn chunk(value: &Value) -> Result<Vec<ChunkEvent>, serde_json::Error> {
    let e = Event::deserialize(value)?;
    let (text, stop, usage) = match e.kind.as_str() {
        // message_start's output count is a placeholder (usually 1); the real
        // one comes with message_delta.
        "message_start" => {
            let input = e.message.and_then(|m| m.usage).and_then(|u| u.input_tokens);
            (None, None, (input, None))
        }
        "content_block_delta" => {
            let text = e
                .delta
                .filter(|d| d.kind.as_deref() == Some("text_delta"))
                .and_then(|d| d.text);
            (text, None, (None, None))
        }
        "message_delta" => {
            let stop = e.delta.and_then(|d| d.stop_reason);
            let usage = e
                .usage
                .map_or((None, None), |u| (u.input_tokens, u.output_tokens));
            (None, stop, usage)
        }
        _ => (None, None, (None, None)),
    };
    Ok(chunk_events(
        Family::Anthropic,
        text,
        stop,
        usage.0,
        usage.1,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{conversation, json, prompt};
    use super::super::{decode, decode_chunk, encode, stop_reason};
    use super::*;
    use crate::error::ErrorKind;
    use std::num::NonZeroU32;

    const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    #[test]
    fn a_conversation_becomes_a_messages_body() {
        let mut r = conversation(MODEL);
        r.system = Some("Be brief.".into());
        r.parameters.temperature = Some(0.2);
        r.parameters.top_p = Some(0.9);
        r.parameters.max_tokens = NonZeroU32::new(100);
        r.parameters.stop_sequences = vec!["\n\nHuman:".into()];
        let body = json(encode(Family::Anthropic, &r).unwrap());
        assert_eq!(
            body,
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 100,
                "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                    {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
                ],
                "temperature": 0.2,
                "top_p": 0.9,
                "stop_sequences": ["\n\nHuman:"],
            })
        );
    }

    #[test]
    fn unset_parameters_are_left_out_but_max_tokens_has_a_default() {
        let body = json(encode(Family::Anthropic, &prompt(MODEL, "Hi")).unwrap());
        assert_eq!(
            body,
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 4096,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            })
        );
    }

    #[test]
    fn a_response_decodes_with_text_blocks_joined() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-haiku-20240307",
            "content":[{"type":"text","text":"Blue"},{"type":"tool_use","id":"t","name":"f","input":{}},{"type":"text","text":" sky."}],
            "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":4}}"#;
        let d = decode(Family::Anthropic, body).unwrap();
        assert_eq!(d.text, "Blue sky.");
        assert_eq!(d.raw_stop_reason, "end_turn");
        assert_eq!(d.stop_reason, StopReason::EndTurn);
        assert_eq!((d.input_tokens, d.output_tokens), (Some(12), Some(4)));
    }

    #[test]
    fn a_response_without_content_is_internal() {
        let body = br#"{"type":"message","stop_reason":"end_turn"}"#;
        let err = decode(Family::Anthropic, body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("content"), "{}", err.message());
        assert!(err
            .message()
            .contains(r#"{"type":"message","stop_reason":"end_turn"}"#));
    }

    #[test]
    fn every_stop_reason_maps() {
        for (raw, want) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("stop_sequence", StopReason::StopSequence),
            ("tool_use", StopReason::ToolUse),
            ("refusal", StopReason::ContentFiltered),
            (
                "model_context_window_exceeded",
                StopReason::ModelContextWindowExceeded,
            ),
            ("pause_turn", StopReason::Other),
            ("", StopReason::Other),
        ] {
            assert_eq!(stop_reason(Family::Anthropic, raw), want, "{raw}");
        }
    }

    #[test]
    fn stream_events_give_usage_text_and_stop() {
        let events = [
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"stop_reason":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Blue"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":4}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":4,"invocationLatency":700,"firstByteLatency":250}}"#,
        ];
        let got: Vec<ChunkEvent> = events
            .iter()
            .flat_map(|c| decode_chunk(Family::Anthropic, c.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                ChunkEvent::Usage {
                    input_tokens: Some(12),
                    output_tokens: None
                },
                ChunkEvent::Delta("Blue".into()),
                ChunkEvent::Stop {
                    raw: "max_tokens".into(),
                    reason: StopReason::MaxTokens
                },
                ChunkEvent::Usage {
                    input_tokens: None,
                    output_tokens: Some(4)
                },
                ChunkEvent::Usage {
                    input_tokens: Some(12),
                    output_tokens: Some(4)
                },
            ]
        );
    }

    #[test]
    fn a_null_stop_reason_is_not_a_stop() {
        let c =
            br#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":2}}"#;
        assert_eq!(
            decode_chunk(Family::Anthropic, c).unwrap(),
            [ChunkEvent::Usage {
                input_tokens: None,
                output_tokens: Some(2)
            }]
        );
    }

    #[test]
    fn an_event_without_a_type_is_internal() {
        let err = decode_chunk(Family::Anthropic, br#"{"delta":{}}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("type"), "{}", err.message());
    }
}
