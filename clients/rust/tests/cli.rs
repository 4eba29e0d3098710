//! End-to-end tests: the real `bedrock-client` binary against the real
//! gateway (simulated backend), served in-process on 127.0.0.1.

mod common;

use common::{client, client_env, json, start_gateway, POEM};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_prints_the_text_and_temperature_zero_repeats_it() {
    let gw = start_gateway().await;
    let first = client(&gw, &["generate", "--temperature", "0", POEM]).await;
    first.assert_success();
    let second = client(&gw, &["generate", "--temperature", "0", "--prompt", POEM]).await;
    second.assert_success();

    assert_eq!(first.stdout, second.stdout);
    assert!(first.stdout.contains("sky"), "{first:#?}");
    assert!(first.stdout.lines().count() >= 12, "not a poem: {first:#?}");
    assert!(
        first.stdout.ends_with('\n') && !first.stdout.ends_with("\n\n"),
        "{first:#?}"
    );
    assert_eq!(first.stderr, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_json_shows_the_cut() {
    let gw = start_gateway().await;
    let full = client(&gw, &["generate", "--temperature", "0", POEM]).await;
    full.assert_success();
    let run = client(
        &gw,
        &[
            "generate",
            "--temperature",
            "0",
            "--max-tokens",
            "5",
            "--json",
            POEM,
        ],
    )
    .await;
    run.assert_success();
    let j = json(&run);
    assert_eq!(j["stop_reason"], "STOP_REASON_MAX_TOKENS", "{j:#}");
    assert_eq!(j["raw_stop_reason"], "max_tokens", "{j:#}");
    assert_eq!(j["usage"]["output_tokens"], 5, "{j:#}");
    assert_eq!(j["backend"], "simulated", "{j:#}");
    assert_eq!(
        j["invoked_model_id"], "amazon.titan-text-express-v1",
        "{j:#}"
    );
    let latency = j["backend_latency"].as_str().unwrap_or_default();
    assert!(
        latency.ends_with('s') && latency[..latency.len() - 1].parse::<f64>().is_ok(),
        "backend_latency {latency:?}"
    );
    let text = j["text"].as_str().unwrap();
    assert!(
        !text.is_empty() && full.stdout.starts_with(text),
        "{text:?} vs {full:#?}"
    );
    assert!(text.len() < full.stdout.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_prints_what_generate_prints_and_summarises_on_stderr() {
    let gw = start_gateway().await;
    let args = ["--temperature", "0", POEM];
    let unary = client(&gw, &[&["generate"][..], &args].concat()).await;
    unary.assert_success();
    let usage = client(&gw, &[&["generate", "--json"][..], &args].concat()).await;
    let output_tokens = json(&usage)["usage"]["output_tokens"].as_u64().unwrap();
    let streamed = client(&gw, &[&["stream"][..], &args].concat()).await;
    streamed.assert_success();

    assert_eq!(streamed.stdout, unary.stdout);
    let stderr = streamed.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "one summary line: {streamed:#?}");
    assert!(stderr.contains("STOP_REASON_END_TURN"), "{stderr}");
    assert!(
        stderr.contains(&format!("usage: 5 input + {output_tokens} output")),
        "{stderr}"
    );
    assert!(stderr.contains("backend: simulated"), "{stderr}");
    assert!(
        stderr.contains("model: amazon.titan-text-express-v1"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_midway_keeps_its_text_and_reports_the_error() {
    let gw = start_gateway().await;
    let run = client(
        &gw,
        &[
            "stream",
            "--temperature",
            "0",
            "--field",
            r#"gateway_simulation={"fail_with": "ModelStreamErrorException", "fail_after_tokens": 3}"#,
            POEM,
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    // Three tokens of text, then the line ended for the error.
    assert_eq!(run.stdout.split_whitespace().count(), 3, "{run:#?}");
    assert!(run.stdout.ends_with('\n'), "{run:#?}");
    assert!(run.stderr.starts_with("error: INTERNAL: "), "{run:#?}");
    assert!(
        run.stderr.contains("reason: ModelStreamErrorException"),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_filters_by_provider() {
    let gw = start_gateway().await;
    let all = client(&gw, &["models"]).await;
    all.assert_success();
    // Without the filter Anthropic is there, so its absence below means something.
    assert!(all.stdout.contains("Anthropic"), "{all:#?}");

    let amazon = client(&gw, &["models", "--provider", "Amazon"]).await;
    amazon.assert_success();
    let lines: Vec<&str> = amazon.stdout.lines().collect();
    let header: Vec<&str> = lines[0]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "MODEL ID",
            "PROVIDER",
            "NAME",
            "IN",
            "OUT",
            "STREAM",
            "INFERENCE",
            "STATUS"
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("amazon.titan-text-express-v1 ")),
        "{amazon:#?}"
    );
    assert!(!amazon.stdout.contains("Anthropic"), "{amazon:#?}");
    assert!(!amazon.stdout.contains("anthropic."), "{amazon:#?}");
    // Aligned: the provider column starts at the same place on every line.
    let col = lines[0].find("PROVIDER").unwrap();
    assert!(
        lines[1..].iter().all(|l| l[col..].starts_with("Amazon")),
        "{amazon:#?}"
    );

    let j = json(&client(&gw, &["models", "--provider", "amazon", "--json"]).await);
    let models = j["models"].as_array().unwrap();
    assert_eq!(models.len(), lines.len() - 1);
    assert!(
        models.iter().all(|m| m["provider_name"] == "Amazon"),
        "{j:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_shows_one_models_details() {
    let gw = start_gateway().await;
    let run = client(&gw, &["model", "amazon.titan-text-express-v1"]).await;
    run.assert_success();
    assert!(
        run.stdout
            .lines()
            .any(|l| l == "model_name: Titan Text G1 - Express"),
        "{run:#?}"
    );
    assert!(
        run.stdout.lines().any(|l| l == "provider_name: Amazon"),
        "{run:#?}"
    );
    assert!(run.stdout.lines().all(|l| l.contains(": ")), "{run:#?}");

    let j = json(&client(&gw, &["model", "amazon.titan-text-express-v1", "--json"]).await);
    assert_eq!(j["model"]["model_name"], "Titan Text G1 - Express", "{j:#}");
    assert_eq!(
        j["model"]["model_id"], "amazon.titan-text-express-v1",
        "{j:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_model_is_not_found() {
    let gw = start_gateway().await;
    let run = client(&gw, &["model", "nope"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.starts_with("error: NOT_FOUND: "), "{run:#?}");
    assert!(run.stderr.contains("nope"), "{run:#?}");
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_temperature_is_invalid_argument_with_its_field() {
    let gw = start_gateway().await;
    let run = client(&gw, &["generate", "--temperature", "1.5", "hi"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: INVALID_ARGUMENT: "),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("  parameters.temperature: ")),
        "the BadRequest violation is listed: {run:#?}"
    );
    assert!(run.stderr.contains("\n  reason: "), "{run:#?}");
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_reach_the_backend_and_errors_show_their_reason() {
    let gw = start_gateway().await;
    let run = client(
        &gw,
        &[
            "generate",
            "--field",
            r#"gateway_simulation={"fail_with": "ThrottlingException"}"#,
            "hi",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: RESOURCE_EXHAUSTED: "),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains("\n  reason: ThrottlingException (domain bedrock.amazonaws.com)"),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_make_a_conversation() {
    let gw = start_gateway().await;
    let run = client(
        &gw,
        &[
            "generate",
            "--message",
            "user:hello",
            "--message",
            "assistant:Hi! What shall I write?",
            "--message",
            &format!("user:{POEM}"),
        ],
    )
    .await;
    run.assert_success();
    assert!(run.stdout.contains("sky"), "{run:#?}");
    assert!(run.stdout.lines().count() >= 12, "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_is_sent_as_the_deadline() {
    let gw = start_gateway().await;
    let run = client(
        &gw,
        &[
            "--timeout",
            "200ms",
            "generate",
            "--field",
            r#"gateway_simulation={"latency_ms": 5000}"#,
            "hi",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: DEADLINE_EXCEEDED: "),
        "{run:#?}"
    );
    // The gateway, not the client's fallback, ended the call: it got the deadline.
    assert!(!run.stderr.contains("given up by the client"), "{run:#?}");
    assert!(run.elapsed < Duration::from_secs(4), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() {
    let gw = start_gateway().await;
    let run = client(&gw, &["health"]).await;
    run.assert_success();
    assert_eq!(run.stdout, "SERVING\n");

    // The address can also come from the environment.
    let run = client_env(
        &[
            "health",
            "--service",
            "bedrock.gateway.v1.TextGenerationService",
        ],
        &[("BEDROCK_CLIENT_ADDR", &gw.addr)],
    )
    .await;
    run.assert_success();
    assert_eq!(run.stdout, "SERVING\n");

    let run = client(&gw, &["health", "--service", "no.such.Service"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.starts_with("error: NOT_FOUND"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_fails_clearly() {
    // Bind and drop a listener to get a port that nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("http://127.0.0.1:{port}");
    let run = client_env(&["--addr", &addr, "health"], &[]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot connect to {addr}: ")),
        "{run:#?}"
    );
    assert!(run.stderr.to_lowercase().contains("refused"), "{run:#?}");
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_without_connecting() {
    // No gateway: a usage error must be found before any connection is tried.
    for args in [
        &["generate"][..],
        &["generate", "hi", "--prompt", "ho"],
        &["generate", "--message", "system:be nice"],
        &["generate", "--field", "novalue", "hi"],
        &["--timeout", "soon", "health"],
        &["--addr", "127.0.0.1:1", "health"],
        &["models", "--streaming", "maybe"],
    ] {
        let run = client_env(args, &[]).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:#?}");
        assert!(!run.stderr.contains("cannot connect"), "{args:?}: {run:#?}");
    }
}
