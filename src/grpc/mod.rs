//! The tonic service: protobuf in, validation, admission, one backend call,
//! protobuf out.
//!
//! This is the only module (with `validation` and `server`) that knows
//! protobuf types. Each generation handler, in order: validates (nothing
//! invalid reaches a backend or spends rate budget), counts the request's
//! tokens when its key has a token budget, admits (concurrency, per-key
//! rates and the token reservation, failing fast), calls the backend bounded
//! by the caller's deadline, then settles tokens and records metrics.

pub mod admin;
mod convert;
pub mod deadline;
pub mod edge;
pub mod status;

use crate::backend::{Backend, EventStream, GenerationStream};
use crate::domain::{
    estimate_input_tokens, BlockKind, Completion, ContentBlock, GenerationRequest, StopReason,
    StreamEvent, Summary, ToolResultContent, DEFAULT_MAX_OUTPUT_ESTIMATE,
};
use crate::error::{ErrorKind, GatewayError};
use crate::metrics::code_name;
use edge::CallContext;
use status::code_of;
use crate::ids::TraceId;
use crate::auth::KeyPolicy;
use crate::limits::{Admission, Permit};
use crate::metrics::{Metrics, Protocol, StreamGuard, TokenCounts};
use crate::pb::{self, text_generation_service_server::TextGenerationService};
use crate::validation::{self, CheckedRequest, Limits};
use deadline::Deadline;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

/// Response header naming the backend that answered ("simulated", "bedrock").
pub const BACKEND_HEADER: &str = "x-bedrock-gateway-backend";
/// Response header carrying the backend's request ID.
pub const UPSTREAM_REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// Everything a handler needs besides the backend.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Validation limits.
    pub limits: Limits,
    /// Concurrency and rate limits.
    pub admission: Arc<Admission>,
    /// Where metrics go.
    pub metrics: Arc<Metrics>,
    /// Log prompt and completion text (off unless explicitly enabled).
    pub log_prompts: bool,
}

/// The `TextGenerationService` implementation.
#[derive(Clone)]
pub struct GatewayService {
    backend: Arc<dyn Backend>,
    settings: ServiceSettings,
    backend_header: MetadataValue<Ascii>,
    /// Response header names, parsed once rather than on every answer.
    backend_key: MetadataKey<Ascii>,
    upstream_request_id_key: MetadataKey<Ascii>,
    /// The model label of calls that name none (or fail before naming one),
    /// made once so no call allocates it.
    no_model: Arc<str>,
    /// The policy of calls without the edge layer (handlers driven directly).
    anonymous: Arc<KeyPolicy>,
}

impl std::fmt::Debug for GatewayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService")
            .field("backend", &self.backend.name())
            .field("settings", &self.settings)
            .finish()
    }
}

/// The per-call facts handlers use, from the edge layer's [`CallContext`].
struct Call {
    rpc: &'static str,
    /// The transport the call arrived on, for its metrics and log line.
    protocol: Protocol,
    started: Instant,
    deadline: Option<Deadline>,
    key: Arc<str>,
    /// The key's policy.
    policy: Arc<KeyPolicy>,
    request_id: Arc<str>,
    trace_id: TraceId,
    /// The model asked for, once the request is valid; a label of metrics
    /// and logs, shared rather than copied into each.
    model: Arc<str>,
}

impl GatewayService {
    /// A service over `backend`.
    pub fn new(backend: Arc<dyn Backend>, settings: ServiceSettings) -> Self {
        let backend_header = MetadataValue::from_static(backend.name());
        GatewayService {
            backend,
            settings,
            backend_header,
            backend_key: MetadataKey::from_static(BACKEND_HEADER),
            upstream_request_id_key: MetadataKey::from_static(UPSTREAM_REQUEST_ID_HEADER),
            no_model: Arc::from(""),
            anonymous: Arc::new(KeyPolicy::open(Arc::from(crate::auth::ANONYMOUS))),
        }
    }

    /// The call's facts. Without the edge layer (handlers driven directly)
    /// the caller is anonymous and has no request ID.
    fn call<T>(&self, rpc: &'static str, request: &Request<T>) -> Call {
        let ctx = request.extensions().get::<CallContext>();
        Call {
            rpc,
            protocol: ctx.map_or(Protocol::Grpc, |c| c.protocol),
            started: Instant::now(),
            deadline: ctx.and_then(|c| c.deadline),
            key: ctx.map_or_else(|| self.anonymous.name.clone(), |c| c.key.clone()),
            policy: ctx.map_or_else(|| self.anonymous.clone(), |c| c.policy.clone()),
            request_id: ctx.map_or_else(|| Arc::from(""), |c| c.request_id.clone()),
            trace_id: ctx.map_or_else(TraceId::random, |c| c.trace_id),
            model: self.no_model.clone(),
        }
    }

    fn headers(&self, metadata: &mut MetadataMap, upstream_request_id: &str) {
        metadata.insert(&self.backend_key, self.backend_header.clone());
        if let Ok(mut v) = MetadataValue::try_from(upstream_request_id) {
            // New on every call: not worth a place in HPACK's table.
            v.set_sensitive(true);
            metadata.insert(&self.upstream_request_id_key, v);
        }
    }

    /// What both generation RPCs do before calling the backend: take the
    /// validated request (or end the call with its violations), name the
    /// model on the call, admit it against the limits, and log the prompt
    /// if asked to.
    async fn begin_generation(
        &self,
        call: &mut Call,
        checked: Result<CheckedRequest, GatewayError>,
    ) -> Result<(GenerationRequest, Permit), Status> {
        let refuse = |call: &Call, e: GatewayError| {
            finish(&self.settings.metrics, call, Err(&e));
            logged(e)
        };
        let checked = checked.map_err(|e| refuse(call, e))?;
        call.model = checked.model_id.clone();
        let resolving = checked.resolve(self.backend.models(), self.backend.accepts_simulation());
        let mut request = within(call.deadline, resolving).await.map_err(|e| refuse(call, e))?;
        check_model_allowed(&call.policy, &request.target).map_err(|e| refuse(call, e))?;
        apply_default_tier(&call.policy, &mut request);
        let admission = &self.settings.admission;
        let limit_refused = |call: &Call, (why, e): (crate::limits::Refusal, GatewayError)| {
            self.settings.metrics.limit_refused(&call.key, why.label());
            refuse(call, e)
        };
        // Concurrency and the request rate first, so a call refused there
        // costs no counting (which is an upstream call on Bedrock).
        let mut permit = admission.admit(&call.policy).await.map_err(|r| limit_refused(call, r))?;
        if permit.has_token_budget() {
            let reserve = self.tokens_to_reserve(call, &request).await;
            admission
                .reserve_tokens(&call.policy, &mut permit, reserve.tokens)
                .await
                .map_err(|(why, e)| {
                    let e = match reserve.assumed_output {
                        Some(n) => e.with_context(&format!(
                            "parameters.max_tokens is unset, so the model's most output ({n} \
                             tokens) was counted; set it to what the answer needs"
                        )),
                        None => e,
                    };
                    limit_refused(call, (why, e))
                })?;
        }
        if request.has_non_text_blocks() {
            self.count_blocks(call, &request);
        }
        if self.settings.log_prompts {
            tracing::info!(prompt = %last_turn(&request), "prompt (--log-prompts)");
        }
        Ok((request, permit))
    }

    /// Counts the request's non-text blocks by kind, for a request that has
    /// some (plain-text requests skip this).
    fn count_blocks(&self, call: &Call, request: &GenerationRequest) {
        let mut counts = [0u64; BlockKind::ALL.len()];
        for block in request.messages.iter().flat_map(|m| &m.content) {
            counts[block.kind() as usize] += 1;
            // Images and documents inside tool results count as such.
            if let ContentBlock::ToolResult(result) = block {
                for piece in &result.content {
                    match piece {
                        ToolResultContent::Image(_) => counts[BlockKind::Image as usize] += 1,
                        ToolResultContent::Document(_) => counts[BlockKind::Document as usize] += 1,
                        _ => {}
                    }
                }
            }
        }
        for (kind, count) in BlockKind::ALL.iter().zip(counts) {
            if *kind != BlockKind::Text && count > 0 {
                self.settings.metrics.content_blocks(&call.model, kind.name(), count);
            }
        }
    }

    /// The tokens to reserve for `request` against its key's budget: its
    /// input, counted by the backend where the model counts tokens (one
    /// CountTokens call on Bedrock) or else estimated, plus the most output
    /// it may produce.
    async fn tokens_to_reserve(&self, call: &Call, request: &GenerationRequest) -> Reserve {
        let caps = request.target.capabilities();
        let input = if caps.count_tokens {
            match within(call.deadline, self.backend.count_tokens(request)).await {
                Ok(n) => n,
                Err(e) => {
                    // Admission goes on with the estimate: a counting failure
                    // should not fail a call the model may well serve.
                    tracing::debug!(error = %e, "counting tokens failed; admitting on the estimate");
                    estimate_input_tokens(request)
                }
            }
        } else {
            estimate_input_tokens(request)
        };
        let (output, assumed_output) = match request.parameters.max_tokens {
            Some(n) => (n.get(), None),
            None => {
                let n = caps.max_output_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_ESTIMATE);
                (n, Some(n))
            }
        };
        Reserve {
            tokens: input.saturating_add(output),
            assumed_output,
        }
    }

    /// Settles the call's tokens against its key and records what it used
    /// and how it was served.
    fn account(&self, call: &Call, permit: &mut Permit, completion: &Completion) {
        let usage = completion.usage;
        let all_input = usage
            .input_tokens
            .saturating_add(usage.cache_read_input_tokens)
            .saturating_add(usage.cache_write_input_tokens);
        let total = usage.total_tokens.max(all_input.saturating_add(usage.output_tokens));
        self.settings.admission.settle_tokens(&call.policy, permit, total);
        let metrics = &self.settings.metrics;
        metrics.tokens(
            &call.model,
            &call.key,
            TokenCounts {
                input: usage.input_tokens,
                output: usage.output_tokens,
                cache_read: usage.cache_read_input_tokens,
                cache_write: usage.cache_write_input_tokens,
            },
        );
        if completion.stop_reason == StopReason::GuardrailIntervened {
            metrics.guardrail_intervened(&call.model, &call.key);
        }
        if let Some(tier) = completion.service_tier {
            metrics.served_on_tier(&call.model, &call.key, tier.name());
        }
    }

    /// CountTokens after the edge: validate, resolve, check the model
    /// counts tokens, count.
    async fn count(&self, call: &mut Call, request: pb::CountTokensRequest) -> Result<u32, GatewayError> {
        let checked = validation::count_tokens_request(request, &self.settings.limits)?;
        call.model = checked.model_id.clone();
        let resolving = checked.resolve(self.backend.models(), self.backend.accepts_simulation());
        let request = within(call.deadline, resolving).await?;
        check_model_allowed(&call.policy, &request.target)?;
        let caps = request.target.capabilities();
        if !caps.count_tokens {
            return Err(GatewayError::model_cannot(
                &request.target.requested,
                format!(
                    "model `{}` ({}) does not support token counting; count with a model that does \
                     (Claude 3.5 and later; the README's model table lists them)",
                    request.target.requested, caps.name
                ),
            ));
        }
        // Counting is an upstream call: it takes a concurrency place and a
        // unit of the key's requests per minute, like a generation.
        let admission = &self.settings.admission;
        let refused = |(why, e): (crate::limits::Refusal, GatewayError)| {
            self.settings.metrics.limit_refused(&call.key, why.label());
            e
        };
        let mut permit = admission.admit(&call.policy).await.map_err(refused)?;
        if permit.has_token_budget() {
            // Counting spends no tokens, but a key whose budget is spent
            // is refused here too (and, on Redis, this takes the request
            // unit).
            admission.reserve_tokens(&call.policy, &mut permit, 0).await.map_err(refused)?;
        }
        within(call.deadline, self.backend.count_tokens(&request)).await
    }
}

/// PERMISSION_DENIED for a model outside the key's list.
fn model_denied(policy: &KeyPolicy, model: &str) -> GatewayError {
    let patterns = policy.models.as_ref().map(|m| m.patterns().join(", ")).unwrap_or_default();
    GatewayError::denied(
        "bedrock foundation model",
        model,
        format!(
            "key `{}` may not use model `{model}`: its `models` in the keys file allow only {patterns}",
            policy.name
        ),
    )
}

/// Checks the key may use the resolved model: the identifier asked for, or
/// the foundation model behind it, must match the key's `models`.
fn check_model_allowed(policy: &KeyPolicy, target: &crate::model::Target) -> Result<(), GatewayError> {
    if policy.models.is_none()
        || policy.allows_model(
            [&*target.requested, target.resolved_model_id(), &*target.invoke_id]
                .into_iter()
                .chain(target.foundation_model_arns().iter().map(String::as_str)),
        )
    {
        Ok(())
    } else {
        Err(model_denied(policy, &target.requested))
    }
}

/// The key's default service tier, for a call that names none, where the
/// model offers it (a default, not a demand: elsewhere the model's own).
fn apply_default_tier(policy: &KeyPolicy, request: &mut GenerationRequest) {
    let Some(tier) = policy.service_tier else {
        return;
    };
    if request.options().service_tier.is_some()
        || !request.target.capabilities().service_tiers.contains(&tier)
    {
        return;
    }
    request.options.get_or_insert_with(Default::default).service_tier = Some(tier);
}

/// What a call reserves against its key's token budget.
struct Reserve {
    /// Counted input plus the most output.
    tokens: u32,
    /// The most output assumed for a request without `max_tokens`.
    assumed_output: Option<u32>,
}

/// The last user turn for the prompt log: text as is, images and documents
/// by format and size only (their bytes are never logged).
fn last_turn(request: &GenerationRequest) -> String {
    let Some(turn) = request.messages.last() else {
        return String::new();
    };
    match turn.content.as_slice() {
        [ContentBlock::Text(text)] => text.clone(),
        blocks => blocks.iter().map(|b| Summary(b).to_string()).collect::<Vec<_>>().join(" "),
    }
}

/// The status of a call that `finish` already counted and logged, marked so
/// for the edge (which strips the mark): a refusal without it (tonic's own,
/// before the handler ran) is the edge's to count and log.
fn logged(e: GatewayError) -> Status {
    let mut status = Status::from(e);
    status.metadata_mut().insert(edge::LOGGED_MARK, MetadataValue::from_static("1"));
    status
}

fn deadline_exceeded(deadline: &Deadline, what: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::DeadlineExceeded,
        format!(
            "the call's deadline (grpc-timeout {:?}) passed {what}",
            deadline.requested
        ),
    )
}

/// Runs `fut`, giving up with DEADLINE_EXCEEDED at the caller's deadline.
async fn within<T>(
    deadline: Option<Deadline>,
    fut: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    match deadline {
        None => fut.await,
        Some(d) => tokio::time::timeout_at(d.at, fut)
            .await
            .unwrap_or_else(|_| Err(deadline_exceeded(&d, "before the backend answered"))),
    }
}

/// Logs and counts the end of a call. Prompt and completion text are never
/// logged here.
fn finish(metrics: &Metrics, call: &Call, result: Result<(), &GatewayError>) {
    let latency = call.started.elapsed();
    // Whole microseconds: an integer is cheaper to write than a float, and
    // finer than any client sees.
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let rpc = call.rpc;
    let protocol = call.protocol.as_str();
    let model = &*call.model;
    let key = &*call.key;
    let request_id = &*call.request_id;
    let trace_id = tracing::field::display(call.trace_id);
    match result {
        Ok(()) => {
            metrics.call(rpc, call.protocol, &call.model, Code::Ok, latency);
            tracing::info!(
                rpc,
                protocol,
                model,
                key,
                request_id,
                trace_id,
                latency_us,
                code = "OK",
                "call finished"
            );
        }
        Err(e) => {
            let code = code_of(e.kind());
            metrics.call(rpc, call.protocol, &call.model, code, latency);
            if let Some(up) = e.upstream() {
                metrics.upstream_error(&up.error_type);
            }
            tracing::warn!(
                rpc,
                protocol,
                model,
                key,
                request_id,
                trace_id,
                latency_us,
                code = code_name(code),
                error = %e,
                "call failed"
            );
        }
    }
}

#[tonic::async_trait]
impl TextGenerationService for GatewayService {
    async fn generate(
        &self,
        request: Request<pb::GenerateRequest>,
    ) -> Result<Response<pb::GenerateResponse>, Status> {
        let mut call = self.call("Generate", &request);
        let validated = validation::generate_request(request.into_inner(), &self.settings.limits);
        let (request, mut permit) = self.begin_generation(&mut call, validated).await?;
        let result = within(call.deadline, self.backend.generate(request)).await;
        finish(&self.settings.metrics, &call, result.as_ref().map(|_| ()));
        let generation = match result {
            Ok(g) => g,
            Err(e) => {
                // A call refused or failed before the model ran used no
                // tokens: give the reservation back. One that timed out or
                // failed inside may have been billed: it stays charged.
                if e.generated_nothing() {
                    self.settings.admission.settle_tokens(&call.policy, &mut permit, 0);
                }
                return Err(logged(e));
            }
        };
        self.account(&call, &mut permit, &generation.completion);
        let calls = generation.tool_uses().count();
        if calls > 0 {
            self.settings.metrics.tool_calls(&call.model, calls as u64);
        }
        if self.settings.log_prompts {
            let answer: Vec<String> = generation.content.iter().map(|b| Summary(b).to_string()).collect();
            tracing::info!(completion = %answer.concat(), "completion (--log-prompts)");
        }
        let upstream_id = generation.completion.request_id.clone();
        let mut response =
            Response::new(convert::generate_response(generation, self.backend.name()));
        self.headers(response.metadata_mut(), &upstream_id);
        Ok(response)
    }

    type GenerateStreamStream = BoxStream<'static, Result<pb::GenerateStreamResponse, Status>>;

    async fn generate_stream(
        &self,
        request: Request<pb::GenerateStreamRequest>,
    ) -> Result<Response<Self::GenerateStreamStream>, Status> {
        let mut call = self.call("GenerateStream", &request);
        let validated = validation::generate_stream_request(request.into_inner(), &self.settings.limits);
        let (request, permit) = self.begin_generation(&mut call, validated).await?;
        let in_flight = self.settings.metrics.stream_opened();
        let result = within(call.deadline, self.backend.generate_stream(request)).await;
        let mut permit = permit;
        let GenerationStream { request_id, events } = match result {
            Ok(s) => s,
            Err(e) => {
                if e.generated_nothing() {
                    self.settings.admission.settle_tokens(&call.policy, &mut permit, 0);
                }
                finish(&self.settings.metrics, &call, Err(&e));
                return Err(logged(e));
            }
        };
        let relay = Relay {
            events,
            service: self.clone(),
            call,
            first_token: None,
            text: self.settings.log_prompts.then(String::new),
            done: false,
            permit,
            _in_flight: in_flight,
        };
        let stream = futures::stream::unfold(relay, Relay::next).boxed();
        let mut response = Response::new(stream);
        self.headers(response.metadata_mut(), &request_id);
        Ok(response)
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let call = self.call("ListModels", &request);
        let filter = validation::list_models_request(request.into_inner());
        let result = within(call.deadline, self.backend.list_models(&filter)).await;
        finish(&self.settings.metrics, &call, result.as_ref().map(|_| ()));
        // A key limited to some models sees only those.
        let policy = &call.policy;
        Ok(Response::new(pb::ListModelsResponse {
            models: result
                .map_err(logged)?
                .into_iter()
                .filter(|m| policy.allows_model([m.model_id.as_str(), m.model_arn.as_str()]))
                .map(convert::model)
                .collect(),
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let call = self.call("GetModel", &request);
        let result = match validation::get_model_request(request.into_inner()) {
            Ok(model_id) => within(call.deadline, self.backend.get_model(&model_id))
                .await
                .and_then(|m| {
                    if call.policy.allows_model([model_id.as_str(), m.model_id.as_str(), m.model_arn.as_str()]) {
                        Ok(m)
                    } else {
                        Err(model_denied(&call.policy, &model_id))
                    }
                }),
            Err(e) => Err(e),
        };
        finish(&self.settings.metrics, &call, result.as_ref().map(|_| ()));
        Ok(Response::new(pb::GetModelResponse {
            model: Some(convert::model(result.map_err(logged)?)),
        }))
    }

    async fn count_tokens(
        &self,
        request: Request<pb::CountTokensRequest>,
    ) -> Result<Response<pb::CountTokensResponse>, Status> {
        let mut call = self.call("CountTokens", &request);
        let result = self.count(&mut call, request.into_inner()).await;
        finish(&self.settings.metrics, &call, result.as_ref().map(|_| ()));
        Ok(Response::new(pb::CountTokensResponse {
            input_tokens: result.map_err(logged)?,
        }))
    }
}

/// Relays backend events to the client. When the client goes away, tonic
/// drops this relay, which drops `events` (stopping the backend at once), the
/// concurrency permit and the in-flight gauge guard.
struct Relay {
    events: EventStream,
    service: GatewayService,
    call: Call,
    first_token: Option<Duration>,
    /// The completion text, kept only with --log-prompts.
    text: Option<String>,
    done: bool,
    /// Holds the call's concurrency place and token reservation; a stream
    /// cancelled mid-way keeps its reservation charged, as its tokens were
    /// (partly) spent.
    permit: Permit,
    _in_flight: StreamGuard,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.done {
            // The client went away (or the server closed) mid-stream.
            let metrics = &self.service.settings.metrics;
            let latency = self.call.started.elapsed();
            metrics.call(self.call.rpc, self.call.protocol, &self.call.model, Code::Cancelled, latency);
            tracing::info!(
                rpc = self.call.rpc,
                protocol = self.call.protocol.as_str(),
                model = &*self.call.model,
                key = &*self.call.key,
                request_id = &*self.call.request_id,
                trace_id = %self.call.trace_id,
                latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                code = "CANCELLED",
                "stream cancelled by the client; backend stream dropped"
            );
        }
    }
}

impl Relay {
    async fn next(mut self) -> Option<(Result<pb::GenerateStreamResponse, Status>, Self)> {
        if self.done {
            return None;
        }
        let next = match self.call.deadline {
            None => self.events.next().await,
            Some(d) => match tokio::time::timeout_at(d.at, self.events.next()).await {
                Ok(next) => next,
                Err(_) => Some(Err(deadline_exceeded(&d, "while the stream was open"))),
            },
        };
        let metrics = &self.service.settings.metrics;
        if self.first_token.is_none()
            && matches!(
                next,
                Some(Ok(StreamEvent::Text { .. } | StreamEvent::ToolUseStart { .. } | StreamEvent::Reasoning { .. }))
            )
        {
            let after = self.call.started.elapsed();
            self.first_token = Some(after);
            metrics.first_token(&self.call.model, after);
        }
        let item = match next {
            Some(Ok(StreamEvent::Text { index, text })) => {
                if let Some(all) = &mut self.text {
                    all.push_str(&text);
                }
                Ok(convert::text_delta(index, text))
            }
            Some(Ok(StreamEvent::ToolUseStart { index, id, name })) => {
                Ok(convert::tool_use_start(index, id, name))
            }
            Some(Ok(StreamEvent::ToolUseDelta { index, input_json })) => {
                Ok(convert::tool_use_delta(index, input_json))
            }
            Some(Ok(StreamEvent::Reasoning { index, delta })) => Ok(convert::reasoning_delta(index, delta)),
            Some(Ok(StreamEvent::Complete(c))) => {
                self.done = true;
                finish(metrics, &self.call, Ok(()));
                self.service.account(&self.call, &mut self.permit, &c);
                if !c.tool_uses.is_empty() {
                    metrics.tool_calls(&self.call.model, c.tool_uses.len() as u64);
                }
                if let Some(all) = &mut self.text {
                    // The calls once, assembled, rather than their fragments.
                    for call in &c.tool_uses {
                        all.push_str(&Summary(&ContentBlock::ToolUse(call.clone())).to_string());
                    }
                    tracing::info!(completion = %all, "completion (--log-prompts)");
                }
                Ok(convert::complete(c, self.service.backend.name(), self.first_token))
            }
            Some(Err(e)) => {
                self.done = true;
                if self.first_token.is_none() && e.generated_nothing() {
                    // Nothing was generated: give the reservation back. A
                    // stream that failed mid-way keeps it charged, as its
                    // tokens were (partly) spent.
                    self.service.settings.admission.settle_tokens(&self.call.policy, &mut self.permit, 0);
                }
                finish(metrics, &self.call, Err(&e));
                Err(Status::from(e))
            }
            None => {
                // A backend must end with Complete or an error; ending silently
                // would leave the client without a stop reason.
                self.done = true;
                let e = GatewayError::new(
                    ErrorKind::Internal,
                    "the backend ended the stream without a completion event",
                );
                finish(metrics, &self.call, Err(&e));
                Err(Status::from(e))
            }
        };
        Some((item, self))
    }
}
