//! The `bedrock-gateway` binary: parse flags, start logging, build the
//! backend, bind, serve until SIGTERM or SIGINT, drain, exit 0.

use bedrock_gateway::backend::bedrock::{BedrockBackend, BedrockConfig};
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::auth::reload::KeySource;
use bedrock_gateway::config::{BackendKind, Config, LimitsStoreKind};
use bedrock_gateway::server::{self, ServerConfig};
use bedrock_gateway::auth::ApiKeys;
use bedrock_gateway::grpc::edge::AuthPolicy;
use bedrock_gateway::limits::{LimitsConfig, RedisConfig, StoreConfig};
use bedrock_gateway::metrics::Metrics;
use bedrock_gateway::validation::Limits;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of glibc's allocator: a call on the Bedrock path makes
/// hundreds of small allocations (most of them in the AWS SDK), and glibc's
/// malloc and free were a fifth of its instructions (BENCHMARKS.md, issue 16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let _log_flush = bedrock_gateway::telemetry::init(config.log_format, &config.log_level);

    // Everything the flags name is read and checked before the listener
    // binds: a bad configuration exits with one message and never says
    // "listening".
    let tls = match tls_config(&config) {
        Ok(tls) => tls,
        Err(e) => return config_error(&e),
    };
    if let Some(tls) = &tls {
        // Builds the acceptor once now: a certificate or key that does not
        // parse is a configuration error, not a serving one.
        if let Err(e) = tonic::transport::Server::builder().tls_config(tls.clone()) {
            return config_error(&format!("TLS: {e}"));
        }
    }
    let keys_source = keys_source(&config);
    let keys = match api_keys(&config, keys_source.as_ref()) {
        Ok(keys) => keys,
        Err(e) => return config_error(&e),
    };
    let limits_store = match limits_store(&config) {
        Ok(store) => store,
        Err(e) => return config_error(&e),
    };
    if let Some(keys) = &keys {
        tracing::info!(keys = ?keys, "API keys required");
    }

    let backend: Arc<dyn Backend> = match config.backend {
        BackendKind::Simulated => {
            tracing::warn!(
                "SIMULATED backend: answers are generated locally, no model is called \
                 (use --backend bedrock for Amazon Bedrock)"
            );
            Arc::new(SimulatedBackend::new(SimulatedConfig {
                token_delay: config.simulated_token_delay,
                first_token_latency: config.simulated_latency,
                failure_rate: config.simulated_failure_rate,
                failure_kind: config.simulated_failure_kind.clone(),
                application_profiles: config.simulated_application_profiles.clone(),
            }))
        }
        BackendKind::Bedrock => Arc::new(
            BedrockBackend::from_env(BedrockConfig {
                region: config.region.clone(),
                max_attempts: config.bedrock_max_attempts,
                catalogue_ttl: config.catalogue_ttl,
                connect_timeout: config.bedrock_connect_timeout,
                calls_per_connection: usize::try_from(config.bedrock_calls_per_connection)
                    .unwrap_or(usize::MAX),
            })
            .await,
        ),
    };

    bedrock_gateway::server::raise_open_file_limit();
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.listen, error = %e, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    let metrics_listener = match config.metrics_listen {
        None => None,
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(metrics_listen = %addr, error = %e, "cannot bind the metrics port");
                return ExitCode::FAILURE;
            }
        },
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%addr, backend = backend.name(), "bedrock-gateway listening");
    let server_config = ServerConfig {
        limits: Limits {
            max_input_bytes: config.max_input_bytes,
        },
        max_message_bytes: config.max_message_bytes,
        drain_timeout: config.drain_timeout,
        readiness_interval: config.readiness_interval,
        tls,
        auth: AuthPolicy {
            keys,
            protect_health_and_reflection: config.auth_protect_health_and_reflection,
        },
        rate_limits: LimitsConfig {
            max_concurrent_generations: config.max_concurrent_generations,
            requests_per_minute: config.rate_limit_requests_per_minute,
            tokens_per_minute: config.rate_limit_tokens_per_minute,
        },
        keys_source,
        keys_reload_interval: std::time::Duration::from_secs(2),
        limits_store,
        http2_keepalive_interval: (!config.http2_keepalive_interval.is_zero())
            .then_some(config.http2_keepalive_interval),
        http2_keepalive_timeout: config.http2_keepalive_timeout,
        max_concurrent_streams_per_connection: config.max_concurrent_streams_per_connection,
        handshake_timeout: config.handshake_timeout,
        metrics_listener,
        metrics: Arc::new(Metrics::new()),
        log_prompts: config.log_prompts,
        // An empty BEDROCK_GATEWAY_CORS_ALLOW_ORIGIN means none.
        cors_allow_origins: config.cors_allow_origins.into_iter().filter(|o| !o.is_empty()).collect(),
    };
    match server::run(listener, backend, server_config, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Logs a configuration error and gives the exit code for it.
fn config_error(message: &str) -> ExitCode {
    // One line; the log writer's guard, dropped as main returns, flushes it.
    tracing::error!("configuration error: {message}");
    ExitCode::from(2)
}

/// Reads the TLS files named by the flags, if any.
fn tls_config(config: &Config) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
        read(cert, "certificate")?,
        read(key, "key")?,
    ));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca, "client CA")?));
    }
    tracing::info!(mtls = config.tls_client_ca.is_some(), "serving TLS");
    Ok(Some(tls))
}

/// The keys file named by the flags, if any: reloaded while serving.
fn keys_source(config: &Config) -> Option<KeySource> {
    match (&config.keys_file, &config.api_keys_file) {
        (Some(path), _) => Some(KeySource::Toml(path.clone())),
        (None, Some(path)) => Some(KeySource::List(path.clone())),
        (None, None) => None,
    }
}

/// Loads the API keys from the file or the variable, if either is set.
fn api_keys(config: &Config, source: Option<&KeySource>) -> Result<Option<Arc<ApiKeys>>, String> {
    if let Some(source) = source {
        return source.load().map(|k| Some(Arc::new(k)));
    }
    match &config.api_keys {
        Some(inline) => ApiKeys::parse(inline, "--api-keys (BEDROCK_GATEWAY_API_KEYS)").map(|k| Some(Arc::new(k))),
        None => Ok(None),
    }
}

/// Where per-key limits are kept, from the flags.
fn limits_store(config: &Config) -> Result<StoreConfig, String> {
    match config.limits_store {
        LimitsStoreKind::Local => Ok(StoreConfig::Local),
        LimitsStoreKind::Redis => {
            let url = config
                .redis_url
                .clone()
                .ok_or("--limits-store redis needs --redis-url")?;
            let redis = RedisConfig {
                url,
                timeout: config.redis_timeout,
                fleet_size_hint: config.fleet_size_hint,
                fail_closed: config.limits_store_fail_closed,
                key_prefix: config.redis_key_prefix.clone(),
                cluster: config.redis_cluster,
                ca_cert_pem: match &config.redis_ca_cert {
                    None => None,
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        format!("cannot read --redis-ca-cert {}: {e}", path.display())
                    })?),
                },
            };
            redis.check()?;
            tracing::info!(
                store = %redis.shown_url(),
                timeout = ?redis.timeout,
                fail_closed = redis.fail_closed,
                "per-key limits shared through Redis"
            );
            Ok(StoreConfig::Redis(redis))
        }
    }
}

/// Completes on SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
