//! Domain results to protobuf messages. Outbound conversions cannot fail.

use crate::domain::{Completion, Generation, ModelInfo, StopReason, Usage};
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
    let Generation { text, completion } = g;
    let Completion {
        stop_reason: reason,
        raw_stop_reason,
        usage: u,
        invoked_model_id,
        resolved_model_id,
        backend_latency,
        request_id,
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
    }
}

pub(crate) fn delta(text: String) -> pb::GenerateStreamResponse {
    pb::GenerateStreamResponse {
        event: Some(pb::generate_stream_response::Event::Delta(pb::TextDelta { text })),
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
