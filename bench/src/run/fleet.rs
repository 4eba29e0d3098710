//! The `fleet` scenario: what the shared limits store on Redis adds to a
//! unary call, against the local store, with a real `redis-server`.
//!
//! Redis runs on the load generator's CPU, so the gateway's CPU carries
//! only the gateway's side of the store (its Redis client), which is what
//! the gateway adds. Every measurement is checked to have been a Redis one:
//! Redis's own command statistics must show at least one script per call,
//! and the gateway's `bedrock_gateway_limit_store_errors_total` must stay 0
//! (a store error means calls fell back to local limits).

use super::{
    cpu, ms, other, pause, progress, ratio, signed_ms, steady, unary_request, Run, Target,
    UNARY_PROMPT, UNARY_TOKENS,
};
use crate::load::{self, closed_loop, Measured, Unary};
use crate::procs::{self, ServerProcess, Spec};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The one key of the keys files: its name, and the key (32 characters).
const KEY_NAME: &str = "bench";
const KEY: &str = "bench-fleet-key-0123456789abcdef";
/// Limits no benchmark reaches, so nothing is refused, but set: a key
/// without limits never reaches Redis.
const REQUESTS_PER_MINUTE: u64 = 1_000_000_000;
const TOKENS_PER_MINUTE: u64 = 1_000_000_000_000;
/// The concurrencies measured: latency at 1, throughput at 64.
const LATENCY_AT: usize = 1;
const THROUGHPUT_AT: usize = 64;
/// The targets for the rpm key.
const MAX_ADDED_P50: Duration = Duration::from_micros(200);
const MIN_THROUGHPUT_SHARE: f64 = 0.8;
/// How long a Redis gateway may take to connect to Redis after it starts.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Bounds on the small synchronous exchanges with Redis and /metrics.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

const HEADER: &str = "## Shared limits: the Redis store against the local one (fleet)\n";

/// One gateway of the scenario.
struct Variant {
    label: &'static str,
    /// Whether it admits on Redis.
    redis: bool,
    gw: ServerProcess,
    metrics: SocketAddr,
    /// (concurrency 1, concurrency 64), each with Redis's scripts per call.
    at1: Option<(Measured, f64)>,
    at64: Option<(Measured, f64)>,
}

const LOCAL: &str = "local";
const REDIS: &str = "Redis";
const REDIS_TOKENS: &str = "Redis, token budget (diagnostic)";

pub(super) async fn fleet(run: &mut Run) -> Result<(), String> {
    let Some(redis_bin) = procs::on_path(&run.args.redis_server) else {
        let why = format!(
            "`{}` not found (Debian package `redis-server`; scripts/bench installs it)",
            run.args.redis_server
        );
        if std::env::var("BEDROCK_GATEWAY_REQUIRE_REDIS").as_deref() == Ok("1") {
            run.note(format!(
                "fleet: {why}, and BEDROCK_GATEWAY_REQUIRE_REDIS=1 requires it"
            ));
        } else {
            eprintln!("gateway-bench: fleet scenario skipped: {why}");
        }
        let _ = writeln!(run.md, "{HEADER}\nSkipped: {why}.\n");
        for (what, goal) in [(TARGET_P50, goal_p50()), (TARGET_RPS, goal_rps())] {
            run.targets.push(Target {
                what,
                goal,
                measured: format!("skipped: {why}"),
                met: None,
                miss: String::new(),
            });
        }
        return Ok(());
    };
    let redis = start_redis(run, &redis_bin)?;
    // "Redis server v=7.0.15 sha=... malloc=... bits=64 build=...": the version.
    let version = super::shell(&redis_bin.to_string_lossy(), &["--version"])
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .map_or_else(|| "version unknown".to_owned(), |v| format!("version {v}"));
    let url = format!("redis://{}", redis.addr);
    // A smoke run checks that every call is admitted on Redis, not how fast:
    // a debug build on a busy CI machine can miss the default 50 ms.
    let timeout = if run.args.smoke { "2s" } else { "50ms" };

    let rpm_file = keys_file(&run.work_dir, "fleet-keys-rpm.toml", false)?;
    let tokens_file = keys_file(&run.work_dir, "fleet-keys-tokens.toml", true)?;
    let mut variants = Vec::new();
    // Each Redis gateway under its own key prefix: two separate fleets of
    // one replica, whose buckets and heartbeats never meet.
    let redis_flags = |prefix: &'static str| {
        [
            "--limits-store",
            "redis",
            "--redis-url",
            url.as_str(),
            "--redis-timeout",
            timeout,
            "--redis-key-prefix",
            prefix,
        ]
    };
    let (rpm_flags, tokens_flags) = (redis_flags("bench-rpm"), redis_flags("bench-tokens"));
    for (label, name, file, store) in [
        (LOCAL, "local", &rpm_file, &["--limits-store", "local"][..]),
        (REDIS, "redis", &rpm_file, &rpm_flags[..]),
        (
            REDIS_TOKENS,
            "redis-tokens",
            &tokens_file,
            &tokens_flags[..],
        ),
    ] {
        let file = file.to_string_lossy().into_owned();
        let mut extra = vec![
            "--keys-file",
            file.as_str(),
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        extra.extend_from_slice(store);
        let gw = run.simulated_gateway(&format!("gateway-fleet-{name}"), "0ms", &extra, &[])?;
        let metrics = wait_metrics_addr(&gw).await?;
        let redis_store = store.contains(&"redis");
        if redis_store {
            wait_store_answers(&gw, metrics).await?;
        }
        variants.push(Variant {
            label,
            redis: redis_store,
            gw,
            metrics,
            at1: None,
            at64: None,
        });
    }

    // Each concurrency in turn on every store, all three gateways up
    // throughout (as the unary scenario keeps the floor and its variants),
    // so slow drift of the machine falls on all of them alike.
    let (warmup, window) = (run.args.warmup(), run.args.duration());
    let request = unary_request(UNARY_TOKENS, UNARY_PROMPT);
    for c in [LATENCY_AT, THROUGHPUT_AT] {
        for v in variants.iter_mut() {
            let conns = c.min(run.args.connections).max(1);
            let senders = load::connect(v.gw.addr, conns).await?;
            let caller =
                Unary::new(v.gw.addr, senders, &request, UNARY_TOKENS).with_api_key(KEY)?;
            let name = format!("fleet c={c} {}", v.label);
            // Redis's script count of each attempt (a disturbed one is made again).
            let scripts: RefCell<Vec<Result<u64, String>>> = RefCell::new(Vec::new());
            let (gw, redis_ref, scripts_ref, caller_ref) = (&v.gw, &redis, &scripts, &caller);
            let m = steady(run.args.smoke, &name, || async move {
                let reset = redis_command(redis_ref.addr, &["CONFIG", "RESETSTAT"]);
                let m = closed_loop(caller_ref, c, warmup, window, Some(gw), Some(redis_ref)).await;
                scripts_ref
                    .borrow_mut()
                    .push(reset.and_then(|_| script_calls(redis_ref.addr)));
                m
            })
            .await;
            progress(&name, &m);
            run.check_errors(&name, &m);
            run.sane(
                m.q(0.99) < Duration::from_secs(2),
                format!("{name} p99 {} ms", ms(m.q(0.99))),
            );
            let counted = scripts
                .borrow()
                .get(m.attempts as usize - 1)
                .cloned()
                .unwrap_or_else(|| Err("no count".into()));
            let per_call = match counted {
                Ok(n) => {
                    let per_call = n as f64 / m.all_ok.max(1) as f64;
                    if v.redis && n < m.all_ok {
                        run.note(format!(
                            "{name}: Redis ran {n} scripts for {} calls: some calls were admitted without Redis \
                             (the store was down, or the key has no limits)",
                            m.all_ok
                        ));
                    }
                    if !v.redis && n > 0 {
                        run.note(format!(
                            "{name}: Redis ran {n} scripts while the local store was measured"
                        ));
                    }
                    per_call
                }
                Err(e) => {
                    run.note(format!(
                        "{name}: cannot read Redis's command statistics: {e}"
                    ));
                    f64::NAN
                }
            };
            if c == LATENCY_AT {
                v.at1 = Some((m, per_call));
            } else {
                v.at64 = Some((m, per_call));
            }
            pause(run.args.smoke).await;
        }
    }

    // Any store error means some calls fell back to local limits: the
    // numbers would not be Redis's.
    let mut store_errors = Vec::new();
    for v in variants.iter_mut() {
        let errors = match http_get(v.metrics, "/metrics") {
            Ok(text) => match metric(&text, "bedrock_gateway_limit_store_errors_total") {
                Some(n) => Ok(n),
                None => Err("no bedrock_gateway_limit_store_errors_total in /metrics".to_owned()),
            },
            Err(e) => Err(format!("GET /metrics: {e}")),
        };
        match &errors {
            Ok(n) if *n == 0.0 => {}
            Ok(n) => run.note(format!(
                "fleet {}: bedrock_gateway_limit_store_errors_total is {n}: the store failed and calls fell \
                 back to local limits, so this is not a measurement of Redis (log: {})",
                v.label,
                v.gw.log.display()
            )),
            Err(e) => run.note(format!("fleet {}: {e}", v.label)),
        }
        if !v.gw.alive() {
            run.note(format!(
                "fleet {}: the gateway died during the run:\n{}",
                v.label,
                v.gw.log_tail(20)
            ));
        }
        store_errors.push(errors.map_or("?".to_owned(), |n| format!("{n}")));
    }

    write_results(run, &variants, &store_errors, &version);
    for v in variants {
        v.gw.stop().await;
    }
    redis.stop().await;
    Ok(())
}

const TARGET_P50: &str = "Redis limits store: p50 added to a unary call at concurrency 1 (rpm key)";
const TARGET_RPS: &str = "Redis limits store: unary calls/s at concurrency 64 (rpm key)";

fn goal_p50() -> String {
    format!("≤ {} ms over the local store", ms(MAX_ADDED_P50))
}

fn goal_rps() -> String {
    format!(
        "≥ {:.0}% of the local store's",
        MIN_THROUGHPUT_SHARE * 100.0
    )
}

fn write_results(run: &mut Run, variants: &[Variant], store_errors: &[String], version: &str) {
    let (client_cpu, server_cpu) = match run.args.client_pin() {
        Some(c) => (c.to_string(), run.args.server_cpu.to_string()),
        None => ("any".to_owned(), "any".to_owned()),
    };
    let local = &variants[0];
    let (Some((l1, _)), Some((l64, _))) = (&local.at1, &local.at64) else {
        return;
    };
    let mut rows = String::new();
    for (v, errors) in variants.iter().zip(store_errors) {
        let (Some((m1, s1)), Some((m64, s64))) = (&v.at1, &v.at64) else {
            continue;
        };
        let first = v.label == LOCAL;
        let _ = writeln!(
            rows,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.2} · {:.2} | {errors} |",
            v.label,
            ms(m1.q(0.5)),
            ms(m1.q(0.99)),
            if first { "–".to_owned() } else { signed_ms(m1.q(0.5), l1.q(0.5)) },
            if first { "–".to_owned() } else { signed_ms(m1.q(0.99), l1.q(0.99)) },
            m64.rps(),
            if first { "1".to_owned() } else { ratio(m64.rps(), l64.rps()) },
            ms(m64.q(0.99)),
            cpu(m64.cpu.server),
            m64.cpu
                .server
                .filter(|_| m64.rps() > 0.0)
                .map_or("–".to_owned(), |s| format!("{:.1}", s * 1e6 / m64.rps())),
            cpu(Some(m64.cpu.client)),
            cpu(m64.cpu.ours),
            other(m64),
            s1,
            s64,
        );
    }
    let md = &mut run.md;
    let _ = writeln!(md, "{HEADER}");
    let _ = writeln!(
        md,
        "One `redis-server` ({version}) on 127.0.0.1, without persistence (`--save \"\" --appendonly no`), pinned to \
         CPU {client_cpu} beside the load generator, so the gateway's CPU {server_cpu} carries only the gateway's side \
         of the store (its Redis client: the script call's encoding, the round trip's wakeups, the answer's decoding), \
         which is what the gateway adds; Redis's own work shows in the Redis CPU column. Three gateways on \
         `--backend simulated --simulated-token-delay 0ms` (default logging, as in the unary scenario), all up \
         throughout and measured in turn, each with a keys file of one key `{KEY_NAME}` (sent as \
         `authorization: Bearer <key>` on every call): *local*: `--limits-store local`, the key with \
         `requests_per_minute = {REQUESTS_PER_MINUTE}`; *Redis*: `--limits-store redis --redis-url redis://…` \
         (default `--redis-timeout 50ms`; 2 s in a smoke run) under a key prefix of its own, the same key, so every admission runs the admission script on Redis (one round trip; a key without limits \
         never reaches Redis); *Redis, token budget*: the key also has `tokens_per_minute = {TOKENS_PER_MINUTE}` \
         (admission and token reservation in one script, then a settlement script after the call when the usage \
         differs from the reservation), a diagnostic, not judged. No limit is ever reached. The unary scenario's \
         request, connections, warm-up and window, closed loop at concurrency {LATENCY_AT} and {THROUGHPUT_AT}. \
         Redis scripts per call: EVAL/EVALSHA calls in Redis's `INFO commandstats` (reset before each point) over \
         the calls answered (warm-up included), at concurrency {LATENCY_AT} · {THROUGHPUT_AT}: at least 1 proves \
         every call was admitted on Redis. Store errors: the gateway's `bedrock_gateway_limit_store_errors_total` \
         after the run, which must be 0 (an error means calls fell back to local limits). Latencies in ms; CPU \
         columns at concurrency {THROUGHPUT_AT}, where the gateway's core is normally the limit (as in the unary \
         scenario), so its CPU time per call is what each store costs it.\n"
    );
    let _ = writeln!(
        md,
        "| store | c={LATENCY_AT} p50 | c={LATENCY_AT} p99 | added p50 | added p99 | c={THROUGHPUT_AT} calls/s | ratio to local | \
         c={THROUGHPUT_AT} p99 | gateway CPU | gateway CPU per call (µs) | client CPU | Redis CPU | other CPU | Redis scripts per call | store errors |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    md.push_str(&rows);
    md.push('\n');

    let find = |label: &str| variants.iter().find(|v| v.label == label);
    let (Some(redis), Some(tokens)) = (find(REDIS), find(REDIS_TOKENS)) else {
        return;
    };
    let (Some((r1, _)), Some((r64, _))) = (&redis.at1, &redis.at64) else {
        return;
    };
    let added = r1.q(0.5).as_secs_f64() - l1.q(0.5).as_secs_f64();
    let tokens_added = tokens
        .at1
        .as_ref()
        .map(|(m, _)| {
            format!(
                "; token-budget key {} (not judged)",
                signed_ms(m.q(0.5), l1.q(0.5))
            )
        })
        .unwrap_or_default();
    run.targets.push(Target {
        what: TARGET_P50,
        goal: goal_p50(),
        measured: format!(
            "{} (local {} ms, Redis {} ms; p99 {}){tokens_added}",
            signed_ms(r1.q(0.5), l1.q(0.5)),
            ms(l1.q(0.5)),
            ms(r1.q(0.5)),
            signed_ms(r1.q(0.99), l1.q(0.99)),
        ),
        met: Some(added <= MAX_ADDED_P50.as_secs_f64()),
        miss: format!(
            "{:.3} ms over",
            (added - MAX_ADDED_P50.as_secs_f64()) * 1000.0
        ),
    });
    let share = r64.rps() / l64.rps().max(1e-9);
    let tokens_share = tokens
        .at64
        .as_ref()
        .map(|(m, _)| {
            format!(
                "; token-budget key {:.0}% (not judged)",
                100.0 * m.rps() / l64.rps().max(1e-9)
            )
        })
        .unwrap_or_default();
    run.targets.push(Target {
        what: TARGET_RPS,
        goal: goal_rps(),
        measured: format!(
            "{:.0} vs {:.0} calls/s = {:.0}%{tokens_share}",
            r64.rps(),
            l64.rps(),
            share * 100.0
        ),
        met: Some(share >= MIN_THROUGHPUT_SHARE),
        miss: format!(
            "{:.0} calls/s ({:.0} points) short",
            MIN_THROUGHPUT_SHARE * l64.rps() - r64.rps(),
            (MIN_THROUGHPUT_SHARE - share) * 100.0
        ),
    });
}

/// The keys file: one key `bench` with a requests-per-minute limit, and a
/// tokens-per-minute one too if `tokens`.
fn keys_file(dir: &Path, name: &str, tokens: bool) -> Result<PathBuf, String> {
    let mut text = format!(
        "# gateway-bench's fleet scenario: limits no run reaches, set so that\n\
         # every admission goes through the limits store.\n\
         [[keys]]\n\
         name = \"{KEY_NAME}\"\n\
         key = \"{KEY}\"\n\
         requests_per_minute = {REQUESTS_PER_MINUTE}\n"
    );
    if tokens {
        let _ = writeln!(text, "tokens_per_minute = {TOKENS_PER_MINUTE}");
    }
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    // The gateway is started with a relative work dir's path as given; make
    // it absolute so its working directory does not matter.
    std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Starts redis-server on a free loopback port, pinned beside the load
/// generator, and waits until it answers PING. A port found free can be
/// taken before Redis binds it; then Redis exits and another is tried.
fn start_redis(run: &Run, program: &Path) -> Result<ServerProcess, String> {
    let dir = run.work_dir.to_string_lossy().into_owned();
    let mut last = String::new();
    for _ in 0..5 {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free loopback port: {e}"))?;
        let port = addr.port().to_string();
        let args = [
            "--port",
            port.as_str(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.as_str(),
        ];
        match ServerProcess::start(
            Spec {
                name: "redis",
                program,
                args: args.iter().map(|s| s.to_string()).collect(),
                envs: Vec::new(),
                cpu: run.args.client_pin(),
                ready: Some((addr, redis_answers as fn(SocketAddr) -> bool)),
            },
            &run.work_dir,
        ) {
            Ok(redis) => return Ok(redis),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "redis-server did not start on any of 5 free ports: {last}"
    ))
}

fn redis_answers(addr: SocketAddr) -> bool {
    redis_command(addr, &["PING"]).is_ok_and(|r| r == "PONG")
}

/// EVAL, EVALSHA and FCALL calls (and their read-only forms) since the last
/// CONFIG RESETSTAT: the limits store's scripts.
fn script_calls(addr: SocketAddr) -> Result<u64, String> {
    Ok(count_scripts(&redis_command(
        addr,
        &["INFO", "commandstats"],
    )?))
}

/// The script calls in the text of `INFO commandstats`.
fn count_scripts(info: &str) -> u64 {
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            matches!(
                name,
                "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
            )
            .then_some(stats)
        })
        .filter_map(|stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

/// One command to Redis over a new connection (RESP), its reply as text:
/// a simple string, an integer or a bulk string; an error reply is Err.
fn redis_command(addr: SocketAddr, args: &[&str]) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        let _ = write!(out, "${}\r\n{a}\r\n", a.len());
    }
    stream
        .write_all(out.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Bounded: every read waits at most IO_TIMEOUT, and a reply past 1 MB is refused.
    while buf.len() < 1 << 20 {
        if let Some(reply) = parse_reply(&buf)? {
            return Ok(reply);
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("Redis closed the connection before answering".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Err("Redis's reply is over 1 MB".into())
}

/// A whole RESP reply in `buf`, or None while it is incomplete.
fn parse_reply(buf: &[u8]) -> Result<Option<String>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[1..end]).into_owned();
    match buf.first() {
        Some(b'+') | Some(b':') => Ok(Some(line)),
        Some(b'-') => Err(format!("Redis: {line}")),
        Some(b'$') => {
            let len: usize = line
                .parse()
                .map_err(|_| format!("bad bulk length {line:?}"))?;
            let start = end + 2;
            if buf.len() < start + len + 2 {
                return Ok(None);
            }
            Ok(Some(
                String::from_utf8_lossy(&buf[start..start + len]).into_owned(),
            ))
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

/// GET over HTTP/1.1 (one connection, closed after), the body if 200.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .take(16 << 20)
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {status:?}"));
    }
    Ok(body.to_owned())
}

/// The value of an unlabelled Prometheus sample `name` in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.starts_with(' ')
            .then(|| rest.trim().parse().ok())
            .flatten()
    })
}

/// The gateway's metrics address, from its log line "metrics at ..."
/// (written just after the "listening" line).
async fn wait_metrics_addr(gw: &ServerProcess) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(addr) = gw.logged_addr(procs::metrics_addr) {
            return Ok(addr);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not log its metrics address:\n{}",
                gw.name,
                gw.log_tail(20)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a Redis gateway has connected (its store is down until then,
/// and calls would be admitted locally): `bedrock_gateway_limit_store_fallback 0`.
async fn wait_store_answers(gw: &ServerProcess, metrics: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + CONNECT_WITHIN;
    loop {
        let last = match http_get(metrics, "/metrics") {
            Ok(text) => match metric(&text, "bedrock_gateway_limit_store_fallback") {
                Some(v) if v == 0.0 => return Ok(()),
                Some(v) => format!("bedrock_gateway_limit_store_fallback {v}"),
                None => "no bedrock_gateway_limit_store_fallback in /metrics".to_owned(),
            },
            Err(e) => format!("GET /metrics: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not connect to Redis within {CONNECT_WITHIN:?} ({last}):\n{}",
                gw.name,
                gw.log_tail(20)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_replies_parse_whole_or_not_at_all() {
        assert_eq!(parse_reply(b"+PONG\r\n").unwrap().as_deref(), Some("PONG"));
        assert_eq!(parse_reply(b"+PON").unwrap(), None);
        assert_eq!(parse_reply(b"$5\r\nhel").unwrap(), None);
        assert_eq!(
            parse_reply(b"$5\r\nhello\r\n").unwrap().as_deref(),
            Some("hello")
        );
        assert!(parse_reply(b"-ERR unknown\r\n").is_err());
    }

    #[test]
    fn script_calls_are_summed_from_commandstats() {
        let info = "# Commandstats\r\n\
                    cmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_eval:calls=2,usec=30,usec_per_call=15.00\r\n\
                    cmdstat_ping:calls=40,usec=10\r\n";
        assert_eq!(count_scripts(info), 122);
    }

    #[test]
    fn unlabelled_samples_are_found_by_exact_name() {
        let text = "# TYPE bedrock_gateway_limit_store_errors counter\n\
                    bedrock_gateway_limit_store_errors_total 3\n\
                    bedrock_gateway_limit_store_fallback 0\n";
        assert_eq!(
            metric(text, "bedrock_gateway_limit_store_errors_total"),
            Some(3.0)
        );
        assert_eq!(
            metric(text, "bedrock_gateway_limit_store_fallback"),
            Some(0.0)
        );
        assert_eq!(metric(text, "bedrock_gateway_limit_store"), None);
    }
}
