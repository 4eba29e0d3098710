//! `bedrock-client usage`: the real binary against the real gateway (in
//! process, simulated backend) with a keys file's policies: an admin key
//! reads another key's limits and spend; other keys are refused.

mod common;

use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::server::ServerConfig;
use common::{client_env, json, start_gateway_with, Gateway, Run, POEM};
use std::sync::Arc;

const ADMIN_KEY: &str = "ops-key-0123456789abcdef";
const SEARCH_KEY: &str = "search-key-0123456789abcdef";

/// A gateway with an admin key and a key with limits; `search` has made one
/// generate call of at most 20 output tokens. Returns its total tokens.
async fn gateway_after_one_call() -> (Gateway, u64) {
    let keys = format!(
        r#"
[[keys]]
name = "ops"
key = "{ADMIN_KEY}"
admin = true

[[keys]]
name = "search"
key = "{SEARCH_KEY}"
requests_per_minute = 6
tokens_per_day = 100000
"#
    );
    let config = ServerConfig {
        auth: AuthPolicy {
            keys: Some(Arc::new(ApiKeys::from_toml(&keys, "keys.toml").unwrap())),
            protect_health_and_reflection: false,
        },
        ..ServerConfig::default()
    };
    let gw = start_gateway_with(config).await;
    let call = run(
        &gw,
        SEARCH_KEY,
        &["generate", "--json", "--max-tokens", "20", POEM],
    )
    .await;
    call.assert_success();
    let total = json(&call)["usage"]["total_tokens"].as_u64().unwrap();
    (gw, total)
}

/// Runs the client against `gw` with `key` in BEDROCK_CLIENT_API_KEY.
async fn run(gw: &Gateway, key: &str, args: &[&str]) -> Run {
    let mut all = vec!["--addr", gw.addr.as_str()];
    all.extend_from_slice(args);
    client_env(&all, &[("BEDROCK_CLIENT_API_KEY", key)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_shows_a_keys_limits_spend_and_renewal() {
    let (gw, total) = gateway_after_one_call().await;
    let text = run(&gw, ADMIN_KEY, &["usage", "--key", "search"]).await;
    text.assert_success();
    assert_eq!(text.stderr, "");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{text:#?}");
    assert_eq!(lines[0], "key: search");
    assert_eq!(lines[1], "limits store: local");
    // One per 10 s: the call's unit is not back yet.
    assert_eq!(lines[2], "requests per minute: 5 of 6 available");
    assert_eq!(lines[3], "tokens per minute: no limit");
    let today = format!(
        "tokens today (UTC): {total} used of 100000, {} left; renews at ",
        100_000 - total
    );
    assert!(lines[4].starts_with(&today), "{:?} vs {today:?}", lines[4]);
    assert!(lines[4].ends_with("T00:00:00Z"), "{}", lines[4]);
    let month = format!("tokens this month (UTC): {total} used, no limit; renews at ");
    assert!(lines[5].starts_with(&month), "{:?} vs {month:?}", lines[5]);
    assert!(lines[5].ends_with("-01T00:00:00Z"), "{}", lines[5]);

    let j = json(&run(&gw, ADMIN_KEY, &["usage", "--key", "search", "--json"]).await);
    assert_eq!(j["key_name"], "search", "{j:#}");
    assert_eq!(j["limits_store"], "local", "{j:#}");
    assert_eq!(j["requests_per_minute"]["limit"], 6, "{j:#}");
    assert_eq!(j["tokens_today"]["limit"], 100_000, "{j:#}");
    assert_eq!(j["tokens_today"]["used"], total, "{j:#}");
    assert_eq!(j["tokens_today"]["remaining"], 100_000 - total, "{j:#}");
    let start = j["tokens_today"]["period_start"].as_str().unwrap();
    let renews = j["tokens_today"]["renews_at"].as_str().unwrap();
    assert!(
        start.ends_with("T00:00:00Z") && renews.ends_with("T00:00:00Z"),
        "{j:#}"
    );
    assert!(lines[4].ends_with(renews), "text and JSON agree: {j:#}");
    let since = humantime::parse_rfc3339(start).unwrap();
    let until = humantime::parse_rfc3339(renews).unwrap();
    assert_eq!(
        until.duration_since(since).unwrap(),
        std::time::Duration::from_secs(86_400)
    );
    assert_eq!(j["tokens_this_month"]["limit"], 0, "{j:#}");
    assert_eq!(j["tokens_this_month"]["used"], total, "{j:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_refused_to_other_keys_and_names_unknown_ones() {
    let (gw, _) = gateway_after_one_call().await;
    let denied = run(&gw, SEARCH_KEY, &["usage", "--key", "search"]).await;
    assert_eq!(denied.code, Some(1), "{denied:#?}");
    assert_eq!(denied.stdout, "");
    assert!(
        denied.stderr.starts_with("error: PERMISSION_DENIED: ")
            && denied.stderr.contains("`admin = true`"),
        "{denied:#?}"
    );
    let unknown = run(&gw, ADMIN_KEY, &["usage", "--key", "nobody"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:#?}");
    assert!(
        unknown.stderr.starts_with("error: NOT_FOUND: ") && unknown.stderr.contains("`nobody`"),
        "{unknown:#?}"
    );
    // --key is required: a usage error before connecting.
    let missing = run(&gw, ADMIN_KEY, &["usage"]).await;
    assert_eq!(missing.code, Some(2), "{missing:#?}");
    assert!(missing.stderr.contains("--key <NAME>"), "{missing:#?}");
}
