//! A GCRA bucket in one atomic: the per-replica form of a per-minute limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A minute, in nanoseconds: every bucket holds at most a minute's worth.
pub(super) const MINUTE_NANOS: u64 = 60_000_000_000;

/// A GCRA bucket refilling `per_minute` units per minute, holding at most
/// one minute's worth.
#[derive(Debug)]
pub(super) struct Bucket {
    /// Nanoseconds of refill per unit.
    interval: u64,
    /// How far the theoretical arrival time may run ahead of now: the
    /// bucket's capacity, in time.
    capacity: u64,
    /// Theoretical arrival time, in nanoseconds since the limiter's origin.
    tat: AtomicU64,
}

impl Bucket {
    pub(super) fn new(per_minute: u64) -> Self {
        Bucket {
            interval: MINUTE_NANOS / per_minute.max(1),
            capacity: MINUTE_NANOS,
            tat: AtomicU64::new(0),
        }
    }

    /// A bucket for `per_minute` that carries over `old`'s debt (a reload
    /// that changes a key's limit does not hand it a fresh minute).
    pub(super) fn carried_over(per_minute: u64, old: Option<&Bucket>) -> Self {
        let bucket = Bucket::new(per_minute);
        if let Some(old) = old {
            bucket
                .tat
                .store(old.tat.load(Ordering::Acquire), Ordering::Release);
        }
        bucket
    }

    /// Takes `cost` units if they fit; otherwise says how long until they do.
    pub(super) fn try_take(&self, now: u64, cost: u64) -> Result<(), Duration> {
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
    pub(super) fn check(&self, now: u64) -> Result<(), Duration> {
        let tat = self.tat.load(Ordering::Acquire).max(now);
        if tat - now < self.capacity {
            Ok(())
        } else {
            Err(Duration::from_nanos(
                tat - now - self.capacity + self.interval,
            ))
        }
    }

    /// Gives back `units` reserved but not used.
    pub(super) fn refund(&self, units: u64) {
        let sub = units.saturating_mul(self.interval);
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.saturating_sub(sub))
            });
    }

    /// Units that could be taken now.
    pub(super) fn available(&self, now: u64) -> u64 {
        let tat = self.tat.load(Ordering::Acquire).max(now);
        (self.capacity - (tat - now).min(self.capacity)) / self.interval
    }

    /// Charges `cost` units unconditionally (the tokens are already spent).
    pub(super) fn charge(&self, now: u64, cost: u64) {
        let add = cost.saturating_mul(self.interval);
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.max(now).saturating_add(add))
            });
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
        assert_eq!(b.available(0), 0);
        let wait = b.try_take(0, 1).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // A second later, exactly one more fits.
        b.try_take(SEC, 1).unwrap();
        assert!(b.try_take(SEC, 1).is_err());
        assert_eq!(b.available(10 * SEC), 9);
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

    #[test]
    fn a_changed_limit_keeps_the_debt() {
        let old = Bucket::new(60);
        for _ in 0..60 {
            old.try_take(0, 1).unwrap();
        }
        let new = Bucket::carried_over(120, Some(&old));
        assert!(new.try_take(0, 1).is_err(), "the spent minute stays spent");
        assert!(Bucket::carried_over(120, None).try_take(0, 1).is_ok());
    }
}
