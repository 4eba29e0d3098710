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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_and_completions_stay_out_of_logs_unless_asked() {
    use bedrock_gateway::pb::GenerateRequest;
    const SECRET: &str = "zebra-unicorn-4711";
    let request = || GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: format!("Write a poem about {SECRET}"),
        ..Default::default()
    };
    for (log_prompts, expect_logged) in [(false, false), (true, true)] {
        let mut args = vec!["--backend", "simulated", "--log-level", "debug"];
        if log_prompts {
            args.push("--log-prompts");
        }
        let gw = GatewayProcess::start(&args, &[]);
        let mut client = gw.client().await;
        let text = client.generate(request()).await.unwrap().into_inner().text;
        assert!(text.contains(SECRET), "the topic is echoed in the completion");
        let mut stream = client
            .generate_stream(GenerateStreamRequest {
                model_id: "amazon.titan-text-express-v1".into(),
                prompt: format!("Write a poem about {SECRET}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(m) = stream.next().await {
            m.unwrap();
        }
        // Give the log thread a moment to read the last lines.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let logs = gw.log_text();
        assert!(logs.contains("call finished"), "the calls were logged:\n{logs}");
        assert_eq!(logs.contains(SECRET), expect_logged, "--log-prompts={log_prompts}:\n{logs}");
    }
}
