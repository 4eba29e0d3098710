//! Every validation rule over the wire: INVALID_ARGUMENT with a BadRequest
//! naming the field, and the backend never called.

mod common;

use bedrock_gateway::pb::{
    GenerateRequest, GenerationParameters, GetModelRequest, Message, Role,
};
use bedrock_gateway::server::ServerConfig;
use bedrock_gateway::validation::Limits;
use common::{MockBackend, TestServer};
use std::sync::Arc;
use tonic::Code;
use tonic_types::StatusExt;

fn valid() -> GenerateRequest {
    GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        ..Default::default()
    }
}

fn params(p: GenerationParameters) -> GenerateRequest {
    GenerateRequest {
        parameters: Some(p),
        ..valid()
    }
}

fn turn(role: Role, content: &str) -> Message {
    Message {
        role: role as i32,
        content: content.into(),
        blocks: vec![],
    }
}

fn conversation(turns: Vec<Message>) -> GenerateRequest {
    GenerateRequest {
        prompt: String::new(),
        messages: turns,
        ..valid()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_is_refused_before_the_backend_with_the_field_named() {
    let backend = Arc::new(MockBackend::new(&["ok"]));
    let config = ServerConfig {
        limits: Limits { max_input_bytes: 64 },
        ..common::quick_config()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let mut client = server.client().await;

    // (request, the field named, a fragment the description must contain)
    let cases: Vec<(GenerateRequest, &str, &str)> = vec![
        (GenerateRequest { model_id: String::new(), ..valid() }, "model_id", "must not be empty"),
        (GenerateRequest { prompt: String::new(), ..valid() }, "prompt", "neither"),
        (
            GenerateRequest { messages: vec![turn(Role::User, "hi")], ..valid() },
            "prompt",
            "both",
        ),
        (
            conversation(vec![turn(Role::User, "a"), turn(Role::User, "b")]),
            "messages[1].role",
            "alternate",
        ),
        (
            conversation(vec![turn(Role::User, "a"), turn(Role::Assistant, "b")]),
            "messages[1].role",
            "last turn must be ROLE_USER",
        ),
        (
            conversation(vec![turn(Role::Assistant, "a")]),
            "messages[0].role",
            "first turn must be ROLE_USER",
        ),
        (
            conversation(vec![turn(Role::Unspecified, "a")]),
            "messages[0].role",
            "ROLE_UNSPECIFIED",
        ),
        (
            conversation(vec![turn(Role::User, "")]),
            "messages[0].content",
            "must not be empty",
        ),
        (
            params(GenerationParameters { temperature: Some(f32::NAN), ..Default::default() }),
            "parameters.temperature",
            "NaN",
        ),
        (
            params(GenerationParameters { temperature: Some(-0.5), ..Default::default() }),
            "parameters.temperature",
            "got -0.5",
        ),
        (
            params(GenerationParameters { temperature: Some(1.5), ..Default::default() }),
            "parameters.temperature",
            "got 1.5",
        ),
        (
            params(GenerationParameters { top_p: Some(1.01), ..Default::default() }),
            "parameters.top_p",
            "[0, 1], got 1.01",
        ),
        (
            params(GenerationParameters { top_p: Some(-1.0), ..Default::default() }),
            "parameters.top_p",
            "got -1",
        ),
        (
            params(GenerationParameters { max_tokens: Some(0), ..Default::default() }),
            "parameters.max_tokens",
            "at least 1, got 0",
        ),
        (
            params(GenerationParameters {
                stop_sequences: vec!["User:".into(), String::new()],
                ..Default::default()
            }),
            "parameters.stop_sequences[1]",
            "must not be empty",
        ),
        (
            GenerateRequest { prompt: "x".repeat(65), ..valid() },
            "prompt",
            "at most 64 bytes, got 65 bytes",
        ),
        (GenerateRequest { api: 9, ..valid() }, "api", "got 9"),
    ];

    for (request, field, fragment) in cases {
        let status = client.generate(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let violations = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("{field}: no BadRequest"))
            .field_violations;
        let v = violations
            .iter()
            .find(|v| v.field == field)
            .unwrap_or_else(|| panic!("{field} not named in {violations:?}"));
        assert!(v.description.contains(fragment), "{field}: {:?}", v.description);
        assert!(status.message().contains(field), "message names the field: {}", status.message());

        // The streaming RPC applies the same rules.
        let s = common::stream_request(request);
        let status = client.generate_stream(s).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "stream {field}");
    }

    let status = client
        .get_model(GetModelRequest { model_id: " ".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert_eq!(backend.calls(), 0, "no invalid request reached the backend");

    // And a valid one does, with the system prompt and parameters intact
    // (on a model that takes a system prompt and both sampling controls).
    let ok = GenerateRequest {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        system: "Be brief.".into(),
        ..params(GenerationParameters {
            temperature: Some(0.2),
            top_p: Some(0.9),
            max_tokens: Some(50),
            stop_sequences: vec!["User:".into()],
        })
    };
    client.generate(ok).await.unwrap();
    assert_eq!(backend.calls(), 1);
    let seen = backend.last_request.lock().unwrap().clone().unwrap();
    assert_eq!(seen.system.as_deref(), Some("Be brief."));
    assert_eq!(seen.parameters.temperature, Some(0.2));
    assert_eq!(seen.parameters.top_p, Some(0.9));
    assert_eq!(seen.parameters.max_tokens.map(|n| n.get()), Some(50));
    assert_eq!(seen.parameters.stop_sequences, ["User:"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_parameters_reach_the_backend_unset_not_zero() {
    let backend = Arc::new(MockBackend::new(&["ok"]));
    let server = TestServer::start(backend.clone(), common::quick_config()).await;
    let mut client = server.client().await;
    client.generate(valid()).await.unwrap();
    let seen = backend.last_request.lock().unwrap().clone().unwrap();
    assert_eq!(seen.parameters.temperature, None);
    assert_eq!(seen.parameters.top_p, None);
    assert_eq!(seen.parameters.max_tokens, None);
    assert!(seen.parameters.stop_sequences.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_refused_before_decoding() {
    let backend = Arc::new(MockBackend::new(&["ok"]));
    let config = ServerConfig {
        max_message_bytes: 1024,
        ..common::quick_config()
    };
    let server = TestServer::start(backend.clone(), config).await;
    let mut client = server.client().await;
    let status = client
        .generate(GenerateRequest { prompt: "x".repeat(4096), ..valid() })
        .await
        .unwrap_err();
    // tonic answers OUT_OF_RANGE here (grpc-go would say RESOURCE_EXHAUSTED).
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("1024"));
    assert_eq!(backend.calls(), 0);
    server.stop().await;
}
