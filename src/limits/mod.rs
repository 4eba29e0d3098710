//! Admission: the concurrency limit and per-key limits.
//!
//! - Concurrency: a counter of generations in flight, so a call past the
//!   limit fails at once with RESOURCE_EXHAUSTED instead of queueing without
//!   bound (the TGI habit). A stream holds its permit for its whole life.
//!   Since nobody waits for a permit, a plain atomic counter does the job
//!   without taking a lock. Concurrency is a replica's own resource: it is
//!   never shared.
//! - Per key: requests per minute, tokens per minute, and token budgets per
//!   UTC day and month, from the key's policy (`auth::KeyPolicy`), or the
//!   server's flags for what the policy leaves unset. Requests are charged
//!   on admission. Tokens are reserved on admission, as the request's
//!   counted input plus its most output (the caller counts them, see
//!   `grpc`), so one large request cannot overshoot a budget; after the
//!   call the reservation is settled against the usage Bedrock reported
//!   (the difference charged or given back). A request that alone needs
//!   more than a whole budget can never fit and is refused as such. Other
//!   refusals carry RetryInfo saying when the limit allows again.
//! - Where the per-key limits live: in this replica (`local`: lock-free
//!   GCRA buckets and period counters) or in Redis (`redis`: the same
//!   limits for the whole fleet, one round trip per admission; see
//!   `redis`). While Redis is not answering, each replica enforces its
//!   share of every limit locally, or refuses (fail-closed).

mod bucket;
mod local;
pub mod period;
mod redis;

pub use self::redis::RedisConfig;

use self::local::{KeyState, LocalLimits, Reading};
use self::period::Period;
use self::redis::RedisStore;
use crate::auth::{ApiKeys, KeyPolicy};
use crate::error::{ErrorKind, GatewayError};
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The server's limit flags: concurrency, and the per-key limits of keys
/// whose policy sets none.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitsConfig {
    /// Most generations in flight at once; 0 means no limit.
    pub max_concurrent_generations: usize,
    /// Requests per minute per key; 0 means no limit.
    pub requests_per_minute: u64,
    /// Tokens (input + output) per minute per key; 0 means no limit.
    pub tokens_per_minute: u64,
}

/// Where per-key limits are kept (`--limits-store`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// In each replica's memory.
    #[default]
    Local,
    /// In Redis, shared by the fleet.
    Redis(RedisConfig),
}

/// A key's limits in force; 0 means none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effective {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Tokens per minute.
    pub tokens_per_minute: u64,
    /// Tokens per UTC day.
    pub tokens_per_day: u64,
    /// Tokens per UTC month.
    pub tokens_per_month: u64,
}

impl Effective {
    /// The key's own limits, else the flags'.
    fn of(policy: &KeyPolicy, flags: &LimitsConfig) -> Self {
        let own = &policy.limits;
        Effective {
            requests_per_minute: own.requests_per_minute.unwrap_or(flags.requests_per_minute),
            tokens_per_minute: own.tokens_per_minute.unwrap_or(flags.tokens_per_minute),
            tokens_per_day: own.tokens_per_day.unwrap_or(0),
            tokens_per_month: own.tokens_per_month.unwrap_or(0),
        }
    }

    /// One replica's share of each limit among `replicas` (rounded up, so a
    /// limit never falls to "none").
    fn share(self, replicas: u64) -> Self {
        let part = |limit: u64| {
            if limit == 0 {
                0
            } else {
                limit.div_ceil(replicas.max(1))
            }
        };
        Effective {
            requests_per_minute: part(self.requests_per_minute),
            tokens_per_minute: part(self.tokens_per_minute),
            tokens_per_day: part(self.tokens_per_day),
            tokens_per_month: part(self.tokens_per_month),
        }
    }

    /// Whether calls must reserve tokens.
    fn has_token_budget(&self) -> bool {
        self.tokens_per_minute > 0 || self.tokens_per_day > 0 || self.tokens_per_month > 0
    }

    fn is_none(&self) -> bool {
        *self == Effective::default()
    }
}

/// What a refusal was for, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many generations in flight.
    Concurrency,
    /// Over the key's requests per minute.
    Requests,
    /// Over the key's tokens per minute.
    Tokens,
    /// The key's token budget for the day is spent.
    DayBudget,
    /// The key's token budget for the month is spent.
    MonthBudget,
    /// The shared limits store is not answering and the gateway fails closed.
    Store,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Concurrency => "concurrency",
            Refusal::Requests => "requests",
            Refusal::Tokens => "tokens",
            Refusal::DayBudget => "tokens_per_day",
            Refusal::MonthBudget => "tokens_per_month",
            Refusal::Store => "limits_store",
        }
    }
}

/// A store's refusal, before it is worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Denied {
    why: Refusal,
    /// When the limit allows again.
    wait: Option<Duration>,
    /// Tokens used in the period (budget refusals).
    used: u64,
}

/// Where a call's limits were taken, so it is settled there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Local,
    Redis,
}

/// Proof of admission; hold it for the call's life.
#[derive(Debug)]
pub struct Permit {
    _concurrency: Option<ConcurrencyPermit>,
    place: Place,
    /// The limits the call was admitted under.
    limits: Effective,
    /// Whether the key has a token budget, so the call's tokens must be
    /// reserved.
    token_budget: bool,
    /// Redis admission waits for the token reservation, so that both take
    /// one round trip.
    pending: bool,
    /// Tokens reserved, until settled.
    reserved: u64,
    settled: bool,
    /// The key's local state, found once at admission (local store and
    /// fallback).
    state: Option<Arc<KeyState>>,
    /// When the tokens were reserved: the call is settled in that day and
    /// month.
    reserved_at: Option<SystemTime>,
}

impl Permit {
    /// Whether the call's key has a token budget: the caller must count the
    /// request's tokens and reserve them.
    pub fn has_token_budget(&self) -> bool {
        self.token_budget
    }
}

/// Generations in flight, against the limit.
#[derive(Debug)]
struct Concurrency {
    limit: usize,
    in_flight: AtomicUsize,
}

impl Concurrency {
    /// One more generation, unless `limit` are already in flight.
    fn try_acquire(self: &Arc<Self>) -> Option<ConcurrencyPermit> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| ConcurrencyPermit(self.clone()))
    }
}

/// One generation's place under the limit, given back on drop.
#[derive(Debug)]
struct ConcurrencyPermit(Arc<Concurrency>);

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A key's use of its limits, for the admin service.
#[derive(Debug, Clone)]
pub struct KeyUsage {
    /// Where the figures come from: `local`, `redis`, or `local (fallback)`
    /// while Redis is not answering.
    pub store: &'static str,
    /// The limits in force (0: none).
    pub limits: Effective,
    /// Requests that could be made now.
    pub requests_available: u64,
    /// Tokens that could be reserved now under the per-minute limit.
    pub tokens_available: u64,
    /// Today's budget (UTC).
    pub day: BudgetUsage,
    /// This month's budget (UTC).
    pub month: BudgetUsage,
}

/// A period's spend.
#[derive(Debug, Clone, Copy)]
pub struct BudgetUsage {
    /// Tokens used (reservations of calls in flight included).
    pub used: u64,
    /// The budget (0: none).
    pub limit: u64,
    /// When the period began.
    pub start: SystemTime,
    /// When the next begins.
    pub end: SystemTime,
}

/// The admission controller.
#[derive(Debug)]
pub struct Admission {
    flags: LimitsConfig,
    concurrency: Option<Arc<Concurrency>>,
    /// The limits with the `local` store; the fallback shares with `redis`.
    local: Arc<LocalLimits>,
    redis: Option<Arc<RedisStore>>,
}

/// The policies of `keys`, plus the anonymous caller's.
fn policies_of<'a>(keys: impl IntoIterator<Item = &'a Arc<KeyPolicy>>) -> Vec<Arc<KeyPolicy>> {
    let mut policies: Vec<Arc<KeyPolicy>> = keys.into_iter().cloned().collect();
    policies.push(Arc::new(KeyPolicy::open(Arc::from(crate::auth::ANONYMOUS))));
    policies
}

impl Admission {
    /// Limits kept in this replica, for the given keys' policies (and the
    /// anonymous caller).
    pub fn new<'a>(
        flags: LimitsConfig,
        keys: impl IntoIterator<Item = &'a Arc<KeyPolicy>>,
    ) -> Self {
        Admission {
            flags,
            concurrency: (flags.max_concurrent_generations > 0).then(|| {
                Arc::new(Concurrency {
                    limit: flags.max_concurrent_generations,
                    in_flight: AtomicUsize::new(0),
                })
            }),
            local: Arc::new(LocalLimits::new(flags, 1, policies_of(keys))),
            redis: None,
        }
    }

    /// Limits kept in `store`. With Redis, call [`Admission::maintain`] to
    /// connect and keep the store's health and the fleet's size known.
    pub fn with_store<'a>(
        flags: LimitsConfig,
        store: &StoreConfig,
        keys: impl IntoIterator<Item = &'a Arc<KeyPolicy>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let mut admission = Admission::new(flags, keys);
        if let StoreConfig::Redis(config) = store {
            let share = config.fleet_size_hint.unwrap_or(1);
            admission.local.set_share(share);
            admission.redis = Some(Arc::new(RedisStore::new(
                config.clone(),
                metrics,
                admission.local.clone(),
            )?));
        }
        Ok(admission)
    }

    /// Keeps the Redis connection, its health and the fleet size up to date
    /// until `stop` turns true (nothing to do with the local store).
    pub async fn maintain(&self, stop: tokio::sync::watch::Receiver<bool>) {
        let Some(redis) = &self.redis else {
            return;
        };
        let local = self.local.clone();
        let hinted = redis.config().fleet_size_hint.is_some();
        redis.clone().maintain(local, hinted, stop).await;
    }

    /// Puts reloaded keys' policies in force (before the keys themselves,
    /// so no call of a new key finds no limits).
    pub fn apply(&self, keys: &ApiKeys) {
        self.local.apply(policies_of(keys.policies()));
    }

    /// Generations in flight now.
    pub fn in_flight(&self) -> usize {
        self.concurrency
            .as_ref()
            .map_or(0, |c| c.in_flight.load(Ordering::Acquire))
    }

    /// Admits one call of the key with `policy`, or refuses it: a
    /// concurrency place (fail fast), a quick refusal when the key's token
    /// budget is already spent (before anyone spends effort counting the
    /// request's tokens), and one unit of its requests per minute. When the
    /// key has a token budget, the permit says so
    /// (`Permit::has_token_budget`) and the caller then reserves the
    /// request's tokens with [`Admission::reserve_tokens`]. With Redis, a
    /// key with a token budget is admitted by that reservation, in the same
    /// round trip.
    pub async fn admit(&self, policy: &KeyPolicy) -> Result<Permit, (Refusal, GatewayError)> {
        let concurrency = match &self.concurrency {
            None => None,
            Some(c) => Some(c.try_acquire().ok_or_else(|| {
                let error = GatewayError::new(
                    ErrorKind::ResourceExhausted,
                    format!(
                        "the gateway is at its limit of {} concurrent generations \
                         (--max-concurrent-generations); retry shortly",
                        self.flags.max_concurrent_generations
                    ),
                )
                .with_retry_after(Duration::from_millis(100));
                (Refusal::Concurrency, error)
            })?),
        };
        let mut permit = Permit {
            _concurrency: concurrency,
            place: Place::Local,
            limits: Effective::default(),
            token_budget: false,
            pending: false,
            reserved: 0,
            settled: false,
            state: None,
            reserved_at: None,
        };
        if let Some(redis) = self.redis.as_ref().filter(|r| !r.is_down()) {
            let limits = Effective::of(policy, &self.flags);
            permit.limits = limits;
            permit.token_budget = limits.has_token_budget();
            permit.place = Place::Redis;
            if limits.is_none() {
                return Ok(permit);
            }
            if permit.token_budget {
                permit.pending = true;
                return Ok(permit);
            }
            match redis
                .admit(&policy.name, limits, 0, self.local.share())
                .await
            {
                Ok(Ok(())) => return Ok(permit),
                Ok(Err(denied)) => return Err(self.refusal(policy, denied, None, 1)),
                Err(self::redis::StoreDown) => self.store_down(policy)?,
            }
        }
        self.admit_locally(policy, &mut permit)?;
        Ok(permit)
    }

    /// Fails closed when configured to; otherwise lets the caller go on
    /// locally.
    fn store_down(&self, policy: &KeyPolicy) -> Result<(), (Refusal, GatewayError)> {
        match &self.redis {
            Some(redis) if redis.config().fail_closed => {
                let error = GatewayError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the limits store (redis at {}) is not answering and the gateway fails closed \
                         (--limits-store-fail-closed), so key `{}` cannot be admitted; retry shortly",
                        redis.shown_url(),
                        policy.name
                    ),
                )
                .with_retry_after(Duration::from_millis(500));
                Err((Refusal::Store, error))
            }
            _ => Ok(()),
        }
    }

    fn admit_locally(
        &self,
        policy: &KeyPolicy,
        permit: &mut Permit,
    ) -> Result<(), (Refusal, GatewayError)> {
        permit.place = Place::Local;
        permit.pending = false;
        if self.redis.is_some() {
            self.store_down(policy)?;
        }
        let Some(state) = self.local.state(&policy.name) else {
            permit.limits = Effective::default();
            permit.token_budget = false;
            return Ok(());
        };
        permit.limits = state.limits;
        permit.token_budget = state.limits.has_token_budget();
        self.local
            .admit(&state)
            .map_err(|denied| self.refusal(policy, denied, None, self.local.share()))?;
        permit.state = Some(state);
        Ok(())
    }

    /// Reserves `tokens` (the request's counted input plus its most output)
    /// against the key's token budgets for the call `permit` admitted, or
    /// refuses it, giving back the request unit `admit` took. A request that
    /// needs more than a whole budget can never be admitted and is refused
    /// as such, without a retry hint.
    pub async fn reserve_tokens(
        &self,
        policy: &KeyPolicy,
        permit: &mut Permit,
        tokens: u32,
    ) -> Result<(), (Refusal, GatewayError)> {
        if !permit.token_budget {
            return Ok(());
        }
        let tokens = u64::from(tokens);
        if permit.pending {
            let redis = self
                .redis
                .as_ref()
                .expect("pending permits come from the Redis store");
            if let Some(refusal) = self.too_big(policy, permit.limits, tokens, 1) {
                return Err(refusal);
            }
            match redis
                .admit(&policy.name, permit.limits, tokens, self.local.share())
                .await
            {
                Ok(Ok(())) => {
                    permit.pending = false;
                    permit.reserved = tokens;
                    permit.reserved_at = Some(SystemTime::now());
                    return Ok(());
                }
                Ok(Err(denied)) => return Err(self.refusal(policy, denied, Some(tokens), 1)),
                Err(self::redis::StoreDown) => self.admit_locally(policy, permit)?,
            }
            if !permit.token_budget {
                return Ok(());
            }
        }
        let share = self.local.share();
        let Some(state) = &permit.state else {
            return Ok(());
        };
        if let Some(refusal) = self.too_big(policy, state.limits, tokens, share) {
            self.local.give_back_request(state);
            return Err(refusal);
        }
        self.local
            .reserve(state, tokens)
            .map_err(|denied| self.refusal(policy, denied, Some(tokens), share))?;
        permit.reserved = tokens;
        permit.reserved_at = Some(SystemTime::now());
        Ok(())
    }

    /// Settles the call against the `used` tokens it reported: the excess
    /// over its reservation is charged, the rest given back (and a call
    /// without a reservation is charged what it used, so every key's spend
    /// is known). Settling twice charges nothing more.
    pub fn settle_tokens(&self, policy: &KeyPolicy, permit: &mut Permit, used: u32) {
        if std::mem::replace(&mut permit.settled, true) || permit.pending {
            return;
        }
        let delta = i64::from(used) - i64::try_from(permit.reserved).unwrap_or(i64::MAX);
        if delta == 0 {
            return;
        }
        match (permit.place, &self.redis) {
            // Spend without a budget is only shown: sent once a second.
            (Place::Redis, Some(_)) if !permit.token_budget => {
                if let Some(state) = self.local.state(&policy.name).filter(|s| s.counts_spend) {
                    self.local.defer_spend(&state, delta);
                }
            }
            (Place::Redis, Some(redis)) => redis.settle(
                &policy.name,
                permit.limits,
                delta,
                permit.reserved_at.unwrap_or_else(SystemTime::now),
                self.local.share(),
            ),
            _ => {
                let Some(admitted) = permit.state.as_ref().filter(|s| s.counts_spend || permit.token_budget) else {
                    return;
                };
                // The key's state now: a reload since admission that changed
                // its limits replaced it, carrying the reservation over.
                let current = self.local.state(&policy.name);
                let state = current.as_ref().unwrap_or(admitted);
                let reserved_at = permit.reserved_at.unwrap_or_else(SystemTime::now);
                self.local.settle(state, delta, reserved_at);
            }
        }
    }

    /// A refusal for a request bigger than a whole budget, if it is.
    fn too_big(
        &self,
        policy: &KeyPolicy,
        limits: Effective,
        tokens: u64,
        share: u64,
    ) -> Option<(Refusal, GatewayError)> {
        let (why, limit, per) = [
            (Refusal::Tokens, limits.tokens_per_minute, "per minute"),
            (Refusal::DayBudget, limits.tokens_per_day, "per day"),
            (Refusal::MonthBudget, limits.tokens_per_month, "per month"),
        ]
        .into_iter()
        .find(|&(_, limit, _)| limit > 0 && tokens > limit)?;
        let error = GatewayError::new(
            ErrorKind::ResourceExhausted,
            format!(
                "this request alone needs {tokens} tokens (its counted input plus its most \
                 output), more than key `{}`'s whole budget of {limit} tokens {per} ({}), so it \
                 can never be admitted; lower parameters.max_tokens or send less input",
                policy.name,
                self.source(policy, why)
            ),
        );
        Some((why, with_share(error, share)))
    }

    /// Where a limit of `policy` comes from, for messages.
    fn source(&self, policy: &KeyPolicy, why: Refusal) -> &'static str {
        let own = &policy.limits;
        match why {
            Refusal::Requests if own.requests_per_minute.is_some() => {
                "requests_per_minute in the keys file"
            }
            Refusal::Requests => "--rate-limit-requests-per-minute",
            Refusal::Tokens if own.tokens_per_minute.is_some() => {
                "tokens_per_minute in the keys file"
            }
            Refusal::Tokens => "--rate-limit-tokens-per-minute",
            Refusal::DayBudget => "tokens_per_day in the keys file",
            Refusal::MonthBudget => "tokens_per_month in the keys file",
            Refusal::Concurrency => "--max-concurrent-generations",
            Refusal::Store => "--limits-store-fail-closed",
        }
    }

    /// Words a store's refusal for the caller.
    fn refusal(
        &self,
        policy: &KeyPolicy,
        denied: Denied,
        tokens: Option<u64>,
        share: u64,
    ) -> (Refusal, GatewayError) {
        let key = &policy.name;
        let source = self.source(policy, denied.why);
        let limits = Effective::of(policy, &self.flags).share(share);
        let wait = denied.wait.unwrap_or_default();
        let needs = tokens.map_or(String::new(), |n| {
            format!(" and this request needs {n} (its counted input plus its most output)")
        });
        let message = match denied.why {
            Refusal::Requests => format!(
                "key `{key}` is over its {} requests per minute ({source}); retry in {:.1} s",
                limits.requests_per_minute,
                wait.as_secs_f64()
            ),
            Refusal::Tokens if tokens.is_some() => format!(
                "key `{key}` has {} tokens per minute ({source}){needs}; retry in {:.1} s",
                limits.tokens_per_minute,
                wait.as_secs_f64()
            ),
            Refusal::Tokens => format!(
                "key `{key}` has used its {} tokens per minute ({source}); retry in {:.1} s",
                limits.tokens_per_minute,
                wait.as_secs_f64()
            ),
            Refusal::DayBudget | Refusal::MonthBudget => {
                let period = if denied.why == Refusal::DayBudget {
                    Period::Day
                } else {
                    Period::Month
                };
                let limit = if period == Period::Day {
                    limits.tokens_per_day
                } else {
                    limits.tokens_per_month
                };
                let renews = period::rfc3339(period.at(SystemTime::now()).end);
                format!(
                    "key `{key}` has used {} of its {limit} tokens {} ({source}){needs}; the budget \
                     renews at {renews}",
                    denied.used,
                    period.words()
                )
            }
            Refusal::Concurrency | Refusal::Store => format!("key `{key}` was refused ({source})"),
        };
        let error = GatewayError::new(ErrorKind::ResourceExhausted, message);
        let error = match denied.wait {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        };
        (denied.why, with_share(error, share))
    }

    /// What the key with `policy` has used and has left.
    pub async fn usage(&self, policy: &KeyPolicy) -> KeyUsage {
        let wall = SystemTime::now();
        let (day, month) = (Period::Day.at(wall), Period::Month.at(wall));
        let full = Effective::of(policy, &self.flags);
        let (store, limits, reading) = match &self.redis {
            Some(redis) if !redis.is_down() => match redis.read(&policy.name, full).await {
                Ok(reading) => ("redis", full, reading),
                Err(_) => self.local_reading(policy, "local (fallback)"),
            },
            Some(_) => self.local_reading(policy, "local (fallback)"),
            None => self.local_reading(policy, "local"),
        };
        KeyUsage {
            store,
            limits,
            requests_available: reading.requests_available,
            tokens_available: reading.tokens_available,
            day: BudgetUsage {
                used: reading.day_used,
                limit: limits.tokens_per_day,
                start: day.start,
                end: day.end,
            },
            month: BudgetUsage {
                used: reading.month_used,
                limit: limits.tokens_per_month,
                start: month.start,
                end: month.end,
            },
        }
    }

    fn local_reading(
        &self,
        policy: &KeyPolicy,
        store: &'static str,
    ) -> (&'static str, Effective, Reading) {
        match self.local.state(&policy.name) {
            Some(state) => (store, state.limits, self.local.read(&state)),
            None => (
                store,
                self.local.limits_of(&policy.name),
                Reading::default(),
            ),
        }
    }
}

/// Says, on a refusal made on a replica's share, why the limit is smaller.
fn with_share(error: GatewayError, share: u64) -> GatewayError {
    if share > 1 {
        error.with_context(&format!(
            "the limits store is not answering, so this replica enforces its share (1/{share}) \
             of the key's limits"
        ))
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyLimits;

    fn key(name: &str, limits: KeyLimits) -> Arc<KeyPolicy> {
        let mut p = KeyPolicy::open(Arc::from(name));
        p.limits = limits;
        Arc::new(p)
    }

    fn anonymous() -> KeyPolicy {
        KeyPolicy::open(Arc::from(crate::auth::ANONYMOUS))
    }

    #[tokio::test]
    async fn concurrency_fails_fast_and_permits_return_on_drop() {
        let a = Admission::new(
            LimitsConfig {
                max_concurrent_generations: 2,
                ..Default::default()
            },
            [],
        );
        let anon = anonymous();
        let p1 = a.admit(&anon).await.unwrap();
        let _p2 = a.admit(&anon).await.unwrap();
        let (why, err) = a.admit(&anon).await.unwrap_err();
        assert_eq!(why, Refusal::Concurrency);
        assert_eq!(err.kind(), ErrorKind::ResourceExhausted);
        assert!(err.message().contains("2 concurrent"));
        assert_eq!(a.in_flight(), 2);
        drop(p1);
        let p3 = a.admit(&anon).await.unwrap();
        drop((p3, _p2));
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn racing_admissions_never_pass_the_limit() {
        let a = Arc::new(Admission::new(
            LimitsConfig {
                max_concurrent_generations: 3,
                ..Default::default()
            },
            [],
        ));
        let admitted = AtomicUsize::new(0);
        let anon = anonymous();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5_000 {
                        if let Ok(permit) = futures::executor::block_on(a.admit(&anon)) {
                            assert!(a.in_flight() <= 3, "{} in flight", a.in_flight());
                            admitted.fetch_add(1, Ordering::Relaxed);
                            drop(permit);
                        }
                    }
                });
            }
        });
        assert!(admitted.load(Ordering::Relaxed) > 0);
        assert_eq!(a.in_flight(), 0, "every permit came back");
    }

    /// Admits a call for `key` and reserves `tokens` for it.
    async fn admit_with(
        a: &Admission,
        key: &KeyPolicy,
        tokens: u32,
    ) -> Result<Permit, (Refusal, GatewayError)> {
        let mut p = a.admit(key).await?;
        assert!(p.has_token_budget());
        a.reserve_tokens(key, &mut p, tokens).await?;
        Ok(p)
    }

    #[tokio::test]
    async fn token_reservations_settle_to_the_usage() {
        let k = key("a", KeyLimits::default());
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                ..Default::default()
            },
            [&k],
        );
        // A reservation holds budget until settled...
        let mut p = admit_with(&a, &k, 900).await.unwrap();
        let (why, err) = admit_with(&a, &k, 200).await.unwrap_err();
        assert_eq!(why, Refusal::Tokens);
        assert!(err.message().contains("needs 200"), "{}", err.message());
        assert!(
            err.message().contains("--rate-limit-tokens-per-minute"),
            "{}",
            err.message()
        );
        assert!(err.retry_after().is_some());
        // ...and settling gives back what was not used.
        a.settle_tokens(&k, &mut p, 100);
        let mut q = admit_with(&a, &k, 800).await.unwrap();
        // Settling twice charges nothing more; using more than reserved
        // charges the excess.
        a.settle_tokens(&k, &mut p, 100);
        a.settle_tokens(&k, &mut q, 850);
        assert!(admit_with(&a, &k, 100).await.is_err(), "950 of 1000 spent");
        assert!(admit_with(&a, &k, 40).await.is_ok());
    }

    #[tokio::test]
    async fn a_request_bigger_than_the_whole_budget_is_refused_as_such() {
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                ..Default::default()
            },
            [],
        );
        let anon = anonymous();
        let (why, err) = admit_with(&a, &anon, 1001).await.unwrap_err();
        assert_eq!(why, Refusal::Tokens);
        assert!(
            err.message().contains("alone needs 1001 tokens"),
            "{}",
            err.message()
        );
        assert_eq!(err.retry_after(), None, "waiting cannot help");
        admit_with(&a, &anon, 1000).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_refusal_gives_the_request_unit_back() {
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                requests_per_minute: 1,
                ..Default::default()
            },
            [],
        );
        let anon = anonymous();
        assert!(admit_with(&a, &anon, 2000).await.is_err());
        // The refused call spent no request budget: the one request of the
        // minute is still there.
        admit_with(&a, &anon, 10).await.unwrap();
        let (why, _) = a.admit(&anon).await.unwrap_err();
        assert_eq!(why, Refusal::Requests);
    }

    #[tokio::test]
    async fn keys_without_a_token_budget_reserve_nothing_but_their_spend_is_counted() {
        let k = key("a", KeyLimits::default());
        let a = Admission::new(LimitsConfig::default(), [&k]);
        let mut p = a.admit(&k).await.unwrap();
        assert!(!p.has_token_budget());
        a.reserve_tokens(&k, &mut p, u32::MAX).await.unwrap();
        a.settle_tokens(&k, &mut p, 5);
        let usage = a.usage(&k).await;
        assert_eq!((usage.day.used, usage.month.used, usage.day.limit), (5, 5, 0));
        assert_eq!(usage.store, "local");
        // The anonymous caller's spend is nobody's to read: not counted.
        let anon = anonymous();
        let mut p = a.admit(&anon).await.unwrap();
        a.settle_tokens(&anon, &mut p, 5);
        assert_eq!(a.usage(&anon).await.day.used, 0);
    }


    #[tokio::test]
    async fn keys_have_their_own_limits_over_the_flags() {
        let a_key = key("a", KeyLimits::default());
        let b_key = key(
            "b",
            KeyLimits {
                requests_per_minute: Some(2),
                ..Default::default()
            },
        );
        let a = Admission::new(
            LimitsConfig {
                requests_per_minute: 1,
                ..Default::default()
            },
            [&a_key, &b_key],
        );
        a.admit(&a_key).await.unwrap();
        let (why, err) = a.admit(&a_key).await.unwrap_err();
        assert_eq!(why, Refusal::Requests);
        assert!(err.message().contains("key `a`"));
        assert!(
            err.message().contains("--rate-limit-requests-per-minute"),
            "{}",
            err.message()
        );
        a.admit(&b_key).await.unwrap();
        a.admit(&b_key).await.unwrap();
        let (_, err) = a.admit(&b_key).await.unwrap_err();
        assert!(
            err.message()
                .contains("2 requests per minute (requests_per_minute in the keys file)"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn daily_budgets_reserve_settle_and_refuse_until_the_next_utc_day() {
        let k = key(
            "a",
            KeyLimits {
                tokens_per_day: Some(1000),
                ..Default::default()
            },
        );
        let a = Admission::new(LimitsConfig::default(), [&k]);
        let mut p = admit_with(&a, &k, 600).await.unwrap();
        let (why, err) = admit_with(&a, &k, 500).await.unwrap_err();
        assert_eq!(why, Refusal::DayBudget);
        assert!(
            err.message()
                .contains("has used 600 of its 1000 tokens today (UTC)"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("tokens_per_day in the keys file"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("renews at"), "{}", err.message());
        let wait = err.retry_after().unwrap();
        assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
        a.settle_tokens(&k, &mut p, 1000);
        let (why, _) = a.admit(&k).await.unwrap_err();
        assert_eq!(why, Refusal::DayBudget, "spent: refused before counting");
        let usage = a.usage(&k).await;
        assert_eq!((usage.day.used, usage.day.limit), (1000, 1000));
        let fresh = Admission::new(LimitsConfig::default(), [&k]);
        let (why, err) = admit_with(&fresh, &k, 1001).await.unwrap_err();
        assert_eq!(why, Refusal::DayBudget);
        assert_eq!(err.retry_after(), None, "waiting cannot help");
        assert!(
            err.message().contains("alone needs 1001"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn reloads_keep_what_keys_have_used() {
        let k = key(
            "a",
            KeyLimits {
                requests_per_minute: Some(1),
                ..Default::default()
            },
        );
        let a = Admission::new(LimitsConfig::default(), [&k]);
        a.admit(&k).await.unwrap();
        let keys = crate::auth::ApiKeys::from_toml(
            "[[keys]]\nname = \"a\"\nkey = \"0123456789abcdef0123\"\nrequests_per_minute = 1\n\
             [[keys]]\nname = \"b\"\nkey = \"fedcba9876543210fedc\"\nrequests_per_minute = 1\n",
            "t",
        )
        .unwrap();
        a.apply(&keys);
        assert!(
            a.admit(&k).await.is_err(),
            "a's minute stays spent across the reload"
        );
        let b = keys.policy("b").unwrap();
        a.admit(b).await.unwrap();
        assert!(a.admit(b).await.is_err(), "b, new, has its limit at once");
    }

    #[test]
    fn shares_round_up_and_keep_none_as_none() {
        let e = Effective {
            requests_per_minute: 60,
            tokens_per_minute: 0,
            tokens_per_day: 10,
            tokens_per_month: 1,
        };
        assert_eq!(
            e.share(4),
            Effective {
                requests_per_minute: 15,
                tokens_per_minute: 0,
                tokens_per_day: 3,
                tokens_per_month: 1
            }
        );
    }
}
