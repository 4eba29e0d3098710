//! `gateway-bench`: the benchmark suite of bedrock-gateway (see BENCHMARKS.md).
//!
//! - `gateway-bench floor`: the transport floor, a bare tonic server of the
//!   same service and messages that does nothing else.
//! - `gateway-bench fake-bedrock`: the in-repo fake Bedrock on a port, with a
//!   fixed latency for one model.
//! - `gateway-bench run [--smoke]`: starts the floor, the gateway and the fake
//!   as child processes pinned to one CPU, drives every scenario from this
//!   process pinned to another, and prints a Markdown results table.

mod calls;
mod floor;
mod load;
mod procs;
mod run;
mod sdk;

#[path = "../../tests/fake_bedrock/mod.rs"]
mod fake_bedrock;

/// The gateway's contract, client and server stubs.
#[allow(unreachable_pub, clippy::all)]
pub(crate) mod pb {
    tonic::include_proto!("bedrock.gateway.v1");
}

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "gateway-bench", about = "Benchmarks bedrock-gateway against a bare-tonic floor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    /// Serve the transport floor (a bare tonic TextGenerationService).
    Floor {
        #[command(flatten)]
        args: floor::FloorArgs,
        /// Exit after this long at the latest.
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        max_lifetime: Duration,
    },
    /// Serve the fake Bedrock with a fixed latency for one model.
    FakeBedrock {
        /// Delay before every answer for --model.
        #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
        latency: Duration,
        /// The model ID the latency applies to.
        #[arg(long, default_value = run::MODEL)]
        model: String,
        /// Streams of --model: this long between consecutive tokens, on a fixed
        /// cadence from the first token (needs --latency 0ms).
        #[arg(long, value_parser = humantime::parse_duration)]
        token_delay: Option<Duration>,
        /// The natural length of --model's generations in tokens, instead of
        /// the fake's 12 (a smaller maxTokens still cuts it; needs --latency 0ms).
        #[arg(long)]
        tokens: Option<usize>,
        /// Time --token-delay on the fake's own timer thread (tens of µs)
        /// instead of tokio's 1 ms timer: for a few streams, not thousands.
        #[arg(long)]
        precise: bool,
        /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN, as Bedrock's endpoints; at
        /// most 128 streams on an HTTP/2 connection, as AWS endpoints commonly
        /// allow) and write the PEM of the CA that signed the fake's
        /// certificate here.
        #[arg(long)]
        tls_ca_out: Option<std::path::PathBuf>,
        /// Exit after this long at the latest.
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        max_lifetime: Duration,
    },
    /// Run the benchmark suite and print the results as Markdown.
    Run(run::RunArgs),
    /// Make a fixed number of Bedrock-path calls, direct or through a
    /// gateway (for profiles: bench/profile.sh direct|bedrock).
    Calls(calls::CallsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Floor { args, max_lifetime } => server_runtime().block_on(async move {
            tokio::select! {
                r = floor::serve(args) => r,
                () = tokio::time::sleep(max_lifetime) => Ok(()),
            }
        }),
        Command::FakeBedrock {
            latency,
            model,
            token_delay,
            tokens,
            precise,
            tls_ca_out,
            max_lifetime,
        } => match fake_behavior(latency, token_delay, tokens, precise) {
            Ok(behavior) => server_runtime().block_on(fake_bedrock_main(
                behavior,
                model,
                tls_ca_out,
                max_lifetime,
            )),
            Err(e) => Err(e),
        },
        Command::Calls(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(calls::calls(args)),
        Command::Run(args) => {
            // Pin before the runtime starts, so every thread it makes stays on this CPU.
            let pinned = match args.client_pin() {
                Some(cpu) => procs::pin_to_cpu(cpu),
                None => Ok(()),
            };
            match pinned {
                Err(e) => Err(e),
                Ok(()) => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(run::run(args)),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The servers' runtime: tokio's default multi-threaded one, as the gateway's
/// `#[tokio::main]` (one worker per CPU the process may use).
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The fake's behaviour for its model: a latency before each answer, or paced
/// streams of a chosen length (one behaviour per model, so not both).
fn fake_behavior(
    latency: Duration,
    token_delay: Option<Duration>,
    tokens: Option<usize>,
    precise: bool,
) -> Result<fake_bedrock::Behavior, String> {
    if token_delay.is_none() && tokens.is_none() {
        return Ok(if latency.is_zero() {
            fake_bedrock::Behavior::Normal
        } else {
            fake_bedrock::Behavior::Latency(latency)
        });
    }
    if !latency.is_zero() {
        return Err("fake-bedrock: --token-delay and --tokens need --latency 0ms".into());
    }
    Ok(fake_bedrock::Behavior::Paced {
        tokens: tokens.unwrap_or(fake_bedrock::NATURAL_TOKENS),
        token_delay: token_delay.unwrap_or_default(),
        precise,
    })
}

async fn fake_bedrock_main(
    behavior: fake_bedrock::Behavior,
    model: String,
    tls_ca_out: Option<std::path::PathBuf>,
    max_lifetime: Duration,
) -> Result<(), String> {
    let fake = match &tls_ca_out {
        None => fake_bedrock::FakeBedrock::start().await,
        Some(path) => {
            // AWS endpoints commonly allow 128 streams on a connection;
            // Bedrock does not say, so the fake takes the common figure.
            let fake = fake_bedrock::FakeBedrock::start_tls(Some(128)).await;
            // Written before the "listening" line, which is what starters wait for.
            std::fs::write(path, fake.ca_pem().unwrap_or_default())
                .map_err(|e| format!("write the CA to {}: {e}", path.display()))?;
            fake
        }
    };
    fake.set_behavior(&model, behavior);
    eprintln!(
        "{}",
        serde_json::json!({"message": "fake-bedrock listening", "addr": fake.addr().to_string()})
    );
    // The fake records every request; forget them each second so memory stays flat.
    let until = Instant::now() + max_lifetime;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        fake.clear_requests();
    }
    Ok(())
}
