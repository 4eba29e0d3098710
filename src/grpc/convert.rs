//! Domain results to protobuf messages. Outbound conversions cannot fail.

use crate::domain::{
    CachePoint, CacheTtl, Completion, ContentBlock, Document, DocumentFormat, Generation, Image,
    ImageFormat, Latency, ModelInfo, Reasoning, ReasoningDelta, ServiceTier, StopReason,
    ToolResult, ToolResultContent, ToolResultStatus, ToolUse, Usage,
};
use crate::pb;
use std::time::Duration;

pub(crate) fn stop_reason(r: StopReason) -> pb::StopReason {
    match r {
        StopReason::EndTurn => pb::StopReason::EndTurn,
        StopReason::MaxTokens => pb::StopReason::MaxTokens,
        StopReason::StopSequence => pb::StopReason::StopSequence,
        StopReason::ContentFiltered => pb::StopReason::ContentFiltered,
        StopReason::GuardrailIntervened => pb::StopReason::GuardrailIntervened,
        StopReason::ToolUse => pb::StopReason::ToolUse,
        StopReason::MalformedModelOutput => pb::StopReason::MalformedModelOutput,
        StopReason::MalformedToolUse => pb::StopReason::MalformedToolUse,
        StopReason::ModelContextWindowExceeded => pb::StopReason::ModelContextWindowExceeded,
        StopReason::Other => pb::StopReason::Other,
    }
}

pub(crate) fn usage(u: Usage) -> pb::Usage {
    let Usage {
        input_tokens,
        output_tokens,
        total_tokens,
        cache_read_input_tokens,
        cache_write_input_tokens,
    } = u;
    pb::Usage {
        input_tokens,
        output_tokens,
        total_tokens,
        cache_read_input_tokens,
        cache_write_input_tokens,
    }
}

pub(crate) fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs().min(i64::MAX as u64) as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

pub(crate) fn generate_response(g: Generation, backend: &str) -> pb::GenerateResponse {
    // The text alone is one block's copy; only a mixed answer joins.
    let text = match g.content.as_slice() {
        [ContentBlock::Text(t)] => t.clone(),
        _ => g.text(),
    };
    let Generation { content, completion } = g;
    let Completion {
        stop_reason: reason,
        raw_stop_reason,
        usage: u,
        invoked_model_id,
        resolved_model_id,
        backend_latency,
        request_id,
        tool_uses: _,
        service_tier: tier,
        latency: served_latency,
        guardrail_trace,
    } = completion;
    pb::GenerateResponse {
        text,
        stop_reason: stop_reason(reason) as i32,
        usage: Some(usage(u)),
        invoked_model_id,
        backend_latency: Some(duration(backend_latency)),
        request_id,
        backend: backend.to_owned(),
        raw_stop_reason,
        resolved_model_id,
        // An empty text block (a model's empty answer) is left out: sent
        // back as an assistant turn, Bedrock would refuse it as blank.
        content: content
            .into_iter()
            .filter(|b| !matches!(b, ContentBlock::Text(t) if t.is_empty()))
            .map(content_block)
            .collect(),
        service_tier: tier.map_or(0, |t| service_tier(t) as i32),
        latency: served_latency.map_or(0, |l| latency(l) as i32),
        guardrail_trace: guardrail_trace.map(|t| json_struct(*t)),
    }
}

pub(crate) fn service_tier(t: ServiceTier) -> pb::ServiceTier {
    match t {
        ServiceTier::Default => pb::ServiceTier::Default,
        ServiceTier::Priority => pb::ServiceTier::Priority,
        ServiceTier::Flex => pb::ServiceTier::Flex,
        ServiceTier::Reserved => pb::ServiceTier::Reserved,
    }
}

fn latency(l: Latency) -> pb::Latency {
    match l {
        Latency::Standard => pb::Latency::Standard,
        Latency::Optimized => pb::Latency::Optimized,
    }
}

fn reasoning(r: Reasoning) -> pb::Reasoning {
    match r {
        Reasoning::Text { text, signature } => pb::Reasoning {
            text,
            signature: signature.unwrap_or_default(),
            redacted: Default::default(),
        },
        Reasoning::Redacted(redacted) => pb::Reasoning {
            redacted,
            ..Default::default()
        },
    }
}

fn cache_point(p: CachePoint) -> pb::CachePoint {
    let ttl = match p.ttl {
        None => pb::CacheTtl::Unspecified,
        Some(CacheTtl::FiveMinutes) => pb::CacheTtl::CacheTtl5Minutes,
        Some(CacheTtl::OneHour) => pb::CacheTtl::CacheTtl1Hour,
    };
    pb::CachePoint { ttl: ttl as i32 }
}

pub(crate) fn content_block(b: ContentBlock) -> pb::ContentBlock {
    use pb::content_block::Block;
    let block = match b {
        ContentBlock::Text(t) => Block::Text(t),
        ContentBlock::Image(i) => Block::Image(image(i)),
        ContentBlock::Document(d) => Block::Document(document(d)),
        ContentBlock::ToolUse(t) => Block::ToolUse(tool_use(t)),
        ContentBlock::ToolResult(r) => Block::ToolResult(tool_result(r)),
        ContentBlock::Reasoning(r) => Block::Reasoning(reasoning(r)),
        ContentBlock::CachePoint(p) => Block::CachePoint(cache_point(p)),
    };
    pb::ContentBlock { block: Some(block) }
}

fn image(i: Image) -> pb::Image {
    let format = match i.format {
        ImageFormat::Png => pb::ImageFormat::Png,
        ImageFormat::Jpeg => pb::ImageFormat::Jpeg,
        ImageFormat::Gif => pb::ImageFormat::Gif,
        ImageFormat::Webp => pb::ImageFormat::Webp,
    };
    pb::Image { format: format as i32, data: i.data }
}

fn document(d: Document) -> pb::Document {
    let format = match d.format {
        DocumentFormat::Pdf => pb::DocumentFormat::Pdf,
        DocumentFormat::Csv => pb::DocumentFormat::Csv,
        DocumentFormat::Doc => pb::DocumentFormat::Doc,
        DocumentFormat::Docx => pb::DocumentFormat::Docx,
        DocumentFormat::Xls => pb::DocumentFormat::Xls,
        DocumentFormat::Xlsx => pb::DocumentFormat::Xlsx,
        DocumentFormat::Html => pb::DocumentFormat::Html,
        DocumentFormat::Txt => pb::DocumentFormat::Txt,
        DocumentFormat::Md => pb::DocumentFormat::Md,
    };
    pb::Document { format: format as i32, name: d.name, data: d.data }
}

pub(crate) fn tool_use(t: ToolUse) -> pb::ToolUse {
    pb::ToolUse {
        id: t.id,
        name: t.name,
        input: Some(json_struct(t.input)),
    }
}

fn tool_result(r: ToolResult) -> pb::ToolResult {
    use pb::tool_result_content::Content;
    pb::ToolResult {
        tool_use_id: r.tool_use_id,
        content: r
            .content
            .into_iter()
            .map(|c| pb::ToolResultContent {
                content: Some(match c {
                    ToolResultContent::Text(t) => Content::Text(t),
                    ToolResultContent::Json(j) => Content::Json(json_struct(j)),
                    ToolResultContent::Image(i) => Content::Image(image(i)),
                    ToolResultContent::Document(d) => Content::Document(document(d)),
                }),
            })
            .collect(),
        status: match r.status {
            None => pb::ToolResultStatus::Unspecified,
            Some(ToolResultStatus::Success) => pb::ToolResultStatus::Success,
            Some(ToolResultStatus::Error) => pb::ToolResultStatus::Error,
        } as i32,
    }
}

/// A JSON object into a google.protobuf.Struct; anything else (which
/// validation and the backends never produce here) becomes {}.
fn json_struct(j: serde_json::Value) -> prost_types::Struct {
    match json_value(j).kind {
        Some(prost_types::value::Kind::StructValue(s)) => s,
        _ => prost_types::Struct::default(),
    }
}

/// JSON into a google.protobuf.Value.
fn json_value(j: serde_json::Value) -> prost_types::Value {
    use prost_types::{value::Kind, ListValue, Struct, Value};
    let kind = match j {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.into_iter().map(json_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(Struct {
            fields: o.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

pub(crate) fn text_delta(index: u32, text: String) -> pb::GenerateStreamResponse {
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::Delta(pb::TextDelta { text, index })),
    }
}

pub(crate) fn tool_use_start(index: u32, id: String, name: String) -> pb::GenerateStreamResponse {
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::ToolUseStart(pb::ToolUseStart {
            index,
            id,
            name,
        })),
    }
}

pub(crate) fn tool_use_delta(index: u32, input_json: String) -> pb::GenerateStreamResponse {
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::ToolUseDelta(pb::ToolUseDelta {
            index,
            input_json,
        })),
    }
}

pub(crate) fn reasoning_delta(index: u32, delta: ReasoningDelta) -> pb::GenerateStreamResponse {
    let mut out = pb::ReasoningDelta {
        index,
        ..Default::default()
    };
    match delta {
        ReasoningDelta::Text(text) => out.text = text,
        ReasoningDelta::Signature(signature) => out.signature = signature,
        ReasoningDelta::Redacted(redacted) => out.redacted = redacted,
    }
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::ReasoningDelta(out)),
    }
}

pub(crate) fn complete(
    c: Completion,
    backend: &str,
    time_to_first_token: Option<Duration>,
) -> pb::GenerateStreamResponse {
    let Completion {
        stop_reason: reason,
        raw_stop_reason,
        usage: u,
        invoked_model_id,
        resolved_model_id,
        backend_latency,
        request_id,
        tool_uses,
        service_tier: tier,
        latency: served_latency,
        guardrail_trace,
    } = c;
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::Complete(
            pb::GenerationComplete {
                stop_reason: stop_reason(reason) as i32,
                usage: Some(usage(u)),
                invoked_model_id,
                backend_latency: Some(duration(backend_latency)),
                request_id,
                backend: backend.to_owned(),
                raw_stop_reason,
                time_to_first_token: time_to_first_token.map(duration),
                resolved_model_id,
                tool_uses: tool_uses.into_iter().map(tool_use).collect(),
                service_tier: tier.map_or(0, |t| service_tier(t) as i32),
                latency: served_latency.map_or(0, |l| latency(l) as i32),
                guardrail_trace: guardrail_trace.map(|t| json_struct(*t)),
            },
        )),
    }
}

pub(crate) fn model(m: ModelInfo) -> pb::ModelSummary {
    let ModelInfo {
        model_id,
        model_arn,
        model_name,
        provider_name,
        input_modalities,
        output_modalities,
        response_streaming_supported,
        customizations_supported,
        inference_types_supported,
        lifecycle_status,
    } = m;
    pb::ModelSummary {
        model_id,
        model_arn,
        model_name,
        provider_name,
        input_modalities,
        output_modalities,
        response_streaming_supported,
        customizations_supported,
        inference_types_supported,
        lifecycle_status,
    }
}
