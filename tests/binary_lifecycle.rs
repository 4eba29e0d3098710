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
            other => panic!("a text-only answer has only text events, got {other:?}"),
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
    use bedrock_gateway::pb::{GenerateRequest, GenerationParameters};
    const SECRET: &str = "zebra-unicorn-4711";
    // Temperature 0: the simulated poem is then the same on every run, and
    // it names its subject (at random temperature, about one poem in 280
    // draws no line that does).
    let parameters = || Some(GenerationParameters { temperature: Some(0.0), ..Default::default() });
    let request = || GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: format!("Write a poem about {SECRET}"),
        parameters: parameters(),
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
                parameters: parameters(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_logs_one_json_line_with_its_request_and_trace_ids() {
    use bedrock_gateway::pb::GenerateRequest;
    // JSON logs (GatewayProcess's default) at the default level: the
    // per-call span is off, so the line itself must carry the IDs an
    // operator searches by.
    let gw = GatewayProcess::start(&["--backend", "simulated"], &[]);
    let mut client = gw.client().await;
    let mut request = tonic::Request::new(GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        ..Default::default()
    });
    request.metadata_mut().insert("x-request-id", "log-line-check-1".parse().unwrap());
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    client.generate(request).await.unwrap();
    // Bounded wait for the log thread to write the line.
    let mut line = None;
    for _ in 0..50 {
        line = gw
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["request_id"] == "log-line-check-1");
        if line.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = line.unwrap_or_else(|| panic!("no log line for the call:\n{}", gw.log_text()));
    assert_eq!(line["message"], "call finished", "{line}");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
    assert_eq!(line["rpc"], "Generate", "{line}");
    assert_eq!(line["model"], "amazon.titan-text-express-v1", "{line}");
    assert_eq!(line["key"], "anonymous", "{line}");
    assert_eq!(line["code"], "OK", "{line}");
    assert!(line["latency_us"].as_u64().is_some_and(|us| us > 0), "{line}");
}

/// A bad configuration is reported before the listener binds: one message
/// naming the flag or the file line, a non-zero exit, and no "listening".
#[test]
fn configuration_errors_stop_the_gateway_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys.txt");
    std::fs::write(&keys_file, "# keys\nbilling:0123456789abcdef0123\nsearch:short\n").unwrap();
    let missing_cert = dir.path().join("nope.pem");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--api-keys".into(), "k:short".into()], "--api-keys (BEDROCK_GATEWAY_API_KEYS) line 1, entry 1: the key named `k` is 5 characters; use at least 16"),
        (vec!["--api-keys-file".into(), keys_file.display().to_string()], "line 3, entry 1: the key named `search`"),
        (
            vec!["--tls-cert".into(), missing_cert.display().to_string(), "--tls-key".into(), missing_cert.display().to_string()],
            "cannot read the TLS certificate",
        ),
    ];
    for (args, expected) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
            .args(["--backend", "simulated", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env_remove("BEDROCK_GATEWAY_API_KEYS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("configuration error") && stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("listening"), "{args:?} got as far as listening: {stderr}");
        assert_eq!(stderr.matches("configuration error").count(), 1, "one message: {stderr}");
    }
}

/// Pretty logs written to a pipe or file carry no colour escapes.
#[test]
fn pretty_logs_are_plain_when_stderr_is_not_a_terminal() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
        .args(["--backend", "simulated", "--listen", "127.0.0.1:0", "--log-format", "pretty"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening") {
                let _ = tx.send(seen.clone());
            }
        }
    });
    let seen = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("a listening line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!seen.contains('\u{1b}'), "colour escapes in piped logs:\n{seen:?}");
}
