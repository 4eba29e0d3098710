//! `gateway-bench run`: starts the servers, drives every scenario, writes the
//! Markdown results and judges the targets.

use crate::load::{self, closed_loop, open_loop, Caller as _, Measured, Streaming, Unary};
use crate::pb;
use crate::procs::{self, ServerProcess, Spec};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod bedrock_cpu;
mod bedrock_stream;
mod fleet;
mod frontier;

/// The model every scenario asks for.
pub(crate) const MODEL: &str = "amazon.titan-text-express-v1";
/// Unary scenario: a short prompt (prose), 16 tokens out.
const UNARY_PROMPT: &str = "Tell me about the sky";
const UNARY_TOKENS: u32 = 16;
/// Streaming scenario: a poem prompt, which the simulated backend answers with
/// more than 64 tokens, cut at 64.
const STREAM_PROMPT: &str = "Write a poem about sky";
const STREAM_TOKENS: u32 = 64;
/// The fake Bedrock answers at most 12 tokens (its natural length).
const BEDROCK_MAX_TOKENS: u32 = 16;
const BEDROCK_TOKENS: u32 = 12;

/// A log filter that keeps the startup lines (the address) but drops every
/// per-call event and span: `warn` for all of the gateway's modules.
const QUIET_LOGS: &str = "warn,bedrock_gateway=info,bedrock_gateway::=warn";

/// Most CPU, in cores, that other processes may use during a window before
/// the point is measured again (full runs only).
const MAX_OTHER_CPU: f64 = 0.15;
/// Measurements of one point at most, and the pause before each retry: a
/// disturbance of about a minute is waited out.
const ATTEMPTS: u32 = 5;
const RETRY_PAUSES_S: [u64; 4] = [5, 10, 20, 30];

/// Measures a point; while other processes used more than [`MAX_OTHER_CPU`]
/// during the window, measures it again (at most [`ATTEMPTS`] times, keeping
/// the least disturbed; errors of every attempt count).
async fn steady<Fut: std::future::Future<Output = Measured>>(
    smoke: bool,
    label: &str,
    mut measure: impl FnMut() -> Fut,
) -> Measured {
    let mut kept: Option<Measured> = None;
    let mut errors = 0;
    let mut first_error = None;
    for attempt in 1..=ATTEMPTS {
        let mut m = measure().await;
        m.attempts = attempt;
        errors += m.errors;
        first_error = first_error.or(m.first_error.clone());
        let other = m.cpu.other.unwrap_or(0.0);
        if smoke || other <= MAX_OTHER_CPU {
            kept = Some(m);
            break;
        }
        eprintln!(
            "gateway-bench: {label}: other processes used {:.0}% of a CPU during the window (attempt {attempt} of {ATTEMPTS})",
            other * 100.0
        );
        if kept
            .as_ref()
            .is_none_or(|k| other < k.cpu.other.unwrap_or(0.0))
        {
            kept = Some(m);
        }
        if let Some(pause) = RETRY_PAUSES_S.get(attempt as usize - 1) {
            tokio::time::sleep(Duration::from_secs(*pause)).await;
        }
    }
    let mut m = kept.expect("at least one attempt");
    m.errors = errors;
    m.first_error = first_error;
    m
}

/// The "other CPU" cell: flagged when over [`MAX_OTHER_CPU`].
fn other(m: &Measured) -> String {
    match m.cpu.other {
        Some(o) if o > MAX_OTHER_CPU => format!("{:.0}% ⚠", o * 100.0),
        o => cpu(o),
    }
}

/// Most calls outstanding in the open-loop test before calls are refused.
const MAX_OUTSTANDING: usize = 4096;

/// Flags of `gateway-bench run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Smoke run: every scenario for about a second at small scale (200
    /// streams instead of 10,000); fails unless every call succeeded and the
    /// numbers are sane. Targets are shown but not judged.
    #[arg(long)]
    smoke: bool,
    /// The bedrock-gateway binary. Default: `bedrock-gateway` beside this
    /// executable (target/release/ for a release build).
    #[arg(long, env = "BENCH_GATEWAY_BIN")]
    gateway: Option<PathBuf>,
    /// Also write the Markdown results to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Warm-up before each measurement (default 2s; smoke 150ms).
    #[arg(long, value_parser = humantime::parse_duration)]
    warmup: Option<Duration>,
    /// Measurement window of each point (default 10s; smoke 600ms).
    #[arg(long, alias = "window", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Unary concurrencies (closed loop).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    concurrency: Vec<usize>,
    /// Most HTTP/2 connections per measurement (min(concurrency, this)).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Stream concurrencies (closed loop); the best tokens/s is judged.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    stream_concurrency: Vec<usize>,
    /// An LD_PRELOAD library that sets TCP_NODELAY on accepted sockets
    /// (bench/nodelay-shim.c): one more gateway is measured with it.
    #[arg(long)]
    gateway_preload: Option<PathBuf>,
    /// Streams held open at once in the scale scenario (default 10000; smoke 200).
    #[arg(long)]
    scale_streams: Option<usize>,
    /// Connections carrying the scale scenario's streams (default 100; smoke 10).
    #[arg(long)]
    scale_connections: Option<usize>,
    /// The simulated token delay in the scale scenario (default 1s; smoke 100ms).
    #[arg(long, value_parser = humantime::parse_duration)]
    scale_token_delay: Option<Duration>,
    /// Tokens per stream in the scale scenario.
    #[arg(long, default_value_t = 8)]
    scale_max_tokens: u32,
    /// Concurrencies of the Bedrock-path comparison.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    bedrock_concurrency: Vec<usize>,
    /// The model of the Bedrock-path comparison (a Claude model, such as
    /// anthropic.claude-3-5-sonnet-20240620-v1:0, makes a gateway with a
    /// token budget count tokens upstream before each call).
    #[arg(long, env = "BENCH_BEDROCK_MODEL", default_value = MODEL)]
    bedrock_model: String,
    /// The fake Bedrock's latencies before each answer; the first is judged
    /// against the target, the others (0 ms: no timer rounding) are diagnostics.
    #[arg(long, value_delimiter = ',', default_value = "50ms,0ms", value_parser = humantime::parse_duration)]
    bedrock_latency: Vec<Duration>,
    /// The fake Bedrock serves TLS and offers HTTP/2 by ALPN, as Bedrock's
    /// endpoints do, so the SDK (direct and in the gateway) carries its calls
    /// as streams of one HTTP/2 connection instead of one HTTP/1.1
    /// connection per call in flight (the default, plain `http://`).
    #[arg(long)]
    bedrock_tls: bool,
    /// CPU of the load generator (and the fake Bedrock).
    #[arg(long, default_value_t = 0)]
    client_cpu: usize,
    /// CPU of the servers under test.
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// CPU of the fake Bedrock (default: the servers' CPU, so the direct SDK
    /// call crosses CPUs as often as the call through the gateway does: a
    /// cross-CPU wakeup on loopback is costly in a VM).
    #[arg(long)]
    fake_cpu: Option<usize>,
    /// Do not pin anything to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// The h2load program for the unary cross-check (skipped if not found).
    #[arg(long, default_value = "h2load")]
    h2load: String,
    /// The redis-server program for the fleet scenario (skipped if not
    /// found, unless BEDROCK_GATEWAY_REQUIRE_REDIS=1).
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Scenarios to run, of: unary, open, h2load, stream, scale, bedrock,
    /// fleet (the Redis limits store against the local one), bedrock-stream
    /// (ConverseStream direct and through the gateway, and at scale),
    /// frontier (the most calls/s with p99 under 1, 5 and 20 ms, open loop).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unary,open,h2load,stream,scale,bedrock,fleet,bedrock-stream,frontier"
    )]
    scenarios: Vec<String>,
    #[command(flatten)]
    bedrock_stream: bedrock_stream::BedrockStreamArgs,
    /// Start the floor with Nagle's algorithm left on (`floor --no-nodelay`),
    /// as a plain `serve_with_incoming` leaves it: shows what TCP_NODELAY is worth.
    #[arg(long)]
    floor_no_nodelay: bool,
    /// Where server logs go (default: a new directory under /tmp).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// A note for the results' header (e.g. the machine's load before the run).
    #[arg(long)]
    note: Option<String>,
}

impl RunArgs {
    /// The CPU to pin the load generator to, if pinning applies.
    pub(crate) fn client_pin(&self) -> Option<usize> {
        self.pinning().then_some(self.client_cpu)
    }

    fn server_pin(&self) -> Option<usize> {
        self.pinning().then_some(self.server_cpu)
    }

    fn pinning(&self) -> bool {
        !self.no_pin && online_cpus() >= 2 && procs::on_path("taskset").is_some()
    }

    fn warmup(&self) -> Duration {
        self.warmup.unwrap_or(if self.smoke {
            Duration::from_millis(150)
        } else {
            Duration::from_secs(2)
        })
    }

    fn duration(&self) -> Duration {
        self.duration.unwrap_or(if self.smoke {
            Duration::from_millis(600)
        } else {
            Duration::from_secs(10)
        })
    }

    fn scale_streams(&self) -> usize {
        self.scale_streams
            .unwrap_or(if self.smoke { 200 } else { 10_000 })
    }

    fn scale_connections(&self) -> usize {
        self.scale_connections
            .unwrap_or(if self.smoke { 10 } else { 100 })
    }

    fn scale_token_delay(&self) -> Duration {
        self.scale_token_delay.unwrap_or(if self.smoke {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        })
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize
}

/// Everything a run collects.
struct Run {
    args: RunArgs,
    gateway: PathBuf,
    bench: PathBuf,
    work_dir: PathBuf,
    md: String,
    problems: Vec<String>,
    targets: Vec<Target>,
}

struct Target {
    what: &'static str,
    goal: String,
    measured: String,
    /// None: not measured in this run.
    met: Option<bool>,
    miss: String,
}

// ------------------------------------------------------------------------------------------
// Formatting
// ------------------------------------------------------------------------------------------

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn dratio(a: Duration, b: Duration) -> String {
    ratio(a.as_secs_f64(), b.as_secs_f64())
}

fn cpu(c: Option<f64>) -> String {
    c.map_or("–".into(), |c| format!("{:.0}%", c * 100.0))
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

fn signed_ms(a: Duration, b: Duration) -> String {
    let d = a.as_secs_f64() - b.as_secs_f64();
    format!("{:+.3} ms", d * 1000.0)
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn first_line_with(path: &str, prefix: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(|l| l.split_once(':').map_or(l, |(_, v)| v).trim().to_owned())
        .unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ------------------------------------------------------------------------------------------
// Servers
// ------------------------------------------------------------------------------------------

impl Run {
    fn start(
        &self,
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        cpu: Option<usize>,
    ) -> Result<ServerProcess, String> {
        ServerProcess::start(
            Spec {
                name,
                program,
                args: args.iter().map(|s| s.to_string()).collect(),
                envs: envs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                cpu,
                ready: None,
            },
            &self.work_dir,
        )
    }

    fn floor(&self) -> Result<ServerProcess, String> {
        let tokens = STREAM_TOKENS.to_string();
        let mut args = vec![
            "floor",
            "--listen",
            "127.0.0.1:0",
            "--stream-tokens",
            &tokens,
        ];
        if self.args.floor_no_nodelay {
            args.push("--no-nodelay");
        }
        self.start("floor", &self.bench, &args, &[], self.args.server_pin())
    }

    /// The gateway on the simulated backend (no first-token latency).
    fn simulated_gateway(
        &self,
        name: &str,
        token_delay: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<ServerProcess, String> {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--backend",
            "simulated",
            "--simulated-token-delay",
            token_delay,
        ];
        args.extend(extra);
        self.start(name, &self.gateway, &args, envs, self.args.server_pin())
    }

    fn note(&mut self, problem: String) {
        eprintln!("gateway-bench: PROBLEM: {problem}");
        self.problems.push(problem);
    }

    /// Records a problem for every error in `m`.
    fn check_errors(&mut self, what: &str, m: &Measured) {
        if m.errors > 0 {
            let first = m.first_error.clone().unwrap_or_default();
            self.note(format!("{what}: {} errors (first: {first})", m.errors));
        }
        if m.ok == 0 {
            self.note(format!("{what}: no call completed in the window"));
        }
    }

    fn sane(&mut self, ok: bool, what: String) {
        if !ok {
            self.note(format!("not sane: {what}"));
        }
    }
}

fn unary_request(max_tokens: u32, prompt: &str) -> pb::GenerateRequest {
    pb::GenerateRequest {
        model_id: MODEL.into(),
        prompt: prompt.into(),
        parameters: Some(pb::GenerationParameters {
            max_tokens: Some(max_tokens),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn stream_request(max_tokens: u32) -> pb::GenerateStreamRequest {
    pb::GenerateStreamRequest {
        model_id: MODEL.into(),
        prompt: STREAM_PROMPT.into(),
        parameters: Some(pb::GenerationParameters {
            max_tokens: Some(max_tokens),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn progress(label: &str, m: &Measured) {
    eprintln!(
        "gateway-bench: {label}: {:.0} calls/s, p50 {} ms, p99 {} ms, {:.0} tokens/s, errors {}, server CPU {}, client CPU {}, other CPU {}, {} calls in all",
        m.rps(),
        ms(m.q(0.5)),
        ms(m.q(0.99)),
        m.tokens_per_second(),
        m.errors,
        cpu(m.cpu.server),
        cpu(Some(m.cpu.client)),
        cpu(m.cpu.other),
        m.all_ok,
    );
}

/// A short rest between points, so one point's stragglers never meet the next.
async fn pause(smoke: bool) {
    tokio::time::sleep(Duration::from_millis(if smoke { 100 } else { 300 })).await;
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// The cells every closed- and open-loop table starts its measurements
/// with: RPS | p50 | p90 | p99 | max | errors | server CPU.
fn rate_latency_cells(m: &Measured) -> String {
    format!(
        "{:.0} | {} | {} | {} | {} | {} | {}",
        m.rps(),
        ms(m.q(0.5)),
        ms(m.q(0.9)),
        ms(m.q(0.99)),
        ms(m.max()),
        m.errors,
        cpu(m.cpu.server),
    )
}

/// One row of the unary table; ratios against `base` (the floor) if given.
fn unary_row(c: usize, conns: usize, name: &str, m: &Measured, base: Option<&Measured>) -> String {
    let r = |f: &dyn Fn(&Measured) -> String| base.map_or_else(|| "1".to_owned(), f);
    format!(
        "| {c} | {conns} | {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        rate_latency_cells(m),
        cpu(Some(m.cpu.client)),
        other(m),
        r(&|b| ratio(m.rps(), b.rps())),
        r(&|b| dratio(m.q(0.5), b.q(0.5))),
        r(&|b| dratio(m.q(0.9), b.q(0.9))),
        r(&|b| dratio(m.q(0.99), b.q(0.99))),
        r(&|b| dratio(m.max(), b.max())),
    )
}

/// Extra gateway processes measured beside the default one.
struct Variants<'a> {
    /// Per-call logging off.
    quiet: &'a ServerProcess,
    /// TCP_NODELAY through the LD_PRELOAD shim.
    nodelay: Option<&'a ServerProcess>,
}

const QUIET_LABEL: &str = "gateway, per-call logs off¹";
const NODELAY_LABEL: &str = "gateway + TCP_NODELAY²";

fn variant_notes(md: &mut String, quiet: bool, nodelay: bool) {
    if quiet {
        let _ = writeln!(
            md,
            "\n¹ `--log-level {QUIET_LOGS}`: the startup lines only, no per-call log line or span."
        );
    }
    if nodelay {
        let _ = writeln!(
            md,
            "{}² The same gateway binary started with `LD_PRELOAD` of bench/nodelay-shim.c, which sets TCP_NODELAY on every \
             accepted socket. It measured that fix before the gateway had it (src/server.rs sets it since commit a3b8b1e); \
             now it should match the plain gateway, and a gap would mean the setting was lost.",
            if quiet { "" } else { "\n" }
        );
    }
}

/// Closed-loop unary: the floor and the gateway at each concurrency, then the
/// variants at 64. Returns the gateway's best RPS.
async fn unary(
    run: &mut Run,
    floor: &ServerProcess,
    gw: &ServerProcess,
    variants: &Variants<'_>,
) -> Result<Option<f64>, String> {
    let (warmup, window) = (run.args.warmup(), run.args.duration());
    let request = unary_request(UNARY_TOKENS, UNARY_PROMPT);
    let mut rows = String::new();
    let mut best: Option<f64> = None;
    let mut at64 = None;
    for &c in &run.args.concurrency.clone() {
        let conns = c.min(run.args.connections).max(1);
        let mut measured = Vec::new();
        let mut servers = vec![(floor, "floor"), (gw, "gateway")];
        if c == 64 {
            servers.push((variants.quiet, QUIET_LABEL));
            if let Some(n) = variants.nodelay {
                servers.push((n, NODELAY_LABEL));
            }
        }
        for (server, label) in servers {
            let senders = load::connect(server.addr, conns).await?;
            let caller = Unary::new(server.addr, senders, &request, UNARY_TOKENS);
            let name = format!("unary c={c} {label}");
            let m = steady(run.args.smoke, &name, || {
                closed_loop(&caller, c, warmup, window, Some(server), None)
            })
            .await;
            progress(&name, &m);
            run.check_errors(&format!("unary c={c} {label}"), &m);
            run.sane(
                m.q(0.99) < Duration::from_secs(2),
                format!("unary c={c} {label} p99 {} ms", ms(m.q(0.99))),
            );
            measured.push((label, m));
            pause(run.args.smoke).await;
        }
        let f = measured[0].1.clone();
        best = Some(best.unwrap_or(0.0).max(measured[1].1.rps()));
        for (i, (label, m)) in measured.iter().enumerate() {
            rows.push_str(&unary_row(c, conns, label, m, (i > 0).then_some(&f)));
        }
        if c == 64 {
            at64 = Some(measured);
        }
    }
    let md = &mut run.md;
    let _ = writeln!(md, "## Unary `Generate` (closed loop)\n");
    let _ = writeln!(
        md,
        "Prompt {UNARY_PROMPT:?}, `max_tokens` {UNARY_TOKENS}; the gateway on `--backend simulated --simulated-token-delay 0ms` \
         (default `--log-level info`: one JSON log line per call). Latencies in ms. Ratios are gateway / floor \
         (RPS: higher is better; latency: lower is better). CPU: share of one core over the window; other CPU: \
         what other processes used meanwhile (⚠ over {:.0}%: the point was measured up to {ATTEMPTS} times, pausing between, and the least disturbed kept).\n",
        MAX_OTHER_CPU * 100.0
    );
    let _ = writeln!(md, "| concurrency | connections | server | RPS | p50 | p90 | p99 | max | errors | server CPU | client CPU | other CPU | RPS ratio | p50 ratio | p90 ratio | p99 ratio | max ratio |");
    let _ = writeln!(
        md,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    md.push_str(&rows);
    variant_notes(
        md,
        at64.is_some(),
        at64.is_some() && variants.nodelay.is_some(),
    );
    md.push('\n');
    if let Some(measured) = &at64 {
        let (f, g) = (&measured[0].1, &measured[1].1);
        let pct = |m: &Measured| 100.0 * m.rps() / f.rps().max(1e-9);
        let others: Vec<String> = measured[2..]
            .iter()
            .map(|(label, m)| format!("{}: {:.0}%", label.trim_end_matches(['¹', '²']), pct(m)))
            .collect();
        run.targets.push(Target {
            what: "Unary RPS at concurrency 64, vs the floor",
            goal: "≥ 70% of the floor".into(),
            measured: format!(
                "{:.0} vs {:.0} RPS = {:.0}% ({})",
                g.rps(),
                f.rps(),
                pct(g),
                others.join("; ")
            ),
            met: Some(g.rps() >= 0.7 * f.rps()),
            miss: format!(
                "{:.0} RPS ({:.0} points) short",
                0.7 * f.rps() - g.rps(),
                70.0 - pct(g)
            ),
        });
    }
    Ok(best)
}

/// Open loop at half the gateway's best closed-loop RPS, floor and gateway.
async fn open(
    run: &mut Run,
    floor: &ServerProcess,
    gw: &ServerProcess,
    nodelay: Option<&ServerProcess>,
    best: f64,
) -> Result<(), String> {
    let (warmup, window) = (run.args.warmup(), run.args.duration());
    let rate = (best / 2.0).max(10.0);
    let request = unary_request(UNARY_TOKENS, UNARY_PROMPT);
    let conns = run.args.connections;
    let mut servers = vec![(floor, "floor"), (gw, "gateway")];
    if let Some(n) = nodelay {
        servers.push((n, NODELAY_LABEL));
    }
    let mut results = Vec::new();
    for (server, label) in servers {
        let senders = load::connect(server.addr, conns).await?;
        let caller = Unary::new(server.addr, senders, &request, UNARY_TOKENS);
        let name = format!("open loop {rate:.0}/s {label}");
        let m = steady(run.args.smoke, &name, || {
            open_loop(&caller, rate, warmup, window, MAX_OUTSTANDING, Some(server), None)
        })
        .await;
        progress(&name, &m);
        run.check_errors(&format!("open loop {label} at {rate:.0}/s"), &m);
        results.push((label, m));
        pause(run.args.smoke).await;
    }
    let (f, g) = (&results[0].1, &results[1].1);
    let md = &mut run.md;
    let _ = writeln!(md, "## Unary at half load (open loop)\n");
    let _ = writeln!(
        md,
        "Calls issued at a fixed {rate:.0}/s (half the gateway's best closed-loop RPS above), whatever the answers do, \
         over {conns} connections; each call timed from its own send. Same request as above. Latencies in ms.\n"
    );
    let _ = writeln!(md, "| server | offered /s | completed /s | p50 | p90 | p99 | max | errors | server CPU | client CPU | other CPU | added p50 | added p99 |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (i, (label, m)) in results.iter().enumerate() {
        let added = |q: f64| {
            if i == 0 {
                "–".to_owned()
            } else {
                signed_ms(m.q(q), f.q(q))
            }
        };
        let _ = writeln!(
            md,
            "| {label} | {rate:.0} | {} | {} | {} | {} | {} |",
            rate_latency_cells(m),
            cpu(Some(m.cpu.client)),
            other(m),
            added(0.5),
            added(0.99)
        );
    }
    if nodelay.is_some() {
        variant_notes(md, false, true);
    }
    md.push('\n');
    let added = g.q(0.99).saturating_sub(f.q(0.99));
    let also = results
        .get(2)
        .map(|(_, n)| format!("; with TCP_NODELAY {}", signed_ms(n.q(0.99), f.q(0.99))))
        .unwrap_or_default();
    run.targets.push(Target {
        what: "p99 added latency over the floor at half of the maximum load",
        goal: "< 1 ms".into(),
        measured: format!(
            "{} at {rate:.0} calls/s{also}",
            signed_ms(g.q(0.99), f.q(0.99))
        ),
        met: Some(added < Duration::from_millis(1)),
        miss: format!("{:.3} ms over", added.as_secs_f64() * 1000.0 - 1.0),
    });
    Ok(())
}

/// What h2load printed.
struct H2loadResult {
    rps: f64,
    succeeded: u64,
    failed: u64,
    errored: u64,
    mean: String,
}

fn parse_h2load(out: &str) -> Option<H2loadResult> {
    let mut rps = None;
    let (mut succeeded, mut failed, mut errored) = (None, None, None);
    let mut mean = String::new();
    for line in out.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("finished in") {
            rps = rest
                .split(',')
                .nth(1)
                .and_then(|s| s.trim().strip_suffix("req/s"))
                .and_then(|s| s.trim().parse().ok());
        } else if let Some(rest) = line.strip_prefix("requests:") {
            for part in rest.split(',') {
                let mut it = part.split_whitespace();
                let (Some(n), Some(what)) = (it.next(), it.next()) else {
                    continue;
                };
                let n = n.parse().ok();
                match what {
                    "succeeded" => succeeded = n,
                    "failed" => failed = n,
                    "errored" => errored = n,
                    _ => {}
                }
            }
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            mean = rest
                .split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .to_owned();
        }
    }
    Some(H2loadResult {
        rps: rps?,
        succeeded: succeeded?,
        failed: failed?,
        errored: errored?,
        mean,
    })
}

/// h2load against the floor and the gateway at concurrency 64 (16 connections × 4 streams).
async fn h2load(run: &mut Run, floor: &ServerProcess, gw: &ServerProcess) -> Result<(), String> {
    let md_header = "## Cross-check: h2load, unary at concurrency 64\n";
    let Some(h2load) = procs::on_path(&run.args.h2load) else {
        let _ = writeln!(
            run.md,
            "{md_header}\nSkipped: `{}` not found (Debian package `nghttp2-client`).\n",
            run.args.h2load
        );
        return Ok(());
    };
    let body = run.work_dir.join("generate-request.bin");
    std::fs::write(
        &body,
        load::grpc_frame(&unary_request(UNARY_TOKENS, UNARY_PROMPT)),
    )
    .map_err(|e| e.to_string())?;
    let (conns, streams) = (16usize, 4usize);
    let mut rows = Vec::new();
    for server in [floor, gw] {
        let url = format!("http://{}{}", server.addr, load::GENERATE);
        let mut cmd = match run.args.client_pin() {
            Some(c) => {
                let mut cmd = tokio::process::Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(&h2load);
                cmd
            }
            None => tokio::process::Command::new(&h2load),
        };
        cmd.args([
            "-t",
            "1",
            "-c",
            &conns.to_string(),
            "-m",
            &streams.to_string(),
        ])
        .arg(format!(
            "--warm-up-time={}ms",
            run.args.warmup().as_millis()
        ))
        .arg(format!("--duration={}ms", run.args.duration().as_millis()))
        .arg("--data")
        .arg(&body)
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            &url,
        ])
        .kill_on_drop(true);
        let bound = run.args.warmup() + run.args.duration() + Duration::from_secs(30);
        let out = tokio::time::timeout(bound, cmd.output())
            .await
            .map_err(|_| format!("h2load did not finish within {bound:?}"))?
            .map_err(|e| format!("h2load: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        std::fs::write(
            run.work_dir.join(format!("h2load-{}.txt", server.name)),
            &text,
        )
        .ok();
        let Some(r) = parse_h2load(&text) else {
            run.note(format!(
                "h2load against {}: unreadable output:\n{text}{}",
                server.name,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        };
        eprintln!(
            "gateway-bench: h2load {}: {:.0} req/s, mean {}",
            server.name, r.rps, r.mean
        );
        if r.failed + r.errored > 0 || r.succeeded == 0 {
            run.note(format!(
                "h2load against {}: {} failed, {} errored, {} succeeded",
                server.name, r.failed, r.errored, r.succeeded
            ));
        }
        rows.push((server.name.clone(), r));
        pause(run.args.smoke).await;
    }
    let md = &mut run.md;
    let _ = writeln!(md, "{md_header}");
    let _ = writeln!(
        md,
        "An independent load generator (nghttp2's h2load, C) on the same CPU as ours: {conns} connections × {streams} streams, \
         POSTing the same gRPC-framed request. h2load counts HTTP 200s and cannot read grpc-status (our generator checks it).\n"
    );
    let _ = writeln!(
        md,
        "| server | RPS | mean latency | succeeded | failed + errored | RPS ratio |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    let floor_rps = rows.first().map_or(0.0, |(_, r)| r.rps);
    for (name, r) in &rows {
        let _ = writeln!(
            md,
            "| {name} | {:.0} | {} | {} | {} | {} |",
            r.rps,
            r.mean,
            r.succeeded,
            r.failed + r.errored,
            ratio(r.rps, floor_rps)
        );
    }
    md.push('\n');
    Ok(())
}

/// Streams of 64 tokens at each stream concurrency (1: time to first
/// message; the largest: throughput), floor, gateway and the TCP_NODELAY variant.
async fn stream(
    run: &mut Run,
    floor: &ServerProcess,
    gw: &ServerProcess,
    nodelay: Option<&ServerProcess>,
) -> Result<(), String> {
    let (warmup, window) = (run.args.warmup(), run.args.duration());
    let request = stream_request(STREAM_TOKENS);
    let mut rows = String::new();
    // Best tokens/s of each server over the concurrencies, with the concurrency.
    let mut best: Vec<(f64, usize)> = vec![(0.0, 0); 3];
    let mut servers = vec![(floor, "floor"), (gw, "gateway")];
    if let Some(n) = nodelay {
        servers.push((n, NODELAY_LABEL));
    }
    for &c in &run.args.stream_concurrency.clone() {
        let conns = c.min(run.args.connections).max(1);
        let mut measured: Vec<(&str, Measured)> = Vec::new();
        for &(server, label) in &servers {
            let senders = load::connect(server.addr, conns).await?;
            let caller = Streaming::new(server.addr, senders, &request, STREAM_TOKENS);
            let name = format!("stream c={c} {label}");
            let m = steady(run.args.smoke, &name, || {
                closed_loop(&caller, c, warmup, window, Some(server), None)
            })
            .await;
            progress(&name, &m);
            run.check_errors(&format!("stream c={c} {label}"), &m);
            run.sane(
                m.tokens == m.ok * STREAM_TOKENS as u64,
                format!(
                    "stream c={c} {label}: {} tokens in {} streams",
                    m.tokens, m.ok
                ),
            );
            measured.push((label, m));
            pause(run.args.smoke).await;
        }
        let f = measured[0].1.clone();
        for (i, (label, m)) in measured.iter().enumerate() {
            if m.tokens_per_second() > best[i].0 {
                best[i] = (m.tokens_per_second(), c);
            }
            let r = |x: String| if i == 0 { "1".to_owned() } else { x };
            let _ = writeln!(
                rows,
                "| {c} | {conns} | {label} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.rps(), m.tokens_per_second(),
                ms(m.first_q(0.5)), ms(m.first_q(0.99)), ms(m.q(0.5)), ms(m.q(0.99)), m.errors,
                cpu(m.cpu.server), cpu(Some(m.cpu.client)), other(m),
                r(ratio(m.tokens_per_second(), f.tokens_per_second())),
                r(dratio(m.first_q(0.5), f.first_q(0.5))),
            );
        }
    }
    let md = &mut run.md;
    let _ = writeln!(md, "## Streaming `GenerateStream` (closed loop)\n");
    let _ = writeln!(
        md,
        "Prompt {STREAM_PROMPT:?}, `max_tokens` {STREAM_TOKENS}, the gateway's `--simulated-token-delay 0ms`: every stream is \
         {STREAM_TOKENS} deltas (one token each) and a completion; the floor sends the same shape. TTFM: time from sending \
         the call to the first message. Stream: time to the end of the stream. Latencies in ms.\n"
    );
    let _ = writeln!(md, "| concurrency | connections | server | streams/s | tokens/s | TTFM p50 | TTFM p99 | stream p50 | stream p99 | errors | server CPU | client CPU | other CPU | tokens/s ratio | TTFM p50 ratio |");
    let _ = writeln!(
        md,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    md.push_str(&rows);
    if nodelay.is_some() {
        variant_notes(md, false, true);
    }
    md.push('\n');
    let ((f, fc), (g, gc)) = (best[0], best[1]);
    if gc > 0 {
        let also = if nodelay.is_some() {
            format!(
                "; with TCP_NODELAY {:.0} at concurrency {}",
                best[2].0, best[2].1
            )
        } else {
            String::new()
        };
        run.targets.push(Target {
            what: "Streaming relay throughput",
            goal: "≥ 200,000 tokens/s".into(),
            measured: format!("{g:.0} tokens/s at concurrency {gc} (floor {f:.0} at {fc}{also})"),
            met: Some(g >= 200_000.0),
            miss: format!(
                "{:.0} tokens/s ({:.0}%) short",
                200_000.0 - g,
                100.0 - g / 2000.0
            ),
        });
    }
    Ok(())
}

/// Many slow streams open at once on one gateway process.
async fn scale(run: &mut Run) -> Result<(), String> {
    let n = run.args.scale_streams();
    let conns = run.args.scale_connections().clamp(1, n.max(1));
    let delay = run.args.scale_token_delay();
    let tokens = run.args.scale_max_tokens;
    let delay_flag = humantime::format_duration(delay).to_string();
    let gw = run.simulated_gateway(
        "gateway-scale",
        &delay_flag,
        &["--max-concurrent-generations", "0"],
        &[],
    )?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = gw.rss_bytes();
    let senders = load::connect(gw.addr, conns).await?;
    let mut caller = Streaming::new(gw.addr, senders, &stream_request(tokens), tokens);
    caller.gauge = Some(Default::default());
    // A stall: a gap between deltas over the token delay + 100 ms.
    caller.gaps = Some(load::DeltaGaps::new(delay + Duration::from_millis(100)));
    let gauge = caller.gauge.as_ref().expect("set above");
    gauge.target.set(n);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = gw.rss_bytes();
    let started = Instant::now();
    let mut meter = load::CpuMeter::new(Some(&gw));
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
    let mut rss_peak = rss_before;
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
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = gw.rss_bytes();
    let peak_open = gauge.peak.get();
    let open_all = gauge.all_opened_at.get().map(|t| t - started);
    let gaps = caller.gaps.as_ref().expect("set above");
    let (stalls, worst_gap) = (gaps.stalls(), gaps.worst());
    errors += unfinished as u64;
    eprintln!(
        "gateway-bench: scale: {ok} streams ok, {errors} errors, peak open {peak_open}, {stalls} stalls (worst gap {} ms), RSS idle {} before {} all-open {} peak {} after {}",
        ms(worst_gap), mb(rss_idle), mb(rss_before), mb(rss_all_open), mb(rss_peak), mb(rss_after)
    );
    if errors > 0 {
        run.note(format!(
            "scale: {errors} errors (first: {})",
            first_error.unwrap_or_else(|| "unfinished".into())
        ));
    }
    run.sane(
        peak_open == n,
        format!("scale: peak open streams {peak_open}, expected {n}"),
    );
    run.sane(
        rss_peak.is_some_and(|r| r > 0),
        "scale: server RSS unreadable".into(),
    );
    let md = &mut run.md;
    let _ = writeln!(md, "## Scale: {n} concurrent streams\n");
    let _ = writeln!(
        md,
        "One gateway process (`--simulated-token-delay {delay_flag} --max-concurrent-generations 0`); {n} `GenerateStream` calls \
         of {tokens} tokens, all sent at once over {conns} HTTP/2 connections, so each stays open about {} s. \
         RSS is VmRSS of the gateway process (/proc/PID/status): idle after start, with the connections open (before), when \
         every stream had its first message (all open), the highest 100 ms sample (peak), and 2 s after the last stream ended. \
         Stalls: gaps between consecutive deltas over the token delay + 100 ms.\n",
        (delay * (tokens - 1)).as_secs_f64()
    );
    let _ = writeln!(md, "| streams | connections | peak open | time to open all | stalls | worst gap (ms) | RSS idle | RSS before | RSS all open | RSS peak | RSS after | server CPU | errors |");
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        md,
        "| {n} | {conns} | {peak_open} | {} | {stalls} | {} | {} | {} | {} | {} | {} | {} | {errors} |\n",
        open_all.map_or("–".into(), |d| format!("{} ms", ms(d))),
        ms(worst_gap),
        mb(rss_idle),
        mb(rss_before),
        mb(rss_all_open),
        mb(rss_peak),
        mb(rss_after),
        cpu(cpu_use.server),
    );
    let _ = elapsed;
    let peak = rss_peak.unwrap_or(u64::MAX);
    run.targets.push(Target {
        what: "Concurrent streams: RSS and errors",
        goal: format!("{n} streams, RSS < 300 MB, 0 errors"),
        measured: format!(
            "peak RSS {}, {errors} errors, {peak_open} open at once",
            mb(rss_peak)
        ),
        met: Some(peak < 300_000_000 && errors == 0 && peak_open == n && n >= 10_000),
        miss: if n < 10_000 {
            format!("only {n} streams in this run")
        } else {
            format!(
                "{} over, {errors} errors",
                mb(Some(peak.saturating_sub(300_000_000)))
            )
        },
    });
    drop(caller);
    gw.stop().await;
    Ok(())
}

/// The gateway on the Bedrock backend against the fake, versus the SDK
/// calling the same fake directly.
async fn bedrock(run: &mut Run) -> Result<(), String> {
    let mut rows = String::new();
    // (fake latency, concurrency, added p50, added p99), in seconds.
    let mut added = Vec::new();
    // Both paths' measurements, for the CPU per call.
    let mut pairs = Vec::new();
    for latency in run.args.bedrock_latency.clone() {
        bedrock_at(run, latency, &mut rows, &mut added, &mut pairs).await?;
    }
    let judged = run
        .args
        .bedrock_latency
        .first()
        .copied()
        .unwrap_or_default();
    let cpus = match run.args.client_pin() {
        Some(client) => (
            run.args.fake_cpu.unwrap_or(run.args.server_cpu).to_string(),
            run.args.server_cpu.to_string(),
            client.to_string(),
        ),
        None => ("any".to_owned(), "any".to_owned(), "any".to_owned()),
    };
    let md = &mut run.md;
    let _ = writeln!(md, "## The Bedrock path\n");
    let _ = writeln!(
        md,
        "The in-repo fake Bedrock (tests/fake_bedrock, real restJson1 over HTTP) answers Converse after a fixed latency. \
         *Direct*: the AWS SDK for Rust in the load generator calls it (aws-config defaults, \
         standard retries, dummy credentials). *Via the gateway*: our gRPC client calls `Generate` on the gateway \
         (`--backend bedrock`, `AWS_ENDPOINT_URL` at the fake). The fake runs on CPU {}, the gateway on CPU {}, the \
         load generator and its SDK on CPU {}. Same prompt, `max_tokens` {BEDROCK_MAX_TOKENS} \
         (the fake answers {BEDROCK_TOKENS} tokens), same concurrency, closed loop. Latencies in ms; server CPU is the gateway's; \
         other CPU leaves out the fake's. The fake sleeps on tokio's 1 ms timer wheel, so with a 50 ms latency every answer \
         is rounded to the millisecond; the rows with a 0 ms fake show the gateway's overhead without that rounding.\n",
        cpus.0, cpus.1, cpus.2
    );
    let _ = writeln!(md, "| fake latency | concurrency | path | RPS | p50 | p90 | p99 | max | errors | server CPU | other CPU |");
    let _ = writeln!(
        md,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    md.push_str(&rows);
    md.push('\n');
    for &(latency, c, p50, p99) in added.iter().filter(|a| a.0 == judged) {
        let instant = added
            .iter()
            .find(|a| a.0.is_zero() && a.1 == c && !judged.is_zero())
            .map(|a| {
                format!(
                    "; with a 0 ms fake {:+.3} ms (p99 {:+.3} ms)",
                    a.2 * 1000.0,
                    a.3 * 1000.0
                )
            })
            .unwrap_or_default();
        run.targets.push(Target {
            what: if c == 1 {
                "Bedrock-path overhead vs the direct SDK, p50 (concurrency 1)"
            } else {
                "Bedrock-path overhead vs the direct SDK, p50"
            },
            goal: "< 0.5 ms".into(),
            measured: format!(
                "{:+.3} ms at concurrency {c} (p99 {:+.3} ms), {} ms fake{instant}",
                p50 * 1000.0,
                p99 * 1000.0,
                ms(latency)
            ),
            met: Some(p50 < 0.0005),
            miss: format!("{:.3} ms over", p50 * 1000.0 - 0.5),
        });
    }
    bedrock_cpu::report(run, &pairs);
    Ok(())
}

/// The environment of a gateway on the Bedrock backend in front of the fake:
/// the fake's endpoint, dummy credentials, no IMDS, no config files (nothing
/// from ~/.aws).
pub(crate) fn bedrock_envs(endpoint: &str) -> [(&str, &str); 7] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]
}

/// Where a fake Bedrock serves, as the direct SDK and the gateway reach it.
pub(crate) struct FakeEndpoint {
    pub(crate) url: String,
    /// With --bedrock-tls: the file the fake wrote its CA to and the CA's PEM.
    ca: Option<(String, String)>,
}

impl FakeEndpoint {
    /// The direct SDK's view of it.
    pub(crate) fn sdk(&self) -> crate::sdk::Endpoint<'_> {
        crate::sdk::Endpoint {
            url: &self.url,
            ca_pem: self.ca.as_ref().map(|(_, pem)| pem.as_str()),
        }
    }

    /// The gateway's environment for it: [`bedrock_envs`], and with TLS the
    /// CA as `SSL_CERT_FILE` (which the SDK's default client trusts instead
    /// of the system's roots).
    pub(crate) fn gateway_envs(&self) -> Vec<(&str, &str)> {
        let mut envs = bedrock_envs(&self.url).to_vec();
        if let Some((file, _)) = &self.ca {
            envs.push(("SSL_CERT_FILE", file));
        }
        envs
    }
}

impl Run {
    /// Starts `gateway-bench fake-bedrock` with `args`, on the fake's CPU,
    /// over TLS with --bedrock-tls.
    pub(crate) fn start_fake(
        &self,
        name: &str,
        args: &[&str],
    ) -> Result<(ServerProcess, FakeEndpoint), String> {
        let ca_file = self.work_dir.join(format!("{name}-ca.pem"));
        let ca_flag = ca_file.display().to_string();
        let mut args = args.to_vec();
        if self.args.bedrock_tls {
            args.extend(["--tls-ca-out", &ca_flag]);
        }
        let fake = self.start(
            name,
            &self.bench,
            &args,
            &[],
            self.args
                .pinning()
                .then(|| self.args.fake_cpu.unwrap_or(self.args.server_cpu)),
        )?;
        let endpoint = if self.args.bedrock_tls {
            let pem = std::fs::read_to_string(&ca_file)
                .map_err(|e| format!("{name}: its CA {}: {e}", ca_file.display()))?;
            FakeEndpoint {
                url: format!("https://{}", fake.addr),
                ca: Some((ca_flag, pem)),
            }
        } else {
            FakeEndpoint {
                url: format!("http://{}", fake.addr),
                ca: None,
            }
        };
        Ok((fake, endpoint))
    }
}

/// One fake latency of the Bedrock-path comparison.
async fn bedrock_at(
    run: &mut Run,
    latency: Duration,
    rows: &mut String,
    added: &mut Vec<(Duration, usize, f64, f64)>,
    pairs: &mut Vec<bedrock_cpu::Pair>,
) -> Result<(), String> {
    let (warmup, window) = (run.args.warmup(), run.args.duration());
    let latency_flag = if latency.is_zero() {
        "0ms".to_owned()
    } else {
        humantime::format_duration(latency).to_string()
    };
    let (fake, endpoint) = run.start_fake(
        &format!("fake-bedrock-{latency_flag}"),
        &["fake-bedrock", "--latency", &latency_flag, "--model", &run.args.bedrock_model.clone()],
    )?;
    let envs = endpoint.gateway_envs();
    let gw = run.start(
        &format!("gateway-bedrock-{latency_flag}"),
        &run.gateway.clone(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--backend",
            "bedrock",
        ],
        &envs,
        run.args.server_pin(),
    )?;
    let sdk = crate::sdk::SdkConverse::new(
        &endpoint.sdk(),
        &run.args.bedrock_model,
        STREAM_PROMPT,
        BEDROCK_MAX_TOKENS as i32,
        BEDROCK_TOKENS as i32,
    )
    .await;
    let mut request = unary_request(BEDROCK_MAX_TOKENS, STREAM_PROMPT);
    request.model_id = run.args.bedrock_model.clone();
    for &c in &run.args.bedrock_concurrency.clone() {
        let label = format!("bedrock {latency_flag} fake c={c}");
        let direct = steady(run.args.smoke, &format!("{label} SDK direct"), || {
            closed_loop(&sdk, c, warmup, window, None, Some(&fake))
        })
        .await;
        progress(&format!("{label} SDK direct"), &direct);
        run.check_errors(&format!("{label} SDK direct"), &direct);
        pause(run.args.smoke).await;
        let conns = c.min(run.args.connections).max(1);
        let senders = load::connect(gw.addr, conns).await?;
        let caller = Unary::new(gw.addr, senders, &request, BEDROCK_TOKENS);
        let via = steady(run.args.smoke, &format!("{label} via gateway"), || {
            closed_loop(&caller, c, warmup, window, Some(&gw), Some(&fake))
        })
        .await;
        progress(&format!("{label} via gateway"), &via);
        run.check_errors(&format!("{label} via gateway"), &via);
        pause(run.args.smoke).await;
        for (name, m) in [
            ("SDK → fake (direct)", &direct),
            ("client → gateway → SDK → fake", &via),
        ] {
            run.sane(
                m.q(0.5) >= latency && m.q(0.5) < latency + Duration::from_secs(1),
                format!(
                    "{label} {name}: p50 {} ms with a {} ms fake",
                    ms(m.q(0.5)),
                    ms(latency)
                ),
            );
            let _ = writeln!(
                rows,
                "| {latency_flag} | {c} | {name} | {} | {} |",
                rate_latency_cells(m),
                other(m)
            );
        }
        let _ = writeln!(
            rows,
            "| {latency_flag} | {c} | **added by the gateway** | | **{}** | {} | **{}** | | | | |",
            signed_ms(via.q(0.5), direct.q(0.5)),
            signed_ms(via.q(0.9), direct.q(0.9)),
            signed_ms(via.q(0.99), direct.q(0.99)),
        );
        added.push((
            latency,
            c,
            via.q(0.5).as_secs_f64() - direct.q(0.5).as_secs_f64(),
            via.q(0.99).as_secs_f64() - direct.q(0.99).as_secs_f64(),
        ));
        pairs.push(bedrock_cpu::Pair {
            latency,
            concurrency: c,
            direct,
            via,
        });
    }
    gw.stop().await;
    fake.stop().await;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------

/// Runs the suite; Err when a call failed or a number was not sane.
pub(crate) async fn run(args: RunArgs) -> Result<(), String> {
    let bench = std::env::current_exe().map_err(|e| e.to_string())?;
    let gateway = match &args.gateway {
        Some(g) => g.clone(),
        None => bench.with_file_name("bedrock-gateway"),
    };
    if !gateway.is_file() {
        return Err(format!(
            "no gateway binary at {} (build it with `cargo build --bin bedrock-gateway`, or pass --gateway)",
            gateway.display()
        ));
    }
    let work_dir = match &args.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("gateway-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("create {}: {e}", work_dir.display()))?;
    let mut run = Run {
        args,
        gateway,
        bench,
        work_dir,
        md: String::new(),
        problems: Vec::new(),
        targets: Vec::new(),
    };
    let started = Instant::now();
    let load_before = load_average();

    let mut body = String::new();
    let result = scenarios(&mut run).await;
    if let Err(e) = &result {
        run.note(format!("the run stopped: {e}"));
    }
    std::mem::swap(&mut body, &mut run.md);

    // Header, then the targets, then the scenario tables.
    let md = &mut run.md;
    let mode = if run.args.smoke {
        "smoke (small scale, short windows; not a measurement)"
    } else {
        "full"
    };
    let commit = shell("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !shell("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let _ = writeln!(md, "# bedrock-gateway benchmark results\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| date (UTC) | {} |",
        shell("date", &["-u", "+%Y-%m-%d %H:%M:%S"])
    );
    let diff_id = std::process::Command::new("sh")
        .args([
            "-c",
            "git diff HEAD -- src Cargo.lock | sha256sum | cut -c1-12",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let src_dirty = !shell("git", &["diff", "HEAD", "--stat", "--", "src"]).is_empty();
    let _ = writeln!(
        md,
        "| commit | `{commit}`{} |",
        if src_dirty {
            format!(" with uncommitted changes to src/ (sha256 of `git diff HEAD -- src Cargo.lock`: `{diff_id}`)")
        } else if dirty {
            " (uncommitted changes outside src/)".to_owned()
        } else {
            String::new()
        }
    );
    let _ = writeln!(md, "| mode | {mode} |");
    let built = shell(
        "date",
        &[
            "-u",
            "-r",
            &run.gateway.to_string_lossy(),
            "+%Y-%m-%d %H:%M:%S",
        ],
    );
    let _ = writeln!(
        md,
        "| gateway binary | `{}`, built {built} UTC |",
        run.gateway.display()
    );
    let _ = writeln!(
        md,
        "| CPUs | {} online; {} |",
        online_cpus(),
        match run.args.client_pin() {
            Some(c) => format!(
                "load generator, h2load and Redis pinned to CPU {c}, servers under test to CPU {}, fake Bedrock to CPU {} (`taskset -c`)",
                run.args.server_cpu,
                run.args.fake_cpu.unwrap_or(run.args.server_cpu)
            ),
            None => "not pinned".into(),
        }
    );
    let _ = writeln!(
        md,
        "| CPU model | {} |",
        first_line_with("/proc/cpuinfo", "model name")
    );
    let _ = writeln!(
        md,
        "| memory | {} |",
        first_line_with("/proc/meminfo", "MemTotal")
    );
    let _ = writeln!(
        md,
        "| kernel | {} |",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let _ = writeln!(
        md,
        "| load average (1, 5, 15 min) | {load_before} before, {} after |",
        load_average()
    );
    let _ = writeln!(
        md,
        "| warm-up, window | {:?}, {:?} per point |",
        run.args.warmup(),
        run.args.duration()
    );
    let _ = writeln!(
        md,
        "| wall time | {:.0} s |",
        started.elapsed().as_secs_f64()
    );
    if let Some(note) = &run.args.note {
        let _ = writeln!(md, "| note | {note} |");
    }
    let _ = writeln!(md, "\n## Targets\n");
    if run.args.smoke {
        let _ = writeln!(
            md,
            "Smoke run: debug builds, short windows, small scale. Shown, not judged.\n"
        );
    }
    let _ = writeln!(
        md,
        "| target | goal | measured | result |\n|---|---|---|---|"
    );
    for t in &run.targets {
        let verdict = match (run.args.smoke, t.met) {
            (true, _) => "(smoke)".to_owned(),
            (false, Some(true)) => "met".to_owned(),
            (false, Some(false)) => format!("**missed**: {}", t.miss),
            (false, None) if t.miss == frontier::REPORTED => frontier::REPORTED.to_owned(),
            (false, None) => "not measured".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {verdict} |",
            t.what, t.goal, t.measured
        );
    }
    md.push('\n');
    if !run.problems.is_empty() {
        let _ = writeln!(md, "## Problems\n");
        for p in &run.problems {
            let _ = writeln!(md, "- {}", p.replace('\n', " "));
        }
        md.push('\n');
    }
    md.push_str(&body);
    let _ = writeln!(
        md,
        "Server logs and h2load output: `{}`.",
        run.work_dir.display()
    );

    println!("{}", run.md);
    if let Some(out) = &run.args.out {
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(out, &run.md).map_err(|e| format!("write {}: {e}", out.display()))?;
        eprintln!("gateway-bench: results written to {}", out.display());
    }
    if run.problems.is_empty() {
        eprintln!(
            "gateway-bench: OK ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "{} problem(s):\n- {}",
            run.problems.len(),
            run.problems.join("\n- ")
        ))
    }
}

async fn scenarios(run: &mut Run) -> Result<(), String> {
    let needs_pair = ["unary", "open", "h2load", "stream"]
        .iter()
        .any(|s| run.args.wants(s));
    if needs_pair {
        let floor = run.floor()?;
        let mut gw = run.simulated_gateway("gateway", "0ms", &[], &[])?;
        let nodelay = match run.args.gateway_preload.clone() {
            Some(lib) => {
                let lib =
                    std::fs::canonicalize(&lib).map_err(|e| format!("{}: {e}", lib.display()))?;
                let lib = lib.to_string_lossy().into_owned();
                Some(run.simulated_gateway(
                    "gateway-nodelay",
                    "0ms",
                    &[],
                    &[("LD_PRELOAD", &lib)],
                )?)
            }
            None => None,
        };
        if run.args.wants("unary") {
            let quiet = run.simulated_gateway(
                "gateway-log-warn",
                "0ms",
                &["--log-level", QUIET_LOGS],
                &[],
            )?;
            let best = unary(
                run,
                &floor,
                &gw,
                &Variants {
                    quiet: &quiet,
                    nodelay: nodelay.as_ref(),
                },
            )
            .await?;
            quiet.stop().await;
            if run.args.wants("open") {
                if let Some(best) = best {
                    open(run, &floor, &gw, nodelay.as_ref(), best).await?;
                }
            }
        } else if run.args.wants("open") {
            let _ = writeln!(run.md, "## Unary at half load (open loop)\n\nSkipped: needs the unary scenario's best RPS.\n");
        }
        if run.args.wants("h2load") {
            h2load(run, &floor, &gw).await?;
        }
        if run.args.wants("stream") {
            stream(run, &floor, &gw, nodelay.as_ref()).await?;
        }
        if !gw.alive() {
            run.note(format!(
                "the gateway died during the run:\n{}",
                gw.log_tail(20)
            ));
        }
        gw.stop().await;
        floor.stop().await;
        if let Some(n) = nodelay {
            n.stop().await;
        }
    }
    if run.args.wants("scale") {
        scale(run).await?;
    }
    if run.args.wants("bedrock") {
        bedrock(run).await?;
    }
    if run.args.wants("fleet") {
        fleet::fleet(run).await?;
    }
    if run.args.wants("bedrock-stream") {
        bedrock_stream::bedrock_stream(run).await?;
    }
    if run.args.wants("frontier") {
        frontier::frontier(run).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2load_output_parses() {
        let out = "\
finished in 10.00s, 23456.70 req/s, 2.34MB/s
requests: 234567 total, 234567 started, 234567 done, 234560 succeeded, 7 failed, 0 errored, 0 timeout
status codes: 234567 2xx, 0 3xx, 0 4xx, 0 5xx
                     min         max         mean         sd        +/- sd
time for request:      123us     12.30ms      2.50ms       1.00ms    90.00%
";
        let r = parse_h2load(out).unwrap();
        assert_eq!(r.rps, 23456.70);
        assert_eq!((r.succeeded, r.failed, r.errored), (234560, 7, 0));
        assert_eq!(r.mean, "2.50ms");
    }
}
