//! The `frontier` scenario (issue 16, "the field's five numbers"): the most
//! calls per second each server sustains with p99 under 1, 5 and 20 ms,
//! measured open loop, for the simulated path (the floor and the gateway on
//! `--backend simulated --simulated-token-delay 0ms`, unary `Generate`) and
//! for the Bedrock path (the AWS SDK calling the fake Bedrock directly, and
//! our client calling the gateway on `--backend bedrock` in front of the same
//! fake at 0 ms), with each server's RSS idle, at its peak under the search's
//! load, and a while after.
//!
//! Method, per server: a short closed-loop probe at concurrency
//! [`PROBE_CONCURRENCY`] gives the server's capacity C. Then open-loop points,
//! each a warm-up and a window at a fixed offered rate, search the rates
//! C × [`LOWEST`] … C × [`HIGHEST`]. A point passes a p99 bound when every call
//! succeeded, the calls completed inside the window are at least 99% of those
//! offered, the load generator issued its calls on schedule, and the p99 is
//! under the bound. For each bound the search keeps the highest passing rate
//! and the lowest failing rate above it; the next point is the geometric
//! midpoint of the widest bracket (×[`STEP_UP`] up from a pass, ÷[`STEP_DOWN`]
//! down from a fail while a side is open), until every bracket is narrower
//! than the precision or the point budget is spent. One point informs all
//! three bounds. No target is judged: the issue asks for the figures.

use super::{
    cpu, mb, ms, pause, ratio, steady, unary_request, Run, Target, BEDROCK_MAX_TOKENS,
    BEDROCK_TOKENS, STREAM_PROMPT, UNARY_PROMPT, UNARY_TOKENS,
};
use crate::load::{self, closed_loop, open_loop, Caller, Measured, Unary};
use crate::procs::ServerProcess;
use std::cell::Cell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The p99 bounds of the frontier (the independent rig's: 1, 5 and 20 ms).
const BOUNDS: [Duration; 3] = [
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(20),
];
/// Closed-loop concurrency of the capacity probe (the unary scenario's
/// highest-throughput point but one).
const PROBE_CONCURRENCY: usize = 64;
/// The search's range and first point, as shares of the probe's calls/s.
const LOWEST: f64 = 1.0 / 64.0;
const HIGHEST: f64 = 1.5;
const FIRST: f64 = 0.5;
/// Steps while a bound's bracket is open on one side.
const STEP_UP: f64 = 1.5;
const STEP_DOWN: f64 = 4.0;
/// A point passes only when at least this share of the offered calls
/// completed inside its window (the issue's "completed = offered within 1%"),
/// less [`COMPLETION_SLACK`] calls: a window's edges cut a call or two either
/// way, which is more than 1% of a short smoke window's few calls.
const MIN_COMPLETED: f64 = 0.99;
const COMPLETION_SLACK: f64 = 2.0;
/// A point passes only when the load generator issued 99% of its calls at
/// most this late: its 1 ms timer (a sleep rounds up to the next tick) makes
/// up to about 2 ms normal; more means the generator stalled, and the point
/// would measure the generator.
const MAX_ISSUE_LAG: Duration = Duration::from_millis(5);
/// Most calls outstanding at once: below the gateway's default
/// `--max-concurrent-generations` (1024), so the generator refuses a call
/// (the point fails) before the gateway would shed one, and every error a
/// server answers is a real error. It also bounds the direct SDK's HTTP/1.1
/// connections to the fake.
const MAX_OUTSTANDING: usize = 1000;
/// The verdict marker of the targets this scenario reports without judging.
pub(super) const REPORTED: &str = "reported, not judged";

/// Windows and budgets of a run.
struct Timing {
    warmup: Duration,
    window: Duration,
    probe_warmup: Duration,
    probe_window: Duration,
    /// Open-loop points per server at most.
    max_points: usize,
    /// A bracket (failing / passing rate) this narrow is done.
    precision: f64,
    /// Before the idle RSS, after a server started.
    settle: Duration,
    /// After the search, before the RSS "after".
    after: Duration,
}

impl Timing {
    fn of(smoke: bool) -> Self {
        if smoke {
            Timing {
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(300),
                // A debug gateway on the Bedrock path takes some 200 ms a
                // call at concurrency 64: the window must hold whole calls.
                probe_warmup: Duration::from_millis(150),
                probe_window: Duration::from_millis(600),
                max_points: 4,
                precision: 2.0,
                settle: Duration::from_millis(300),
                after: Duration::from_millis(500),
            }
        } else {
            // 1.3 s of probe and at most 12 × ~3.8 s of points: under a
            // minute per server, under four for the four.
            Timing {
                warmup: Duration::from_millis(500),
                window: Duration::from_secs(3),
                probe_warmup: Duration::from_millis(300),
                probe_window: Duration::from_secs(1),
                max_points: 12,
                precision: 1.1,
                settle: Duration::from_millis(500),
                after: Duration::from_secs(2),
            }
        }
    }
}

/// Whose CPU is the side under test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A server process (/proc/PID/stat).
    Server,
    /// The load generator itself (getrusage): the direct SDK runs in it.
    Client,
}

/// A server process's VmRSS around the search.
struct Rss {
    idle: Option<u64>,
    peak: Option<u64>,
    after: Option<u64>,
}

/// One server's search.
struct Search {
    label: &'static str,
    side: Side,
    /// The closed-loop probe.
    probe: Measured,
    /// (offered rate, what it measured), in the order measured.
    points: Vec<(f64, Measured)>,
    /// Per bound: the index of the highest passing point.
    best: [Option<usize>; 3],
    /// Per bound: the lowest failing rate above the best.
    failed_at: [Option<f64>; 3],
    /// C, calls/s: the search's scale.
    capacity: f64,
    lowest: f64,
    highest: f64,
    elapsed: Duration,
    rss: Option<Rss>,
}

/// `x` to three significant digits (rates read better so, and a rate is
/// never measured twice by a rounding hair).
fn round3(x: f64) -> f64 {
    if x <= 0.0 {
        return x;
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 2);
    (x / scale).round() * scale
}

/// The issue lag 99% of the window's calls stayed under.
fn lag_p99(m: &Measured) -> Duration {
    Duration::from_nanos(m.issue_lag.value_at_quantile(0.99))
}

/// Completions inside the window per second.
fn completed_rate(m: &Measured) -> f64 {
    m.ended_in_window as f64 / m.window.as_secs_f64()
}

/// Whether the server kept up with the offered rate (every bound needs it).
fn kept_up(m: &Measured) -> bool {
    let offered = m.offered_rate.unwrap_or(0.0) * m.window.as_secs_f64();
    m.errors == 0
        && m.ok > 0
        && m.ended_in_window as f64 >= MIN_COMPLETED * offered - COMPLETION_SLACK
        && lag_p99(m) <= MAX_ISSUE_LAG
}

fn passes(m: &Measured, bound: Duration) -> bool {
    kept_up(m) && m.q(0.99) < bound
}

/// The probe's calls/s: of its window, or of the whole probe when that is
/// more (a short window with slow calls records few of them whole), at
/// least 100/s.
fn capacity(probe: &Measured, whole: Duration) -> f64 {
    let overall = probe.all_ok as f64 / whole.as_secs_f64().max(1e-3);
    probe.rps().max(overall).max(100.0)
}

impl Search {
    fn new(label: &'static str, side: Side, probe: Measured, capacity: f64) -> Self {
        Search {
            label,
            side,
            probe,
            points: Vec::new(),
            best: [None; 3],
            failed_at: [None; 3],
            capacity,
            lowest: round3((capacity * LOWEST).max(10.0)),
            highest: round3(capacity * HIGHEST),
            elapsed: Duration::ZERO,
            rss: None,
        }
    }

    /// The next rate to measure: in the widest open bracket, or None when
    /// every bound is found to the precision (or pinned at an end of the range).
    fn next_rate(&self, precision: f64) -> Option<f64> {
        let mut pick: Option<(f64, f64)> = None;
        // The widest wins; on a tie the largest bound, whose frontier is the
        // highest and so bounds the others' brackets from above soonest.
        for b in (0..BOUNDS.len()).rev() {
            let lo = self.best[b].map(|i| self.points[i].0);
            let (width, rate) = match (lo, self.failed_at[b]) {
                (None, None) => (f64::INFINITY, FIRST * self.capacity),
                (Some(lo), None) if lo < self.highest => {
                    (f64::INFINITY, (lo * STEP_UP).min(self.highest))
                }
                (None, Some(hi)) if hi > self.lowest => {
                    (f64::INFINITY, (hi / STEP_DOWN).max(self.lowest))
                }
                (Some(lo), Some(hi)) if hi / lo > precision => (hi / lo, (lo * hi).sqrt()),
                _ => continue,
            };
            let rate = round3(rate);
            if self.points.iter().any(|p| p.0 == rate) {
                continue;
            }
            if pick.is_none_or(|(w, _)| width > w) {
                pick = Some((width, rate));
            }
        }
        pick.map(|(_, rate)| rate)
    }

    /// Adds a point and narrows every bound's bracket it falls inside (a
    /// point outside a bracket, e.g. a pass above a failure by noise, is kept
    /// in the list but moves nothing).
    fn record(&mut self, rate: f64, m: Measured) {
        let i = self.points.len();
        self.points.push((rate, m));
        for (b, &bound) in BOUNDS.iter().enumerate() {
            let lo = self.best[b].map(|j| self.points[j].0);
            let hi = self.failed_at[b];
            if !(lo.is_none_or(|lo| rate > lo) && hi.is_none_or(|hi| rate < hi)) {
                continue;
            }
            if passes(&self.points[i].1, bound) {
                self.best[b] = Some(i);
            } else {
                self.failed_at[b] = Some(rate);
            }
        }
    }

    /// The CPU of the side under test during a measurement.
    fn side_cpu(&self, m: &Measured) -> Option<f64> {
        match self.side {
            Side::Server => m.cpu.server,
            Side::Client => Some(m.cpu.client),
        }
    }

    /// The frontier at bound `b`, as calls/s (None: no rate passed).
    fn frontier(&self, b: usize) -> Option<f64> {
        self.best[b].map(|i| self.points[i].0)
    }

    /// The three cells of bound `b`: calls/s | p99 there | CPU there.
    fn cells(&self, b: usize) -> String {
        match self.best[b] {
            Some(i) => {
                let (rate, m) = &self.points[i];
                let at_top = *rate >= self.highest && self.failed_at[b].is_none();
                format!(
                    "{}{rate:.0} | {} | {}",
                    if at_top { "≥ " } else { "" },
                    ms(m.q(0.99)),
                    cpu(self.side_cpu(m))
                )
            }
            None => match self.failed_at[b] {
                Some(hi) => format!("< {hi:.0} | – | –"),
                None => "– | – | –".to_owned(),
            },
        }
    }

    /// The load generator's CPU at the highest frontier found.
    fn client_cpu_at_top(&self) -> String {
        (0..BOUNDS.len())
            .rev()
            .find_map(|b| self.best[b])
            .map_or("–".into(), |i| cpu(Some(self.points[i].1.cpu.client)))
    }

    /// "1 ms: 1234, 5 ms: 5678, 20 ms: 9012" for the targets table.
    fn summary(&self) -> String {
        BOUNDS
            .iter()
            .enumerate()
            .map(|(b, bound)| {
                let v = match (self.frontier(b), self.failed_at[b]) {
                    (Some(r), _) => format!("{r:.0}"),
                    (None, Some(hi)) => format!("< {hi:.0}"),
                    (None, None) => "–".into(),
                };
                format!("{} ms: {v}", bound.as_millis())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints one point's figures as it is measured.
fn progress_point(label: &str, s: &Search, m: &Measured) {
    eprintln!(
        "gateway-bench: {label}: offered {:.0}/s, completed {:.0}/s, p50 {} ms, p99 {} ms, issue lag p99 {} ms, \
         not issued {}, errors {}, CPU under test {}, client CPU {}, other CPU {}; passes {}",
        m.offered_rate.unwrap_or(0.0),
        completed_rate(m),
        ms(m.q(0.5)),
        ms(m.q(0.99)),
        ms(lag_p99(m)),
        m.not_issued,
        m.errors,
        cpu(s.side_cpu(m)),
        cpu(Some(m.cpu.client)),
        cpu(m.cpu.other),
        pass_marks(m),
    );
}

/// "1/5/20" style: which bounds a point passes ("–" for none).
fn pass_marks(m: &Measured) -> String {
    let passed: Vec<String> = BOUNDS
        .iter()
        .filter(|&&b| passes(m, b))
        .map(|b| b.as_millis().to_string())
        .collect();
    if passed.is_empty() {
        "–".into()
    } else {
        format!("< {} ms", passed.join(", "))
    }
}

/// Probes a server's capacity, then searches its frontier.
async fn search<C: Caller>(
    run: &mut Run,
    timing: &Timing,
    label: &'static str,
    side: Side,
    caller: &C,
    server: Option<&ServerProcess>,
    // The fake Bedrock: its CPU is the benchmark's own, not a disturbance.
    fake: Option<&ServerProcess>,
) -> Search {
    let smoke = run.args.smoke;
    let started = Instant::now();
    // One call first, so the server's first-call work (the Bedrock gateway's
    // catalogue fetch, the SDK's first connection) is in no measurement.
    match tokio::time::timeout(load::CALL_TIMEOUT, caller.call(0)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => run.note(format!("frontier {label}: the first call failed: {e}")),
        Err(_) => run.note(format!(
            "frontier {label}: the first call had no answer within {:?}",
            load::CALL_TIMEOUT
        )),
    }
    let name = format!("frontier {label}: closed-loop probe c={PROBE_CONCURRENCY}");
    let probe = steady(smoke, &name, || {
        closed_loop(
            caller,
            PROBE_CONCURRENCY,
            timing.probe_warmup,
            timing.probe_window,
            server,
            fake,
        )
    })
    .await;
    super::progress(&name, &probe);
    run.check_errors(&name, &probe);
    let c = capacity(&probe, timing.probe_warmup + timing.probe_window);
    let mut s = Search::new(label, side, probe, c);
    while s.points.len() < timing.max_points {
        let Some(rate) = s.next_rate(timing.precision) else {
            break;
        };
        pause(smoke).await;
        let name = format!("frontier {label} at {rate:.0}/s");
        let m = steady(smoke, &name, || {
            open_loop(
                caller,
                rate,
                timing.warmup,
                timing.window,
                MAX_OUTSTANDING,
                server,
                fake,
            )
        })
        .await;
        progress_point(&name, &s, &m);
        // Calls the generator held back are the overload's sign; any other
        // failure is an answer that should not have been.
        let answered_errors = m.errors.saturating_sub(m.not_issued);
        if answered_errors > 0 {
            run.note(format!(
                "{name}: {answered_errors} failed calls (first: {})",
                m.first_error.clone().unwrap_or_default()
            ));
        }
        s.record(rate, m);
    }
    s.elapsed = started.elapsed();
    s
}

/// [`search`] on a server process, with its RSS idle, peak (sampled every
/// 100 ms during the search) and after.
async fn search_server<C: Caller>(
    run: &mut Run,
    timing: &Timing,
    label: &'static str,
    caller: &C,
    server: &mut ServerProcess,
    fake: Option<&ServerProcess>,
) -> Search {
    let idle = server.rss_bytes();
    let peak = Cell::new(idle);
    let done = Cell::new(false);
    let sampler = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !done.get() {
            tick.tick().await;
            if let Some(rss) = server.rss_bytes() {
                peak.set(Some(peak.get().map_or(rss, |p| p.max(rss))));
            }
        }
    };
    let measured = async {
        let s = search(run, timing, label, Side::Server, caller, Some(&*server), fake).await;
        done.set(true);
        s
    };
    let (mut s, ()) = futures::join!(measured, sampler);
    tokio::time::sleep(timing.after).await;
    s.rss = Some(Rss {
        idle,
        peak: peak.get(),
        after: server.rss_bytes(),
    });
    if !server.alive() {
        run.note(format!(
            "frontier: {} died during the search:\n{}",
            server.name,
            server.log_tail(20)
        ));
    }
    s
}

pub(super) async fn frontier(run: &mut Run) -> Result<(), String> {
    let timing = Timing::of(run.args.smoke);
    let started = Instant::now();
    let conns = run.args.connections.max(1);
    let mut searches: Vec<Search> = Vec::new();

    // The simulated path: the floor, then the gateway, each alone on the server CPU.
    let request = unary_request(UNARY_TOKENS, UNARY_PROMPT);
    let mut floor_args = vec!["floor", "--listen", "127.0.0.1:0"];
    if run.args.floor_no_nodelay {
        floor_args.push("--no-nodelay");
    }
    let mut floor = run.start(
        "floor-frontier",
        &run.bench.clone(),
        &floor_args,
        &[],
        run.args.server_pin(),
    )?;
    tokio::time::sleep(timing.settle).await;
    let caller = Unary::new(
        floor.addr,
        load::connect(floor.addr, conns).await?,
        &request,
        UNARY_TOKENS,
    );
    searches.push(search_server(run, &timing, "floor", &caller, &mut floor, None).await);
    drop(caller);
    floor.stop().await;

    let mut gw = run.simulated_gateway("gateway-frontier", "0ms", &[], &[])?;
    tokio::time::sleep(timing.settle).await;
    let caller = Unary::new(
        gw.addr,
        load::connect(gw.addr, conns).await?,
        &request,
        UNARY_TOKENS,
    );
    searches.push(search_server(run, &timing, "gateway (simulated)", &caller, &mut gw, None).await);
    drop(caller);
    gw.stop().await;

    // The Bedrock path: the fake at 0 ms, the SDK direct, then the gateway.
    let model = run.args.bedrock_model.clone();
    let (fake, endpoint) = run.start_fake(
        "fake-bedrock-frontier",
        &["fake-bedrock", "--latency", "0ms", "--model", &model],
    )?;
    let sdk = crate::sdk::SdkConverse::new(
        &endpoint.sdk(),
        &model,
        STREAM_PROMPT,
        BEDROCK_MAX_TOKENS as i32,
        BEDROCK_TOKENS as i32,
    )
    .await;
    searches.push(
        search(
            run,
            &timing,
            "SDK → fake (direct)",
            Side::Client,
            &sdk,
            None,
            Some(&fake),
        )
        .await,
    );
    drop(sdk);
    let mut gw = run.start(
        "gateway-bedrock-frontier",
        &run.gateway.clone(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--backend",
            "bedrock",
        ],
        &endpoint.gateway_envs(),
        run.args.server_pin(),
    )?;
    tokio::time::sleep(timing.settle).await;
    let mut request = unary_request(BEDROCK_MAX_TOKENS, STREAM_PROMPT);
    request.model_id = model;
    let caller = Unary::new(
        gw.addr,
        load::connect(gw.addr, conns).await?,
        &request,
        BEDROCK_TOKENS,
    );
    searches.push(
        search_server(
            run,
            &timing,
            "client → gateway → SDK → fake",
            &caller,
            &mut gw,
            Some(&fake),
        )
        .await,
    );
    drop(caller);
    gw.stop().await;
    fake.stop().await;

    write(run, &timing, &searches, started.elapsed());
    Ok(())
}

/// The tables and the reported (not judged) targets.
fn write(run: &mut Run, timing: &Timing, searches: &[Search], elapsed: Duration) {
    let (client, server, fake) = match run.args.client_pin() {
        Some(c) => (
            c.to_string(),
            run.args.server_cpu.to_string(),
            run.args.fake_cpu.unwrap_or(run.args.server_cpu).to_string(),
        ),
        None => ("any".into(), "any".into(), "any".into()),
    };
    let md = &mut run.md;
    let _ = writeln!(md, "## Throughput frontier (open loop)\n");
    let _ = writeln!(
        md,
        "The most calls per second each server sustains with p99 under 1, 5 and 20 ms. Simulated path: unary `Generate` \
         (prompt {UNARY_PROMPT:?}, `max_tokens` {UNARY_TOKENS}) to the floor and to the gateway on `--backend simulated \
         --simulated-token-delay 0ms`. Bedrock path: the AWS SDK in the load generator calling Converse on the fake Bedrock \
         at 0 ms (direct), and our client calling `Generate` on the gateway on `--backend bedrock` in front of the same fake \
         (as in the Bedrock path's table). Servers on CPU {server}, the fake on CPU {fake}, the load generator (and the direct \
         SDK) on CPU {client}; gRPC calls over {} connections.\n\n\
         Per server: a closed-loop probe at concurrency {PROBE_CONCURRENCY} ({:?} window) gives its capacity C; then \
         open-loop points ({:?} warm-up, {:?} window each, calls issued at the rate whatever the answers do, each timed \
         from its own send, at most {MAX_OUTSTANDING} outstanding) search C × {LOWEST:.3} … C × {HIGHEST}. A point passes \
         a bound when no call failed or was held back, the calls completed inside the window are ≥ {:.0}% of those offered, \
         the generator issued 99% of its calls within {} ms of their schedule, and the p99 is under the bound. Each \
         bound's next point bisects (geometrically) between its highest passing and lowest failing rate, until they are \
         within {:.0}% or {} points are spent; a frontier is the highest passing rate (≥: the top of the range passed; <: \
         even the lowest rate tried failed). CPU is the side under test's, as a share of one core at that point: the \
         server process's, or for the direct SDK the load generator's own (it runs the SDK); the fake's is in neither. \
         The gateway on the Bedrock backend shares its CPU with the fake, the direct SDK does not. Latencies in ms. \
         The scenario took {:.0} s.\n",
        run.args.connections.max(1),
        timing.probe_window,
        timing.warmup,
        timing.window,
        MIN_COMPLETED * 100.0,
        ms(MAX_ISSUE_LAG),
        (timing.precision - 1.0) * 100.0,
        timing.max_points,
        elapsed.as_secs_f64(),
    );
    let _ = writeln!(
        md,
        "| server | capacity C: closed-loop calls/s | p99 < 1 ms: calls/s | p99 | CPU | p99 < 5 ms: calls/s | p99 | CPU | \
         p99 < 20 ms: calls/s | p99 | CPU | load generator CPU at the highest frontier | points | time |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let row = |s: &Search| {
        format!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {:.0} s |\n",
            s.label,
            s.capacity,
            s.cells(0),
            s.cells(1),
            s.cells(2),
            s.client_cpu_at_top(),
            s.points.len(),
            s.elapsed.as_secs_f64(),
        )
    };
    let ratio_row = |name: &str, a: &Search, b: &Search| {
        let mut cells = vec![format!("**{name}**"), ratio(a.capacity, b.capacity)];
        for i in 0..BOUNDS.len() {
            cells.push(match (a.frontier(i), b.frontier(i)) {
                (Some(x), Some(y)) => format!("**{}**", ratio(x, y)),
                _ => "–".to_owned(),
            });
            cells.extend([String::new(), String::new()]);
        }
        cells.extend([String::new(), String::new(), String::new()]);
        format!("| {} |\n", cells.join(" | "))
    };
    for pair in searches.chunks(2) {
        for s in pair {
            md.push_str(&row(s));
        }
        if let [base, s] = pair {
            let name = if base.side == Side::Client {
                "via gateway / direct"
            } else {
                "gateway / floor"
            };
            md.push_str(&ratio_row(name, s, base));
        }
    }
    md.push('\n');

    let _ = writeln!(
        md,
        "RSS (VmRSS of /proc/PID/status): idle {:?} after start, the highest 100 ms sample during the search above \
         (probe and every point), and {:?} after the last point.\n",
        timing.settle, timing.after
    );
    let _ = writeln!(
        md,
        "| server | RSS idle | RSS peak under load | RSS after |\n|---|---:|---:|---:|"
    );
    for s in searches {
        if let Some(r) = &s.rss {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                s.label,
                mb(r.idle),
                mb(r.peak),
                mb(r.after)
            );
        }
    }
    md.push('\n');

    let _ = writeln!(
        md,
        "<details><summary>Every point measured</summary>\n\n\
         | server | offered /s | completed /s | p50 | p99 | max | issue lag p99 | held back | errors | CPU under test | \
         load generator CPU | other CPU | passes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for s in searches {
        let p = &s.probe;
        let _ = writeln!(
            md,
            "| {} | probe: closed loop c={PROBE_CONCURRENCY} | {:.0} | {} | {} | {} | – | – | {} | {} | {} | {} | – |",
            s.label,
            p.rps(),
            ms(p.q(0.5)),
            ms(p.q(0.99)),
            ms(p.max()),
            p.errors,
            cpu(s.side_cpu(p)),
            cpu(Some(p.cpu.client)),
            super::other(p),
        );
        for (rate, m) in &s.points {
            let _ = writeln!(
                md,
                "| {} | {rate:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.label,
                completed_rate(m),
                ms(m.q(0.5)),
                ms(m.q(0.99)),
                ms(m.max()),
                ms(lag_p99(m)),
                m.not_issued,
                m.errors.saturating_sub(m.not_issued),
                cpu(s.side_cpu(m)),
                cpu(Some(m.cpu.client)),
                super::other(m),
                pass_marks(m),
            );
        }
    }
    let _ = writeln!(md, "\n</details>\n");

    let [floor, gw, direct, via] = searches else {
        return;
    };
    run.targets.push(Target {
        what: "Throughput frontier, simulated path: calls/s with p99 under 1, 5, 20 ms",
        goal: "report (issue 16)".into(),
        measured: format!("gateway {}; floor {}", gw.summary(), floor.summary()),
        met: None,
        miss: REPORTED.into(),
    });
    run.targets.push(Target {
        what: "Throughput frontier, Bedrock path (0 ms fake): calls/s with p99 under 1, 5, 20 ms",
        goal: "report (issue 16)".into(),
        measured: format!(
            "via the gateway {}; direct SDK {}",
            via.summary(),
            direct.summary()
        ),
        met: None,
        miss: REPORTED.into(),
    });
    let rss = |s: &Search| {
        s.rss.as_ref().map_or("–".into(), |r| {
            format!("{} / {} / {}", mb(r.idle), mb(r.peak), mb(r.after))
        })
    };
    run.targets.push(Target {
        what: "Gateway RSS idle / peak under the frontier's load / after",
        goal: "report (issue 16)".into(),
        measured: format!("simulated {}; Bedrock {}", rss(gw), rss(via)),
        met: None,
        miss: REPORTED.into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-second open-loop point at `rate` where every call succeeded
    /// and the p99 was `p99`.
    fn point(rate: f64, p99: Duration) -> Measured {
        let mut m = Measured::new(Duration::from_secs(1));
        m.offered_rate = Some(rate);
        m.ok = rate as u64;
        m.ended_in_window = rate as u64;
        let _ = m.latency.record(p99.as_nanos() as u64);
        let _ = m.issue_lag.record(1_000);
        m
    }

    #[test]
    fn rates_round_to_three_digits() {
        assert_eq!(round3(12_345.0), 12_300.0);
        assert_eq!(round3(987.6), 988.0);
    }

    #[test]
    fn the_search_brackets_every_bound() {
        let mut probe = Measured::new(Duration::from_secs(1));
        probe.ok = 10_000;
        let mut s = Search::new("x", Side::Server, probe, 10_000.0);
        // p99 grows with the rate: 0.5 ms below 3,000/s, 3 ms to 7,000/s, 10 ms to 9,000/s, then 50 ms.
        let p99_at = |r: f64| {
            Duration::from_micros(match r {
                r if r < 3_000.0 => 500,
                r if r < 7_000.0 => 3_000,
                r if r < 9_000.0 => 10_000,
                _ => 50_000,
            })
        };
        for _ in 0..40 {
            let Some(rate) = s.next_rate(1.1) else { break };
            s.record(rate, point(rate, p99_at(rate)));
        }
        assert!(s.next_rate(1.1).is_none(), "converges");
        assert!(s.points.len() <= 14, "{} points", s.points.len());
        for (b, (lo, hi)) in [(2_700.0, 3_000.0), (6_300.0, 7_000.0), (8_100.0, 9_000.0)]
            .into_iter()
            .enumerate()
        {
            let f = s.frontier(b).unwrap();
            assert!(f >= lo && f < hi, "bound {b}: {f}");
        }
    }
}
