use std::sync::atomic::{AtomicU64, Ordering};

use super::{Budget, Decision, Request};
use crate::clock::Timestamp;

/// A token bucket: `capacity` tokens, refilled continuously at `refill_per_second`, starting
/// full. An attempt takes `cost` tokens or is denied (`budget_denied`); nothing is ever
/// returned.
///
/// Lock-free: the whole state is one `AtomicU64` updated by compare-and-swap, following the
/// generic cell rate algorithm (the bucket stores the time at which it will be full again), so
/// concurrent callers are admitted exactly up to the capacity.
///
/// # Performance
///
/// One atomic load and one CAS per decision; no clock read (the executor passes `now`).
#[derive(Debug)]
pub struct TokenBucket {
    capacity: u64,
    /// Nanoseconds to refill one token; 0 when the bucket never refills.
    interval_ns: u64,
    /// With refill: the instant (ns) at which the bucket is full again ("theoretical arrival
    /// time"). Without refill: tokens taken so far.
    state: AtomicU64,
}

impl TokenBucket {
    /// A bucket of `capacity` tokens refilled at `refill_per_second` (negative, NaN or infinite
    /// rates mean no refill).
    pub fn new(capacity: u64, refill_per_second: f64) -> TokenBucket {
        let interval_ns = if refill_per_second.is_finite() && refill_per_second > 0.0 {
            (1e9 / refill_per_second).round().max(1.0) as u64
        } else {
            0
        };
        TokenBucket {
            capacity,
            interval_ns,
            state: AtomicU64::new(0),
        }
    }

    /// The bucket's capacity.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Takes `cost` tokens at `now` if there are enough.
    #[inline]
    pub fn try_take(&self, cost: u64, now: Timestamp) -> bool {
        let cost = cost.max(1);
        if cost > self.capacity {
            return false;
        }
        if self.interval_ns == 0 {
            return self
                .state
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    (used + cost <= self.capacity).then_some(used + cost)
                })
                .is_ok();
        }
        let now = now.as_nanos();
        let window = self.capacity.saturating_mul(self.interval_ns);
        let step = cost.saturating_mul(self.interval_ns);
        let mut tat = self.state.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(step);
            if next - now > window {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
    }

    /// Empties the bucket to `tokens` at `now` (never fills it past what it holds): what a
    /// bucket rebuilt with a new capacity keeps of the old one.
    pub(crate) fn hold(&self, tokens: f64, now: Timestamp) {
        let tokens = tokens.clamp(0.0, self.capacity as f64);
        if self.interval_ns == 0 {
            let used = self.capacity - tokens.floor() as u64;
            self.state.fetch_max(used, Ordering::AcqRel);
            return;
        }
        // Full again once the missing tokens have refilled.
        let missing = (self.capacity as f64 - tokens) * self.interval_ns as f64;
        let full_at = now.as_nanos().saturating_add(missing.round() as u64);
        self.state.fetch_max(full_at, Ordering::AcqRel);
    }

    /// Tokens available at `now` (fractional while refilling).
    pub fn available(&self, now: Timestamp) -> f64 {
        let state = self.state.load(Ordering::Acquire);
        if self.interval_ns == 0 {
            return (self.capacity - state.min(self.capacity)) as f64;
        }
        let debt = state.saturating_sub(now.as_nanos()) as f64 / self.interval_ns as f64;
        (self.capacity as f64 - debt).max(0.0)
    }
}

impl Budget for TokenBucket {
    #[inline]
    fn allow(&self, req: &Request<'_>) -> Decision {
        if self.try_take(u64::from(req.cost), req.now) {
            Decision::allow()
        } else {
            Decision::deny()
        }
    }

    fn level(&self, now: Timestamp) -> Option<f64> {
        Some(self.available(now))
    }

    fn max_level(&self) -> Option<f64> {
        Some(self.capacity as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T0: Timestamp = Timestamp::from_nanos(1_000_000_000_000);

    #[test]
    fn cost_zero_counts_as_one_and_capacity_is_exact() {
        // s067a
        let b = TokenBucket::new(2, 0.0);
        assert!(b.try_take(0, T0));
        assert!(b.try_take(0, T0));
        assert!(!b.try_take(0, T0));
    }

    #[test]
    fn a_bucket_holds_what_it_is_told_and_refills_from_there() {
        let b = TokenBucket::new(10, 1.0);
        b.hold(3.0, T0);
        assert!((b.available(T0) - 3.0).abs() < 1e-9);
        assert!(b.try_take(3, T0) && !b.try_take(1, T0));
        assert!(b.try_take(1, T0.plus(Duration::from_secs(1))));
        let never = TokenBucket::new(5, 0.0);
        never.hold(2.0, T0);
        assert!(never.try_take(2, T0) && !never.try_take(1, T0));
    }

    #[test]
    fn cost_above_capacity_and_empty_buckets_deny() {
        // s067b, s067c
        assert!(!TokenBucket::new(3, 0.0).try_take(5, T0));
        assert!(!TokenBucket::new(0, 10.0).try_take(1, T0));
    }

    #[test]
    fn refills_continuously_on_the_given_clock() {
        // s068: bucket(1, 100/s): drain, deny at once, allow 15ms later.
        let b = TokenBucket::new(1, 100.0);
        assert!(b.try_take(1, T0));
        assert!(!b.try_take(1, T0));
        assert!(b.try_take(1, T0.plus(Duration::from_millis(15))));
    }

    #[test]
    fn refill_never_exceeds_capacity() {
        let b = TokenBucket::new(3, 1000.0);
        let later = T0.plus(Duration::from_secs(3600));
        assert_eq!(b.available(later), 3.0);
        for _ in 0..3 {
            assert!(b.try_take(1, later));
        }
        assert!(!b.try_take(1, later));
    }

    #[test]
    fn concurrent_callers_get_exactly_the_capacity() {
        // s069: bucket(1000, 0); 10 workers x 200 checks -> exactly 1000 allowed.
        for refill in [0.0, 0.001] {
            let b = std::sync::Arc::new(TokenBucket::new(1000, refill));
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    let b = b.clone();
                    std::thread::spawn(move || (0..200).filter(|_| b.try_take(1, T0)).count())
                })
                .collect();
            let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(allowed, 1000, "refill {refill}");
        }
    }
}
