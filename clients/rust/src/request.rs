//! Command-line values into protobuf requests.
//!
//! Values are passed through as given; range and consistency rules are
//! enforced by the gateway, which reports every broken rule at once.

use crate::cli::{
    Api, CacheTtlArg, FieldArg, GuardrailStreamModeArg, GuardrailTraceArg, InputArgs, LatencyArg,
    ModelsArgs, RequestArgs, Role, ServiceTierArg,
};
use crate::{content, pb};
use prost_types::value::Kind;

/// The GenerateRequest that `generate` sends.
pub fn generate_request(args: &RequestArgs) -> pb::GenerateRequest {
    let input = &args.input;
    let (prompt, messages) = conversation(input);
    let cache_point = || pb::CachePoint {
        ttl: match args.cache_ttl {
            None => pb::CacheTtl::Unspecified,
            Some(CacheTtlArg::FiveMinutes) => pb::CacheTtl::CacheTtl5Minutes,
            Some(CacheTtlArg::OneHour) => pb::CacheTtl::CacheTtl1Hour,
        } as i32,
    };
    let mut tool_config = tool_config(input);
    if let Some(tc) = tool_config.as_mut().filter(|_| args.cache_tools) {
        tc.cache_point = Some(cache_point());
    }
    pb::GenerateRequest {
        model_id: input.model.clone(),
        prompt,
        messages,
        system: input.system.clone().unwrap_or_default(),
        parameters: parameters(args),
        additional_model_request_fields: fields_struct(&args.fields),
        api: match args.api {
            None => pb::BedrockApi::Unspecified,
            Some(Api::Converse) => pb::BedrockApi::Converse,
            Some(Api::InvokeModel) => pb::BedrockApi::InvokeModel,
        } as i32,
        tool_config,
        output_schema: args.json_schema.as_ref().map(|schema| pb::OutputSchema {
            json_schema: Some(schema.0.clone()),
            name: args.json_schema_name.clone().unwrap_or_default(),
            description: String::new(),
        }),
        system_cache_point: args.cache_system.then(cache_point),
        reasoning: args
            .reasoning_budget
            .map(|budget_tokens| pb::ReasoningConfig { budget_tokens }),
        guardrail: args.guardrail.as_ref().map(|g| pb::GuardrailConfig {
            identifier: g.identifier.clone(),
            version: g.version.clone(),
            trace: match args.guardrail_trace {
                None => pb::GuardrailTrace::Unspecified,
                Some(GuardrailTraceArg::Disabled) => pb::GuardrailTrace::Disabled,
                Some(GuardrailTraceArg::Enabled) => pb::GuardrailTrace::Enabled,
                Some(GuardrailTraceArg::EnabledFull) => pb::GuardrailTrace::EnabledFull,
            } as i32,
            stream_mode: pb::GuardrailStreamMode::Unspecified as i32,
        }),
        service_tier: match args.service_tier {
            None => pb::ServiceTier::Unspecified,
            Some(ServiceTierArg::Default) => pb::ServiceTier::Default,
            Some(ServiceTierArg::Priority) => pb::ServiceTier::Priority,
            Some(ServiceTierArg::Flex) => pb::ServiceTier::Flex,
            Some(ServiceTierArg::Reserved) => pb::ServiceTier::Reserved,
        } as i32,
        latency: match args.latency {
            None => pb::Latency::Unspecified,
            Some(LatencyArg::Standard) => pb::Latency::Standard,
            Some(LatencyArg::Optimized) => pb::Latency::Optimized,
        } as i32,
        request_metadata: args.metadata.iter().cloned().collect(),
    }
}

/// The GenerateStreamRequest that `stream` sends: the same fields as
/// [`generate_request`], so both subcommands ask for exactly the same thing,
/// plus the guardrail's stream mode.
pub fn generate_stream_request(
    args: &RequestArgs,
    stream_mode: Option<GuardrailStreamModeArg>,
) -> pb::GenerateStreamRequest {
    let r = generate_request(args);
    let mut guardrail = r.guardrail;
    if let (Some(g), Some(mode)) = (guardrail.as_mut(), stream_mode) {
        g.stream_mode = match mode {
            GuardrailStreamModeArg::Sync => pb::GuardrailStreamMode::Sync,
            GuardrailStreamModeArg::Async => pb::GuardrailStreamMode::Async,
        } as i32;
    }
    pb::GenerateStreamRequest {
        model_id: r.model_id,
        prompt: r.prompt,
        messages: r.messages,
        system: r.system,
        parameters: r.parameters,
        additional_model_request_fields: r.additional_model_request_fields,
        api: r.api,
        tool_config: r.tool_config,
        output_schema: r.output_schema,
        system_cache_point: r.system_cache_point,
        reasoning: r.reasoning,
        guardrail,
        service_tier: r.service_tier,
        latency: r.latency,
        request_metadata: r.request_metadata,
    }
}

/// The CountTokensRequest that `count-tokens` sends: the input of the
/// GenerateRequest that `generate` would send with the same flags.
pub fn count_tokens_request(input: &InputArgs) -> pb::CountTokensRequest {
    let (prompt, messages) = conversation(input);
    pb::CountTokensRequest {
        model_id: input.model.clone(),
        prompt,
        messages,
        system: input.system.clone().unwrap_or_default(),
        tool_config: tool_config(input),
    }
}

fn tool_config(input: &InputArgs) -> Option<pb::ToolConfig> {
    input.tools.as_ref().map(|tools| pb::ToolConfig {
        tools: tools.0.clone(),
        tool_choice: input.tool_choice.as_ref().map(|c| c.to_pb()),
        cache_point: None,
    })
}

fn role(role: Role) -> i32 {
    let role = match role {
        Role::User => pb::Role::User,
        Role::Assistant => pb::Role::Assistant,
    };
    role as i32
}

fn text_block(text: String) -> pb::ContentBlock {
    pb::ContentBlock {
        block: Some(pb::content_block::Block::Text(text)),
    }
}

/// The request's `prompt` and `messages`.
///
/// A bare prompt stays `prompt`, as before content blocks existed. Otherwise
/// the turns are those of `--messages FILE` or `--message`, and the new
/// blocks (tool results, then images, then documents) go into a user turn:
/// a new one ending with the prompt's text when there is a prompt or the
/// conversation ends with an assistant turn, else the last user turn, before
/// its own blocks.
fn conversation(args: &InputArgs) -> (String, Vec<pb::Message>) {
    let mut turns: Vec<pb::Message> = match &args.conversation {
        Some(c) => c.messages.clone(),
        None => args
            .messages
            .iter()
            .map(|m| pb::Message {
                role: role(m.role),
                content: m.text.clone(),
                blocks: Vec::new(),
            })
            .collect(),
    };
    let mut blocks = content::tool_result_blocks(&args.tool_results);
    blocks.extend(content::file_blocks(&args.images, &args.documents));
    let prompt = args.prompt().map(str::to_owned);
    if turns.is_empty() && blocks.is_empty() {
        return (prompt.unwrap_or_default(), turns);
    }
    let ends_with_user = turns
        .last()
        .is_some_and(|m| m.role == pb::Role::User as i32);
    match prompt {
        None if ends_with_user => {
            if !blocks.is_empty() {
                let last = turns.last_mut().expect("a last turn");
                if !last.content.is_empty() {
                    let text = std::mem::take(&mut last.content);
                    last.blocks.insert(0, text_block(text));
                }
                blocks.append(&mut last.blocks);
                last.blocks = blocks;
            }
        }
        None if blocks.is_empty() => {}
        prompt => {
            let mut turn = pb::Message {
                role: pb::Role::User as i32,
                content: String::new(),
                blocks,
            };
            match prompt {
                Some(text) if turn.blocks.is_empty() => turn.content = text,
                Some(text) => turn.blocks.push(text_block(text)),
                None => {}
            }
            turns.push(turn);
        }
    }
    (String::new(), turns)
}

/// The turns the request sent, as a conversation: `prompt` as a user turn.
pub fn sent_turns(prompt: &str, messages: &[pb::Message]) -> Vec<pb::Message> {
    if messages.is_empty() {
        vec![pb::Message {
            role: pb::Role::User as i32,
            content: prompt.to_owned(),
            blocks: Vec::new(),
        }]
    } else {
        messages.to_vec()
    }
}

/// The parameters message, or none when no parameter flag was given (unset
/// and empty mean the same to the gateway; sending nothing keeps it obvious).
fn parameters(args: &RequestArgs) -> Option<pb::GenerationParameters> {
    let p = pb::GenerationParameters {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        stop_sequences: args.stop.clone(),
    };
    (p != pb::GenerationParameters::default()).then_some(p)
}

/// `--field` values as a Struct; a repeated key keeps its last value, like
/// most command lines do. None when there are no fields.
pub fn fields_struct(fields: &[FieldArg]) -> Option<prost_types::Struct> {
    if fields.is_empty() {
        return None;
    }
    let mut s = prost_types::Struct::default();
    for f in fields {
        s.fields.insert(f.key.clone(), json_to_value(&f.value));
    }
    Some(s)
}

/// A JSON value as a google.protobuf.Value (numbers become doubles, as the
/// well-known type requires).
pub fn json_to_value(v: &serde_json::Value) -> prost_types::Value {
    use serde_json::Value as J;
    let kind = match v {
        J::Null => Kind::NullValue(prost_types::NullValue::NullValue as i32),
        J::Bool(b) => Kind::BoolValue(*b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Kind::StringValue(s.clone()),
        J::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        J::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A JSON object as a google.protobuf.Struct.
pub fn json_object_to_struct(
    map: &serde_json::Map<String, serde_json::Value>,
) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

/// A google.protobuf.Value as JSON. Numbers are doubles in the well-known
/// type; whole ones within 2^53 print as integers (`21`, not `21.0`), and
/// the NaN or infinities that JSON cannot hold become null.
pub fn value_to_json(v: &prost_types::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(*b),
        Some(Kind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
                J::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(J::Null, J::Number)
            }
        }
        Some(Kind::StringValue(s)) => J::String(s.clone()),
        Some(Kind::ListValue(l)) => J::Array(l.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// A google.protobuf.Struct as a JSON object.
pub fn struct_to_json(s: &prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

/// The ListModelsRequest that `models` sends; absent filters are empty.
pub fn list_models_request(args: &ModelsArgs) -> pb::ListModelsRequest {
    pb::ListModelsRequest {
        provider: args.provider.clone().unwrap_or_default(),
        output_modality: args.output_modality.clone().unwrap_or_default(),
        inference_type: args.inference_type.clone().unwrap_or_default(),
        response_streaming_supported: args.streaming,
        customization_type: args.customization.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn request_args(args: &[&str]) -> RequestArgs {
        let argv = ["bedrock-client", "generate"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Generate(g) => g.request,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn every_flag_reaches_the_request() {
        let a = request_args(&[
            "--model",
            "m",
            "--system",
            "be brief",
            "--temperature",
            "0",
            "--top-p",
            "0.5",
            "--max-tokens",
            "7",
            "--stop",
            "User:",
            "--stop",
            "||",
            "--field",
            "top_k=50",
            "--field",
            "x=[1,\"a\",null]",
            "--api",
            "invoke-model",
            "--message",
            "user:hi",
            "--message",
            "assistant:hello",
            "--message",
            "user:bye",
        ]);
        let r = generate_request(&a);
        assert_eq!(r.model_id, "m");
        assert_eq!(r.prompt, "");
        assert_eq!(r.system, "be brief");
        assert_eq!(r.api, pb::BedrockApi::InvokeModel as i32);
        let roles: Vec<_> = r
            .messages
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .collect();
        assert_eq!(
            roles,
            [(1, "hi"), (2, "hello"), (1, "bye")],
            "ROLE_USER is 1, ROLE_ASSISTANT is 2"
        );
        let p = r.parameters.unwrap();
        assert_eq!(p.temperature, Some(0.0));
        assert_eq!(p.top_p, Some(0.5));
        assert_eq!(p.max_tokens, Some(7));
        assert_eq!(p.stop_sequences, ["User:", "||"]);
        let f = r.additional_model_request_fields.unwrap().fields;
        assert_eq!(f["top_k"].kind, Some(Kind::NumberValue(50.0)));
        match &f["x"].kind {
            Some(Kind::ListValue(l)) => {
                assert_eq!(l.values[1].kind, Some(Kind::StringValue("a".into())));
                assert_eq!(l.values[2].kind, Some(Kind::NullValue(0)));
            }
            other => panic!("x is {other:?}"),
        }
    }

    /// A directory with a PNG, a text document, a tools file, a schema and
    /// a conversation ending with an assistant tool call.
    fn files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| std::fs::write(dir.path().join(name), data).unwrap();
        write("cat.png", b"\x89PNG\r\n\x1a\nimage");
        write("My notes_v2.txt", b"notes");
        write("notes.md", b"# notes");
        write(
            "tools.json",
            br#"[{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}]"#,
        );
        write(
            "schema.json",
            br#"{"type": "object", "properties": {"a": {"type": "string"}}}"#,
        );
        write(
            "chat.json",
            br#"[{"role": "user", "content": "weather?"},
                 {"role": "assistant", "blocks": [{"tool_use": {"id": "t1", "name": "get_weather", "input": {}}}]}]"#,
        );
        dir
    }

    fn at(dir: &tempfile::TempDir, name: &str) -> String {
        dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn kinds(m: &pb::Message) -> Vec<&'static str> {
        use pb::content_block::Block;
        m.blocks
            .iter()
            .map(|b| match &b.block {
                Some(Block::Text(_)) => "text",
                Some(Block::Image(_)) => "image",
                Some(Block::Document(_)) => "document",
                Some(Block::ToolUse(_)) => "tool_use",
                Some(Block::ToolResult(_)) => "tool_result",
                Some(Block::Reasoning(_)) => "reasoning",
                Some(Block::CachePoint(_)) => "cache_point",
                None => "none",
            })
            .collect()
    }

    #[test]
    fn files_make_the_prompt_a_turn_of_blocks() {
        use pb::content_block::Block;
        let d = files();
        let r = generate_request(&request_args(&[
            "--document",
            &at(&d, "My notes_v2.txt"),
            "--image",
            &at(&d, "cat.png"),
            "--document",
            &at(&d, "notes.md"),
            "what is this?",
        ]));
        assert_eq!(r.prompt, "");
        assert_eq!(r.messages.len(), 1);
        let m = &r.messages[0];
        assert_eq!((m.role, m.content.as_str()), (pb::Role::User as i32, ""));
        assert_eq!(kinds(m), ["image", "document", "document", "text"]);
        match &m.blocks[0].block {
            Some(Block::Image(i)) => {
                assert_eq!(i.format, pb::ImageFormat::Png as i32);
                assert_eq!(i.data, b"\x89PNG\r\n\x1a\nimage");
            }
            other => panic!("{other:?}"),
        }
        match (&m.blocks[1].block, &m.blocks[2].block) {
            (Some(Block::Document(a)), Some(Block::Document(b))) => {
                assert_eq!(
                    (a.name.as_str(), a.format),
                    ("My notes-v2", pb::DocumentFormat::Txt as i32)
                );
                assert_eq!(
                    (b.name.as_str(), b.format),
                    ("notes", pb::DocumentFormat::Md as i32)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.blocks[3].block, Some(Block::Text("what is this?".into())));
    }

    #[test]
    fn files_join_the_last_user_turn_of_a_conversation() {
        use pb::content_block::Block;
        let d = files();
        let r = generate_request(&request_args(&[
            "--message",
            "user:hi",
            "--message",
            "assistant:hello",
            "--message",
            "user:look",
            "--image",
            &at(&d, "cat.png"),
        ]));
        assert_eq!(r.messages.len(), 3);
        let last = &r.messages[2];
        assert_eq!(last.content, "");
        assert_eq!(kinds(last), ["image", "text"]);
        assert_eq!(last.blocks[1].block, Some(Block::Text("look".into())));
        assert_eq!(r.messages[1].content, "hello");
    }

    #[test]
    fn tool_results_and_a_prompt_follow_a_saved_conversation() {
        use pb::content_block::Block;
        let d = files();
        let chat = at(&d, "chat.json");
        let r = generate_request(&request_args(&[
            "--messages",
            &chat,
            "--tool-result",
            r#"t1={"temp_c": 21}"#,
            "--tool-result",
            "t2=sunny",
        ]));
        assert_eq!(r.messages.len(), 3);
        assert_eq!(kinds(&r.messages[1]), ["tool_use"]);
        let last = &r.messages[2];
        assert_eq!(last.role, pb::Role::User as i32);
        assert_eq!(kinds(last), ["tool_result", "tool_result"]);
        match &last.blocks[1].block {
            Some(Block::ToolResult(t)) => {
                assert_eq!(t.tool_use_id, "t2");
                assert_eq!(t.status, pb::ToolResultStatus::Unspecified as i32);
                assert_eq!(
                    t.content[0].content,
                    Some(pb::tool_result_content::Content::Text("sunny".into()))
                );
            }
            other => panic!("{other:?}"),
        }
        // With a prompt: one new user turn, results first, then the text.
        let r = generate_request(&request_args(&[
            "--messages",
            &chat,
            "--tool-result",
            "t1=21",
            "--image",
            &at(&d, "cat.png"),
            "and tomorrow?",
        ]));
        assert_eq!(kinds(&r.messages[2]), ["tool_result", "image", "text"]);
        // A prompt alone after a conversation is a plain text turn.
        let r = generate_request(&request_args(&["--messages", &chat, "thanks"]));
        assert_eq!(r.messages[2].content, "thanks");
        assert!(r.messages[2].blocks.is_empty());
        // A conversation alone is sent as it is.
        let r = generate_request(&request_args(&["--messages", &chat]));
        assert_eq!(r.messages.len(), 2);
        assert_eq!(r.prompt, "");
    }

    #[test]
    fn tools_and_schemas_reach_both_requests() {
        let d = files();
        let args = request_args(&[
            "--tools",
            &at(&d, "tools.json"),
            "--tool-choice",
            "tool:get_weather",
            "--json-schema",
            &at(&d, "schema.json"),
            "--json-schema-name",
            "answer",
            "hi",
        ]);
        for (tool_config, output_schema) in [
            {
                let r = generate_request(&args);
                (r.tool_config, r.output_schema)
            },
            {
                let r = generate_stream_request(&args, None);
                (r.tool_config, r.output_schema)
            },
        ] {
            let tc = tool_config.unwrap();
            assert_eq!(tc.tools.len(), 1);
            assert_eq!(tc.tools[0].name, "get_weather");
            let choice = tc.tool_choice.unwrap();
            assert_eq!(choice.mode, pb::ToolChoiceMode::Tool as i32);
            assert_eq!(choice.tool_name, "get_weather");
            let os = output_schema.unwrap();
            assert_eq!(os.name, "answer");
            assert!(os.json_schema.unwrap().fields.contains_key("properties"));
        }
        // Tools without a choice leave it unset (AUTO).
        let r = generate_request(&request_args(&["--tools", &at(&d, "tools.json"), "hi"]));
        assert!(r.tool_config.unwrap().tool_choice.is_none());
        assert!(r.output_schema.is_none());
        // No files: the prompt stays `prompt`.
        assert_eq!(r.prompt, "hi");
        assert!(r.messages.is_empty());
    }

    #[test]
    fn reasoning_caching_guardrails_and_routing_reach_both_requests() {
        let d = files();
        let args = request_args(&[
            "--model",
            "m",
            "--system",
            "be brief",
            "--cache-system",
            "--tools",
            &at(&d, "tools.json"),
            "--cache-tools",
            "--cache-ttl",
            "1h",
            "--max-tokens",
            "2048",
            "--reasoning-budget",
            "1024",
            "--guardrail",
            "gr-1:DRAFT",
            "--guardrail-trace",
            "enabled-full",
            "--service-tier",
            "flex",
            "--latency",
            "optimized",
            "--metadata",
            "team=search",
            "--metadata",
            "run=7",
            "hi",
        ]);
        let one_hour = Some(pb::CachePoint {
            ttl: pb::CacheTtl::CacheTtl1Hour as i32,
        });
        let r = generate_request(&args);
        assert_eq!(r.system_cache_point, one_hour);
        assert_eq!(r.tool_config.as_ref().unwrap().cache_point, one_hour);
        assert_eq!(
            r.reasoning,
            Some(pb::ReasoningConfig {
                budget_tokens: 1024
            })
        );
        let g = r.guardrail.clone().unwrap();
        assert_eq!(
            (g.identifier.as_str(), g.version.as_str()),
            ("gr-1", "DRAFT")
        );
        assert_eq!(g.trace, pb::GuardrailTrace::EnabledFull as i32);
        assert_eq!(g.stream_mode, pb::GuardrailStreamMode::Unspecified as i32);
        assert_eq!(r.service_tier, pb::ServiceTier::Flex as i32);
        assert_eq!(r.latency, pb::Latency::Optimized as i32);
        assert_eq!(r.request_metadata.len(), 2);
        assert_eq!(r.request_metadata["team"], "search");
        let s = generate_stream_request(&args, Some(GuardrailStreamModeArg::Async));
        assert_eq!(s.system_cache_point, one_hour);
        assert_eq!(s.reasoning, r.reasoning);
        assert_eq!(s.service_tier, r.service_tier);
        assert_eq!(s.latency, r.latency);
        assert_eq!(s.request_metadata, r.request_metadata);
        assert_eq!(
            s.guardrail.unwrap().stream_mode,
            pb::GuardrailStreamMode::Async as i32
        );
        // The default TTL is left to Bedrock.
        let r = generate_request(&request_args(&["--system", "s", "--cache-system", "hi"]));
        assert_eq!(
            r.system_cache_point,
            Some(pb::CachePoint {
                ttl: pb::CacheTtl::Unspecified as i32
            })
        );
        assert!(r.tool_config.is_none());
    }

    #[test]
    fn count_tokens_sends_the_input_generate_would() {
        use crate::cli::{Cli, Command};
        use clap::Parser as _;
        let d = files();
        let argv = [
            "bedrock-client",
            "count-tokens",
            "--model",
            "m",
            "--system",
            "s",
            "--tools",
            &at(&d, "tools.json"),
            "--image",
            &at(&d, "cat.png"),
            "what is this?",
        ];
        let input = match Cli::try_parse_from(argv).unwrap().command {
            Command::CountTokens(c) => c.input,
            other => panic!("parsed as {other:?}"),
        };
        let c = count_tokens_request(&input);
        let g = generate_request(&request_args(&argv[2..]));
        assert_eq!(c.model_id, g.model_id);
        assert_eq!(c.prompt, g.prompt);
        assert_eq!(c.messages, g.messages);
        assert_eq!(c.system, g.system);
        assert_eq!(c.tool_config, g.tool_config);
    }

    #[test]
    fn sent_turns_make_the_prompt_a_turn() {
        let t = sent_turns("hi", &[]);
        assert_eq!((t.len(), t[0].content.as_str()), (1, "hi"));
        assert_eq!(t[0].role, pb::Role::User as i32);
    }

    #[test]
    fn struct_values_print_whole_numbers_as_integers() {
        let v = json_to_value(
            &serde_json::json!({"a": 21, "b": 1.5, "c": [true, null, "x"], "d": -0.0}),
        );
        assert_eq!(
            value_to_json(&v),
            serde_json::json!({"a": 21, "b": 1.5, "c": [true, null, "x"], "d": 0})
        );
        let nan = prost_types::Value {
            kind: Some(Kind::NumberValue(f64::NAN)),
        };
        assert_eq!(value_to_json(&nan), serde_json::Value::Null);
    }

    #[test]
    fn a_bare_prompt_sends_no_optional_parts() {
        let r = generate_request(&request_args(&["hi"]));
        assert_eq!(r.model_id, crate::cli::DEFAULT_MODEL);
        assert_eq!(r.prompt, "hi");
        assert!(r.messages.is_empty());
        assert!(r.parameters.is_none());
        assert!(r.additional_model_request_fields.is_none());
        assert!(r.tool_config.is_none() && r.output_schema.is_none());
        assert_eq!(r.api, pb::BedrockApi::Unspecified as i32);
        let s = generate_stream_request(
            &request_args(&["--prompt", "hi", "--max-tokens", "3"]),
            None,
        );
        assert_eq!(s.prompt, "hi");
        assert_eq!(s.parameters.unwrap().max_tokens, Some(3));
    }
}
