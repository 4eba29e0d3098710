//! The edge: loose protobuf requests in, validated domain requests out.
//!
//! Two steps, each reporting every broken rule at once, so a caller fixes a
//! request in one round trip. Each violation names the field path as written
//! in the proto, the rule, and the value given.
//!
//! 1. [`generate_request`] checks the general rules (shape, ranges, sizes) and
//!    reads the simulation controls: a [`CheckedRequest`]. Pure and
//!    synchronous.
//! 2. [`CheckedRequest::resolve`] resolves the model once, through the
//!    backend's model directory, into its `Target`, and checks the model's own
//!    rules (`model::rules`): a [`GenerationRequest`], the only thing a
//!    backend accepts.
//!
//! `content` holds the rules of content blocks, tools and output schemas;
//! `options` those of caching, reasoning, guardrails, tiers, latency and
//! metadata; `json` turns google.protobuf.Struct into JSON.

mod content;
mod json;
mod options;

use crate::domain::{
    BedrockApi, CacheTtl, ContentBlock, GenerationRequest, Latency, Message, ModelFilter, Options,
    OutputSchema, Parameters, Role, SimulationDirectives, ToolChoice, ToolConfig,
};
pub use content::{Features, MAX_CACHE_POINTS, MAX_DOCUMENT_NAME_CHARS, MAX_TOOL_NAME_CHARS};
pub use options::{
    MAX_GUARDRAIL_IDENTIFIER_CHARS, MAX_METADATA_CHARS, MAX_METADATA_ENTRIES, MIN_REASONING_BUDGET,
};
use json::struct_to_json;
use crate::error::bedrock as bedrock_errors;
use crate::error::{FieldViolation, GatewayError};
use crate::model::capabilities::ToolChoiceMode;
use crate::model::{rules, ModelDirectory};
use crate::pb;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The key in `additional_model_request_fields` that steers the simulated
/// backend. Validation takes it out; no backend sees it raw.
pub const SIMULATION_KEY: &str = "gateway_simulation";

/// Bedrock's own limit on a model identifier (ID, profile ID or ARN).
pub const MAX_MODEL_ID_CHARS: usize = 2048;
/// Converse's documented limit on the number of stop sequences.
pub const MAX_STOP_SEQUENCES: usize = 2500;
pub use json::MAX_STRUCT_DEPTH;

/// Limits the operator configures.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes of text in prompt + system + messages (tool inputs and
    /// results included) together.
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 1024 * 1024,
        }
    }
}

/// A request that meets every general rule; its model is not resolved yet.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest {
    /// The model identifier as given; non-empty and not too long. Shared:
    /// the target, the metrics and the log line all name it.
    pub model_id: Arc<str>,
    /// Whether the caller sent a single `prompt` rather than `messages`.
    pub from_prompt: bool,
    /// Non-empty, alternating, starting and ending with a user turn.
    pub messages: Vec<Message>,
    /// The system prompt, when one was given.
    pub system: Option<String>,
    /// Sampling and length controls.
    pub parameters: Parameters,
    /// Model-specific fields without the simulation controls; `None` when
    /// nothing else was given.
    pub additional_model_request_fields: Option<serde_json::Value>,
    /// The simulation controls, when given.
    pub simulation: Option<SimulationDirectives>,
    /// The Bedrock API to use.
    pub api: BedrockApi,
    /// The tools, when given.
    pub tool_config: Option<Box<ToolConfig>>,
    /// The output schema, when given.
    pub output_schema: Option<Box<OutputSchema>>,
    /// Where the request first uses images, documents, tools, an output
    /// schema, reasoning blocks and cache points, for the model rules.
    pub features: Option<Box<Features>>,
    /// Caching, reasoning, guardrail, tier, latency and metadata, when any
    /// is asked for.
    pub options: Option<Box<Options>>,
}

impl CheckedRequest {
    /// Resolves the model through `models` and checks the model's rules.
    /// `accepts_simulation` says whether the backend honours the simulation
    /// controls; any other refuses them rather than send them upstream.
    pub async fn resolve(
        self,
        models: &Arc<ModelDirectory>,
        accepts_simulation: bool,
    ) -> Result<GenerationRequest, GatewayError> {
        let target = models.resolve_shared(self.model_id.clone()).await?;
        let options = self.options.as_deref();
        let cache_points = self.features.as_ref().map_or(&[][..], |f| &f.cache_points[..]);
        let ask = rules::Ask {
            native: self.api == BedrockApi::InvokeModel,
            system: self.system.as_deref(),
            temperature: self.parameters.temperature,
            top_p: self.parameters.top_p,
            max_tokens: self.parameters.max_tokens.map(NonZeroU32::get),
            stop_sequences: &self.parameters.stop_sequences,
            image: self.features.as_ref().and_then(|f| f.image.as_deref()),
            document: self.features.as_ref().and_then(|f| f.document.as_deref()),
            tools: self.features.as_ref().and_then(|f| f.tools.as_deref()),
            output_schema: self.features.as_ref().and_then(|f| f.output_schema.as_deref()),
            tool_choice: self.tool_config.as_ref().and_then(|c| match c.choice {
                ToolChoice::Auto => None,
                ToolChoice::Any => Some(ToolChoiceMode::Any),
                ToolChoice::Tool(_) => Some(ToolChoiceMode::Tool),
            }),
            reasoning: options.and_then(|o| o.reasoning).map(|r| r.budget_tokens),
            reasoning_block: self.features.as_ref().and_then(|f| f.reasoning_block.as_deref()),
            cache_point: cache_points.first().map(|(path, _)| path.as_str()),
            one_hour_cache_point: cache_points
                .iter()
                .find(|(_, ttl)| *ttl == CacheTtl::OneHour)
                .map(|(path, _)| path.as_str()),
            guardrail: options.is_some_and(|o| o.guardrail.is_some()),
            service_tier: options.and_then(|o| o.service_tier),
            latency_optimized: options.is_some_and(|o| o.latency == Some(Latency::Optimized)),
        };
        let mut v = rules::check(&target, &ask);
        if self.simulation.is_some() && !accepts_simulation {
            v.push(FieldViolation::new(
                format!("additional_model_request_fields.{SIMULATION_KEY}"),
                "is honoured only by the simulated backend (--backend simulated), got it on \
                 another backend; remove it (Bedrock would refuse the unknown field)",
            ));
        }
        if !v.is_empty() {
            return Err(GatewayError::invalid(v));
        }
        let CheckedRequest {
            model_id: _,
            from_prompt,
            messages,
            system,
            parameters,
            additional_model_request_fields,
            simulation,
            api,
            tool_config,
            output_schema,
            features: _,
            options,
        } = self;
        Ok(GenerationRequest {
            target,
            from_prompt,
            messages,
            system,
            parameters,
            additional_model_request_fields,
            simulation,
            api,
            tool_config,
            output_schema,
            options,
        })
    }
}

/// Checks a unary request against the general rules.
pub fn generate_request(
    request: pb::GenerateRequest,
    limits: &Limits,
) -> Result<CheckedRequest, GatewayError> {
    check(request, false, limits)
}

/// Checks a request against the general rules; `stream` says whether it
/// came as GenerateStream (the guardrail's stream mode applies only then).
fn check(request: pb::GenerateRequest, stream: bool, limits: &Limits) -> Result<CheckedRequest, GatewayError> {
    let pb::GenerateRequest {
        model_id,
        prompt,
        messages,
        system,
        parameters,
        additional_model_request_fields,
        api,
        tool_config,
        output_schema,
        system_cache_point,
        reasoning,
        guardrail,
        service_tier,
        latency,
        request_metadata,
    } = request;
    let mut v = Vec::new();

    check_model_id(&model_id, "model_id", &mut v);

    let from_prompt = !prompt.is_empty();
    let mut features = Features::default();
    let mut tool_text_bytes = 0;
    let messages = match (prompt.is_empty(), messages.is_empty()) {
        (true, true) => {
            v.push(FieldViolation::new(
                "prompt",
                "set exactly one of `prompt` and `messages`; neither was given",
            ));
            Vec::new()
        }
        (false, false) => {
            v.push(FieldViolation::new(
                "prompt",
                format!(
                    "set exactly one of `prompt` and `messages`; both were given \
                     (a {}-byte prompt and {} messages)",
                    prompt.len(),
                    messages.len()
                ),
            ));
            Vec::new()
        }
        (false, true) => vec![Message::text(Role::User, prompt)],
        (true, false) => conversation(messages, tool_config.is_some(), &mut features, &mut tool_text_bytes, &mut v),
    };

    let input_bytes =
        system.len() + tool_text_bytes + messages.iter().flat_map(Message::texts).map(str::len).sum::<usize>();
    if input_bytes > limits.max_input_bytes {
        v.push(FieldViolation::new(
            if from_prompt { "prompt" } else { "messages" },
            format!(
                "input (prompt or messages, plus system, tool inputs and tool results) must be at \
                 most {} bytes, got {} bytes",
                limits.max_input_bytes, input_bytes
            ),
        ));
    }

    let parameters = parameters_of(parameters.unwrap_or_default(), &mut v);

    let (additional_model_request_fields, simulation) = match additional_model_request_fields {
        None => (None, None),
        Some(s) => split_simulation(struct_to_json(s, "additional_model_request_fields", 1, &mut v), &mut v),
    };

    let api = match pb::BedrockApi::try_from(api) {
        Ok(pb::BedrockApi::Unspecified | pb::BedrockApi::Converse) => BedrockApi::Converse,
        Ok(pb::BedrockApi::InvokeModel) => BedrockApi::InvokeModel,
        Err(_) => {
            v.push(FieldViolation::new(
                "api",
                format!("must be BEDROCK_API_CONVERSE or BEDROCK_API_INVOKE_MODEL, got {api}"),
            ));
            BedrockApi::Converse
        }
    };

    let tool_config = tool_config.map(|c| {
        features.tools = Some("tool_config".to_owned());
        Box::new(content::tool_config(c, &mut v))
    });
    let output_schema = output_schema.map(|s| {
        features.output_schema = Some("output_schema".to_owned());
        Box::new(content::output_schema(s, &mut v))
    });
    let options = options::options(
        options::Fields {
            system_cache_point,
            reasoning,
            guardrail,
            service_tier,
            latency,
            request_metadata,
        },
        &options::Context {
            has_system: !system.is_empty(),
            max_tokens: parameters.max_tokens.map(NonZeroU32::get),
            stream,
        },
        &mut v,
    );
    if let (Some(_), Some(fields)) = (options.as_ref().and_then(|o| o.reasoning), &additional_model_request_fields) {
        if fields.get("thinking").is_some() {
            v.push(FieldViolation::new(
                "additional_model_request_fields.thinking",
                "must not be set beside `reasoning`, which the gateway translates into the model's \
                 own field (Claude's `thinking`); remove one of them",
            ));
        }
    }
    order_cache_points(&mut features, tool_config.as_deref(), options.as_ref());
    if !features.cache_points.is_empty() {
        content::cache_point_rules(&features.cache_points, &mut v);
    }
    if api == BedrockApi::InvokeModel && (features.any() || options.is_some()) {
        content::native_refusals(&messages, tool_config.is_some(), output_schema.is_some(), &mut v);
        if let Some(o) = &options {
            options::native_refusals(o, &mut v);
        }
    }

    if !v.is_empty() {
        return Err(GatewayError::invalid(v));
    }
    Ok(CheckedRequest {
        model_id: Arc::from(model_id),
        from_prompt,
        messages,
        system: (!system.is_empty()).then_some(system),
        parameters,
        additional_model_request_fields,
        simulation,
        api,
        tool_config,
        output_schema,
        features: features.any().then(|| Box::new(features)),
        options: options.map(Box::new),
    })
}

/// Puts the tool config's and the system prompt's cache points before the
/// turns', which is Bedrock's order (tools, system, turns) and the order
/// its TTL rule reads them in.
fn order_cache_points(features: &mut Features, tools: Option<&ToolConfig>, options: Option<&Options>) {
    let leading: Vec<(String, CacheTtl)> = [
        tools.and_then(|t| t.cache_point).map(|p| ("tool_config.cache_point", p)),
        options.and_then(|o| o.system_cache_point).map(|p| ("system_cache_point", p)),
    ]
    .into_iter()
    .flatten()
    .map(|(path, p)| (path.to_owned(), p.effective_ttl()))
    .collect();
    if !leading.is_empty() {
        features.cache_points.splice(0..0, leading);
    }
}

/// Takes the simulation controls out of `additional_model_request_fields`:
/// the fields left (or `None` if none are), and the controls read.
fn split_simulation(
    fields: serde_json::Value,
    v: &mut Vec<FieldViolation>,
) -> (Option<serde_json::Value>, Option<SimulationDirectives>) {
    let serde_json::Value::Object(mut map) = fields else {
        return (Some(fields), None);
    };
    let simulation = map.remove(SIMULATION_KEY).map(|d| simulation_directives(&d, v));
    ((!map.is_empty()).then_some(serde_json::Value::Object(map)), simulation)
}

/// Reads `gateway_simulation` into its domain value.
fn simulation_directives(value: &serde_json::Value, v: &mut Vec<FieldViolation>) -> SimulationDirectives {
    let field = |k: &str| format!("additional_model_request_fields.{SIMULATION_KEY}.{k}");
    let Some(obj) = value.as_object() else {
        v.push(FieldViolation::new(
            format!("additional_model_request_fields.{SIMULATION_KEY}"),
            format!("must be an object, got {value}"),
        ));
        return SimulationDirectives::default();
    };
    let mut millis = |k: &str| -> Option<Duration> {
        let value = obj.get(k)?;
        match value.as_f64() {
            Some(ms) if (0.0..=600_000.0).contains(&ms) => Some(Duration::from_secs_f64(ms / 1000.0)),
            _ => {
                v.push(FieldViolation::new(
                    field(k),
                    format!("must be a number of milliseconds in [0, 600000], got {value}"),
                ));
                None
            }
        }
    };
    let latency = millis("latency_ms");
    let token_delay = millis("token_delay_ms");
    let fail_with = match obj.get("fail_with") {
        None => None,
        Some(serde_json::Value::String(t)) if bedrock_errors::kind_of(t).is_some() => Some(t.clone()),
        Some(other) => {
            let known: Vec<_> = bedrock_errors::KNOWN_ERRORS.iter().map(|(n, _)| *n).collect();
            v.push(FieldViolation::new(
                field("fail_with"),
                format!("must be one of {}, got {other}", known.join(", ")),
            ));
            None
        }
    };
    let fail_after_tokens = obj.get("fail_after_tokens").and_then(|n| {
        let count = n.as_u64().and_then(|n| u32::try_from(n).ok());
        if count.is_none() {
            v.push(FieldViolation::new(
                field("fail_after_tokens"),
                format!("must be a whole number of tokens, got {n}"),
            ));
        }
        count
    });
    SimulationDirectives {
        fail_with,
        fail_after_tokens,
        latency,
        token_delay,
    }
}

/// Checks a streaming request: the same fields and rules as unary.
pub fn generate_stream_request(
    request: pb::GenerateStreamRequest,
    limits: &Limits,
) -> Result<CheckedRequest, GatewayError> {
    let pb::GenerateStreamRequest {
        model_id,
        prompt,
        messages,
        system,
        parameters,
        additional_model_request_fields,
        api,
        tool_config,
        output_schema,
        system_cache_point,
        reasoning,
        guardrail,
        service_tier,
        latency,
        request_metadata,
    } = request;
    check(
        pb::GenerateRequest {
            model_id,
            prompt,
            messages,
            system,
            parameters,
            additional_model_request_fields,
            api,
            tool_config,
            output_schema,
            system_cache_point,
            reasoning,
            guardrail,
            service_tier,
            latency,
            request_metadata,
        },
        true,
        limits,
    )
}

/// Checks a CountTokens request: the same fields and rules as Generate's.
pub fn count_tokens_request(
    request: pb::CountTokensRequest,
    limits: &Limits,
) -> Result<CheckedRequest, GatewayError> {
    let pb::CountTokensRequest {
        model_id,
        prompt,
        messages,
        system,
        tool_config,
    } = request;
    check(
        pb::GenerateRequest {
            model_id,
            prompt,
            messages,
            system,
            tool_config,
            ..Default::default()
        },
        false,
        limits,
    )
}

/// Validates ListModels filters.
pub fn list_models_request(request: pb::ListModelsRequest) -> ModelFilter {
    let pb::ListModelsRequest {
        provider,
        output_modality,
        inference_type,
        response_streaming_supported,
        customization_type,
    } = request;
    let set = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    ModelFilter {
        provider: set(provider),
        output_modality: set(output_modality),
        inference_type: set(inference_type),
        response_streaming_supported,
        customization_type: set(customization_type),
    }
}

/// Validates GetModel: returns the model ID.
pub fn get_model_request(request: pb::GetModelRequest) -> Result<String, GatewayError> {
    let pb::GetModelRequest { model_id } = request;
    let mut v = Vec::new();
    check_model_id(&model_id, "model_id", &mut v);
    if v.is_empty() {
        Ok(model_id)
    } else {
        Err(GatewayError::invalid(v))
    }
}

fn check_model_id(model_id: &str, field: &str, v: &mut Vec<FieldViolation>) {
    if model_id.trim().is_empty() {
        v.push(FieldViolation::new(
            field,
            format!(
                "must not be empty, got {model_id:?}; give a model ID such as \
                 \"amazon.titan-text-express-v1\", an inference-profile ID or an ARN"
            ),
        ));
    } else if model_id.chars().count() > MAX_MODEL_ID_CHARS {
        v.push(FieldViolation::new(
            field,
            format!(
                "must be at most {MAX_MODEL_ID_CHARS} characters, got {}",
                model_id.chars().count()
            ),
        ));
    }
}

fn role_name(role: i32) -> String {
    match pb::Role::try_from(role) {
        Ok(r) => r.as_str_name().to_owned(),
        Err(_) => format!("unknown role {role}"),
    }
}

fn conversation(
    messages: Vec<pb::Message>,
    has_tool_config: bool,
    features: &mut Features,
    tool_text_bytes: &mut usize,
    v: &mut Vec<FieldViolation>,
) -> Vec<Message> {
    let count = messages.len();
    let mut out = Vec::with_capacity(count);
    let mut previous: Option<Role> = None;
    let mut census = content::Census::default();
    for (i, pb::Message { role, content, blocks }) in messages.into_iter().enumerate() {
        let parsed = match pb::Role::try_from(role) {
            Ok(pb::Role::User) => Some(Role::User),
            Ok(pb::Role::Assistant) => Some(Role::Assistant),
            _ => {
                v.push(FieldViolation::new(
                    format!("messages[{i}].role"),
                    format!("must be ROLE_USER or ROLE_ASSISTANT, got {}", role_name(role)),
                ));
                None
            }
        };
        census.next_turn();
        let turn = match (content.is_empty(), blocks.is_empty()) {
            (false, true) => vec![ContentBlock::Text(content)],
            (true, false) => content::blocks(i, parsed, blocks, &mut census, v),
            (true, true) => {
                v.push(FieldViolation::new(
                    format!("messages[{i}].content"),
                    "must not be empty, got \"\"; set `content` or `blocks`",
                ));
                Vec::new()
            }
            (false, false) => {
                v.push(FieldViolation::new(
                    format!("messages[{i}].blocks"),
                    format!(
                        "set exactly one of `content` and `blocks`; both were given (a {}-byte \
                         content and {} blocks)",
                        content.len(),
                        blocks.len()
                    ),
                ));
                Vec::new()
            }
        };
        census.end_turn(i, parsed, &turn, v);
        if let Some(r) = parsed {
            let expected = match previous {
                None => Role::User,
                Some(Role::User) => Role::Assistant,
                Some(Role::Assistant) => Role::User,
            };
            if r != expected {
                let rule = if i == 0 {
                    "the first turn must be ROLE_USER".to_owned()
                } else {
                    "turns must alternate between ROLE_USER and ROLE_ASSISTANT".to_owned()
                };
                v.push(FieldViolation::new(
                    format!("messages[{i}].role"),
                    format!("{rule}; expected {}, got {}", role_name(pb_role(expected)), role_name(role)),
                ));
            }
            if i + 1 == count && r != Role::User {
                v.push(FieldViolation::new(
                    format!("messages[{i}].role"),
                    format!(
                        "the last turn must be ROLE_USER (the model answers it), got {}",
                        role_name(role)
                    ),
                ));
            }
            out.push(Message { role: r, content: turn });
        }
        // After an unparsable role, keep checking alternation from the next
        // turn as if this one were right, so one mistake is reported once.
        previous = Some(parsed.unwrap_or(match previous {
            Some(Role::User) => Role::Assistant,
            _ => Role::User,
        }));
    }
    census.finish(has_tool_config, v);
    *features = std::mem::take(&mut census.features);
    *tool_text_bytes = census.tool_text_bytes;
    out
}

fn pb_role(role: Role) -> i32 {
    match role {
        Role::User => pb::Role::User as i32,
        Role::Assistant => pb::Role::Assistant as i32,
    }
}

fn unit_interval(value: Option<f32>, field: &str, v: &mut Vec<FieldViolation>) -> Option<f32> {
    let x = value?;
    if x.is_nan() {
        v.push(FieldViolation::new(field, "must be a number in [0, 1], got NaN"));
        None
    } else if !(0.0..=1.0).contains(&x) {
        v.push(FieldViolation::new(field, format!("must be in [0, 1], got {x}")));
        None
    } else {
        // -0.0 passes the range check; normalise it so backends see plain 0.
        Some(if x == 0.0 { 0.0 } else { x })
    }
}

fn parameters_of(p: pb::GenerationParameters, v: &mut Vec<FieldViolation>) -> Parameters {
    let pb::GenerationParameters {
        temperature,
        top_p,
        max_tokens,
        stop_sequences,
    } = p;
    let temperature = unit_interval(temperature, "parameters.temperature", v);
    let top_p = unit_interval(top_p, "parameters.top_p", v);
    let max_tokens = match max_tokens {
        None => None,
        Some(n) => match NonZeroU32::new(n) {
            Some(n) => Some(n),
            None => {
                v.push(FieldViolation::new(
                    "parameters.max_tokens",
                    "must be at least 1, got 0; leave it unset for the model's default",
                ));
                None
            }
        },
    };
    if stop_sequences.len() > MAX_STOP_SEQUENCES {
        v.push(FieldViolation::new(
            "parameters.stop_sequences",
            format!(
                "must hold at most {MAX_STOP_SEQUENCES} entries, got {}",
                stop_sequences.len()
            ),
        ));
    } else {
        for (i, s) in stop_sequences.iter().enumerate() {
            if s.is_empty() {
                v.push(FieldViolation::new(
                    format!("parameters.stop_sequences[{i}]"),
                    "must not be empty, got \"\"",
                ));
            }
        }
    }
    Parameters {
        temperature,
        top_p,
        max_tokens,
        stop_sequences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> pb::GenerateRequest {
        pb::GenerateRequest {
            model_id: "amazon.titan-text-express-v1".into(),
            prompt: "Write a poem about sky".into(),
            ..Default::default()
        }
    }

    fn fields(r: pb::GenerateRequest) -> Vec<String> {
        generate_request(r, &Limits::default())
            .unwrap_err()
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect()
    }

    #[test]
    fn a_prompt_becomes_one_user_turn_and_unset_parameters_stay_unset() {
        let r = generate_request(base(), &Limits::default()).unwrap();
        assert!(r.from_prompt);
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].role, Role::User);
        assert_eq!(r.parameters, Parameters::default());
        assert_eq!(r.system, None);
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let mut r = base();
        r.model_id.clear();
        r.parameters = Some(pb::GenerationParameters {
            temperature: Some(f32::NAN),
            top_p: Some(-0.1),
            max_tokens: Some(0),
            stop_sequences: vec!["".into()],
        });
        assert_eq!(
            fields(r),
            [
                "model_id",
                "parameters.temperature",
                "parameters.top_p",
                "parameters.max_tokens",
                "parameters.stop_sequences[0]"
            ]
        );
    }

    #[test]
    fn conversations_must_alternate_and_end_with_the_user() {
        let m = |role: pb::Role, c: &str| pb::Message {
            role: role as i32,
            content: c.into(),
            blocks: vec![],
        };
        let mut r = base();
        r.prompt.clear();
        r.messages = vec![
            m(pb::Role::User, "hi"),
            m(pb::Role::User, "again"),
            m(pb::Role::Assistant, ""),
        ];
        let got = fields(r);
        assert_eq!(
            got,
            ["messages[1].role", "messages[2].content", "messages[2].role"]
        );
    }

    #[test]
    fn decoded_image_bytes_are_shared_with_the_request_buffer_not_copied() {
        use prost::Message as _;
        let png = b"\x89PNG\r\n\x1a\n the rest of an image".to_vec();
        let block = |b| pb::ContentBlock { block: Some(b) };
        let r = pb::GenerateRequest {
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            messages: vec![pb::Message {
                role: pb::Role::User as i32,
                content: String::new(),
                blocks: vec![
                    block(pb::content_block::Block::Image(pb::Image {
                        format: pb::ImageFormat::Png as i32,
                        data: png.clone().into(),
                    })),
                    block(pb::content_block::Block::Text("What is it?".into())),
                ],
            }],
            ..Default::default()
        };
        // tonic decodes from a buffer of the whole message, as here.
        let wire = bytes::Bytes::from(r.encode_to_vec());
        let decoded = pb::GenerateRequest::decode(wire.clone()).unwrap();
        let checked = generate_request(decoded, &Limits::default()).unwrap();
        let ContentBlock::Image(image) = &checked.messages[0].content[0] else {
            panic!("an image block")
        };
        assert_eq!(image.data, png);
        assert!(wire.as_ptr_range().contains(&image.data.as_ptr()), "a slice of the request buffer");
    }

    #[test]
    fn negative_zero_is_zero_and_infinity_is_refused() {
        let mut r = base();
        r.parameters = Some(pb::GenerationParameters {
            temperature: Some(-0.0),
            ..Default::default()
        });
        let t = generate_request(r, &Limits::default())
            .unwrap()
            .parameters
            .temperature
            .unwrap();
        assert!(t == 0.0 && t.is_sign_positive());
        let mut r = base();
        r.parameters = Some(pb::GenerationParameters {
            top_p: Some(f32::INFINITY),
            ..Default::default()
        });
        assert_eq!(fields(r), ["parameters.top_p"]);
    }

    #[test]
    fn struct_fields_become_json_and_nan_is_refused() {
        use prost_types::{value::Kind, Struct, Value};
        let mut s = Struct::default();
        s.fields.insert("top_k".into(), Value { kind: Some(Kind::NumberValue(40.0)) });
        let mut r = base();
        r.additional_model_request_fields = Some(s.clone());
        let ok = generate_request(r, &Limits::default()).unwrap();
        assert_eq!(ok.additional_model_request_fields, Some(serde_json::json!({"top_k": 40})));
        s.fields.insert("bad".into(), Value { kind: Some(Kind::NumberValue(f64::NAN)) });
        let mut r = base();
        r.additional_model_request_fields = Some(s);
        assert_eq!(fields(r), ["additional_model_request_fields.bad"]);
    }

    fn with_simulation(sim: serde_json::Value) -> pb::GenerateRequest {
        let prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(s)), .. } =
            json_value(serde_json::json!({ SIMULATION_KEY: sim, "top_k": 5 }))
        else {
            unreachable!()
        };
        pb::GenerateRequest { additional_model_request_fields: Some(s), ..base() }
    }

    fn json_value(j: serde_json::Value) -> prost_types::Value {
        use prost_types::{value::Kind, ListValue, Struct, Value};
        let kind = match j {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Kind::StringValue(s),
            serde_json::Value::Array(a) => Kind::ListValue(ListValue { values: a.into_iter().map(json_value).collect() }),
            serde_json::Value::Object(o) => Kind::StructValue(Struct {
                fields: o.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
            }),
        };
        Value { kind: Some(kind) }
    }

    #[test]
    fn simulation_controls_are_read_once_and_taken_out_of_the_model_fields() {
        let r = generate_request(
            with_simulation(serde_json::json!({"fail_with": "ThrottlingException", "fail_after_tokens": 3, "latency_ms": 5})),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            r.simulation,
            Some(SimulationDirectives {
                fail_with: Some("ThrottlingException".into()),
                fail_after_tokens: Some(3),
                latency: Some(Duration::from_millis(5)),
                token_delay: None,
            })
        );
        assert_eq!(r.additional_model_request_fields, Some(serde_json::json!({"top_k": 5})));
        let bad = with_simulation(serde_json::json!({"fail_with": "Nope", "fail_after_tokens": -1, "latency_ms": "x"}));
        let mut got = fields(bad);
        got.sort();
        assert_eq!(
            got,
            [
                "additional_model_request_fields.gateway_simulation.fail_after_tokens",
                "additional_model_request_fields.gateway_simulation.fail_with",
                "additional_model_request_fields.gateway_simulation.latency_ms",
            ]
        );
    }

    #[tokio::test]
    async fn a_backend_that_does_not_simulate_refuses_the_controls() {
        use crate::model::{Catalogue, Listing, Unknown};
        let models = ModelDirectory::fixed(
            Listing { models: Catalogue::seed().models().to_vec(), ..Listing::default() },
            Unknown::PassThrough,
        );
        let checked = generate_request(with_simulation(serde_json::json!({"latency_ms": 1})), &Limits::default()).unwrap();
        assert!(checked.clone().resolve(&models, true).await.is_ok());
        let e = checked.resolve(&models, false).await.unwrap_err();
        assert_eq!(e.violations()[0].field, "additional_model_request_fields.gateway_simulation");
        assert!(e.violations()[0].description.contains("simulated backend"), "{e}");
    }

    #[tokio::test]
    async fn general_and_model_rules_both_name_their_fields() {
        use crate::model::{Catalogue, Listing, Unknown};
        let models = ModelDirectory::fixed(
            Listing { models: Catalogue::seed().models().to_vec(), ..Listing::default() },
            Unknown::NotFound,
        );
        let mut r = base();
        r.parameters = Some(pb::GenerationParameters { stop_sequences: vec!["a".into(), "b".into()], ..Default::default() });
        let e = generate_request(r, &Limits::default()).unwrap().resolve(&models, false).await.unwrap_err();
        let f: Vec<_> = e.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(f, ["parameters.stop_sequences", "parameters.stop_sequences", "parameters.stop_sequences"]);
        let mut r = base();
        r.model_id = "amazon.nope-v1".into();
        let e = generate_request(r, &Limits::default()).unwrap().resolve(&models, false).await.unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::NotFound);
    }
}
