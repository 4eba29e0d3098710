//! Command-line configuration. Every flag also reads a `BEDROCK_GATEWAY_*`
//! environment variable, so containers configure the gateway without a shell.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A gRPC gateway to Amazon Bedrock text generation.
#[derive(Debug, Clone, Parser)]
#[command(name = "bedrock-gateway", version, about, long_about = None)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "BEDROCK_GATEWAY_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Where generations come from: `bedrock` (Amazon Bedrock through the AWS
    /// SDK; the production default) or `simulated` (offline, no AWS needed).
    #[arg(long, env = "BEDROCK_GATEWAY_BACKEND", value_enum, default_value_t = BackendKind::Bedrock)]
    pub backend: BackendKind,

    /// AWS region for the Bedrock backend. Unset: aws-config's chain
    /// (AWS_REGION, the profile, IMDS).
    #[arg(long, env = "BEDROCK_GATEWAY_REGION")]
    pub region: Option<String>,

    /// Bedrock backend: attempts per call, the first included, retrying
    /// throttling, 5xx and connection errors with jittered exponential
    /// backoff (up to 1 s, 2 s, 4 s ..., at most 20 s). Every call gets its
    /// attempts: there is no process-wide retry budget. A stream that has
    /// delivered text is never re-sent.
    #[arg(long, env = "BEDROCK_GATEWAY_BEDROCK_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub bedrock_max_attempts: u32,

    /// Bedrock backend: how long the model catalogue and inference-profile
    /// list are cached before one refresh (e.g. `5m`).
    #[arg(long, env = "BEDROCK_GATEWAY_CATALOGUE_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub catalogue_ttl: Duration,

    /// Bedrock backend: how long opening a connection to Bedrock may take.
    #[arg(long, env = "BEDROCK_GATEWAY_BEDROCK_CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub bedrock_connect_timeout: Duration,

    /// Bedrock backend: calls in flight on one HTTP/2 connection to Bedrock
    /// Runtime before the gateway opens another. Keep it below the streams a
    /// connection may carry (Bedrock's SETTINGS_MAX_CONCURRENT_STREAMS; AWS
    /// endpoints commonly allow 128): calls beyond that limit would wait for
    /// others to end.
    #[arg(long, env = "BEDROCK_GATEWAY_BEDROCK_CALLS_PER_CONNECTION", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub bedrock_calls_per_connection: u64,

    /// Most bytes of input text per generation (prompt or messages, plus
    /// system, tool inputs and tool results). Larger requests get
    /// INVALID_ARGUMENT. Images and documents have their own limits.
    #[arg(long, env = "BEDROCK_GATEWAY_MAX_INPUT_BYTES", default_value_t = 1024 * 1024)]
    pub max_input_bytes: usize,

    /// Largest gRPC request message the server decodes, in bytes. Larger
    /// messages get OUT_OF_RANGE (tonic's code) before any work is done.
    #[arg(long, env = "BEDROCK_GATEWAY_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// A browser origin allowed to call the gateway (gRPC-Web, Connect and
    /// the JSON routes) with CORS, e.g. `https://app.example.com`; `*`
    /// allows any. Repeat the flag, or separate origins with commas in the
    /// variable. None by default: no CORS headers at all. A cross-site POST
    /// that browsers send without a preflight (a form, `text/plain`) is
    /// refused unless its origin is listed. Over TLS these transports need
    /// HTTP/2 (ALPN h2, as browsers, curl and buf use): HTTP/1.1-only
    /// clients fail the TLS handshake.
    #[arg(long = "cors-allow-origin", env = "BEDROCK_GATEWAY_CORS_ALLOW_ORIGIN", value_delimiter = ',', value_parser = origin)]
    pub cors_allow_origins: Vec<String>,

    /// On SIGTERM/SIGINT, how long in-flight calls may run before the process
    /// exits anyway (e.g. `30s`). Keep it below Kubernetes'
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "BEDROCK_GATEWAY_DRAIN_TIMEOUT", default_value = "25s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// How often the backend's readiness is re-checked for the health service.
    #[arg(long, env = "BEDROCK_GATEWAY_READINESS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub readiness_interval: Duration,

    /// Where to serve Prometheus metrics over HTTP at `/metrics`, e.g.
    /// `0.0.0.0:9090`. Unset: no metrics endpoint.
    #[arg(long, env = "BEDROCK_GATEWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// TLS: the server's certificate chain (PEM). With --tls-key, serves
    /// TLS only; without both, plaintext (for meshes whose sidecar does TLS).
    /// TLS offers only HTTP/2 (ALPN h2), so gRPC-Web, Connect and the JSON
    /// routes need an HTTP/2 client over TLS; HTTP/1.1 is plaintext only.
    #[arg(long, env = "BEDROCK_GATEWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the server's private key (PEM).
    #[arg(long, env = "BEDROCK_GATEWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// mTLS: require client certificates signed by this CA (PEM).
    #[arg(long, env = "BEDROCK_GATEWAY_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Keys file (TOML): each key's name, the key or its SHA-256 digest, and
    /// its policy: requests and tokens per minute, token budgets per UTC
    /// day and month, the models it may use (IDs or glob patterns), a
    /// default service tier, whether it may call CountTokens and
    /// ListModels/GetModel, and whether it may call the admin service.
    /// deploy/keys.example.toml names every field. Reloaded on SIGHUP and
    /// when the file changes; a broken file is logged and the keys in force
    /// stay. Callers send `authorization: Bearer <key>`.
    #[arg(long, env = "BEDROCK_GATEWAY_KEYS_FILE", conflicts_with_all = ["api_keys", "api_keys_file"])]
    pub keys_file: Option<PathBuf>,

    /// API keys file: one `name:key` per line (`#` comments). Each key must be
    /// at least 16 characters; names must be unique. Callers send
    /// `authorization: Bearer <key>`; the name appears in logs and metrics.
    /// Every key gets the server's limits; for per-key policies use
    /// --keys-file. Reloaded like --keys-file.
    #[arg(long, env = "BEDROCK_GATEWAY_API_KEYS_FILE", conflicts_with = "api_keys")]
    pub api_keys_file: Option<PathBuf>,

    /// API keys inline, `name:key,name:key`, each key at least 16 characters
    /// (prefer the file; the value is never printed).
    #[arg(long, env = "BEDROCK_GATEWAY_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,

    /// Require an API key for health checks and reflection too (open by
    /// default, since probes and load balancers carry no keys).
    #[arg(long, env = "BEDROCK_GATEWAY_AUTH_PROTECT_HEALTH_AND_REFLECTION")]
    pub auth_protect_health_and_reflection: bool,

    /// Most generations in flight at once in this replica; past it, calls
    /// fail at once with RESOURCE_EXHAUSTED. A stream counts for its whole
    /// life. 0: no limit.
    #[arg(long, env = "BEDROCK_GATEWAY_MAX_CONCURRENT_GENERATIONS", default_value_t = 1024)]
    pub max_concurrent_generations: usize,

    /// Requests per minute per API key in this replica (a token bucket
    /// holding one minute's worth). 0: no limit.
    #[arg(long, env = "BEDROCK_GATEWAY_RATE_LIMIT_REQUESTS_PER_MINUTE", default_value_t = 0)]
    pub rate_limit_requests_per_minute: u64,

    /// Tokens (input, cached input and output) per minute per API key in
    /// this replica. Each request is admitted before Bedrock is called
    /// against its counted input plus its max_tokens (CountTokens where the
    /// model supports it, else an estimate), then charged its actual usage.
    /// 0: no limit.
    #[arg(long, env = "BEDROCK_GATEWAY_RATE_LIMIT_TOKENS_PER_MINUTE", default_value_t = 0)]
    pub rate_limit_tokens_per_minute: u64,

    /// Where per-key limits and budgets are kept: `local` (this replica's
    /// memory; a fleet of N replicas allows N times each limit) or `redis`
    /// (shared by every replica, via --redis-url).
    #[arg(long, env = "BEDROCK_GATEWAY_LIMITS_STORE", value_enum, default_value = "local")]
    pub limits_store: LimitsStoreKind,

    /// The Redis (or Valkey) server of `--limits-store redis`:
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS;
    /// with --redis-cluster, the cluster's seed nodes separated by commas.
    /// Sentinel is not supported (use the primary's stable address).
    #[arg(long, env = "BEDROCK_GATEWAY_REDIS_URL", hide_env_values = true, required_if_eq("limits_store", "redis"))]
    pub redis_url: Option<String>,

    /// --redis-url names the seed nodes of a Redis Cluster (or a Valkey
    /// cluster, ElastiCache with cluster mode, MemoryDB).
    #[arg(long, env = "BEDROCK_GATEWAY_REDIS_CLUSTER")]
    pub redis_cluster: bool,

    /// How long an admission waits for Redis before it falls back to this
    /// replica's share of each limit (or refuses, with
    /// --limits-store-fail-closed).
    #[arg(long, env = "BEDROCK_GATEWAY_REDIS_TIMEOUT", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// The number of replicas sharing the limits, used to divide each limit
    /// while Redis is not answering. Unset: the number of replicas seen in
    /// Redis's heartbeats.
    #[arg(long, env = "BEDROCK_GATEWAY_FLEET_SIZE_HINT", value_parser = clap::value_parser!(u64).range(1..))]
    pub fleet_size_hint: Option<u64>,

    /// While Redis is not answering, refuse generations with UNAVAILABLE
    /// instead of admitting them on this replica's share of the limits.
    #[arg(long, env = "BEDROCK_GATEWAY_LIMITS_STORE_FAIL_CLOSED")]
    pub limits_store_fail_closed: bool,

    /// PEM file of the CA (or certificates) to trust for a `rediss://`
    /// Redis with a private CA; unset, the system's roots.
    #[arg(long, env = "BEDROCK_GATEWAY_REDIS_CA_CERT")]
    pub redis_ca_cert: Option<PathBuf>,

    /// Prefix of the gateway's Redis keys (several gateways can share one
    /// Redis under different prefixes).
    #[arg(long, env = "BEDROCK_GATEWAY_REDIS_KEY_PREFIX", default_value = "bedrock-gateway")]
    pub redis_key_prefix: String,

    /// HTTP/2 keepalive ping interval (`0s`: none).
    #[arg(long, env = "BEDROCK_GATEWAY_HTTP2_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub http2_keepalive_interval: Duration,

    /// How long a keepalive ping may go unanswered before the connection closes.
    #[arg(long, env = "BEDROCK_GATEWAY_HTTP2_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http2_keepalive_timeout: Duration,

    /// Most concurrent HTTP/2 streams on one connection (SETTINGS_MAX_CONCURRENT_STREAMS),
    /// every RPC counted, health Watch streams included. A client that opens
    /// more gets REFUSED_STREAM for the excess.
    #[arg(long, env = "BEDROCK_GATEWAY_MAX_CONCURRENT_STREAMS_PER_CONNECTION", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams_per_connection: u32,

    /// How long a new connection may take to complete its TLS handshake and
    /// send the HTTP/2 connection preface before it is closed.
    #[arg(long, env = "BEDROCK_GATEWAY_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub handshake_timeout: Duration,

    /// Log prompt and completion text. Off by default: prompts are user data.
    #[arg(long, env = "BEDROCK_GATEWAY_LOG_PROMPTS")]
    pub log_prompts: bool,

    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "BEDROCK_GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Log filter in RUST_LOG syntax, e.g. `info` or `bedrock_gateway=debug`.
    #[arg(long, env = "BEDROCK_GATEWAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Simulated backend: delay before each streamed token (e.g. `30ms`).
    #[arg(long, env = "BEDROCK_GATEWAY_SIMULATED_TOKEN_DELAY", default_value = "30ms", value_parser = humantime::parse_duration)]
    pub simulated_token_delay: Duration,

    /// Simulated backend: delay before the first token and before a unary answer.
    #[arg(long, env = "BEDROCK_GATEWAY_SIMULATED_LATENCY", default_value = "0ms", value_parser = humantime::parse_duration)]
    pub simulated_latency: Duration,

    /// Simulated backend: probability in [0, 1] that a call of any RPC fails
    /// with --simulated-failure-kind, for testing callers' error handling.
    #[arg(long, env = "BEDROCK_GATEWAY_SIMULATED_FAILURE_RATE", default_value_t = 0.0, value_parser = probability)]
    pub simulated_failure_rate: f64,

    /// Simulated backend: the Bedrock error type --simulated-failure-rate
    /// injects, e.g. ThrottlingException (default ServiceUnavailableException).
    #[arg(long, env = "BEDROCK_GATEWAY_SIMULATED_FAILURE_KIND", value_parser = known_error_type)]
    pub simulated_failure_kind: Option<String>,

    /// Simulated backend: an application inference profile to accept, as
    /// `ARN=MODEL_ID` (repeatable; comma-separated in the variable). Calls
    /// naming the ARN are served as its model, under that model's rules.
    #[arg(
        long = "simulated-application-profile",
        env = "BEDROCK_GATEWAY_SIMULATED_APPLICATION_PROFILES",
        value_name = "ARN=MODEL_ID",
        value_delimiter = ',',
        value_parser = application_profile
    )]
    pub simulated_application_profiles: Vec<(String, String)>,
}

/// Where per-key limits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitsStoreKind {
    /// This replica's memory.
    Local,
    /// Redis, shared by the fleet.
    Redis,
}

/// The backend to serve from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Offline simulation over the real model catalogue.
    Simulated,
    /// Amazon Bedrock.
    Bedrock,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, one event per line.
    Pretty,
    /// One JSON object per line.
    Json,
}

fn known_error_type(s: &str) -> Result<String, String> {
    match crate::error::bedrock::kind_of(s) {
        Some(_) => Ok(s.to_owned()),
        None => Err(format!(
            "must be a Bedrock error type from the README's table, e.g. ThrottlingException; got {s}"
        )),
    }
}

fn application_profile(s: &str) -> Result<(String, String), String> {
    use crate::model::{Identifier, IdentifierKind};
    let (arn, model) = s
        .split_once('=')
        .ok_or_else(|| format!("must be ARN=MODEL_ID, got {s:?}"))?;
    let (arn, model) = (arn.trim(), model.trim());
    match Identifier::parse(arn) {
        Ok(id) if id.kind() == IdentifierKind::ApplicationProfileArn => {}
        _ => {
            return Err(format!(
                "the ARN must be an application inference profile ARN \
                 (arn:aws:bedrock:REGION:ACCOUNT:application-inference-profile/ID), got {arn:?}"
            ))
        }
    }
    if model.is_empty() {
        return Err(format!("MODEL_ID must not be empty, got {s:?}"));
    }
    Ok((arn.to_owned(), model.to_owned()))
}

/// A CORS origin as a browser sends it (`https://host[:port]`), or `*`;
/// refused at start rather than never matching. Empty (an empty variable)
/// is kept, and means none.
fn origin(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let ok = s.is_empty()
        || s == "*"
        || (s.contains("://") && !s.contains(char::is_whitespace) && http::HeaderValue::from_str(s).is_ok());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not an origin (scheme://host[:port], or *)"))
    }
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("must be longer than 0 (a connection needs time for its handshake), got {s:?}")),
        Err(e) => Err(format!("`{s}` is not a duration such as 5s: {e}")),
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("must be in [0, 1], got {p}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_profiles_are_arn_model_pairs() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        let c = Config::try_parse_from([
            "bedrock-gateway",
            "--simulated-application-profile",
            &format!("{arn}=amazon.titan-text-express-v1"),
        ])
        .unwrap();
        assert_eq!(c.simulated_application_profiles, [(arn.to_owned(), "amazon.titan-text-express-v1".to_owned())]);
        for bad in ["amazon.titan-text-express-v1", "us.x=y", &format!("{arn}=")] {
            assert!(
                Config::try_parse_from(["bedrock-gateway", "--simulated-application-profile", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn cors_origins_repeat_or_come_comma_separated() {
        let c = Config::try_parse_from([
            "bedrock-gateway",
            "--cors-allow-origin",
            "https://a.example",
            "--cors-allow-origin",
            "https://b.example,https://c.example",
        ])
        .unwrap();
        assert_eq!(c.cors_allow_origins, ["https://a.example", "https://b.example", "https://c.example"]);
        assert!(Config::try_parse_from(["bedrock-gateway"]).unwrap().cors_allow_origins.is_empty());
        for bad in ["app.example", "https://a b"] {
            assert!(Config::try_parse_from(["bedrock-gateway", "--cors-allow-origin", bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_zero_handshake_timeout_is_refused() {
        assert!(Config::try_parse_from(["bedrock-gateway", "--handshake-timeout", "0s"]).is_err());
        let c = Config::try_parse_from(["bedrock-gateway", "--handshake-timeout", "250ms"]).unwrap();
        assert_eq!(c.handshake_timeout, Duration::from_millis(250));
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::try_parse_from(["bedrock-gateway"]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(c.backend, BackendKind::Bedrock);
        assert_eq!(c.bedrock_max_attempts, 3);
        assert_eq!(c.drain_timeout, Duration::from_secs(25));
    }

    #[test]
    fn flags_parse_and_bad_values_are_refused() {
        let c = Config::try_parse_from([
            "bedrock-gateway",
            "--listen",
            "0.0.0.0:9000",
            "--backend",
            "simulated",
            "--drain-timeout",
            "3s",
            "--simulated-failure-rate",
            "0.25",
        ])
        .unwrap();
        assert_eq!(c.backend, BackendKind::Simulated);
        assert_eq!(c.drain_timeout, Duration::from_secs(3));
        assert_eq!(c.simulated_failure_rate, 0.25);
        assert!(Config::try_parse_from(["bedrock-gateway", "--simulated-failure-rate", "2"]).is_err());
    }
}
