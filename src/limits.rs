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
//!   are charged on admission; tokens are charged from the response's usage,
//!   and a key already over its token budget is refused before Bedrock is
//!   called. Refusals carry RetryInfo saying when the bucket allows again.
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

    /// Admits one generation for `key`, or refuses it.
    pub fn admit(&self, key: &str) -> Result<Permit, (Refusal, GatewayError)> {
        // Every refusal is RESOURCE_EXHAUSTED with RetryInfo.
        let refuse = |why: Refusal, message: String, retry_after: Duration| {
            let error = GatewayError::new(ErrorKind::ResourceExhausted, message)
                .with_retry_after(retry_after);
            (why, error)
        };
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
        })
    }

    /// Charges tokens a call used against `key`'s token budget.
    pub fn charge_tokens(&self, key: &str, tokens: u32) {
        if let Some(bucket) = self.buckets.get(key).and_then(|b| b.tokens.as_ref()) {
            bucket.charge(self.now(), u64::from(tokens));
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
