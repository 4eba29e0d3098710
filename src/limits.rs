//! Admission: the concurrency limit and per-key rate limits.
//!
//! - Concurrency: a counter of generations in flight, so a call past the
//!   limit fails at once with RESOURCE_EXHAUSTED instead of queueing without
//!   bound (the TGI habit). A stream holds its permit for its whole life.
//!   Since nobody waits for a permit, a plain atomic counter does the job
//!   without taking a lock: a semaphore would also keep a queue of waiters,
//!   behind a mutex that every release takes.
//! - Rates: one GCRA token bucket per key for requests per minute and one for
//!   tokens per minute. GCRA keeps a bucket in a single atomic timestamp
//!   (the "theoretical arrival time"), so admission takes no lock. Requests
//!   are charged on admission. Tokens are reserved on admission, as the
//!   request's counted input plus its most output (the caller counts them,
//!   see `grpc`), so one large request cannot overshoot the budget; after
//!   the call the reservation is settled against the usage Bedrock reported
//!   (the difference charged or given back). A request that alone needs more
//!   than a minute's budget can never fit and is refused as such. Other
//!   refusals carry RetryInfo saying when the bucket allows again.
//!
//! All limits are per replica.

use crate::error::{ErrorKind, GatewayError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MINUTE_NANOS: u64 = 60_000_000_000;

/// A GCRA bucket refilling `per_minute` units per minute, holding at most
/// one minute's worth.
#[derive(Debug)]
struct Bucket {
    /// Nanoseconds of refill per unit.
    interval: u64,
    /// How far the theoretical arrival time may run ahead of now: the
    /// bucket's capacity, in time.
    capacity: u64,
    /// Theoretical arrival time, in nanoseconds since the limiter's origin.
    tat: AtomicU64,
}

impl Bucket {
    fn new(per_minute: u64) -> Self {
        Bucket {
            interval: MINUTE_NANOS / per_minute.max(1),
            capacity: MINUTE_NANOS,
            tat: AtomicU64::new(0),
        }
    }

    /// Takes `cost` units if they fit; otherwise says how long until they do.
    fn try_take(&self, now: u64, cost: u64) -> Result<(), Duration> {
        let add = cost.saturating_mul(self.interval);
        self.tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                let next = tat.max(now).saturating_add(add);
                (next - now <= self.capacity).then_some(next)
            })
            .map(|_| ())
            .map_err(|tat| {
                let next = tat.max(now).saturating_add(add);
                Duration::from_nanos(next - now - self.capacity)
            })
    }

    /// Whether any budget is left; if not, how long until some is.
    fn check(&self, now: u64) -> Result<(), Duration> {
        let tat = self.tat.load(Ordering::Acquire).max(now);
        if tat - now < self.capacity {
            Ok(())
        } else {
            Err(Duration::from_nanos(tat - now - self.capacity + self.interval))
        }
    }

    /// Gives back `units` reserved but not used.
    fn refund(&self, units: u64) {
        let sub = units.saturating_mul(self.interval);
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            Some(tat.saturating_sub(sub))
        });
    }

    /// The most units one take can ever get: a minute's worth.
    fn most(&self) -> u64 {
        self.capacity / self.interval
    }

    /// Charges `cost` units unconditionally (the tokens are already spent).
    fn charge(&self, now: u64, cost: u64) {
        let add = cost.saturating_mul(self.interval);
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            Some(tat.max(now).saturating_add(add))
        });
    }
}

/// One key's buckets.
#[derive(Debug, Default)]
struct KeyBuckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

/// Limits settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitsConfig {
    /// Most generations in flight at once; 0 means no limit.
    pub max_concurrent_generations: usize,
    /// Requests per minute per key; 0 means no limit.
    pub requests_per_minute: u64,
    /// Tokens (input + output) per minute per key; 0 means no limit.
    pub tokens_per_minute: u64,
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
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Concurrency => "concurrency",
            Refusal::Requests => "requests",
            Refusal::Tokens => "tokens",
        }
    }
}

/// The admission controller. Buckets exist for every key known at start
/// (plus the anonymous caller), so the request path only reads the map.
#[derive(Debug)]
pub struct Admission {
    config: LimitsConfig,
    concurrency: Option<Arc<Concurrency>>,
    buckets: HashMap<Arc<str>, KeyBuckets>,
    origin: Instant,
}

/// Proof of admission; hold it for the call's life.
#[derive(Debug)]
pub struct Permit {
    _concurrency: Option<ConcurrencyPermit>,
    /// Whether the key has a token budget, so the call's tokens must be
    /// reserved.
    token_budget: bool,
    /// Tokens reserved, until settled; `None` once settled (or before a
    /// reservation).
    reserved_tokens: Option<u64>,
}

impl Permit {
    /// Whether the call's key has a token budget: the caller must count the
    /// request's tokens and reserve them.
    pub fn has_token_budget(&self) -> bool {
        self.token_budget
    }
}

/// A refusal: RESOURCE_EXHAUSTED with RetryInfo saying when to retry.
fn refuse(why: Refusal, message: String, retry_after: Duration) -> (Refusal, GatewayError) {
    let error = GatewayError::new(ErrorKind::ResourceExhausted, message).with_retry_after(retry_after);
    (why, error)
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
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1))
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

impl Admission {
    /// Limits for the given key names.
    pub fn new<'a>(config: LimitsConfig, keys: impl IntoIterator<Item = &'a Arc<str>>) -> Self {
        let make = || KeyBuckets {
            requests: (config.requests_per_minute > 0).then(|| Bucket::new(config.requests_per_minute)),
            tokens: (config.tokens_per_minute > 0).then(|| Bucket::new(config.tokens_per_minute)),
        };
        let mut buckets: HashMap<Arc<str>, KeyBuckets> =
            keys.into_iter().map(|k| (k.clone(), make())).collect();
        buckets.insert(Arc::from(crate::auth::ANONYMOUS), make());
        Admission {
            config,
            concurrency: (config.max_concurrent_generations > 0).then(|| {
                Arc::new(Concurrency {
                    limit: config.max_concurrent_generations,
                    in_flight: AtomicUsize::new(0),
                })
            }),
            buckets,
            origin: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Generations in flight now.
    pub fn in_flight(&self) -> usize {
        self.concurrency
            .as_ref()
            .map_or(0, |c| c.in_flight.load(Ordering::Acquire))
    }

    /// Admits one call for `key`, or refuses it: a concurrency place (fail
    /// fast), a quick refusal when the key's token budget is already spent
    /// (before anyone spends effort counting the request's tokens), and one
    /// unit of its requests per minute. When the key has a token budget,
    /// the permit says so (`Permit::has_token_budget`) and the caller then
    /// reserves the request's tokens with [`Admission::reserve_tokens`].
    pub fn admit(&self, key: &str) -> Result<Permit, (Refusal, GatewayError)> {
        let concurrency = match &self.concurrency {
            None => None,
            Some(c) => Some(c.try_acquire().ok_or_else(|| {
                refuse(
                    Refusal::Concurrency,
                    format!(
                        "the gateway is at its limit of {} concurrent generations \
                         (--max-concurrent-generations); retry shortly",
                        self.config.max_concurrent_generations
                    ),
                    Duration::from_millis(100),
                )
            })?),
        };
        let mut token_budget = false;
        if let Some(b) = self.buckets.get(key) {
            let now = self.now();
            // Tokens first: a refused call must not spend request budget.
            if let Some(tokens) = &b.tokens {
                tokens.check(now).map_err(|wait| {
                    refuse(
                        Refusal::Tokens,
                        format!(
                            "key `{key}` has used its {} tokens per minute \
                             (--rate-limit-tokens-per-minute); retry in {:.1} s",
                            self.config.tokens_per_minute,
                            wait.as_secs_f64()
                        ),
                        wait,
                    )
                })?;
                token_budget = true;
            }
            if let Some(requests) = &b.requests {
                requests.try_take(now, 1).map_err(|wait| {
                    refuse(
                        Refusal::Requests,
                        format!(
                            "key `{key}` is over its {} requests per minute \
                             (--rate-limit-requests-per-minute); retry in {:.1} s",
                            self.config.requests_per_minute,
                            wait.as_secs_f64()
                        ),
                        wait,
                    )
                })?;
            }
        }
        Ok(Permit {
            _concurrency: concurrency,
            token_budget,
            reserved_tokens: None,
        })
    }

    /// Reserves `tokens` (the request's counted input plus its most output)
    /// against `key`'s token budget for the call `permit` admitted, or
    /// refuses it, giving back the request unit `admit` took. A request that
    /// needs more than a whole minute's budget can never be admitted and is
    /// refused as such, without a retry hint.
    pub fn reserve_tokens(
        &self,
        key: &str,
        permit: &mut Permit,
        tokens: u32,
    ) -> Result<(), (Refusal, GatewayError)> {
        let Some(b) = self.buckets.get(key) else {
            return Ok(());
        };
        let Some(bucket) = &b.tokens else {
            return Ok(());
        };
        let tokens = u64::from(tokens);
        let refused = if tokens > bucket.most() {
            let error = GatewayError::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "this request alone needs {tokens} tokens (its counted input plus its most \
                     output), more than key `{key}`'s whole budget of {} tokens per minute \
                     (--rate-limit-tokens-per-minute), so it can never be admitted; lower \
                     parameters.max_tokens or send less input",
                    self.config.tokens_per_minute
                ),
            );
            Some((Refusal::Tokens, error))
        } else {
            bucket.try_take(self.now(), tokens).err().map(|wait| {
                refuse(
                    Refusal::Tokens,
                    format!(
                        "key `{key}` has {} tokens per minute (--rate-limit-tokens-per-minute) and \
                         this request needs {tokens} (its counted input plus its most output); \
                         retry in {:.1} s",
                        self.config.tokens_per_minute,
                        wait.as_secs_f64()
                    ),
                    wait,
                )
            })
        };
        match refused {
            Some(refusal) => {
                if let Some(requests) = &b.requests {
                    requests.refund(1);
                }
                Err(refusal)
            }
            None => {
                permit.reserved_tokens = Some(tokens);
                Ok(())
            }
        }
    }

    /// Settles the tokens `permit` reserved for `key` against the `used`
    /// tokens the call reported: the excess is charged, the rest given back.
    /// Settling twice charges nothing more.
    pub fn settle_tokens(&self, key: &str, permit: &mut Permit, used: u32) {
        let Some(reserved) = permit.reserved_tokens.take() else {
            return;
        };
        if let Some(bucket) = self.buckets.get(key).and_then(|b| b.tokens.as_ref()) {
            let used = u64::from(used);
            if used > reserved {
                bucket.charge(self.now(), used - reserved);
            } else {
                bucket.refund(reserved - used);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_bucket_allows_a_minutes_worth_then_refills() {
        let b = Bucket::new(60); // one per second, burst of 60
        for _ in 0..60 {
            b.try_take(0, 1).unwrap();
        }
        let wait = b.try_take(0, 1).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // A second later, exactly one more fits.
        b.try_take(SEC, 1).unwrap();
        assert!(b.try_take(SEC, 1).is_err());
    }

    #[test]
    fn token_budgets_refuse_only_once_spent() {
        let b = Bucket::new(1000);
        assert!(b.check(0).is_ok());
        b.charge(0, 999);
        assert!(b.check(0).is_ok(), "one token of budget left");
        b.charge(0, 500); // overspent by a large answer
        let wait = b.check(0).unwrap_err();
        // 500 tokens over plus one to have budget again, at 60 ms per token.
        assert_eq!(wait, Duration::from_millis(60 * 500));
        assert!(b.check(wait.as_nanos() as u64).is_ok());
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
        let p1 = a.admit("anonymous").unwrap();
        let _p2 = a.admit("anonymous").unwrap();
        let (why, err) = a.admit("anonymous").unwrap_err();
        assert_eq!(why, Refusal::Concurrency);
        assert_eq!(err.kind(), ErrorKind::ResourceExhausted);
        assert!(err.message().contains("2 concurrent"));
        assert_eq!(a.in_flight(), 2);
        drop(p1);
        let p3 = a.admit("anonymous").unwrap();
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
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5_000 {
                        if let Ok(permit) = a.admit("anonymous") {
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
    fn admit_with(a: &Admission, key: &str, tokens: u32) -> Result<Permit, (Refusal, GatewayError)> {
        let mut p = a.admit(key)?;
        assert!(p.has_token_budget());
        a.reserve_tokens(key, &mut p, tokens)?;
        Ok(p)
    }

    #[test]
    fn token_reservations_settle_to_the_usage() {
        let names: Vec<Arc<str>> = vec![Arc::from("a")];
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                ..Default::default()
            },
            &names,
        );
        // A reservation holds budget until settled...
        let mut p = admit_with(&a, "a", 900).unwrap();
        let (why, err) = admit_with(&a, "a", 200).unwrap_err();
        assert_eq!(why, Refusal::Tokens);
        assert!(err.message().contains("needs 200"), "{}", err.message());
        assert!(err.retry_after().is_some());
        // ...and settling gives back what was not used.
        a.settle_tokens("a", &mut p, 100);
        let mut q = admit_with(&a, "a", 800).unwrap();
        // Settling twice charges nothing more; using more than reserved
        // charges the excess.
        a.settle_tokens("a", &mut p, 100);
        a.settle_tokens("a", &mut q, 850);
        assert!(admit_with(&a, "a", 100).is_err(), "950 of 1000 spent");
        assert!(admit_with(&a, "a", 40).is_ok());
    }

    #[test]
    fn a_request_bigger_than_the_whole_budget_is_refused_as_such() {
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                ..Default::default()
            },
            [],
        );
        let (why, err) = admit_with(&a, "anonymous", 1001).unwrap_err();
        assert_eq!(why, Refusal::Tokens);
        assert!(err.message().contains("alone needs 1001 tokens"), "{}", err.message());
        assert_eq!(err.retry_after(), None, "waiting cannot help");
        admit_with(&a, "anonymous", 1000).unwrap();
    }

    #[test]
    fn a_token_refusal_gives_the_request_unit_back() {
        let a = Admission::new(
            LimitsConfig {
                tokens_per_minute: 1000,
                requests_per_minute: 1,
                ..Default::default()
            },
            [],
        );
        assert!(admit_with(&a, "anonymous", 2000).is_err());
        // The refused call spent no request budget: the one request of the
        // minute is still there.
        admit_with(&a, "anonymous", 10).unwrap();
        let (why, _) = a.admit("anonymous").unwrap_err();
        assert_eq!(why, Refusal::Requests);
    }

    #[test]
    fn keys_without_a_token_budget_reserve_nothing() {
        let a = Admission::new(LimitsConfig::default(), []);
        let mut p = a.admit("anonymous").unwrap();
        assert!(!p.has_token_budget());
        a.reserve_tokens("anonymous", &mut p, u32::MAX).unwrap();
        a.settle_tokens("anonymous", &mut p, 5);
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let names: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
        let a = Admission::new(
            LimitsConfig {
                requests_per_minute: 1,
                ..Default::default()
            },
            &names,
        );
        a.admit("a").unwrap();
        let (why, err) = a.admit("a").unwrap_err();
        assert_eq!(why, Refusal::Requests);
        assert!(err.message().contains("key `a`"));
        a.admit("b").unwrap();
    }
}
