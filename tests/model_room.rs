//! The model room from the outside: every identifier form resolves, an
//! application inference profile carries its model's rules and names its
//! model, and the simulated and Bedrock backends refuse exactly the same
//! requests with the same field violations. The Bedrock backend runs the
//! real SDK against the in-repo fake Bedrock.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::pb::{
    generate_stream_response::Event, BedrockApi, GenerateRequest, GenerationParameters,
    GetModelRequest,
};
use common::{quick_config, stream_request, TestServer};
use fake_bedrock::FakeBedrock;
use futures::StreamExt;
use std::sync::Arc;
use tonic::Code;
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
const CLAUDE_37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
const PROFILE_ID: &str = "titan-cost-centre-7";

fn request(model_id: &str, parameters: GenerationParameters) -> GenerateRequest {
    GenerateRequest {
        model_id: model_id.into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(parameters),
        ..Default::default()
    }
}

fn stops(s: &[&str]) -> GenerationParameters {
    GenerationParameters {
        stop_sequences: s.iter().map(|x| x.to_string()).collect(),
        ..Default::default()
    }
}

/// The gateway over the Bedrock backend, pointed at `fake`.
async fn bedrock_gateway(fake: &FakeBedrock) -> TestServer {
    let backend = common::bedrock_backend(&fake.url(), 1).await;
    TestServer::start(Arc::new(backend), quick_config()).await
}

/// The gateway over the simulated backend, with the same application profile.
async fn simulated_gateway(profile_arn: &str) -> TestServer {
    let backend = SimulatedBackend::new(SimulatedConfig {
        application_profiles: vec![(profile_arn.into(), TITAN.into())],
        ..Default::default()
    });
    TestServer::start(Arc::new(backend), quick_config()).await
}

/// A call's outcome as a client sees it: the code, the message's violations
/// (field and description), or the answer's model IDs.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok { invoked: String, resolved: String },
    Refused { code: Code, violations: Vec<(String, String)> },
}

async fn outcome(server: &TestServer, r: GenerateRequest) -> Outcome {
    match server.client().await.generate(r).await {
        Ok(resp) => {
            let r = resp.into_inner();
            Outcome::Ok { invoked: r.invoked_model_id, resolved: r.resolved_model_id }
        }
        Err(status) => Outcome::Refused {
            code: status.code(),
            violations: status
                .get_details_bad_request()
                .map(|b| b.field_violations.into_iter().map(|v| (v.field, v.description)).collect())
                .unwrap_or_default(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_titan_application_profile_follows_titan_rules_and_names_its_model_on_bedrock() {
    let fake = FakeBedrock::start().await;
    let arn = fake.add_application_profile(PROFILE_ID, TITAN);
    let server = bedrock_gateway(&fake).await;
    let mut client = server.client().await;

    // Two stop sequences: Titan's rule, before any call.
    let status = client.generate(request(&arn, stops(&["User:", "|"]))).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let v = status.get_details_bad_request().expect("BadRequest").field_violations;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "parameters.stop_sequences");
    assert!(v[0].description.contains("Titan Text Express") && v[0].description.contains("at most 1"), "{v:?}");
    assert_eq!(fake.count("/converse"), 0, "nothing reached Bedrock");

    // One valid stop sequence: served, naming the ARN and the model behind it.
    let r = client.generate(request(&arn, stops(&["User:"]))).await.unwrap().into_inner();
    assert_eq!(r.invoked_model_id, arn);
    assert_eq!(r.resolved_model_id, TITAN);
    let sent: Vec<_> = fake.requests().into_iter().filter(|r| r.path.ends_with("/converse")).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].model_id.as_deref(), Some(arn.as_str()), "the ARN goes to Bedrock as given");

    // The stream's completion says the same.
    let mut stream = client
        .generate_stream(stream_request(request(&arn, stops(&["User:"]))))
        .await
        .unwrap()
        .into_inner();
    let mut complete = None;
    while let Some(event) = stream.next().await {
        if let Some(Event::Complete(c)) = event.unwrap().event {
            complete = Some(c);
        }
    }
    let complete = complete.expect("a completion");
    assert_eq!((complete.invoked_model_id.as_str(), complete.resolved_model_id.as_str()), (arn.as_str(), TITAN));

    // GetModel with the ARN answers with the model's summary.
    let m = client.get_model(GetModelRequest { model_id: arn.clone() }).await.unwrap().into_inner().model.unwrap();
    assert_eq!(m.model_id, TITAN);

    // The profile came with the catalogue: no GetInferenceProfile per call.
    let gets = fake.requests().iter().filter(|r| r.path.starts_with("/inference-profiles/")).count();
    assert_eq!(gets, 0, "a listed profile is never read one by one");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_forbidden_profiles_are_not_found_and_permission_denied() {
    let fake = FakeBedrock::start().await;
    let server = bedrock_gateway(&fake).await;
    let mut client = server.client().await;
    let missing = fake_bedrock::application_profile_arn("does-not-exist");
    let status = client.generate(request(&missing, stops(&[]))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains(&missing), "{}", status.message());

    // Another account's profile that these credentials may not read.
    let forbidden = "arn:aws:bedrock:us-east-1:999999999999:application-inference-profile/secret";
    fake.deny_profile(forbidden);
    let status = client.generate(request(forbidden, stops(&[]))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("GetInferenceProfile"), "{}", status.message());

    // Asked again, both refusals are remembered rather than read again.
    let before = fake.requests().iter().filter(|r| r.path.starts_with("/inference-profiles/")).count();
    for id in [missing.as_str(), forbidden] {
        let _ = client.generate(request(id, stops(&[]))).await.unwrap_err();
    }
    let after = fake.requests().iter().filter(|r| r.path.starts_with("/inference-profiles/")).count();
    assert_eq!(before, after);
    assert_eq!(fake.count("/converse"), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identifier_form_reaches_bedrock_and_reports_its_model() {
    let fake = FakeBedrock::start().await;
    let arn = fake.add_application_profile(PROFILE_ID, TITAN);
    let server = bedrock_gateway(&fake).await;
    let cases = [
        (TITAN.to_owned(), TITAN.to_owned(), TITAN),
        (format!("arn:aws:bedrock:us-east-1::foundation-model/{TITAN}"), format!("arn:aws:bedrock:us-east-1::foundation-model/{TITAN}"), TITAN),
        // Without on-demand throughput: routed to this region's profile.
        (CLAUDE_37.to_owned(), format!("us.{CLAUDE_37}"), CLAUDE_37),
        (format!("eu.{CLAUDE_37}"), format!("eu.{CLAUDE_37}"), CLAUDE_37),
        (
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE_37}"),
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE_37}"),
            CLAUDE_37,
        ),
        (arn.clone(), arn.clone(), TITAN),
    ];
    // Routing reads the catalogue the first call started fetching.
    let _ = server.client().await.list_models(bedrock_gateway::pb::ListModelsRequest::default()).await.unwrap();
    for (asked, invoked, resolved) in cases {
        assert_eq!(
            outcome(&server, request(&asked, stops(&[]))).await,
            Outcome::Ok { invoked, resolved: resolved.to_owned() },
            "{asked}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_refuse_exactly_the_same_requests() {
    let fake = FakeBedrock::start().await;
    let arn = fake.add_application_profile(PROFILE_ID, TITAN);
    let bedrock = bedrock_gateway(&fake).await;
    let simulated = simulated_gateway(&arn).await;
    let with = |model: &str, p: GenerationParameters, system: &str, api: BedrockApi| GenerateRequest {
        system: system.into(),
        api: api as i32,
        ..request(model, p)
    };
    let cases = [
        with(TITAN, stops(&["\n\n"]), "", BedrockApi::Converse),
        with(TITAN, stops(&["User:", "|"]), "", BedrockApi::InvokeModel),
        with(&arn, stops(&["END"]), "Be brief.", BedrockApi::Converse),
        with(TITAN, GenerationParameters { max_tokens: Some(9000), ..Default::default() }, "", BedrockApi::Converse),
        with(
            CLAUDE_37,
            GenerationParameters { temperature: Some(0.5), top_p: Some(0.9), ..Default::default() },
            "",
            BedrockApi::Converse,
        ),
        with("meta.llama3-8b-instruct-v1:0", stops(&["###"]), "", BedrockApi::InvokeModel),
        with("amazon.nova-pro-v1:0", stops(&[]), "", BedrockApi::InvokeModel),
        with("amazon.titan-embed-text-v2:0", stops(&[]), "", BedrockApi::Converse),
        with("arn:aws:s3:::bucket/key", stops(&[]), "", BedrockApi::Converse),
    ];
    for r in cases {
        let (b, s) = (outcome(&bedrock, r.clone()).await, outcome(&simulated, r.clone()).await);
        assert!(matches!(b, Outcome::Refused { code: Code::InvalidArgument, .. }), "{}: {b:?}", r.model_id);
        assert_eq!(b, s, "{} {:?}", r.model_id, r.parameters);
    }
    // And both serve the valid forms of the same requests.
    for r in [with(TITAN, stops(&["User:"]), "", BedrockApi::Converse), with(&arn, stops(&["|"]), "", BedrockApi::InvokeModel)] {
        let (b, s) = (outcome(&bedrock, r.clone()).await, outcome(&simulated, r.clone()).await);
        assert!(matches!(b, Outcome::Ok { .. }), "{b:?}");
        assert_eq!(b, s, "{}", r.model_id);
    }
    assert_eq!(fake.count("/converse") + fake.count("/invoke"), 2, "only the valid calls reached Bedrock");
    bedrock.stop().await;
    simulated.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_controls_are_refused_on_bedrock_and_never_sent() {
    use prost_types::{value::Kind, Struct, Value};
    let fake = FakeBedrock::start().await;
    let server = bedrock_gateway(&fake).await;
    let mut sim = Struct::default();
    sim.fields.insert("latency_ms".into(), Value { kind: Some(Kind::NumberValue(5.0)) });
    let mut fields = Struct::default();
    fields.fields.insert("gateway_simulation".into(), Value { kind: Some(Kind::StructValue(sim)) });
    let r = GenerateRequest { additional_model_request_fields: Some(fields), ..request(TITAN, stops(&[])) };
    let status = server.client().await.generate(r).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let v = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(v[0].field, "additional_model_request_fields.gateway_simulation");
    assert_eq!(fake.count("/converse"), 0);
    server.stop().await;
}
