//! Every RPC over real TCP against the real server with the simulated backend.

mod common;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::pb::{
    self, generate_stream_response::Event, GenerateRequest,
    GenerationParameters, GetModelRequest, ListModelsRequest,
};
use common::{quick_config, TestServer};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::Code;

async fn start(token_delay: Duration) -> TestServer {
    let backend = SimulatedBackend::new(SimulatedConfig {
        token_delay,
        ..Default::default()
    });
    TestServer::start(Arc::new(backend), quick_config()).await
}

fn poem_request(parameters: GenerationParameters) -> GenerateRequest {
    GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(parameters),
        ..Default::default()
    }
}

fn deterministic() -> GenerationParameters {
    GenerationParameters {
        temperature: Some(0.0),
        ..Default::default()
    }
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_writes_a_poem_and_says_it_is_simulated() {
    let server = start(Duration::ZERO).await;
    let mut client = server.client().await;
    let response = client.generate(poem_request(deterministic())).await.unwrap();
    assert_eq!(
        response.metadata().get("x-bedrock-gateway-backend").unwrap(),
        "simulated"
    );
    let request_id_header = response
        .metadata()
        .get("x-amzn-requestid")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let r = response.into_inner();
    assert!(r.text.contains("sky"), "{}", r.text);
    assert_eq!(r.backend, "simulated");
    assert_eq!(r.stop_reason(), pb::StopReason::EndTurn);
    assert_eq!(r.invoked_model_id, "amazon.titan-text-express-v1");
    assert_eq!(r.request_id, request_id_header);
    let usage = r.usage.unwrap();
    assert_eq!(usage.input_tokens, 5);
    assert!(usage.output_tokens > 20);
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);

    let again = client.generate(poem_request(deterministic())).await.unwrap().into_inner();
    assert_eq!(again.text, r.text, "temperature 0 is deterministic");
    assert_ne!(again.request_id, r.request_id, "each call has its own request ID");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_cut_the_text_with_the_right_stop_reason() {
    let server = start(Duration::ZERO).await;
    let mut client = server.client().await;
    let full = client.generate(poem_request(deterministic())).await.unwrap().into_inner();

    let short = client
        .generate(poem_request(GenerationParameters {
            max_tokens: Some(6),
            ..deterministic()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.stop_reason(), pb::StopReason::MaxTokens);
    assert_eq!(short.usage.unwrap().output_tokens, 6);
    assert!(full.text.starts_with(&short.text));

    // Titan accepts only "User:" or '|' runs as stop sequences (on every
    // backend), so a comma is cut with a model that takes any.
    let haiku = |parameters| GenerateRequest {
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        ..poem_request(parameters)
    };
    let full = client.generate(haiku(deterministic())).await.unwrap().into_inner();
    let first_line = client
        .generate(GenerateRequest {
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            ..poem_request(GenerationParameters {
                stop_sequences: vec![",".into()],
                ..deterministic()
            })
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_line.stop_reason(), pb::StopReason::StopSequence);
    assert_eq!(first_line.text, full.text[..full.text.find(',').unwrap()]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_arrives_token_by_token_and_matches_generate() {
    let server = start(Duration::from_millis(5)).await;
    let mut client = server.client().await;
    let unary = client.generate(poem_request(deterministic())).await.unwrap().into_inner();

    let started = Instant::now();
    let response = client
        .generate_stream(common::stream_request(poem_request(deterministic())))
        .await
        .unwrap();
    assert_eq!(
        response.metadata().get("x-bedrock-gateway-backend").unwrap(),
        "simulated"
    );
    let mut stream = response.into_inner();
    let mut text = String::new();
    let mut deltas = 0;
    let mut complete = None;
    while let Some(message) = stream.next().await {
        match message.unwrap().event.unwrap() {
            Event::Delta(d) => {
                assert!(complete.is_none(), "no delta after the completion");
                text.push_str(&d.text);
                deltas += 1;
            }
            Event::Complete(c) => complete = Some(c),
            other => panic!("a text-only answer has only text events, got {other:?}"),
        }
    }
    let complete = complete.expect("a completion event");
    assert_eq!(text, unary.text);
    assert!(deltas > 20, "token by token, got {deltas} deltas");
    // Each token waits 5 ms, so the stream cannot have been sent in one piece.
    assert!(started.elapsed() >= Duration::from_millis(5 * (deltas - 1) as u64));
    assert_eq!(complete.stop_reason(), unary.stop_reason());
    assert_eq!(complete.usage, unary.usage);
    assert_eq!(complete.backend, "simulated");
    assert!(complete.time_to_first_token.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_models_filters_the_seed_catalogue() {
    let server = start(Duration::ZERO).await;
    let mut client = server.client().await;
    let all = client
        .list_models(ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    assert_eq!(all.len(), 94);

    let text_on_demand_amazon = client
        .list_models(ListModelsRequest {
            provider: "Amazon".into(),
            output_modality: "TEXT".into(),
            inference_type: "ON_DEMAND".into(),
            response_streaming_supported: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(!text_on_demand_amazon.is_empty());
    assert!(text_on_demand_amazon.len() < all.len());
    for m in &text_on_demand_amazon {
        assert_eq!(m.provider_name, "Amazon");
        assert!(m.output_modalities.contains(&"TEXT".to_string()));
        assert!(m.inference_types_supported.contains(&"ON_DEMAND".to_string()));
        assert_eq!(m.response_streaming_supported, Some(true));
    }
    assert!(text_on_demand_amazon
        .iter()
        .any(|m| m.model_id == "amazon.titan-text-express-v1"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_model_returns_the_notebook_answer_or_not_found() {
    let server = start(Duration::ZERO).await;
    let mut client = server.client().await;
    let m = client
        .get_model(GetModelRequest {
            model_id: "amazon.titan-text-express-v1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(m.model_name, "Titan Text G1 - Express");
    assert_eq!(
        m.model_arn,
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
    );
    assert_eq!(m.provider_name, "Amazon");
    assert_eq!(m.input_modalities, ["TEXT"]);
    assert_eq!(m.inference_types_supported, ["ON_DEMAND"]);
    assert_eq!(m.lifecycle_status, "ACTIVE");
    assert_eq!(m.response_streaming_supported, Some(true));

    let err = client
        .get_model(GetModelRequest {
            model_id: "amazon.nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("amazon.nope"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_reach_the_client_with_their_code() {
    use prost_types::{value::Kind, Struct, Value};
    let server = start(Duration::ZERO).await;
    let mut client = server.client().await;
    let directive = |fail_with: &str, after: Option<f64>| {
        let mut sim = Struct::default();
        sim.fields.insert(
            "fail_with".into(),
            Value { kind: Some(Kind::StringValue(fail_with.into())) },
        );
        if let Some(n) = after {
            sim.fields.insert("fail_after_tokens".into(), Value { kind: Some(Kind::NumberValue(n)) });
        }
        let mut root = Struct::default();
        root.fields.insert(
            "gateway_simulation".into(),
            Value { kind: Some(Kind::StructValue(sim)) },
        );
        root
    };
    for (error_type, code) in [
        ("ThrottlingException", Code::ResourceExhausted),
        ("ValidationException", Code::InvalidArgument),
        ("AccessDeniedException", Code::PermissionDenied),
        ("ModelTimeoutException", Code::DeadlineExceeded),
        ("ServiceUnavailableException", Code::Unavailable),
        ("InternalServerException", Code::Internal),
    ] {
        let mut r = poem_request(deterministic());
        r.additional_model_request_fields = Some(directive(error_type, None));
        let err = client.generate(r).await.unwrap_err();
        assert_eq!(err.code(), code, "{error_type}");
        assert!(err.message().contains(error_type));
    }

    // Mid-stream: three deltas arrive, then the status.
    let mut r = poem_request(deterministic());
    r.additional_model_request_fields = Some(directive("ModelStreamErrorException", Some(3.0)));
    let mut stream = client.generate_stream(common::stream_request(r)).await.unwrap().into_inner();
    let mut deltas = 0;
    let status = loop {
        match stream.next().await.expect("stream ends with a status") {
            Ok(m) => {
                assert!(matches!(m.event, Some(Event::Delta(_))));
                deltas += 1;
            }
            Err(status) => break status,
        }
    };
    assert_eq!(deltas, 3);
    assert_eq!(status.code(), Code::Internal);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_wide_failure_injection_reaches_every_rpc() {
    let backend = SimulatedBackend::new(SimulatedConfig {
        failure_rate: 1.0,
        failure_kind: Some("ThrottlingException".into()),
        ..Default::default()
    });
    let server = TestServer::start(Arc::new(backend), quick_config()).await;
    let mut client = server.client().await;
    let check = |r: Result<(), tonic::Status>, rpc: &str| {
        let status = r.expect_err(rpc);
        assert_eq!(status.code(), Code::ResourceExhausted, "{rpc}: {status:?}");
        assert!(status.message().contains("ThrottlingException"), "{rpc}");
    };
    check(client.generate(poem_request(deterministic())).await.map(|_| ()), "Generate");
    check(
        client.generate_stream(common::stream_request(poem_request(deterministic()))).await.map(|_| ()),
        "GenerateStream",
    );
    check(client.list_models(ListModelsRequest::default()).await.map(|_| ()), "ListModels");
    check(
        client
            .get_model(GetModelRequest { model_id: "amazon.titan-text-express-v1".into() })
            .await
            .map(|_| ()),
        "GetModel",
    );
    server.stop().await;
}
