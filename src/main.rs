//! The `bedrock-gateway` binary: parse flags, start logging, build the
//! backend, bind, serve until SIGTERM or SIGINT, drain, exit 0.

use bedrock_gateway::backend::bedrock::{BedrockBackend, BedrockConfig};
use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::backend::Backend;
use bedrock_gateway::config::{BackendKind, Config};
use bedrock_gateway::server::{self, ServerConfig};
use bedrock_gateway::validation::Limits;
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    bedrock_gateway::telemetry::init(config.log_format, &config.log_level);

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
            }))
        }
        BackendKind::Bedrock => Arc::new(
            BedrockBackend::from_env(BedrockConfig {
                region: config.region.clone(),
                max_attempts: config.bedrock_max_attempts,
                catalogue_ttl: config.catalogue_ttl,
                connect_timeout: config.bedrock_connect_timeout,
            })
            .await,
        ),
    };

    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.listen, error = %e, "cannot bind");
            return ExitCode::FAILURE;
        }
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
