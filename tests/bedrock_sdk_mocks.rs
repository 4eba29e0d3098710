//! The Bedrock backend at the SDK operation level, with aws-smithy-mocks:
//! what is sent for each request, how each answer and error is read, profile
//! routing and catalogue caching.

use aws_sdk_bedrock::operation::list_foundation_models::ListFoundationModelsOutput;
use aws_sdk_bedrock::operation::list_inference_profiles::ListInferenceProfilesOutput;
use aws_sdk_bedrock::types::{
    FoundationModelLifecycle, FoundationModelLifecycleStatus, FoundationModelSummary,
    InferenceProfileModel, InferenceProfileStatus, InferenceProfileSummary, InferenceProfileType,
    InferenceType, ModelModality,
};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseMetrics, ConverseOutput as Output, Message,
    StopReason as SdkStopReason, TokenUsage,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use bedrock_gateway::backend::bedrock::BedrockBackend;
use bedrock_gateway::backend::Backend;
use bedrock_gateway::domain::{
    BedrockApi, GenerationRequest, Message as DomainMessage, ModelFilter, Parameters, Role,
    StopReason,
};
use bedrock_gateway::error::ErrorKind;
use bedrock_gateway::model::{Catalogue, Listing, ModelDirectory, Target, Unknown};
use std::num::NonZeroU32;
use std::time::Duration;

const CLAUDE_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

/// The target of `model_id` over the seed catalogue. Tests that depend on
/// the backend's own catalogue (routing) resolve through `b.models()`.
fn target(model_id: &str) -> Target {
    static SEED: std::sync::LazyLock<std::sync::Arc<ModelDirectory>> = std::sync::LazyLock::new(|| {
        ModelDirectory::fixed(
            Listing { models: Catalogue::seed().models().to_vec(), ..Listing::default() },
            Unknown::PassThrough,
        )
    });
    SEED.resolve_listed(model_id).unwrap()
}

fn request(model_id: &str, parameters: Parameters) -> GenerationRequest {
    GenerationRequest {
        target: target(model_id),
        from_prompt: true,
        messages: vec![DomainMessage::text(Role::User, "Write a poem about sky")],
        system: None,
        parameters,
        additional_model_request_fields: None,
        simulation: None,
        api: BedrockApi::Converse,
        tool_config: None,
        output_schema: None,
        options: None,
    }
}

/// A request resolved through the backend's own directory.
async fn resolved(b: &BedrockBackend, model_id: &str) -> GenerationRequest {
    GenerationRequest {
        target: b.models().resolve(model_id).await.unwrap(),
        ..request("amazon.titan-text-express-v1", Parameters::default())
    }
}

fn converse_output(text: &str, stop: SdkStopReason) -> ConverseOutput {
    ConverseOutput::builder()
        .output(Output::Message(
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::Text(text.into()))
                .build()
                .unwrap(),
        ))
        .stop_reason(stop)
        .usage(
            TokenUsage::builder()
                .input_tokens(5)
                .output_tokens(3)
                .total_tokens(8)
                .build()
                .unwrap(),
        )
        .metrics(ConverseMetrics::builder().latency_ms(42).build().unwrap())
        .build()
        .unwrap()
}

fn backend(runtime_rules: &[&Rule], control_rules: &[&Rule], ttl: Duration) -> BedrockBackend {
    let runtime = mock_client!(aws_sdk_bedrockruntime, RuleMode::MatchAny, runtime_rules);
    let control = mock_client!(aws_sdk_bedrock, RuleMode::MatchAny, control_rules);
    BedrockBackend::from_clients(runtime, control, Some("us-east-1"), ttl)
}

fn model(id: &str, inference: &[InferenceType]) -> FoundationModelSummary {
    FoundationModelSummary::builder()
        .model_id(id)
        .model_arn(format!("arn:aws:bedrock:us-east-1::foundation-model/{id}"))
        .model_name(id)
        .provider_name("Anthropic")
        .input_modalities(ModelModality::Text)
        .output_modalities(ModelModality::Text)
        .response_streaming_supported(true)
        .set_inference_types_supported(Some(inference.to_vec()))
        .model_lifecycle(
            FoundationModelLifecycle::builder()
                .status(FoundationModelLifecycleStatus::Active)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn catalogue_rules() -> (Rule, Rule, Rule) {
    let list = mock!(aws_sdk_bedrock::Client::list_foundation_models).then_output(|| {
        ListFoundationModelsOutput::builder()
            .model_summaries(model(CLAUDE_37, &[InferenceType::from("INFERENCE_PROFILE")]))
            .model_summaries(model(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &[InferenceType::OnDemand],
            ))
            .build()
    });
    let profiles = mock!(aws_sdk_bedrock::Client::list_inference_profiles)
        .match_requests(|r| r.type_equals() == Some(&InferenceProfileType::SystemDefined))
        .then_output(|| {
        ListInferenceProfilesOutput::builder()
            .inference_profile_summaries(
                InferenceProfileSummary::builder()
                    .inference_profile_id(format!("us.{CLAUDE_37}"))
                    .inference_profile_name("US Claude 3.7 Sonnet")
                    .inference_profile_arn(format!(
                        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE_37}"
                    ))
                    .models(InferenceProfileModel::builder().model_arn("arn:x").build())
                    .status(InferenceProfileStatus::Active)
                    .r#type(InferenceProfileType::SystemDefined)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let applications = mock!(aws_sdk_bedrock::Client::list_inference_profiles)
        .match_requests(|r| r.type_equals() == Some(&InferenceProfileType::Application))
        .then_output(|| {
            ListInferenceProfilesOutput::builder()
                .inference_profile_summaries(
                    InferenceProfileSummary::builder()
                        .inference_profile_id("haiku-cost-centre-7")
                        .inference_profile_name("Haiku for cost centre 7")
                        .inference_profile_arn(APP_PROFILE)
                        .models(
                            InferenceProfileModel::builder()
                                .model_arn("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")
                                .build(),
                        )
                        .status(InferenceProfileStatus::Active)
                        .r#type(InferenceProfileType::Application)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    (list, profiles, applications)
}

const APP_PROFILE: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/haiku-cost-centre-7";

#[tokio::test]
async fn converse_sends_only_the_parameters_given_and_reads_the_answer() {
    let with_params = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(|r| {
            let c = r.inference_config().expect("inference config sent");
            r.model_id() == Some("amazon.titan-text-express-v1")
                && c.max_tokens() == Some(3)
                && c.temperature() == Some(0.5)
                && c.top_p().is_none()
                && c.stop_sequences().is_empty()
                && r.system().is_empty()
        })
        .then_output(|| converse_output("The sky", SdkStopReason::MaxTokens));
    let b = backend(&[&with_params], &[], Duration::from_secs(60));
    let g = b
        .generate(request(
            "amazon.titan-text-express-v1",
            Parameters {
                temperature: Some(0.5),
                max_tokens: NonZeroU32::new(3),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(g.text(), "The sky");
    assert_eq!(g.completion.stop_reason, StopReason::MaxTokens);
    assert_eq!(g.completion.raw_stop_reason, "max_tokens");
    assert_eq!(g.completion.usage.input_tokens, 5);
    assert_eq!(g.completion.usage.output_tokens, 3);
    assert_eq!(g.completion.usage.total_tokens, 8);
    assert_eq!(g.completion.backend_latency, Duration::from_millis(42));
    assert_eq!(g.completion.invoked_model_id, "amazon.titan-text-express-v1");
    assert_eq!(with_params.num_calls(), 1);

    // Nothing set: no inferenceConfig at all, so Bedrock applies the model's defaults.
    let bare = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(|r| r.inference_config().is_none())
        .then_output(|| converse_output("x", SdkStopReason::EndTurn));
    let b = backend(&[&bare], &[], Duration::from_secs(60));
    b.generate(request("amazon.titan-text-express-v1", Parameters::default()))
        .await
        .unwrap();
    assert_eq!(bare.num_calls(), 1);
}

/// Error metadata as the SDK's deserializer fills it from the wire.
fn code(error_type: &str) -> aws_sdk_bedrockruntime::error::ErrorMetadata {
    aws_sdk_bedrockruntime::error::ErrorMetadata::builder()
        .code(error_type)
        .message("from the wire")
        .build()
}

#[tokio::test]
async fn every_bedrock_exception_maps_to_its_documented_kind() {
    use aws_sdk_bedrockruntime::types::error::*;
    let cases: Vec<(fn() -> ConverseError, ErrorKind)> = vec![
        (|| ConverseError::ValidationException(ValidationException::builder().message("bad").meta(code("ValidationException")).build()), ErrorKind::InvalidArgument),
        (|| ConverseError::ResourceNotFoundException(ResourceNotFoundException::builder().message("no").meta(code("ResourceNotFoundException")).build()), ErrorKind::NotFound),
        (|| ConverseError::AccessDeniedException(AccessDeniedException::builder().message("no").meta(code("AccessDeniedException")).build()), ErrorKind::PermissionDenied),
        (|| ConverseError::ThrottlingException(ThrottlingException::builder().message("slow").meta(code("ThrottlingException")).build()), ErrorKind::ResourceExhausted),
        (|| ConverseError::ServiceUnavailableException(ServiceUnavailableException::builder().message("down").meta(code("ServiceUnavailableException")).build()), ErrorKind::Unavailable),
        (|| ConverseError::ModelNotReadyException(ModelNotReadyException::builder().message("warming").meta(code("ModelNotReadyException")).build()), ErrorKind::Unavailable),
        (|| ConverseError::ModelTimeoutException(ModelTimeoutException::builder().message("slow").meta(code("ModelTimeoutException")).build()), ErrorKind::DeadlineExceeded),
        (|| ConverseError::ModelErrorException(ModelErrorException::builder().message("oops").meta(code("ModelErrorException")).build()), ErrorKind::Internal),
        (|| ConverseError::InternalServerException(InternalServerException::builder().message("oops").meta(code("InternalServerException")).build()), ErrorKind::Internal),
    ];
    for (make, kind) in cases {
        let rule = mock!(aws_sdk_bedrockruntime::Client::converse).then_error(make);
        let b = backend(&[&rule], &[], Duration::from_secs(60));
        let err = b
            .generate(request("amazon.titan-text-express-v1", Parameters::default()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        let upstream = err.upstream().expect("upstream details kept");
        assert!(upstream.error_type.ends_with("Exception"), "{upstream:?}");
    }
}

#[tokio::test]
async fn models_without_on_demand_are_routed_to_the_regional_profile() {
    let (list, profiles, applications) = catalogue_rules();
    let routed = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(|r| r.model_id() == Some(&format!("us.{CLAUDE_37}")))
        .then_output(|| converse_output("routed", SdkStopReason::EndTurn));
    let direct = mock!(aws_sdk_bedrockruntime::Client::converse)
        .match_requests(|r| {
            r.model_id() == Some("anthropic.claude-3-haiku-20240307-v1:0") || r.model_id() == Some(APP_PROFILE)
        })
        .then_output(|| converse_output("direct", SdkStopReason::EndTurn));
    let b = backend(&[&routed, &direct], &[&list, &profiles, &applications], Duration::from_secs(60));
    // Routing reads the cached catalogue; readiness is what fills it at start.
    assert!(b.ready().await);

    let g = b.generate(resolved(&b, CLAUDE_37).await).await.unwrap();
    assert_eq!(g.text(), "routed");
    assert_eq!(g.completion.invoked_model_id, format!("us.{CLAUDE_37}"));
    assert_eq!(g.completion.resolved_model_id, CLAUDE_37);

    let g = b.generate(resolved(&b, "anthropic.claude-3-haiku-20240307-v1:0").await).await.unwrap();
    assert_eq!(g.text(), "direct");
    assert_eq!(g.completion.invoked_model_id, "anthropic.claude-3-haiku-20240307-v1:0");

    // An explicit profile ID passes through unchanged.
    let g = b.generate(resolved(&b, &format!("us.{CLAUDE_37}")).await).await.unwrap();
    assert_eq!(g.completion.invoked_model_id, format!("us.{CLAUDE_37}"));
    assert_eq!(g.completion.resolved_model_id, CLAUDE_37);
    assert_eq!(routed.num_calls(), 2);

    // The account's application profile: invoked as given, its model named.
    let g = b.generate(resolved(&b, APP_PROFILE).await).await.unwrap();
    assert_eq!(g.completion.invoked_model_id, APP_PROFILE);
    assert_eq!(g.completion.resolved_model_id, "anthropic.claude-3-haiku-20240307-v1:0");
}

#[tokio::test]
async fn the_catalogue_is_cached_for_its_ttl() {
    let (list, profiles, applications) = catalogue_rules();
    let converse = mock!(aws_sdk_bedrockruntime::Client::converse)
        .then_output(|| converse_output("x", SdkStopReason::EndTurn));
    let b = backend(&[&converse], &[&list, &profiles, &applications], Duration::from_secs(60));
    for _ in 0..5 {
        let models = b.list_models(&ModelFilter::default()).await.unwrap();
        assert_eq!(models.len(), 2);
        b.generate(resolved(&b, CLAUDE_37).await).await.unwrap();
        b.generate(resolved(&b, APP_PROFILE).await).await.unwrap();
    }
    let claude = b.get_model(CLAUDE_37).await.unwrap();
    assert_eq!(claude.inference_types_supported, ["INFERENCE_PROFILE"]);
    assert_eq!(claude.lifecycle_status, "ACTIVE");
    assert_eq!(list.num_calls(), 1, "one ListFoundationModels for all of it");
    assert_eq!(profiles.num_calls(), 1);
    assert_eq!(applications.num_calls(), 1, "application profiles are listed with the catalogue, not per call");
    // GetModel of the profile answers with the model behind it.
    assert_eq!(b.get_model(APP_PROFILE).await.unwrap().model_id, "anthropic.claude-3-haiku-20240307-v1:0");

    // With a zero TTL every catalogue read refreshes.
    let (list, profiles, applications) = catalogue_rules();
    let b = backend(&[], &[&list, &profiles, &applications], Duration::ZERO);
    for _ in 0..3 {
        b.list_models(&ModelFilter::default()).await.unwrap();
    }
    assert_eq!(list.num_calls(), 3);
}

#[tokio::test]
async fn titan_invoke_model_uses_the_notebook_body_and_reads_its_answer() {
    // The seed notebook's real response body.
    const BODY: &str = r#"{"inputTextTokenCount": 5, "results": [{"tokenCount": 50, "outputText": "\nFrom day to day as I lay down\nI stare at the sky", "completionReason": "LENGTH"}]}"#;
    let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
        .match_requests(|r| {
            let body: serde_json::Value =
                serde_json::from_slice(r.body().unwrap().as_ref()).unwrap();
            body == serde_json::json!({
                "inputText": "Write a poem about sky",
                "textGenerationConfig": {"temperature": 1.0, "topP": 1.0, "maxTokenCount": 50}
            })
        })
        .then_output(|| {
            InvokeModelOutput::builder()
                .body(Blob::new(BODY))
                .content_type("application/json")
                .build()
                .unwrap()
        });
    let b = backend(&[&invoke], &[], Duration::from_secs(60));
    let mut r = request(
        "amazon.titan-text-express-v1",
        Parameters {
            temperature: Some(1.0),
            top_p: Some(1.0),
            max_tokens: NonZeroU32::new(50),
            stop_sequences: vec![],
        },
    );
    r.api = BedrockApi::InvokeModel;
    let g = b.generate(r).await.unwrap();
    assert_eq!(invoke.num_calls(), 1);
    assert!(g.text().starts_with("\nFrom day to day"));
    assert_eq!(g.completion.stop_reason, StopReason::MaxTokens);
    assert_eq!(g.completion.raw_stop_reason, "LENGTH");
    assert_eq!(g.completion.usage.input_tokens, 5);
    assert_eq!(g.completion.usage.output_tokens, 50);
}

#[tokio::test]
async fn model_rules_refuse_before_any_call() {
    use bedrock_gateway::pb;
    use bedrock_gateway::validation::{self, Limits};
    let converse = mock!(aws_sdk_bedrockruntime::Client::converse)
        .then_output(|| converse_output("x", SdkStopReason::EndTurn));
    let b = backend(&[&converse], &[], Duration::from_secs(60));
    let request = pb::GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        system: "Be brief".into(),
        parameters: Some(pb::GenerationParameters {
            max_tokens: Some(9000),
            stop_sequences: vec!["STOP".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let checked = validation::generate_request(request, &Limits::default()).unwrap();
    let err = checked.resolve(b.models(), b.accepts_simulation()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["parameters.max_tokens", "parameters.stop_sequences", "system"]);
    assert_eq!(converse.num_calls(), 0);
}
