use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Budget, BudgetKind, Decision, Request};
use crate::clock::{Timestamp, duration_nanos};

const SLOTS: usize = 10;
const EPOCH_BITS: u32 = 24;
const VALUE_BITS: u32 = 64 - EPOCH_BITS;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const VALUE_MAX: i64 = (1 << (VALUE_BITS - 1)) - 1;
const MAX_DENOMINATOR: u64 = 10_000;

/// A retry budget as in Finagle, Linkerd and the SRE book: every first attempt deposits
/// `ratio` of a token, every retry (or hedge) withdraws one, and `min_per_second` retries are
/// always allowed; deposits and withdrawals expire after `window`.
///
/// So over any window, retries stay within `ratio × requests + min_per_second × window`.
///
/// Exact with fractional ratios: the ratio is held as the closest fraction `p/q` with
/// `q ≤ 10,000` (0.1 = 1/10, 1/3 = 1/3) and tokens are counted in integer units of `1/q`.
/// Lock-free: a ring of ten time slices, each one `AtomicU64` (slice epoch and net units),
/// updated by compare-and-swap; a withdrawal is checked and applied in one CAS.
#[derive(Debug)]
pub struct Ratio {
    deposit: i64,
    withdraw: i64,
    reserve: i64,
    slot_ns: u64,
    slots: [AtomicU64; SLOTS],
}

/// The best rational approximation `p/q` of `x ≥ 0` with `q ≤ max_q` (continued fractions).
fn approximate(x: f64, max_q: u64) -> (u64, u64) {
    let (mut p0, mut q0, mut p1, mut q1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = x;
    for _ in 0..64 {
        let a = v.floor();
        if a > 1e12 {
            break;
        }
        let a = a as u64;
        let (p2, q2) = (a * p1 + p0, a * q1 + q0);
        if q2 > max_q {
            break;
        }
        (p0, q0, p1, q1) = (p1, q1, p2, q2);
        let frac = v - a as f64;
        if frac < 1e-12 {
            break;
        }
        v = 1.0 / frac;
    }
    if q1 == 0 {
        (x.round() as u64, 1)
    } else {
        (p1, q1)
    }
}

fn pack(epoch: u64, value: i64) -> u64 {
    ((epoch & EPOCH_MASK) << VALUE_BITS) | ((value as u64) & VALUE_MASK)
}

fn unpack(word: u64) -> (u64, i64) {
    let epoch = word >> VALUE_BITS;
    let raw = word & VALUE_MASK;
    // Sign-extend the 40-bit value.
    let value = ((raw << EPOCH_BITS) as i64) >> EPOCH_BITS;
    (epoch, value)
}

impl Ratio {
    /// A ratio budget. `ratio` retries per first attempt (0.1 = 10%), at least
    /// `min_per_second` retries per second whatever the traffic, over a sliding `window`
    /// (at least 10ms; 10s is typical). Negative or non-finite numbers count as 0.
    pub fn new(ratio: f64, min_per_second: f64, window: Duration) -> Ratio {
        let ratio = if ratio.is_finite() && ratio > 0.0 {
            ratio
        } else {
            0.0
        };
        let min = if min_per_second.is_finite() && min_per_second > 0.0 {
            min_per_second
        } else {
            0.0
        };
        let (p, q) = approximate(ratio, MAX_DENOMINATOR);
        let window = window.max(Duration::from_millis(10));
        let reserve = (min * window.as_secs_f64() * q as f64).round();
        Ratio {
            deposit: p.min(VALUE_MAX as u64 / 1024) as i64,
            withdraw: q as i64,
            reserve: reserve.min(VALUE_MAX as f64) as i64,
            slot_ns: (duration_nanos(window) / SLOTS as u64).max(1),
            slots: Default::default(),
        }
    }

    fn epoch(&self, now: Timestamp) -> u64 {
        now.as_nanos() / self.slot_ns
    }

    /// Net units in the window, excluding the current slice, and the current slice's word.
    fn read(&self, epoch: u64) -> (i64, usize) {
        let current = (epoch % SLOTS as u64) as usize;
        let mut sum = 0i64;
        for (i, slot) in self.slots.iter().enumerate() {
            if i == current {
                continue;
            }
            let (e, v) = unpack(slot.load(Ordering::Acquire));
            let age = epoch.wrapping_sub(e) & EPOCH_MASK;
            if age < SLOTS as u64 {
                sum = sum.saturating_add(v);
            }
        }
        (sum, current)
    }

    fn current_value(word: u64, epoch: u64) -> i64 {
        let (e, v) = unpack(word);
        if e == epoch & EPOCH_MASK { v } else { 0 }
    }

    fn deposit(&self, now: Timestamp) {
        let epoch = self.epoch(now);
        let slot = &self.slots[(epoch % SLOTS as u64) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            let v = Ratio::current_value(w, epoch);
            Some(pack(epoch, v.saturating_add(self.deposit).min(VALUE_MAX)))
        });
    }

    fn try_withdraw(&self, now: Timestamp, cost: u32) -> bool {
        let epoch = self.epoch(now);
        let (history, current) = self.read(epoch);
        let amount = self.withdraw.saturating_mul(i64::from(cost.max(1)));
        self.slots[current]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let v = Ratio::current_value(w, epoch);
                let balance = history.saturating_add(v).saturating_add(self.reserve);
                (balance >= amount).then(|| pack(epoch, (v - amount).max(-VALUE_MAX)))
            })
            .is_ok()
    }

    /// Starts the budget holding `tokens` retries at `now` when that is more than its floor
    /// gives: what a budget rebuilt with a new ratio keeps of the old one (the difference is
    /// a deposit, expiring after the window like any other).
    pub(crate) fn hold(&self, tokens: f64, now: Timestamp) {
        let floor = self.available(now);
        if tokens.is_nan() || tokens <= floor {
            return;
        }
        let units = ((tokens - floor) * self.withdraw as f64)
            .round()
            .min(VALUE_MAX as f64) as i64;
        let epoch = self.epoch(now);
        let slot = &self.slots[(epoch % SLOTS as u64) as usize];
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            let v = Ratio::current_value(w, epoch);
            Some(pack(epoch, v.saturating_add(units).min(VALUE_MAX)))
        });
    }

    /// Retries available now, in tokens.
    pub fn available(&self, now: Timestamp) -> f64 {
        let epoch = self.epoch(now);
        let (history, current) = self.read(epoch);
        let v = Ratio::current_value(self.slots[current].load(Ordering::Acquire), epoch);
        (history + v + self.reserve) as f64 / self.withdraw as f64
    }
}

impl Budget for Ratio {
    fn allow(&self, req: &Request<'_>) -> Decision {
        if req.kind == BudgetKind::Retry && req.attempt == 0 {
            // A gated first attempt deposits and always runs.
            self.deposit(req.now);
            return Decision::allow();
        }
        if self.try_withdraw(req.now, req.cost) {
            Decision::allow()
        } else {
            Decision::deny()
        }
    }

    fn record_first_attempt(&self, req: &Request<'_>) {
        self.deposit(req.now);
    }

    fn level(&self, now: Timestamp) -> Option<f64> {
        Some(self.available(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetKind;
    use crate::key::Key;

    const T0: Timestamp = Timestamp::from_nanos(1_000_000_000_000);

    fn req(key: &Key, attempt: u32, now: Timestamp) -> Request<'_> {
        Request {
            key,
            attempt,
            hedge_index: 0,
            kind: BudgetKind::Retry,
            cost: 1,
            now,
        }
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(approximate(0.1, MAX_DENOMINATOR), (1, 10));
        assert_eq!(approximate(1.0 / 3.0, MAX_DENOMINATOR), (1, 3));
        assert_eq!(approximate(0.25, MAX_DENOMINATOR), (1, 4));
        assert_eq!(approximate(0.3, MAX_DENOMINATOR), (3, 10));
        assert_eq!(approximate(2.0, MAX_DENOMINATOR), (2, 1));
    }

    #[test]
    fn packing_round_trips_negative_values() {
        for v in [0, 1, -1, VALUE_MAX, -VALUE_MAX, 12345, -98765] {
            assert_eq!(unpack(pack(77, v)), (77, v));
        }
    }

    #[test]
    fn a_third_allows_one_retry_per_three_requests() {
        let k = Key::parse("k.k");
        let b = Ratio::new(1.0 / 3.0, 0.0, Duration::from_secs(10));
        for _ in 0..3 {
            b.record_first_attempt(&req(&k, 0, T0));
        }
        assert!(b.allow(&req(&k, 1, T0)).allowed);
        assert!(!b.allow(&req(&k, 1, T0)).allowed);
        for _ in 0..2 {
            b.record_first_attempt(&req(&k, 0, T0));
        }
        assert!(
            !b.allow(&req(&k, 1, T0)).allowed,
            "two thirds of a token is not a token"
        );
        b.record_first_attempt(&req(&k, 0, T0));
        assert!(b.allow(&req(&k, 1, T0)).allowed);
    }

    #[test]
    fn ten_percent_of_a_hundred_requests_is_ten_retries() {
        let k = Key::parse("k.k");
        let b = Ratio::new(0.1, 0.0, Duration::from_secs(10));
        for _ in 0..100 {
            b.record_first_attempt(&req(&k, 0, T0));
        }
        let allowed = (0..50).filter(|_| b.allow(&req(&k, 1, T0)).allowed).count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn floor_allows_min_per_second_with_no_traffic() {
        let k = Key::parse("k.k");
        let b = Ratio::new(0.1, 2.0, Duration::from_secs(10));
        let allowed = (0..100)
            .filter(|_| b.allow(&req(&k, 1, T0)).allowed)
            .count();
        assert_eq!(allowed, 20, "2/s over a 10s window");
    }

    #[test]
    fn deposits_expire_after_the_window() {
        let k = Key::parse("k.k");
        let b = Ratio::new(0.5, 0.0, Duration::from_secs(10));
        for _ in 0..10 {
            b.record_first_attempt(&req(&k, 0, T0));
        }
        assert_eq!(b.available(T0), 5.0);
        assert_eq!(b.available(T0.plus(Duration::from_secs(11))), 0.0);
        assert!(
            !b.allow(&req(&k, 1, T0.plus(Duration::from_secs(11))))
                .allowed
        );
    }

    #[test]
    fn concurrent_withdrawals_never_overdraw() {
        let k = Key::parse("k.k");
        let b = std::sync::Arc::new(Ratio::new(0.5, 0.0, Duration::from_secs(10)));
        for _ in 0..2000 {
            b.record_first_attempt(&req(&k, 0, T0));
        }
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let k = Key::parse("k.k");
                    (0..500)
                        .filter(|_| b.allow(&req(&k, 1, T0)).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(allowed, 1000);
    }
}
