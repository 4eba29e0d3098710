//! Drives the fake Bedrock with the real AWS SDK, so the fake is known to speak the
//! wire protocol the SDK expects before gateway tests rely on it.

mod fake_bedrock;

use aws_sdk_bedrockruntime::operation::RequestId as _;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as sdk;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, ResponseStream, StopReason, SystemContentBlock,
};
use fake_bedrock::{Behavior, FakeBedrock};
use serde_json::{json, Value};
use std::time::Duration;

const TITAN: &str = "amazon.titan-text-express-v1";
const CLAUDE_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
const CLAUDE_37_US: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const CLAUDE_3_HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const MISTRAL: &str = "mistral.mistral-7b-instruct-v0:2";

async fn sdk_config(fake: &FakeBedrock) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(fake.url())
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        // One attempt: scripted failures must surface, not be retried away.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

async fn runtime(fake: &FakeBedrock) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&sdk_config(fake).await)
}

async fn control(fake: &FakeBedrock) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::new(&sdk_config(fake).await)
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_string()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn list_and_get_foundation_models() {
    let fake = FakeBedrock::start().await;
    let client = control(&fake).await;

    let out = client
        .list_foundation_models()
        .by_provider("Anthropic")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = out.model_summaries().iter().map(|m| m.model_id()).collect();
    assert!(ids.contains(&CLAUDE_37), "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("anthropic.")), "{ids:?}");
    assert_eq!(out.request_id(), Some("fake-req-1"));

    let all = client.list_foundation_models().send().await.unwrap();
    assert_eq!(all.model_summaries().len(), fake_bedrock::catalogue().len());

    let filtered = client
        .list_foundation_models()
        .by_output_modality(aws_sdk_bedrock::types::ModelModality::Text)
        .by_inference_type(aws_sdk_bedrock::types::InferenceType::OnDemand)
        .send()
        .await
        .unwrap();
    assert!(!filtered.model_summaries().is_empty());
    for m in filtered.model_summaries() {
        assert!(m
            .output_modalities()
            .contains(&aws_sdk_bedrock::types::ModelModality::Text));
        assert!(m
            .inference_types_supported()
            .contains(&aws_sdk_bedrock::types::InferenceType::OnDemand));
    }
    let fine_tunable = client
        .list_foundation_models()
        .by_customization_type(aws_sdk_bedrock::types::ModelCustomization::FineTuning)
        .send()
        .await
        .unwrap();
    assert!(fine_tunable.model_summaries().iter().all(|m| m
        .customizations_supported()
        .contains(&aws_sdk_bedrock::types::ModelCustomization::FineTuning)));
    assert_eq!(fake.count("/foundation-models"), 4);

    let got = client
        .get_foundation_model()
        .model_identifier(CLAUDE_37)
        .send()
        .await
        .unwrap();
    let details = got.model_details().unwrap();
    assert_eq!(details.model_id(), CLAUDE_37);
    assert_eq!(details.provider_name(), Some("Anthropic"));
    // The SDK has no variant for INFERENCE_PROFILE: it arrives as an unknown value.
    assert!(details
        .inference_types_supported()
        .iter()
        .any(|t| t.as_str() == "INFERENCE_PROFILE"));

    let err = client
        .get_foundation_model()
        .model_identifier("nobody.nothing-v9")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let reqs = fake.requests();
    assert!(reqs.iter().all(|r| r.signed));
    assert_eq!(reqs[4].path, format!("/foundation-models/{CLAUDE_37}"));
    assert_eq!(reqs[4].model_id.as_deref(), Some(CLAUDE_37));
}

#[tokio::test]
async fn list_inference_profiles_paginates() {
    let fake = FakeBedrock::start().await;
    let client = control(&fake).await;

    let first = client
        .list_inference_profiles()
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(first.inference_profile_summaries().len(), 5);
    assert!(first.next_token().is_some());

    let pages: Vec<_> = client
        .list_inference_profiles()
        .max_results(7)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let expected = fake_bedrock::inference_profiles().len();
    let pages: Vec<_> = pages.into_iter().map(Result::unwrap).collect();
    assert_eq!(pages.len(), expected.div_ceil(7));
    let profiles: Vec<_> = pages
        .iter()
        .flat_map(|p| p.inference_profile_summaries().to_vec())
        .collect();
    assert_eq!(profiles.len(), expected);
    let p = profiles
        .iter()
        .find(|p| p.inference_profile_id() == CLAUDE_37_US)
        .expect("us profile listed");
    assert_eq!(
        p.inference_profile_arn(),
        format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{CLAUDE_37_US}")
    );
    assert_eq!(
        p.status(),
        &aws_sdk_bedrock::types::InferenceProfileStatus::Active
    );
    assert_eq!(
        p.r#type(),
        &aws_sdk_bedrock::types::InferenceProfileType::SystemDefined
    );
    assert!(p.models().iter().any(|m| m.model_arn()
        == Some(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0"
        )));
    assert!(p.created_at().is_some());
    assert!(profiles
        .iter()
        .any(|p| p.inference_profile_id() == format!("apac.{CLAUDE_37}")));
    // A model with ON_DEMAND only has no profile.
    assert!(!profiles
        .iter()
        .any(|p| p.inference_profile_id().ends_with(TITAN)));

    let app = client
        .list_inference_profiles()
        .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    assert!(app.inference_profile_summaries().is_empty());
    let q = fake.requests().last().unwrap().query.clone();
    assert!(
        q.contains(&("type".to_string(), "APPLICATION".to_string())),
        "{q:?}"
    );
}

#[tokio::test]
async fn converse_text_stop_reason_usage_and_request_id() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;

    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("Tell me about the sky"))
        .system(SystemContentBlock::Text("Be brief".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.request_id(), Some("fake-req-1"));
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, "The sky is wide and blue and full of light The sky");
    assert_eq!(text, fake_bedrock::natural_text());
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    assert_eq!(usage.input_tokens(), 7);
    assert_eq!(usage.output_tokens(), 12);
    assert_eq!(usage.total_tokens(), 19);

    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(3).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    assert_eq!(
        out.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap(),
        "The sky is"
    );
    assert_eq!(out.usage().unwrap().output_tokens(), 3);

    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("hi"))
        .inference_config(
            InferenceConfiguration::builder()
                .stop_sequences("blue")
                .stop_sequences("full")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::StopSequence);
    assert_eq!(
        out.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap(),
        "The sky is wide and "
    );
    assert_eq!(out.usage().unwrap().output_tokens(), 6);

    let r = &fake.requests()[0];
    assert!(r.signed);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/model/{CLAUDE_3_HAIKU}/converse"));
    assert_eq!(r.model_id.as_deref(), Some(CLAUDE_3_HAIKU));
    assert_eq!(
        r.body["messages"][0]["content"][0]["text"],
        "Tell me about the sky"
    );
    assert_eq!(fake.count("/converse"), 3);
    assert_eq!(fake.count("/converse-stream"), 0);
}

#[tokio::test]
async fn converse_stream_matches_converse() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let unary = client
        .converse()
        .model_id(TITAN)
        .messages(user("one two three"))
        .inference_config(InferenceConfiguration::builder().max_tokens(8).build())
        .send()
        .await
        .unwrap();
    let unary_text = unary.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();

    let mut out = client
        .converse_stream()
        .model_id(TITAN)
        .messages(user("one two three"))
        .inference_config(InferenceConfiguration::builder().max_tokens(8).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.request_id(), Some("fake-req-2"));
    let (mut deltas, mut stop, mut usage, mut started) = (Vec::new(), None, None, false);
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::MessageStart(m) => {
                assert_eq!(m.role(), &ConversationRole::Assistant);
                started = true;
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                assert_eq!(d.content_block_index(), 0);
                match d.delta().unwrap() {
                    ContentBlockDelta::Text(t) => deltas.push(t.clone()),
                    other => panic!("unexpected delta {other:?}"),
                }
            }
            ConverseStreamOutput::ContentBlockStop(_) => {}
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            ConverseStreamOutput::Metadata(m) => usage = m.usage().cloned(),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(started);
    assert_eq!(deltas.len(), 8);
    assert_eq!(deltas[0], "The");
    assert_eq!(deltas[1], " sky");
    assert_eq!(deltas.concat(), unary_text);
    assert_eq!(stop, Some(StopReason::MaxTokens));
    let usage = usage.unwrap();
    assert_eq!(
        (
            usage.input_tokens(),
            usage.output_tokens(),
            usage.total_tokens()
        ),
        (3, 8, 11)
    );
    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await);
    assert_eq!(fake.streams_opened(), 1);
    assert_eq!(fake.streams_closed(), 1);
}

async fn invoke_json(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: Value,
) -> (
    Value,
    aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput,
) {
    let out = client
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    (v, out)
}

#[tokio::test]
async fn invoke_model_four_families() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;

    let (v, out) = invoke_json(
        &client,
        TITAN,
        json!({"inputText": "Hello there", "textGenerationConfig": {"maxTokenCount": 5}}),
    )
    .await;
    assert_eq!(v["inputTextTokenCount"], 2);
    assert_eq!(v["results"][0]["outputText"], "The sky is wide and");
    assert_eq!(v["results"][0]["tokenCount"], 5);
    assert_eq!(v["results"][0]["completionReason"], "LENGTH");
    assert_eq!(out.content_type(), "application/json");
    assert!(out.request_id().unwrap().starts_with("fake-req-"));
    let r = fake.requests().pop().unwrap();
    assert_eq!(r.path, format!("/model/{TITAN}/invoke"));

    let (v, _) = invoke_json(
        &client,
        CLAUDE_3_HAIKU,
        json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 100,
            "system": "Be nice",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there you"}]}],
            "stop_sequences": ["full"],
        }),
    )
    .await;
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "The sky is wide and blue and ");
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], "full");
    assert_eq!(v["usage"]["input_tokens"], 5);
    assert_eq!(v["usage"]["output_tokens"], 8);

    let (v, _) = invoke_json(
        &client,
        LLAMA,
        json!({"prompt": "a b c d", "max_gen_len": 50}),
    )
    .await;
    assert_eq!(v["generation"], fake_bedrock::natural_text());
    assert_eq!(v["prompt_token_count"], 4);
    assert_eq!(v["generation_token_count"], 12);
    assert_eq!(v["stop_reason"], "stop");

    let (v, _) = invoke_json(
        &client,
        MISTRAL,
        json!({"prompt": "[INST] x [/INST]", "max_tokens": 2}),
    )
    .await;
    assert_eq!(v["outputs"][0]["text"], "The sky");
    assert_eq!(v["outputs"][0]["stop_reason"], "length");

    // Token-count headers, read raw: the SDK does not model them.
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    let raw = raw_post(
        &fake,
        &format!("/model/{LLAMA}/invoke"),
        r#"{"prompt":"a b"}"#,
    )
    .await;
    assert!(raw.contains("x-amzn-bedrock-input-token-count: 2"), "{raw}");
    assert!(
        raw.contains("x-amzn-bedrock-output-token-count: 12"),
        "{raw}"
    );
    assert!(raw.contains("x-amzn-bedrock-invocation-latency: "), "{raw}");
    assert!(raw.contains("x-amzn-requestid: fake-req-5"), "{raw}");
    assert!(!fake.requests()[4].signed);

    // Missing required native keys are Bedrock's "Malformed input request".
    let err = client
        .invoke_model()
        .model_id(CLAUDE_3_HAIKU)
        .body(Blob::new(br#"{"messages":[]}"#.to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(
        err.to_string().contains("required key [anthropic_version]"),
        "{err}"
    );
}

/// A plain HTTP/1.1 POST without signing, returning the raw response head and body.
async fn raw_post(fake: &FakeBedrock, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).to_lowercase()
}

async fn invoke_stream_chunks(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: Value,
) -> Vec<Value> {
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), "application/json");
    let mut chunks = Vec::new();
    while let Some(ev) = out.body.recv().await.unwrap() {
        match ev {
            ResponseStream::Chunk(part) => {
                chunks.push(serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap())
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    chunks
}

fn assert_last_has_metrics(chunks: &[Value], input: u64, output: u64) {
    let last = chunks.last().unwrap();
    let m = &last["amazon-bedrock-invocationMetrics"];
    assert_eq!(m["inputTokenCount"], input, "{last}");
    assert_eq!(m["outputTokenCount"], output, "{last}");
    assert!(
        m["invocationLatency"].is_u64() && m["firstByteLatency"].is_u64(),
        "{last}"
    );
    for c in &chunks[..chunks.len() - 1] {
        assert!(c.get("amazon-bedrock-invocationMetrics").is_none(), "{c}");
    }
}

#[tokio::test]
async fn invoke_model_with_response_stream_four_families() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;

    let chunks = invoke_stream_chunks(&client, TITAN, json!({"inputText": "hi"})).await;
    assert_eq!(chunks.len(), 12);
    let text: String = chunks
        .iter()
        .map(|c| c["outputText"].as_str().unwrap())
        .collect();
    assert_eq!(text, fake_bedrock::natural_text());
    assert!(chunks[0]["completionReason"].is_null());
    assert_eq!(chunks[11]["completionReason"], "FINISH");
    assert_eq!(chunks[11]["totalOutputTextTokenCount"], 12);
    assert_last_has_metrics(&chunks, 1, 12);

    let chunks = invoke_stream_chunks(
        &client,
        CLAUDE_37_US,
        json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "Hello"}],
        }),
    )
    .await;
    let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = chunks
        .iter()
        .filter(|c| c["type"] == "content_block_delta")
        .map(|c| c["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "The sky is wide");
    assert_eq!(chunks[7]["delta"]["stop_reason"], "max_tokens");
    assert_eq!(chunks[7]["usage"]["output_tokens"], 4);
    assert_last_has_metrics(&chunks, 1, 4);

    let chunks =
        invoke_stream_chunks(&client, LLAMA, json!({"prompt": "x y", "max_gen_len": 3})).await;
    let text: String = chunks
        .iter()
        .map(|c| c["generation"].as_str().unwrap())
        .collect();
    assert_eq!(text, "The sky is");
    assert!(chunks[0]["stop_reason"].is_null());
    assert_eq!(chunks[2]["stop_reason"], "length");
    assert_last_has_metrics(&chunks, 2, 3);

    let chunks =
        invoke_stream_chunks(&client, MISTRAL, json!({"prompt": "q", "stop": ["wide"]})).await;
    let text: String = chunks
        .iter()
        .map(|c| c["outputs"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "The sky is ");
    assert_eq!(chunks.last().unwrap()["outputs"][0]["stop_reason"], "stop");
    assert_last_has_metrics(&chunks, 1, 4);

    assert_eq!(fake.count("/invoke-with-response-stream"), 4);
    assert_eq!(fake.count("/invoke"), 0);
    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await);
    assert_eq!(fake.streams_opened(), 4);
}

#[tokio::test]
async fn scripted_throttling_maps_to_sdk_variant() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    fake.set_behavior(
        TITAN,
        Behavior::Error {
            status: 429,
            error_type: "ThrottlingException".into(),
            message: "Too many requests, please wait before trying again.".into(),
        },
    );
    let err = client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err();
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw_status, Some(429));
    let err = err.into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(err.request_id(), Some("fake-req-1"));
    assert_eq!(
        err.to_string(),
        "ThrottlingException: Too many requests, please wait before trying again."
    );

    // Streams fail before any event too.
    let err = client
        .converse_stream()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");

    fake.clear_behaviors();
    client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(fake.count("/converse"), 2);
}

#[tokio::test]
async fn stream_exception_after_n_deltas() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    fake.set_behavior(
        TITAN,
        Behavior::StreamException {
            after_tokens: 3,
            exception_type: "ModelStreamErrorException".into(),
            message: "boom".into(),
        },
    );
    let mut out = client
        .converse_stream()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let mut deltas = 0;
    let err = loop {
        match out.stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(_))) => deltas += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream ended without the exception"),
            Err(e) => break e,
        }
    };
    assert_eq!(deltas, 3);
    let err = err.into_service_error();
    assert!(err.is_model_stream_error_exception(), "{err:?}");
    assert_eq!(err.meta().message(), Some("boom"));

    // The same behaviour on InvokeModelWithResponseStream, with a camelCase type.
    fake.set_behavior(
        LLAMA,
        Behavior::StreamException {
            after_tokens: 2,
            exception_type: "throttlingException".into(),
            message: "slow down".into(),
        },
    );
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(LLAMA)
        .body(Blob::new(br#"{"prompt":"x"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let mut chunks = 0;
    let err = loop {
        match out.body.recv().await {
            Ok(Some(_)) => chunks += 1,
            Ok(None) => panic!("no exception"),
            Err(e) => break e.into_service_error(),
        }
    };
    assert_eq!(chunks, 2);
    assert!(err.is_throttling_exception(), "{err:?}");

    // Unary calls turn it into an HTTP error of that type.
    let err = client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // Converse has no such variant: it is a generic error with that code.
    assert_eq!(
        err.meta().code(),
        Some("ModelStreamErrorException"),
        "{err:?}"
    );
    assert_eq!(err.meta().message(), Some("boom"));
}

#[tokio::test]
async fn dropping_the_receiver_closes_the_upstream_stream() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    fake.set_behavior(TITAN, Behavior::TokenDelay(Duration::from_millis(100)));
    let mut out = client
        .converse_stream()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let first = out.stream.recv().await.unwrap();
    assert!(matches!(first, Some(ConverseStreamOutput::MessageStart(_))));
    let second = out.stream.recv().await.unwrap();
    assert!(matches!(
        second,
        Some(ConverseStreamOutput::ContentBlockDelta(_))
    ));
    assert_eq!(fake.streams_open(), 1);
    drop(out);
    assert!(
        fake.wait_streams_closed(Duration::from_secs(2)).await,
        "open: {}",
        fake.streams_open()
    );
    assert_eq!((fake.streams_opened(), fake.streams_closed()), (1, 1));
}

#[tokio::test]
async fn stalled_stream_is_closed_by_a_client_cancel() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    fake.set_behavior(TITAN, Behavior::Stall);
    let mut out = client
        .converse_stream()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), out.stream.recv()).await;
    assert!(waited.is_err(), "a stalled stream yields nothing");
    assert_eq!(fake.streams_open(), 1);
    drop(out);
    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await);

    // A stalled unary call never answers.
    let call = client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send();
    assert!(tokio::time::timeout(Duration::from_millis(300), call)
        .await
        .is_err());
}

#[tokio::test]
async fn on_demand_refused_but_profile_works() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let err = client
        .converse()
        .model_id(CLAUDE_37)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some("Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.")
    );

    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);

    // The profile's ARN works too, and arrives percent-encoded.
    let arn = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{CLAUDE_37_US}");
    client
        .converse()
        .model_id(&arn)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let r = fake.requests().pop().unwrap();
    assert_eq!(r.model_id.as_deref(), Some(arn.as_str()));
    assert_eq!(r.path, format!("/model/{arn}/converse"));

    let err = client
        .converse()
        .model_id("nobody.nothing-v9")
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.meta().message(),
        Some("The provided model identifier is invalid.")
    );
    let err = client
        .converse()
        .model_id(format!("eu.{TITAN}"))
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.meta().message(),
        Some("The provided model identifier is invalid.")
    );
}

#[tokio::test]
async fn malformed_wire_behaviours_fail_in_the_sdk() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let collect =
        |mut out: aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput| async move {
            let mut deltas = 0;
            loop {
                match out.stream.recv().await {
                    Ok(Some(ConverseStreamOutput::ContentBlockDelta(_))) => deltas += 1,
                    Ok(Some(_)) => {}
                    Ok(None) => return (deltas, None),
                    Err(e) => return (deltas, Some(format!("{e:?}"))),
                }
            }
        };
    let stream = || {
        client
            .converse_stream()
            .model_id(TITAN)
            .messages(user("hi"))
            .send()
    };

    fake.set_behavior(TITAN, Behavior::BadCrcFrame { after_tokens: 2 });
    let (deltas, err) = collect(stream().await.unwrap()).await;
    assert_eq!(deltas, 2);
    let err = err.unwrap();
    assert!(err.contains("ChecksumMismatch"), "{err}");

    fake.set_behavior(TITAN, Behavior::ResetMidResponse { after_tokens: 4 });
    let (deltas, err) = collect(stream().await.unwrap()).await;
    assert_eq!(deltas, 4);
    assert!(err.is_some());

    fake.set_behavior(TITAN, Behavior::TruncatedJson);
    let (deltas, err) = collect(stream().await.unwrap()).await;
    assert_eq!(deltas, 0);
    assert!(err.is_some());

    fake.set_behavior(TITAN, Behavior::UnexpectedBody);
    let mut out = stream().await.unwrap();
    assert!(matches!(out.stream.recv().await, Ok(Some(ev)) if ev.is_unknown()));
    assert!(matches!(out.stream.recv().await, Ok(None)));

    // Unary.
    fake.set_behavior(TITAN, Behavior::TruncatedJson);
    assert!(client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .is_err());
    fake.set_behavior(TITAN, Behavior::ResetMidResponse { after_tokens: 0 });
    assert!(client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .is_err());
    fake.set_behavior(TITAN, Behavior::UnexpectedBody);
    let out = client
        .invoke_model()
        .model_id(TITAN)
        .body(Blob::new(br#"{"inputText":"x"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.body().as_ref(), br#"{"unexpected":true}"#);

    fake.set_behavior(TITAN, Behavior::Latency(Duration::from_millis(300)));
    let t = std::time::Instant::now();
    client
        .converse()
        .model_id(TITAN)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));

    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await);
}

// ---------------------------------------------------------------------------------------
// Converse beyond text: images, documents, tools, structured output
// ---------------------------------------------------------------------------------------

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1}
        },
        "required": ["city", "unit"]
    })
}

/// JSON into the SDK's Document.
fn doc(v: &Value) -> aws_smithy_types::Document {
    use aws_smithy_types::{Document as D, Number};
    match v {
        Value::Null => D::Null,
        Value::Bool(b) => D::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => D::Number(Number::PosInt(u)),
            (_, Some(i)) => D::Number(Number::NegInt(i)),
            _ => D::Number(Number::Float(n.as_f64().unwrap())),
        },
        Value::String(s) => D::String(s.clone()),
        Value::Array(a) => D::Array(a.iter().map(doc).collect()),
        Value::Object(o) => D::Object(o.iter().map(|(k, v)| (k.clone(), doc(v))).collect()),
    }
}

/// The SDK's Document as JSON.
fn json_of(d: &aws_smithy_types::Document) -> Value {
    use aws_smithy_types::{Document as D, Number};
    match d {
        D::Null => Value::Null,
        D::Bool(b) => json!(b),
        D::Number(Number::PosInt(u)) => json!(u),
        D::Number(Number::NegInt(i)) => json!(i),
        D::Number(Number::Float(f)) => json!(f),
        D::String(s) => json!(s),
        D::Array(a) => Value::Array(a.iter().map(json_of).collect()),
        D::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), json_of(v))).collect()),
    }
}

fn weather_tools(choice: Option<sdk::ToolChoice>) -> sdk::ToolConfiguration {
    let spec = sdk::ToolSpecification::builder()
        .name("get_weather")
        .description("Current weather for a city")
        .input_schema(sdk::ToolInputSchema::Json(doc(&weather_schema())))
        .build()
        .unwrap();
    sdk::ToolConfiguration::builder()
        .tools(sdk::Tool::ToolSpec(spec))
        .set_tool_choice(choice)
        .build()
        .unwrap()
}

fn any_tool() -> Option<sdk::ToolChoice> {
    Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
}

fn png_block() -> ContentBlock {
    ContentBlock::Image(
        sdk::ImageBlock::builder()
            .format(sdk::ImageFormat::Png)
            .source(sdk::ImageSource::Bytes(Blob::new(
                fake_bedrock::sample_image("png"),
            )))
            .build()
            .unwrap(),
    )
}

fn user_blocks(blocks: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .set_content(Some(blocks))
        .build()
        .unwrap()
}

fn assistant_blocks(blocks: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(ConversationRole::Assistant)
        .set_content(Some(blocks))
        .build()
        .unwrap()
}

fn tool_result(id: &str, parts: Vec<sdk::ToolResultContentBlock>) -> ContentBlock {
    ContentBlock::ToolResult(
        sdk::ToolResultBlock::builder()
            .tool_use_id(id)
            .set_content(Some(parts))
            .status(sdk::ToolResultStatus::Success)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn sdk_converse_image_and_tool_round_trip() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let first_turn = user_blocks(vec![
        ContentBlock::Text("What is the weather where this photo was taken?".into()),
        png_block(),
    ]);

    // A forced tool call: only the tool use, stop reason tool_use.
    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(first_turn.clone())
        .tool_config(weather_tools(any_tool()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let content = out
        .output()
        .unwrap()
        .as_message()
        .unwrap()
        .content()
        .to_vec();
    assert_eq!(content.len(), 1, "{content:?}");
    let call = content[0].as_tool_use().unwrap().clone();
    assert_eq!(call.name(), "get_weather");
    assert!(
        fake_bedrock::is_tool_use_id(call.tool_use_id()),
        "{}",
        call.tool_use_id()
    );
    assert_eq!(
        json_of(call.input()),
        json!({"city": "sky", "unit": "celsius"})
    );
    assert_eq!(
        json_of(call.input()),
        fake_bedrock::example_tool_input(&weather_schema())
    );
    let usage = out.usage().unwrap();
    // 9 words of text, and the tool's name and description (1 + 5 words).
    assert_eq!(usage.input_tokens(), 9 + 6);
    assert!(usage.output_tokens() >= 2);

    // What arrived: the image's bytes and the toolConfig, exactly as the SDK sent them.
    let r = fake.last_converse().unwrap();
    let images = r.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].bytes, fake_bedrock::sample_image("png"));
    assert_eq!(images[0].format, "png");
    assert_eq!(images[0].path, "messages.0.content.1.image");
    assert_eq!(
        r.tool_config().unwrap(),
        &json!({
            "tools": [{"toolSpec": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "inputSchema": {"json": weather_schema()},
            }}],
            "toolChoice": {"any": {}},
        })
    );

    // The tool's result goes back; the model quotes it.
    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(first_turn)
        .messages(assistant_blocks(content))
        .messages(user_blocks(vec![tool_result(
            call.tool_use_id(),
            vec![
                sdk::ToolResultContentBlock::Json(doc(&json!({"temp_c": 21, "sky": "clear"}))),
                sdk::ToolResultContentBlock::Text("Measured at noon".into()),
            ],
        )]))
        .tool_config(weather_tools(any_tool()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(
        text,
        r#"The get_weather tool returned {"sky":"clear","temp_c":21} Measured at noon."#
    );
    assert_eq!(
        text,
        fake_bedrock::tool_result_sentence(
            "get_weather",
            r#"{"sky":"clear","temp_c":21} Measured at noon"#,
            false
        )
    );
    let body = fake.last_converse_body().unwrap();
    assert_eq!(
        body["messages"][1]["content"][0]["toolUse"]["toolUseId"],
        call.tool_use_id()
    );
    assert_eq!(
        body["messages"][2]["content"][0]["toolResult"]["status"],
        "success"
    );
}

#[tokio::test]
async fn sdk_converse_stream_tool_call_events() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let question = || {
        user_blocks(vec![
            png_block(),
            ContentBlock::Text("Call GET_WEATHER please".into()),
        ])
    };

    // toolChoice auto with the tool named in the text: an announcement, then the call.
    let unary = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(question())
        .tool_config(weather_tools(None))
        .send()
        .await
        .unwrap();
    assert_eq!(unary.stop_reason(), &StopReason::ToolUse);
    let content = unary
        .output()
        .unwrap()
        .as_message()
        .unwrap()
        .content()
        .to_vec();
    assert_eq!(
        content[0].as_text().unwrap(),
        &fake_bedrock::tool_call_announcement("get_weather")
    );
    assert_eq!(content[1].as_tool_use().unwrap().name(), "get_weather");

    let mut out = client
        .converse_stream()
        .model_id(CLAUDE_3_HAIKU)
        .messages(question())
        .tool_config(weather_tools(None))
        .send()
        .await
        .unwrap();
    let mut kinds = Vec::new();
    let (mut text, mut input, mut start, mut stop, mut usage) =
        (String::new(), String::new(), None, None, None);
    let mut input_deltas = 0;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::MessageStart(_) => kinds.push("messageStart".to_string()),
            ConverseStreamOutput::ContentBlockStart(s) => {
                kinds.push(format!("start{}", s.content_block_index()));
                match s.start().unwrap() {
                    sdk::ContentBlockStart::ToolUse(t) => start = Some(t.clone()),
                    other => panic!("unexpected start {other:?}"),
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                let index = d.content_block_index();
                match d.delta().unwrap() {
                    ContentBlockDelta::Text(t) => {
                        assert_eq!(index, 0);
                        text.push_str(t);
                    }
                    ContentBlockDelta::ToolUse(t) => {
                        assert_eq!(index, 1);
                        input.push_str(t.input());
                        input_deltas += 1;
                    }
                    other => panic!("unexpected delta {other:?}"),
                }
                if kinds.last() != Some(&format!("delta{index}")) {
                    kinds.push(format!("delta{index}"));
                }
            }
            ConverseStreamOutput::ContentBlockStop(s) => {
                kinds.push(format!("stop{}", s.content_block_index()))
            }
            ConverseStreamOutput::MessageStop(m) => {
                kinds.push("messageStop".into());
                stop = Some(m.stop_reason().clone());
            }
            ConverseStreamOutput::Metadata(m) => {
                kinds.push("metadata".into());
                usage = m.usage().cloned();
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(
        kinds,
        [
            "messageStart",
            "delta0",
            "stop0",
            "start1",
            "delta1",
            "stop1",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(text, "I will call get_weather.");
    let start = start.unwrap();
    assert_eq!(start.name(), "get_weather");
    assert!(fake_bedrock::is_tool_use_id(start.tool_use_id()));
    assert!(input_deltas >= 2, "{input_deltas} input deltas");
    let input: Value = serde_json::from_str(&input).unwrap();
    assert_eq!(input, json!({"city": "sky", "unit": "celsius"}));
    assert_eq!(stop, Some(StopReason::ToolUse));
    assert_eq!(
        usage.unwrap().output_tokens(),
        unary.usage().unwrap().output_tokens()
    );

    // The result, streamed back: text at index 0, end_turn.
    let mut out = client
        .converse_stream()
        .model_id(CLAUDE_3_HAIKU)
        .messages(question())
        .messages(assistant_blocks(vec![ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id(start.tool_use_id())
                .name("get_weather")
                .input(doc(&input))
                .build()
                .unwrap(),
        )]))
        .messages(user_blocks(vec![tool_result(
            start.tool_use_id(),
            vec![sdk::ToolResultContentBlock::Text("21 degrees".into())],
        )]))
        .tool_config(weather_tools(None))
        .send()
        .await
        .unwrap();
    let (mut text, mut stop) = (String::new(), None);
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                assert_eq!(d.content_block_index(), 0);
                text.push_str(d.delta().unwrap().as_text().unwrap());
            }
            ConverseStreamOutput::ContentBlockStart(s) => panic!("unexpected {s:?}"),
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            _ => {}
        }
    }
    assert_eq!(text, "The get_weather tool returned 21 degrees.");
    assert_eq!(stop, Some(StopReason::EndTurn));
    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn sdk_forced_tool_streams_only_the_call() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let empty_schema = json!({"type": "object", "properties": {}});
    let spec = |name: &str, schema: &Value| {
        sdk::Tool::ToolSpec(
            sdk::ToolSpecification::builder()
                .name(name)
                .input_schema(sdk::ToolInputSchema::Json(doc(schema)))
                .build()
                .unwrap(),
        )
    };
    let tools = sdk::ToolConfiguration::builder()
        .tools(spec("get_weather", &weather_schema()))
        .tools(spec("get_time", &empty_schema))
        .tool_choice(sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder()
                .name("get_time")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let mut out = client
        .converse_stream()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("what is the weather, get_weather"))
        .tool_config(tools)
        .send()
        .await
        .unwrap();
    let (mut starts, mut fragments, mut text_deltas) = (Vec::new(), Vec::new(), 0);
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::ContentBlockStart(s) => {
                assert_eq!(s.content_block_index(), 0);
                starts.push(s.start().unwrap().as_tool_use().unwrap().name().to_string());
            }
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta().unwrap() {
                ContentBlockDelta::ToolUse(t) => fragments.push(t.input().to_string()),
                _ => text_deltas += 1,
            },
            _ => {}
        }
    }
    // The forced tool wins over the one named in the text, and an empty input still
    // arrives in two fragments.
    assert_eq!(starts, ["get_time"]);
    assert_eq!(text_deltas, 0);
    assert_eq!(fragments, ["{", "}"]);

    // With tools but none forced or named, the answer is the usual text.
    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("hello there"))
        .tool_config(weather_tools(None))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let content = out.output().unwrap().as_message().unwrap().content();
    assert_eq!(content[0].as_text().unwrap(), &fake_bedrock::natural_text());
}

#[tokio::test]
async fn sdk_structured_output_answers_json_for_the_schema() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "when": {"type": "string", "format": "date"},
            "temperatures": {"type": "array", "items": {"type": "number"}, "minItems": 2},
            "sunny": {"type": "boolean"},
            "wind": {"type": "object", "properties": {"speed": {"type": "integer", "minimum": 3}}}
        },
        "required": ["city"],
        "additionalProperties": false
    });
    let output_config = sdk::OutputConfig::builder()
        .text_format(
            sdk::OutputFormat::builder()
                .r#type(sdk::OutputFormatType::JsonSchema)
                .structure(sdk::OutputFormatStructure::JsonSchema(
                    sdk::JsonSchemaDefinition::builder()
                        .schema(schema.to_string())
                        .name("forecast")
                        .description("A forecast")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
        .build();
    let expected = json!({
        "city": "sky",
        "when": "2026-01-01",
        "temperatures": [1.5, 1.5],
        "sunny": true,
        "wind": {"speed": 3}
    });
    assert_eq!(fake_bedrock::example_structured_output(&schema), expected);

    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Forecast for Paris"))
        .output_config(output_config.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);

    let r = fake.last_converse().unwrap();
    assert_eq!(r.output_json_schema(), Some(schema.clone()));
    assert_eq!(
        r.output_config().unwrap(),
        &json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": schema.to_string(), "name": "forecast", "description": "A forecast"
        }}}})
    );

    let mut out = client
        .converse_stream()
        .model_id(CLAUDE_37_US)
        .messages(user("Forecast for Paris"))
        .output_config(output_config)
        .send()
        .await
        .unwrap();
    let mut streamed = String::new();
    let mut deltas = 0;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(d) = ev {
            assert_eq!(d.content_block_index(), 0);
            streamed.push_str(d.delta().unwrap().as_text().unwrap());
            deltas += 1;
        }
    }
    assert!(deltas >= 2, "{deltas}");
    assert_eq!(streamed, text);
}

#[tokio::test]
async fn sdk_documents_and_tool_result_attachments_are_recorded() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let document = |name: &str, format: sdk::DocumentFormat, bytes: &[u8]| {
        sdk::DocumentBlock::builder()
            .name(name)
            .format(format)
            .source(sdk::DocumentSource::Bytes(Blob::new(bytes.to_vec())))
            .build()
            .unwrap()
    };
    let gif = fake_bedrock::sample_image("gif");
    let messages = vec![
        user_blocks(vec![
            ContentBlock::Document(document(
                "Notes (v2)",
                sdk::DocumentFormat::Txt,
                b"hello notes",
            )),
            ContentBlock::Text("Summarise, then call get_weather".into()),
        ]),
        assistant_blocks(vec![ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id("tooluse_abc")
                .name("get_weather")
                .input(doc(&json!({"city": "Oslo", "unit": "celsius"})))
                .build()
                .unwrap(),
        )]),
        user_blocks(vec![tool_result(
            "tooluse_abc",
            vec![
                sdk::ToolResultContentBlock::Image(
                    sdk::ImageBlock::builder()
                        .format(sdk::ImageFormat::Gif)
                        .source(sdk::ImageSource::Bytes(Blob::new(gif.clone())))
                        .build()
                        .unwrap(),
                ),
                sdk::ToolResultContentBlock::Document(document(
                    "report_1",
                    sdk::DocumentFormat::Csv,
                    b"a,b\n1,2\n",
                )),
            ],
        )]),
    ];
    let out = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .set_messages(Some(messages))
        .tool_config(weather_tools(None))
        .send()
        .await
        .unwrap();
    // A result of only an image and a document has nothing to quote.
    assert_eq!(
        out.output().unwrap().as_message().unwrap().content()[0]
            .as_text()
            .unwrap(),
        "The get_weather tool returned ."
    );
    let r = fake.last_converse().unwrap();
    let documents = r.documents();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0].name.as_deref(), Some("Notes (v2)"));
    assert_eq!(documents[0].format, "txt");
    assert_eq!(documents[0].bytes, b"hello notes");
    assert_eq!(
        documents[1].path,
        "messages.2.content.0.toolResult.content.1.document"
    );
    assert_eq!(documents[1].bytes, b"a,b\n1,2\n");
    let images = r.images();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].path,
        "messages.2.content.0.toolResult.content.0.image"
    );
    assert_eq!(images[0].bytes, gif);
    assert_eq!(r.attachments().len(), 3);
}

#[tokio::test]
async fn sdk_sees_bedrock_validation_errors() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let err = client
        .converse()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user("weather?"))
        .messages(assistant_blocks(vec![ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id("tooluse_abc")
                .name("get_weather")
                .input(doc(&json!({})))
                .build()
                .unwrap(),
        )]))
        .messages(user_blocks(vec![tool_result(
            "tooluse_abc",
            vec![sdk::ToolResultContentBlock::Text("21".into())],
        )]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some(fake_bedrock::TOOL_CONFIG_REQUIRED_MESSAGE)
    );

    let err = client
        .converse_stream()
        .model_id(CLAUDE_3_HAIKU)
        .messages(user_blocks(vec![ContentBlock::Image(
            sdk::ImageBlock::builder()
                .format(sdk::ImageFormat::Jpeg)
                .source(sdk::ImageSource::Bytes(Blob::new(
                    fake_bedrock::sample_image("png"),
                )))
                .build()
                .unwrap(),
        )]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(
        err.meta().message(),
        Some(
            fake_bedrock::claude_image_mismatch_message(
                "messages.0.content.0.image",
                "jpeg",
                "png"
            )
            .as_str()
        )
    );
}

/// POSTs a JSON body without signing; the status, the x-amzn-errortype header and the JSON
/// body of the answer.
async fn post_json(fake: &FakeBedrock, path: &str, body: &Value) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut s = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let error_type = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("x-amzn-errortype: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (
        status,
        error_type,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn image_json(format: &str, bytes: &[u8]) -> Value {
    json!({"image": {"format": format, "source": {"bytes": b64(bytes)}}})
}

fn document_json(name: &str, format: &str) -> Value {
    json!({"document": {"name": name, "format": format, "source": {"bytes": b64(b"text")}}})
}

fn tool_config_json(names: &[&str]) -> Value {
    let tools: Vec<Value> = names
        .iter()
        .map(|n| json!({"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}}))
        .collect();
    json!({"tools": tools})
}

fn call_turns(call_id: &str, result_id: &str) -> Value {
    json!([
        {"role": "user", "content": [{"text": "weather?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": call_id, "name": "get_weather", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": result_id, "content": [{"text": "21"}]}}]},
    ])
}

#[tokio::test]
async fn converse_refuses_what_bedrock_refuses() {
    let fake = FakeBedrock::start().await;
    let png = fake_bedrock::sample_image("png");
    let long_name = format!("{}.x", "a".repeat(64));
    let user_with = |blocks: Vec<Value>| json!([{"role": "user", "content": blocks}]);
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "tool blocks without toolConfig",
            json!({"messages": call_turns("tooluse_a", "tooluse_a")}),
            fake_bedrock::TOOL_CONFIG_REQUIRED_MESSAGE.into(),
        ),
        (
            "a result for a call that was never made",
            json!({"messages": call_turns("tooluse_a", "tooluse_b"), "toolConfig": tool_config_json(&["get_weather"])}),
            fake_bedrock::missing_tool_results_message(2, &["tooluse_a"]),
        ),
        (
            "a result in the first turn",
            json!({
                "messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "x"}]}}]}],
                "toolConfig": tool_config_json(&["get_weather"]),
            }),
            fake_bedrock::tool_results_exceed_message(0),
        ),
        (
            "text instead of the result",
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "weather?"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather", "input": {}}}]},
                    {"role": "user", "content": [{"text": "never mind"}]},
                ],
                "toolConfig": tool_config_json(&["get_weather"]),
            }),
            fake_bedrock::missing_tool_results_message(2, &["tooluse_a"]),
        ),
        (
            "a failed result that does not say why",
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "weather?"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather", "input": {}}}]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_a", "content": [], "status": "error"}}]},
                ],
                "toolConfig": tool_config_json(&["get_weather"]),
            }),
            fake_bedrock::empty_error_result_message("messages.2.content.0.toolResult"),
        ),
        (
            "a tool use in a user turn",
            json!({
                "messages": user_with(vec![json!({"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather", "input": {}}})]),
                "toolConfig": tool_config_json(&["get_weather"]),
            }),
            fake_bedrock::USER_TOOL_USE_MESSAGE.into(),
        ),
        (
            "PNG bytes declared as JPEG",
            json!({"messages": user_with(vec![json!({"text": "look"}), image_json("jpeg", &png)])}),
            fake_bedrock::claude_image_mismatch_message("messages.0.content.1.image", "jpeg", "png"),
        ),
        (
            "bytes of no image format",
            json!({"messages": user_with(vec![image_json("png", b"not an image")])}),
            fake_bedrock::unreadable_image_message("messages.0.content.0.image"),
        ),
        (
            "an image format Converse does not know",
            json!({"messages": user_with(vec![image_json("jpg", &png)])}),
            "1 validation error detected: Value 'jpg' at 'messages.1.member.content.1.member.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]".into(),
        ),
        (
            "21 images",
            json!({"messages": user_with(vec![image_json("png", &png); 21])}),
            fake_bedrock::TOO_MANY_IMAGES_MESSAGE.into(),
        ),
        (
            "an image over 3.75 MiB",
            json!({"messages": user_with(vec![image_json("png", &[png.clone(), vec![0; fake_bedrock::MAX_IMAGE_BYTES]].concat())])}),
            fake_bedrock::image_too_large_message(
                "messages.0.content.0.image",
                (png.len() + fake_bedrock::MAX_IMAGE_BYTES).div_ceil(3) * 4,
            ),
        ),
        (
            "6 documents",
            json!({"messages": user_with((1..=6).map(|i| document_json(&format!("doc {i}"), "txt")).collect())}),
            fake_bedrock::TOO_MANY_DOCUMENTS_MESSAGE.into(),
        ),
        (
            "a document name with a dot",
            json!({"messages": user_with(vec![document_json("report.pdf", "pdf")])}),
            fake_bedrock::DOCUMENT_NAME_MESSAGE.into(),
        ),
        (
            "a document name with two spaces",
            json!({"messages": user_with(vec![document_json("my  report", "pdf")])}),
            fake_bedrock::DOCUMENT_NAME_MESSAGE.into(),
        ),
        (
            "two documents of one name",
            json!({"messages": user_with(vec![document_json("report", "pdf"), document_json("report", "txt")])}),
            fake_bedrock::DUPLICATE_DOCUMENT_NAMES_MESSAGE.into(),
        ),
        (
            "a tool name with a space",
            json!({"messages": user_with(vec![json!({"text": "hi"})]), "toolConfig": tool_config_json(&["ok", "get weather"])}),
            "1 validation error detected: Value 'get weather' at 'toolConfig.tools.2.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+".into(),
        ),
        (
            "a long tool name with a dot",
            json!({"messages": user_with(vec![json!({"text": "hi"})]), "toolConfig": tool_config_json(&[&long_name])}),
            format!(
                "2 validation errors detected: Value '{long_name}' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must have length less than or equal to 64; Value '{long_name}' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
            ),
        ),
        (
            "two tools of one name",
            json!({"messages": user_with(vec![json!({"text": "hi"})]), "toolConfig": tool_config_json(&["a", "a"])}),
            fake_bedrock::DUPLICATE_TOOL_NAMES_MESSAGE.into(),
        ),
        (
            "a forced tool that is not declared",
            json!({
                "messages": user_with(vec![json!({"text": "hi"})]),
                "toolConfig": {"tools": tool_config_json(&["a"])["tools"], "toolChoice": {"tool": {"name": "b"}}},
            }),
            fake_bedrock::unknown_tool_choice_message("b"),
        ),
        (
            "an output schema that is not JSON",
            json!({
                "messages": user_with(vec![json!({"text": "hi"})]),
                "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{not json"}}}},
            }),
            fake_bedrock::invalid_output_schema_message("not valid JSON (key must be a string at line 1 column 2)"),
        ),
    ];
    for (what, body, message) in cases {
        let (status, error_type, answer) =
            post_json(&fake, &format!("/model/{CLAUDE_3_HAIKU}/converse"), &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            error_type.starts_with("validationexception:"),
            "{what}: {error_type}"
        );
        assert_eq!(answer["message"], message, "{what}");
    }

    // Models other than Claude word an image mismatch their own way.
    let body = json!({"messages": user_with(vec![image_json("gif", &png)])});
    let (_, _, answer) = post_json(&fake, &format!("/model/{LLAMA}/converse"), &body).await;
    assert_eq!(answer["message"], fake_bedrock::IMAGE_MISMATCH_MESSAGE);

    // What Bedrock takes: underscores in document names, every image format, a text
    // block after tool results.
    let ok = json!({
        "messages": [
            {"role": "user", "content": [
                document_json("report_2024 (final) [v2]", "pdf"),
                image_json("png", &png),
                image_json("jpeg", &fake_bedrock::sample_image("jpeg")),
                image_json("gif", &fake_bedrock::sample_image("gif")),
                image_json("webp", &fake_bedrock::sample_image("webp")),
                {"text": "call get_weather"},
            ]},
            {"role": "assistant", "content": [
                {"text": "I will call get_weather."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {}}},
                {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {}}},
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_2", "content": [{"json": {"t": 1}}], "status": "error"}},
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}},
                {"text": "thanks"},
            ]},
        ],
        "toolConfig": tool_config_json(&["get_weather"]),
    });
    let (status, _, answer) =
        post_json(&fake, &format!("/model/{CLAUDE_3_HAIKU}/converse"), &ok).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["output"]["message"]["content"][0]["text"],
        r#"The get_weather tool failed: {"t":1}. The get_weather tool returned sunny."#
    );
    assert_eq!(answer["stopReason"], "end_turn");
}

// ---------------------------------------------------------------------------------------
// Reasoning, prompt caching, guardrails, service tiers, latency, metadata, CountTokens
// ---------------------------------------------------------------------------------------

const NOVA_PRO: &str = "amazon.nova-pro-v1:0";

fn cache_point(ttl: Option<sdk::CacheTtl>) -> sdk::CachePointBlock {
    sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::Default)
        .set_ttl(ttl)
        .build()
        .unwrap()
}

/// A system prompt of 8 words followed by a cache point.
fn cached_system() -> Vec<SystemContentBlock> {
    vec![
        SystemContentBlock::Text("You are a careful assistant who answers briefly".into()),
        SystemContentBlock::CachePoint(cache_point(None)),
    ]
}

fn thinking(budget: u64) -> aws_smithy_types::Document {
    doc(&json!({"thinking": {"type": "enabled", "budget_tokens": budget}}))
}

fn usage_of(u: &sdk::TokenUsage) -> (i32, i32, i32, i32, i32) {
    (
        u.input_tokens(),
        u.cache_read_input_tokens().unwrap_or(-1),
        u.cache_write_input_tokens().unwrap_or(-1),
        u.output_tokens(),
        u.total_tokens(),
    )
}

/// Sends a ConverseStream request and returns its events.
async fn stream_events(
    req: aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder,
) -> Vec<ConverseStreamOutput> {
    let mut out = req.send().await.unwrap();
    let mut events = Vec::new();
    while let Some(ev) = out.stream.recv().await.unwrap() {
        events.push(ev);
    }
    events
}

fn metadata_of(events: &[ConverseStreamOutput]) -> sdk::ConverseStreamMetadataEvent {
    events
        .iter()
        .find_map(|e| e.as_metadata().ok().cloned())
        .expect("a metadata event")
}

#[tokio::test]
async fn prompt_cache_writes_then_reads_with_disjoint_counts() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let converse = || {
        client
            .converse()
            .model_id(CLAUDE_37_US)
            .set_system(Some(cached_system()))
            .messages(user("Hello there"))
    };

    // First call: the 8 system words are written, the 2 message words are plain input.
    let first = converse().send().await.unwrap();
    let out = first.usage().unwrap().output_tokens();
    assert_eq!(usage_of(first.usage().unwrap()), (2, 0, 8, out, 10 + out));
    assert_eq!(fake.prompt_cache_entries(), 1);

    // Second identical call: the prefix is read, nothing written.
    let second = converse().send().await.unwrap();
    assert_eq!(usage_of(second.usage().unwrap()), (2, 8, 0, out, 10 + out));

    // The stream reads it too, and reports it in its metadata event.
    let events = stream_events(
        client
            .converse_stream()
            .model_id(CLAUDE_37_US)
            .set_system(Some(cached_system()))
            .messages(user("Hello there")),
    )
    .await;
    let usage = metadata_of(&events).usage().unwrap().clone();
    assert_eq!(usage_of(&usage), (2, 8, 0, out, 10 + out));

    // A longer conversation behind a second cache point: reads 8, writes the 4 words up to
    // the new point; the 2 words after it are plain input.
    let longer = client
        .converse()
        .model_id(CLAUDE_37_US)
        .set_system(Some(cached_system()))
        .messages(user_blocks(vec![
            ContentBlock::Text("Hello there my friend".into()),
            ContentBlock::CachePoint(cache_point(None)),
            ContentBlock::Text("and goodbye".into()),
        ]))
        .send()
        .await
        .unwrap();
    let u = longer.usage().unwrap();
    assert_eq!(
        usage_of(u),
        (2, 8, 4, u.output_tokens(), 14 + u.output_tokens())
    );

    // Expired: written again.
    fake.expire_prompt_cache();
    assert_eq!(fake.prompt_cache_entries(), 0);
    let again = converse().send().await.unwrap();
    assert_eq!(usage_of(again.usage().unwrap()), (2, 0, 8, out, 10 + out));

    // Without cache points there are no cache fields at all.
    let plain = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Hello there"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.usage().unwrap().cache_read_input_tokens(), None);
    assert_eq!(
        fake.last_converse().unwrap().cache_points(),
        vec![],
        "nothing recorded"
    );

    // What arrived: the cache point, with its TTL as sent.
    let recorded = fake.converse_requests()[3].cache_points();
    assert_eq!(
        recorded,
        vec![
            fake_bedrock::RecordedCachePoint {
                path: "system.1".into(),
                ttl: None
            },
            fake_bedrock::RecordedCachePoint {
                path: "messages.0.content.1".into(),
                ttl: None
            },
        ]
    );

    // The 1-hour TTL on a model that takes it (Claude Sonnet 4.5).
    let one_hour = client
        .converse()
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .system(SystemContentBlock::Text("Be brief".into()))
        .system(SystemContentBlock::CachePoint(cache_point(Some(
            sdk::CacheTtl::OneHour,
        ))))
        .messages(user("Hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        one_hour.usage().unwrap().cache_write_input_tokens(),
        Some(2)
    );
    assert_eq!(
        fake.last_converse().unwrap().cache_points()[0]
            .ttl
            .as_deref(),
        Some("1h")
    );
}

#[tokio::test]
async fn cache_point_rules_are_bedrocks() {
    let fake = FakeBedrock::start().await;
    let cp = |ttl: Option<&str>| match ttl {
        Some(t) => json!({"cachePoint": {"type": "default", "ttl": t}}),
        None => json!({"cachePoint": {"type": "default"}}),
    };
    let text = |t: &str| json!({"text": t});
    let five_points = json!({
        "system": [text("a"), cp(None), text("b"), cp(None)],
        "messages": [{"role": "user", "content": [text("c"), cp(None), text("d"), cp(None), text("e"), cp(None)]}],
    });
    let ttl_order = json!({
        "toolConfig": {"tools": [
            {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}},
            cp(Some("5m")),
        ]},
        "system": [text("a"), cp(Some("1h"))],
        "messages": [{"role": "user", "content": [text("hi")]}],
    });
    let sonnet_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let one_point = json!({"system": [text("a"), cp(None)], "messages": [{"role": "user", "content": [text("hi")]}]});
    let one_hour = json!({"system": [text("a"), cp(Some("1h"))], "messages": [{"role": "user", "content": [text("hi")]}]});
    let bad_ttl = json!({"system": [text("a"), cp(Some("2h"))], "messages": [{"role": "user", "content": [text("hi")]}]});
    let cases: Vec<(&str, &str, Value, String)> = vec![
        (
            "five cache points",
            sonnet_45,
            five_points,
            fake_bedrock::too_many_cache_points_message(5),
        ),
        (
            "1h after 5m",
            sonnet_45,
            ttl_order,
            fake_bedrock::cache_ttl_order_message("system.0"),
        ),
        (
            "a model without caching",
            TITAN,
            json!({"messages": [{"role": "user", "content": [text("hi"), cp(None)]}]}),
            fake_bedrock::CACHE_UNSUPPORTED_MESSAGE.into(),
        ),
        (
            "a model without caching (Claude 3 Haiku)",
            CLAUDE_3_HAIKU,
            one_point,
            fake_bedrock::CACHE_UNSUPPORTED_MESSAGE.into(),
        ),
        (
            "1h where only 5m is offered",
            CLAUDE_37_US,
            one_hour,
            fake_bedrock::CACHE_UNSUPPORTED_MESSAGE.into(),
        ),
        (
            "a TTL outside the enum",
            CLAUDE_37_US,
            bad_ttl,
            "1 validation error detected: Value '2h' at 'system.2.member.cachePoint.ttl' failed to satisfy constraint: Member must satisfy enum value set: [5m, 1h]".into(),
        ),
    ];
    for (what, model, body, message) in cases {
        let (status, error_type, answer) =
            post_json(&fake, &format!("/model/{model}/converse"), &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(error_type.starts_with("validationexception"), "{what}");
        assert_eq!(answer["message"], message, "{what}");
    }
    assert_eq!(fake.prompt_cache_entries(), 0, "refusals cache nothing");
}

#[tokio::test]
async fn reasoning_streams_a_signature_only_delta_and_replays() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let cfg = InferenceConfiguration::builder().max_tokens(4096).build();

    // Stream: reasoning text in pieces at index 0, then one delta with only the signature,
    // then the text at index 1.
    let events = stream_events(
        client
            .converse_stream()
            .model_id(CLAUDE_37_US)
            .messages(user("Why is the sky blue?"))
            .inference_config(cfg.clone())
            .additional_model_request_fields(thinking(2048)),
    )
    .await;
    let mut reasoning = String::new();
    let mut signature_deltas = Vec::new();
    let mut text = String::new();
    let mut stops = Vec::new();
    for ev in &events {
        match ev {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta().unwrap() {
                ContentBlockDelta::ReasoningContent(r) => {
                    assert_eq!(d.content_block_index(), 0);
                    match r {
                        sdk::ReasoningContentBlockDelta::Text(t) => {
                            assert!(signature_deltas.is_empty(), "text after the signature");
                            reasoning.push_str(t)
                        }
                        sdk::ReasoningContentBlockDelta::Signature(s) => {
                            signature_deltas.push(s.clone())
                        }
                        other => panic!("{other:?}"),
                    }
                }
                ContentBlockDelta::Text(t) => {
                    assert_eq!(d.content_block_index(), 1);
                    text.push_str(t)
                }
                other => panic!("{other:?}"),
            },
            ConverseStreamOutput::ContentBlockStop(s) => stops.push(s.content_block_index()),
            _ => {}
        }
    }
    assert_eq!(reasoning, fake_bedrock::REASONING_TEXT);
    assert_eq!(signature_deltas.len(), 1);
    assert!(fake_bedrock::verify_signature(
        &reasoning,
        &signature_deltas[0]
    ));
    assert_eq!(text, fake_bedrock::natural_text());
    assert_eq!(stops, vec![0, 1]);
    // Reasoning tokens are output tokens.
    let usage = metadata_of(&events).usage().unwrap().clone();
    let reasoning_pieces = events
        .iter()
        .filter(|e| {
            matches!(e, ConverseStreamOutput::ContentBlockDelta(d)
                if matches!(d.delta(), Some(ContentBlockDelta::ReasoningContent(sdk::ReasoningContentBlockDelta::Text(_)))))
        })
        .count() as i32;
    assert_eq!(
        usage.output_tokens(),
        reasoning_pieces + fake_bedrock::NATURAL_TOKENS as i32
    );
    assert_eq!(fake.last_converse().unwrap().reasoning_budget(), Some(2048));

    // Unary: the same reasoning block first.
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Why is the sky blue?"))
        .inference_config(cfg.clone())
        .additional_model_request_fields(thinking(2048))
        .send()
        .await
        .unwrap();
    let content = out
        .output()
        .unwrap()
        .as_message()
        .unwrap()
        .content()
        .to_vec();
    let block = content[0].as_reasoning_content().unwrap().clone();
    let rt = block.as_reasoning_text().unwrap();
    assert_eq!(rt.text(), fake_bedrock::REASONING_TEXT);
    assert_eq!(rt.signature(), Some(signature_deltas[0].as_str()));
    assert_eq!(content[1].as_text().unwrap(), &fake_bedrock::natural_text());

    // Replayed in the next turn, it reaches the fake unchanged and is accepted.
    let assistant = Message::builder()
        .role(ConversationRole::Assistant)
        .set_content(Some(content.clone()))
        .build()
        .unwrap();
    client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Why is the sky blue?"))
        .messages(assistant)
        .messages(user("And at night?"))
        .inference_config(cfg.clone())
        .additional_model_request_fields(thinking(2048))
        .send()
        .await
        .unwrap();
    let replayed = fake.last_converse().unwrap().reasoning_blocks();
    assert_eq!(
        replayed,
        vec![(
            "messages.1.content.0".to_string(),
            json!({"reasoningText": {"text": fake_bedrock::REASONING_TEXT, "signature": signature_deltas[0]}})
        )]
    );

    // Redacted reasoning: one redactedContent block (one delta in streams), replayable.
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Think secretly [[redacted]]"))
        .inference_config(cfg.clone())
        .additional_model_request_fields(thinking(2048))
        .send()
        .await
        .unwrap();
    let content = out
        .output()
        .unwrap()
        .as_message()
        .unwrap()
        .content()
        .to_vec();
    let redacted = content[0]
        .as_reasoning_content()
        .unwrap()
        .as_redacted_content()
        .unwrap()
        .clone();
    assert_eq!(redacted.as_ref(), fake_bedrock::redacted_reasoning_bytes());
    let events = stream_events(
        client
            .converse_stream()
            .model_id(CLAUDE_37_US)
            .messages(user("Think secretly [[redacted]]"))
            .inference_config(cfg.clone())
            .additional_model_request_fields(thinking(2048)),
    )
    .await;
    let redacted_deltas: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::ReasoningContent(r)) => Some(r.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        redacted_deltas,
        vec![sdk::ReasoningContentBlockDelta::RedactedContent(
            redacted.clone()
        )]
    );
    let assistant = Message::builder()
        .role(ConversationRole::Assistant)
        .set_content(Some(content))
        .build()
        .unwrap();
    client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Think secretly [[redacted]]"))
        .messages(assistant)
        .messages(user("Go on"))
        .send()
        .await
        .unwrap();
    let replayed = fake.last_converse().unwrap().reasoning_blocks();
    assert_eq!(
        replayed[0].1,
        json!({"redactedContent": b64(redacted.as_ref())})
    );
}

#[tokio::test]
async fn reasoning_refusals_are_bedrocks() {
    let fake = FakeBedrock::start().await;
    let sig = fake_bedrock::reasoning_signature("I thought.");
    let replay = |signature: Option<&str>| {
        let mut text = json!({"text": "I thought."});
        if let Some(s) = signature {
            text["signature"] = json!(s);
        }
        json!({"messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": text}}, {"text": "Hello"}]},
            {"role": "user", "content": [{"text": "again"}]},
        ]})
    };
    let with_thinking = |budget: u64, cfg: Value| {
        json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": cfg,
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": budget}},
        })
    };
    let cases: Vec<(&str, &str, Value, String)> = vec![
        (
            "a forged signature",
            CLAUDE_37_US,
            replay(Some("Zm9yZ2Vk")),
            fake_bedrock::invalid_signature_message(1, 0),
        ),
        (
            "no signature",
            CLAUDE_37_US,
            replay(None),
            fake_bedrock::missing_signature_message(1, 0),
        ),
        (
            "budget under 1024",
            CLAUDE_37_US,
            with_thinking(512, json!({"maxTokens": 4096})),
            fake_bedrock::BUDGET_TOO_SMALL_MESSAGE.into(),
        ),
        (
            "budget not below maxTokens",
            CLAUDE_37_US,
            with_thinking(2048, json!({"maxTokens": 2048})),
            fake_bedrock::BUDGET_NOT_BELOW_MAX_TOKENS_MESSAGE.into(),
        ),
        (
            "temperature 0.5",
            CLAUDE_37_US,
            with_thinking(2048, json!({"maxTokens": 4096, "temperature": 0.5})),
            fake_bedrock::THINKING_TEMPERATURE_MESSAGE.into(),
        ),
        (
            "topP",
            CLAUDE_37_US,
            with_thinking(2048, json!({"maxTokens": 4096, "topP": 0.9})),
            fake_bedrock::THINKING_TOP_P_MESSAGE.into(),
        ),
        (
            "a Claude that does not reason",
            CLAUDE_3_HAIKU,
            with_thinking(2048, json!({"maxTokens": 4096})),
            fake_bedrock::THINKING_NOT_PERMITTED_MESSAGE.into(),
        ),
        (
            "not Claude",
            TITAN,
            with_thinking(2048, json!({"maxTokens": 4096})),
            fake_bedrock::extraneous_key_message("thinking"),
        ),
    ];
    for (what, model, body, message) in cases {
        let (status, error_type, answer) =
            post_json(&fake, &format!("/model/{model}/converse"), &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(error_type.starts_with("validationexception"), "{what}");
        assert_eq!(answer["message"], message, "{what}");
    }
    // The right signature passes; temperature 1 is allowed while thinking.
    let (status, _, answer) = post_json(
        &fake,
        &format!("/model/{CLAUDE_37_US}/converse"),
        &replay(Some(&sig)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = post_json(
        &fake,
        &format!("/model/{CLAUDE_37_US}/converse"),
        &with_thinking(1024, json!({"maxTokens": 1025, "temperature": 1})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]["signature"]
            .is_string()
    );
}

fn guardrail(trace: sdk::GuardrailTrace) -> sdk::GuardrailConfiguration {
    sdk::GuardrailConfiguration::builder()
        .guardrail_identifier("gr1abc2def")
        .guardrail_version("1")
        .trace(trace)
        .build()
}

#[tokio::test]
async fn guardrail_intervenes_with_its_trace() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;

    // Unary: the blocked message, guardrail_intervened, and the trace.
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Tell me about [[guardrail]] things"))
        .guardrail_config(guardrail(sdk::GuardrailTrace::Enabled))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::GuardrailIntervened);
    let content = out.output().unwrap().as_message().unwrap().content();
    assert_eq!(
        content[0].as_text().unwrap(),
        fake_bedrock::GUARDRAIL_BLOCKED_MESSAGE
    );
    let trace = out.trace().unwrap().guardrail().unwrap();
    assert_eq!(
        trace.action_reason(),
        Some(fake_bedrock::GUARDRAIL_ACTION_REASON)
    );
    let assessment = &trace.input_assessment().unwrap()["gr1abc2def"];
    let topic = &assessment.topic_policy().unwrap().topics()[0];
    assert_eq!(topic.name(), fake_bedrock::GUARDRAIL_TOPIC);
    assert_eq!(topic.r#type(), &sdk::GuardrailTopicType::Deny);
    assert_eq!(topic.action(), &sdk::GuardrailTopicPolicyAction::Blocked);
    assert_eq!(topic.detected(), Some(true));
    assert_eq!(
        usage_of(out.usage().unwrap()).0,
        0,
        "the model was not invoked"
    );
    assert_eq!(
        fake.last_converse().unwrap().guardrail_config().unwrap(),
        json!({"guardrailIdentifier": "gr1abc2def", "guardrailVersion": "1", "trace": "enabled"})
    );

    // Stream (async mode): the same, the trace in the metadata event.
    let events = stream_events(
        client
            .converse_stream()
            .model_id(CLAUDE_37_US)
            .messages(user("Tell me about [[guardrail]] things"))
            .guardrail_config(
                sdk::GuardrailStreamConfiguration::builder()
                    .guardrail_identifier("gr1abc2def")
                    .guardrail_version("DRAFT")
                    .trace(sdk::GuardrailTrace::EnabledFull)
                    .stream_processing_mode(sdk::GuardrailStreamProcessingMode::Async)
                    .build(),
            ),
    )
    .await;
    let stop = events
        .iter()
        .find_map(|e| e.as_message_stop().ok())
        .unwrap();
    assert_eq!(stop.stop_reason(), &StopReason::GuardrailIntervened);
    let meta = metadata_of(&events);
    let trace = meta.trace().unwrap().guardrail().unwrap();
    let topics = trace.input_assessment().unwrap()["gr1abc2def"]
        .topic_policy()
        .unwrap()
        .topics();
    // enabled_full also lists the topic that did not match.
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[1].action(), &sdk::GuardrailTopicPolicyAction::None);
    assert_eq!(
        fake.last_converse().unwrap().guardrail_config().unwrap()["streamProcessingMode"],
        "async"
    );

    // No intervention, trace on: an assessment with no action; trace off: no trace.
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Hello"))
        .guardrail_config(guardrail(sdk::GuardrailTrace::Enabled))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let trace = out.trace().unwrap().guardrail().unwrap();
    assert!(trace.action_reason().is_none());
    assert!(trace.input_assessment().unwrap()["gr1abc2def"]
        .topic_policy()
        .is_none());
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Tell me about [[guardrail]] things"))
        .guardrail_config(guardrail(sdk::GuardrailTrace::Disabled))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::GuardrailIntervened);
    assert!(out.trace().is_none());

    // Without a guardrail the marker is just text.
    let out = client
        .converse()
        .model_id(CLAUDE_37_US)
        .messages(user("Tell me about [[guardrail]] things"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);

    // Refusals: a missing version, a bad version.
    let body = |g: Value| json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "guardrailConfig": g});
    let (status, _, answer) = post_json(
        &fake,
        &format!("/model/{CLAUDE_37_US}/converse"),
        &body(json!({"guardrailIdentifier": "abc"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["message"], "1 validation error detected: Value null at 'guardrailConfig.guardrailVersion' failed to satisfy constraint: Member must not be null");
    let (status, _, answer) = post_json(
        &fake,
        &format!("/model/{CLAUDE_37_US}/converse"),
        &body(json!({"guardrailIdentifier": "abc", "guardrailVersion": "01"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["message"], "1 validation error detected: Value '01' at 'guardrailConfig.guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (|([1-9][0-9]{0,7})|(DRAFT))");
}

#[tokio::test]
async fn invoke_model_guardrail_headers_and_native_intervention() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let claude_body = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "Tell me about [[guardrail]] things"}],
    });
    let out = client
        .invoke_model()
        .model_id(CLAUDE_3_HAIKU)
        .body(Blob::new(claude_body.to_string()))
        .guardrail_identifier("gr1abc2def")
        .guardrail_version("1")
        .trace(sdk::Trace::Enabled)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(v["amazon-bedrock-guardrailAction"], "INTERVENED");
    assert_eq!(
        v["content"][0]["text"],
        fake_bedrock::GUARDRAIL_BLOCKED_MESSAGE
    );
    assert_eq!(
        v["amazon-bedrock-trace"]["guardrail"]["inputAssessment"]["gr1abc2def"]["topicPolicy"]
            ["topics"][0]["action"],
        "BLOCKED"
    );
    assert_eq!(
        fake.requests().last().unwrap().guardrail_config().unwrap(),
        json!({"guardrailIdentifier": "gr1abc2def", "guardrailVersion": "1", "trace": "ENABLED"})
    );

    // Titan: CONTENT_FILTERED; without intervention the action is NONE.
    let titan = |text: &str| json!({"inputText": text});
    let out = client
        .invoke_model()
        .model_id(TITAN)
        .body(Blob::new(titan("Say [[guardrail]]").to_string()))
        .guardrail_identifier("gr1abc2def")
        .guardrail_version("DRAFT")
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(v["results"][0]["completionReason"], "CONTENT_FILTERED");
    assert_eq!(
        v["results"][0]["outputText"],
        fake_bedrock::GUARDRAIL_BLOCKED_MESSAGE
    );
    assert!(v.get("amazon-bedrock-trace").is_none(), "trace off");
    let out = client
        .invoke_model()
        .model_id(TITAN)
        .body(Blob::new(titan("Say hello").to_string()))
        .guardrail_identifier("gr1abc2def")
        .guardrail_version("DRAFT")
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(v["amazon-bedrock-guardrailAction"], "NONE");
    assert_eq!(v["results"][0]["completionReason"], "FINISH");

    // Tier and latency headers are echoed.
    let out = client
        .invoke_model()
        .model_id("us.meta.llama3-1-70b-instruct-v1:0")
        .body(Blob::new(json!({"prompt": "hi"}).to_string()))
        .performance_config_latency(sdk::PerformanceConfigLatency::Optimized)
        .service_tier(sdk::ServiceTierType::Default)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.performance_config_latency(),
        Some(&sdk::PerformanceConfigLatency::Optimized)
    );
    assert_eq!(out.service_tier(), Some(&sdk::ServiceTierType::Default));
    let r = fake.requests().pop().unwrap();
    assert_eq!(r.performance_config().as_deref(), Some("optimized"));
    assert_eq!(r.service_tier().as_deref(), Some("default"));

    // A stream: the last chunk carries the action.
    let chunks = invoke_stream_chunks(&client, TITAN, titan("Say [[guardrail]]")).await;
    assert!(chunks
        .iter()
        .all(|c| c.get("amazon-bedrock-guardrailAction").is_none()));
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(TITAN)
        .body(Blob::new(titan("Say [[guardrail]]").to_string()))
        .guardrail_identifier("gr1abc2def")
        .guardrail_version("1")
        .send()
        .await
        .unwrap();
    let mut last = Value::Null;
    let mut text = String::new();
    while let Some(ev) = out.body.recv().await.unwrap() {
        if let ResponseStream::Chunk(c) = ev {
            last = serde_json::from_slice(c.bytes().unwrap().as_ref()).unwrap();
            text.push_str(last["outputText"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(text, fake_bedrock::GUARDRAIL_BLOCKED_MESSAGE);
    assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
    assert_eq!(last["completionReason"], "CONTENT_FILTERED");
}

#[tokio::test]
async fn service_tier_latency_and_metadata_reach_the_fake_and_come_back() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let tier = sdk::ServiceTier::builder()
        .r#type(sdk::ServiceTierType::Flex)
        .build()
        .unwrap();
    let perf = sdk::PerformanceConfiguration::builder()
        .latency(sdk::PerformanceConfigLatency::Optimized)
        .build();
    let out = client
        .converse()
        .model_id(NOVA_PRO)
        .messages(user("Hello"))
        .service_tier(tier.clone())
        .performance_config(perf.clone())
        .request_metadata("team", "alpha")
        .request_metadata("run id", "r-1/2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.service_tier().unwrap().r#type(),
        &sdk::ServiceTierType::Flex
    );
    assert_eq!(
        out.performance_config().unwrap().latency(),
        &sdk::PerformanceConfigLatency::Optimized
    );
    let r = fake.last_converse().unwrap();
    assert_eq!(r.service_tier().as_deref(), Some("flex"));
    assert_eq!(r.performance_config().as_deref(), Some("optimized"));
    assert_eq!(
        r.request_metadata().unwrap(),
        json!({"team": "alpha", "run id": "r-1/2"})
    );

    let events = stream_events(
        client
            .converse_stream()
            .model_id(NOVA_PRO)
            .messages(user("Hello"))
            .service_tier(tier)
            .performance_config(perf),
    )
    .await;
    let meta = metadata_of(&events);
    assert_eq!(
        meta.service_tier().unwrap().r#type(),
        &sdk::ServiceTierType::Flex
    );
    assert_eq!(
        meta.performance_config().unwrap().latency(),
        &sdk::PerformanceConfigLatency::Optimized
    );

    // Not sent: not echoed.
    let out = client
        .converse()
        .model_id(NOVA_PRO)
        .messages(user("Hello"))
        .send()
        .await
        .unwrap();
    assert!(out.service_tier().is_none() && out.performance_config().is_none());

    // Refusals.
    let hi = json!([{"role": "user", "content": [{"text": "hi"}]}]);
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, &str, Value, String)> = vec![
        ("flex on Claude", CLAUDE_37_US, json!({"messages": hi, "serviceTier": {"type": "flex"}}), fake_bedrock::service_tier_unsupported_message("flex", CLAUDE_37)),
        ("reserved", NOVA_PRO, json!({"messages": hi, "serviceTier": {"type": "reserved"}}), fake_bedrock::RESERVATION_NOT_FOUND_MESSAGE.into()),
        ("an unknown tier", NOVA_PRO, json!({"messages": hi, "serviceTier": {"type": "cheapest"}}), fake_bedrock::INVALID_SERVICE_TIER_MESSAGE.into()),
        ("optimized on Titan", TITAN, json!({"messages": hi, "performanceConfig": {"latency": "optimized"}}), fake_bedrock::latency_unsupported_message(TITAN)),
        ("an unknown latency", NOVA_PRO, json!({"messages": hi, "performanceConfig": {"latency": "turbo"}}), "1 validation error detected: Value 'turbo' at 'performanceConfig.latency' failed to satisfy constraint: Member must satisfy enum value set: [optimized, standard]".into()),
        ("17 metadata pairs", NOVA_PRO, json!({"messages": hi, "requestMetadata": many}), String::new()),
        ("a metadata key with a bad character", NOVA_PRO, json!({"messages": hi, "requestMetadata": {"a!": "b"}}), String::new()),
    ];
    for (what, model, body, message) in cases {
        let (status, error_type, answer) =
            post_json(&fake, &format!("/model/{model}/converse"), &body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(error_type.starts_with("validationexception"), "{what}");
        let got = answer["message"].as_str().unwrap();
        if message.is_empty() {
            assert!(
                got.starts_with("1 validation error detected: Value '{")
                    && got.contains("at 'requestMetadata'"),
                "{what}: {got}"
            );
        } else {
            assert_eq!(got, message, "{what}");
        }
    }
}

#[tokio::test]
async fn count_tokens_equals_converse_input_and_refuses_other_models() {
    let fake = FakeBedrock::start().await;
    let client = runtime(&fake).await;
    let tools = sdk::ToolConfiguration::builder()
        .tools(weather_tools(None).tools()[0].clone())
        .tools(sdk::Tool::CachePoint(cache_point(None)))
        .build()
        .unwrap();
    let messages = vec![user("What is the weather in Paris today?")];

    // Converse twice (write, then read) and CountTokens: all report the same input total.
    let mut totals = Vec::new();
    for _ in 0..2 {
        let out = client
            .converse()
            .model_id(CLAUDE_37_US)
            .set_system(Some(cached_system()))
            .set_messages(Some(messages.clone()))
            .tool_config(tools.clone())
            .send()
            .await
            .unwrap();
        let (input, read, write, _, _) = usage_of(out.usage().unwrap());
        totals.push(input + read + write);
    }
    assert_eq!(totals[0], totals[1]);
    let counted = client
        .count_tokens()
        .model_id(CLAUDE_37)
        .input(sdk::CountTokensInput::Converse(
            sdk::ConverseTokensRequest::builder()
                .set_system(Some(cached_system()))
                .set_messages(Some(messages.clone()))
                .tool_config(tools.clone())
                .build(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.input_tokens(), totals[0]);
    assert_eq!(
        fake.count_tokens_requests()[0].cache_points().len(),
        2,
        "recorded as sent"
    );

    // The InvokeModel form counts the native body as InvokeModel does.
    let native = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "system": "Be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]}],
    });
    let counted = client
        .count_tokens()
        .model_id(CLAUDE_37)
        .input(sdk::CountTokensInput::InvokeModel(
            sdk::InvokeModelTokensRequest::builder()
                .body(Blob::new(native.to_string()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.input_tokens(), 5);
    let (invoked, _) = invoke_json(&client, CLAUDE_37_US, native).await;
    assert_eq!(invoked["usage"]["input_tokens"], 5);

    // Models that cannot count, and profile IDs, are refused with Bedrock's sentence.
    for model in [TITAN, CLAUDE_3_HAIKU, CLAUDE_37_US] {
        let err = client
            .count_tokens()
            .model_id(model)
            .input(sdk::CountTokensInput::Converse(
                sdk::ConverseTokensRequest::builder()
                    .set_messages(Some(messages.clone()))
                    .build(),
            ))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_validation_exception(), "{model}: {err:?}");
        assert_eq!(
            err.meta().message(),
            Some(fake_bedrock::COUNT_TOKENS_UNSUPPORTED_MESSAGE),
            "{model}"
        );
    }
    assert_eq!(fake.count("/count-tokens"), 5);
}
