//! Amazon Titan Text: `{"inputText", "textGenerationConfig"}`.

use super::{
    chunk_events, decoded, extra_fields, malformed, number, parse, put, ChunkEvent, Decoded, Family,
};
use crate::domain::{GenerationRequest, Role, StopReason};
use crate::error::GatewayError;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The keys Titan reads from `textGenerationConfig` rather than the top level.
const CONFIG_KEYS: [&str; 4] = ["temperature", "topP", "maxTokenCount", "stopSequences"];
const CONFIG: &str = "textGenerationConfig";

pub(super) fn encode(request: &GenerationRequest) -> Map<String, Value> {
    let p = &request.parameters;
    let mut config = Map::new();
    put(&mut config, "temperature", p.temperature.map(number));
    put(&mut config, "topP", p.top_p.map(number));
    put(
        &mut config,
        "maxTokenCount",
        p.max_tokens.map(|n| n.get().into()),
    );
    if !p.stop_sequences.is_empty() {
        config.insert("stopSequences".into(), p.stop_sequences.clone().into());
    }

    let mut body = Map::new();
    body.insert("inputText".into(), input_text(request).into());
    for (k, v) in extra_fields(request) {
        match (k.as_str(), v) {
            // Merged key by key so a caller adding one config field does not
            // wipe the parameters the gateway already placed there.
            (CONFIG, Value::Object(theirs)) => {
                config.extend(theirs.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            (key, _) if CONFIG_KEYS.contains(&key) => {
                config.insert(k.clone(), v.clone());
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    if !config.is_empty() {
        body.insert(CONFIG.into(), Value::Object(config));
    }
    body
}

/// The prompt as given, or the conversation in Titan's documented chat
/// format: `User: …` and `Bot: …` lines, ending with `Bot:` for the answer.
fn input_text(request: &GenerationRequest) -> String {
    // Titan has no system field and model_rules refuses system prompts for
    // it; should one get here anyway, it leads the text rather than vanish.
    let mut text = request
        .system
        .as_ref()
        .map(|s| format!("{s}\n\n"))
        .unwrap_or_default();
    if request.from_prompt {
        text.push_str(&request.last_user_text());
        return text;
    }
    for m in &request.messages {
        text.push_str(match m.role {
            Role::User => "User: ",
            Role::Assistant => "Bot: ",
        });
        text.push_str(&m.joined_text());
        text.push('\n');
    }
    text.push_str("Bot:");
    text
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    input_text_token_count: Option<u32>,
    results: Vec<Output>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    output_text: String,
    token_count: Option<u32>,
    completion_reason: Option<String>,
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, GatewayError> {
    let r: Response = parse(Family::Titan, "response", body)?;
    let Some(first) = r.results.into_iter().next() else {
        return Err(malformed(
            Family::Titan,
            "response",
            &"`results` is empty",
            body,
        ));
    };
    Ok(decoded(
        Family::Titan,
        first.output_text,
        first.completion_reason,
        r.input_text_token_count,
        first.token_count,
    ))
}

pub(super) fn stop_reason(raw: &str) -> StopReason {
    match raw {
        "FINISH" => StopReason::EndTurn,
        "LENGTH" => StopReason::MaxTokens,
        "STOP_CRITERIA_MET" => StopReason::StopSequence,
        "CONTENT_FILTERED" => StopReason::ContentFiltered,
        _ => StopReason::Other,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    output_text: Option<String>,
    total_output_text_token_count: Option<u32>,
    completion_reason: Option<String>,
    input_text_token_count: Option<u32>,
}

pub(super) fn chunk(value: &Value) -> Result<Vec<ChunkEvent>, serde_json::Error> {
    let c = Chunk::deserialize(value)?;
    Ok(chunk_events(
        Family::Titan,
        c.output_text,
        c.completion_reason,
        c.input_text_token_count,
        c.total_output_text_token_count,
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

    const MODEL: &str = "amazon.titan-text-express-v1";

    /// The seed notebook's request, exactly as it printed it.
    const SEED_REQUEST: &str = r#"{"inputText": "Write a poem about sky", "textGenerationConfig": {"temperature": 1.0, "topP": 1.0, "maxTokenCount": 50}}"#;

    /// The seed notebook's real response body from amazon.titan-text-express-v1.
    const SEED_RESPONSE: &str = r#"{"inputTextTokenCount": 5, "results": [{"tokenCount": 50, "outputText": "\nFrom day to day as I lay down\nI stare at the sky\nFeeling the cold of the breeze touch my skin\nAnd have a deep breath to relax myself\nIts deadly colors brought peace without cease\nAnd a majestic view of the", "completionReason": "LENGTH"}]}"#;

    #[test]
    fn the_seed_request_is_encoded_exactly() {
        let mut r = prompt(MODEL, "Write a poem about sky");
        r.parameters.temperature = Some(1.0);
        r.parameters.top_p = Some(1.0);
        r.parameters.max_tokens = NonZeroU32::new(50);
        let ours = json(encode(Family::Titan, &r).unwrap());
        let seed: Value = serde_json::from_str(SEED_REQUEST).unwrap();
        assert_eq!(ours, seed);
        // Same numbers, same types: 1.0 stays a float and 50 an integer.
        assert_eq!(ours.to_string(), seed.to_string());
    }

    #[test]
    fn unset_parameters_are_left_out() {
        let body = json(encode(Family::Titan, &prompt(MODEL, "Hi")).unwrap());
        assert_eq!(body, json!({"inputText": "Hi"}));

        let mut r = prompt(MODEL, "Hi");
        r.parameters.temperature = Some(0.0);
        let body = json(encode(Family::Titan, &r).unwrap());
        assert_eq!(
            body,
            json!({"inputText": "Hi", "textGenerationConfig": {"temperature": 0.0}})
        );
    }

    #[test]
    fn stop_sequences_go_in_the_config() {
        let mut r = prompt(MODEL, "Hi");
        r.parameters.stop_sequences = vec!["User:".into()];
        let body = json(encode(Family::Titan, &r).unwrap());
        assert_eq!(
            body["textGenerationConfig"],
            json!({"stopSequences": ["User:"]})
        );
    }

    #[test]
    fn a_prompt_is_sent_unchanged_and_a_conversation_in_chat_format() {
        let body = json(encode(Family::Titan, &prompt(MODEL, "  raw\ntext ")).unwrap());
        assert_eq!(body["inputText"], "  raw\ntext ");

        let body = json(encode(Family::Titan, &conversation(MODEL)).unwrap());
        assert_eq!(
            body["inputText"],
            "User: Hi\nBot: Hello!\nUser: Name a colour.\nBot:"
        );

        let mut single = prompt(MODEL, "Hi");
        single.from_prompt = false;
        let body = json(encode(Family::Titan, &single).unwrap());
        assert_eq!(body["inputText"], "User: Hi\nBot:");
    }

    #[test]
    fn extra_fields_land_in_the_config_or_the_top_level() {
        let mut r = prompt(MODEL, "Hi");
        r.parameters.temperature = Some(0.5);
        r.parameters.max_tokens = NonZeroU32::new(10);
        r.additional_model_request_fields = Some(json!({
            "maxTokenCount": 20,
            "textGenerationConfig": {"topP": 0.25},
            "somethingNew": true,
        }));
        let body = json(encode(Family::Titan, &r).unwrap());
        assert_eq!(
            body,
            json!({
                "inputText": "Hi",
                "somethingNew": true,
                "textGenerationConfig": {"temperature": 0.5, "maxTokenCount": 20, "topP": 0.25},
            })
        );
    }

    #[test]
    fn the_seed_response_decodes() {
        let d = decode(Family::Titan, SEED_RESPONSE.as_bytes()).unwrap();
        assert!(d
            .text
            .starts_with("\nFrom day to day as I lay down\nI stare at the sky\n"));
        assert!(d.text.ends_with("And a majestic view of the"));
        assert_eq!(d.raw_stop_reason, "LENGTH");
        assert_eq!(d.stop_reason, StopReason::MaxTokens);
        assert_eq!((d.input_tokens, d.output_tokens), (Some(5), Some(50)));
    }

    #[test]
    fn every_completion_reason_maps() {
        for (raw, want) in [
            ("FINISH", StopReason::EndTurn),
            ("LENGTH", StopReason::MaxTokens),
            ("STOP_CRITERIA_MET", StopReason::StopSequence),
            ("CONTENT_FILTERED", StopReason::ContentFiltered),
            ("RAG_QUERY_WHEN_RAG_DISABLED", StopReason::Other),
            ("finish", StopReason::Other),
        ] {
            assert_eq!(stop_reason(Family::Titan, raw), want, "{raw}");
        }
    }

    #[test]
    fn malformed_responses_are_internal_with_an_excerpt() {
        for body in [
            r#"{"inputTextTokenCount": 5, "results": []}"#,
            r#"{"inputTextTokenCount": 5}"#,
            r#"{"results": [{"outputText": 3}]}"#,
            "not json",
        ] {
            let err = decode(Family::Titan, body.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Internal, "{body}");
            assert!(err.message().contains(body), "{}", err.message());
            assert!(err.message().contains("Titan"), "{}", err.message());
        }
        let err = decode(Family::Titan, br#"{"results": []}"#).unwrap_err();
        assert!(
            err.message().contains("`results` is empty"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn chunks_give_text_then_stop_and_usage() {
        let first = br#"{"outputText":"Blue","index":0,"totalOutputTextTokenCount":1,"completionReason":null,"inputTextTokenCount":4}"#;
        assert_eq!(
            decode_chunk(Family::Titan, first).unwrap(),
            [
                ChunkEvent::Delta("Blue".into()),
                ChunkEvent::Usage {
                    input_tokens: Some(4),
                    output_tokens: Some(1)
                },
            ]
        );
        let last = br#"{"outputText":" sky.","index":0,"totalOutputTextTokenCount":3,"completionReason":"FINISH","inputTextTokenCount":null,"amazon-bedrock-invocationMetrics":{"inputTokenCount":4,"outputTokenCount":3,"invocationLatency":512,"firstByteLatency":200}}"#;
        assert_eq!(
            decode_chunk(Family::Titan, last).unwrap(),
            [
                ChunkEvent::Delta(" sky.".into()),
                ChunkEvent::Stop {
                    raw: "FINISH".into(),
                    reason: StopReason::EndTurn
                },
                ChunkEvent::Usage {
                    input_tokens: Some(4),
                    output_tokens: Some(3)
                },
            ]
        );
        let empty = br#"{"outputText":"","index":0,"completionReason":null}"#;
        assert_eq!(decode_chunk(Family::Titan, empty).unwrap(), []);
    }
}
