//! Limits shared by a fleet on a real Redis (issue 13): two gateway replicas
//! against one `redis-server` enforce one key's limits together, a token
//! budget spent on one is refused on the other, a Redis outage falls back to
//! each replica's share (or fails closed) without touching health, and the
//! binary reloads its keys file without a restart.
//!
//! Each test starts its own `redis-server` (tests/common/redis.rs) on a free
//! loopback port and stops it; without the package they are skipped, unless
//! BEDROCK_GATEWAY_REQUIRE_REDIS=1 (set by scripts/test when it is installed).

mod common;

use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::limits::{RedisConfig, StoreConfig};
use bedrock_gateway::metrics::Metrics;
use bedrock_gateway::pb::admin_service_client::AdminServiceClient;
use bedrock_gateway::pb::text_generation_service_client::TextGenerationServiceClient;
use bedrock_gateway::pb::{
    GenerateRequest, GenerateResponse, GenerationParameters, GetUsageRequest, GetUsageResponse,
};
use bedrock_gateway::server::ServerConfig;
use common::redis::{free_port, RedisServer};
use common::{metric_value, quick_config, GatewayProcess, TestServer};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The admin key every keys file here has, to read usage.
const OPS_KEY: &str = "ops-key-0123456789abcdef";

/// A keys file: the admin key `ops`, then `entries` (TOML `[[keys]]` tables).
fn keys_file(entries: &str) -> String {
    format!("[[keys]]\nname = \"ops\"\nkey = \"{OPS_KEY}\"\nadmin = true\n\n{entries}")
}

/// One `[[keys]]` table: `name` with key `<name>-key-0123456789` and the
/// given extra lines (limits).
fn key_entry(name: &str, extra: &str) -> String {
    format!(
        "[[keys]]\nname = \"{name}\"\nkey = \"{}\"\n{extra}\n",
        secret(name)
    )
}

fn secret(name: &str) -> String {
    format!("{name}-key-0123456789")
}

fn request() -> GenerateRequest {
    GenerateRequest {
        model_id: "amazon.titan-text-express-v1".into(),
        prompt: "Write a poem about sky".into(),
        parameters: Some(GenerationParameters {
            max_tokens: Some(40),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    r
}

/// Polls `check` every 20 ms until it holds, for at most `within`.
async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gateway replica in this process over the simulated backend, with its
/// own metrics registry.
struct Replica {
    server: TestServer,
    metrics: Arc<Metrics>,
    channel: Channel,
}

impl Replica {
    async fn start(keys_text: &str, store: RedisConfig) -> Replica {
        let keys = Arc::new(ApiKeys::from_toml(keys_text, "fleet-test keys").unwrap());
        let metrics = Arc::new(Metrics::new());
        let config = ServerConfig {
            auth: AuthPolicy {
                keys: Some(keys),
                protect_health_and_reflection: false,
            },
            limits_store: StoreConfig::Redis(store),
            metrics: metrics.clone(),
            ..quick_config()
        };
        let backend = Arc::new(SimulatedBackend::new(SimulatedConfig {
            token_delay: Duration::ZERO,
            first_token_latency: Duration::ZERO,
            ..Default::default()
        }));
        let server = TestServer::start(backend, config).await;
        let channel = server.channel().await;
        Replica {
            server,
            metrics,
            channel,
        }
    }

    /// Two replicas sharing `store`, both admitting on Redis.
    async fn pair(keys_text: &str, store: RedisConfig) -> (Replica, Replica) {
        let a = Replica::start(keys_text, store.clone()).await;
        let b = Replica::start(keys_text, store).await;
        a.wait_for_redis().await;
        b.wait_for_redis().await;
        (a, b)
    }

    fn client(&self) -> TextGenerationServiceClient<Channel> {
        TextGenerationServiceClient::new(self.channel.clone())
    }

    async fn generate(&self, key: &str) -> Result<GenerateResponse, Status> {
        self.client()
            .generate(with_key(request(), key))
            .await
            .map(|r| r.into_inner())
    }

    async fn usage(&self, name: &str) -> GetUsageResponse {
        AdminServiceClient::new(self.channel.clone())
            .get_usage(with_key(
                GetUsageRequest {
                    key_name: name.into(),
                },
                OPS_KEY,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// The value of an unlabelled metric (0 when not rendered).
    fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics.render(), name).unwrap_or(0.0)
    }

    fn store_errors(&self) -> f64 {
        self.metric("bedrock_gateway_limit_store_errors_total")
    }

    fn fallback(&self) -> f64 {
        self.metric("bedrock_gateway_limit_store_fallback")
    }

    /// Waits until this replica admits on Redis (the store connects in the
    /// background): the admin service says so.
    async fn wait_for_redis(&self) {
        wait_until(
            Duration::from_secs(10),
            "the replica's limits store is redis",
            || async { self.usage("ops").await.limits_store == "redis" },
        )
        .await;
    }
}

/// A refusal for a key's limit: RESOURCE_EXHAUSTED with RetryInfo, naming
/// the keys file's field.
fn assert_limit_refusal(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("{field} in the keys file")),
        "{}",
        status.message()
    );
    assert!(
        status.get_details_retry_info().is_some(),
        "RetryInfo: {status:?}"
    );
}

/// Calls Generate `n` times at once for `key`, alternating between the
/// replicas; returns the successes, the refusals and how long it took.
async fn burst(replicas: &[&Replica], key: &str, n: usize) -> (usize, Vec<Status>, Duration) {
    let started = Instant::now();
    let calls = (0..n).map(|i| {
        let mut client = replicas[i % replicas.len()].client();
        let key = key.to_owned();
        async move { client.generate(with_key(request(), &key)).await }
    });
    let results = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    let mut ok = 0;
    let mut refused = Vec::new();
    for r in results {
        match r {
            Ok(_) => ok += 1,
            Err(s) => refused.push(s),
        }
    }
    (ok, refused, elapsed)
}

/// A request-rate limit the GCRA refills one unit every 60/limit seconds:
/// the most successes a burst lasting `elapsed` can get on `limit`.
fn most_admitted(limit: usize, elapsed: Duration) -> usize {
    limit + (elapsed.as_secs_f64() * limit as f64 / 60.0).floor() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_request_rate() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = keys_file(&key_entry("burst", "requests_per_minute = 60"));
    // A generous timeout here: this test proves the limit is shared, and a
    // loaded machine answering one of 200 scripts late would send that call
    // to the local fallback (the outage tests cover the 50 ms default).
    let store = RedisConfig {
        timeout: Duration::from_secs(2),
        ..RedisConfig::new(redis.url())
    };
    let (a, b) = Replica::pair(&keys, store).await;

    let (ok, refused, elapsed) = burst(&[&a, &b], &secret("burst"), 200).await;
    println!("burst of 200 over two replicas: {ok} admitted in {elapsed:?}");
    assert!(
        ok <= most_admitted(60, elapsed),
        "{ok} calls admitted across the fleet on a limit of 60 (burst took {elapsed:?})"
    );
    assert!(ok >= 55, "only {ok} of the key's 60 requests were admitted");
    assert_eq!(ok + refused.len(), 200);
    for status in &refused {
        assert_limit_refusal(status, "requests_per_minute");
        assert!(
            status
                .message()
                .contains("key `burst` is over its 60 requests per minute"),
            "{}",
            status.message()
        );
    }
    // Every admission went through Redis: none fell back to a replica's own
    // share, which would have let more through.
    assert_eq!((a.store_errors(), b.store_errors()), (0.0, 0.0));
    assert_eq!(b.usage("burst").await.limits_store, "redis");
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_spent_on_one_replica_is_refused_on_the_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let keys = keys_file(&key_entry("budget", "tokens_per_day = 300"));
    let store = RedisConfig {
        timeout: Duration::from_secs(2),
        ..RedisConfig::new(redis.url())
    };
    let (a, b) = Replica::pair(&keys, store).await;

    // Spend the day's budget on replica A, one call at a time. After each,
    // replica B's admin view shows the spend once the call is settled (the
    // settlement is sent after the answer, without waiting).
    let mut spent = 0u64;
    let refusal = loop {
        assert!(spent <= 300, "{spent} tokens spent on a budget of 300");
        match a.generate(&secret("budget")).await {
            Ok(answer) => {
                spent += u64::from(answer.usage.unwrap().total_tokens);
                wait_until(
                    Duration::from_secs(5),
                    "replica B sees the spend",
                    || async { b.usage("budget").await.tokens_today.unwrap().used == spent },
                )
                .await;
            }
            Err(status) => break status,
        }
    };
    assert!(spent > 0, "the budget admitted at least one call");
    assert_limit_refusal(&refusal, "tokens_per_day");
    // Replica B never served the key, yet refuses it: the budget is the fleet's.
    let on_b = b.generate(&secret("budget")).await.unwrap_err();
    assert_limit_refusal(&on_b, "tokens_per_day");
    assert!(
        on_b.message()
            .contains(&format!("has used {spent} of its 300 tokens today (UTC)")),
        "{}",
        on_b.message()
    );
    assert!(
        on_b.message().contains("the budget renews at"),
        "{}",
        on_b.message()
    );

    let usage = b.usage("budget").await;
    assert_eq!(usage.limits_store, "redis");
    let today = usage.tokens_today.unwrap();
    assert_eq!(
        (today.limit, today.used, today.remaining),
        (300, spent, 300 - spent)
    );
    assert!(today.renews_at.unwrap().seconds > today.period_start.unwrap().seconds);
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_falls_back_to_local_limits_and_recovers() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = keys_file(&format!(
        "{}{}",
        key_entry("steady", "requests_per_minute = 6000"),
        key_entry("after", "requests_per_minute = 10")
    ));
    // The default timeout, 50 ms, as deployed.
    let store = RedisConfig::new(redis.url());
    let (a, b) = Replica::pair(&keys, store).await;
    a.generate(&secret("steady")).await.unwrap();
    assert_eq!((a.store_errors(), a.fallback()), (0.0, 0.0));

    // Redis dies. Calls go on succeeding on each replica's local limits,
    // without waiting on Redis for longer than the timeout.
    redis.stop();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let started = Instant::now();
        replica
            .generate(&secret("steady"))
            .await
            .unwrap_or_else(|s| panic!("call {i} with Redis down: {s:?}"));
        slowest = slowest.max(started.elapsed());
    }
    println!("slowest call with Redis down: {slowest:?}");
    // 50 ms of --redis-timeout at most, plus the call itself on a machine
    // that may be busy with other tests.
    assert!(
        slowest < Duration::from_millis(500),
        "a call took {slowest:?} with Redis down"
    );
    for (name, replica) in [("A", &a), ("B", &b)] {
        assert!(
            replica.store_errors() >= 1.0,
            "replica {name} counts the store's failures"
        );
        assert_eq!(
            replica.fallback(),
            1.0,
            "replica {name} says it is on its fallback"
        );
        assert_eq!(
            replica.usage("steady").await.limits_store,
            "local (fallback)"
        );
    }

    // Redis comes back, empty, on the same port: both replicas return to it
    // (a probe every 200 ms), and a key's limit is the fleet's again.
    tokio::task::block_in_place(|| redis.start_again());
    for replica in [&a, &b] {
        wait_until(
            Duration::from_secs(10),
            "the fallback gauge returns to 0",
            || async { replica.fallback() == 0.0 },
        )
        .await;
        replica.wait_for_redis().await;
    }
    let errors = (a.store_errors(), b.store_errors());
    // One call at a time, so each admission is well within the 50 ms.
    let started = Instant::now();
    let mut ok = 0;
    for i in 0..30 {
        let replica = if i % 2 == 0 { &a } else { &b };
        match replica.generate(&secret("after")).await {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_limit_refusal(&status, "requests_per_minute");
                assert!(
                    !status.message().contains("share"),
                    "a shared refusal: {}",
                    status.message()
                );
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(
        (a.store_errors(), b.store_errors()),
        errors,
        "Redis answered every admission"
    );
    assert!(
        ok >= 10 && ok <= most_admitted(10, elapsed),
        "{ok} admitted on a fleet limit of 10 in {elapsed:?}"
    );
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_closed_refuses_generations_but_health_stays_serving() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let keys = keys_file(&key_entry("strict", "requests_per_minute = 600"));
    let store = RedisConfig {
        fail_closed: true,
        ..RedisConfig::new(redis.url())
    };
    let gateway = Replica::start(&keys, store).await;
    gateway.wait_for_redis().await;
    gateway.generate(&secret("strict")).await.unwrap();

    redis.stop();
    let refused = gateway.generate(&secret("strict")).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let message = refused.message();
    assert!(
        message.contains(&format!("the limits store (redis at {})", redis.url())),
        "{message}"
    );
    assert!(message.contains("--limits-store-fail-closed"), "{message}");
    assert!(
        refused.get_details_retry_info().is_some(),
        "RetryInfo: {refused:?}"
    );
    let scrape = gateway.metrics.render();
    assert!(
        scrape
            .lines()
            .any(|l| l.starts_with("bedrock_gateway_limit_refusals_total{")
                && l.contains("key=\"strict\"")
                && l.contains("limit=\"limits_store\"")),
        "{scrape}"
    );

    // Redis trouble is not the gateway's readiness: health stays SERVING.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let health = HealthClient::new(gateway.channel.clone())
        .check(HealthCheckRequest {
            service: bedrock_gateway::pb::SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    gateway.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_replica_enforces_its_share_of_the_fleet_limit() {
    // Nothing listens on this port: Redis is down from the start. (This
    // test needs no redis-server.)
    let store = RedisConfig {
        fleet_size_hint: Some(2),
        ..RedisConfig::new(format!("redis://127.0.0.1:{}", free_port()))
    };
    let keys = keys_file(&key_entry("shared", "requests_per_minute = 10"));
    let gateway = Replica::start(&keys, store).await;
    for i in 0..5 {
        gateway
            .generate(&secret("shared"))
            .await
            .unwrap_or_else(|s| panic!("call {i} of the replica's 5: {s:?}"));
    }
    let refused = gateway.generate(&secret("shared")).await.unwrap_err();
    assert_limit_refusal(&refused, "requests_per_minute");
    let message = refused.message();
    assert!(
        message.contains("key `shared` is over its 5 requests per minute"),
        "{message}"
    );
    assert!(
        message.contains("this replica enforces its share (1/2)"),
        "{message}"
    );
    assert_eq!(
        gateway.usage("shared").await.limits_store,
        "local (fallback)"
    );
    // The failed connection attempt (made in the background) is counted,
    // and the gauge operators alert on says the replica is on its fallback.
    wait_until(
        Duration::from_secs(5),
        "the store's failures are counted",
        || async { gateway.store_errors() >= 1.0 },
    )
    .await;
    wait_until(
        Duration::from_secs(5),
        "the fallback gauge is 1",
        || async { gateway.fallback() == 1.0 },
    )
    .await;
    gateway.server.stop().await;
}

/// Writes `text` to `path` as a ConfigMap update does: a new file renamed
/// over the old, so the gateway never reads half a file.
fn replace_file(path: &std::path::Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_its_keys_file_without_a_restart() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let first = key_entry("first", "requests_per_minute = 600");
    std::fs::write(&path, keys_file(&first)).unwrap();
    let url = redis.url();
    let gw = tokio::task::block_in_place(|| {
        GatewayProcess::start(
            &[
                "--backend",
                "simulated",
                "--simulated-token-delay",
                "0ms",
                "--keys-file",
                path.to_str().unwrap(),
                "--limits-store",
                "redis",
                "--redis-url",
                &url,
            ],
            &[],
        )
    });
    let channel = Channel::from_shared(gw.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let generate = |key: String| {
        let mut client = TextGenerationServiceClient::new(channel.clone());
        async move { client.generate(with_key(request(), &key)).await }
    };
    let store = || {
        let mut admin = AdminServiceClient::new(channel.clone());
        async move {
            admin
                .get_usage(with_key(
                    GetUsageRequest {
                        key_name: "first".into(),
                    },
                    OPS_KEY,
                ))
                .await
                .unwrap()
                .into_inner()
                .limits_store
        }
    };
    wait_until(
        Duration::from_secs(10),
        "the binary admits on redis",
        || async { store().await == "redis" },
    )
    .await;
    generate(secret("first")).await.unwrap();
    let unknown = generate(secret("second")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);

    // A key added to the file works within seconds, with no signal.
    let both = keys_file(&format!("{first}{}", key_entry("second", "")));
    replace_file(&path, &both);
    let started = Instant::now();
    wait_until(
        Duration::from_secs(10),
        "the added key is accepted",
        || async { generate(secret("second")).await.is_ok() },
    )
    .await;
    println!("the added key worked after {:?}", started.elapsed());

    // SIGHUP reads the file again at once, even unchanged (the timer only
    // reloads a changed file, so a new "keys reloaded" line is the signal's).
    let reloads = |gw: &GatewayProcess| gw.log_text().matches("keys reloaded").count();
    let before = reloads(&gw);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until(
        Duration::from_secs(5),
        "SIGHUP reloads the keys",
        || async { reloads(&gw) > before },
    )
    .await;
    generate(secret("second")).await.unwrap();

    // A broken file is refused as a whole: the keys in force stay, and the
    // log says why.
    replace_file(&path, &format!("{both}[[keys]]\nname = \"third\"\n"));
    wait_until(
        Duration::from_secs(10),
        "the broken file is logged",
        || async { gw.log_text().contains("keys file not reloaded") },
    )
    .await;
    generate(secret("first")).await.unwrap();
    generate(secret("second")).await.unwrap();
    let logs = gw.log_text();
    let line = logs
        .lines()
        .find(|l| l.contains("keys file not reloaded"))
        .unwrap();
    assert!(line.contains("keys[3]") && line.contains("third"), "{line}");
    for name in ["ops", "first", "second"] {
        assert!(!logs.contains(&secret(name)), "a key reached the logs");
    }
    assert!(!logs.contains(OPS_KEY), "a key reached the logs");
    drop(gw);
    drop(redis);
}

/// A `redis-server` serving TLS only (its certificate from a private CA)
/// and requiring a password, killed on drop.
struct TlsRedis {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_redis_with_a_password_and_a_private_ca_is_shared() {
    if !common::redis::installed() {
        assert_ne!(
            std::env::var("BEDROCK_GATEWAY_REQUIRE_REDIS").as_deref(),
            Ok("1"),
            "redis-server is required"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleet-test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_path = write("ca.pem", ca_cert.pem());
    let cert_path = write("redis.pem", server_cert.pem());
    let key_path = write("redis.key", server_key.serialize_pem());
    let port = free_port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--tls-cert-file", &cert_path, "--tls-key-file", &key_path])
        .args(["--tls-ca-cert-file", &ca_path, "--tls-auth-clients", "no"])
        .args([
            "--requirepass",
            "fleet-s3cret",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let _redis = TlsRedis { child, _dir: dir };

    let keys = keys_file(&key_entry("tls", "requests_per_minute = 2"));
    let store = |password: &str| RedisConfig {
        ca_cert_pem: Some(ca_cert.pem().into_bytes()),
        ..RedisConfig::new(format!("rediss://:{password}@localhost:{port}"))
    };
    let (a, b) = Replica::pair(&keys, store("fleet-s3cret")).await;
    a.generate(&secret("tls")).await.unwrap();
    b.generate(&secret("tls")).await.unwrap();
    let refused = a.generate(&secret("tls")).await.unwrap_err();
    assert_limit_refusal(&refused, "requests_per_minute");
    assert_eq!(a.store_errors(), 0.0);

    // A wrong password is a store that does not answer: local limits, errors
    // counted, and the password never shown.
    let wrong = Replica::start(&keys, store("not-the-password")).await;
    wait_until(
        Duration::from_secs(10),
        "the wrong password is counted",
        || async { wrong.store_errors() >= 1.0 },
    )
    .await;
    assert_eq!(wrong.usage("tls").await.limits_store, "local (fallback)");
    wrong.generate(&secret("tls")).await.unwrap();
}

/// A three-node Redis Cluster on loopback, killed on drop.
struct Cluster {
    nodes: Vec<std::process::Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

impl Cluster {
    /// Starts three masters and joins them (`redis-cli --cluster create`),
    /// then waits until every node says the cluster is ok.
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes = ports
            .iter()
            .map(|port| {
                std::process::Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                    .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                    .args(["--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(dir.path())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("redis-server starts")
            })
            .collect();
        let cluster = Cluster {
            nodes,
            ports,
            _dir: dir,
        };
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let created = std::process::Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .output()
                .expect("redis-cli runs");
            if created.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster was not created: {}",
                String::from_utf8_lossy(&created.stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        for port in &cluster.ports {
            loop {
                let info = std::process::Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli runs");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {port} never saw the cluster ok"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster
    }

    /// The seed nodes, for --redis-url with --redis-cluster.
    fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_shares_limits_across_slots() {
    if !common::redis::installed() {
        assert_ne!(
            std::env::var("BEDROCK_GATEWAY_REQUIRE_REDIS").as_deref(),
            Ok("1"),
            "redis-server is required"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let cluster = Cluster::start();
    // Keys whose names hash to different slots, so several nodes serve.
    let names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let keys = keys_file(
        &names
            .iter()
            .map(|n| key_entry(n, "requests_per_minute = 5\ntokens_per_day = 100000"))
            .collect::<String>(),
    );
    let store = || RedisConfig {
        cluster: true,
        timeout: Duration::from_secs(2),
        ..RedisConfig::new(cluster.url())
    };
    let (a, b) = Replica::pair(&keys, store()).await;
    for name in names {
        let (ok, refused, _) = burst(&[&a, &b], &secret(name), 12).await;
        assert_eq!(ok, 5, "key {name}: {refused:?}");
        for status in &refused {
            assert_limit_refusal(status, "requests_per_minute");
        }
        let usage = a.usage(name).await;
        assert_eq!(usage.limits_store, "redis");
        assert!(
            usage.tokens_today.unwrap().used > 0,
            "{name}'s spend is in the cluster"
        );
    }
    assert_eq!(a.store_errors() + b.store_errors(), 0.0);
}
