//! InvokeModel and InvokeModelWithResponseStream with each family's native
//! body (the codecs live in `native`).
//!
//! A guardrail goes in the operations' own parameters (`guardrailIdentifier`,
//! `guardrailVersion`, `trace`), as do the service tier, the latency mode and
//! the request metadata (a JSON object in a header);
//! the served tier and mode come back in response headers the SDK reads.
//! When the body says the guardrail intervened, the stop reason is
//! GuardrailIntervened and the trace's `guardrail` member, if any, is the
//! completion's `guardrail_trace`, as Bedrock wrote it.

use super::guardrail;
use super::native::{self, ChunkEvent};
use super::options;
use super::sdk_errors::from_sdk;
use crate::model::Family;
use crate::backend::{EventStream, GenerationStream};
use crate::domain::{
    Completion, Generation, GenerationRequest, Latency, Options, ServiceTier, StopReason,
    StreamEvent, Usage,
};
use crate::error::{ErrorKind, GatewayError};
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    PerformanceConfigLatency, ResponseStream, ServiceTierType, Trace,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::StreamExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What InvokeModel reports only in response headers.
#[derive(Debug, Default, Clone, Copy)]
struct HeaderCounts {
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    latency: Option<Duration>,
}

/// Reads the `x-amzn-bedrock-*` headers of the response: the SDK's
/// InvokeModelOutput does not model them, and for Mistral they are the only
/// token counts there are. Written once per call, so no lock.
#[derive(Debug, Clone, Default)]
struct CaptureHeaders(Arc<OnceLock<HeaderCounts>>);

impl Intercept for CaptureHeaders {
    fn name(&self) -> &'static str {
        "CaptureBedrockHeaders"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.response().headers();
        let number = |name: &str| headers.get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let _ = self.0.set(HeaderCounts {
            input_tokens: number("x-amzn-bedrock-input-token-count").and_then(|n| u32::try_from(n).ok()),
            output_tokens: number("x-amzn-bedrock-output-token-count").and_then(|n| u32::try_from(n).ok()),
            latency: number("x-amzn-bedrock-invocation-latency").map(Duration::from_millis),
        });
        Ok(())
    }
}

/// The model's native body family, from its capability row. Validation
/// refuses InvokeModel for a model without one; this guards direct callers.
fn family(request: &GenerationRequest) -> Result<Family, GatewayError> {
    request.target.capabilities().native.ok_or_else(|| {
        GatewayError::invalid_field(
            "api",
            format!(
                "BEDROCK_API_INVOKE_MODEL supports Amazon Titan Text, Anthropic Claude, Meta Llama \
                 and Mistral models, not `{}`; use BEDROCK_API_CONVERSE for it",
                request.target.requested
            ),
        )
    })
}

/// The guardrail, tier, latency and request-metadata parameters both
/// operations take, each `None` when not asked for.
#[derive(Debug, Default, PartialEq)]
struct InvokeOptions {
    guardrail_identifier: Option<String>,
    guardrail_version: Option<String>,
    trace: Option<Trace>,
    service_tier: Option<ServiceTierType>,
    latency: Option<PerformanceConfigLatency>,
    /// The request metadata as the JSON object InvokeModel's
    /// `X-Amzn-Bedrock-Request-Metadata` header carries.
    request_metadata: Option<String>,
}

fn invoke_options(o: &Options) -> InvokeOptions {
    InvokeOptions {
        guardrail_identifier: o.guardrail.as_ref().map(|g| g.identifier.clone()),
        guardrail_version: o.guardrail.as_ref().map(|g| g.version.clone()),
        trace: o.guardrail.as_ref().map(|g| guardrail::invoke_trace(g.trace)),
        service_tier: o.service_tier.map(options::tier_type),
        latency: o.latency.map(options::latency_mode),
        request_metadata: (!o.request_metadata.is_empty())
            .then(|| serde_json::to_string(&o.request_metadata).unwrap_or_default()),
    }
}

/// A guardrail's intervention overrides the model's stop reason (whose
/// spelling is kept as the raw reason, or the guardrail's `INTERVENED` when
/// the model gave none).
fn apply_guardrail(
    g: native::Guardrail,
    stop: &mut Option<(String, StopReason)>,
    trace: &mut Option<Box<serde_json::Value>>,
) {
    if let Some(t) = g.trace {
        *trace = Some(Box::new(t));
    }
    if g.intervened {
        let raw = stop
            .take()
            .map(|(raw, _)| raw)
            .filter(|raw| !raw.is_empty())
            .unwrap_or_else(|| "INTERVENED".to_owned());
        *stop = Some((raw, StopReason::GuardrailIntervened));
    }
}

/// The model's stop after whatever stop came before it: a guardrail's
/// intervention is final, so a later model stop keeps its spelling but not
/// its reason.
fn model_stop(
    before: Option<(String, StopReason)>,
    raw: String,
    reason: StopReason,
) -> (String, StopReason) {
    match before {
        Some((_, StopReason::GuardrailIntervened)) => (raw, StopReason::GuardrailIntervened),
        _ => (raw, reason),
    }
}

fn served(
    tier: Option<&ServiceTierType>,
    latency: Option<&PerformanceConfigLatency>,
) -> (Option<ServiceTier>, Option<Latency>) {
    (
        tier.and_then(options::served_tier),
        latency.and_then(options::served_latency),
    )
}

/// InvokeModel: one whole answer.
pub(crate) async fn generate(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<Generation, GatewayError> {
    let family = family(request)?;
    let body = native::encode(family, request)?;
    let started = Instant::now();
    let headers = CaptureHeaders::default();
    let mut call = client
        .invoke_model()
        .model_id(&*request.target.invoke_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body));
    if let Some(o) = request.options.as_deref() {
        let o = invoke_options(o);
        call = call
            .set_guardrail_identifier(o.guardrail_identifier)
            .set_guardrail_version(o.guardrail_version)
            .set_trace(o.trace)
            .set_service_tier(o.service_tier)
            .set_performance_config_latency(o.latency)
            .set_request_metadata(o.request_metadata);
    }
    let out = call
        .customize()
        .interceptor(headers.clone())
        .send()
        .await
        .map_err(|e| from_sdk("InvokeModel", e, None))?;
    let request_id = out.request_id().unwrap_or_default().to_owned();
    let decoded = native::decode(family, out.body.as_ref())?;
    let mut stop = Some((decoded.raw_stop_reason, decoded.stop_reason));
    let mut guardrail_trace = None;
    if request.options.as_deref().is_some_and(|o| o.guardrail.is_some()) {
        let g = native::decode_guardrail(family, out.body.as_ref())?;
        apply_guardrail(g, &mut stop, &mut guardrail_trace);
    }
    let (raw_stop_reason, stop_reason) = stop.unwrap_or_else(|| (String::new(), StopReason::Other));
    let (service_tier, latency) = served(
        out.service_tier.as_ref(),
        out.performance_config_latency.as_ref(),
    );
    let counts = headers.0.get().copied().unwrap_or_default();
    // The headers are Bedrock's metering; the body's counts are the model's.
    let input = counts.input_tokens.or(decoded.input_tokens).unwrap_or(0);
    let output = counts.output_tokens.or(decoded.output_tokens).unwrap_or(0);
    Ok(Generation {
        content: vec![crate::domain::ContentBlock::Text(decoded.text)],
        completion: Completion {
            stop_reason,
            raw_stop_reason,
            usage: Usage::new(input, output),
            invoked_model_id: request.target.invoke_id.to_string(),
            resolved_model_id: request.target.resolved_model_id().to_owned(),
            backend_latency: counts.latency.unwrap_or_else(|| started.elapsed()),
            request_id,
            tool_uses: Vec::new(),
            service_tier,
            latency,
            guardrail_trace,
        },
    })
}

/// InvokeModelWithResponseStream: chunks decoded as they arrive. Dropping
/// the returned stream drops the SDK receiver and closes the exchange.
pub(crate) async fn generate_stream(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<GenerationStream, GatewayError> {
    let family = family(request)?;
    let body = native::encode(family, request)?;
    let started = Instant::now();
    let mut call = client
        .invoke_model_with_response_stream()
        .model_id(&*request.target.invoke_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body));
    if let Some(o) = request.options.as_deref() {
        let o = invoke_options(o);
        call = call
            .set_guardrail_identifier(o.guardrail_identifier)
            .set_guardrail_version(o.guardrail_version)
            .set_trace(o.trace)
            .set_service_tier(o.service_tier)
            .set_performance_config_latency(o.latency)
            .set_request_metadata(o.request_metadata);
    }
    let out = call
        .send()
        .await
        .map_err(|e| from_sdk("InvokeModelWithResponseStream", e, None))?;
    let request_id = out.request_id().unwrap_or_default().to_owned();
    let (service_tier, latency) = served(
        out.service_tier.as_ref(),
        out.performance_config_latency.as_ref(),
    );
    let state = ChunkState {
        receiver: out.body,
        family,
        pending: std::collections::VecDeque::new(),
        input_tokens: None,
        output_tokens: None,
        stop: None,
        guardrail_trace: None,
        service_tier,
        latency,
        invoked_model_id: request.target.invoke_id.to_string(),
        resolved_model_id: request.target.resolved_model_id().to_owned(),
        request_id: request_id.clone(),
        started,
        done: false,
    };
    let events: EventStream = futures::stream::unfold(state, ChunkState::next).boxed();
    Ok(GenerationStream { request_id, events })
}

struct ChunkState {
    receiver: aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
        ResponseStream,
        aws_sdk_bedrockruntime::types::error::ResponseStreamError,
    >,
    family: Family,
    /// Deltas decoded from one chunk but not yet handed out.
    pending: std::collections::VecDeque<String>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    stop: Option<(String, StopReason)>,
    /// The guardrail's trace, when a chunk carried it.
    guardrail_trace: Option<Box<serde_json::Value>>,
    /// The tier and latency mode served, from the response headers.
    service_tier: Option<ServiceTier>,
    latency: Option<Latency>,
    invoked_model_id: String,
    resolved_model_id: String,
    request_id: String,
    started: Instant,
    done: bool,
}

impl ChunkState {
    async fn next(mut self) -> Option<(Result<StreamEvent, GatewayError>, Self)> {
        loop {
            if let Some(text) = self.pending.pop_front() {
                // A native body's answer is one text block.
                return Some((Ok(StreamEvent::Text { index: 0, text }), self));
            }
            if self.done {
                return None;
            }
            match self.receiver.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let bytes = part.bytes.as_ref().map(Blob::as_ref).unwrap_or_default();
                    match native::decode_chunk(self.family, bytes) {
                        Ok(events) => self.absorb(events),
                        Err(e) => {
                            self.done = true;
                            return Some((Err(e), self));
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.done = true;
                    let Some((raw, reason)) = self.stop.take() else {
                        let err = GatewayError::new(
                            ErrorKind::Internal,
                            format!(
                                "Bedrock's {} stream ended without a stop reason",
                                self.family.name()
                            ),
                        );
                        return Some((Err(err), self));
                    };
                    let completion = Completion {
                        stop_reason: reason,
                        raw_stop_reason: raw,
                        usage: Usage::new(
                            self.input_tokens.unwrap_or(0),
                            self.output_tokens.unwrap_or(0),
                        ),
                        invoked_model_id: self.invoked_model_id.clone(),
                        resolved_model_id: self.resolved_model_id.clone(),
                        backend_latency: self.started.elapsed(),
                        request_id: self.request_id.clone(),
                        tool_uses: Vec::new(),
                        service_tier: self.service_tier,
                        latency: self.latency,
                        guardrail_trace: self.guardrail_trace.take(),
                    };
                    return Some((Ok(StreamEvent::Complete(completion)), self));
                }
                Err(e) => {
                    self.done = true;
                    self.pending.clear();
                    let id = Some(self.request_id.clone());
                    return Some((Err(from_sdk("InvokeModelWithResponseStream", e, id)), self));
                }
            }
        }
    }

    fn absorb(&mut self, events: Vec<ChunkEvent>) {
        for event in events {
            match event {
                ChunkEvent::Delta(text) => self.pending.push_back(text),
                ChunkEvent::Stop { raw, reason } => {
                    self.stop = Some(model_stop(self.stop.take(), raw, reason))
                }
                ChunkEvent::Guardrail(g) => {
                    apply_guardrail(g, &mut self.stop, &mut self.guardrail_trace)
                }
                ChunkEvent::Usage {
                    input_tokens,
                    output_tokens,
                } => {
                    self.input_tokens = input_tokens.or(self.input_tokens);
                    self.output_tokens = output_tokens.or(self.output_tokens);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GuardrailConfig, GuardrailTrace};
    use serde_json::json;

    #[test]
    fn options_become_the_operations_parameters() {
        let o = Options {
            guardrail: Some(GuardrailConfig {
                identifier: "gr1".into(),
                version: "DRAFT".into(),
                trace: GuardrailTrace::EnabledFull,
                stream_mode: None,
            }),
            service_tier: Some(ServiceTier::Priority),
            latency: Some(Latency::Optimized),
            request_metadata: [("team".to_owned(), "search".to_owned())].into(),
            ..Options::default()
        };
        assert_eq!(
            invoke_options(&o),
            InvokeOptions {
                guardrail_identifier: Some("gr1".into()),
                guardrail_version: Some("DRAFT".into()),
                trace: Some(Trace::EnabledFull),
                service_tier: Some(ServiceTierType::Priority),
                latency: Some(PerformanceConfigLatency::Optimized),
                request_metadata: Some(r#"{"team":"search"}"#.into()),
            }
        );
        assert_eq!(invoke_options(&Options::default()), InvokeOptions::default());
    }

    #[test]
    fn an_intervention_is_the_stop_reason_and_its_trace_is_kept() {
        let mut stop = Some(("end_turn".to_owned(), StopReason::EndTurn));
        let mut trace = None;
        let g = native::Guardrail {
            intervened: true,
            trace: Some(json!({"input": {}})),
        };
        apply_guardrail(g, &mut stop, &mut trace);
        assert_eq!(stop, Some(("end_turn".to_owned(), StopReason::GuardrailIntervened)));
        assert_eq!(trace.as_deref(), Some(&json!({"input": {}})));

        let mut stop = None;
        apply_guardrail(
            native::Guardrail { intervened: true, trace: None },
            &mut stop,
            &mut trace,
        );
        assert_eq!(stop, Some(("INTERVENED".to_owned(), StopReason::GuardrailIntervened)));

        let mut stop = Some(("stop".to_owned(), StopReason::EndTurn));
        apply_guardrail(native::Guardrail::default(), &mut stop, &mut trace);
        assert_eq!(stop, Some(("stop".to_owned(), StopReason::EndTurn)), "NONE changes nothing");
    }

    #[test]
    fn a_later_model_stop_does_not_undo_an_intervention() {
        let mut stop = None;
        let mut trace = None;
        apply_guardrail(
            native::Guardrail { intervened: true, trace: None },
            &mut stop,
            &mut trace,
        );
        assert_eq!(
            model_stop(stop, "end_turn".into(), StopReason::EndTurn),
            ("end_turn".to_owned(), StopReason::GuardrailIntervened)
        );
        assert_eq!(
            model_stop(None, "end_turn".into(), StopReason::EndTurn),
            ("end_turn".to_owned(), StopReason::EndTurn)
        );
    }
}
