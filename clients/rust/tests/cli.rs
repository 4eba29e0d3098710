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

/// A model that takes images and tools.
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// A model with structured output.
const CLAUDE_4_5: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// The tools file of the tool tests: one tool whose input needs a city.
const WEATHER_TOOLS: &str = r#"[{
  "name": "get_weather",
  "description": "The current weather in a city",
  "input_schema": {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"]
  }
}]"#;

/// The first 8 hex digits of the bytes' SHA-256, as the simulated model
/// acknowledges files.
fn short_sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `data` to `name` in `dir` and returns the path as a string.
fn write_file(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A tool call line's parts: (name, id, input).
fn parse_tool_call_line(line: &str) -> (String, String, serde_json::Value) {
    let rest = line
        .strip_prefix("tool call ")
        .unwrap_or_else(|| panic!("not a tool call line: {line:?}"));
    let (name, rest) = rest.split_once(" (").unwrap();
    let (id, input) = rest.split_once("): ").unwrap();
    let input = serde_json::from_str(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    (name.to_owned(), id.to_owned(), input)
}

fn assert_tool_use_id(id: &str) {
    let tail = id.strip_prefix("tooluse_").unwrap_or_default();
    assert!(
        tail.len() == 22 && tail.bytes().all(|b| b.is_ascii_alphanumeric()),
        "not a tool-use id: {id:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_documents_arrive_whole() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(3000))
        .collect();
    let image = write_file(&dir, "cat.png", &png);
    let text = b"Minutes of the meeting.\n";
    let document = write_file(&dir, "my notes_v2.txt", text);
    let image_ack = format!(
        "[image png {} bytes sha256:{}]",
        png.len(),
        short_sha256(&png)
    );
    let document_ack = format!(
        "[document txt \"my notes-v2\" {} bytes sha256:{}]",
        text.len(),
        short_sha256(text)
    );

    let args = [
        "--model",
        CLAUDE,
        "--temperature",
        "0",
        "--image",
        &image,
        "--document",
        &document,
        "What is in these files?",
    ];
    let run = client(&gw, &[&["generate"][..], &args].concat()).await;
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], image_ack, "{run:#?}");
    assert_eq!(lines[1], document_ack, "{run:#?}");
    assert!(lines.len() > 2, "the answer follows the acks: {run:#?}");

    // The stream prints the same, and --json shows the text block.
    let streamed = client(&gw, &[&["stream"][..], &args].concat()).await;
    streamed.assert_success();
    assert_eq!(streamed.stdout, run.stdout);
    let j = json(&client(&gw, &[&["generate", "--json"][..], &args].concat()).await);
    assert!(j["text"].as_str().unwrap().starts_with(&image_ack), "{j:#}");
    assert!(
        j["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with(&image_ack),
        "{j:#}"
    );

    // An image alone, no prompt text, after a conversation.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--message",
            "user:Look at this",
            "--image",
            &image,
        ],
    )
    .await;
    run.assert_success();
    assert!(
        run.stdout.starts_with(&format!("{image_ack}\n")),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_for_a_text_only_model_is_refused_with_its_field() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let image = write_file(&dir, "cat.png", b"\x89PNG\r\n\x1a\nxyz");
    let run = client(&gw, &["generate", "--image", &image, "Describe it"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: INVALID_ARGUMENT: "),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("  messages[0].blocks[0]")),
        "{run:#?}"
    );
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_round_trip_from_the_shell() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = write_file(&dir, "tools.json", WEATHER_TOOLS.as_bytes());
    let chat = dir.path().join("chat.json");
    let chat = chat.to_str().unwrap();

    // 1. The model names the tool itself (AUTO): a sentence, then the call.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--save",
            chat,
            "Use get_weather: what is the weather in Paris?",
        ],
    )
    .await;
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert_eq!(lines[0], "I will call get_weather.", "{run:#?}");
    let (name, id, input) = parse_tool_call_line(lines[1]);
    assert_eq!(name, "get_weather");
    assert_tool_use_id(&id);
    assert!(
        input["city"].as_str().is_some_and(|c| !c.is_empty()),
        "{input}"
    );

    // The saved conversation holds the question and the call.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(chat).unwrap()).unwrap();
    assert_eq!(saved[0]["role"], "ROLE_USER", "{saved:#}");
    assert_eq!(saved[1]["role"], "ROLE_ASSISTANT", "{saved:#}");
    assert_eq!(saved[1]["blocks"][1]["tool_use"]["id"], id, "{saved:#}");

    // 2. The tool's result goes back; the model answers in text.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--messages",
            chat,
            "--tool-result",
            &format!(r#"{id}={{"conditions": "sunny"}}"#),
            "--json",
        ],
    )
    .await;
    run.assert_success();
    let j = json(&run);
    assert_eq!(
        j["text"], r#"The get_weather tool returned {"conditions":"sunny"}."#,
        "{j:#}"
    );
    assert_eq!(j["stop_reason"], "STOP_REASON_END_TURN", "{j:#}");

    // The same with a text result, as plain output.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--messages",
            chat,
            "--tool-result",
            &format!("{id}=sunny, 21 C"),
        ],
    )
    .await;
    run.assert_success();
    assert_eq!(
        run.stdout, "The get_weather tool returned sunny, 21 C.\n",
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_tool_call_shows_its_stop_reason_in_json() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = write_file(&dir, "tools.json", WEATHER_TOOLS.as_bytes());
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--tool-choice",
            "tool:get_weather",
            "--json",
            "What is the weather in Paris?",
        ],
    )
    .await;
    run.assert_success();
    let j = json(&run);
    assert_eq!(j["stop_reason"], "STOP_REASON_TOOL_USE", "{j:#}");
    assert_eq!(j["raw_stop_reason"], "tool_use", "{j:#}");
    assert_eq!(j["text"], "", "no text with a forced tool: {j:#}");
    let content = j["content"].as_array().unwrap();
    assert_eq!(content.len(), 1, "{j:#}");
    let call = &content[0]["tool_use"];
    assert_eq!(call["name"], "get_weather", "{j:#}");
    assert_tool_use_id(call["id"].as_str().unwrap());
    assert!(call["input"]["city"].is_string(), "{j:#}");

    // Without --json: only the call line.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--tool-choice",
            "any",
            "What is the weather in Paris?",
        ],
    )
    .await;
    run.assert_success();
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    assert_eq!(parse_tool_call_line(run.stdout.trim_end()).0, "get_weather");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_tool_call_is_printed_once_assembled() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = write_file(&dir, "tools.json", WEATHER_TOOLS.as_bytes());
    let chat = dir.path().join("chat.json");
    let chat = chat.to_str().unwrap();
    let run = client(
        &gw,
        &[
            "stream",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--save",
            chat,
            "Ask get_weather about Paris",
        ],
    )
    .await;
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert_eq!(lines[0], "I will call get_weather.", "{run:#?}");
    let (name, id, input) = parse_tool_call_line(lines[1]);
    assert_eq!(name, "get_weather");
    assert_tool_use_id(&id);
    assert!(input["city"].is_string(), "{input}");
    assert!(
        run.stderr.contains("stop: STOP_REASON_TOOL_USE (tool_use)"),
        "{run:#?}"
    );

    // --json: the start, at least two input fragments, the complete call.
    let run = client(
        &gw,
        &[
            "stream",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--tool-choice",
            "any",
            "--json",
            "What is the weather in Paris?",
        ],
    )
    .await;
    run.assert_success();
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let start = events
        .iter()
        .find_map(|e| e.get("tool_use_start"))
        .unwrap_or_else(|| panic!("no tool_use_start: {run:#?}"));
    assert_eq!(start["name"], "get_weather");
    assert_eq!(start["index"], 0, "no text before a forced call");
    let fragments: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("tool_use_delta"))
        .map(|d| d["input_json"].as_str().unwrap())
        .collect();
    assert!(fragments.len() >= 2, "{run:#?}");
    let assembled: serde_json::Value = serde_json::from_str(&fragments.concat()).unwrap();
    let complete = &events.last().unwrap()["complete"];
    assert_eq!(complete["stop_reason"], "STOP_REASON_TOOL_USE", "{run:#?}");
    assert_eq!(complete["tool_uses"][0]["id"], start["id"], "{run:#?}");
    assert_eq!(complete["tool_uses"][0]["input"], assembled, "{run:#?}");

    // The saved stream continues like a saved generate.
    let run = client(
        &gw,
        &[
            "stream",
            "--model",
            CLAUDE,
            "--tools",
            &tools,
            "--messages",
            chat,
            "--tool-result",
            &format!("{id}=rain"),
        ],
    )
    .await;
    run.assert_success();
    assert_eq!(
        run.stdout, "The get_weather tool returned rain.\n",
        "{run:#?}"
    );
    assert!(run.stderr.contains("STOP_REASON_END_TURN"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_schema_shapes_the_answer() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = write_file(
        &dir,
        "schema.json",
        br#"{"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}}, "required": ["city", "population"]}"#,
    );
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            CLAUDE_4_5,
            "--json-schema",
            &schema,
            "--json-schema-name",
            "city_facts",
            "Tell me about Paris",
        ],
    )
    .await;
    run.assert_success();
    let answer: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {run:#?}"));
    assert!(answer["city"].is_string(), "{answer:#}");
    assert!(answer["population"].is_i64(), "{answer:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_usage_errors_exit_2_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let bmp = write_file(&dir, "scan.bmp", b"BM");
    let png = write_file(&dir, "cat.png", b"\x89PNG\r\n\x1a\n");
    let bad_tools = write_file(&dir, "tools.json", br#"[{"name": "get_weather"}]"#);
    let not_json = write_file(&dir, "schema.json", b"{type: object}");
    for (args, says) in [
        (
            &["generate", "--image", &bmp, "hi"][..],
            "png, jpg, jpeg, gif, webp",
        ),
        (&["stream", "--document", &png, "hi"], "--image"),
        (
            &["generate", "--image", "/nonexistent/cat.png", "hi"],
            "cannot read",
        ),
        (&["generate", "--tools", &bad_tools, "hi"], "input_schema"),
        (
            &["generate", "--json-schema", &not_json, "hi"],
            "is not JSON",
        ),
        (&["generate", "--tool-choice", "any", "hi"], "--tools"),
        (
            &["generate", "--tool-result", "tooluse_1=ok", "hi"],
            "--tool-result",
        ),
        (&["generate", "--image", &png], "required"),
    ] {
        let run = client_env(args, &[]).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains(says),
            "{args:?} should say {says:?}: {run:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_explains_the_tool_round_trip() {
    for command in ["generate", "stream"] {
        let run = client_env(&[command, "--help"], &[]).await;
        run.assert_success();
        for flag in [
            "--image <PATH>",
            "--document <PATH>",
            "--tools <FILE>",
            "--tool-choice <auto|any|tool:NAME>",
            "--json-schema <FILE>",
            "--json-schema-name <NAME>",
            "--messages <FILE>",
            "--tool-result <ID=JSON_OR_TEXT>",
            "--save <FILE>",
            "A tool round trip from the shell",
        ] {
            assert!(
                run.stdout.contains(flag),
                "{command} --help lacks {flag}: {run:#?}"
            );
        }
    }
}
