//! The `redis` limits store: every replica enforces the same per-minute
//! buckets and period budgets, kept in Redis (or Valkey).
//!
//! - One round trip per admission: a Lua script checks and takes the
//!   request unit and, for keys with a token budget, the call's token
//!   reservation, atomically, on Redis's own clock (`TIME`), so replicas'
//!   clocks never disagree about a bucket. For keys with a token budget, the
//!   settlement after the call is a second script, sent without waiting for
//!   it; the multiplexed connection pipelines it with other calls' commands.
//! - A key's entries share a hash tag (`{name}`), so each script touches
//!   one slot.
//! - When Redis fails or takes longer than `--redis-timeout`, the store is
//!   marked down: calls are admitted on this replica's share of each limit
//!   (or refused, with `--limits-store-fail-closed`), an error is counted,
//!   a line is logged at most once a minute, and a probe every 200 ms puts
//!   Redis back in charge as soon as it answers.
//! - Calls of keys without a token budget add their spend to a local
//!   counter, sent to Redis once a second (their spend is shown by the
//!   admin service, not enforced, so it need not cost a round trip each).
//! - Each replica writes a heartbeat every 5 s into a sorted set; the count
//!   of live entries is the fleet size that divides limits in fallback,
//!   unless `--fleet-size-hint` says it.

use super::local::LocalLimits;
use super::period::Period;
use super::{Denied, Effective, Refusal};
use crate::metrics::Metrics;
use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How a replica reaches the shared store.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: String,
    /// How long an admission waits for Redis before falling back.
    pub timeout: Duration,
    /// The number of replicas sharing the limits, if known; otherwise the
    /// heartbeats' count.
    pub fleet_size_hint: Option<u64>,
    /// Refuse calls (UNAVAILABLE) instead of falling back when Redis fails.
    pub fail_closed: bool,
    /// Prefix of every Redis key the gateway writes.
    pub key_prefix: String,
    /// PEM certificates to trust for `rediss://` instead of the system's
    /// roots (a private CA).
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Redis Cluster: `url` lists seed nodes, separated by commas.
    pub cluster: bool,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisConfig")
            .field("url", &self.shown_url())
            .field("timeout", &self.timeout)
            .field("fleet_size_hint", &self.fleet_size_hint)
            .field("fail_closed", &self.fail_closed)
            .field("key_prefix", &self.key_prefix)
            .field("ca_cert_pem", &self.ca_cert_pem.as_ref().map(|c| c.len()))
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl RedisConfig {
    /// A configuration for `url` with the defaults of the flags.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            timeout: Duration::from_millis(50),
            fleet_size_hint: None,
            fail_closed: false,
            key_prefix: "bedrock-gateway".into(),
            ca_cert_pem: None,
            cluster: false,
        }
    }

    /// Checks the URL parses, naming it (without its password) if not.
    pub fn check(&self) -> Result<(), String> {
        self.client().map(|_| ())
    }

    /// The client for the URL (and the private CA, if any).
    fn client(&self) -> Result<Client, String> {
        let certificates = |pem: &Vec<u8>| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        };
        let client = if self.cluster {
            let nodes: Vec<&str> = self
                .url
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            let mut builder = redis::cluster::ClusterClient::builder(nodes);
            if let Some(pem) = &self.ca_cert_pem {
                builder = builder.certs(certificates(pem));
            }
            builder.build().map(Client::Cluster)
        } else {
            match &self.ca_cert_pem {
                None => redis::Client::open(self.url.as_str()),
                Some(pem) => redis::Client::build_with_tls(self.url.as_str(), certificates(pem)),
            }
            .map(Client::Single)
        };
        client.map_err(|e| format!("--redis-url {}: {e}", self.shown_url()))
    }

    /// The URL (each node's, for a cluster) without its password, for logs
    /// and messages.
    pub fn shown_url(&self) -> String {
        self.url
            .split(',')
            .map(|url| {
                url_without_password(url.trim()).unwrap_or_else(|| "(unparsable URL)".into())
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn url_without_password(url: &str) -> Option<String> {
    // Parsed as redis-rs parses it (the `url` crate), so the password is
    // where redis-rs finds it; the query (`?pass=` for sockets) and the
    // fragment are dropped whole.
    let mut parsed = url::Url::parse(url).ok()?;
    if parsed.password().is_some() {
        parsed.set_password(Some("***")).ok()?;
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

/// Heartbeats: how often, and how long one counts a replica as live.
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_LIFE: Duration = Duration::from_secs(15);
/// How often a down store is probed.
const PROBE: Duration = Duration::from_millis(200);
/// How often the spend of keys without a token budget is sent.
const FLUSH: Duration = Duration::from_secs(1);
/// Failure lines are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// How long period entries are kept after their period (usage stays
/// readable for a while).
const DAY_KEEP_SECS: u64 = 3 * 86_400;
const MONTH_KEEP_SECS: u64 = 70 * 86_400;

/// Checks, then takes: the request unit and `tokens` (0: check only).
/// KEYS: rpm, tpm, day, month. ARGV: requests per minute (0 none), tokens per
/// minute (0 none), day limit (0 none), month limit (0 none), tokens, day and
/// month entry lifetimes (s). Returns {0} or {refusal, wait µs, used}. A
/// unit's refill time is a fraction of a microsecond for large limits, so it
/// is computed here as a double (exact enough below 2^53 µs).
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap = 60000000
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local rpm_i = rpm > 0 and cap / rpm or 0
local tpm_i = tpm > 0 and cap / tpm or 0
local day, month, tokens = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rnext, tnext
if rpm_i > 0 then
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
  rnext = tat + rpm_i
  if rnext - now > cap then return {1, rnext - now - cap, 0} end
end
if tpm_i > 0 then
  local tat = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), now)
  if tokens == 0 then
    if tat - now >= cap then return {2, tat - now - cap + tpm_i, 0} end
  else
    tnext = tat + tokens * tpm_i
    if tnext - now > cap then return {2, tnext - now - cap, 0} end
  end
end
local function budget(key, limit, code)
  if limit > 0 then
    local used = tonumber(redis.call('GET', key) or '0')
    if used + tokens > limit or (tokens == 0 and used >= limit) then return {code, 0, used} end
  end
  return nil
end
local refused = budget(KEYS[3], day, 3) or budget(KEYS[4], month, 4)
if refused then return refused end
if rnext then
  redis.call('SET', KEYS[1], string.format('%.0f', rnext), 'PX', math.ceil((rnext - now) / 1000) + 1000)
end
if tnext then
  redis.call('SET', KEYS[2], string.format('%.0f', tnext), 'PX', math.ceil((tnext - now) / 1000) + 1000)
end
if tokens > 0 then
  redis.call('INCRBY', KEYS[3], tokens)
  redis.call('EXPIRE', KEYS[3], ARGV[6])
  redis.call('INCRBY', KEYS[4], tokens)
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
return {0, 0, 0}
";

/// Settles a call: charges (or gives back) `delta` tokens.
/// KEYS: tpm, day, month. ARGV: tokens per minute (0 none), delta, day and
/// month entry lifetimes (s).
const SETTLE: &str = r"
local tpm, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
local tpm_i = tpm > 0 and 60000000 / tpm or 0
if delta == 0 then return 0 end
if tpm_i > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  local nt
  if delta > 0 then nt = math.max(tat, now) + delta * tpm_i else nt = tat + delta * tpm_i end
  if nt > now then
    redis.call('SET', KEYS[1], string.format('%.0f', nt), 'PX', math.ceil((nt - now) / 1000) + 1000)
  else
    redis.call('DEL', KEYS[1])
  end
end
for i, key in ipairs({KEYS[2], KEYS[3]}) do
  if redis.call('INCRBY', key, delta) < 0 then redis.call('SET', key, 0) end
  redis.call('EXPIRE', key, ARGV[2 + i])
end
return 0
";

/// Reads a key's state. KEYS: rpm, tpm, day, month.
/// Returns {now µs, rpm tat, tpm tat, day used, month used}.
const READ: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function n(key) return tonumber(redis.call('GET', key) or '0') end
return {now, n(KEYS[1]), n(KEYS[2]), n(KEYS[3]), n(KEYS[4])}
";

/// How the store is reached: one server, or a cluster's seed nodes.
enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

/// A connection to either: both multiplex every call on their
/// connections and reconnect by themselves.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// The store is not answering: fall back (or refuse, fail-closed).
#[derive(Debug, Clone, Copy)]
pub(super) struct StoreDown;

/// A key's entries in Redis for the current periods.
struct Entries {
    rpm: String,
    tpm: String,
    day: String,
    month: String,
}

/// The connection and what is known of the store's health.
pub(super) struct RedisStore {
    config: RedisConfig,
    shown_url: String,
    client: Client,
    connection: ArcSwapOption<Connection>,
    /// Where unsent spend waits (the fallback's states).
    local: Arc<LocalLimits>,
    admit: Script,
    settle: Script,
    read: Script,
    down: AtomicBool,
    /// Seconds since `origin` at the last failure line, plus one (0: none yet).
    logged_at: AtomicU64,
    origin: Instant,
    metrics: Arc<Metrics>,
    replica: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown_url)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}


impl RedisStore {
    /// A store for `config`; the URL is checked now, the connection is made
    /// in the background (a replica starts, and serves on its share, while
    /// Redis is down).
    pub(super) fn new(
        config: RedisConfig,
        metrics: Arc<Metrics>,
        local: Arc<LocalLimits>,
    ) -> Result<Self, String> {
        let shown_url = config.shown_url();
        let client = config.client()?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".into());
        // Down until connected: admission is on the fallback until then.
        metrics.limit_store_fallback(true);
        Ok(RedisStore {
            shown_url,
            client,
            connection: ArcSwapOption::empty(),
            local,
            admit: Script::new(ADMIT),
            settle: Script::new(SETTLE),
            read: Script::new(READ),
            // Down until connected.
            down: AtomicBool::new(true),
            logged_at: AtomicU64::new(0),
            origin: Instant::now(),
            metrics,
            replica: format!("{host}-{:016x}", fastrand::u64(..)),
            config,
        })
    }

    pub(super) fn config(&self) -> &RedisConfig {
        &self.config
    }

    pub(super) fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// Whether admission must do without Redis now.
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn entries(&self, name: &str, wall: SystemTime) -> Entries {
        let base = format!("{}:{{{name}}}", self.config.key_prefix);
        Entries {
            rpm: format!("{base}:rpm"),
            tpm: format!("{base}:tpm"),
            day: format!("{base}:day:{}", Period::Day.at(wall).label),
            month: format!("{base}:month:{}", Period::Month.at(wall).label),
        }
    }

    /// Records a failure: counted, logged at most once a minute, and the
    /// store marked down until a probe gets an answer.
    fn failed(&self, what: &str, error: &dyn std::fmt::Display, share: u64) {
        self.metrics.limit_store_error();
        if !self.down.swap(true, Ordering::AcqRel) {
            self.metrics.limit_store_fallback(true);
        }
        let now = self.origin.elapsed().as_secs() + 1;
        let last = self.logged_at.load(Ordering::Acquire);
        if (last == 0 || now >= last + LOG_EVERY.as_secs())
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let then = if self.config.fail_closed {
                "refusing generations until it answers (--limits-store-fail-closed)".to_string()
            } else {
                format!(
                    "admitting on this replica's share (1/{share}) of each limit until it answers"
                )
            };
            tracing::warn!(
                store = %self.shown_url,
                error = %error,
                "the limits store failed ({what}); {then} (logged at most once a minute)"
            );
        }
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {:?} (--redis-timeout)",
                self.config.timeout
            )),
        }
    }

    /// Admits one call of `name` and takes `tokens` (0: checks only that
    /// the token budgets are not spent), all on Redis.
    pub(super) async fn admit(
        self: &Arc<Self>,
        name: &str,
        limits: Effective,
        tokens: u64,
        share: u64,
    ) -> Result<Result<(), Denied>, StoreDown> {
        let Some(connection) = self.connection.load_full() else {
            return Err(StoreDown);
        };
        let mut connection = (*connection).clone();
        let wall = SystemTime::now();
        let entries = self.entries(name, wall);
        let store = self.clone();
        // Boxed, so that a call that outlives --redis-timeout can be
        // followed up: the script was sent and may still run.
        let mut invocation = Box::pin(async move {
            let mut call = store.admit.prepare_invoke();
            call.key(&entries.rpm)
                .key(&entries.tpm)
                .key(&entries.day)
                .key(&entries.month)
                .arg(limits.requests_per_minute)
                .arg(limits.tokens_per_minute)
                .arg(limits.tokens_per_day)
                .arg(limits.tokens_per_month)
                .arg(tokens)
                .arg(DAY_KEEP_SECS)
                .arg(MONTH_KEEP_SECS);
            call.invoke_async::<Vec<i64>>(&mut connection).await
        });
        let answer = match tokio::time::timeout(self.config.timeout, &mut invocation).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.failed("admission", &e, share);
                return Err(StoreDown);
            }
            Err(_) => {
                let e = format!("no answer within {:?} (--redis-timeout)", self.config.timeout);
                self.failed("admission", &e, share);
                self.give_back_if_taken(invocation, name, limits, tokens, wall, share);
                return Err(StoreDown);
            }
        };
        let at = |i: usize| answer.get(i).copied().unwrap_or(0).max(0) as u64;
        Ok(match answer.first().copied().unwrap_or(0) {
            0 => Ok(()),
            1 => Err(Denied::wait(
                Refusal::Requests,
                Duration::from_micros(at(1)),
            )),
            2 => Err(Denied::wait(Refusal::Tokens, Duration::from_micros(at(1)))),
            3 => Err(Denied::budget(Period::Day, at(2), Period::Day.at(wall))),
            _ => Err(Denied::budget(Period::Month, at(2), Period::Month.at(wall))),
        })
    }

    /// Follows up an admission the caller stopped waiting for (and admits
    /// locally instead): if the script still ran and reserved tokens, they
    /// are given back, so the call is not charged in both places.
    fn give_back_if_taken(
        self: &Arc<Self>,
        invocation: std::pin::Pin<Box<impl std::future::Future<Output = redis::RedisResult<Vec<i64>>> + Send + 'static>>,
        name: &str,
        limits: Effective,
        tokens: u64,
        wall: SystemTime,
        share: u64,
    ) {
        if tokens == 0 {
            return;
        }
        let store = self.clone();
        let name: Arc<str> = Arc::from(name);
        tokio::spawn(async move {
            let late = tokio::time::timeout(Duration::from_secs(10), invocation).await;
            if let Ok(Ok(answer)) = late {
                if answer.first() == Some(&0) {
                    let delta = -i64::try_from(tokens).unwrap_or(i64::MAX);
                    store.settle(&name, limits, delta, wall, share);
                }
            }
        });
    }

    /// Settles a call in the background: `delta` tokens charged (or given
    /// back when negative). The caller does not wait for it.
    pub(super) fn settle(
        self: &Arc<Self>,
        name: &str,
        limits: Effective,
        delta: i64,
        reserved_at: SystemTime,
        share: u64,
    ) {
        if delta == 0 {
            return;
        }
        let Some(connection) = self.connection.load_full() else {
            self.settle_later(name, delta);
            return;
        };
        let entries = self.entries(name, reserved_at);
        let name: Arc<str> = Arc::from(name);
        let store = self.clone();
        tokio::spawn(async move {
            let mut connection = (*connection).clone();
            let mut call = store.settle.prepare_invoke();
            call.key(&entries.tpm)
                .key(&entries.day)
                .key(&entries.month)
                .arg(limits.tokens_per_minute)
                .arg(delta)
                .arg(DAY_KEEP_SECS)
                .arg(MONTH_KEEP_SECS);
            let result: Result<i64, String> =
                store.bounded(call.invoke_async(&mut connection)).await;
            if let Err(e) = result {
                store.failed("settling a call's tokens", &e, share);
                store.settle_later(&name, delta);
            }
        });
    }

    /// Keeps a settlement that could not be sent for the spend flush, so a
    /// call's unused reservation still comes back to its day and month
    /// (its per-minute part is left to expire).
    fn settle_later(&self, name: &str, delta: i64) {
        if let Some(state) = self.local.state(name) {
            self.local.defer_spend(&state, delta);
        }
    }

    /// What `name` has used and has left, read from Redis.
    pub(super) async fn read(
        &self,
        name: &str,
        limits: Effective,
    ) -> Result<super::local::Reading, StoreDown> {
        let Some(connection) = self.connection.load_full() else {
            return Err(StoreDown);
        };
        let mut connection = (*connection).clone();
        let entries = self.entries(name, SystemTime::now());
        let mut call = self.read.prepare_invoke();
        call.key(&entries.rpm)
            .key(&entries.tpm)
            .key(&entries.day)
            .key(&entries.month);
        let v: Vec<i64> = self
            .bounded(call.invoke_async(&mut connection))
            .await
            .map_err(|_| StoreDown)?;
        let at = |i: usize| v.get(i).copied().unwrap_or(0).max(0) as u64;
        let now = at(0);
        let available = |tat: u64, per_minute: u64| {
            let free_us = 60_000_000 - tat.saturating_sub(now).min(60_000_000);
            (u128::from(free_us) * u128::from(per_minute) / 60_000_000) as u64
        };
        Ok(super::local::Reading {
            requests_available: available(at(1), limits.requests_per_minute),
            tokens_available: available(at(2), limits.tokens_per_minute),
            day_used: at(3),
            month_used: at(4),
        })
    }

    /// Keeps the connection, the store's health and the fleet's size up to
    /// date until `stop` turns true, sets `local`'s share of the limits to
    /// the fleet's size (unless `hinted`), and sends the spend `local`
    /// deferred once a second.
    pub(super) async fn maintain(
        self: Arc<Self>,
        local: Arc<LocalLimits>,
        hinted: bool,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut last_heartbeat: Option<Instant> = None;
        let mut last_flush = Instant::now();
        let mut fleet = 0u64;
        loop {
            if self.connection.load().is_none() {
                self.connect().await;
            } else if self.is_down() {
                self.probe().await;
            }
            if !self.is_down() && last_heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                last_heartbeat = Some(Instant::now());
                if let Some(n) = self.heartbeat().await {
                    if n != fleet {
                        fleet = n;
                        self.metrics.fleet_replicas(n);
                        if !hinted {
                            local.set_share(n);
                        }
                    }
                }
            }
            if !self.is_down() && last_flush.elapsed() >= FLUSH {
                last_flush = Instant::now();
                self.flush_spend(&local).await;
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(PROBE) => {}
            }
        }
        if !self.is_down() {
            self.flush_spend(&local).await;
        }
        self.leave().await;
    }

    /// Adds the spend `local` deferred to Redis's period counters, in one
    /// pipeline; what cannot be sent is kept for the next time.
    async fn flush_spend(&self, local: &LocalLimits) {
        let spend = local.take_deferred_spend();
        if spend.is_empty() {
            return;
        }
        let Some(connection) = self.connection.load_full() else {
            local.restore_deferred_spend(spend);
            return;
        };
        let mut connection = (*connection).clone();
        let wall = SystemTime::now();
        // A pipeline per key: a key's entries share a hash tag, so each
        // pipeline goes to one slot of a cluster.
        let mut unsent = Vec::new();
        for (name, delta) in spend {
            if !unsent.is_empty() {
                unsent.push((name, delta));
                continue;
            }
            let entries = self.entries(&name, wall);
            let mut pipe = redis::pipe();
            pipe.incr(&entries.day, delta)
                .ignore()
                .expire(&entries.day, DAY_KEEP_SECS as i64)
                .ignore()
                .incr(&entries.month, delta)
                .ignore()
                .expire(&entries.month, MONTH_KEEP_SECS as i64)
                .ignore();
            if let Err(e) = self.bounded(pipe.query_async::<()>(&mut connection)).await {
                self.failed("adding spend", &e, local.share());
                unsent.push((name, delta));
            }
        }
        if !unsent.is_empty() {
            local.restore_deferred_spend(unsent);
        }
    }

    async fn connect(&self) {
        let connecting = async {
            match &self.client {
                Client::Single(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(self.config.timeout.max(Duration::from_millis(500)))
                        .set_number_of_retries(1);
                    client
                        .get_connection_manager_with_config(config)
                        .await
                        .map(Connection::Single)
                }
                Client::Cluster(client) => {
                    client.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), connecting).await {
            Ok(Ok(connection)) => {
                self.connection.store(Some(Arc::new(connection)));
                self.probe().await;
            }
            Ok(Err(e)) => self.failed("connecting", &e, self.share_hint()),
            Err(_) => self.failed("connecting", &"no connection within 2 s", self.share_hint()),
        }
    }

    fn share_hint(&self) -> u64 {
        self.config.fleet_size_hint.unwrap_or(1)
    }

    /// Writes a short-lived probe key; an answer puts Redis back in charge.
    /// A write, not a PING: a Redis out of memory answers PING but refuses
    /// the scripts' writes, and would flap up and down.
    async fn probe(&self) {
        let Some(connection) = self.connection.load_full() else {
            return;
        };
        let mut connection = (*connection).clone();
        let mut probe = redis::cmd("SET");
        probe
            .arg(format!("{}:probe:{{{}}}", self.config.key_prefix, self.replica))
            .arg(1)
            .arg("PX")
            .arg(1000);
        if self
            .bounded(probe.query_async::<String>(&mut connection))
            .await
            .is_ok()
            && self.down.swap(false, Ordering::AcqRel)
        {
            self.metrics.limit_store_fallback(false);
            tracing::info!(store = %self.shown_url, "the limits store answers; limits are shared again");
        }
    }

    fn replicas_key(&self) -> String {
        format!("{}:replicas", self.config.key_prefix)
    }

    /// Writes this replica's heartbeat and reads how many are live.
    async fn heartbeat(&self) -> Option<u64> {
        let connection = self.connection.load_full()?;
        let mut connection = (*connection).clone();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let key = self.replicas_key();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zadd(&key, &self.replica, now_ms)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms.saturating_sub(HEARTBEAT_LIFE.as_millis() as u64))
            .ignore()
            .zcard(&key)
            .pexpire(&key, HEARTBEAT_LIFE.as_millis() as i64)
            .ignore();
        match self
            .bounded(pipe.query_async::<(u64,)>(&mut connection))
            .await
        {
            Ok((n,)) => Some(n.max(1)),
            Err(e) => {
                self.failed("heartbeat", &e, self.share_hint());
                None
            }
        }
    }

    /// Takes this replica out of the fleet's count, on shutdown.
    async fn leave(&self) {
        if let Some(connection) = self.connection.load_full() {
            let mut connection = (*connection).clone();
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(self.replicas_key()).arg(&self.replica);
            let _ = self.bounded(zrem.query_async::<i64>(&mut connection)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        let c = RedisConfig::new("rediss://gateway:s3cret@redis.example:6380/0");
        assert_eq!(c.shown_url(), "rediss://gateway:***@redis.example:6380/0");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            RedisConfig::new("redis://127.0.0.1:6379").shown_url(),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            RedisConfig::new("redis://:pw@h:1").shown_url(),
            "redis://:***@h:1"
        );
        assert_eq!(RedisConfig::new("redis://:p@ss@h:1").shown_url(), "redis://:***@h:1");
        assert_eq!(
            RedisConfig::new("redis+unix:///run/redis.sock?db=1&pass=s3cret").shown_url(),
            "redis+unix:///run/redis.sock"
        );
    }
}
