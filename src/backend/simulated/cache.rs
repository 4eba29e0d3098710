//! The simulated prompt cache: real, per backend instance, bounded.
//!
//! The store maps a prefix's name (the model and the content before a
//! cache point, see `input`) to when it expires. For a request with cache
//! points, the longest prefix that is cached and unexpired is *read* (its
//! expiry refreshed by the point's TTL, as Bedrock does on a hit), and every
//! prefix after it, up to the last cache point, is *written* now with its
//! own point's TTL. Usage is then disjoint, as Bedrock counts it:
//!
//! - `cache_read_input_tokens`: the tokens of the prefix read;
//! - `cache_write_input_tokens`: the tokens from there to the last cache
//!   point;
//! - `input_tokens`: the rest (after the last cache point).
//!
//! So the first call writes, and an identical call within the TTL reads.
//! There is no minimum prefix length here: real Bedrock ignores a cache
//! point whose prefix is shorter than the model's minimum (about 1,024
//! tokens for most Claude models, 2,048 for Haiku), so a short prompt that
//! caches here may report neither reads nor writes there.
//!
//! Requests without cache points never reach the store (no lock, no
//! hashing). The store holds at most [`CAPACITY`] prefixes: when full, the
//! expired go first, then the eighth that expire soonest.
//!
//! Time comes from a [`Clock`]: tokio's clock (so `tokio::time::pause`
//! moves it, where tokio's `test-util` is on), or in tests a manual one.

use super::input::{CachePrefix, PrefixKey};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The most prefixes one backend keeps.
pub(super) const CAPACITY: usize = 16_384;

/// Cache tokens of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CacheUsage {
    /// Tokens read from the cache.
    pub read: u32,
    /// Tokens written to it.
    pub write: u32,
}

/// Where the cache reads the time.
#[derive(Debug, Clone, Default)]
pub(super) struct Clock {
    /// A start and an offset in nanoseconds moved by hand; `None` reads
    /// tokio's clock.
    manual: Option<Arc<(Instant, AtomicU64)>>,
}

impl Clock {
    /// A clock moved only by [`Clock::advance`].
    #[cfg(test)]
    pub(super) fn manual() -> Self {
        Clock {
            manual: Some(Arc::new((Instant::now(), AtomicU64::new(0)))),
        }
    }

    /// Moves a manual clock forward (tokio's clock does not move by hand).
    #[cfg(test)]
    pub(super) fn advance(&self, by: Duration) {
        if let Some(m) = &self.manual {
            m.1.fetch_add(by.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// The time now.
    pub(super) fn now(&self) -> Instant {
        match &self.manual {
            Some(m) => m.0 + Duration::from_nanos(m.1.load(Ordering::Relaxed)),
            None => Instant::now(),
        }
    }
}

/// The store of cached prefixes.
#[derive(Debug)]
pub(super) struct PromptCache {
    entries: Mutex<HashMap<PrefixKey, Instant>>,
    capacity: usize,
    clock: Clock,
    /// How many calls looked in the store (tests prove plain calls do not).
    lookups: AtomicU64,
}

impl PromptCache {
    /// An empty store of at most `capacity` prefixes.
    pub(super) fn new(capacity: usize, clock: Clock) -> Self {
        PromptCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock,
            lookups: AtomicU64::new(0),
        }
    }

    /// Reads the longest cached prefix among `prefixes` (in prompt order)
    /// and writes the ones after it. No prefixes, no lock.
    pub(super) fn account(&self, prefixes: &[CachePrefix]) -> CacheUsage {
        let Some(last) = prefixes.last() else {
            return CacheUsage::default();
        };
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = prefixes
            .iter()
            .rposition(|p| entries.get(&p.key).is_some_and(|&expiry| expiry > now));
        let read = match hit {
            Some(i) => {
                let p = &prefixes[i];
                if let Some(expiry) = entries.get_mut(&p.key) {
                    *expiry = (*expiry).max(now + p.ttl);
                }
                p.tokens
            }
            None => 0,
        };
        for p in &prefixes[hit.map_or(0, |i| i + 1)..] {
            if entries.len() >= self.capacity && !entries.contains_key(&p.key) {
                make_room(&mut entries, self.capacity, now);
            }
            entries.insert(p.key, now + p.ttl);
        }
        CacheUsage {
            read,
            write: last.tokens.saturating_sub(read),
        }
    }

    /// How many calls have looked in the store.
    #[cfg(test)]
    pub(super) fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// How many prefixes are stored.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Frees room in a full store: drops the expired prefixes, and if that is
/// not enough, the eighth (at least one) that expire soonest, so a full
/// store of live prefixes is scanned once per `capacity / 8` writes.
fn make_room(entries: &mut HashMap<PrefixKey, Instant>, capacity: usize, now: Instant) {
    entries.retain(|_, expiry| *expiry > now);
    if entries.len() < capacity {
        return;
    }
    let mut expiries: Vec<Instant> = entries.values().copied().collect();
    let drop = (capacity / 8).max(1).min(expiries.len());
    let (_, &mut cutoff, _) = expiries.select_nth_unstable(drop - 1);
    let mut dropped = 0;
    entries.retain(|_, expiry| {
        if *expiry <= cutoff && dropped < drop {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(key: u128, tokens: u32) -> CachePrefix {
        CachePrefix {
            tokens,
            key,
            ttl: Duration::from_secs(300),
        }
    }

    #[test]
    fn writes_then_reads_the_longest_prefix_and_expires() {
        let clock = Clock::manual();
        let cache = PromptCache::new(16, clock.clone());
        assert_eq!(cache.account(&[]), CacheUsage::default());
        assert_eq!(cache.lookups(), 0);
        let both = [prefix(1, 10), prefix(2, 25)];
        assert_eq!(cache.account(&both), CacheUsage { read: 0, write: 25 });
        assert_eq!(cache.account(&both), CacheUsage { read: 25, write: 0 });
        // A longer conversation reads the old prefix and writes the rest.
        let longer = [prefix(1, 10), prefix(2, 25), prefix(3, 40)];
        assert_eq!(
            cache.account(&longer),
            CacheUsage {
                read: 25,
                write: 15
            }
        );
        // A changed tail reads the shared head.
        assert_eq!(
            cache.account(&[prefix(1, 10), prefix(4, 30)]),
            CacheUsage {
                read: 10,
                write: 20
            }
        );
        clock.advance(Duration::from_secs(299));
        // The read refreshes prefix 3; the others expire a second later.
        assert_eq!(
            cache.account(&[prefix(3, 40)]),
            CacheUsage { read: 40, write: 0 }
        );
        clock.advance(Duration::from_secs(2));
        assert_eq!(cache.account(&both), CacheUsage { read: 0, write: 25 });
        assert_eq!(
            cache.account(&[prefix(3, 40)]),
            CacheUsage { read: 40, write: 0 }
        );
        assert_eq!(cache.lookups(), 7);
    }

    #[test]
    fn the_store_stays_bounded() {
        let clock = Clock::manual();
        let cache = PromptCache::new(64, clock.clone());
        for key in 0..1_000u128 {
            clock.advance(Duration::from_millis(1));
            cache.account(&[prefix(key, 5)]);
            assert!(cache.len() <= 64);
        }
        // The newest prefixes survive.
        assert_eq!(
            cache.account(&[prefix(999, 5)]),
            CacheUsage { read: 5, write: 0 }
        );
    }
}
