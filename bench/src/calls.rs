//! `gateway-bench calls`: a fixed number of Bedrock-path calls, for
//! profiles that compare the two sides call for call.
//!
//! `--to direct` makes Converse calls with the AWS SDK from this process, as
//! the `bedrock` scenario's direct path does; `--to gateway` makes the same
//! calls through a gateway's `Generate`. A profile of this process (direct)
//! or of the gateway (through it) taken for two call counts gives the cost
//! of one call as the difference over the difference in calls, free of
//! start-up: `bench/profile.sh direct` and `bench/profile.sh bedrock`.

use crate::load::{self, Caller, Unary};
use crate::pb;
use crate::sdk::SdkConverse;
use std::time::Instant;

/// The prompt and lengths of the `bedrock` scenario.
const PROMPT: &str = "Write a poem about sky";
const MAX_TOKENS: u32 = 16;
/// What the fake Bedrock answers to it.
const EXPECT_TOKENS: u32 = 12;

/// Flags of `gateway-bench calls`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CallsArgs {
    /// Where the calls go: `direct` (the SDK to a Bedrock endpoint) or
    /// `gateway` (gRPC `Generate` to a gateway on the Bedrock backend).
    #[arg(long, value_parser = ["direct", "gateway"])]
    to: String,
    /// The Bedrock endpoint (`http://127.0.0.1:PORT`) or the gateway's
    /// address (`127.0.0.1:PORT`).
    #[arg(long)]
    endpoint: String,
    /// Calls to make.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// The model called.
    #[arg(long, default_value = crate::run::MODEL)]
    model: String,
}

/// Makes the calls; fails on the first failed call.
pub(crate) async fn calls(args: CallsArgs) -> Result<(), String> {
    let started = Instant::now();
    if args.to == "direct" {
        let sdk = SdkConverse::new(
            &crate::sdk::Endpoint::plain(&args.endpoint),
            &args.model,
            PROMPT,
            MAX_TOKENS as i32,
            EXPECT_TOKENS as i32,
        )
        .await;
        drive(&sdk, args.calls, args.concurrency).await?;
    } else {
        let addr = args
            .endpoint
            .parse()
            .map_err(|e| format!("--endpoint {}: {e}", args.endpoint))?;
        let request = pb::GenerateRequest {
            model_id: args.model.clone(),
            prompt: PROMPT.into(),
            parameters: Some(pb::GenerationParameters {
                max_tokens: Some(MAX_TOKENS),
                ..Default::default()
            }),
            ..Default::default()
        };
        let senders = load::connect(addr, args.concurrency.clamp(1, 16)).await?;
        let unary = Unary::new(addr, senders, &request, EXPECT_TOKENS);
        drive(&unary, args.calls, args.concurrency).await?;
    }
    eprintln!(
        "{} calls to {} in {:.3} s",
        args.calls,
        args.to,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `calls` calls, `concurrency` at a time; each worker takes the next call
/// when its last one ends.
async fn drive(caller: &impl Caller, calls: usize, concurrency: usize) -> Result<(), String> {
    let next = std::cell::Cell::new(0usize);
    let workers = (0..concurrency.max(1)).map(|worker| {
        let next = &next;
        async move {
            loop {
                let n = next.get();
                if n >= calls {
                    return Ok::<(), String>(());
                }
                next.set(n + 1);
                tokio::time::timeout(load::CALL_TIMEOUT, caller.call(worker))
                    .await
                    .map_err(|_| format!("call {n} took over {:?}", load::CALL_TIMEOUT))?
                    .map_err(|e| format!("call {n}: {e}"))?;
            }
        }
    });
    futures::future::try_join_all(workers).await.map(|_| ())
}
