//! The real `bedrock-gateway` binary with `--backend bedrock`, pointed at a
//! fake Bedrock on 127.0.0.1 through `AWS_ENDPOINT_URL` with dummy
//! credentials: the real SDK signs, sends, parses JSON and decodes AWS
//! event-stream frames, end to end.

mod common;
mod fake_bedrock;

use bedrock_gateway::pb::{
    self, generate_stream_response::Event,
    text_generation_service_client::TextGenerationServiceClient, BedrockApi, GenerateRequest,
    GenerateStreamRequest, GenerationParameters, GetModelRequest, ListModelsRequest,
};
use common::GatewayProcess;
use fake_bedrock::{Behavior, FakeBedrock};
use futures::StreamExt;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
const CLAUDE_HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CLAUDE_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const MISTRAL: &str = "mistral.mistral-7b-instruct-v0:2";

/// The gateway binary with `--backend bedrock`, pointed at the fake.
struct Gateway;

impl Gateway {
    /// Starts the binary against `endpoint` (through AWS_ENDPOINT_URL unless
    /// empty) with the given extra environment.
    fn start(endpoint: &str, envs: &[(&str, &str)], args: &[&str]) -> GatewayProcess {
        let mut all_args = vec!["--backend", "bedrock", "--readiness-interval", "200ms"];
        // One attempt unless a test asks for retries, so error cases are quick.
        if !args.contains(&"--bedrock-max-attempts") {
            all_args.extend(["--bedrock-max-attempts", "1"]);
        }
        all_args.extend(args);
        let mut all_envs = vec![
            ("AWS_REGION", "us-east-1"),
            // Nothing from this machine's AWS setup may leak into the test.
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        if !endpoint.is_empty() {
            all_envs.push(("AWS_ENDPOINT_URL", endpoint));
        }
        all_envs.extend(envs);
        GatewayProcess::start(&all_args, &all_envs)
    }

    fn with_dummy_credentials(endpoint: &str, args: &[&str]) -> GatewayProcess {
        Gateway::start(endpoint, DUMMY_CREDENTIALS, args)
    }
}

const DUMMY_CREDENTIALS: &[(&str, &str)] =
    &[("AWS_ACCESS_KEY_ID", "AKIDTEST"), ("AWS_SECRET_ACCESS_KEY", "dummy-secret")];

fn generate(model: &str, api: BedrockApi, max_tokens: Option<u32>) -> GenerateRequest {
    GenerateRequest {
        model_id: model.into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(GenerationParameters {
            temperature: Some(0.0),
            max_tokens,
            ..Default::default()
        }),
        api: api as i32,
        ..Default::default()
    }
}


/// Collects a stream: (text, completion or the status that ended it).
async fn collect(
    client: &mut TextGenerationServiceClient<Channel>,
    r: GenerateStreamRequest,
) -> (String, Result<pb::GenerationComplete, tonic::Status>) {
    let mut stream = match client.generate_stream(r).await {
        Ok(s) => s.into_inner(),
        Err(status) => return (String::new(), Err(status)),
    };
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(m) => match m.event.unwrap() {
                Event::Delta(d) => text.push_str(&d.text),
                Event::Complete(c) => return (text, Ok(c)),
                other => panic!("a text-only answer has only text events, got {other:?}"),
            },
            Err(status) => return (text, Err(status)),
        }
    }
    panic!("stream ended with neither a completion nor a status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converse_unary_and_stream_through_the_real_sdk() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;

    let response = client
        .generate(generate(TITAN, BedrockApi::Unspecified, Some(5)))
        .await
        .unwrap();
    let header_id = response.metadata().get("x-amzn-requestid").unwrap().to_str().unwrap().to_owned();
    assert_eq!(response.metadata().get("x-bedrock-gateway-backend").unwrap(), "bedrock");
    let r = response.into_inner();
    assert_eq!(r.text, fake_bedrock::expected_text(5));
    assert_eq!(r.stop_reason(), pb::StopReason::MaxTokens);
    assert_eq!(r.raw_stop_reason, "max_tokens");
    assert_eq!(r.usage.unwrap().output_tokens, 5);
    assert_eq!(r.usage.unwrap().input_tokens, 5);
    assert!(r.request_id.starts_with("fake-req-"), "{}", r.request_id);
    assert_eq!(r.request_id, header_id);
    assert_eq!(r.backend, "bedrock");

    let converse = fake
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.path.ends_with("/converse"))
        .expect("a Converse call");
    assert!(converse.signed, "the SDK signed the request with SigV4");
    assert_eq!(converse.model_id.as_deref(), Some(TITAN));
    assert_eq!(converse.body["inferenceConfig"]["maxTokens"], 5);
    assert_eq!(converse.body["inferenceConfig"]["temperature"], 0.0);
    assert!(converse.body["inferenceConfig"].get("topP").is_none(), "unset stays unset");

    // The stream's deltas add up to the unary text, and it ends with usage.
    let (text, complete) = collect(&mut client, common::stream_request(generate(TITAN, BedrockApi::Unspecified, None))).await;
    let complete = complete.unwrap();
    assert_eq!(text, fake_bedrock::natural_text());
    assert_eq!(complete.stop_reason(), pb::StopReason::EndTurn);
    assert_eq!(complete.usage.unwrap().output_tokens as usize, fake_bedrock::count_words(&text));
    assert!(complete.request_id.starts_with("fake-req-"));
    let unary = client
        .generate(generate(TITAN, BedrockApi::Unspecified, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unary.text, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_native_family_streams_and_not() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;
    for model in [TITAN, CLAUDE_HAIKU, LLAMA, MISTRAL] {
        let unary = client
            .generate(generate(model, BedrockApi::InvokeModel, Some(4)))
            .await
            .unwrap_or_else(|s| panic!("{model}: {s:?}"))
            .into_inner();
        assert_eq!(unary.text, fake_bedrock::expected_text(4), "{model}");
        assert_eq!(unary.stop_reason(), pb::StopReason::MaxTokens, "{model}");
        let usage = unary.usage.unwrap();
        assert_eq!(usage.output_tokens, 4, "{model}");
        assert!(usage.input_tokens > 0, "{model}");

        let (text, complete) =
            collect(&mut client, common::stream_request(generate(model, BedrockApi::InvokeModel, None))).await;
        let complete = complete.unwrap_or_else(|s| panic!("{model}: {s:?}"));
        assert_eq!(text, fake_bedrock::natural_text(), "{model}");
        assert_eq!(complete.stop_reason(), pb::StopReason::EndTurn, "{model}: {}", complete.raw_stop_reason);
        assert_eq!(
            complete.usage.unwrap().output_tokens as usize,
            fake_bedrock::count_words(&text),
            "{model}: usage from amazon-bedrock-invocationMetrics"
        );
    }
    // The Titan body on the wire is the notebook's shape.
    let titan = fake
        .requests()
        .into_iter()
        .find(|q| q.path.ends_with("/invoke") && q.model_id.as_deref() == Some(TITAN))
        .unwrap();
    assert_eq!(titan.body["inputText"], "Write a poem about sky");
    assert_eq!(titan.body["textGenerationConfig"]["maxTokenCount"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_without_on_demand_go_through_the_regional_profile() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;
    // Readiness fetched the catalogue at start; routing reads it.
    let r = client
        .generate(generate(CLAUDE_37, BedrockApi::Unspecified, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.invoked_model_id, format!("us.{CLAUDE_37}"));
    let last = fake.requests().into_iter().rev().find(|q| q.path.ends_with("/converse")).unwrap();
    assert_eq!(last.model_id, Some(format!("us.{CLAUDE_37}")));

    // An explicit profile passes through unchanged.
    let r = client
        .generate(generate(&format!("eu.{CLAUDE_37}"), BedrockApi::Unspecified, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.invoked_model_id, format!("eu.{CLAUDE_37}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bedrock_error_reaches_the_client_as_its_documented_code() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;
    let cases = [
        ("ValidationException", 400, Code::InvalidArgument),
        ("ResourceNotFoundException", 404, Code::NotFound),
        ("AccessDeniedException", 403, Code::PermissionDenied),
        ("ThrottlingException", 429, Code::ResourceExhausted),
        ("ServiceQuotaExceededException", 400, Code::ResourceExhausted),
        ("ModelNotReadyException", 429, Code::Unavailable),
        ("ServiceUnavailableException", 503, Code::Unavailable),
        ("ModelTimeoutException", 408, Code::DeadlineExceeded),
        ("ModelErrorException", 424, Code::Internal),
        ("InternalServerException", 500, Code::Internal),
    ];
    for (error_type, status, code) in cases {
        fake.set_behavior(
            TITAN,
            Behavior::Error { status, error_type: error_type.into(), message: format!("fake {error_type}") },
        );
        for streaming in [false, true] {
            let err = if streaming {
                collect(&mut client, common::stream_request(generate(TITAN, BedrockApi::Unspecified, None))).await.1.unwrap_err()
            } else {
                client.generate(generate(TITAN, BedrockApi::Unspecified, None)).await.unwrap_err()
            };
            assert_eq!(err.code(), code, "{error_type} (stream: {streaming}): {err:?}");
            assert!(err.message().contains(&format!("fake {error_type}")), "{}", err.message());
            let info = err.get_details_error_info().expect("ErrorInfo");
            assert_eq!(info.reason, error_type);
            assert_eq!(info.domain, "bedrock.amazonaws.com");
            assert!(info.metadata["request_id"].starts_with("fake-req-"));
            assert_eq!(
                err.get_details_retry_info().is_some(),
                matches!(code, Code::ResourceExhausted | Code::Unavailable),
                "{error_type}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_up_to_the_configured_attempts() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &["--bedrock-max-attempts", "3"]);
    let mut client = gw.client().await;
    fake.set_behavior(
        TITAN,
        Behavior::Error { status: 429, error_type: "ThrottlingException".into(), message: "slow down".into() },
    );
    let err = client.generate(generate(TITAN, BedrockApi::Unspecified, None)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(fake.count("/converse"), 3, "three attempts, then the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_mid_stream_keeps_the_text_already_sent() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &["--bedrock-max-attempts", "3"]);
    let mut client = gw.client().await;
    for api in [BedrockApi::Unspecified, BedrockApi::InvokeModel] {
        fake.set_behavior(
            TITAN,
            Behavior::StreamException {
                after_tokens: 3,
                exception_type: "ModelStreamErrorException".into(),
                message: "the model broke".into(),
            },
        );
        let before = fake.count("stream");
        let (text, end) = collect(&mut client, common::stream_request(generate(TITAN, api, None))).await;
        let status = end.unwrap_err();
        assert_eq!(text, fake_bedrock::expected_text(3), "{api:?}");
        assert_eq!(status.code(), Code::Internal, "{api:?}: {status:?}");
        assert!(status.message().contains("the model broke"), "{}", status.message());
        assert_eq!(fake.count("stream") - before, 1, "a stream that delivered text is never re-sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_stream_closes_the_bedrock_exchange() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;
    for api in [BedrockApi::Unspecified, BedrockApi::InvokeModel] {
        fake.set_behavior(TITAN, Behavior::TokenDelay(Duration::from_millis(100)));
        let mut stream = client
            .generate_stream(common::stream_request(generate(TITAN, api, None)))
            .await
            .unwrap()
            .into_inner();
        stream.next().await.unwrap().unwrap();
        assert_eq!(fake.streams_open(), 1);
        let cancelled = Instant::now();
        drop(stream);
        assert!(
            fake.wait_streams_closed(Duration::from_secs(2)).await,
            "{api:?}: the upstream stream is still open after the client cancelled"
        );
        assert!(cancelled.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_bounds_a_stalled_bedrock_call() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let addr: std::net::SocketAddr = gw.addr.parse().unwrap();
    fake.set_behavior(TITAN, Behavior::Stall);
    let unary = generate(TITAN, BedrockApi::Unspecified, None);
    let path = "/bedrock.gateway.v1.TextGenerationService/Generate";
    let outcome = common::raw_grpc_call(addr, path, &unary, "300m").await;
    assert_eq!(outcome.grpc_status.as_deref(), Some("4"), "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_millis(900), "{outcome:?}");

    let path = "/bedrock.gateway.v1.TextGenerationService/GenerateStream";
    let outcome = common::raw_grpc_call(addr, path, &common::stream_request(unary), "300m").await;
    assert_eq!(outcome.grpc_status.as_deref(), Some("4"), "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_millis(900), "{outcome:?}");
    assert!(fake.wait_streams_closed(Duration::from_secs(2)).await, "the stalled exchange was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_comes_from_the_control_plane_and_is_cached() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::with_dummy_credentials(&fake.url(), &[]);
    let mut client = gw.client().await;
    for _ in 0..3 {
        let models = client
            .list_models(ListModelsRequest { provider: "Amazon".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .models;
        assert!(models.iter().any(|m| m.model_id == TITAN));
        assert!(models.iter().all(|m| m.provider_name == "Amazon"));
        client.generate(generate(TITAN, BedrockApi::Unspecified, Some(2))).await.unwrap();
    }
    let m = client
        .get_model(GetModelRequest { model_id: TITAN.into() })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(m.model_name, "Titan Text G1 - Express");
    assert_eq!(fake.count("/foundation-models"), 1, "one ListFoundationModels for everything");
    assert_eq!(
        fake.count("/inference-profiles"),
        2,
        "one ListInferenceProfiles per type (system-defined, application) for everything"
    );

    // A model the list does not hold is asked for with GetFoundationModel.
    let err = client
        .get_model(GetModelRequest { model_id: "amazon.nope-v1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(fake.count("/foundation-models/amazon.nope-v1"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_named_and_readiness_says_not_serving() {
    let fake = FakeBedrock::start().await;
    let gw = Gateway::start(&fake.url(), &[], &[]);
    let channel = Channel::from_shared(format!("http://{}", gw.addr)).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest { service: pb::SERVICE_NAME.into() })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::NotServing);
    let live = health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(live, tonic_health::pb::health_check_response::ServingStatus::Serving);

    let mut client = TextGenerationServiceClient::new(channel);
    let err = client.generate(generate(TITAN, BedrockApi::Unspecified, None)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("credentials"), "{}", err.message());
    assert_eq!(fake.count("/converse"), 0, "nothing unsigned was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_specific_endpoint_variables_reach_both_planes() {
    let fake = FakeBedrock::start().await;
    let url = fake.url();
    let mut envs = DUMMY_CREDENTIALS.to_vec();
    envs.push(("AWS_ENDPOINT_URL_BEDROCK", &url));
    envs.push(("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &url));
    let gw = Gateway::start("", &envs, &[]);
    let mut client = gw.client().await;
    let r = client
        .generate(generate(TITAN, BedrockApi::Unspecified, Some(3)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.text, fake_bedrock::expected_text(3));
    assert!(fake.count("/foundation-models") >= 1, "the control plane used AWS_ENDPOINT_URL_BEDROCK");
    assert_eq!(fake.count("/converse"), 1, "the runtime used AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
}

/// Over TLS, as against Bedrock's HTTPS endpoints, the SDK negotiates
/// HTTP/2 and carries calls as streams of a connection. A server caps the
/// streams of a connection (here 4); the gateway opens another connection
/// when its calls fill one (`--bedrock-calls-per-connection 3`), so every
/// stream is open at once instead of the ones beyond the cap waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_streams_beyond_one_connections_limit_open_on_more_connections() {
    const STREAMS: usize = 12;
    let fake = FakeBedrock::start_tls(Some(4)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("fake-ca.pem");
    std::fs::write(&ca, fake.ca_pem().unwrap()).unwrap();
    let ca = ca.display().to_string();
    let mut envs = DUMMY_CREDENTIALS.to_vec();
    // The SDK's default client trusts this file instead of the system's roots.
    envs.push(("SSL_CERT_FILE", &ca));
    let gw = Gateway::start(&fake.url(), &envs, &["--bedrock-calls-per-connection", "3"]);
    // The first token at once, then 100 ms apart: streams outlast the test,
    // so all of them are open together however slowly the machine opens them.
    fake.set_behavior(
        TITAN,
        Behavior::Paced {
            tokens: 400,
            token_delay: Duration::from_millis(100),
            precise: false,
        },
    );
    let mut client = gw.client().await;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let mut stream = client
            .generate_stream(common::stream_request(generate(TITAN, BedrockApi::Unspecified, None)))
            .await
            .unwrap()
            .into_inner();
        // Its first token: the stream is open upstream.
        tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("a stream's first token within 10 s")
            .unwrap()
            .unwrap();
        streams.push(stream);
    }
    assert_eq!(fake.streams_open(), STREAMS, "every stream is open at the fake at once");
    let requests = fake.requests();
    let streamed: Vec<_> = requests.iter().filter(|r| r.path.ends_with("/converse-stream")).collect();
    assert_eq!(streamed.len(), STREAMS);
    assert!(
        streamed.iter().all(|r| r.version == "HTTP/2.0"),
        "calls went over HTTP/2: {:?}",
        streamed.iter().map(|r| &r.version).collect::<Vec<_>>()
    );
    let mut connections: Vec<u64> = streamed.iter().map(|r| r.connection).collect();
    connections.sort_unstable();
    connections.dedup();
    assert!(
        connections.len() >= STREAMS / 3,
        "{STREAMS} streams at 3 a connection need {} connections, used {connections:?}",
        STREAMS / 3
    );
    drop(streams);
    assert!(
        fake.wait_streams_closed(Duration::from_secs(5)).await,
        "the upstream streams close with the client's"
    );
}
