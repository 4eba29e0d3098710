//! The Bedrock path's CPU per call (issue 16), from the `bedrock` scenario's
//! measurements: the direct SDK call's client CPU per call beside the
//! gateway's server CPU per call, calls per CPU-second of each, and the
//! issue's targets on them (with the 0 ms fake).
//!
//! - Direct: the load generator's own CPU (getrusage over the window) ÷ the
//!   calls of the window. The SDK runs inside the generator, so this is the
//!   SDK call plus the generator's small per-call bookkeeping.
//! - Via the gateway: the gateway process's CPU (/proc/PID/stat over the
//!   window) ÷ the calls of the window: its gRPC serving, its own work and
//!   the same SDK call.
//!
//! The fake's CPU is in neither.

use super::{ms, Run, Target};
use crate::load::Measured;
use std::fmt::Write as _;
use std::time::Duration;

/// The concurrency the CPU targets are judged at, and the one the added
/// p99 is judged at (issue 16).
const JUDGED_AT: usize = 16;
const LATENCY_AT: usize = 1;
/// Issue 16: the gateway's server CPU per call may exceed the direct SDK
/// call's client CPU per call by at most this.
const CPU_MARGIN_US: f64 = 25.0;
/// Issue 16: the most p99 the gateway may add at concurrency 1.
const MAX_ADDED_P99: Duration = Duration::from_micros(100);
/// Issue 16: calls per CPU-second through the gateway, as a share of the
/// direct SDK's at least.
const MIN_BUDGET_SHARE: f64 = 0.8;
/// The headline's reference: agentgateway's CPU per call, 76–83 µs, measured
/// by hand on this machine for issue 16 (the in-repo fake at 0 ms, h2load at
/// concurrency 32, two runs); not measured by this suite. The target is the
/// lower end.
const AGENTGATEWAY_CPU_PER_CALL_US: (f64, f64) = (76.0, 83.0);

/// One concurrency of one fake latency: the direct SDK and the gateway.
pub(super) struct Pair {
    pub(super) latency: Duration,
    pub(super) concurrency: usize,
    pub(super) direct: Measured,
    pub(super) via: Measured,
}

/// CPU µs per call of the window, from a CPU share (cores) over it.
fn per_call_us(share: Option<f64>, m: &Measured) -> Option<f64> {
    let share = share?;
    (m.ok > 0).then(|| share * m.window.as_secs_f64() / m.ok as f64 * 1e6)
}

/// Calls per CPU-second: calls/s ÷ the cores used.
fn per_cpu_second(share: Option<f64>, m: &Measured) -> Option<f64> {
    share.filter(|s| *s > 0.0).map(|s| m.rps() / s)
}

fn us(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.1}"))
}

fn count(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.0}"))
}

impl Pair {
    fn direct_us(&self) -> Option<f64> {
        per_call_us(Some(self.direct.cpu.client), &self.direct)
    }
    fn via_us(&self) -> Option<f64> {
        per_call_us(self.via.cpu.server, &self.via)
    }
    fn direct_per_cpu(&self) -> Option<f64> {
        per_cpu_second(Some(self.direct.cpu.client), &self.direct)
    }
    fn via_per_cpu(&self) -> Option<f64> {
        per_cpu_second(self.via.cpu.server, &self.via)
    }
}

/// The CPU-per-call table (under the Bedrock path's table) and the targets.
pub(super) fn report(run: &mut Run, pairs: &[Pair]) {
    let md = &mut run.md;
    let _ = writeln!(
        md,
        "CPU per call, same measurements. *Direct*: the load generator's own CPU (getrusage) over the window ÷ the \
         window's calls; the SDK runs inside it. *Via the gateway*: the gateway process's CPU over the window ÷ the \
         window's calls (its gRPC serving, its own work and the same SDK call). The fake's CPU is in neither. \
         **Calls per CPU-second** make the CPU budget equal: calls/s ÷ the cores the side under test used (the \
         load generator's for direct, the gateway's for the path through it), i.e. the calls one full core of each \
         would serve.\n"
    );
    let _ = writeln!(
        md,
        "| fake latency | concurrency | direct calls/s | direct client CPU | direct µs/call | via calls/s | gateway CPU | \
         gateway µs/call | gateway − direct µs/call | direct calls per CPU-s | via calls per CPU-s | via / direct per CPU-s |"
    );
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in pairs {
        let diff = p.via_us().zip(p.direct_us()).map(|(v, d)| v - d);
        let share = p
            .via_per_cpu()
            .zip(p.direct_per_cpu())
            .map_or("–".into(), |(v, d)| format!("{:.0}%", 100.0 * v / d));
        let _ = writeln!(
            md,
            "| {}ms | {} | {:.0} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {share} |",
            p.latency.as_millis(),
            p.concurrency,
            p.direct.rps(),
            super::cpu(Some(p.direct.cpu.client)),
            us(p.direct_us()),
            p.via.rps(),
            super::cpu(p.via.cpu.server),
            us(p.via_us()),
            diff.map_or("–".into(), |d| format!("{d:+.1}")),
            count(p.direct_per_cpu()),
            count(p.via_per_cpu()),
        );
    }
    md.push('\n');

    let zero = |c: usize| {
        pairs
            .iter()
            .find(|p| p.latency.is_zero() && p.concurrency == c)
    };
    let missing = |c: usize| {
        format!("not measured: needs a 0 ms fake in --bedrock-latency and concurrency {c} in --bedrock-concurrency")
    };
    let unmeasured = |what: &'static str, goal: String, c: usize| Target {
        what,
        goal,
        measured: missing(c),
        met: None,
        miss: String::new(),
    };
    let cpu_goal = format!("≤ the direct SDK's client CPU per call + {CPU_MARGIN_US:.0} µs");
    let budget_goal = format!("≥ {:.0}% of the direct SDK's", MIN_BUDGET_SHARE * 100.0);
    let (ag_low, ag_high) = AGENTGATEWAY_CPU_PER_CALL_US;
    let headline_goal = format!(
        "< {ag_low:.0} µs (agentgateway: {ag_low:.0}–{ag_high:.0} µs a call at concurrency 32, measured for issue 16; \
         not measured in this run)"
    );
    const CPU_WHAT: &str =
        "Bedrock path: gateway server CPU per call vs the direct SDK's client CPU per call (0 ms fake, concurrency 16)";
    const BUDGET_WHAT: &str =
        "Bedrock path: calls per CPU-second via the gateway vs the direct SDK (0 ms fake, concurrency 16)";
    const HEADLINE_WHAT: &str =
        "Bedrock path headline: gateway server CPU per call vs agentgateway (0 ms fake, concurrency 16)";
    const P99_WHAT: &str = "Bedrock path: added p99 at concurrency 1 (0 ms fake)";

    match zero(JUDGED_AT).and_then(|p| Some((p, p.direct_us()?, p.via_us()?))) {
        Some((p, direct, via)) => {
            let also = zero(LATENCY_AT)
                .and_then(|q| Some((q.direct_us()?, q.via_us()?)))
                .map(|(d, v)| {
                    format!(
                        "; at concurrency {LATENCY_AT}: {v:.1} vs {d:.1} µs ({:+.1} µs)",
                        v - d
                    )
                })
                .unwrap_or_default();
            run.targets.push(Target {
                what: CPU_WHAT,
                goal: cpu_goal,
                measured: format!("{via:.1} vs {direct:.1} µs ({:+.1} µs){also}", via - direct),
                met: Some(via <= direct + CPU_MARGIN_US),
                miss: format!("{:.1} µs over", via - direct - CPU_MARGIN_US),
            });
            let (v, d) = (1e6 / via, 1e6 / direct);
            run.targets.push(Target {
                what: BUDGET_WHAT,
                goal: budget_goal,
                measured: format!(
                    "{v:.0} vs {d:.0} calls per CPU-second = {:.0}% (calls/s {:.0} on {} of the gateway's core, \
                     {:.0} on {} of the generator's)",
                    100.0 * v / d,
                    p.via.rps(),
                    super::cpu(p.via.cpu.server),
                    p.direct.rps(),
                    super::cpu(Some(p.direct.cpu.client)),
                ),
                met: Some(v >= MIN_BUDGET_SHARE * d),
                miss: format!("{:.0} points short", (MIN_BUDGET_SHARE - v / d) * 100.0),
            });
            run.targets.push(Target {
                what: HEADLINE_WHAT,
                goal: headline_goal,
                measured: format!("{via:.1} µs"),
                met: Some(via < ag_low),
                miss: format!("{:.1} µs over {ag_low:.0} µs", via - ag_low),
            });
        }
        None => {
            run.targets.push(unmeasured(CPU_WHAT, cpu_goal, JUDGED_AT));
            run.targets
                .push(unmeasured(BUDGET_WHAT, budget_goal, JUDGED_AT));
            run.targets
                .push(unmeasured(HEADLINE_WHAT, headline_goal, JUDGED_AT));
        }
    }
    let p99_goal = format!("≤ {} µs", MAX_ADDED_P99.as_micros());
    match zero(LATENCY_AT) {
        Some(p) => {
            let added = p.via.q(0.99).as_secs_f64() - p.direct.q(0.99).as_secs_f64();
            let added_p50 = p.via.q(0.5).as_secs_f64() - p.direct.q(0.5).as_secs_f64();
            run.targets.push(Target {
                what: P99_WHAT,
                goal: p99_goal,
                measured: format!(
                    "{:+.0} µs (p99 {} vs {} ms; p50 {:+.0} µs)",
                    added * 1e6,
                    ms(p.via.q(0.99)),
                    ms(p.direct.q(0.99)),
                    added_p50 * 1e6
                ),
                met: Some(added <= MAX_ADDED_P99.as_secs_f64()),
                miss: format!(
                    "{:.0} µs over",
                    added * 1e6 - MAX_ADDED_P99.as_micros() as f64
                ),
            });
        }
        None => run.targets.push(unmeasured(P99_WHAT, p99_goal, LATENCY_AT)),
    }
}
