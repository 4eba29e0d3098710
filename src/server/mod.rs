//! Serving: the tonic server with health, reflection and the gateway service,
//! on a listener the caller bound, until a shutdown future completes. One
//! port, one stack: gRPC over HTTP/2, and gRPC-Web, Connect and the JSON
//! routes over HTTP/1.1 or HTTP/2, all through the same edge and handlers.
//!
//! Taking a bound listener and a shutdown future (as mini-redis does) lets
//! tests bind `127.0.0.1:0` and run exactly what production runs.

use crate::backend::Backend;
use crate::grpc::edge::{AuthPolicy, EdgeLayer};
use crate::grpc::{GatewayService, ServiceSettings};
use crate::http::HttpLayer;
use crate::auth::reload::KeySource;
use crate::auth::KeyRing;
use crate::grpc::admin::Admin;
use crate::limits::{Admission, LimitsConfig, StoreConfig};
use crate::metrics::Metrics;
use crate::pb::{self, admin_service_server::AdminServiceServer, text_generation_service_server::TextGenerationServiceServer};
use crate::validation::Limits;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::{Server, ServerTlsConfig};

mod accept;
pub use accept::{raise_open_file_limit, ACCEPT_PAUSE};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Settings for [`run`].
#[derive(Debug)]
pub struct ServerConfig {
    /// Request validation limits.
    pub limits: Limits,
    /// Largest request message decoded, in bytes.
    pub max_message_bytes: usize,
    /// After shutdown starts, how long in-flight calls may run.
    pub drain_timeout: Duration,
    /// How often backend readiness is re-checked.
    pub readiness_interval: Duration,
    /// TLS (and mTLS when it names a client CA); `None` serves plaintext, for
    /// meshes whose sidecar terminates TLS.
    pub tls: Option<ServerTlsConfig>,
    /// API keys and what they protect.
    pub auth: AuthPolicy,
    /// Concurrency and per-key rate limits.
    pub rate_limits: LimitsConfig,
    /// The keys file to reload on SIGHUP and when it changes on disk
    /// (`None`: the keys never change while serving).
    pub keys_source: Option<KeySource>,
    /// How often the keys file is read again to see whether it changed.
    pub keys_reload_interval: Duration,
    /// Where per-key limits are kept: this replica, or Redis for the fleet.
    pub limits_store: StoreConfig,
    /// HTTP/2 keepalive ping interval; `None` sends no pings.
    pub http2_keepalive_interval: Option<Duration>,
    /// How long to wait for a keepalive ping's answer before closing.
    pub http2_keepalive_timeout: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS: the most concurrent streams on one
    /// connection, every RPC counted (health Watch streams included).
    pub max_concurrent_streams_per_connection: u32,
    /// How long a new connection may take for its TLS handshake and its
    /// HTTP/2 preface before it is closed.
    pub handshake_timeout: Duration,
    /// Where to serve Prometheus `/metrics`; `None` serves no metrics.
    pub metrics_listener: Option<TcpListener>,
    /// The metrics registry (tests read it directly).
    pub metrics: Arc<Metrics>,
    /// Log prompt and completion text.
    pub log_prompts: bool,
    /// Browser origins allowed by CORS (`*` for any); empty sends no CORS
    /// headers.
    pub cors_allow_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_message_bytes: 4 * 1024 * 1024,
            drain_timeout: Duration::from_secs(25),
            readiness_interval: Duration::from_secs(10),
            tls: None,
            auth: AuthPolicy::default(),
            rate_limits: LimitsConfig::default(),
            keys_source: None,
            keys_reload_interval: Duration::from_secs(1),
            limits_store: StoreConfig::Local,
            http2_keepalive_interval: Some(Duration::from_secs(30)),
            http2_keepalive_timeout: Duration::from_secs(10),
            max_concurrent_streams_per_connection: 256,
            handshake_timeout: Duration::from_secs(5),
            metrics_listener: None,
            metrics: Arc::new(Metrics::new()),
            log_prompts: false,
            cors_allow_origins: Vec::new(),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(tonic::transport::Error),
    /// A `--cors-allow-origin` was refused.
    #[error(transparent)]
    Cors(#[from] crate::http::cors::BadOrigin),
    /// The limits store's configuration was refused.
    #[error("limits store: {0}")]
    LimitsStore(String),
    /// Serving failed.
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves until `shutdown` completes, then drains.
///
/// Shutdown order: both health statuses turn NOT_SERVING (so load balancers
/// and Kubernetes stop sending traffic), the listener closes and connections
/// get GOAWAY (new calls are refused), in-flight calls run to completion for
/// up to `drain_timeout`, then whatever is left is dropped and `run` returns.
pub async fn run(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Checked first: a bad origin stops the start before anything runs.
    let origins = crate::http::cors::Origins::parse(&config.cors_allow_origins)?;
    let cors = crate::http::cors::layer(&origins);
    // The capability table is parsed and its globs compiled once, here: on
    // the first call it would block a runtime thread inside that call's
    // deadline (hundreds of milliseconds in a debug build).
    let _ = crate::model::CapabilityTable::shipped();
    let (health, health_service) = tonic_health::server::health_reporter();
    let ring = config.auth.keys.clone().map(KeyRing::new);
    let policies: Vec<_> = ring
        .as_ref()
        .map(|r| r.current().policies().cloned().collect())
        .unwrap_or_default();
    let admission = Arc::new(
        Admission::with_store(config.rate_limits, &config.limits_store, &policies, config.metrics.clone())
            .map_err(ServeError::LimitsStore)?,
    );
    let service = TextGenerationServiceServer::new(GatewayService::new(
        backend.clone(),
        ServiceSettings {
            limits: config.limits,
            admission: admission.clone(),
            metrics: config.metrics.clone(),
            log_prompts: config.log_prompts,
        },
    ))
    .max_decoding_message_size(config.max_message_bytes);
    let admin = AdminServiceServer::new(Admin::new(admission.clone(), ring.clone(), config.metrics.clone()));

    // Reflection v1 for current tools, v1alpha for older ones (grpcurl 1.8.6).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(pb::ERROR_DETAILS_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the descriptor sets are compiled in and checked by a unit test");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the descriptor sets are compiled in and checked by a unit test");

    // Liveness ("") is SERVING while the process runs; readiness (the service
    // name) follows the backend, checked now and then every interval.
    // The same readiness is published for the plaintext HTTP probes on the
    // metrics port (for TLS deployments, where the kubelet's gRPC probes
    // cannot connect).
    let readiness = Readiness {
        health: health.clone(),
        http: Arc::new(tokio::sync::watch::channel(false).0),
    };
    readiness.set(backend.ready().await).await;
    let (stop_probe, probe_stopped) = tokio::sync::watch::channel(false);
    // The shared limits store's connection, health and fleet size.
    let store = {
        let admission = admission.clone();
        let stopped = probe_stopped.clone();
        tokio::spawn(async move { admission.maintain(stopped).await })
    };
    // The keys file, read again on SIGHUP and when it changes.
    if let (Some(source), Some(ring)) = (config.keys_source.clone(), ring.clone()) {
        let admission = admission.clone();
        tokio::spawn(crate::auth::reload::watch(
            source,
            ring,
            config.keys_reload_interval,
            move |keys| admission.apply(keys),
            probe_stopped.clone(),
        ));
    }
    let probe = tokio::spawn(probe_readiness(
        backend.clone(),
        readiness.clone(),
        config.readiness_interval,
        probe_stopped,
    ));

    let drain_started = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let readiness = readiness.clone();
        let drain_started = drain_started.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: health NOT_SERVING, refusing new calls, draining");
            let _ = stop_probe.send(true);
            readiness.set(false).await;
            readiness
                .health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            drain_started.notify_one();
        }
    };

    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(metrics_listener) = config.metrics_listener {
        if let Ok(addr) = metrics_listener.local_addr() {
            tracing::info!(%addr, "metrics at http://{addr}/metrics");
        }
        tokio::spawn(crate::metrics::serve(
            metrics_listener,
            config.metrics.clone(),
            readiness.http.subscribe(),
            async {
                let _ = metrics_stopped.await;
            },
        ));
    }

    // HTTP/1.1 too: gRPC-Web, Connect and the JSON routes are served to
    // callers that cannot speak HTTP/2 (browsers behind some proxies, curl,
    // serverless runtimes). hyper picks the version from the first bytes.
    // tonic sets no stream limit of its own (hyper's default of 200 is
    // replaced by "none"), so one connection could hold any number of
    // streams, health Watch streams included, each costing memory.
    let mut builder = Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(config.http2_keepalive_interval)
        .http2_keepalive_timeout(Some(config.http2_keepalive_timeout))
        .max_concurrent_streams(config.max_concurrent_streams_per_connection);
    // The accept loop bounds the whole handshake (TLS, then the HTTP/2
    // preface) from the moment of accept; tonic's own TLS timeout is the
    // same bound on the TLS part.
    let tls = config.tls.is_some();
    if let Some(tls) = config.tls {
        builder = builder
            .tls_config(tls.timeout(config.handshake_timeout))
            .map_err(ServeError::Tls)?;
    }
    // The stack, outermost first. Every transport ends in the same edge and
    // the same handlers:
    let stack = tower::ServiceBuilder::new()
        // CORS, when origins are configured: answers preflights for every
        // route and adds the allow/expose headers to every answer of a
        // request with an `Origin` (others pass untouched), so it sits
        // outside everything that answers.
        .option_layer(cors)
        // Connect and the JSON routes become inner gRPC calls; gRPC-Web is
        // marked for the metrics; gRPC passes after a content-type check.
        .layer(HttpLayer::new(config.max_message_bytes, origins, config.metrics.clone()))
        // gRPC-Web (binary and text) to gRPC and back.
        .layer(tonic_web::GrpcWebLayer::new())
        // The edge runs first for every call: deadline, request ID, trace
        // context and authentication, before any decoding (see edge.rs).
        .layer(EdgeLayer::new(ring, config.auth.protect_health_and_reflection, config.metrics.clone()))
        .into_inner();
    let serve = builder
        .layer(stack)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .add_service(admin)
        .serve_with_incoming_shutdown(accept::incoming(listener, config.handshake_timeout, tls), signal);

    let drain_deadline = async {
        drain_started.notified().await;
        tokio::time::sleep(config.drain_timeout).await;
    };
    let result = tokio::select! {
        result = serve => result.map_err(ServeError::from),
        () = drain_deadline => {
            tracing::warn!(
                drain_timeout = ?config.drain_timeout,
                "drain time passed with calls still open; closing them"
            );
            Ok(())
        }
    };
    probe.abort();
    // The store leaves the fleet's count (its maintenance ended with the
    // shutdown signal); bounded, as Redis may be the reason for shutting down.
    let _ = tokio::time::timeout(Duration::from_secs(1), store).await;
    let _ = stop_metrics.send(());
    result
}

/// The two health views of readiness: gRPC health and HTTP `/readyz`.
#[derive(Clone)]
struct Readiness {
    health: HealthReporter,
    http: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Readiness {
    async fn set(&self, ready: bool) {
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health.set_service_status(pb::SERVICE_NAME, status).await;
        self.http.send_replace(ready);
    }
}

async fn probe_readiness(
    backend: Arc<dyn Backend>,
    readiness: Readiness,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut was_ready = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
        let ready = backend.ready().await;
        // A shutdown may have begun while the check ran; never undo NOT_SERVING.
        if *stopped.borrow() {
            return;
        }
        if was_ready != Some(ready) {
            tracing::info!(ready, backend = backend.name(), "backend readiness");
            was_ready = Some(ready);
        }
        readiness.set(ready).await;
    }
}
