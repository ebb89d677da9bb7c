//! Backoff arithmetic (docs/policies.md) and the seedable jitter source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::duration_nanos;
use crate::policy::Jitter;

/// A small lock-free random source (SplitMix64 over an atomic counter): seedable, so jittered
/// timelines are reproducible, and shared by every call of an executor without a lock.
#[derive(Debug)]
pub(crate) struct Rng(AtomicU64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(AtomicU64::new(seed))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The normalized backoff parameters of a policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: Jitter,
}

/// The growth bound of decorrelated jitter: each wait is drawn below 3 × the previous one.
pub(crate) const DECORRELATED_GROWTH: f64 = 3.0;

impl Backoff {
    /// The wait for base backoff `b`, jittered and capped at `max`. Under decorrelated jitter
    /// `b` is the previous wait (see [`Backoff::next`]).
    pub(crate) fn sleep_for(&self, b: Duration, rng: &Rng) -> Duration {
        let ns = duration_nanos(b);
        let jittered = match self.jitter {
            Jitter::None => ns,
            Jitter::Full if ns == 0 => 0,
            Jitter::Full => (rng.unit() * ns as f64) as u64,
            Jitter::Equal => ns / 2 + (rng.unit() * (ns / 2) as f64) as u64,
            Jitter::Decorrelated => {
                let low = duration_nanos(self.initial).min(ns) as f64;
                let high = ns as f64 * DECORRELATED_GROWTH;
                // Saturating: `as` clamps a float past u64::MAX.
                (low + rng.unit() * (high - low)) as u64
            }
        };
        Duration::from_nanos(jittered).min(self.max)
    }

    /// The base backoff after a wait computed from `b`: `trunc(b × multiplier)` capped at
    /// `max`; under decorrelated jitter, the wait itself (`slept`, the computed wait, or
    /// `None` when the server chose the wait: the base stays).
    pub(crate) fn next(&self, b: Duration, slept: Option<Duration>) -> Duration {
        if self.jitter == Jitter::Decorrelated {
            return slept.unwrap_or(b);
        }
        let t = duration_nanos(b) as f64 * self.multiplier;
        if t.is_nan() || t <= 0.0 {
            return Duration::ZERO;
        }
        let t = if t >= u64::MAX as f64 {
            u64::MAX
        } else {
            t as u64
        };
        Duration::from_nanos(t).min(self.max)
    }
}

/// A call's base backoff: the one its next computed wait starts from.
///
/// A wait the server chose ([`Verdict::backoff_override`](crate::classify::Verdict)) moves the
/// base on without computing it: only a computed wait reads the base, so the growth is owed and
/// caught up with there (one float round trip a retry, about 10 ns, is most of what a retry
/// that does not sleep costs). Growth is a pure function, so the base a wait reads is the same
/// as if it had grown at every step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Base {
    at: Duration,
    /// Growth steps not applied yet.
    owed: u32,
}

impl Base {
    /// The base before the first retry.
    pub(crate) fn new(backoff: &Backoff) -> Base {
        Base {
            at: backoff.initial,
            owed: 0,
        }
    }

    /// The wait before the next attempt when the policy computes it; the base moves on.
    #[inline]
    pub(crate) fn computed_wait(&mut self, backoff: &Backoff, rng: &Rng) -> Duration {
        for _ in 0..std::mem::take(&mut self.owed) {
            let grown = backoff.next(self.at, None);
            if grown == self.at {
                break; // at the cap, or at zero: growth changes nothing any more
            }
            self.at = grown;
        }
        let wait = backoff.sleep_for(self.at, rng);
        self.at = backoff.next(self.at, Some(wait));
        wait
    }

    /// A wait the server chose: the base moves on as [`Backoff::next`] moves it, later.
    #[inline]
    pub(crate) fn skip(&mut self, backoff: &Backoff) {
        // Under decorrelated jitter a chosen wait leaves the base where it is.
        if backoff.jitter != Jitter::Decorrelated {
            self.owed = self.owed.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::{Backoff, Base, Duration, Jitter, Rng};
    use proptest::prelude::{Strategy, any, prop_assert, prop_assert_eq, proptest};

    fn arb_backoff() -> impl Strategy<Value = Backoff> {
        (1u64..30_000, 1u64..30_000, 1.0f64..10.0, 0..4u8).prop_map(|(i, m, mult, j)| {
            let initial = Duration::from_millis(i.min(m));
            Backoff {
                initial,
                max: Duration::from_millis(i.max(m)),
                multiplier: mult,
                jitter: [
                    Jitter::None,
                    Jitter::Full,
                    Jitter::Equal,
                    Jitter::Decorrelated,
                ][j as usize],
            }
        })
    }

    proptest! {
        #[test]
        fn every_backoff_is_within_zero_and_max(b in arb_backoff(), seed in any::<u64>(), steps in 1usize..12) {
            let rng = Rng::new(seed);
            let mut base = b.initial;
            for _ in 0..steps {
                let s = b.sleep_for(base, &rng);
                prop_assert!(s <= b.max);
                match b.jitter {
                    Jitter::Decorrelated => {
                        // In [initial, 3 × the previous wait), capped.
                        prop_assert!(s >= b.initial.min(b.max));
                        prop_assert!(s <= base * 3);
                    }
                    Jitter::Equal => {
                        prop_assert!(s <= base);
                        prop_assert!(s >= base / 2 - Duration::from_nanos(1));
                    }
                    _ => prop_assert!(s <= base),
                }
                base = b.next(base, Some(s));
                prop_assert!(base <= b.max);
            }
        }
    }

    proptest! {
        #[test]
        fn a_base_grown_late_gives_the_waits_of_one_grown_at_every_step(
            b in arb_backoff(),
            seed in any::<u64>(),
            chosen in proptest::collection::vec(any::<bool>(), 1..40),
        ) {
            let (eager_rng, late_rng) = (Rng::new(seed), Rng::new(seed));
            let mut eager = b.initial;
            let mut late = Base::new(&b);
            for server_chose in chosen {
                if server_chose {
                    eager = b.next(eager, None);
                    late.skip(&b);
                } else {
                    let wait = b.sleep_for(eager, &eager_rng);
                    eager = b.next(eager, Some(wait));
                    prop_assert_eq!(late.computed_wait(&b, &late_rng), wait);
                }
            }
        }
    }

    #[test]
    fn decorrelated_waits_follow_the_previous_wait() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Decorrelated,
        };
        let rng = Rng::new(42);
        let mut prev = b.initial;
        let mut waits = Vec::new();
        for _ in 0..200 {
            let s = b.sleep_for(prev, &rng);
            assert!(s >= b.initial && s < prev * 3, "{s:?} after {prev:?}");
            waits.push(s);
            prev = b.next(prev, Some(s));
            assert_eq!(prev, s, "the next draw is from the wait itself");
        }
        // The waits wander over the whole range, up to the cap, and come back down.
        assert!(waits.contains(&b.max));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(300)));
        // A wait the server chose leaves the base where it was.
        assert_eq!(b.next(prev, None), prev);
    }

    #[test]
    fn same_seed_same_sequence() {
        let (a, b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }
}
