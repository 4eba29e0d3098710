//! Per-key policies from the keys file (`--keys-file`), as callers see them:
//! model allow-lists (ListModels and GetModel included), withheld RPCs, a
//! default service tier, a key's own limits over the flags, a daily token
//! budget, the admin service's usage report, keys kept as SHA-256 digests,
//! and the file reloaded while serving. In process, over the simulated
//! backend, with the local limits store.

mod common;

use bedrock_gateway::auth::reload::KeySource;
use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::limits::LimitsConfig;
use bedrock_gateway::pb::{
    admin_service_client::AdminServiceClient, generate_stream_response::Event, CountTokensRequest,
    GenerateRequest, GenerateResponse, GenerationParameters, GetModelRequest, GetUsageRequest,
    GetUsageResponse, ListModelsRequest, ServiceTier,
};
use bedrock_gateway::server::ServerConfig;
use common::{quick_config, stream_request, TestServer};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

const TITAN: &str = "amazon.titan-text-express-v1";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";
/// Counts tokens (Claude 3.5 and later), so CountTokens refusals are the
/// policy's, not the model's.
const CLAUDE: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
/// An application inference profile over Titan, declared to the simulation.
const TITAN_PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/titan-cost-centre-7";

const OPS_KEY: &str = "ops-key-0123456789abcdef";
const TITAN_KEY: &str = "titan-only-key-0123456789";
const NOVA_KEY: &str = "nova-lite-key-0123456789";
const NO_EXTRAS_KEY: &str = "no-extras-key-0123456789";
const FLEX_KEY: &str = "flex-key-0123456789abcdef";
const TIGHT_KEY: &str = "tight-key-0123456789abcdef";
const FLAGGED_KEY: &str = "flagged-key-0123456789abc";
const BUDGET_KEY: &str = "budget-key-0123456789abcd";
/// In the file only as its SHA-256 digest.
const SEARCH_KEY: &str = "search-key-0123456789abcd";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The keys file every test serves (each test starts its own gateway).
fn keys_file() -> String {
    format!(
        r#"
[[keys]]
name = "ops"
key = "{OPS_KEY}"
admin = true

[[keys]]
name = "titan-only"
key = "{TITAN_KEY}"
models = ["amazon.titan-*"]

[[keys]]
name = "nova-lite"
key = "{NOVA_KEY}"
models = ["{NOVA_LITE}"]

[[keys]]
name = "no-extras"
key = "{NO_EXTRAS_KEY}"
count_tokens = false
list_models = false

[[keys]]
name = "flex"
key = "{FLEX_KEY}"
service_tier = "flex"

[[keys]]
name = "tight"
key = "{TIGHT_KEY}"
requests_per_minute = 2

[[keys]]
name = "flagged"
key = "{FLAGGED_KEY}"

[[keys]]
name = "budget"
key = "{BUDGET_KEY}"
tokens_per_day = 100

[[keys]]
name = "search"
key_sha256 = "{search}"
requests_per_minute = 6
tokens_per_minute = 600
tokens_per_day = 1_000_000
tokens_per_month = 10_000_000
"#,
        search = sha256_hex(SEARCH_KEY)
    )
}

fn keys() -> Arc<ApiKeys> {
    Arc::new(ApiKeys::from_toml(&keys_file(), "keys.toml").unwrap())
}

fn simulated() -> Arc<SimulatedBackend> {
    Arc::new(SimulatedBackend::new(SimulatedConfig {
        application_profiles: vec![(TITAN_PROFILE.into(), TITAN.into())],
        ..Default::default()
    }))
}

/// The gateway with the keys file in force and `config`'s other settings.
async fn gateway(config: ServerConfig) -> TestServer {
    let config = ServerConfig {
        auth: AuthPolicy {
            keys: Some(keys()),
            protect_health_and_reflection: false,
        },
        ..config
    };
    TestServer::start(simulated(), config).await
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    r
}

fn poem(model: &str) -> GenerateRequest {
    GenerateRequest {
        model_id: model.into(),
        prompt: "Write a poem about sky".into(),
        ..Default::default()
    }
}

/// A poem of at most 20 tokens: keys with token limits reserve the most
/// output a call may produce, and a model's own maximum would not fit.
fn short_poem(model: &str) -> GenerateRequest {
    GenerateRequest {
        parameters: Some(GenerationParameters {
            max_tokens: Some(20),
            ..Default::default()
        }),
        ..poem(model)
    }
}

async fn generate(
    server: &TestServer,
    key: &str,
    r: GenerateRequest,
) -> Result<GenerateResponse, Status> {
    server
        .client()
        .await
        .generate(with_key(r, key))
        .await
        .map(|r| r.into_inner())
}

async fn usage(channel: Channel, key: &str, name: &str) -> Result<GetUsageResponse, Status> {
    AdminServiceClient::new(channel)
        .get_usage(with_key(
            GetUsageRequest {
                key_name: name.into(),
            },
            key,
        ))
        .await
        .map(|r| r.into_inner())
}

/// Asserts a PERMISSION_DENIED for a model outside the key's list: it names
/// the key, the model and the patterns, and carries a ResourceInfo.
fn assert_model_denied(status: &Status, key_name: &str, model: &str, patterns: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let m = status.message();
    assert!(m.contains(&format!("`{key_name}`")), "names the key: {m}");
    assert!(m.contains(&format!("`{model}`")), "names the model: {m}");
    assert!(m.contains(patterns), "names the patterns: {m}");
    let info = status
        .get_details_resource_info()
        .expect("a ResourceInfo detail");
    assert_eq!(info.resource_name, model, "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_allow_list_limits_every_rpc_to_its_models() {
    let server = gateway(quick_config()).await;
    let mut client = server.client().await;

    // Titan is on the list; Claude is not, and nothing reaches the model.
    let r = generate(&server, TITAN_KEY, poem(TITAN)).await.unwrap();
    assert!(!r.text.is_empty());
    let refused = generate(&server, TITAN_KEY, poem(CLAUDE))
        .await
        .unwrap_err();
    assert_model_denied(&refused, "titan-only", CLAUDE, "amazon.titan-*");

    // The stream is refused the same way, before it starts.
    let refused = client
        .generate_stream(with_key(stream_request(poem(CLAUDE)), TITAN_KEY))
        .await
        .unwrap_err();
    assert_model_denied(&refused, "titan-only", CLAUDE, "amazon.titan-*");

    // CountTokens on a model outside the list: the policy refuses, not the
    // model (which counts tokens, as the open key shows).
    let count = |key: &str| {
        with_key(
            CountTokensRequest {
                model_id: CLAUDE.into(),
                prompt: "Hello".into(),
                ..Default::default()
            },
            key,
        )
    };
    let refused = client.count_tokens(count(TITAN_KEY)).await.unwrap_err();
    assert_model_denied(&refused, "titan-only", CLAUDE, "amazon.titan-*");
    assert!(
        client
            .count_tokens(count(OPS_KEY))
            .await
            .unwrap()
            .into_inner()
            .input_tokens
            > 0
    );

    // ListModels shows only Titan models; the open key sees more.
    let listed = |key: &'static str| {
        let mut client = client.clone();
        async move {
            let models = client
                .list_models(with_key(ListModelsRequest::default(), key))
                .await
                .unwrap()
                .into_inner()
                .models;
            models.into_iter().map(|m| m.model_id).collect::<Vec<_>>()
        }
    };
    let titans = listed(TITAN_KEY).await;
    assert!(titans.iter().any(|m| m == TITAN), "{titans:?}");
    assert!(
        titans.iter().all(|m| m.starts_with("amazon.titan-")),
        "{titans:?}"
    );
    let all = listed(OPS_KEY).await;
    assert!(
        all.iter().any(|m| m == CLAUDE) && all.len() > titans.len(),
        "{all:?}"
    );
    // An exact ID allows that model only, not its provisioned variants.
    assert_eq!(listed(NOVA_KEY).await, [NOVA_LITE]);

    // GetModel: Titan answers, Claude is refused with the same message.
    let get = |id: &str| {
        with_key(
            GetModelRequest {
                model_id: id.into(),
            },
            TITAN_KEY,
        )
    };
    let m = client
        .get_model(get(TITAN))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(m.model_id, TITAN);
    let refused = client.get_model(get(CLAUDE)).await.unwrap_err();
    assert_model_denied(&refused, "titan-only", CLAUDE, "amazon.titan-*");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_judged_by_the_model_behind_them() {
    let server = gateway(quick_config()).await;

    // An application profile over Titan: its ARN matches no pattern, its
    // foundation model does.
    let r = generate(&server, TITAN_KEY, poem(TITAN_PROFILE))
        .await
        .unwrap();
    assert_eq!(
        (r.invoked_model_id.as_str(), r.resolved_model_id.as_str()),
        (TITAN_PROFILE, TITAN)
    );
    let refused = generate(&server, NOVA_KEY, poem(TITAN_PROFILE))
        .await
        .unwrap_err();
    assert_model_denied(&refused, "nova-lite", TITAN_PROFILE, NOVA_LITE);

    // A system (cross-region) profile over Nova Lite, for a key that names
    // only the model.
    let system = format!("us.{NOVA_LITE}");
    let r = generate(&server, NOVA_KEY, poem(&system)).await.unwrap();
    assert_eq!(r.resolved_model_id, NOVA_LITE);
    let refused = generate(&server, TITAN_KEY, poem(&system))
        .await
        .unwrap_err();
    assert_model_denied(&refused, "titan-only", &system, "amazon.titan-*");
    let claude_profile = format!("us.{CLAUDE}");
    let refused = generate(&server, TITAN_KEY, poem(&claude_profile))
        .await
        .unwrap_err();
    assert_model_denied(&refused, "titan-only", &claude_profile, "amazon.titan-*");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_rpcs_are_refused_naming_the_setting_that_allows_them() {
    let server = gateway(quick_config()).await;
    let mut client = server.client().await;

    let count = CountTokensRequest {
        model_id: CLAUDE.into(),
        prompt: "Hello".into(),
        ..Default::default()
    };
    let refused = client
        .count_tokens(with_key(count.clone(), NO_EXTRAS_KEY))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("`no-extras`"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("`count_tokens = true`"),
        "{}",
        refused.message()
    );

    let refused = client
        .list_models(with_key(ListModelsRequest::default(), NO_EXTRAS_KEY))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("`list_models = true`"),
        "{}",
        refused.message()
    );
    let refused = client
        .get_model(with_key(
            GetModelRequest {
                model_id: TITAN.into(),
            },
            NO_EXTRAS_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("`list_models = true`"),
        "{}",
        refused.message()
    );

    // Generation is what a key is for: still served, both ways.
    generate(&server, NO_EXTRAS_KEY, poem(TITAN)).await.unwrap();
    let mut stream = client
        .generate_stream(with_key(stream_request(poem(TITAN)), NO_EXTRAS_KEY))
        .await
        .unwrap()
        .into_inner();
    while let Some(event) = stream.next().await {
        event.unwrap();
    }
    // The same RPCs for a key without those settings.
    client.count_tokens(with_key(count, OPS_KEY)).await.unwrap();
    client
        .list_models(with_key(ListModelsRequest::default(), OPS_KEY))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_service_tier_applies_where_the_model_offers_it() {
    let server = gateway(quick_config()).await;
    let tier = |r: &GenerateResponse| ServiceTier::try_from(r.service_tier).unwrap();

    // Nova Lite offers flex: a call naming no tier is served on flex.
    let r = generate(&server, FLEX_KEY, poem(NOVA_LITE)).await.unwrap();
    assert_eq!(tier(&r), ServiceTier::Flex);
    // The same call from a key without a default names no tier.
    let r = generate(&server, OPS_KEY, poem(NOVA_LITE)).await.unwrap();
    assert_ne!(tier(&r), ServiceTier::Flex);
    // A call that names its own tier keeps it.
    let own = GenerateRequest {
        service_tier: ServiceTier::Priority as i32,
        ..poem(NOVA_LITE)
    };
    let r = generate(&server, FLEX_KEY, own).await.unwrap();
    assert_eq!(tier(&r), ServiceTier::Priority);
    // Titan offers no flex: served on its default, not refused.
    let r = generate(&server, FLEX_KEY, poem(TITAN)).await.unwrap();
    assert_ne!(tier(&r), ServiceTier::Flex);

    // Streams get the default too.
    let mut stream = server
        .client()
        .await
        .generate_stream(with_key(stream_request(poem(NOVA_LITE)), FLEX_KEY))
        .await
        .unwrap()
        .into_inner();
    let mut served = None;
    while let Some(event) = stream.next().await {
        if let Some(Event::Complete(c)) = event.unwrap().event {
            served = Some(c.service_tier);
        }
    }
    assert_eq!(served, Some(ServiceTier::Flex as i32));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_own_request_limit_overrides_the_flag() {
    let config = ServerConfig {
        rate_limits: LimitsConfig {
            requests_per_minute: 3,
            ..Default::default()
        },
        ..quick_config()
    };
    let server = gateway(config).await;

    // `tight` has its own 2 per minute.
    for _ in 0..2 {
        generate(&server, TIGHT_KEY, poem(TITAN)).await.unwrap();
    }
    let refused = generate(&server, TIGHT_KEY, poem(TITAN)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let m = refused.message();
    assert!(
        m.contains("key `tight` is over its 2 requests per minute"),
        "{m}"
    );
    assert!(m.contains("requests_per_minute in the keys file"), "{m}");
    assert!(refused.get_details_retry_info().is_some());

    // `flagged` has none of its own: the flag's 3.
    for _ in 0..3 {
        generate(&server, FLAGGED_KEY, poem(TITAN)).await.unwrap();
    }
    let refused = generate(&server, FLAGGED_KEY, poem(TITAN))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let m = refused.message();
    assert!(
        m.contains("key `flagged` is over its 3 requests per minute"),
        "{m}"
    );
    assert!(m.contains("--rate-limit-requests-per-minute"), "{m}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_budget_is_spent_then_refused_until_utc_midnight() {
    let server = gateway(quick_config()).await;
    let asking = short_poem(TITAN);
    // Each call reserves its estimated input plus 20 and is charged its
    // usage; a budget of 100 holds a few.
    let mut spent = 0u64;
    let mut served = 0;
    let refused = loop {
        assert!(
            served < 10,
            "a budget of 100 tokens served {served} calls of ~25"
        );
        match generate(&server, BUDGET_KEY, asking.clone()).await {
            Ok(r) => {
                spent += u64::from(r.usage.unwrap().total_tokens);
                served += 1;
            }
            Err(status) => break status,
        }
    };
    assert!(served >= 1, "the first call fits the budget: {refused:?}");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let m = refused.message();
    assert!(
        m.contains(&format!(
            "key `budget` has used {spent} of its 100 tokens today (UTC)"
        )),
        "{m}"
    );
    assert!(m.contains("tokens_per_day"), "{m}");
    let tomorrow = Periods::at(SystemTime::now()).day_end;
    assert!(
        m.contains(&format!("renews at {}", rfc3339(tomorrow))),
        "{m}"
    );
    let retry = refused
        .get_details_retry_info()
        .expect("RetryInfo")
        .retry_delay
        .unwrap();
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(86_400),
        "{retry:?}"
    );

    // Another key is untouched.
    generate(&server, OPS_KEY, asking).await.unwrap();
    server.stop().await;
}

/// The UTC day and month around an instant, as Unix seconds.
#[derive(Debug, PartialEq, Eq)]
struct Periods {
    day_start: i64,
    day_end: i64,
    month_start: i64,
    month_end: i64,
}

impl Periods {
    fn at(t: SystemTime) -> Periods {
        let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let day = secs.div_euclid(86_400);
        let (y, m, _) = civil_from_days(day);
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        Periods {
            day_start: day * 86_400,
            day_end: (day + 1) * 86_400,
            month_start: days_from_civil(y, m, 1) * 86_400,
            month_end: days_from_civil(ny, nm, 1) * 86_400,
        }
    }
}

/// The proleptic Gregorian date of a day since 1970-01-01 (H. Hinnant's
/// algorithm), so the test needs no date crate.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day since 1970-01-01 of a date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A midnight as the gateway writes it: `2026-11-27T00:00:00Z`.
fn rfc3339(unix_midnight: i64) -> String {
    let (y, m, d) = civil_from_days(unix_midnight.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

#[test]
fn the_date_helpers_agree_with_known_dates() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    assert_eq!(rfc3339(1_795_737_600), "2026-11-27T00:00:00Z");
    let p = Periods::at(UNIX_EPOCH + Duration::from_secs(1_796_000_000)); // 2026-11-30T...
    assert_eq!(
        (rfc3339(p.month_start), rfc3339(p.month_end)),
        ("2026-11-01T00:00:00Z".into(), "2026-12-01T00:00:00Z".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_key_reads_another_keys_usage() {
    let server = gateway(quick_config()).await;
    let before = Periods::at(SystemTime::now());
    let r = generate(&server, SEARCH_KEY, short_poem(TITAN))
        .await
        .unwrap();
    let total = u64::from(r.usage.unwrap().total_tokens);
    assert!(total > 0);

    // The call is settled against its usage after it answers: read until
    // the reservation has become the usage (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    let u = loop {
        let u = usage(server.channel().await, OPS_KEY, "search")
            .await
            .unwrap();
        if u.tokens_today.as_ref().unwrap().used == total || Instant::now() > deadline {
            break u;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let after = Periods::at(SystemTime::now());
    assert_eq!(u.key_name, "search");
    assert_eq!(u.limits_store, "local");

    let rpm = u.requests_per_minute.unwrap();
    // 6 per minute is one per 10 s: the call's unit is not back yet.
    assert_eq!((rpm.limit, rpm.available), (6, 5), "{rpm:?}");
    let tpm = u.tokens_per_minute.unwrap();
    assert_eq!(tpm.limit, 600);
    assert!(
        tpm.available >= 600 - total && tpm.available < 600,
        "{tpm:?} after {total} tokens"
    );

    let secs = |t: &Option<prost_types::Timestamp>| t.as_ref().expect("a timestamp").seconds;
    let day = u.tokens_today.unwrap();
    assert_eq!(
        (day.limit, day.used, day.remaining),
        (1_000_000, total, 1_000_000 - total),
        "{day:?}"
    );
    let month = u.tokens_this_month.unwrap();
    assert_eq!(
        (month.limit, month.used, month.remaining),
        (10_000_000, total, 10_000_000 - total),
        "{month:?}"
    );
    let seen = Periods {
        day_start: secs(&day.period_start),
        day_end: secs(&day.renews_at),
        month_start: secs(&month.period_start),
        month_end: secs(&month.renews_at),
    };
    assert!(seen == before || seen == after, "{seen:?} vs {after:?}");

    // A key that never called has spent nothing, and limits of 0 mean none.
    let idle = usage(server.channel().await, OPS_KEY, "titan-only")
        .await
        .unwrap();
    assert_eq!(idle.tokens_today.unwrap().used, 0);
    assert_eq!(idle.requests_per_minute.unwrap().limit, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_service_refuses_everyone_else() {
    let server = gateway(quick_config()).await;
    let refused = usage(server.channel().await, TITAN_KEY, "search")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("`titan-only`"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("`admin = true`"),
        "{}",
        refused.message()
    );

    // No key at all: not authenticated.
    let refused = AdminServiceClient::new(server.channel().await)
        .get_usage(GetUsageRequest {
            key_name: "search".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    let missing = usage(server.channel().await, OPS_KEY, "nobody")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(
        missing.message().contains("`nobody`"),
        "{}",
        missing.message()
    );
    let empty = usage(server.channel().await, OPS_KEY, "")
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    let v = empty
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations;
    assert_eq!(v[0].field, "key_name", "{v:?}");
    server.stop().await;

    // Without keys (authentication off) nobody is an admin.
    let open = TestServer::start(simulated(), quick_config()).await;
    let refused = AdminServiceClient::new(open.channel().await)
        .get_usage(GetUsageRequest {
            key_name: "anonymous".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("admin = true"),
        "{}",
        refused.message()
    );
    // Generation is open there, as before.
    open.client().await.generate(poem(TITAN)).await.unwrap();
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_stored_as_its_digest_authenticates_with_the_key() {
    let server = gateway(quick_config()).await;
    generate(&server, SEARCH_KEY, short_poem(TITAN))
        .await
        .unwrap();
    // The digest is not a key.
    let refused = generate(&server, &sha256_hex(SEARCH_KEY), poem(TITAN))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let refused = generate(&server, "search-key-0123456789abcX", poem(TITAN))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    server.stop().await;
}

/// Every log line of this test process from the first call on: the reload
/// test reads what the watcher logged. (Other tests' servers log here too,
/// which does no harm.)
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other subscriber in this test binary");
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text(logs: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

/// Replaces the file whole (write, then rename), as a ConfigMap update does,
/// so the watcher never reads half a file.
fn replace_file(path: &std::path::Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// Polls `check` every 20 ms until it holds, failing after 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_file_is_reloaded_while_serving_and_a_broken_one_is_ignored() {
    let logs = captured_logs();
    const A: &str = "reload-a-0123456789abcdef";
    const B: &str = "reload-b-0123456789abcdef";
    let entry = |name: &str, key: &str, extra: &str| {
        format!("[[keys]]\nname = \"{name}\"\nkey = \"{key}\"\n{extra}\n")
    };
    let ops = entry("ops", OPS_KEY, "admin = true");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let first = format!("{ops}{}", entry("a", A, ""));
    std::fs::write(&path, &first).unwrap();
    let config = ServerConfig {
        auth: AuthPolicy {
            keys: Some(Arc::new(ApiKeys::from_toml(&first, "keys.toml").unwrap())),
            protect_health_and_reflection: false,
        },
        keys_source: Some(KeySource::Toml(path.clone())),
        keys_reload_interval: Duration::from_millis(50),
        ..quick_config()
    };
    let server = TestServer::start(simulated(), config).await;
    let code = |key: &'static str| {
        let server = &server;
        async move {
            match generate(server, key, poem(TITAN)).await {
                Ok(_) => Code::Ok,
                Err(s) => s.code(),
            }
        }
    };
    assert_eq!(code(A).await, Code::Ok);
    assert_eq!(code(B).await, Code::Unauthenticated);

    // A key added (with a model list): it works, under its policy, and the
    // admin service knows it.
    replace_file(
        &path,
        &format!(
            "{ops}{}{}",
            entry("a", A, ""),
            entry("b", B, "models = [\"amazon.titan-*\"]")
        ),
    );
    eventually("the added key works", || async {
        code(B).await == Code::Ok
    })
    .await;
    let refused = generate(&server, B, poem(CLAUDE)).await.unwrap_err();
    assert_model_denied(&refused, "b", CLAUDE, "amazon.titan-*");
    assert_eq!(
        usage(server.channel().await, OPS_KEY, "b")
            .await
            .unwrap()
            .key_name,
        "b"
    );
    assert_eq!(code(A).await, Code::Ok);

    // A key removed: refused from then on.
    replace_file(&path, &format!("{ops}{}", entry("b", B, "")));
    eventually("the removed key is refused", || async {
        code(A).await == Code::Unauthenticated
    })
    .await;
    assert_eq!(code(B).await, Code::Ok);
    assert_eq!(
        usage(server.channel().await, OPS_KEY, "a")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // A broken file (a key too short): logged, and the keys in force stay.
    let failures = |text: &str| text.matches("keys file not reloaded").count();
    let before = failures(&log_text(&logs));
    replace_file(&path, &format!("{ops}{}", entry("c", "short", "")));
    eventually("the broken file is logged", || async {
        failures(&log_text(&logs)) > before
    })
    .await;
    let text = log_text(&logs);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("keys file not reloaded"))
        .unwrap();
    assert!(
        line.contains("keys[1] (`c`)") && line.contains("at least 16"),
        "{line}"
    );
    assert!(
        line.contains(&path.display().to_string()),
        "names the file: {line}"
    );
    for key in [OPS_KEY, A, B] {
        assert!(!text.contains(key), "a key reached the logs");
    }
    assert_eq!(code(B).await, Code::Ok);
    assert_eq!(code(A).await, Code::Unauthenticated);
    generate(&server, OPS_KEY, poem(TITAN)).await.unwrap();
    server.stop().await;
}
