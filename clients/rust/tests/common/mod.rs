//! The harness shared by the end-to-end tests: the real gateway (simulated
//! backend) served in-process on 127.0.0.1, and the real `bedrock-client`
//! binary run against it with a bounded wait.

// Each test crate uses its own part of the harness.
#![allow(dead_code)]

use bedrock_gateway::backend::simulated::{SimulatedBackend, SimulatedConfig};
use bedrock_gateway::server::{run, ServerConfig};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const POEM: &str = "Write a poem about sky";

/// How long one client run may take before the test gives up on it.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A gateway serving on an ephemeral port until dropped.
pub(crate) struct Gateway {
    /// `http://127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The port, for building other addresses (e.g. https://).
    pub(crate) port: u16,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Starts the real server with a simulated backend that answers at once.
pub(crate) async fn start_gateway() -> Gateway {
    start_gateway_with(ServerConfig::default()).await
}

/// Starts the real server with `config` (TLS, API keys, ...) and a simulated
/// backend that answers at once.
pub(crate) async fn start_gateway_with(config: ServerConfig) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr = format!("http://127.0.0.1:{port}");
    let backend = Arc::new(SimulatedBackend::new(SimulatedConfig {
        token_delay: Duration::ZERO,
        ..Default::default()
    }));
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        // Dropping the sender (when the test ends) also stops the server.
        let shutdown = async move {
            let _ = stop.await;
        };
        run(listener, backend, config, shutdown)
            .await
            .expect("the gateway failed");
    });
    Gateway {
        addr,
        port,
        _shutdown: shutdown,
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Run {
    pub(crate) fn assert_success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }
}

/// Runs the binary with `args` and the given extra environment, off the async
/// threads, killing it if it outlives [`RUN_LIMIT`]. The `BEDROCK_CLIENT_*`
/// variables of the test's own environment are removed first.
pub(crate) async fn client_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bedrock-client"));
    cmd.args(args)
        .env_remove("BEDROCK_CLIENT_ADDR")
        .env_remove("BEDROCK_CLIENT_CA_CERT")
        .env_remove("BEDROCK_CLIENT_CLIENT_CERT")
        .env_remove("BEDROCK_CLIENT_CLIENT_KEY")
        .env_remove("BEDROCK_CLIENT_TLS_SERVER_NAME")
        .env_remove("BEDROCK_CLIENT_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = cmd.spawn().expect("cannot start bedrock-client");
        // Read both pipes on their own threads so a full pipe cannot stall the child.
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).map(|_| s)
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            err.read_to_string(&mut s).map(|_| s)
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bedrock-client {cmd:?} ran longer than {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        Run {
            code: status.code(),
            stdout: out.join().unwrap().expect("stdout is not UTF-8"),
            stderr: err.join().unwrap().expect("stderr is not UTF-8"),
            elapsed,
        }
    })
    .await
    .unwrap()
}

/// Runs the binary against `gateway` with `args` after the subcommand's name.
pub(crate) async fn client(gateway: &Gateway, args: &[&str]) -> Run {
    let mut all = vec!["--addr", gateway.addr.as_str()];
    all.extend_from_slice(args);
    client_env(&all, &[]).await
}

pub(crate) fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {run:#?}"))
}
