//! Command-line values into protobuf requests.
//!
//! Values are passed through as given; range and consistency rules are
//! enforced by the gateway, which reports every broken rule at once.

use crate::cli::{Api, FieldArg, ModelsArgs, RequestArgs, Role};
use crate::pb;
use prost_types::value::Kind;

/// The GenerateRequest that `generate` sends.
pub fn generate_request(args: &RequestArgs) -> pb::GenerateRequest {
    pb::GenerateRequest {
        model_id: args.model.clone(),
        prompt: args.prompt().unwrap_or_default().to_owned(),
        messages: args
            .messages
            .iter()
            .map(|m| pb::Message {
                role: match m.role {
                    Role::User => pb::Role::User,
                    Role::Assistant => pb::Role::Assistant,
                } as i32,
                content: m.text.clone(),
            })
            .collect(),
        system: args.system.clone().unwrap_or_default(),
        parameters: parameters(args),
        additional_model_request_fields: fields_struct(&args.fields),
        api: match args.api {
            None => pb::BedrockApi::Unspecified,
            Some(Api::Converse) => pb::BedrockApi::Converse,
            Some(Api::InvokeModel) => pb::BedrockApi::InvokeModel,
        } as i32,
    }
}

/// The GenerateStreamRequest that `stream` sends: the same fields as
/// [`generate_request`], so both subcommands ask for exactly the same thing.
pub fn generate_stream_request(args: &RequestArgs) -> pb::GenerateStreamRequest {
    let r = generate_request(args);
    pb::GenerateStreamRequest {
        model_id: r.model_id,
        prompt: r.prompt,
        messages: r.messages,
        system: r.system,
        parameters: r.parameters,
        additional_model_request_fields: r.additional_model_request_fields,
        api: r.api,
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

    #[test]
    fn a_bare_prompt_sends_no_optional_parts() {
        let r = generate_request(&request_args(&["hi"]));
        assert_eq!(r.model_id, crate::cli::DEFAULT_MODEL);
        assert_eq!(r.prompt, "hi");
        assert!(r.messages.is_empty());
        assert!(r.parameters.is_none());
        assert!(r.additional_model_request_fields.is_none());
        assert_eq!(r.api, pb::BedrockApi::Unspecified as i32);
        let s = generate_stream_request(&request_args(&["--prompt", "hi", "--max-tokens", "3"]));
        assert_eq!(s.prompt, "hi");
        assert_eq!(s.parameters.unwrap().max_tokens, Some(3));
    }
}
