//! How the simulated model answers more than text: it acknowledges the
//! images and documents it was sent (so a test can prove the bytes
//! arrived), calls tools, answers a tool's result, and writes JSON that
//! follows an output schema. Everything is decided from the request, so the
//! same request gets the same shape of answer; at temperature 0, the same
//! answer.

use crate::domain::{
    ContentBlock, Document, GenerationRequest, Image, Role, ToolChoice, ToolConfig,
    ToolResultContent, ToolResultStatus, ToolUse,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// What the answer holds besides the acknowledgement lines.
#[derive(Debug, PartialEq)]
pub(super) enum Body {
    /// Text from the phrase-bank composer.
    Compose,
    /// This text (an answer to tool results, or JSON for a schema).
    Text(String),
    /// A tool call, after an optional sentence announcing it.
    ToolCall {
        /// "I will call NAME.", when the model chose the tool itself.
        preamble: Option<String>,
        /// The call.
        call: ToolUse,
    },
}

/// The answer's plan: acknowledgement lines, then the body.
#[derive(Debug, PartialEq)]
pub(super) struct Answer {
    /// One line per image or document of the last user turn.
    pub acknowledgements: Vec<String>,
    /// The rest.
    pub body: Body,
}

/// Decides the answer to `request`. `topic` is the subject of the last
/// user turn; `rng` draws tool-call IDs (seeded from the request at
/// temperature 0).
pub(super) fn answer(request: &GenerationRequest, topic: &str, rng: &mut fastrand::Rng) -> Answer {
    let last = request.messages.last().filter(|m| m.role == Role::User);
    let blocks = last.map_or(&[][..], |m| m.content.as_slice());
    let acknowledgements = acknowledgements(blocks);
    let body = if blocks
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    {
        Body::Text(answer_results(request, blocks))
    } else if let Some((tool, preamble)) = request
        .tool_config
        .as_ref()
        .and_then(|c| chosen_tool(c, blocks))
    {
        // A tool's string arguments are mostly names: the user's last proper
        // noun ("Paris" in "What is the weather in Paris?") fits them best.
        let argument = proper_noun(&request.last_user_text()).unwrap_or_else(|| topic.to_owned());
        let input = example(&tool.input_schema, &argument, Fill::Required);
        Body::ToolCall {
            preamble: preamble.then(|| format!("I will call {}.", tool.name)),
            call: ToolUse {
                id: tool_use_id(rng),
                name: tool.name.clone(),
                input,
            },
        }
    } else if let Some(schema) = &request.output_schema {
        let value = example(&schema.schema, topic, Fill::All);
        Body::Text(serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()))
    } else {
        Body::Compose
    };
    Answer {
        acknowledgements,
        body,
    }
}

/// `[image png 1234 bytes sha256:1a2b3c4d]` for each image and
/// `[document txt "name" 567 bytes sha256:1a2b3c4d]` for each document,
/// in order, tool results' included.
fn acknowledgements(blocks: &[ContentBlock]) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::Image(i) => out.push(image_line(i)),
            ContentBlock::Document(d) => out.push(document_line(d)),
            ContentBlock::ToolResult(r) => {
                for c in &r.content {
                    match c {
                        ToolResultContent::Image(i) => out.push(image_line(i)),
                        ToolResultContent::Document(d) => out.push(document_line(d)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn image_line(i: &Image) -> String {
    format!(
        "[image {} {} bytes sha256:{}]",
        i.format.name(),
        i.data.len(),
        short_digest(&i.data)
    )
}

fn document_line(d: &Document) -> String {
    format!(
        "[document {} {:?} {} bytes sha256:{}]",
        d.format.name(),
        d.name,
        d.data.len(),
        short_digest(&d.data)
    )
}

/// The first 8 hex digits of the bytes' SHA-256.
fn short_digest(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The tool to call, and whether the model chose it itself (and so says
/// so first): the forced tool, a tool the user named, or for ANY the first.
fn chosen_tool<'a>(
    config: &'a ToolConfig,
    blocks: &[ContentBlock],
) -> Option<(&'a crate::domain::Tool, bool)> {
    let named = || {
        let text: String = blocks
            .iter()
            .filter_map(ContentBlock::as_text)
            .collect::<Vec<_>>()
            .join(" ");
        let text = text.to_lowercase();
        config
            .tools
            .iter()
            .find(|t| text.contains(&t.name.to_lowercase()))
    };
    match &config.choice {
        ToolChoice::Tool(name) => config.tool(name).map(|t| (t, false)),
        ToolChoice::Any => named().or_else(|| config.tools.first()).map(|t| (t, false)),
        ToolChoice::Auto => named().map(|t| (t, true)),
    }
}

/// Bedrock's shape of tool-use ID: `tooluse_` and 22 letters and digits.
fn tool_use_id(rng: &mut fastrand::Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(30);
    id.push_str("tooluse_");
    for _ in 0..22 {
        id.push(char::from(ALPHABET[rng.usize(..ALPHABET.len())]));
    }
    id
}

/// One sentence per tool result of the last user turn, naming the tool the
/// result answers (from the assistant turn before).
fn answer_results(request: &GenerationRequest, blocks: &[ContentBlock]) -> String {
    // The calls' names by ID (a map: a conversation may hold thousands).
    let calls: std::collections::HashMap<&str, &str> = request
        .messages
        .iter()
        .rev()
        .nth(1)
        .map(|m| {
            m.content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse(t) => Some((t.id.as_str(), t.name.as_str())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut sentences = Vec::new();
    for block in blocks {
        let ContentBlock::ToolResult(result) = block else {
            continue;
        };
        let name = calls
            .get(result.tool_use_id.as_str())
            .copied()
            .unwrap_or(result.tool_use_id.as_str());
        let summary: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| match c {
                ToolResultContent::Text(t) => Some(t.clone()),
                ToolResultContent::Json(j) => Some(j.to_string()),
                _ => None,
            })
            .collect();
        let summary = summary.join(" ");
        sentences.push(match result.status {
            Some(ToolResultStatus::Error) => format!("The {name} tool failed: {summary}."),
            _ => format!("The {name} tool returned {summary}."),
        });
    }
    sentences.join(" ")
}

/// The last capitalised word of `text` that does not start a sentence,
/// trimmed of punctuation.
fn proper_noun(text: &str) -> Option<String> {
    let mut sentence_start = true;
    let mut found = None;
    for word in text.split_whitespace() {
        let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
        if !sentence_start && trimmed.chars().next().is_some_and(char::is_uppercase) {
            found = Some(trimmed.to_owned());
        }
        sentence_start = word.ends_with(['.', '?', '!']);
    }
    found
}

/// Which object properties an example fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Only the required ones (a tool call's input, as a terse model would).
    Required,
    /// All of them (a structured answer).
    All,
}

/// How deep an example follows nested schemas.
const MAX_EXAMPLE_DEPTH: usize = 16;

/// A value valid against `schema` (the common JSON Schema keywords: type,
/// const, enum, default, properties, required, items, minItems, minimum,
/// maximum, minLength, maxLength, format, anyOf/oneOf/allOf), with `topic`
/// for free strings.
fn example(schema: &Value, topic: &str, fill: Fill) -> Value {
    example_at(schema, topic, fill, 0)
}

fn example_at(schema: &Value, topic: &str, fill: Fill, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::String(topic.to_owned());
    };
    if depth > MAX_EXAMPLE_DEPTH {
        return Value::Null;
    }
    if let Some(v) = s.get("const") {
        return v.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(v) = s.get("default") {
        return v.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return example_at(first, topic, fill, depth + 1);
        }
    }
    match schema_type(s) {
        "object" => object_example(s, topic, fill, depth),
        "array" => {
            let count = s
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 8);
            let item = s.get("items").map_or(Value::String(topic.to_owned()), |i| {
                example_at(i, topic, fill, depth + 1)
            });
            Value::Array(vec![item; count as usize])
        }
        "integer" => {
            let low = s
                .get("minimum")
                .and_then(Value::as_f64)
                .map_or(1, |m| m.ceil() as i64);
            let high = s
                .get("maximum")
                .and_then(Value::as_f64)
                .map_or(i64::MAX, |m| m.floor() as i64);
            json!(low.min(high))
        }
        "number" => {
            let low = s.get("minimum").and_then(Value::as_f64).unwrap_or(1.5);
            let high = s.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
            json!(low.min(high))
        }
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(string_example(s, topic)),
    }
}

/// The schema's type: its `type` (the first non-null of a list), or what
/// its keywords imply.
fn schema_type(s: &Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    }
}

fn object_example(s: &Map<String, Value>, topic: &str, fill: Fill, depth: usize) -> Value {
    let properties = s.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    if let Some(properties) = properties {
        for (name, property) in properties {
            if fill == Fill::All || required.contains(&name.as_str()) {
                out.insert(name.clone(), example_at(property, topic, fill, depth + 1));
            }
        }
    }
    // A required property the schema does not describe still gets a value.
    for name in required {
        out.entry(name.to_owned())
            .or_insert_with(|| Value::String(topic.to_owned()));
    }
    Value::Object(out)
}

fn string_example(s: &Map<String, Value>, topic: &str) -> String {
    let base = match s.get("format").and_then(Value::as_str) {
        Some("date") => "2026-01-01".to_owned(),
        Some("date-time") => "2026-01-01T00:00:00Z".to_owned(),
        Some("time") => "00:00:00Z".to_owned(),
        Some("email") => "someone@example.com".to_owned(),
        Some("uri" | "url") => "https://example.com/".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => topic.to_owned(),
    };
    let mut text: String = match s.get("maxLength").and_then(Value::as_u64) {
        Some(max) => base.chars().take(max as usize).collect(),
        None => base,
    };
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    while text.chars().count() < min {
        text.push('x');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_inputs_fill_required_properties_by_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 3},
                "detailed": {"type": "boolean"},
                "optional": {"type": "string"}
            },
            "required": ["city", "unit", "days", "detailed"]
        });
        assert_eq!(
            example(&schema, "paris", Fill::Required),
            json!({"city": "paris", "unit": "celsius", "days": 3, "detailed": true})
        );
        let all = example(&schema, "paris", Fill::All);
        assert_eq!(all["optional"], "paris");
    }

    #[test]
    fn nested_and_array_schemas_give_valid_values() {
        let schema = json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 2},
                "place": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                "maybe": {"type": ["null", "integer"], "maximum": 0}
            }
        });
        assert_eq!(
            example(&schema, "paris", Fill::All),
            json!({"tags": ["par", "par"], "place": {"lat": 1.5}, "maybe": 0})
        );
    }

    #[test]
    fn tool_arguments_take_the_last_proper_noun() {
        assert_eq!(
            proper_noun("What is the weather in Paris?").as_deref(),
            Some("Paris")
        );
        assert_eq!(
            proper_noun("Compare Lyon and New York."),
            Some("York".to_owned())
        );
        assert_eq!(proper_noun("Hello. Where am I"), Some("I".to_owned()));
        assert_eq!(proper_noun("What time is it?"), None);
    }

    #[test]
    fn digests_are_the_first_eight_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf...
        assert_eq!(short_digest(b"abc"), "ba7816bf");
    }
}
