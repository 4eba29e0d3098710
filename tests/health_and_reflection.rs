//! grpc.health.v1 (Check, Watch, readiness, NOT_SERVING on shutdown) and
//! server reflection v1 and v1alpha.

mod common;

use bedrock_gateway::pb::SERVICE_NAME;
use common::{quick_config, MockBackend, TestServer};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_for_liveness_and_the_service() {
    let server = TestServer::start(Arc::new(MockBackend::new(&[])), quick_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", SERVICE_NAME] {
        let status = health.check(check(service)).await.unwrap().into_inner().status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let unknown = health.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_backend_and_liveness_does_not() {
    let backend = Arc::new(MockBackend::new(&[]));
    backend.ready.store(false, Ordering::SeqCst);
    let server = TestServer::start(backend.clone(), quick_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    let status = |s: tonic_health::pb::HealthCheckResponse| s.status();
    assert_eq!(
        status(health.check(check(SERVICE_NAME)).await.unwrap().into_inner()),
        ServingStatus::NotServing
    );
    assert_eq!(
        status(health.check(check("")).await.unwrap().into_inner()),
        ServingStatus::Serving
    );

    // The backend becomes ready: Watch sees the change within a few probe intervals.
    let mut watch = health.watch(check(SERVICE_NAME)).await.unwrap().into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().status(), ServingStatus::NotServing);
    backend.ready.store(true, Ordering::SeqCst);
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("readiness change within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::Serving);
    drop(watch);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_not_serving_when_shutdown_begins() {
    let mut server = TestServer::start(Arc::new(MockBackend::new(&[])), quick_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    let mut service_watch = health.watch(check(SERVICE_NAME)).await.unwrap().into_inner();
    let mut live_watch = health.watch(check("")).await.unwrap().into_inner();
    assert_eq!(service_watch.next().await.unwrap().unwrap().status(), ServingStatus::Serving);
    assert_eq!(live_watch.next().await.unwrap().unwrap().status(), ServingStatus::Serving);

    server.begin_shutdown();
    for watch in [&mut service_watch, &mut live_watch] {
        let update = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("an update within 5 s")
            .unwrap()
            .unwrap();
        assert_eq!(update.status(), ServingStatus::NotServing);
    }
    drop(service_watch);
    drop(live_watch);
    drop(health);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_both_list_and_describe_the_service() {
    let server = TestServer::start(Arc::new(MockBackend::new(&[])), quick_config()).await;
    let channel = server.channel().await;

    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let mut client = ServerReflectionClient::new(channel.clone());
        let requests = vec![
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
            ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol(SERVICE_NAME.into())),
            },
        ];
        let mut responses = client
            .server_reflection_info(futures::stream::iter(requests))
            .await
            .unwrap()
            .into_inner();
        match responses.next().await.unwrap().unwrap().message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => {
                let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
                assert!(names.contains(&SERVICE_NAME), "{names:?}");
                assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        match responses.next().await.unwrap().unwrap().message_response.unwrap() {
            MessageResponse::FileDescriptorResponse(files) => {
                assert!(!files.file_descriptor_proto.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        match responses.next().await.unwrap().unwrap().message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => {
                assert!(list.service.iter().any(|s| s.name == SERVICE_NAME));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    server.stop().await;
}
