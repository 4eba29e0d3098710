//! Drives the fake Bedrock with the real AWS SDK, so the fake is known to speak the
//! wire protocol the SDK expects before gateway tests rely on it.

mod fake_bedrock;

use aws_sdk_bedrockruntime::operation::RequestId as _;
use aws_sdk_bedrockruntime::primitives::Blob;
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
