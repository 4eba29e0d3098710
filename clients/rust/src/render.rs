//! Responses into what the user reads: text, tables, `key: value` lines and JSON.
//!
//! The JSON is written by hand (prost messages do not implement serde). It
//! follows the proto3 JSON mapping with snake_case names, as the proto spells
//! them: enums by their proto names ("STOP_REASON_MAX_TOKENS"), durations as
//! decimal seconds ("0.012s"). Unlike the canonical mapping, scalar fields are
//! printed even when they hold their default (an `output_tokens` of 0 is a
//! fact worth seeing); unset messages and unset `optional` fields are left out.

use crate::pb;
use serde::ser::{Serialize, SerializeMap as _, SerializeSeq as _, Serializer};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The gRPC code's canonical name, as in the gRPC spec (`INVALID_ARGUMENT`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A google.protobuf.Duration in its JSON form: seconds with 0, 3, 6 or 9
/// fractional digits and an `s` ("0.012s", "1s", "-0.500s").
pub fn duration(d: &prost_types::Duration) -> String {
    let negative = d.seconds < 0 || d.nanos < 0;
    let secs = d.seconds.unsigned_abs();
    let nanos = d.nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        format!("{sign}{secs}s")
    } else if nanos % 1_000_000 == 0 {
        format!("{sign}{secs}.{:03}s", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{sign}{secs}.{:06}s", nanos / 1_000)
    } else {
        format!("{sign}{secs}.{nanos:09}s")
    }
}

/// Hand-built JSON whose object keys stay in the order they were added: the
/// proto's field order. (A `serde_json::Map` sorts its keys unless the
/// `preserve_order` feature happens to be on somewhere in the build, so the
/// output would change with unrelated dependencies.)
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// A leaf: string, number, bool or null.
    Leaf(Value),
    /// An array.
    Array(Vec<Json>),
    /// An object, in insertion order.
    Object(Vec<(&'static str, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs, leaving out the `None`s (unset
    /// messages and `optional` fields).
    fn object<const N: usize>(fields: [(&'static str, Option<Json>); N]) -> Json {
        Json::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
        )
    }

    /// The same JSON as a `serde_json::Value`, for code that wants to look
    /// things up by key rather than print.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("JSON made of JSON values always serializes")
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Leaf(v) => v.serialize(serializer),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A present leaf, for [`Json::object`].
fn leaf(v: impl Into<Value>) -> Option<Json> {
    Some(Json::Leaf(v.into()))
}

/// A present array of strings, for [`Json::object`].
fn strings(items: &[String]) -> Option<Json> {
    Some(Json::Array(
        items.iter().map(|s| Json::Leaf(json!(s))).collect(),
    ))
}

/// A duration leaf when the duration is set.
fn duration_json(d: Option<&prost_types::Duration>) -> Option<Json> {
    d.map(|d| Json::Leaf(json!(duration(d))))
}

/// A stop reason by its proto name; an unknown number (from a newer server)
/// stays a number, as the JSON mapping says.
pub fn stop_reason_json(value: i32) -> Json {
    Json::Leaf(match pb::StopReason::try_from(value) {
        Ok(r) => json!(r.as_str_name()),
        Err(_) => json!(value),
    })
}

/// A stop reason by its proto name, for text output.
fn stop_reason_name(value: i32) -> String {
    match pb::StopReason::try_from(value) {
        Ok(r) => r.as_str_name().to_owned(),
        Err(_) => format!("STOP_REASON({value})"),
    }
}

/// Usage as JSON, every counter included.
pub fn usage_json(u: &pb::Usage) -> Json {
    Json::object([
        ("input_tokens", leaf(u.input_tokens)),
        ("output_tokens", leaf(u.output_tokens)),
        ("total_tokens", leaf(u.total_tokens)),
        ("cache_read_input_tokens", leaf(u.cache_read_input_tokens)),
        ("cache_write_input_tokens", leaf(u.cache_write_input_tokens)),
    ])
}

/// A GenerateResponse as JSON.
pub fn generate_response_json(r: &pb::GenerateResponse) -> Json {
    Json::object([
        ("text", leaf(r.text.as_str())),
        ("stop_reason", Some(stop_reason_json(r.stop_reason))),
        ("usage", r.usage.as_ref().map(usage_json)),
        ("invoked_model_id", leaf(r.invoked_model_id.as_str())),
        ("backend_latency", duration_json(r.backend_latency.as_ref())),
        ("request_id", leaf(r.request_id.as_str())),
        ("backend", leaf(r.backend.as_str())),
        ("raw_stop_reason", leaf(r.raw_stop_reason.as_str())),
        ("resolved_model_id", leaf(r.resolved_model_id.as_str())),
        ("content", Some(blocks_json(&r.content, Bytes::Size))),
        (
            "service_tier",
            Some(enum_json(r.service_tier, pb::ServiceTier::as_str_name)),
        ),
        (
            "latency",
            Some(enum_json(r.latency, pb::Latency::as_str_name)),
        ),
        (
            "guardrail_trace",
            r.guardrail_trace
                .as_ref()
                .and_then(|t| leaf(crate::request::struct_to_json(t))),
        ),
    ])
}

/// A CountTokensResponse as JSON.
pub fn count_tokens_json(r: &pb::CountTokensResponse) -> Json {
    Json::object([("input_tokens", leaf(r.input_tokens))])
}

/// How [`content_block_json`] shows the bytes of images and documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {
    /// Only their number, as `size_bytes`: for output a person reads.
    Size,
    /// In base64 as `data`, as the proto3 JSON mapping has them: for files
    /// the client reads back (`--save`).
    Base64,
}

/// An enum by its proto name; an unknown number stays a number.
fn enum_json<E: TryFrom<i32>>(value: i32, name: impl Fn(&E) -> &'static str) -> Json {
    Json::Leaf(match E::try_from(value) {
        Ok(e) => json!(name(&e)),
        Err(_) => json!(value),
    })
}

fn bytes_json(data: &[u8], bytes: Bytes) -> (&'static str, Option<Json>) {
    use base64::Engine as _;
    match bytes {
        Bytes::Size => ("size_bytes", leaf(data.len())),
        Bytes::Base64 => (
            "data",
            leaf(base64::engine::general_purpose::STANDARD.encode(data)),
        ),
    }
}

fn image_json(i: &pb::Image, bytes: Bytes) -> Json {
    Json::object([
        (
            "format",
            Some(enum_json(i.format, pb::ImageFormat::as_str_name)),
        ),
        bytes_json(&i.data, bytes),
    ])
}

fn document_json(d: &pb::Document, bytes: Bytes) -> Json {
    Json::object([
        (
            "format",
            Some(enum_json(d.format, pb::DocumentFormat::as_str_name)),
        ),
        ("name", leaf(d.name.as_str())),
        bytes_json(&d.data, bytes),
    ])
}

/// A tool call as JSON: `{"id", "name", "input"}`, an unset input as `{}`.
pub fn tool_use_json(t: &pb::ToolUse) -> Json {
    Json::object([
        ("id", leaf(t.id.as_str())),
        ("name", leaf(t.name.as_str())),
        ("input", leaf(tool_input(t))),
    ])
}

/// A tool call's input as a JSON object (`{}` when unset).
pub fn tool_input(t: &pb::ToolUse) -> Value {
    t.input
        .as_ref()
        .map_or_else(|| json!({}), crate::request::struct_to_json)
}

/// A reasoning block as JSON: `{"text", "signature"}`, or its redacted
/// bytes as `redacted` in base64, in every output (they are small, and a
/// conversation cannot go on without them), so `bytes` does not matter.
pub fn reasoning_json(r: &pb::Reasoning, _bytes: Bytes) -> Json {
    use base64::Engine as _;
    if r.redacted.is_empty() {
        return Json::object([
            ("text", leaf(r.text.as_str())),
            ("signature", leaf(r.signature.as_str())),
        ]);
    }
    let text = (!r.text.is_empty()).then(|| Json::Leaf(json!(r.text)));
    let signature = (!r.signature.is_empty()).then(|| Json::Leaf(json!(r.signature)));
    let redacted = (
        "redacted",
        leaf(base64::engine::general_purpose::STANDARD.encode(&r.redacted)),
    );
    Json::object([("text", text), ("signature", signature), redacted])
}

/// A cache point as JSON: `{}`, or `{"ttl": "CACHE_TTL_1_HOUR"}`.
pub fn cache_point_json(c: &pb::CachePoint) -> Json {
    Json::object([(
        "ttl",
        (c.ttl != pb::CacheTtl::Unspecified as i32)
            .then(|| enum_json(c.ttl, pb::CacheTtl::as_str_name)),
    )])
}

/// One content block as JSON, keyed by its kind as the proto's oneof names
/// it: `{"text": ...}`, `{"tool_use": {...}}`, `{"image": {...}}`, ...
pub fn content_block_json(b: &pb::ContentBlock, bytes: Bytes) -> Json {
    use pb::content_block::Block;
    use pb::tool_result_content::Content;
    let (key, value) = match &b.block {
        None => return Json::Object(Vec::new()),
        Some(Block::Text(t)) => ("text", Json::Leaf(json!(t))),
        Some(Block::Image(i)) => ("image", image_json(i, bytes)),
        Some(Block::Document(d)) => ("document", document_json(d, bytes)),
        Some(Block::ToolUse(t)) => ("tool_use", tool_use_json(t)),
        Some(Block::Reasoning(r)) => ("reasoning", reasoning_json(r, bytes)),
        Some(Block::CachePoint(c)) => ("cache_point", cache_point_json(c)),
        Some(Block::ToolResult(r)) => {
            let pieces = r
                .content
                .iter()
                .map(|piece| match &piece.content {
                    None => Json::Object(Vec::new()),
                    Some(Content::Text(t)) => Json::object([("text", leaf(t.as_str()))]),
                    Some(Content::Json(s)) => {
                        Json::object([("json", leaf(crate::request::struct_to_json(s)))])
                    }
                    Some(Content::Image(i)) => {
                        Json::object([("image", Some(image_json(i, bytes)))])
                    }
                    Some(Content::Document(d)) => {
                        Json::object([("document", Some(document_json(d, bytes)))])
                    }
                })
                .collect();
            let status = (r.status != pb::ToolResultStatus::Unspecified as i32)
                .then(|| enum_json(r.status, pb::ToolResultStatus::as_str_name));
            (
                "tool_result",
                Json::object([
                    ("tool_use_id", leaf(r.tool_use_id.as_str())),
                    ("content", Some(Json::Array(pieces))),
                    ("status", status),
                ]),
            )
        }
    };
    Json::Object(vec![(key, value)])
}

/// Content blocks as a JSON array.
pub fn blocks_json(blocks: &[pb::ContentBlock], bytes: Bytes) -> Json {
    Json::Array(
        blocks
            .iter()
            .map(|b| content_block_json(b, bytes))
            .collect(),
    )
}

/// The line that shows a tool call in text output:
/// `tool call NAME (ID): INPUT_JSON`, the input as compact JSON.
pub fn tool_call_line(name: &str, id: &str, input: &str) -> String {
    format!("tool call {name} ({id}): {input}\n")
}

/// The tool calls among `blocks`, as [`tool_call_line`]s.
pub fn tool_call_lines(blocks: &[pb::ContentBlock]) -> String {
    blocks
        .iter()
        .filter_map(|b| match &b.block {
            Some(pb::content_block::Block::ToolUse(t)) => {
                Some(tool_call_line(&t.name, &t.id, &tool_input(t).to_string()))
            }
            _ => None,
        })
        .collect()
}

/// A tool call's input fragments, joined, for [`tool_call_line`]: compact
/// JSON when they make JSON, otherwise the text as it came (a malformed
/// call), and `{}` when there were none.
pub fn assembled_input(fragments: &str) -> String {
    if fragments.trim().is_empty() {
        return "{}".to_owned();
    }
    serde_json::from_str::<Value>(fragments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| fragments.to_owned())
}

/// A GenerationComplete as JSON.
pub fn generation_complete_json(c: &pb::GenerationComplete) -> Json {
    Json::object([
        ("stop_reason", Some(stop_reason_json(c.stop_reason))),
        ("usage", c.usage.as_ref().map(usage_json)),
        ("invoked_model_id", leaf(c.invoked_model_id.as_str())),
        ("backend_latency", duration_json(c.backend_latency.as_ref())),
        ("request_id", leaf(c.request_id.as_str())),
        ("backend", leaf(c.backend.as_str())),
        ("raw_stop_reason", leaf(c.raw_stop_reason.as_str())),
        (
            "time_to_first_token",
            duration_json(c.time_to_first_token.as_ref()),
        ),
        ("resolved_model_id", leaf(c.resolved_model_id.as_str())),
        (
            "tool_uses",
            Some(Json::Array(c.tool_uses.iter().map(tool_use_json).collect())),
        ),
        (
            "service_tier",
            Some(enum_json(c.service_tier, pb::ServiceTier::as_str_name)),
        ),
        (
            "latency",
            Some(enum_json(c.latency, pb::Latency::as_str_name)),
        ),
        (
            "guardrail_trace",
            c.guardrail_trace
                .as_ref()
                .and_then(|t| leaf(crate::request::struct_to_json(t))),
        ),
    ])
}

/// One GenerateStreamResponse as JSON, keyed by the event's kind:
/// `{"delta": {...}}`, `{"tool_use_start": {...}}`, `{"tool_use_delta": {...}}`,
/// `{"reasoning_delta": {...}}` (redacted bytes in base64 as `redacted`)
/// or `{"complete": {...}}` (`{}` for an event this client does not know).
pub fn stream_event_json(e: &pb::GenerateStreamResponse) -> Json {
    use pb::generate_stream_response::Event;
    match &e.event {
        Some(Event::Delta(d)) => Json::object([(
            "delta",
            Some(Json::object([
                ("text", leaf(d.text.as_str())),
                ("index", leaf(d.index)),
            ])),
        )]),
        Some(Event::ToolUseStart(t)) => Json::object([(
            "tool_use_start",
            Some(Json::object([
                ("index", leaf(t.index)),
                ("id", leaf(t.id.as_str())),
                ("name", leaf(t.name.as_str())),
            ])),
        )]),
        Some(Event::ToolUseDelta(t)) => Json::object([(
            "tool_use_delta",
            Some(Json::object([
                ("index", leaf(t.index)),
                ("input_json", leaf(t.input_json.as_str())),
            ])),
        )]),
        Some(Event::ReasoningDelta(r)) => {
            use base64::Engine as _;
            let redacted = (!r.redacted.is_empty()).then(|| {
                Json::Leaf(json!(
                    base64::engine::general_purpose::STANDARD.encode(&r.redacted)
                ))
            });
            Json::object([(
                "reasoning_delta",
                Some(Json::object([
                    ("index", leaf(r.index)),
                    ("text", leaf(r.text.as_str())),
                    ("signature", leaf(r.signature.as_str())),
                    ("redacted", redacted),
                ])),
            )])
        }
        Some(Event::Complete(c)) => Json::object([("complete", Some(generation_complete_json(c)))]),
        None => Json::Object(Vec::new()),
    }
}

/// The usage part of a summary line: `usage: I input + O output = T tokens`,
/// with the prompt cache's reads and writes as terms of the sum when there
/// are any (the three input counts are disjoint).
pub fn usage_summary(usage: Option<&pb::Usage>) -> String {
    match usage {
        None => "usage: not reported".to_owned(),
        Some(u) if u.cache_read_input_tokens > 0 || u.cache_write_input_tokens > 0 => format!(
            "usage: {} input + {} cache read + {} cache write + {} output = {} tokens",
            u.input_tokens,
            u.cache_read_input_tokens,
            u.cache_write_input_tokens,
            u.output_tokens,
            u.total_tokens
        ),
        Some(u) => format!(
            "usage: {} input + {} output = {} tokens",
            u.input_tokens, u.output_tokens, u.total_tokens
        ),
    }
}

/// `; service tier: flex; latency mode: optimized`, for what the backend
/// reported serving (nothing when it reported nothing).
fn served_summary(service_tier: i32, latency: i32) -> String {
    let mut out = String::new();
    if service_tier != pb::ServiceTier::Unspecified as i32 {
        let name = pb::ServiceTier::try_from(service_tier).map_or_else(
            |_| service_tier.to_string(),
            |t| {
                t.as_str_name()
                    .trim_start_matches("SERVICE_TIER_")
                    .to_lowercase()
            },
        );
        let _ = write!(out, "; service tier: {name}");
    }
    if latency != pb::Latency::Unspecified as i32 {
        let name = pb::Latency::try_from(latency).map_or_else(
            |_| latency.to_string(),
            |l| {
                l.as_str_name()
                    .trim_start_matches("LATENCY_")
                    .to_lowercase()
            },
        );
        let _ = write!(out, "; latency mode: {name}");
    }
    out
}

/// The one stderr line that ends a streamed completion: why it stopped, what
/// it cost (cache reads and writes included), the tier and latency mode
/// served, and who answered.
pub fn completion_summary(c: &pb::GenerationComplete) -> String {
    let mut line = format!("stop: {}", stop_reason_name(c.stop_reason));
    if !c.raw_stop_reason.is_empty() {
        let _ = write!(line, " ({})", c.raw_stop_reason);
    }
    let _ = write!(line, "; {}", usage_summary(c.usage.as_ref()));
    line.push_str(&served_summary(c.service_tier, c.latency));
    for (key, value) in [
        ("model", &c.invoked_model_id),
        ("resolved model", &c.resolved_model_id),
        ("request id", &c.request_id),
        ("backend", &c.backend),
    ] {
        if !value.is_empty() {
            let _ = write!(line, "; {key}: {value}");
        }
    }
    if let Some(d) = &c.backend_latency {
        let _ = write!(line, "; latency: {}", duration(d));
    }
    if let Some(d) = &c.time_to_first_token {
        let _ = write!(line, "; first token: {}", duration(d));
    }
    line
}

/// The stderr line `generate` prints after the answer when the response has
/// something beyond its text worth saying: prompt-cache reads or writes, the
/// tier or latency mode served, or a guardrail's intervention. None
/// otherwise, so a plain call prints nothing on stderr.
pub fn response_summary(r: &pb::GenerateResponse) -> Option<String> {
    let cached = r
        .usage
        .as_ref()
        .is_some_and(|u| u.cache_read_input_tokens > 0 || u.cache_write_input_tokens > 0);
    let served = served_summary(r.service_tier, r.latency);
    let guarded = r.stop_reason == pb::StopReason::GuardrailIntervened as i32;
    if !cached && served.is_empty() && !guarded && r.guardrail_trace.is_none() {
        return None;
    }
    let mut line = format!("stop: {}", stop_reason_name(r.stop_reason));
    let _ = write!(line, "; {}{served}", usage_summary(r.usage.as_ref()));
    Some(line)
}

/// A guardrail trace for stderr: a heading, then the trace as pretty JSON.
pub fn guardrail_trace_text(trace: &prost_types::Struct) -> String {
    let json = crate::request::struct_to_json(trace);
    let pretty = serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string());
    format!("guardrail trace:\n{pretty}")
}

/// Starts dimmed text on a terminal (SGR 2, faint).
pub const DIM: &str = "\x1b[2m";
/// Ends dimmed text.
pub const RESET: &str = "\x1b[0m";

/// The line that stands for redacted reasoning, whose bytes are never shown.
pub fn redacted_reasoning_line(size: usize) -> String {
    format!("[redacted reasoning, {size} bytes]")
}

/// The reasoning blocks among `blocks`, for printing before the answer:
/// dimmed on a terminal, else under a `Reasoning:` heading and followed by an
/// `Answer:` heading. Empty when the answer has no reasoning.
pub fn reasoning_section(blocks: &[pb::ContentBlock], terminal: bool) -> String {
    let pieces: Vec<String> = blocks
        .iter()
        .filter_map(|b| match &b.block {
            Some(pb::content_block::Block::Reasoning(r)) if r.redacted.is_empty() => {
                Some(r.text.clone())
            }
            Some(pb::content_block::Block::Reasoning(r)) => {
                Some(redacted_reasoning_line(r.redacted.len()))
            }
            _ => None,
        })
        .collect();
    if pieces.is_empty() {
        return String::new();
    }
    let body = text_line(&pieces.join("\n\n"));
    if terminal {
        format!("{DIM}{}{RESET}\n\n", body.trim_end_matches('\n'))
    } else {
        format!("Reasoning:\n{body}\nAnswer:\n")
    }
}

/// A ModelSummary as JSON.
pub fn model_json(m: &pb::ModelSummary) -> Json {
    Json::object([
        ("model_id", leaf(m.model_id.as_str())),
        ("model_arn", leaf(m.model_arn.as_str())),
        ("model_name", leaf(m.model_name.as_str())),
        ("provider_name", leaf(m.provider_name.as_str())),
        ("input_modalities", strings(&m.input_modalities)),
        ("output_modalities", strings(&m.output_modalities)),
        (
            "response_streaming_supported",
            m.response_streaming_supported.and_then(leaf),
        ),
        (
            "customizations_supported",
            strings(&m.customizations_supported),
        ),
        (
            "inference_types_supported",
            strings(&m.inference_types_supported),
        ),
        ("lifecycle_status", leaf(m.lifecycle_status.as_str())),
    ])
}

/// A ListModelsResponse as JSON.
pub fn list_models_json(r: &pb::ListModelsResponse) -> Json {
    Json::object([(
        "models",
        Some(Json::Array(r.models.iter().map(model_json).collect())),
    )])
}

/// A GetModelResponse as JSON.
pub fn get_model_json(r: &pb::GetModelResponse) -> Json {
    Json::object([("model", r.model.as_ref().map(model_json))])
}

/// A list for a table cell or a detail line: comma-joined, `-` when empty.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// Streaming support as a word: unset means Bedrock did not say.
fn streaming(s: Option<bool>) -> &'static str {
    match s {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// The models as an aligned table with a header row. Columns are padded to
/// their widest cell (in characters); the last column is not padded, so no
/// line ends in spaces.
pub fn models_table(models: &[pb::ModelSummary]) -> String {
    const HEADER: [&str; 8] = [
        "MODEL ID",
        "PROVIDER",
        "NAME",
        "IN",
        "OUT",
        "STREAM",
        "INFERENCE",
        "STATUS",
    ];
    let rows: Vec<[String; 8]> = std::iter::once(HEADER.map(str::to_owned))
        .chain(models.iter().map(|m| {
            [
                m.model_id.clone(),
                m.provider_name.clone(),
                m.model_name.clone(),
                list(&m.input_modalities),
                list(&m.output_modalities),
                streaming(m.response_streaming_supported).to_owned(),
                list(&m.inference_types_supported),
                if m.lifecycle_status.is_empty() {
                    "-".to_owned()
                } else {
                    m.lifecycle_status.clone()
                },
            ]
        }))
        .collect();
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One model as `key: value` lines, keys as the proto names them.
pub fn model_details(m: &pb::ModelSummary) -> String {
    let streaming = match m.response_streaming_supported {
        Some(b) => b.to_string(),
        None => "unknown".to_owned(),
    };
    let lines = [
        ("model_id", m.model_id.clone()),
        ("model_name", m.model_name.clone()),
        ("provider_name", m.provider_name.clone()),
        ("model_arn", m.model_arn.clone()),
        ("input_modalities", list(&m.input_modalities)),
        ("output_modalities", list(&m.output_modalities)),
        ("response_streaming_supported", streaming),
        (
            "customizations_supported",
            list(&m.customizations_supported),
        ),
        (
            "inference_types_supported",
            list(&m.inference_types_supported),
        ),
        ("lifecycle_status", m.lifecycle_status.clone()),
    ];
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{key}: {value}");
    }
    out
}

/// A google.protobuf.Timestamp in its JSON form, RFC 3339 in UTC with 0, 3,
/// 6 or 9 fractional digits ("2026-11-27T00:00:00Z"); one outside what
/// SystemTime holds prints as its seconds since the epoch.
pub fn timestamp(t: &prost_types::Timestamp) -> String {
    match std::time::SystemTime::try_from(*t) {
        Ok(at) if t.nanos == 0 => humantime::format_rfc3339_seconds(at).to_string(),
        Ok(at) if t.nanos % 1_000_000 == 0 => humantime::format_rfc3339_millis(at).to_string(),
        Ok(at) if t.nanos % 1_000 == 0 => humantime::format_rfc3339_micros(at).to_string(),
        Ok(at) => humantime::format_rfc3339_nanos(at).to_string(),
        Err(_) => format!("{}s since 1970-01-01T00:00:00Z", t.seconds),
    }
}

fn timestamp_json(t: Option<&prost_types::Timestamp>) -> Option<Json> {
    t.map(|t| Json::Leaf(json!(timestamp(t))))
}

/// A per-minute limit's use as JSON.
fn rate_usage_json(r: &pb::RateUsage) -> Json {
    Json::object([("limit", leaf(r.limit)), ("available", leaf(r.available))])
}

/// A budget's use as JSON.
fn budget_usage_json(b: &pb::BudgetUsage) -> Json {
    Json::object([
        ("limit", leaf(b.limit)),
        ("used", leaf(b.used)),
        ("remaining", leaf(b.remaining)),
        ("period_start", timestamp_json(b.period_start.as_ref())),
        ("renews_at", timestamp_json(b.renews_at.as_ref())),
    ])
}

/// A GetUsageResponse as JSON. Its uint64 counts print as JSON numbers (the
/// canonical mapping quotes 64-bit integers; token counts stay far below
/// 2^53, where numbers are exact everywhere, and numbers suit `jq`).
pub fn get_usage_json(r: &pb::GetUsageResponse) -> Json {
    Json::object([
        ("key_name", leaf(r.key_name.as_str())),
        ("limits_store", leaf(r.limits_store.as_str())),
        (
            "requests_per_minute",
            r.requests_per_minute.as_ref().map(rate_usage_json),
        ),
        (
            "tokens_per_minute",
            r.tokens_per_minute.as_ref().map(rate_usage_json),
        ),
        (
            "tokens_today",
            r.tokens_today.as_ref().map(budget_usage_json),
        ),
        (
            "tokens_this_month",
            r.tokens_this_month.as_ref().map(budget_usage_json),
        ),
    ])
}

/// A per-minute limit as words: `5 of 6 available`, or `no limit` for 0.
fn rate_usage_words(r: Option<&pb::RateUsage>) -> String {
    match r {
        Some(r) if r.limit > 0 => format!("{} of {} available", r.available, r.limit),
        _ => "no limit".to_owned(),
    }
}

/// A budget as words: `26 used of 1000, 974 left; renews at ...`, or
/// `26 used, no limit; renews at ...` for a limit of 0 (the spend is
/// counted all the same).
fn budget_usage_words(b: Option<&pb::BudgetUsage>) -> String {
    let Some(b) = b else {
        return "not reported".to_owned();
    };
    let mut words = if b.limit > 0 {
        format!("{} used of {}, {} left", b.used, b.limit, b.remaining)
    } else {
        format!("{} used, no limit", b.used)
    };
    if let Some(at) = &b.renews_at {
        let _ = write!(words, "; renews at {}", timestamp(at));
    }
    words
}

/// A GetUsageResponse as `label: value` lines.
pub fn get_usage_text(r: &pb::GetUsageResponse) -> String {
    let lines = [
        ("key", r.key_name.clone()),
        ("limits store", r.limits_store.clone()),
        (
            "requests per minute",
            rate_usage_words(r.requests_per_minute.as_ref()),
        ),
        (
            "tokens per minute",
            rate_usage_words(r.tokens_per_minute.as_ref()),
        ),
        (
            "tokens today (UTC)",
            budget_usage_words(r.tokens_today.as_ref()),
        ),
        (
            "tokens this month (UTC)",
            budget_usage_words(r.tokens_this_month.as_ref()),
        ),
    ];
    let mut out = String::new();
    for (label, value) in lines {
        let _ = writeln!(out, "{label}: {value}");
    }
    out
}

/// `text`, ending in exactly one newline more if it did not end in one, so
/// the shell prompt starts on its own line and the text is otherwise untouched.
pub fn text_line(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_json_mapping() {
        let d = |seconds, nanos| duration(&prost_types::Duration { seconds, nanos });
        assert_eq!(d(0, 12_000_000), "0.012s");
        assert_eq!(d(3, 0), "3s");
        assert_eq!(d(1, 500), "1.000000500s");
        assert_eq!(d(0, 1_000), "0.000001s");
        assert_eq!(d(0, -500_000_000), "-0.500s");
        assert_eq!(d(-2, 0), "-2s");
    }

    #[test]
    fn codes_have_their_spec_names() {
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(
            code_name(tonic::Code::DeadlineExceeded),
            "DEADLINE_EXCEEDED"
        );
        assert_eq!(code_name(tonic::Code::NotFound), "NOT_FOUND");
    }

    #[test]
    fn responses_become_snake_case_json() {
        let r = pb::GenerateResponse {
            text: "hi".into(),
            stop_reason: pb::StopReason::MaxTokens as i32,
            usage: Some(pb::Usage {
                input_tokens: 2,
                output_tokens: 5,
                total_tokens: 7,
                ..Default::default()
            }),
            invoked_model_id: "m".into(),
            backend_latency: Some(prost_types::Duration {
                seconds: 0,
                nanos: 12_000_000,
            }),
            request_id: "r".into(),
            backend: "simulated".into(),
            raw_stop_reason: "max_tokens".into(),
            resolved_model_id: "amazon.titan-text-express-v1".into(),
            content: vec![],
            ..Default::default()
        };
        let printed = serde_json::to_string(&generate_response_json(&r)).unwrap();
        assert!(
            printed.starts_with(
                r#"{"text":"hi","stop_reason":"STOP_REASON_MAX_TOKENS","usage":{"input_tokens":2,"#
            ),
            "keys keep the proto's order: {printed}"
        );
        let j = generate_response_json(&r).to_value();
        assert_eq!(j["stop_reason"], "STOP_REASON_MAX_TOKENS");
        assert_eq!(j["resolved_model_id"], "amazon.titan-text-express-v1");
        assert_eq!(j["usage"]["output_tokens"], 5);
        assert_eq!(j["usage"]["cache_read_input_tokens"], 0);
        assert_eq!(j["backend_latency"], "0.012s");
        assert_eq!(j["raw_stop_reason"], "max_tokens");
        let unknown = pb::GenerateResponse {
            stop_reason: 99,
            ..Default::default()
        };
        let j = generate_response_json(&unknown).to_value();
        assert_eq!(j["stop_reason"], 99);
        assert!(j.get("usage").is_none() && j.get("backend_latency").is_none());
    }

    fn tool_use(id: &str, name: &str, input: serde_json::Value) -> pb::ToolUse {
        pb::ToolUse {
            id: id.into(),
            name: name.into(),
            input: input.as_object().map(crate::request::json_object_to_struct),
        }
    }

    #[test]
    fn content_blocks_and_tool_calls_render() {
        use pb::content_block::Block;
        let r = pb::GenerateResponse {
            text: "I will call get_weather.".into(),
            stop_reason: pb::StopReason::ToolUse as i32,
            content: vec![
                pb::ContentBlock {
                    block: Some(Block::Text("I will call get_weather.".into())),
                },
                pb::ContentBlock {
                    block: Some(Block::ToolUse(tool_use(
                        "tooluse_1",
                        "get_weather",
                        json!({"city": "Paris", "days": 2}),
                    ))),
                },
            ],
            ..Default::default()
        };
        let j = generate_response_json(&r).to_value();
        assert_eq!(j["stop_reason"], "STOP_REASON_TOOL_USE");
        assert_eq!(j["content"][0]["text"], "I will call get_weather.");
        assert_eq!(
            j["content"][1]["tool_use"],
            json!({"id": "tooluse_1", "name": "get_weather", "input": {"city": "Paris", "days": 2}})
        );
        assert_eq!(
            tool_call_lines(&r.content),
            "tool call get_weather (tooluse_1): {\"city\":\"Paris\",\"days\":2}\n"
        );
        let bare = pb::ToolUse {
            id: "t".into(),
            name: "now".into(),
            input: None,
        };
        assert_eq!(tool_use_json(&bare).to_value()["input"], json!({}));
        assert_eq!(assembled_input(r#"{"a": [1, 2]}"#), r#"{"a":[1,2]}"#);
        assert_eq!(assembled_input(r#"{"a": "#), r#"{"a": "#);
        assert_eq!(assembled_input(""), "{}");
    }

    #[test]
    fn bytes_are_never_printed_only_counted() {
        use pb::content_block::Block;
        let image = pb::ContentBlock {
            block: Some(Block::Image(pb::Image {
                format: pb::ImageFormat::Png as i32,
                data: vec![0xAB; 1000],
            })),
        };
        let document = pb::ContentBlock {
            block: Some(Block::Document(pb::Document {
                format: pb::DocumentFormat::Pdf as i32,
                name: "report".into(),
                data: b"%PDF-1.7 secret".to_vec(),
            })),
        };
        let shown =
            serde_json::to_string(&blocks_json(&[image.clone(), document], Bytes::Size)).unwrap();
        assert_eq!(
            shown,
            r#"[{"image":{"format":"IMAGE_FORMAT_PNG","size_bytes":1000}},{"document":{"format":"DOCUMENT_FORMAT_PDF","name":"report","size_bytes":15}}]"#
        );
        let saved = content_block_json(&image, Bytes::Base64).to_value();
        assert!(saved["image"]["data"].as_str().unwrap().starts_with("q6ur"));
    }

    #[test]
    fn stream_events_become_json_lines() {
        use pb::generate_stream_response::Event;
        let event = |e| {
            serde_json::to_string(&stream_event_json(&pb::GenerateStreamResponse {
                event: Some(e),
            }))
            .unwrap()
        };
        assert_eq!(
            event(Event::Delta(pb::TextDelta {
                text: "hi".into(),
                index: 0
            })),
            r#"{"delta":{"text":"hi","index":0}}"#
        );
        assert_eq!(
            event(Event::ToolUseStart(pb::ToolUseStart {
                index: 1,
                id: "t1".into(),
                name: "f".into()
            })),
            r#"{"tool_use_start":{"index":1,"id":"t1","name":"f"}}"#
        );
        assert_eq!(
            event(Event::ToolUseDelta(pb::ToolUseDelta {
                index: 1,
                input_json: "{\"a\":".into()
            })),
            r#"{"tool_use_delta":{"index":1,"input_json":"{\"a\":"}}"#
        );
        let complete = event(Event::Complete(pb::GenerationComplete {
            stop_reason: pb::StopReason::ToolUse as i32,
            tool_uses: vec![tool_use("t1", "f", json!({"a": 1}))],
            ..Default::default()
        }));
        assert!(
            complete.contains(r#""tool_uses":[{"id":"t1","name":"f","input":{"a":1}}],"#),
            "{complete}"
        );
    }

    #[test]
    fn reasoning_prints_before_the_answer_and_bytes_stay_hidden() {
        use pb::content_block::Block;
        let blocks = vec![
            pb::ContentBlock {
                block: Some(Block::Reasoning(pb::Reasoning {
                    text: "Think.".into(),
                    signature: "sig".into(),
                    redacted: vec![],
                })),
            },
            pb::ContentBlock {
                block: Some(Block::Reasoning(pb::Reasoning {
                    redacted: vec![7; 12],
                    ..Default::default()
                })),
            },
            pb::ContentBlock {
                block: Some(Block::Text("Done.".into())),
            },
        ];
        assert_eq!(
            reasoning_section(&blocks, false),
            "Reasoning:\nThink.\n\n[redacted reasoning, 12 bytes]\n\nAnswer:\n"
        );
        assert_eq!(
            reasoning_section(&blocks, true),
            "\x1b[2mThink.\n\n[redacted reasoning, 12 bytes]\x1b[0m\n\n"
        );
        assert_eq!(reasoning_section(&blocks[2..], false), "");
        let shown = blocks_json(&blocks, Bytes::Size).to_value();
        assert_eq!(
            shown[0]["reasoning"],
            json!({"text": "Think.", "signature": "sig"})
        );
        assert_eq!(
            shown[1]["reasoning"],
            json!({"redacted": "BwcHBwcHBwcHBwcH"}),
            "redacted bytes are never dropped, even for people"
        );
        let saved = content_block_json(&blocks[1], Bytes::Base64).to_value();
        assert_eq!(saved["reasoning"], json!({"redacted": "BwcHBwcHBwcHBwcH"}));
        let cache = pb::ContentBlock {
            block: Some(Block::CachePoint(pb::CachePoint { ttl: 0 })),
        };
        assert_eq!(
            content_block_json(&cache, Bytes::Size).to_value(),
            json!({"cache_point": {}})
        );
    }

    #[test]
    fn usage_shows_cache_terms_tier_and_latency() {
        let mut c = pb::GenerationComplete {
            stop_reason: pb::StopReason::EndTurn as i32,
            usage: Some(pb::Usage {
                input_tokens: 5,
                output_tokens: 20,
                total_tokens: 1525,
                cache_read_input_tokens: 1500,
                cache_write_input_tokens: 0,
            }),
            service_tier: pb::ServiceTier::Flex as i32,
            latency: pb::Latency::Optimized as i32,
            ..Default::default()
        };
        let line = completion_summary(&c);
        assert!(
            line.contains(
                "usage: 5 input + 1500 cache read + 0 cache write + 20 output = 1525 tokens; \
                 service tier: flex; latency mode: optimized"
            ),
            "{line}"
        );
        c.usage.as_mut().unwrap().cache_read_input_tokens = 0;
        c.usage.as_mut().unwrap().total_tokens = 25;
        assert!(completion_summary(&c).contains("usage: 5 input + 20 output = 25 tokens"));
        let plain = pb::GenerateResponse {
            usage: c.usage,
            ..Default::default()
        };
        assert_eq!(response_summary(&plain), None);
        let guarded = pb::GenerateResponse {
            stop_reason: pb::StopReason::GuardrailIntervened as i32,
            ..plain
        };
        assert_eq!(
            response_summary(&guarded).unwrap(),
            "stop: STOP_REASON_GUARDRAIL_INTERVENED; usage: 5 input + 20 output = 25 tokens"
        );
        let j = generation_complete_json(&c).to_value();
        assert_eq!(j["service_tier"], "SERVICE_TIER_FLEX");
        assert_eq!(j["latency"], "LATENCY_OPTIMIZED");
        assert!(j.get("guardrail_trace").is_none());
        let event = stream_event_json(&pb::GenerateStreamResponse {
            event: Some(pb::generate_stream_response::Event::ReasoningDelta(
                pb::ReasoningDelta {
                    index: 0,
                    signature: "sig".into(),
                    ..Default::default()
                },
            )),
        });
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"reasoning_delta":{"index":0,"text":"","signature":"sig"}}"#
        );
    }

    #[test]
    fn the_table_is_aligned_without_trailing_spaces() {
        let m = |id: &str, provider: &str| pb::ModelSummary {
            model_id: id.into(),
            provider_name: provider.into(),
            model_name: "N".into(),
            input_modalities: vec!["TEXT".into()],
            output_modalities: vec!["TEXT".into(), "IMAGE".into()],
            response_streaming_supported: Some(true),
            inference_types_supported: vec![],
            lifecycle_status: "ACTIVE".into(),
            ..Default::default()
        };
        let table = models_table(&[m("a.long-model-id", "Amazon"), m("b", "Meta")]);
        let lines: Vec<_> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("MODEL ID         PROVIDER  NAME"),
            "{table}"
        );
        let col = |l: &str| l.find("Amazon").or(l.find("Meta")).or(l.find("PROVIDER"));
        assert_eq!(col(lines[0]), col(lines[1]));
        assert_eq!(col(lines[1]), col(lines[2]));
        assert!(lines[1].contains("TEXT,IMAGE  yes     -"), "{table}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn usage_prints_limits_spend_and_renewal_with_no_limit_for_zero() {
        let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        let r = pb::GetUsageResponse {
            key_name: "search".into(),
            limits_store: "redis".into(),
            requests_per_minute: Some(pb::RateUsage {
                limit: 600,
                available: 598,
            }),
            tokens_per_minute: Some(pb::RateUsage {
                limit: 0,
                available: 0,
            }),
            tokens_today: Some(pb::BudgetUsage {
                limit: 1000,
                used: 26,
                remaining: 974,
                period_start: at(1_795_651_200),
                renews_at: at(1_795_737_600),
            }),
            tokens_this_month: Some(pb::BudgetUsage {
                limit: 0,
                used: 26,
                remaining: 0,
                period_start: at(1_793_491_200),
                renews_at: at(1_796_083_200),
            }),
        };
        assert_eq!(
            get_usage_text(&r),
            "key: search\n\
             limits store: redis\n\
             requests per minute: 598 of 600 available\n\
             tokens per minute: no limit\n\
             tokens today (UTC): 26 used of 1000, 974 left; renews at 2026-11-27T00:00:00Z\n\
             tokens this month (UTC): 26 used, no limit; renews at 2026-12-01T00:00:00Z\n"
        );
        let j = get_usage_json(&r).to_value();
        assert_eq!(j["tokens_today"]["remaining"], 974);
        assert_eq!(j["tokens_today"]["period_start"], "2026-11-26T00:00:00Z");
        assert_eq!(j["tokens_this_month"]["renews_at"], "2026-12-01T00:00:00Z");
        assert_eq!(j["requests_per_minute"]["limit"], 600);
        let keys: Vec<&str> = match get_usage_json(&r) {
            Json::Object(fields) => fields.iter().map(|(k, _)| *k).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            keys,
            [
                "key_name",
                "limits_store",
                "requests_per_minute",
                "tokens_per_minute",
                "tokens_today",
                "tokens_this_month"
            ]
        );
        let fraction = prost_types::Timestamp {
            seconds: 1_795_737_600,
            nanos: 500_000_000,
        };
        assert_eq!(timestamp(&fraction), "2026-11-27T00:00:00.500Z");
    }

    #[test]
    fn text_gets_one_final_newline() {
        assert_eq!(text_line("a"), "a\n");
        assert_eq!(text_line("a\n"), "a\n");
        assert_eq!(text_line(""), "\n");
    }
}
