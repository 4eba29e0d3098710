//! `gateway-bench`: the benchmark suite of bedrock-gateway (see BENCHMARKS.md).
//!
//! - `gateway-bench floor`: the transport floor, a bare tonic server of the
//!   same service and messages that does nothing else.
//! - `gateway-bench fake-bedrock`: the in-repo fake Bedrock on a port, with a
//!   fixed latency for one model.
//! - `gateway-bench run [--smoke]`: starts the floor, the gateway and the fake
//!   as child processes pinned to one CPU, drives every scenario from this
//!   process pinned to another, and prints a Markdown results table.

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
        /// Exit after this long at the latest.
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        max_lifetime: Duration,
    },
    /// Run the benchmark suite and print the results as Markdown.
    Run(run::RunArgs),
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
        Command::FakeBedrock { latency, model, max_lifetime } => {
            server_runtime().block_on(fake_bedrock_main(latency, model, max_lifetime))
        }
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

async fn fake_bedrock_main(latency: Duration, model: String, max_lifetime: Duration) -> Result<(), String> {
    let fake = fake_bedrock::FakeBedrock::start().await;
    if !latency.is_zero() {
        fake.set_behavior(&model, fake_bedrock::Behavior::Latency(latency));
    }
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
