//! The soak and drain test: run by `scripts/soak`, not by `cargo test`
//! (it is `#[ignore]`d and takes about two minutes).
//!
//! 1. Starts the gateway binary (`SOAK_GATEWAY_BIN`, default the one built
//!    with this test, so `--release` soaks the release build) with the
//!    simulated backend, 1% injected ServiceUnavailableException and
//!    a 2 ms token delay.
//! 2. Ramp: closed-loop mixed load (half Generate, half GenerateStream) at
//!    rising concurrency, 3 s a step, to find the maximum calls/s of this
//!    machine (gateway and driver share its cores).
//! 3. Soak: open-loop load at 80% of that maximum for `SOAK_SECONDS` (90 by
//!    default, at most 120). Every outcome is counted: the injected
//!    UNAVAILABLE is expected, anything else is unexpected. The gateway's RSS
//!    is sampled every second from /proc/PID/status.
//! 4. Drain: with the load still running and 40 long streams open, SIGTERM.
//!    No accepted stream may be cut short, calls made after the signal must
//!    get UNAVAILABLE, and the process must exit 0 within the drain time.
//!
//! Passes with zero unexpected outcomes, RSS at the end of the soak within
//! 10% of RSS after warm-up (10 s into the soak), and a clean drain. The
//! summary is printed and written to `target/soak-results.txt`.

use bedrock_gateway::pb::{
    generate_stream_response::Event, text_generation_service_client::TextGenerationServiceClient,
    GenerateRequest, GenerateStreamRequest, GenerationParameters,
};
use futures::StreamExt;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Code;

const TITAN: &str = "amazon.titan-text-express-v1";
const DRAIN_TIMEOUT_S: u64 = 20;
const CONNECTIONS: usize = 8;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The gateway process, its stderr going to a file (a soak logs too much to
/// keep in memory).
struct Gateway {
    child: std::process::Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Gateway {
    fn start(bin: &str, dir: &std::path::Path) -> Gateway {
        let log = dir.join("gateway.log");
        let child = std::process::Command::new(bin)
            .args([
                "--listen", "127.0.0.1:0",
                "--backend", "simulated",
                "--simulated-failure-rate", "0.01",
                "--simulated-failure-kind", "ServiceUnavailableException",
                "--simulated-token-delay", "2ms",
                "--drain-timeout", &format!("{DRAIN_TIMEOUT_S}s"),
                // The ramp goes past the default 1,024 to find the machine's
                // limit rather than the gateway's admission limit.
                "--max-concurrent-generations", "8192",
                "--log-format", "json",
                // Lifecycle lines, warnings (the injected failures) and errors;
                // not a line per successful call.
                "--log-level", "warn,bedrock_gateway=info,bedrock_gateway::grpc=warn",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the gateway binary starts");
        // Owned by a Gateway at once, so a failed start still kills and reaps it.
        let mut gateway = Gateway { child, addr: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&gateway.log).unwrap_or_default();
            let addr = text.lines().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "bedrock-gateway listening").then(|| v["addr"].as_str().unwrap_or_default().to_owned())
            });
            if let Some(addr) = addr {
                gateway.addr = addr;
                return gateway;
            }
            assert!(Instant::now() < deadline, "the gateway did not log its address:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds the process has used (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and
        // stime are the 12th and 13th, in clock ticks (100 a second on Linux).
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    fn log_lines_with(&self, needle: &str) -> usize {
        let file = std::fs::File::open(&self.log).unwrap();
        BufReader::new(file).lines().map_while(Result::ok).filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Outcome counters, shared by every task.
#[derive(Default)]
struct Tally {
    ok_unary: AtomicU64,
    ok_stream: AtomicU64,
    injected: AtomicU64,
    refused_while_draining: AtomicU64,
    /// Calls the draining gateway never processed, that tonic reports as
    /// CANCELLED or INTERNAL (see `unsent`).
    unsent_at_close: AtomicU64,
    unexpected: AtomicU64,
    samples: Mutex<Vec<String>>,
    unary_micros: Mutex<Vec<u32>>,
    stream_micros: Mutex<Vec<u32>>,
}

impl Tally {
    fn total(&self) -> u64 {
        self.ok_unary.load(Ordering::Relaxed)
            + self.ok_stream.load(Ordering::Relaxed)
            + self.injected.load(Ordering::Relaxed)
            + self.refused_while_draining.load(Ordering::Relaxed)
            + self.unsent_at_close.load(Ordering::Relaxed)
            + self.unexpected.load(Ordering::Relaxed)
    }

    fn unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap();
        if samples.len() < 20 {
            samples.push(what);
        }
    }
}

/// Calls the draining gateway never processed that tonic reports with
/// other codes than UNAVAILABLE: hyper's client cancels the requests still
/// queued for a connection when it closes (never written: CANCELLED
/// "connection closed"), and h2 fails the streams a client opened above the
/// GOAWAY's last stream ID (by HTTP/2's rules not processed: tonic says
/// INTERNAL for the GOAWAY's NO_ERROR). Only ever on opening a call.
fn unsent(status: &tonic::Status) -> bool {
    let shown = format!("{status:?}");
    (status.code() == Code::Cancelled && shown.contains("Canceled, \"connection closed\""))
        || (status.code() == Code::Internal && shown.contains("GoAway(b\"\", NO_ERROR, Remote)"))
}

fn is_injected(status: &tonic::Status) -> bool {
    status.code() == Code::Unavailable && status.message().contains("simulated failure")
}

/// When the drain began (SIGTERM sent), if it has.
#[derive(Default)]
struct Drain {
    signalled: AtomicBool,
    at: Mutex<Option<Instant>>,
}

impl Drain {
    fn started(&self) -> Option<Instant> {
        if self.signalled.load(Ordering::Acquire) {
            *self.at.lock().unwrap()
        } else {
            None
        }
    }
}

/// How long after SIGTERM a new call may still be served (the signal takes
/// a moment to arrive and be handled).
const SIGNAL_GRACE: Duration = Duration::from_millis(200);

/// One call of the mix; `stream` picks the RPC.
async fn one_call(mut client: TextGenerationServiceClient<Channel>, stream: bool, tally: Arc<Tally>, drain: Arc<Drain>, long: bool) {
    let started = Instant::now();
    let after_signal = drain.started().is_some_and(|at| started >= at + SIGNAL_GRACE);
    let parameters = Some(GenerationParameters {
        max_tokens: Some(if long { 100 } else { 10 + fastrand::u32(0..40) }),
        ..Default::default()
    });
    let fields = long.then(|| {
        use prost_types::{value::Kind, Struct, Value};
        let mut sim = Struct::default();
        sim.fields.insert("token_delay_ms".into(), Value { kind: Some(Kind::NumberValue(20.0)) });
        let mut root = Struct::default();
        root.fields.insert("gateway_simulation".into(), Value { kind: Some(Kind::StructValue(sim)) });
        root
    });
    let refused_or_unexpected = |status: tonic::Status, what: &str| {
        if is_injected(&status) {
            tally.injected.fetch_add(1, Ordering::Relaxed);
        } else if drain.started().is_some() && status.code() == Code::Unavailable {
            tally.refused_while_draining.fetch_add(1, Ordering::Relaxed);
        } else if drain.started().is_some() && unsent(&status) {
            tally.unsent_at_close.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.unexpected(format!("{what}: {status:?}"));
        }
    };
    if !stream {
        let r = GenerateRequest {
            model_id: TITAN.into(),
            prompt: "Write a poem about sky".into(),
            parameters,
            ..Default::default()
        };
        match client.generate(r).await {
            Ok(_) if after_signal => tally.unexpected("Generate served after SIGTERM".into()),
            Ok(_) => {
                tally.ok_unary.fetch_add(1, Ordering::Relaxed);
                tally.unary_micros.lock().unwrap().push(started.elapsed().as_micros() as u32);
            }
            Err(status) => refused_or_unexpected(status, "Generate"),
        }
        return;
    }
    let r = GenerateStreamRequest {
        model_id: TITAN.into(),
        prompt: "Write a poem about sky".into(),
        parameters,
        additional_model_request_fields: fields,
        ..Default::default()
    };
    let mut events = match client.generate_stream(r).await {
        Ok(_) if after_signal => return tally.unexpected("GenerateStream accepted after SIGTERM".into()),
        Ok(s) => s.into_inner(),
        Err(status) => return refused_or_unexpected(status, "GenerateStream open"),
    };
    // Accepted: from here on the stream must run to its completion.
    let mut deltas = 0;
    while let Some(item) = events.next().await {
        match item {
            Ok(m) => match m.event {
                Some(Event::Delta(_)) => deltas += 1,
                Some(Event::Complete(c)) => {
                    let out = c.usage.map_or(0, |u| u.output_tokens);
                    if out != deltas {
                        return tally.unexpected(format!("stream: {deltas} deltas but usage says {out}"));
                    }
                    // Read on to the trailers, as a gRPC client should: the
                    // stream must end there with OK. (Dropping it before the
                    // trailers arrive resets the stream from this side.)
                    match events.next().await {
                        None => {}
                        Some(Ok(m)) => return tally.unexpected(format!("stream: an event after the completion: {m:?}")),
                        Some(Err(s)) => return tally.unexpected(format!("stream: a status after the completion: {s:?}")),
                    }
                    tally.ok_stream.fetch_add(1, Ordering::Relaxed);
                    tally.stream_micros.lock().unwrap().push(started.elapsed().as_micros() as u32);
                    return;
                }
                None => return tally.unexpected("stream: empty event".into()),
                Some(other) => return tally.unexpected(format!("stream: a tool event in a text answer: {other:?}")),
            },
            Err(status) => {
                let during = if drain.started().is_some() { " (cut short during the drain)" } else { "" };
                return tally.unexpected(format!("stream after {deltas} deltas{during}: {status:?}"));
            }
        }
    }
    tally.unexpected(format!("stream ended after {deltas} deltas without a completion"));
}

/// Closed-loop load: `workers` callers, each calling again as soon as it is
/// answered, for `seconds`. Returns calls per second.
async fn closed_loop(clients: &[TextGenerationServiceClient<Channel>], workers: usize, seconds: u64, tally: &Arc<Tally>) -> f64 {
    let until = Instant::now() + Duration::from_secs(seconds);
    let before = tally.total();
    let drain = Arc::new(Drain::default());
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let client = clients[w % clients.len()].clone();
            let (tally, drain) = (tally.clone(), drain.clone());
            tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < until {
                    one_call(client.clone(), i % 2 == 1, tally.clone(), drain.clone(), false).await;
                    i += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (tally.total() - before) as f64 / seconds as f64
}

fn percentile(values: &mut [u32], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let i = ((values.len() - 1) as f64 * p).round() as usize;
    values[i] as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a two-minute soak: run scripts/soak"]
async fn soak_then_drain_under_load() {
    let bin = std::env::var("SOAK_GATEWAY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bedrock-gateway").to_owned());
    let soak_seconds = env_u64("SOAK_SECONDS", 90).clamp(10, 120);
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gateway::start(&bin, dir.path());
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let channel = Channel::from_shared(format!("http://{}", gw.addr)).unwrap().connect().await.unwrap();
        clients.push(TextGenerationServiceClient::new(channel));
    }
    let mut report = vec![format!("gateway binary: {bin}"), format!("soak: {soak_seconds} s")];
    let rss_start = gw.rss_kib();

    // 1. Ramp to find the maximum.
    let ramp_tally = Arc::new(Tally::default());
    let mut best = (0usize, 0.0f64);
    let mut flat = 0;
    for workers in [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048] {
        let rate = closed_loop(&clients, workers, 3, &ramp_tally).await;
        report.push(format!("ramp: {workers:>3} callers → {rate:.0} calls/s"));
        eprintln!("{}", report.last().unwrap());
        if rate > best.1 * 1.05 {
            best = (workers, rate);
            flat = 0;
        } else {
            flat += 1;
            if flat == 2 {
                break;
            }
        }
    }
    let target = best.1 * 0.8;
    report.push(format!("maximum: {:.0} calls/s (at {} callers); soak target 80%: {target:.0} calls/s", best.1, best.0));
    eprintln!("{}", report.last().unwrap());
    let ramp_unexpected = ramp_tally.unexpected.load(Ordering::Relaxed);

    // 2. Soak: open loop at the target rate, in-flight calls capped.
    let tally = Arc::new(Tally::default());
    let drain = Arc::new(Drain::default());
    let stop = Arc::new(AtomicBool::new(false));
    let max_in_flight = Arc::new(tokio::sync::Semaphore::new(4096));
    let over_cap = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let generator = {
        let (clients, tally, drain, stop) = (clients.clone(), tally.clone(), drain.clone(), stop.clone());
        let (max_in_flight, over_cap, issued) = (max_in_flight.clone(), over_cap.clone(), issued.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let started = Instant::now();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                // Calls due by now at the target rate.
                let due = (started.elapsed().as_secs_f64() * target) as u64;
                while i < due {
                    i += 1;
                    let Ok(permit) = max_in_flight.clone().try_acquire_owned() else {
                        over_cap.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    issued.fetch_add(1, Ordering::Relaxed);
                    let client = clients[(i as usize) % clients.len()].clone();
                    let (tally, drain) = (tally.clone(), drain.clone());
                    tokio::spawn(async move {
                        one_call(client, i % 2 == 1, tally, drain, false).await;
                        drop(permit);
                    });
                }
            }
        })
    };
    let soak_started = Instant::now();
    let cpu_before = gw.cpu_seconds();
    let mut rss = Vec::new();
    while soak_started.elapsed() < Duration::from_secs(soak_seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(gw.rss_kib());
    }
    let warm = rss.get(9).copied().unwrap_or(rss[0]);
    let end = *rss.last().unwrap();
    let peak = rss.iter().copied().max().unwrap();
    let cores = (gw.cpu_seconds() - cpu_before) / soak_started.elapsed().as_secs_f64();
    let soak_calls = tally.total();
    let soak_rate = issued.load(Ordering::Relaxed) as f64 / soak_started.elapsed().as_secs_f64();
    report.push(format!(
        "soak: {} calls issued ({soak_rate:.0}/s), {} finished: {} unary OK, {} streams OK, {} injected UNAVAILABLE, {} unexpected; {} over the driver's in-flight cap",
        issued.load(Ordering::Relaxed),
        soak_calls,
        tally.ok_unary.load(Ordering::Relaxed),
        tally.ok_stream.load(Ordering::Relaxed),
        tally.injected.load(Ordering::Relaxed),
        tally.unexpected.load(Ordering::Relaxed),
        over_cap.load(Ordering::Relaxed),
    ));
    let mut unary = std::mem::take(&mut *tally.unary_micros.lock().unwrap());
    let mut streams = std::mem::take(&mut *tally.stream_micros.lock().unwrap());
    report.push(format!(
        "latency: Generate p50 {:.1} ms p99 {:.1} ms; GenerateStream (whole stream) p50 {:.1} ms p99 {:.1} ms",
        percentile(&mut unary, 0.5),
        percentile(&mut unary, 0.99),
        percentile(&mut streams, 0.5),
        percentile(&mut streams, 0.99),
    ));
    let growth = (end as f64 - warm as f64) / warm as f64 * 100.0;
    report.push(format!(
        "gateway CPU during the soak: {cores:.2} of {} cores (the load driver, a {} build, used most of the rest); RSS: {} MiB at start, {} MiB after warm-up (10 s), {} MiB at the end ({growth:+.1}%), peak {} MiB",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        rss_start / 1024,
        warm / 1024,
        end / 1024,
        peak / 1024
    ));
    for line in &report[report.len() - 3..] {
        eprintln!("{line}");
    }

    // 3. Drain under that load: open long streams, then SIGTERM.
    let long_streams: Vec<_> = (0..40)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let (tally, drain) = (tally.clone(), drain.clone());
            tokio::spawn(one_call(client, true, tally, drain, true))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let streams_before = tally.ok_stream.load(Ordering::Relaxed);
    *drain.at.lock().unwrap() = Some(Instant::now());
    drain.signalled.store(true, Ordering::Release);
    let signalled = Instant::now();
    let status = std::process::Command::new("kill").args(["-TERM", &gw.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // The load keeps coming for two more seconds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    generator.await.unwrap();
    for s in long_streams {
        s.await.unwrap();
    }
    let exit = loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(DRAIN_TIMEOUT_S + 5), "the gateway did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exited_after = signalled.elapsed();
    // Let the calls still in flight in the driver finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), max_in_flight.acquire_many(4096)).await;
    report.push(format!(
        "drain: SIGTERM with 40 long streams and the load running; {} streams completed after the signal, {} calls refused with UNAVAILABLE while draining, {} never processed but reported by tonic as CANCELLED (queued as the connection closed) or INTERNAL (above the GOAWAY's last stream), exit code {:?} after {:.2} s; {} unexpected outcomes in total",
        tally.ok_stream.load(Ordering::Relaxed) - streams_before,
        tally.refused_while_draining.load(Ordering::Relaxed),
        tally.unsent_at_close.load(Ordering::Relaxed),
        exit.code(),
        exited_after.as_secs_f64(),
        tally.unexpected.load(Ordering::Relaxed),
    ));
    eprintln!("{}", report.last().unwrap());
    let panics = gw.log_lines_with("panicked");
    report.push(format!("gateway log: {} panics, {} injected failures logged", panics, gw.log_lines_with("simulated failure")));
    let samples = tally.samples.lock().unwrap().clone();
    let text = report.join("\n") + "\n";
    let _ = std::fs::write(concat!(env!("CARGO_TARGET_TMPDIR"), "/../soak-results.txt"), &text);
    println!("{text}");

    assert_eq!(ramp_unexpected, 0, "unexpected outcomes during the ramp");
    assert!(samples.is_empty(), "unexpected outcomes: {samples:#?}");
    assert!(tally.injected.load(Ordering::Relaxed) > 0, "the 1% injected failures showed up");
    assert!(end as f64 <= warm as f64 * 1.10, "RSS grew by {growth:.1}% during the soak");
    assert_eq!(exit.code(), Some(0), "the gateway exits 0 after the drain");
    assert!(exited_after < Duration::from_secs(DRAIN_TIMEOUT_S), "the drain finished within --drain-timeout");
    let refused = tally.refused_while_draining.load(Ordering::Relaxed);
    assert!(refused > 0, "new calls were refused with UNAVAILABLE during the drain");
    assert!(
        tally.unsent_at_close.load(Ordering::Relaxed) * 10 < refused,
        "most refused calls are UNAVAILABLE"
    );
    assert_eq!(panics, 0);
}
