//! End-to-end tests of reasoning, prompt caching, guardrails, service tiers,
//! latency, request metadata and `count-tokens`: the real `bedrock-client`
//! binary against the real gateway (simulated backend), served in-process.
//! The expected answers are the simulated backend's documented behaviour:
//! reasoning blocks with a signature (redacted ones when the user text holds
//! `[[redacted]]`), a prompt cache that a first call writes and an identical
//! second call reads, a guardrail that intervenes on `[[guardrail]]`, the
//! tier and latency echoed, and CountTokens equal to Generate's input.

mod common;

use common::{client, client_env, json, start_gateway, POEM};

/// Reasoning, caching (5 minutes and 1 hour), guardrails and CountTokens,
/// through its US cross-region inference profile.
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Priority and flex tiers and latency-optimized inference.
const NOVA_PRO: &str = "amazon.nova-pro-v1:0";

const GUARDRAIL_TEXT: &str = "Sorry, the model cannot answer this question.";

/// A system prompt of exactly 1,500 tokens as the simulated backend counts
/// them (whitespace-led words): well over the shortest cacheable prefix.
fn long_system() -> String {
    "Answer briefly. ".repeat(750).trim_end().to_owned()
}

fn stdout_json_lines(run: &common::Run) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn saved(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_prints_before_the_answer_and_is_saved_for_replay() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.json");
    let chat = chat.to_str().unwrap();
    let reasoning = [
        "--model",
        SONNET,
        "--reasoning-budget",
        "1024",
        "--max-tokens",
        "2048",
    ];

    // Not a terminal: the reasoning under a heading, then the answer.
    let run = client(
        &gw,
        &[
            &["generate"][..],
            &reasoning,
            &["--save", chat, "Which is larger, 9.11 or 9.9?"],
        ]
        .concat(),
    )
    .await;
    run.assert_success();
    assert!(run.stdout.starts_with("Reasoning:\n"), "{run:#?}");
    let (thinking, answer) = run
        .stdout
        .split_once("\n\nAnswer:\n")
        .expect("an Answer heading");
    assert!(thinking.len() > "Reasoning:\n".len(), "{run:#?}");
    assert!(!answer.trim().is_empty(), "{run:#?}");
    assert!(
        !run.stdout.contains('\x1b'),
        "no escape codes off a terminal"
    );

    // --save keeps the reasoning block, signature included.
    let s = saved(chat);
    let block = &s[1]["blocks"][0]["reasoning"];
    assert!(
        block["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{s:#}"
    );
    assert!(
        block["signature"].as_str().is_some_and(|t| !t.is_empty()),
        "{s:#}"
    );

    // ... and it replays in the next turn.
    let run = client(
        &gw,
        &[
            &["generate"][..],
            &reasoning,
            &["--messages", chat, "--json", "Why?"],
        ]
        .concat(),
    )
    .await;
    run.assert_success();
    let j = json(&run);
    assert!(
        j["content"][0]["reasoning"]["signature"].is_string(),
        "{j:#}"
    );
    assert!(j["text"].as_str().is_some_and(|t| !t.is_empty()), "{j:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_signature_that_arrives_alone_is_kept() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.json");
    let chat = chat.to_str().unwrap();
    let reasoning = [
        "--model",
        SONNET,
        "--reasoning-budget",
        "1024",
        "--max-tokens",
        "2048",
    ];

    let run = client(
        &gw,
        &[
            &["stream"][..],
            &reasoning,
            &["--json", "Which is larger, 9.11 or 9.9?"],
        ]
        .concat(),
    )
    .await;
    run.assert_success();
    let events = stdout_json_lines(&run);
    let deltas: Vec<&serde_json::Value> = events
        .iter()
        .filter_map(|e| e.get("reasoning_delta"))
        .collect();
    assert!(!deltas.is_empty(), "{run:#?}");
    assert!(
        deltas
            .iter()
            .any(|d| d["text"] == "" && d["signature"].as_str().is_some_and(|s| !s.is_empty())),
        "a signature-only delta: {run:#?}"
    );
    let first_text = events
        .iter()
        .position(|e| e.get("delta").is_some())
        .unwrap();
    let last_reasoning = events
        .iter()
        .rposition(|e| e.get("reasoning_delta").is_some())
        .unwrap();
    assert!(last_reasoning < first_text, "{run:#?}");

    // As text: the reasoning as it comes, then the answer; --save keeps the
    // signature that came alone.
    let run = client(
        &gw,
        &[
            &["stream"][..],
            &reasoning,
            &["--save", chat, "Which is larger, 9.11 or 9.9?"],
        ]
        .concat(),
    )
    .await;
    run.assert_success();
    assert!(run.stdout.starts_with("Reasoning:\n"), "{run:#?}");
    assert!(run.stdout.contains("\n\nAnswer:\n"), "{run:#?}");
    let s = saved(chat);
    let block = &s[1]["blocks"][0]["reasoning"];
    assert!(
        block["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{s:#}"
    );
    assert!(
        block["signature"].as_str().is_some_and(|t| !t.is_empty()),
        "{s:#}"
    );
    assert!(s[1]["blocks"][1]["text"].is_string(), "{s:#}");

    let run = client(
        &gw,
        &[&["stream"][..], &reasoning, &["--messages", chat, "Why?"]].concat(),
    )
    .await;
    run.assert_success();
    assert!(run.stderr.contains("STOP_REASON_END_TURN"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_reasoning_is_never_shown_but_saved_and_replayed() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let reasoning = [
        "--model",
        SONNET,
        "--reasoning-budget",
        "1024",
        "--max-tokens",
        "2048",
    ];
    for command in ["generate", "stream"] {
        let chat = dir.path().join(format!("{command}.json"));
        let chat = chat.to_str().unwrap();
        let run = client(
            &gw,
            &[
                &[command][..],
                &reasoning,
                &["--save", chat, "Think it over [[redacted]] and answer."],
            ]
            .concat(),
        )
        .await;
        run.assert_success();
        assert!(
            run.stdout.contains("[redacted reasoning, "),
            "{command}: {run:#?}"
        );
        let s = saved(chat);
        let blocks = s[1]["blocks"].as_array().unwrap();
        assert!(
            blocks.iter().any(|b| b["reasoning"]["redacted"]
                .as_str()
                .is_some_and(|r| !r.is_empty())),
            "{command}: {s:#}"
        );
        let run = client(
            &gw,
            &[&[command][..], &reasoning, &["--messages", chat, "Go on."]].concat(),
        )
        .await;
        run.assert_success();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_call_reads_the_cache() {
    let gw = start_gateway().await;
    let system = long_system();
    let args = [
        "--model",
        SONNET,
        "--system",
        &system,
        "--cache-system",
        "--max-tokens",
        "20",
        "Is it sunny?",
    ];
    let first = client(&gw, &[&["generate"][..], &args].concat()).await;
    first.assert_success();
    assert!(
        first
            .stderr
            .contains("usage: 3 input + 0 cache read + 1500 cache write + "),
        "{first:#?}"
    );
    let second = client(&gw, &[&["generate", "--json"][..], &args].concat()).await;
    second.assert_success();
    let u = &json(&second)["usage"];
    assert_eq!(u["cache_read_input_tokens"], 1500, "{u:#}");
    assert_eq!(u["cache_write_input_tokens"], 0, "{u:#}");
    assert_eq!(u["input_tokens"], 3, "{u:#}");
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        1503 + u["output_tokens"].as_u64().unwrap(),
        "{u:#}"
    );
    // The stream's summary counts the same way.
    let streamed = client(&gw, &[&["stream"][..], &args].concat()).await;
    streamed.assert_success();
    assert!(
        streamed
            .stderr
            .contains("usage: 3 input + 1500 cache read + 0 cache write + "),
        "{streamed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_ttls_reach_every_point_the_client_adds() {
    let gw = start_gateway().await;
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools.json");
    std::fs::write(
        &tools,
        serde_json::json!([{
            "name": "get_weather",
            "description": "The current weather in a city. ".repeat(200),
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}
        }])
        .to_string(),
    )
    .unwrap();
    let system = long_system();
    let args = [
        "generate",
        "--model",
        SONNET,
        "--tools",
        tools.to_str().unwrap(),
        "--cache-tools",
        "--system",
        &system,
        "--cache-system",
        "--cache-ttl",
        "1h",
        "--max-tokens",
        "20",
        "--json",
        "Is it sunny?",
    ];
    let first = json(client(&gw, &args).await.assert_success());
    assert!(
        first["usage"]["cache_write_input_tokens"].as_u64().unwrap() > 1500,
        "{first:#}"
    );
    let second = json(client(&gw, &args).await.assert_success());
    assert_eq!(
        second["usage"]["cache_read_input_tokens"], first["usage"]["cache_write_input_tokens"],
        "{second:#}"
    );

    // A 1-hour point on a model without it is refused before the call.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "--system",
            "s",
            "--cache-system",
            "--cache-ttl",
            "1h",
            "hi",
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("INVALID_ARGUMENT"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_prints_what_generate_is_charged() {
    let gw = start_gateway().await;
    let run = client(&gw, &["count-tokens", "--model", SONNET, POEM]).await;
    run.assert_success();
    assert_eq!(run.stdout, "5\n", "{run:#?}");
    let j = json(&client(&gw, &["count-tokens", "--model", SONNET, "--json", POEM]).await);
    assert_eq!(j, serde_json::json!({"input_tokens": 5}));

    // With a cached system prompt: input + cache read + cache write.
    let system = long_system();
    let counted = client(
        &gw,
        &[
            "count-tokens",
            "--model",
            SONNET,
            "--system",
            &system,
            "Is it sunny?",
        ],
    )
    .await;
    counted.assert_success();
    for _ in 0..2 {
        let u = json(
            client(
                &gw,
                &[
                    "generate",
                    "--model",
                    SONNET,
                    "--system",
                    &system,
                    "--cache-system",
                    "--max-tokens",
                    "20",
                    "--json",
                    "Is it sunny?",
                ],
            )
            .await
            .assert_success(),
        )["usage"]
            .clone();
        let input = [
            "input_tokens",
            "cache_read_input_tokens",
            "cache_write_input_tokens",
        ]
        .iter()
        .map(|k| u[k].as_u64().unwrap())
        .sum::<u64>();
        assert_eq!(counted.stdout, format!("{input}\n"), "{u:#}");
    }

    // A model without token counting.
    let run = client(
        &gw,
        &[
            "count-tokens",
            "--model",
            "amazon.titan-text-express-v1",
            POEM,
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: FAILED_PRECONDITION: "),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("amazon.titan-text-express-v1"),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_intervention_shows_its_trace() {
    let gw = start_gateway().await;
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            SONNET,
            "--guardrail",
            "examplegr1:1",
            "--guardrail-trace",
            "enabled",
            "Tell me about [[guardrail]] things.",
        ],
    )
    .await;
    run.assert_success();
    assert_eq!(run.stdout, format!("{GUARDRAIL_TEXT}\n"), "{run:#?}");
    assert!(
        run.stderr
            .starts_with("stop: STOP_REASON_GUARDRAIL_INTERVENED; usage: "),
        "{run:#?}"
    );
    let (_, trace) = run
        .stderr
        .split_once("guardrail trace:\n")
        .unwrap_or_else(|| panic!("no trace: {run:#?}"));
    let trace: serde_json::Value = serde_json::from_str(trace).unwrap();
    assert!(
        trace.as_object().is_some_and(|t| !t.is_empty()),
        "{trace:#}"
    );

    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            SONNET,
            "--guardrail",
            "examplegr1:1",
            "--guardrail-trace",
            "enabled",
            "--json",
            "Tell me about [[guardrail]] things.",
        ],
    )
    .await;
    let j = json(run.assert_success());
    assert_eq!(
        j["stop_reason"], "STOP_REASON_GUARDRAIL_INTERVENED",
        "{j:#}"
    );
    assert!(j["guardrail_trace"].is_object(), "{j:#}");

    let run = client(
        &gw,
        &[
            "stream",
            "--model",
            SONNET,
            "--guardrail",
            "examplegr1:DRAFT",
            "--guardrail-trace",
            "enabled",
            "--guardrail-stream-mode",
            "async",
            "Tell me about [[guardrail]] things.",
        ],
    )
    .await;
    run.assert_success();
    assert!(run.stdout.contains(GUARDRAIL_TEXT), "{run:#?}");
    assert!(
        run.stderr
            .starts_with("stop: STOP_REASON_GUARDRAIL_INTERVENED"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("guardrail trace:\n{"), "{run:#?}");

    // Without the trigger there is nothing to say on stderr.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            SONNET,
            "--guardrail",
            "examplegr1:1",
            "Tell me about clouds.",
        ],
    )
    .await;
    run.assert_success();
    assert_eq!(run.stderr, "", "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_and_latency_served_are_shown_with_the_usage() {
    let gw = start_gateway().await;
    let args = [
        "--model",
        NOVA_PRO,
        "--service-tier",
        "flex",
        "--latency",
        "optimized",
        "--metadata",
        "team=search",
        "--metadata",
        "run=7",
        "--max-tokens",
        "20",
        POEM,
    ];
    let run = client(&gw, &[&["generate"][..], &args].concat()).await;
    run.assert_success();
    assert!(
        run.stderr
            .contains("; service tier: flex; latency mode: optimized"),
        "{run:#?}"
    );
    let j = json(
        client(&gw, &[&["generate", "--json"][..], &args].concat())
            .await
            .assert_success(),
    );
    assert_eq!(j["service_tier"], "SERVICE_TIER_FLEX", "{j:#}");
    assert_eq!(j["latency"], "LATENCY_OPTIMIZED", "{j:#}");
    let run = client(&gw, &[&["stream"][..], &args].concat()).await;
    run.assert_success();
    assert!(
        run.stderr
            .contains("; service tier: flex; latency mode: optimized"),
        "{run:#?}"
    );

    // A tier the model does not offer is refused before the call.
    let run = client(
        &gw,
        &[
            "generate",
            "--model",
            SONNET,
            "--service-tier",
            "flex",
            POEM,
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("INVALID_ARGUMENT"), "{run:#?}");
    assert!(run.stderr.contains("service_tier"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_the_new_flags_and_count_tokens() {
    for command in ["generate", "stream"] {
        let run = client_env(&[command, "--help"], &[]).await;
        run.assert_success();
        for flag in [
            "--reasoning-budget <N>",
            "--cache-system",
            "--cache-tools",
            "--cache-ttl <5m|1h>",
            "--guardrail <ID:VERSION>",
            "--guardrail-trace <GUARDRAIL_TRACE>",
            "--service-tier <SERVICE_TIER>",
            "--latency <LATENCY>",
            "--metadata <KEY=VALUE>",
        ] {
            assert!(
                run.stdout.contains(flag),
                "{command} --help lacks {flag}: {run:#?}"
            );
        }
        assert_eq!(
            run.stdout.contains("--guardrail-stream-mode"),
            command == "stream",
            "{run:#?}"
        );
    }
    let run = client_env(&["count-tokens", "--help"], &[]).await;
    run.assert_success();
    assert!(run.stdout.contains("--system <TEXT>"), "{run:#?}");
    assert!(run.stdout.contains("--tools <FILE>"), "{run:#?}");
    assert!(!run.stdout.contains("--temperature"), "{run:#?}");
}
