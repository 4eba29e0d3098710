//! The real binary's life: simulated by default offline, SIGTERM drains
//! in-flight streams and exits 0.

mod common;

use bedrock_gateway::pb::{generate_stream_response::Event, GenerateStreamRequest};
use common::GatewayProcess;
use futures::StreamExt;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_stream_finish_then_exits_zero() {
    let mut gw = GatewayProcess::start(
        &["--backend", "simulated", "--simulated-token-delay", "20ms", "--drain-timeout", "10s"],
        &[],
    );
    let mut client = gw.client().await;
    let mut stream = client
        .generate_stream(GenerateStreamRequest {
            model_id: "amazon.titan-text-express-v1".into(),
            prompt: "Write a poem about sky".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stream.next().await.unwrap().unwrap();

    gw.sigterm();
    let mut completed = false;
    let mut deltas = 1;
    while let Some(m) = stream.next().await {
        match m.expect("no error while draining").event.unwrap() {
            Event::Delta(_) => deltas += 1,
            Event::Complete(c) => {
                completed = true;
                assert_eq!(c.usage.unwrap().output_tokens, deltas);
            }
        }
    }
    assert!(completed, "the in-flight stream ran to its completion");
    assert!(deltas > 20);
    let code = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}

#[test]
fn help_explains_every_flag_and_its_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--listen", "--backend", "--region", "--max-input-bytes", "--drain-timeout", "--log-format"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(help.contains("BEDROCK_GATEWAY_LISTEN"));
    assert!(help.contains("[default: 127.0.0.1:50051]"));
}
