//! Limits kept in this replica's memory: the `local` store, and the share
//! of each limit a replica enforces while the shared store is not
//! answering. Every key's state is a handful of atomics, found by name in a
//! map that is replaced whole (never locked) when the keys are reloaded.

use super::bucket::Bucket;
use super::period::{Period, Span};
use super::{Denied, Effective, LimitsConfig, Refusal};
use crate::auth::KeyPolicy;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Bits of a period counter holding the tokens used; the rest hold the
/// period's index.
const USED_BITS: u32 = 44;
const USED_MASK: u64 = (1 << USED_BITS) - 1;

/// Tokens used in the current period, with the period, in one atomic: a
/// counter of an older period reads as zero.
#[derive(Debug, Default)]
struct PeriodCounter(AtomicU64);

impl PeriodCounter {
    fn used(&self, index: u64) -> u64 {
        let packed = self.0.load(Ordering::Acquire);
        if packed >> USED_BITS == index {
            packed & USED_MASK
        } else {
            0
        }
    }

    /// Adds `delta` (negative: gives back) in period `index`, never going
    /// below zero; with `limit` > 0, refuses (saying what is used) when the
    /// result would pass it.
    fn add(&self, index: u64, delta: i64, limit: u64) -> Result<(), u64> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                let used = if packed >> USED_BITS == index {
                    packed & USED_MASK
                } else {
                    0
                };
                let next = used.saturating_add_signed(delta).min(USED_MASK);
                (limit == 0 || delta <= 0 || next <= limit).then_some(index << USED_BITS | next)
            })
            .map(|_| ())
            .map_err(|packed| {
                if packed >> USED_BITS == index {
                    packed & USED_MASK
                } else {
                    0
                }
            })
    }

    fn carried_over(old: Option<&PeriodCounter>) -> Self {
        PeriodCounter(AtomicU64::new(
            old.map_or(0, |o| o.0.load(Ordering::Acquire)),
        ))
    }
}

/// One key's limits and what it has used.
#[derive(Debug)]
pub(super) struct KeyState {
    /// The limits enforced here (a share of the key's own while the shared
    /// store is down).
    pub(super) limits: Effective,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    day: PeriodCounter,
    month: PeriodCounter,
    /// With Redis: the spend of calls without a token budget, not yet
    /// added to Redis's counters (sent once a second, not per call).
    unflushed: AtomicI64,
    /// Whether spend without a budget is counted at all: not for the
    /// anonymous caller, whose usage nobody can ask for (the admin service
    /// needs keys), so calls with authentication off count nothing.
    pub(super) counts_spend: bool,
}

impl KeyState {
    fn new(limits: Effective, old: Option<&KeyState>, counts_spend: bool) -> Self {
        let bucket = |per_minute: u64, old: Option<&Bucket>| {
            (per_minute > 0).then(|| Bucket::carried_over(per_minute, old))
        };
        KeyState {
            limits,
            requests: bucket(
                limits.requests_per_minute,
                old.and_then(|o| o.requests.as_ref()),
            ),
            tokens: bucket(
                limits.tokens_per_minute,
                old.and_then(|o| o.tokens.as_ref()),
            ),
            day: PeriodCounter::carried_over(old.map(|o| &o.day)),
            month: PeriodCounter::carried_over(old.map(|o| &o.month)),
            unflushed: AtomicI64::new(old.map_or(0, |o| o.unflushed.swap(0, Ordering::AcqRel))),
            counts_spend,
        }
    }
}

/// What a key has used and has left, read from one store.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Reading {
    pub(super) requests_available: u64,
    pub(super) tokens_available: u64,
    pub(super) day_used: u64,
    pub(super) month_used: u64,
}

/// The per-replica limits.
#[derive(Debug)]
pub(super) struct LocalLimits {
    flags: LimitsConfig,
    origin: Instant,
    /// Each limit is divided by this: 1, or the fleet's size while the
    /// shared store is down.
    share: AtomicU64,
    policies: ArcSwap<Vec<Arc<KeyPolicy>>>,
    keys: ArcSwap<HashMap<Arc<str>, Arc<KeyState>>>,
    applying: std::sync::Mutex<()>,
}

impl LocalLimits {
    pub(super) fn new(flags: LimitsConfig, share: u64, policies: Vec<Arc<KeyPolicy>>) -> Self {
        let limits = LocalLimits {
            flags,
            origin: Instant::now(),
            share: AtomicU64::new(share.max(1)),
            policies: ArcSwap::from_pointee(Vec::new()),
            keys: ArcSwap::from_pointee(HashMap::new()),
            applying: std::sync::Mutex::new(()),
        };
        limits.apply(policies);
        limits
    }

    /// Puts `policies` in force, keeping what unchanged keys have used.
    pub(super) fn apply(&self, policies: Vec<Arc<KeyPolicy>>) {
        // A reload and a new fleet size may come together: one at a time,
        // so neither undoes the other (never on a call's path).
        let _one_at_a_time = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        let share = self.share.load(Ordering::Acquire);
        let old = self.keys.load();
        let keys = policies
            .iter()
            .map(|p| {
                let limits = Effective::of(p, &self.flags).share(share);
                let previous = old.get(&p.name);
                let state = match previous {
                    Some(s) if s.limits == limits => s.clone(),
                    _ => Arc::new(KeyState::new(
                        limits,
                        previous.map(|s| &**s),
                        &*p.name != crate::auth::ANONYMOUS,
                    )),
                };
                (p.name.clone(), state)
            })
            .collect();
        self.keys.store(Arc::new(keys));
        self.policies.store(Arc::new(policies));
    }

    /// Divides every limit by `share` from now on.
    pub(super) fn set_share(&self, share: u64) {
        if self.share.swap(share.max(1), Ordering::AcqRel) != share.max(1) {
            self.apply(self.policies.load_full().to_vec());
        }
    }

    pub(super) fn share(&self) -> u64 {
        self.share.load(Ordering::Acquire)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The state of `name`, if the key has one.
    pub(super) fn state(&self, name: &str) -> Option<Arc<KeyState>> {
        self.keys.load().get(name).cloned()
    }

    /// Whether `name` has any limit here.
    pub(super) fn limits_of(&self, name: &str) -> Effective {
        self.keys
            .load()
            .get(name)
            .map_or_else(Effective::default, |s| s.limits)
    }

    /// Admits one call: refuses when the token budgets are already spent,
    /// then takes a unit of the request rate.
    pub(super) fn admit(&self, state: &KeyState) -> Result<(), Denied> {
        let now = self.now();
        if let Some(tokens) = &state.tokens {
            tokens
                .check(now)
                .map_err(|wait| Denied::wait(Refusal::Tokens, wait))?;
        }
        self.check_budgets(state, 0)?;
        if let Some(requests) = &state.requests {
            requests
                .try_take(now, 1)
                .map_err(|wait| Denied::wait(Refusal::Requests, wait))?;
        }
        Ok(())
    }

    /// Refuses when a budget has no room for `tokens` more (with 0: when it
    /// is spent).
    fn check_budgets(&self, state: &KeyState, tokens: u64) -> Result<(), Denied> {
        if state.limits.tokens_per_day == 0 && state.limits.tokens_per_month == 0 {
            return Ok(());
        }
        let wall = SystemTime::now();
        for (period, counter, limit) in [
            (Period::Day, &state.day, state.limits.tokens_per_day),
            (Period::Month, &state.month, state.limits.tokens_per_month),
        ] {
            if limit == 0 {
                continue;
            }
            let span = period.at(wall);
            let used = counter.used(span.index);
            if used.saturating_add(tokens) > limit || (tokens == 0 && used >= limit) {
                return Err(Denied::budget(period, used, span));
            }
        }
        Ok(())
    }

    /// Reserves `tokens` against the key's per-minute and period budgets,
    /// all or nothing; a refusal gives back the request unit `admit` took.
    pub(super) fn reserve(&self, state: &KeyState, tokens: u64) -> Result<(), Denied> {
        let result = self.take_tokens(state, tokens);
        if result.is_err() {
            self.give_back_request(state);
        }
        result
    }

    /// Gives back the request unit `admit` took, for a call refused later.
    pub(super) fn give_back_request(&self, state: &KeyState) {
        if let Some(requests) = &state.requests {
            requests.refund(1);
        }
    }

    fn take_tokens(&self, state: &KeyState, tokens: u64) -> Result<(), Denied> {
        let now = self.now();
        if let Some(bucket) = &state.tokens {
            bucket
                .try_take(now, tokens)
                .map_err(|wait| Denied::wait(Refusal::Tokens, wait))?;
        }
        let give_back_minute = || {
            if let Some(bucket) = &state.tokens {
                bucket.refund(tokens);
            }
        };
        let wall = SystemTime::now();
        let day = Period::Day.at(wall);
        let month = Period::Month.at(wall);
        let delta = i64::try_from(tokens).unwrap_or(i64::MAX);
        if let Err(used) = state.day.add(day.index, delta, state.limits.tokens_per_day) {
            give_back_minute();
            return Err(Denied::budget(Period::Day, used, day));
        }
        if let Err(used) = state
            .month
            .add(month.index, delta, state.limits.tokens_per_month)
        {
            give_back_minute();
            let _ = state.day.add(day.index, -delta, 0);
            return Err(Denied::budget(Period::Month, used, month));
        }
        Ok(())
    }

    /// Settles a call: `delta` is what it used minus what it reserved (all
    /// it used, without a reservation).
    pub(super) fn settle(&self, state: &KeyState, delta: i64, reserved_at: SystemTime) {
        if delta == 0 {
            return;
        }
        if let Some(bucket) = &state.tokens {
            if delta > 0 {
                bucket.charge(self.now(), delta.unsigned_abs());
            } else {
                bucket.refund(delta.unsigned_abs());
            }
        }
        // In the period of the reservation, which a call settled just after
        // midnight belongs to.
        let _ = state.day.add(Period::Day.at(reserved_at).index, delta, 0);
        let _ = state.month.add(Period::Month.at(reserved_at).index, delta, 0);
    }

    /// Notes spend to send to the shared store later (calls without a token
    /// budget: their spend is shown, not enforced).
    pub(super) fn defer_spend(&self, state: &KeyState, delta: i64) {
        state.unflushed.fetch_add(delta, Ordering::AcqRel);
    }

    /// Takes every key's spend not yet sent.
    pub(super) fn take_deferred_spend(&self) -> Vec<(Arc<str>, i64)> {
        self.keys
            .load()
            .iter()
            .filter_map(|(name, state)| {
                let spend = state.unflushed.swap(0, Ordering::AcqRel);
                (spend != 0).then(|| (name.clone(), spend))
            })
            .collect()
    }

    /// Puts back spend that could not be sent.
    pub(super) fn restore_deferred_spend(&self, spend: Vec<(Arc<str>, i64)>) {
        let keys = self.keys.load();
        for (name, delta) in spend {
            if let Some(state) = keys.get(&name) {
                state.unflushed.fetch_add(delta, Ordering::AcqRel);
            }
        }
    }

    /// What the key has used and has left.
    pub(super) fn read(&self, state: &KeyState) -> Reading {
        let now = self.now();
        let wall = SystemTime::now();
        Reading {
            requests_available: state.requests.as_ref().map_or(0, |b| b.available(now)),
            tokens_available: state.tokens.as_ref().map_or(0, |b| b.available(now)),
            day_used: state.day.used(Period::Day.at(wall).index),
            month_used: state.month.used(Period::Month.at(wall).index),
        }
    }
}

impl Denied {
    pub(super) fn wait(why: Refusal, wait: Duration) -> Self {
        Denied {
            why,
            wait: Some(wait),
            used: 0,
        }
    }

    pub(super) fn budget(period: Period, used: u64, span: Span) -> Self {
        let wait = span
            .end
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Denied {
            why: match period {
                Period::Day => Refusal::DayBudget,
                Period::Month => Refusal::MonthBudget,
            },
            wait: Some(wait),
            used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_counters_start_again_each_period_and_respect_limits() {
        let c = PeriodCounter::default();
        c.add(7, 900, 1000).unwrap();
        assert_eq!(c.add(7, 200, 1000), Err(900));
        c.add(7, -950, 0).unwrap();
        assert_eq!(c.used(7), 0, "never below zero");
        c.add(7, 600, 0).unwrap();
        assert_eq!(c.used(8), 0, "a new period reads as unused");
        c.add(8, 1000, 1000).unwrap();
        assert_eq!(c.used(8), 1000);
        assert_eq!(c.used(7), 0);
    }
}
