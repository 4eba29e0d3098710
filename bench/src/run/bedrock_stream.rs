//! The `bedrock-stream` scenario: ConverseStream on the Bedrock path.
//!
//! 1. **Direct against via the gateway.** The fake Bedrock streams exactly
//!    [`DELTAS`] text deltas (`fake-bedrock --tokens`), paced (`--token-delay`,
//!    on a fixed cadence from the first token) or not. *Direct*: the AWS SDK
//!    for Rust in the load generator calls `converse_stream()` on the fake and
//!    reads every event. *Via*: our gRPC `GenerateStream` on the gateway
//!    (`--backend bedrock`). Both time the first text delta (TTFT) and every
//!    gap between consecutive deltas; the gateway's additions are the
//!    differences. A constant relay cost per delta moves every delta by the
//!    same amount, so it shows in TTFT, not in the gaps: the added gap is the
//!    gateway's jitter per token.
//! 2. **Scale.** Many paced streams opened at once through one gateway
//!    (`--max-concurrent-generations 0`): how many are open together, any gap
//!    over the pacing + [`STALL_MARGIN`] (a stall), the gateway's RSS.
//!
//! The SDK talks HTTP/1.1 to an `http://` endpoint, one connection per
//! stream in flight, so the scale part holds as many sockets open in the
//! gateway and in the fake as there are streams (scripts/bench raises
//! `ulimit -n`, which the children inherit).

use super::{
    cpu, mb, ms, other, pause, progress, signed_ms, steady, stream_request, Run, Target,
    STREAM_PROMPT,
};
use crate::load::{self, closed_loop, Caller as _, DeltaGaps, Measured, Streaming};
use crate::procs::ServerProcess;
use crate::sdk::SdkConverseStream;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Text deltas of every compared stream (the simulated `stream` scenario's 64).
const DELTAS: u32 = 64;
/// A gap longer than the pacing by more than this is a stall.
const STALL_MARGIN: Duration = Duration::from_millis(100);
/// What fails a smoke run instead: its debug builds share the machine with
/// whatever else runs (compilers, tests), whose scheduling delays reach
/// 100 ms; a relay that holds deltas back still shows.
const SMOKE_STALL_MARGIN: Duration = Duration::from_secs(1);
/// The targets.
const MAX_ADDED_TTFT: Duration = Duration::from_micros(150);
const MAX_ADDED_GAP: Duration = Duration::from_micros(2);
const SCALE_GOAL_STREAMS: usize = 10_000;
const SCALE_MAX_RSS: u64 = 300_000_000;

const HEADER: &str = "## Bedrock streams: ConverseStream direct and through the gateway\n";
const SCALE_HEADER: &str = "## Bedrock streams at scale\n";

/// Flags of the scenario (flattened into `gateway-bench run`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BedrockStreamArgs {
    /// bedrock-stream: the fake's time between tokens in the paced comparison
    /// (default 20ms; smoke 5ms).
    #[arg(long, value_parser = humantime::parse_duration)]
    bedrock_stream_pacing: Option<Duration>,
    /// bedrock-stream: concurrencies of the unpaced comparison; the paced one
    /// runs at the first (0: no comparison, the scale part only).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    bedrock_stream_concurrency: Vec<usize>,
    /// bedrock-stream: streams opened at once in the scale part (default
    /// 10000; smoke 200; 0 skips the part).
    #[arg(long)]
    bedrock_stream_scale_streams: Option<usize>,
    /// bedrock-stream: connections to the gateway carrying them (default 100; smoke 10).
    #[arg(long)]
    bedrock_stream_scale_connections: Option<usize>,
    /// bedrock-stream: the fake's time between tokens in the scale part
    /// (default 1s, as the scale scenario's, so 10,000 streams are 10,000
    /// deltas/s on the CPU the gateway shares with the fake; smoke 250ms).
    #[arg(long, value_parser = humantime::parse_duration)]
    bedrock_stream_scale_token_delay: Option<Duration>,
    /// bedrock-stream: text deltas per stream in the scale part (default 16,
    /// so streams outlive the opening of the others; smoke 12).
    #[arg(long)]
    bedrock_stream_scale_tokens: Option<u32>,
}

impl BedrockStreamArgs {
    fn pacing(&self, smoke: bool) -> Duration {
        self.bedrock_stream_pacing
            .unwrap_or(Duration::from_millis(if smoke { 5 } else { 20 }))
    }
    fn scale_streams(&self, smoke: bool) -> usize {
        self.bedrock_stream_scale_streams
            .unwrap_or(if smoke { 200 } else { SCALE_GOAL_STREAMS })
    }
    fn scale_connections(&self, smoke: bool) -> usize {
        self.bedrock_stream_scale_connections
            .unwrap_or(if smoke { 10 } else { 100 })
    }
    fn scale_token_delay(&self, smoke: bool) -> Duration {
        self.bedrock_stream_scale_token_delay
            .unwrap_or(Duration::from_millis(if smoke { 250 } else { 1000 }))
    }
    fn scale_tokens(&self, smoke: bool) -> u32 {
        self.bedrock_stream_scale_tokens
            .unwrap_or(if smoke { 12 } else { 16 })
            .max(1)
    }
}

/// A duration as a flag value humantime reads back ("0ms", not "0s").
fn flag(d: Duration) -> String {
    if d.is_zero() {
        "0ms".into()
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn signed_micros(a: Duration, b: Duration) -> String {
    format!("{:+.1}", (a.as_secs_f64() - b.as_secs_f64()) * 1e6)
}

/// The gap statistics of one measurement (the recorder is reused).
#[derive(Debug, Clone, Copy)]
struct Gaps {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    count: u64,
    stalls: u64,
    worst: Duration,
}

impl Gaps {
    fn of(g: &DeltaGaps) -> Gaps {
        Gaps {
            p50: g.q(0.5),
            p99: g.q(0.99),
            mean: g.mean(),
            count: g.count(),
            stalls: g.stalls(),
            worst: g.worst(),
        }
    }
}

/// How the fake paces its streams.
struct Pacing {
    token_delay: Duration,
    tokens: u32,
    /// On the fake's precise timer thread (few streams) or tokio's (many).
    precise: bool,
}

/// A fake Bedrock whose --model streams as `pacing` says, and a gateway on it.
fn fake_and_gateway(
    run: &Run,
    name: &str,
    pacing: Pacing,
    gateway_flags: &[&str],
) -> Result<(ServerProcess, ServerProcess, super::FakeEndpoint), String> {
    let (delay, tokens) = (flag(pacing.token_delay), pacing.tokens.to_string());
    let mut fake_args = vec![
        "fake-bedrock",
        "--latency",
        "0ms",
        "--token-delay",
        &delay,
        "--tokens",
        &tokens,
        "--model",
        &run.args.bedrock_model,
    ];
    if pacing.precise {
        fake_args.push("--precise");
    }
    let (fake, endpoint) = run.start_fake(&format!("fake-bedrock-{name}"), &fake_args)?;
    let envs = endpoint.gateway_envs();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--backend",
        "bedrock",
    ];
    args.extend(gateway_flags);
    let gw = run.start(
        &format!("gateway-bedrock-{name}"),
        &run.gateway,
        &args,
        &envs,
        run.args.server_pin(),
    )?;
    Ok((fake, gw, endpoint))
}

/// Records a problem for stalls: any in a full run, a gap over the pacing +
/// [`SMOKE_STALL_MARGIN`] in a smoke run.
fn check_stalls(run: &mut Run, what: &str, pacing: Duration, stalls: u64, worst: Duration) {
    let margin = if run.args.smoke {
        SMOKE_STALL_MARGIN
    } else {
        STALL_MARGIN
    };
    if worst > pacing + margin {
        run.note(format!(
            "{what}: {stalls} stalls (gaps over {} ms), the worst {} ms",
            ms(pacing + STALL_MARGIN),
            ms(worst)
        ));
    }
}

/// The GenerateStream request of the comparison, for `deltas` tokens.
fn request(run: &Run, deltas: u32) -> crate::pb::GenerateStreamRequest {
    let mut r = stream_request(deltas);
    r.model_id = run.args.bedrock_model.clone();
    r
}

pub(super) async fn bedrock_stream(run: &mut Run) -> Result<(), String> {
    if run.args.bedrock_stream.bedrock_stream_concurrency != [0] {
        compare(run).await?;
    }
    scale(run).await
}

/// One measured point of the comparison.
struct Point {
    pacing: Duration,
    concurrency: usize,
    direct: (Measured, Gaps),
    via: (Measured, Gaps),
}

/// Measures `caller` in a closed loop, its gaps recorded in the same window;
/// the gaps of the attempt `steady` keeps.
async fn measure<C: load::Caller>(
    run: &Run,
    label: &str,
    caller: &C,
    gaps: &DeltaGaps,
    concurrency: usize,
    (warmup, window): (Duration, Duration),
    servers: (Option<&ServerProcess>, &ServerProcess),
) -> (Measured, Gaps) {
    let kept = RefCell::new(Vec::new());
    let kept_ref = &kept;
    let m = steady(run.args.smoke, label, || async move {
        let from = Instant::now() + warmup;
        gaps.reset(Some((from, from + window)));
        let m = closed_loop(
            caller,
            concurrency,
            warmup,
            window,
            servers.0,
            Some(servers.1),
        )
        .await;
        kept_ref.borrow_mut().push(Gaps::of(gaps));
        m
    })
    .await;
    let g = kept.borrow()[m.attempts as usize - 1];
    eprintln!(
        "gateway-bench: {label}: TTFT p50 {} ms p99 {} ms, gap p50 {} µs p99 {} µs mean {} µs over {} gaps, {} stalls (worst {} ms), fake CPU {}",
        ms(m.first_q(0.5)),
        ms(m.first_q(0.99)),
        micros(g.p50),
        micros(g.p99),
        micros(g.mean),
        g.count,
        g.stalls,
        ms(g.worst),
        cpu(m.cpu.ours),
    );
    progress(label, &m);
    (m, g)
}

/// The comparison: paced at the first concurrency, unpaced at each.
async fn compare(run: &mut Run) -> Result<(), String> {
    let smoke = run.args.smoke;
    let pacing = run.args.bedrock_stream.pacing(smoke);
    let mut concurrencies = run.args.bedrock_stream.bedrock_stream_concurrency.clone();
    let first_c = concurrencies.first().copied().unwrap_or(1).max(1);
    if smoke {
        // A debug build's streams at 16 outlast a smoke window; the scale part
        // below runs many at once.
        concurrencies = vec![first_c];
    }
    let mut points = Vec::new();
    for (pace, cs) in [(pacing, vec![first_c]), (Duration::ZERO, concurrencies)] {
        let (fake, mut gw, endpoint) = fake_and_gateway(
            run,
            &format!("stream-{}", flag(pace)),
            Pacing {
                token_delay: pace,
                tokens: DELTAS,
                precise: true,
            },
            &[],
        )?;
        // A paced stream takes (DELTAS - 1) × pace: the warm-up holds one, the window three.
        let stream_time = pace * (DELTAS - 1);
        let times = (
            run.args
                .warmup()
                .max(stream_time + Duration::from_millis(50)),
            run.args.duration().max(stream_time * 3),
        );
        let mut sdk = SdkConverseStream::new(
            &endpoint.sdk(),
            &run.args.bedrock_model,
            STREAM_PROMPT,
            DELTAS as i32,
            DELTAS,
        )
        .await;
        sdk.gaps = Some(DeltaGaps::new(pace + STALL_MARGIN));
        for &c in &cs {
            let c = c.max(1);
            let label = format!("bedrock-stream {} pacing c={c}", flag(pace));
            let direct_gaps = sdk.gaps.as_ref().expect("set above");
            let direct = measure(
                run,
                &format!("{label} SDK direct"),
                &sdk,
                direct_gaps,
                c,
                times,
                (None, &fake),
            )
            .await;
            pause(smoke).await;
            let conns = c.min(run.args.connections).max(1);
            let senders = load::connect(gw.addr, conns).await?;
            let mut caller = Streaming::new(gw.addr, senders, &request(run, DELTAS), DELTAS);
            caller.gaps = Some(DeltaGaps::new(pace + STALL_MARGIN));
            let via_gaps = caller.gaps.as_ref().expect("set above");
            let via = measure(
                run,
                &format!("{label} via gateway"),
                &caller,
                via_gaps,
                c,
                times,
                (Some(&gw), &fake),
            )
            .await;
            pause(smoke).await;
            for (name, (m, g)) in [("SDK direct", &direct), ("via gateway", &via)] {
                let what = format!("{label} {name}");
                run.check_errors(&what, m);
                run.sane(
                    m.tokens == m.ok * u64::from(DELTAS),
                    format!("{what}: {} deltas in {} streams", m.tokens, m.ok),
                );
                check_stalls(run, &what, pace, g.stalls, g.worst);
                if !pace.is_zero() {
                    let slack = (pace / 4).max(Duration::from_millis(2));
                    run.sane(
                        g.p50 + slack >= pace && g.p50 <= pace + slack,
                        format!(
                            "{what}: gap p50 {} ms with the fake pacing {} ms",
                            ms(g.p50),
                            ms(pace)
                        ),
                    );
                }
            }
            points.push(Point {
                pacing: pace,
                concurrency: c,
                direct,
                via,
            });
        }
        if !gw.alive() {
            run.note(format!(
                "the gateway died during bedrock-stream:\n{}",
                gw.log_tail(20)
            ));
        }
        gw.stop().await;
        fake.stop().await;
    }
    write_comparison(run, pacing, &points);
    Ok(())
}

fn write_comparison(run: &mut Run, pacing: Duration, points: &[Point]) {
    let mut rows = String::new();
    for p in points {
        let pace = p.pacing;
        // Paced rows show each gap less the pacing.
        let gap = |d: Duration| {
            if pace.is_zero() {
                micros(d)
            } else {
                signed_micros(d, pace)
            }
        };
        for (name, (m, g)) in [
            ("SDK → fake (direct)", &p.direct),
            ("client → gateway → SDK → fake", &p.via),
        ] {
            let _ = writeln!(
                rows,
                "| {} | {} | {name} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                ms(pace),
                p.concurrency,
                m.rps(),
                ms(m.first_q(0.5)),
                ms(m.first_q(0.99)),
                gap(g.p50),
                gap(g.p99),
                gap(g.mean),
                g.stalls,
                m.errors,
                cpu(m.cpu.server),
                cpu(m.cpu.ours),
                other(m),
            );
        }
        let ((d, dg), (v, vg)) = (&p.direct, &p.via);
        let _ = writeln!(
            rows,
            "| {} | {} | **added by the gateway** | | **{}** | {} | **{}** | {} | {} | | | | | |",
            ms(pace),
            p.concurrency,
            signed_ms(v.first_q(0.5), d.first_q(0.5)),
            signed_ms(v.first_q(0.99), d.first_q(0.99)),
            signed_micros(vg.p50, dg.p50),
            signed_micros(vg.p99, dg.p99),
            signed_micros(vg.mean, dg.mean),
        );
    }
    let cpus = match run.args.client_pin() {
        Some(client) => format!(
            "The fake runs on CPU {}, the gateway on CPU {}, the load generator and its SDK on CPU {client}.",
            run.args.fake_cpu.unwrap_or(run.args.server_cpu),
            run.args.server_cpu
        ),
        None => "Nothing is pinned to CPUs.".into(),
    };
    let md = &mut run.md;
    let _ = writeln!(md, "{HEADER}");
    let _ = writeln!(
        md,
        "The fake Bedrock (`fake-bedrock --tokens {DELTAS} --token-delay P --precise`) streams {DELTAS} text deltas per \
         ConverseStream: the first at once, each later one P after the one before, on a fixed cadence from the first, timed \
         by a thread of the fake's own (a futex timeout: tens of µs, where tokio's 1 ms timer drifts by up to 1 ms). *Direct*: the AWS SDK for Rust in the load generator calls \
         `converse_stream()` (configured as the gateway configures it) and reads every event. *Via*: our gRPC client calls \
         `GenerateStream` on the gateway (`--backend bedrock`). {cpus} Closed loop; every stream checked ({DELTAS} deltas, \
         the usage reporting them). TTFT: from the call to the first text delta, ms. Gap: between consecutive text deltas, \
         µs, of the streams started and ended in the window; with pacing, the gap less the pacing. A stall is a gap over the \
         pacing + {} ms. Server CPU is the gateway's, fake CPU the fake's (share of a core).\n",
        STALL_MARGIN.as_millis()
    );
    let _ = writeln!(md, "| pacing (ms) | concurrency | path | streams/s | TTFT p50 | TTFT p99 | gap p50 (µs) | gap p99 (µs) | gap mean (µs) | stalls | errors | server CPU | fake CPU | other CPU |");
    let _ = writeln!(
        md,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    md.push_str(&rows);
    let _ = writeln!(md, "\nThe *added* rows are via less direct.\n");
    let first_c = points.first().map_or(1, |p| p.concurrency);
    if let Some(p) = points
        .iter()
        .find(|p| p.pacing.is_zero() && p.concurrency == first_c)
    {
        let (d, v) = (&p.direct.0, &p.via.0);
        let added = v.first_q(0.5).as_secs_f64() - d.first_q(0.5).as_secs_f64();
        run.targets.push(Target {
            what: "Bedrock streams: added time to first token (p50, unpaced)",
            goal: format!("≤ {} µs", MAX_ADDED_TTFT.as_micros()),
            measured: format!(
                "{} µs at concurrency {} (p99 {} µs; direct p50 {} ms)",
                signed_micros(v.first_q(0.5), d.first_q(0.5)),
                p.concurrency,
                signed_micros(v.first_q(0.99), d.first_q(0.99)),
                ms(d.first_q(0.5)),
            ),
            met: Some(added <= MAX_ADDED_TTFT.as_secs_f64()),
            miss: format!(
                "{:.1} µs over",
                added * 1e6 - MAX_ADDED_TTFT.as_secs_f64() * 1e6
            ),
        });
    }
    if let Some(p) = points.iter().find(|p| !p.pacing.is_zero()) {
        let (dg, vg) = (&p.direct.1, &p.via.1);
        let added = vg.p50.as_secs_f64() - dg.p50.as_secs_f64();
        run.targets.push(Target {
            what: "Bedrock streams: added gap per token (p50)",
            goal: format!("≤ {} µs", MAX_ADDED_GAP.as_micros()),
            measured: format!(
                "{} µs with {} ms pacing at concurrency {} (mean {} µs; {} and {} gaps)",
                signed_micros(vg.p50, dg.p50),
                ms(pacing),
                p.concurrency,
                signed_micros(vg.mean, dg.mean),
                dg.count,
                vg.count,
            ),
            met: Some(added <= MAX_ADDED_GAP.as_secs_f64()),
            miss: format!(
                "{:.1} µs over",
                added * 1e6 - MAX_ADDED_GAP.as_secs_f64() * 1e6
            ),
        });
    }
}

/// Many paced streams through one gateway at once.
async fn scale(run: &mut Run) -> Result<(), String> {
    let smoke = run.args.smoke;
    let a = &run.args.bedrock_stream;
    let n = a.scale_streams(smoke);
    if n == 0 {
        return Ok(());
    }
    let conns = a.scale_connections(smoke).clamp(1, n);
    let delay = a.scale_token_delay(smoke);
    let tokens = a.scale_tokens(smoke);
    let (fake, mut gw, _) = fake_and_gateway(
        run,
        "stream-scale",
        Pacing {
            token_delay: delay,
            tokens,
            precise: false,
        },
        &["--max-concurrent-generations", "0"],
    )?;
    // One short stream first (a single token: no pacing), so the gateway has
    // its catalogue and the SDK its first connection before the count starts.
    let senders = load::connect(gw.addr, conns).await?;
    let warm = Streaming::new(gw.addr, senders.clone(), &request(run, 1), 1);
    let warmed = tokio::time::timeout(load::CALL_TIMEOUT, warm.call(0))
        .await
        .unwrap_or_else(|_| Err("no answer".into()));
    if let Err(e) = warmed {
        return Err(format!(
            "bedrock-stream scale: the warm-up stream failed: {e}"
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = gw.rss_bytes();
    let mut caller = Streaming::new(gw.addr, senders, &request(run, tokens), tokens);
    caller.gauge = Some(Default::default());
    caller.gaps = Some(DeltaGaps::new(delay + STALL_MARGIN));
    let gauge = caller.gauge.as_ref().expect("set above");
    let gaps = caller.gaps.as_ref().expect("set above");
    gauge.target.set(n);
    let started = Instant::now();
    let mut meter = load::CpuMeter::new(Some(&gw)).also(Some(&fake));
    meter.begin();
    let stream_life = delay * tokens + Duration::from_secs(60);
    let deadline = started + stream_life;
    let mut calls: futures::stream::FuturesUnordered<_> = (0..n)
        .map(|i| {
            let caller = &caller;
            async move {
                match tokio::time::timeout(stream_life, caller.call(i)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("stream not done within {stream_life:?}")),
                }
            }
        })
        .collect();
    let (mut errors, mut first_error, mut ok) = (0u64, None::<String>, 0u64);
    let mut rss_peak = rss_idle;
    let mut rss_all_open = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    use futures::StreamExt as _;
    loop {
        tokio::select! {
            next = calls.next() => match next {
                Some(Ok(_)) => ok += 1,
                Some(Err(e)) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
                None => break,
            },
            _ = tick.tick() => {
                let rss = gw.rss_bytes();
                rss_peak = rss_peak.max(rss);
                if rss_all_open.is_none() && gauge.all_opened_at.get().is_some() {
                    rss_all_open = rss;
                }
                if Instant::now() > deadline {
                    break;
                }
            }
        }
    }
    let unfinished = calls.len();
    drop(calls);
    let cpu_use = meter.end();
    tokio::time::sleep(Duration::from_secs(if smoke { 1 } else { 2 })).await;
    let rss_after = gw.rss_bytes();
    let peak_open = gauge.peak.get();
    let open_all = gauge.all_opened_at.get().map(|t| t - started);
    let (stalls, worst) = (gaps.stalls(), gaps.worst());
    // Stalls once every stream was open: not the opening burst's queueing.
    let steady_stalls = gauge
        .all_opened_at
        .get()
        .map_or(stalls, |t| gaps.stalls_from(t));
    errors += unfinished as u64;
    eprintln!(
        "gateway-bench: bedrock-stream scale: {ok} streams ok, {errors} errors, peak open {peak_open}, {stalls} stalls ({steady_stalls} once all were open; worst gap {} ms), RSS idle {} all-open {} peak {} after {}, gateway CPU {}, fake CPU {}",
        ms(worst), mb(rss_idle), mb(rss_all_open), mb(rss_peak), mb(rss_after), cpu(cpu_use.server), cpu(cpu_use.ours)
    );
    if errors > 0 {
        run.note(format!(
            "bedrock-stream scale: {errors} errors (first: {})",
            first_error.unwrap_or_else(|| "unfinished".into())
        ));
    }
    // A full run judges the stalls in the target below.
    if smoke {
        check_stalls(run, "bedrock-stream scale", delay, stalls, worst);
    }
    run.sane(
        peak_open == n,
        format!("bedrock-stream scale: peak open streams {peak_open}, expected {n}"),
    );
    run.sane(
        rss_peak.is_some_and(|r| r > 0),
        "bedrock-stream scale: gateway RSS unreadable".into(),
    );
    if !gw.alive() {
        run.note(format!(
            "the gateway died during bedrock-stream scale:\n{}",
            gw.log_tail(20)
        ));
    }
    let md = &mut run.md;
    let _ = writeln!(md, "{SCALE_HEADER}");
    let _ = writeln!(
        md,
        "One gateway (`--backend bedrock --max-concurrent-generations 0`) on the fake Bedrock (`--tokens {tokens} --token-delay {}`): \
         after one warm-up stream, {n} `GenerateStream` calls of {tokens} deltas sent at once over {conns} HTTP/2 connections, \
         each open about {} s. {} A stall is a gap \
         between consecutive deltas over {} ms (the pacing + {} ms); *once all open* counts the stalls that began after \
         every stream had its first delta (not delayed by the opening of the others). RSS is the gateway's VmRSS: idle (after the warm-up \
         stream), when every stream had its first delta (all open), the highest 100 ms sample (peak), and {} s after the \
         last stream ended. CPU: share of a core over the streams' life.\n",
        flag(delay),
        (delay * (tokens - 1)).as_secs_f64(),
        if run.args.bedrock_tls {
            "The fake serves TLS with HTTP/2 (128 streams a connection, `--bedrock-tls`): the gateway carries its streams \
             on HTTP/2 connections to it, opening another each `--bedrock-calls-per-connection` (100) streams."
        } else {
            "The gateway's SDK holds one HTTP/1.1 connection to the fake per stream."
        },
        ms(delay + STALL_MARGIN),
        STALL_MARGIN.as_millis(),
        if smoke { 1 } else { 2 },
    );
    let _ = writeln!(md, "| streams | connections | deltas | pacing (ms) | peak open | time to open all | stalls | stalls once all open | worst gap (ms) | RSS idle | RSS all open | RSS peak | RSS after | gateway CPU | fake CPU | errors |");
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        md,
        "| {n} | {conns} | {tokens} | {} | {peak_open} | {} | {stalls} | {steady_stalls} | {} | {} | {} | {} | {} | {} | {} | {errors} |\n",
        ms(delay),
        open_all.map_or("–".into(), |d| format!("{} ms", ms(d))),
        ms(worst),
        mb(rss_idle),
        mb(rss_all_open),
        mb(rss_peak),
        mb(rss_after),
        cpu(cpu_use.server),
        cpu(cpu_use.ours),
    );
    let peak = rss_peak.unwrap_or(u64::MAX);
    run.targets.push(Target {
        what: "Concurrent Bedrock streams without a stall",
        goal: format!(
            "{SCALE_GOAL_STREAMS} streams, 0 stalls (gap > pacing + {} ms), gateway RSS < {} MB, 0 errors",
            STALL_MARGIN.as_millis(),
            SCALE_MAX_RSS / 1_000_000
        ),
        measured: format!(
            "{peak_open} open at once of {n}, {stalls} stalls ({steady_stalls} once all were open; worst gap {} ms at {} ms pacing), peak RSS {}, {errors} errors",
            ms(worst),
            ms(delay),
            mb(rss_peak)
        ),
        met: Some(
            n >= SCALE_GOAL_STREAMS
                && peak_open == n
                && stalls == 0
                && errors == 0
                && peak < SCALE_MAX_RSS,
        ),
        miss: if n < SCALE_GOAL_STREAMS {
            format!("only {n} streams in this run")
        } else {
            format!(
                "{stalls} stalls, {errors} errors, peak RSS {}, {peak_open} open at once",
                mb(rss_peak)
            )
        },
    });
    drop(caller);
    gw.stop().await;
    fake.stop().await;
    Ok(())
}
