//! The load generator: raw HTTP/2 (hyper) gRPC calls with pre-encoded request
//! bodies, over several connections, in one single-threaded tokio runtime
//! pinned to its own CPU.
//!
//! - **Closed loop** ([`closed_loop`]): `concurrency` workers, each sending its
//!   next call as soon as the previous one ends; worker `i` uses connection
//!   `i % connections`. After a warm-up, calls that start and end inside the
//!   measurement window are recorded; RPS is their count over the window.
//! - **Open loop** ([`open_loop`]): calls issued at a fixed rate whatever the
//!   answers do (in batches on the runtime's 1 ms timer), each timed from its
//!   own send; calls issued inside the window are recorded.
//!
//! Every answer is checked (HTTP 200, grpc-status 0, the decoded message's
//! token count), and any failure counts as an error.

use crate::pb::{self, generate_stream_response::Event};
use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use prost::Message;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One HTTP/2 connection's request handle.
pub(crate) type Sender = SendRequest<Full<Bytes>>;

/// No single call may take longer than this (a bound on every loop).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens `n` HTTP/2 connections (TCP_NODELAY) to `addr`.
pub(crate) async fn connect(addr: SocketAddr, n: usize) -> Result<Vec<Sender>, String> {
    let mut senders = Vec::with_capacity(n);
    for _ in 0..n {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .initial_stream_window_size(1 << 20)
                .initial_connection_window_size(16 << 20)
                .handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .map_err(|e| format!("HTTP/2 handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        senders.push(sender);
    }
    Ok(senders)
}

/// A message in gRPC's length-prefixed framing (uncompressed).
pub(crate) fn grpc_frame(message: &impl Message) -> Bytes {
    let payload = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(0);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    Bytes::from(frame)
}

/// The gateway's method paths.
pub(crate) const GENERATE: &str = "/bedrock.gateway.v1.TextGenerationService/Generate";
pub(crate) const GENERATE_STREAM: &str = "/bedrock.gateway.v1.TextGenerationService/GenerateStream";

/// What one successful call gave.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallOk {
    /// Time to the first response message (streams).
    pub(crate) first_message: Option<Duration>,
    /// Tokens received (deltas for streams, output tokens for unary).
    pub(crate) tokens: u64,
}

/// Something that makes one call; `worker` picks the connection.
pub(crate) trait Caller {
    fn call(&self, worker: usize) -> impl Future<Output = Result<CallOk, String>>;
}

fn request(addr: SocketAddr, path: &str, body: &Bytes) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(body.clone()))
        .expect("a valid request")
}

/// [`request`] with more metadata (e.g. `authorization`); the values are
/// shared bytes, so each call copies no header text.
fn request_with(
    addr: SocketAddr,
    path: &str,
    body: &Bytes,
    metadata: &http::HeaderMap,
) -> http::Request<Full<Bytes>> {
    let mut req = request(addr, path, body);
    for (name, value) in metadata {
        req.headers_mut().append(name.clone(), value.clone());
    }
    req
}

/// Reads a gRPC answer: calls `on_message` for each message, checks the
/// status. Trailers-only answers (status in the headers) are errors unless 0.
async fn read_answer(
    sender: &mut Sender,
    req: http::Request<Full<Bytes>>,
    mut on_message: impl FnMut(Bytes) -> Result<(), String>,
) -> Result<(), String> {
    futures::future::poll_fn(|cx| sender.poll_ready(cx))
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("HTTP {}", response.status()));
    }
    let status_of = |h: &http::HeaderMap| {
        h.get("grpc-status").map(|v| {
            let msg = h
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .unwrap_or("");
            (v.to_str().unwrap_or("?").to_owned(), msg.to_owned())
        })
    };
    let mut status = status_of(response.headers());
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        match frame.into_data() {
            Ok(data) => {
                buf.extend_from_slice(&data);
                while buf.len() >= 5 {
                    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                    if buf.len() < 5 + len {
                        break;
                    }
                    if buf[0] != 0 {
                        return Err("compressed message".into());
                    }
                    buf.advance(5);
                    on_message(buf.split_to(len).freeze())?;
                }
            }
            Err(frame) => {
                if let Some(trailers) = frame.trailers_ref() {
                    status = status.or(status_of(trailers));
                }
            }
        }
    }
    match status {
        Some((code, _)) if code == "0" => Ok(()),
        Some((code, msg)) => Err(format!("grpc-status {code}: {msg}")),
        None => Err("no grpc-status".into()),
    }
}

/// Unary `Generate` calls with one pre-encoded request.
pub(crate) struct Unary {
    pub(crate) addr: SocketAddr,
    pub(crate) senders: Vec<Sender>,
    pub(crate) body: Bytes,
    /// The output tokens every answer must report.
    pub(crate) expect_tokens: u32,
    /// Metadata sent with every call besides content-type and te.
    pub(crate) metadata: http::HeaderMap,
}

impl Unary {
    pub(crate) fn new(
        addr: SocketAddr,
        senders: Vec<Sender>,
        request: &pb::GenerateRequest,
        expect_tokens: u32,
    ) -> Self {
        Unary {
            addr,
            senders,
            body: grpc_frame(request),
            expect_tokens,
            metadata: http::HeaderMap::new(),
        }
    }

    /// Sends `authorization: Bearer <key>` with every call.
    pub(crate) fn with_api_key(mut self, key: &str) -> Result<Self, String> {
        let value = http::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|e| format!("the API key cannot be a header value: {e}"))?;
        self.metadata.insert(http::header::AUTHORIZATION, value);
        Ok(self)
    }
}

impl Caller for Unary {
    async fn call(&self, worker: usize) -> Result<CallOk, String> {
        let mut sender = self.senders[worker % self.senders.len()].clone();
        let mut tokens = None;
        read_answer(
            &mut sender,
            request_with(self.addr, GENERATE, &self.body, &self.metadata),
            |msg| {
                let r = pb::GenerateResponse::decode(msg).map_err(|e| format!("decode: {e}"))?;
                tokens = Some(r.usage.map_or(0, |u| u.output_tokens));
                Ok(())
            },
        )
        .await?;
        match tokens {
            Some(n) if n == self.expect_tokens => Ok(CallOk {
                first_message: None,
                tokens: n as u64,
            }),
            Some(n) => Err(format!(
                "{n} output tokens, expected {}",
                self.expect_tokens
            )),
            None => Err("no response message".into()),
        }
    }
}

/// Counts streams that have received their first message and not yet ended.
#[derive(Default)]
pub(crate) struct OpenGauge {
    pub(crate) open: Cell<usize>,
    pub(crate) peak: Cell<usize>,
    pub(crate) ever_opened: Cell<usize>,
    pub(crate) finished: Cell<usize>,
    /// When `ever_opened` reached `target`.
    pub(crate) target: Cell<usize>,
    pub(crate) all_opened_at: Cell<Option<Instant>>,
}

/// `GenerateStream` calls with one pre-encoded request.
pub(crate) struct Streaming {
    pub(crate) addr: SocketAddr,
    pub(crate) senders: Vec<Sender>,
    pub(crate) body: Bytes,
    /// The deltas every stream must deliver before its completion.
    pub(crate) expect_deltas: u32,
    pub(crate) gauge: Option<OpenGauge>,
    /// Records the gaps between consecutive deltas, and stalls.
    pub(crate) gaps: Option<DeltaGaps>,
}

impl Streaming {
    pub(crate) fn new(
        addr: SocketAddr,
        senders: Vec<Sender>,
        request: &pb::GenerateStreamRequest,
        expect_deltas: u32,
    ) -> Self {
        Streaming {
            addr,
            senders,
            body: grpc_frame(request),
            expect_deltas,
            gauge: None,
            gaps: None,
        }
    }
}

impl Caller for Streaming {
    async fn call(&self, worker: usize) -> Result<CallOk, String> {
        let mut sender = self.senders[worker % self.senders.len()].clone();
        let started = Instant::now();
        let mut first = None;
        let mut deltas = 0u32;
        let mut completed = false;
        let gauge = self.gauge.as_ref();
        let mut gaps = self.gaps.as_ref().map(|g| g.stream(self.expect_deltas));
        let result = read_answer(
            &mut sender,
            request(self.addr, GENERATE_STREAM, &self.body),
            |msg| {
                if first.is_none() {
                    first = Some(started.elapsed());
                    if let Some(g) = gauge {
                        g.open.set(g.open.get() + 1);
                        g.peak.set(g.peak.get().max(g.open.get()));
                        g.ever_opened.set(g.ever_opened.get() + 1);
                        if g.ever_opened.get() == g.target.get() {
                            g.all_opened_at.set(Some(Instant::now()));
                        }
                    }
                }
                let r =
                    pb::GenerateStreamResponse::decode(msg).map_err(|e| format!("decode: {e}"))?;
                match r.event {
                    Some(Event::Delta(_)) if !completed => {
                        deltas += 1;
                        if let Some(g) = gaps.as_mut() {
                            g.delta();
                        }
                    }
                    Some(Event::Complete(c)) if !completed => {
                        completed = true;
                        let reported = c.usage.map_or(0, |u| u.output_tokens);
                        if reported != deltas {
                            return Err(format!(
                                "completion reports {reported} tokens after {deltas} deltas"
                            ));
                        }
                    }
                    _ => return Err("a message after the completion, or an empty one".into()),
                }
                Ok(())
            },
        )
        .await;
        if let Some(g) = gauge {
            if first.is_some() {
                g.open.set(g.open.get() - 1);
            }
            g.finished.set(g.finished.get() + 1);
        }
        if let (Some(recorder), Some(g)) = (self.gaps.as_ref(), gaps) {
            recorder.finish(started, g);
        }
        result?;
        if !completed {
            return Err(format!(
                "stream ended without a completion after {deltas} deltas"
            ));
        }
        if deltas != self.expect_deltas {
            return Err(format!("{deltas} deltas, expected {}", self.expect_deltas));
        }
        Ok(CallOk {
            first_message: first,
            tokens: deltas as u64,
        })
    }
}

/// Gaps between consecutive deltas of streams (the per-token gap), and
/// stalls: gaps longer than a threshold. Shared by one caller's streams (the
/// load generator is single-threaded, so plain cells do).
pub(crate) struct DeltaGaps {
    /// A gap longer than this is a stall.
    pub(crate) stall_over: Duration,
    /// Only streams that start and end inside this window go into the
    /// histogram (None: every stream); stalls and the worst gap count every stream.
    window: Cell<Option<(Instant, Instant)>>,
    /// Nanoseconds, 4 significant digits: 1 µs resolution up to 33 ms, finer
    /// below (a 20 ms pacing is read to the microsecond).
    histogram: RefCell<Histogram<u64>>,
    /// The histogram's gaps summed, for an exact mean.
    sum: Cell<Duration>,
    /// When each stall began (the delta before it arrived).
    stalls: RefCell<Vec<Instant>>,
    worst: Cell<Duration>,
}

/// One stream's gaps until it ends.
pub(crate) struct StreamGaps {
    last: Option<Instant>,
    gaps: Vec<Duration>,
    stall_over: Duration,
    stalls: Vec<Instant>,
}

impl StreamGaps {
    /// A delta arrived now.
    pub(crate) fn delta(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last {
            let gap = now - last;
            self.gaps.push(gap);
            if gap > self.stall_over {
                self.stalls.push(last);
            }
        }
        self.last = Some(now);
    }
}

impl DeltaGaps {
    pub(crate) fn new(stall_over: Duration) -> Self {
        DeltaGaps {
            stall_over,
            window: Cell::new(None),
            histogram: RefCell::new(
                Histogram::new_with_bounds(1, 60_000_000_000, 4).expect("valid bounds"),
            ),
            sum: Cell::new(Duration::ZERO),
            stalls: RefCell::new(Vec::new()),
            worst: Cell::new(Duration::ZERO),
        }
    }

    /// Starts over, recording only streams that start at or after `from` and
    /// end by `until` (the closed loop's measurement window).
    pub(crate) fn reset(&self, window: Option<(Instant, Instant)>) {
        self.window.set(window);
        self.histogram.borrow_mut().reset();
        self.sum.set(Duration::ZERO);
        self.stalls.borrow_mut().clear();
        self.worst.set(Duration::ZERO);
    }

    /// A new stream of about `deltas` deltas.
    pub(crate) fn stream(&self, deltas: u32) -> StreamGaps {
        StreamGaps {
            last: None,
            gaps: Vec::with_capacity(deltas as usize),
            stall_over: self.stall_over,
            stalls: Vec::new(),
        }
    }

    /// The stream that started at `started` ended (well or not).
    pub(crate) fn finish(&self, started: Instant, stream: StreamGaps) {
        self.stalls.borrow_mut().extend(&stream.stalls);
        if let Some(&longest) = stream.gaps.iter().max() {
            self.worst.set(self.worst.get().max(longest));
        }
        let in_window = self
            .window
            .get()
            .is_none_or(|(from, until)| started >= from && Instant::now() <= until);
        if in_window {
            let mut h = self.histogram.borrow_mut();
            for &gap in &stream.gaps {
                let _ = h.record(gap.as_nanos() as u64);
                self.sum.set(self.sum.get() + gap);
            }
        }
    }

    /// A gap quantile of the recorded streams.
    pub(crate) fn q(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.histogram.borrow().value_at_quantile(quantile))
    }

    /// The mean gap of the recorded streams (exact, not from the histogram).
    pub(crate) fn mean(&self) -> Duration {
        let n = self.histogram.borrow().len();
        if n == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos((self.sum.get().as_nanos() / u128::from(n)) as u64)
        }
    }

    /// Gaps recorded.
    pub(crate) fn count(&self) -> u64 {
        self.histogram.borrow().len()
    }

    /// Gaps over `stall_over`, of every stream.
    pub(crate) fn stalls(&self) -> u64 {
        self.stalls.borrow().len() as u64
    }

    /// Stalls that began at or after `from`.
    pub(crate) fn stalls_from(&self, from: Instant) -> u64 {
        self.stalls.borrow().iter().filter(|&&t| t >= from).count() as u64
    }

    /// The longest gap of every stream.
    pub(crate) fn worst(&self) -> Duration {
        self.worst.get()
    }
}

/// Latencies in nanoseconds, 1 ns to 10 minutes, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid bounds")
}

fn nanos(d: Duration) -> u64 {
    (d.as_nanos() as u64).max(1)
}

/// CPU use of the server and of this process over the window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    /// Server CPU time / wall time (1.0 = one core busy).
    pub(crate) server: Option<f64>,
    /// Load generator CPU time / wall time.
    pub(crate) client: f64,
    /// Everything else on the machine (all CPUs' busy time less the server's
    /// and ours) / wall time: other work that disturbed the measurement.
    pub(crate) other: Option<f64>,
    /// More processes of ours (the fake Bedrock, Redis) / wall time.
    pub(crate) ours: Option<f64>,
}

/// Busy time of all CPUs together, from the first line of /proc/stat.
fn system_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy =
        f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(busy * 1_000_000 / hz))
}

/// Samples CPU counters at the start and end of a window.
pub(crate) struct CpuMeter<'a> {
    server: Option<&'a crate::procs::ServerProcess>,
    /// More processes of ours (the fake Bedrock, Redis): not counted as "other".
    ours: Vec<&'a crate::procs::ServerProcess>,
    ours_start: Duration,
    start: Option<(Instant, Option<Duration>, Duration, Option<Duration>)>,
}

impl<'a> CpuMeter<'a> {
    pub(crate) fn new(server: Option<&'a crate::procs::ServerProcess>) -> Self {
        CpuMeter {
            server,
            ours: Vec::new(),
            ours_start: Duration::ZERO,
            start: None,
        }
    }
    pub(crate) fn also(mut self, ours: Option<&'a crate::procs::ServerProcess>) -> Self {
        self.ours.extend(ours);
        self
    }
    fn ours_cpu(&self) -> Duration {
        self.ours.iter().filter_map(|p| p.cpu_time()).sum()
    }
    pub(crate) fn begin(&mut self) {
        self.ours_start = self.ours_cpu();
        self.start = Some((
            Instant::now(),
            self.server.and_then(|s| s.cpu_time()),
            crate::procs::self_cpu_time(),
            system_busy(),
        ));
    }
    pub(crate) fn end(&self) -> CpuUse {
        let Some((t0, s0, c0, b0)) = self.start else {
            return CpuUse::default();
        };
        let wall = t0.elapsed().as_secs_f64().max(1e-9);
        let server = match (s0, self.server.and_then(|s| s.cpu_time())) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / wall),
            _ => None,
        };
        let client = crate::procs::self_cpu_time()
            .saturating_sub(c0)
            .as_secs_f64()
            / wall;
        let ours = self
            .ours_cpu()
            .saturating_sub(self.ours_start)
            .as_secs_f64()
            / wall;
        let other = match (b0, system_busy()) {
            (Some(a), Some(b)) => Some(
                (b.saturating_sub(a).as_secs_f64() / wall - client - server.unwrap_or(0.0) - ours)
                    .max(0.0),
            ),
            _ => None,
        };
        CpuUse {
            server,
            client,
            other,
            ours: (!self.ours.is_empty()).then_some(ours),
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Calls recorded in the window.
    pub(crate) ok: u64,
    /// Successful calls over the whole run, warm-up included.
    pub(crate) all_ok: u64,
    /// Failed calls over the whole run, warm-up included (open loop: and
    /// calls not issued because too many were outstanding).
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Whole-call latency.
    pub(crate) latency: Histogram<u64>,
    /// Time to the first message (streams).
    pub(crate) first_message: Histogram<u64>,
    /// Tokens received by the recorded calls.
    pub(crate) tokens: u64,
    pub(crate) window: Duration,
    pub(crate) cpu: CpuUse,
    /// Open loop: the target rate.
    pub(crate) offered_rate: Option<f64>,
    /// Measurements made of this point (a disturbed one is made again).
    pub(crate) attempts: u32,
    /// Open loop: calls not issued because too many were outstanding (also
    /// counted in `errors`): the load generator's sign of an overloaded server.
    pub(crate) not_issued: u64,
    /// Open loop: successful calls that ended inside the window, whenever
    /// issued (completions per second = this / window; below the offered
    /// rate when the server falls behind).
    pub(crate) ended_in_window: u64,
    /// Open loop: how late each call of the window was issued after its
    /// scheduled time (the runtime's 1 ms timer makes up to about 1 ms
    /// normal; more means the load generator could not keep the schedule).
    pub(crate) issue_lag: Histogram<u64>,
}

impl Measured {
    /// Nothing measured yet, over a window of `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Measured {
            ok: 0,
            all_ok: 0,
            errors: 0,
            first_error: None,
            latency: histogram(),
            first_message: histogram(),
            tokens: 0,
            window,
            cpu: CpuUse::default(),
            offered_rate: None,
            attempts: 1,
            not_issued: 0,
            ended_in_window: 0,
            issue_lag: histogram(),
        }
    }

    fn record(
        &mut self,
        started: Instant,
        ended: Instant,
        result: &Result<CallOk, String>,
        in_window: bool,
    ) {
        if result.is_ok() {
            self.all_ok += 1;
        }
        match result {
            Ok(ok) if in_window => {
                self.ok += 1;
                self.tokens += ok.tokens;
                let _ = self.latency.record(nanos(ended - started));
                if let Some(f) = ok.first_message {
                    let _ = self.first_message.record(nanos(f));
                }
            }
            Ok(_) => {}
            Err(e) => self.error(e.clone()),
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }

    /// Recorded calls per second.
    pub(crate) fn rps(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// Recorded tokens per second.
    pub(crate) fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.window.as_secs_f64()
    }

    /// A latency quantile, as a Duration.
    pub(crate) fn q(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.latency.value_at_quantile(quantile))
    }

    pub(crate) fn max(&self) -> Duration {
        Duration::from_nanos(self.latency.max())
    }

    /// A time-to-first-message quantile.
    pub(crate) fn first_q(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.first_message.value_at_quantile(quantile))
    }
}

async fn timed<C: Caller>(caller: &C, worker: usize) -> (Instant, Instant, Result<CallOk, String>) {
    let started = Instant::now();
    let result = match tokio::time::timeout(CALL_TIMEOUT, caller.call(worker)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    };
    (started, Instant::now(), result)
}

/// Closed loop: `concurrency` workers for `warmup` + `window`.
pub(crate) async fn closed_loop<C: Caller>(
    caller: &C,
    concurrency: usize,
    warmup: Duration,
    window: Duration,
    server: Option<&crate::procs::ServerProcess>,
    ours: Option<&crate::procs::ServerProcess>,
) -> Measured {
    let t0 = Instant::now() + warmup;
    let t1 = t0 + window;
    let workers = (0..concurrency).map(|w| async move {
        let mut m = Measured::new(window);
        loop {
            if Instant::now() >= t1 {
                break;
            }
            let (s, e, r) = timed(caller, w).await;
            m.record(s, e, &r, s >= t0 && e <= t1);
            if r.is_err() {
                // An error answered at once must not spin the loop.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        m
    });
    let mut meter = CpuMeter::new(server).also(ours);
    let meter_task = async {
        tokio::time::sleep_until(t0.into()).await;
        meter.begin();
        tokio::time::sleep_until(t1.into()).await;
        meter.end()
    };
    let (parts, cpu) = futures::join!(futures::future::join_all(workers), meter_task);
    let mut total = Measured::new(window);
    for p in parts {
        total.ok += p.ok;
        total.all_ok += p.all_ok;
        total.tokens += p.tokens;
        total.errors += p.errors;
        if total.first_error.is_none() {
            total.first_error = p.first_error;
        }
        total.latency.add(&p.latency).expect("same bounds");
        total
            .first_message
            .add(&p.first_message)
            .expect("same bounds");
    }
    total.cpu = cpu;
    total
}

/// Open loop: calls issued at `rate` per second for `warmup` + `window`, at
/// most `max_outstanding` at once (a call past that is not sent and counts as
/// an error). Calls issued in the window are recorded, whenever they end.
/// `ours`, like `closed_loop`'s: a process of the benchmark's own (the fake
/// Bedrock) whose CPU is not counted as other processes'.
pub(crate) async fn open_loop<C: Caller>(
    caller: &C,
    rate: f64,
    warmup: Duration,
    window: Duration,
    max_outstanding: usize,
    server: Option<&crate::procs::ServerProcess>,
    ours: Option<&crate::procs::ServerProcess>,
) -> Measured {
    let start = Instant::now();
    let t0 = start + warmup;
    let t1 = t0 + window;
    let mut m = Measured::new(window);
    m.offered_rate = Some(rate);
    let mut meter = CpuMeter::new(server).also(ours);
    let mut metered = false;
    let mut inflight = FuturesUnordered::new();
    let mut issued: u64 = 0;
    loop {
        let now = Instant::now();
        if !metered && now >= t0 {
            meter.begin();
            metered = true;
        }
        if now >= t1 {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate) as u64;
        while issued < due {
            // Call `issued` was due at (issued + 1) / rate after the start.
            let scheduled = start + Duration::from_secs_f64((issued + 1) as f64 / rate);
            if scheduled >= t0 {
                let _ = m.issue_lag.record(nanos(now.saturating_duration_since(scheduled)));
            }
            if inflight.len() >= max_outstanding {
                m.error(format!("more than {max_outstanding} calls outstanding"));
                m.not_issued += 1;
            } else {
                let worker = issued as usize;
                inflight.push(async move {
                    let (s, e, r) = timed(caller, worker).await;
                    (s, e, r)
                });
            }
            issued += 1;
        }
        let next = start + Duration::from_secs_f64((issued + 1) as f64 / rate);
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            Some((s, e, r)) = inflight.next(), if !inflight.is_empty() => {
                if r.is_ok() && e >= t0 && e < t1 {
                    m.ended_in_window += 1;
                }
                m.record(s, e, &r, s >= t0 && s < t1);
            }
        }
    }
    m.cpu = meter.end();
    let drain_deadline = Instant::now() + CALL_TIMEOUT + Duration::from_secs(1);
    while let Ok(Some((s, e, r))) =
        tokio::time::timeout_at(drain_deadline.into(), inflight.next()).await
    {
        m.record(s, e, &r, s >= t0 && s < t1);
    }
    m
}
