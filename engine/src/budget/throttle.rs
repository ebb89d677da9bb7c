use std::sync::atomic::{AtomicU64, Ordering};

use super::{AttemptOutcome, Budget, BudgetKind, Decision, Request};
use crate::clock::Timestamp;

/// Thousandths of a token: gRPC keeps `token_ratio` to three decimal places.
const MILLI: f64 = 1000.0;

/// gRPC's retry throttling (gRFC A6), a budget that learns from outcomes: it stops retries and
/// hedges while the dependency is failing, and lets them through again once it recovers.
///
/// - Tokens start at `max_tokens`.
/// - Each failed attempt the classifier calls retryable takes 1 token (never below 0).
/// - Each successful attempt adds `token_ratio` tokens, up to `max_tokens`.
/// - A retry or hedge is allowed only while tokens > `max_tokens / 2`.
/// - First attempts are never gated: a throttle only ever withholds retries and hedges.
///
/// Failures the classifier calls non-retryable (a 404, an invalid argument) and attempts that
/// ended without a verdict (cancelled) leave the tokens as they are, as in gRPC, where only a
/// status on the retryable list counts as a failure.
///
/// Lock-free: the tokens are one `AtomicU64` of thousandths of a token. A decision is one
/// atomic load; an outcome is one compare-and-swap, or a load alone when a success finds the
/// bucket full.
///
/// ```
/// use recourse_engine::Key;
/// use recourse_engine::budget::{AttemptOutcome, Budget, Request, Throttle};
/// use recourse_engine::classify::Kind;
/// use recourse_engine::clock::Timestamp;
///
/// let throttle = Throttle::new(10.0, 0.1);
/// let key = Key::parse("payments.Charge");
/// let now = Timestamp::EPOCH;
/// let failed = AttemptOutcome::new(&key, 0, Kind::Retryable);
/// // 10 tokens; each retryable failure takes one, and at 5 (= 10 / 2) retries stop.
/// for _ in 0..5 {
///     assert!(throttle.allow(&Request::retry(&key, now)).allowed);
///     throttle.record_outcome(&failed);
/// }
/// assert!(!throttle.allow(&Request::retry(&key, now)).allowed);
/// // Each success gives back a tenth of a token: 10 successes bring it back over the line.
/// let succeeded = AttemptOutcome::new(&key, 0, Kind::Success);
/// for _ in 0..10 {
///     throttle.record_outcome(&succeeded);
/// }
/// assert!((throttle.tokens() - 6.0).abs() < 1e-9);
/// assert!(throttle.allow(&Request::retry(&key, now)).allowed);
/// ```
#[derive(Debug)]
pub struct Throttle {
    /// `max_tokens`, in thousandths.
    max: u64,
    /// `token_ratio`, in thousandths.
    ratio: u64,
    /// The tokens now, in thousandths.
    tokens: AtomicU64,
}

impl Throttle {
    /// A throttle of `max_tokens` (gRPC allows up to 1000) that earns `token_ratio` tokens per
    /// success (three decimal places are kept). Values that are not finite or positive count
    /// as the least that can be kept (a thousandth).
    pub fn new(max_tokens: f64, token_ratio: f64) -> Throttle {
        let milli = |x: f64| {
            if x.is_finite() && x > 0.0 {
                ((x * MILLI).round() as u64).max(1)
            } else {
                1
            }
        };
        let max = milli(max_tokens);
        Throttle {
            max,
            ratio: milli(token_ratio),
            tokens: AtomicU64::new(max),
        }
    }

    /// The tokens now.
    pub fn tokens(&self) -> f64 {
        self.tokens.load(Ordering::Acquire) as f64 / MILLI
    }

    /// The most tokens it holds.
    pub fn max_tokens(&self) -> f64 {
        self.max as f64 / MILLI
    }

    /// Sets the tokens to `tokens` (at most `max_tokens`): what a throttle rebuilt with new
    /// settings keeps of the one it replaces.
    pub(crate) fn hold(&self, tokens: f64) {
        let tokens = (tokens.max(0.0) * MILLI).round() as u64;
        self.tokens.store(tokens.min(self.max), Ordering::Release);
    }

    /// Whether retries and hedges may run: tokens over half of `max_tokens`.
    #[inline]
    fn open(&self) -> bool {
        self.tokens.load(Ordering::Acquire) * 2 > self.max
    }
}

impl Budget for Throttle {
    #[inline]
    fn allow(&self, req: &Request<'_>) -> Decision {
        let first = req.kind == BudgetKind::Retry && req.attempt == 0 && req.hedge_index == 0;
        if first || self.open() {
            Decision::allow()
        } else {
            Decision::deny()
        }
    }

    /// Tokens follow outcomes, not time: no clock read.
    fn reads_clock(&self) -> bool {
        false
    }

    #[inline]
    fn record_outcome(&self, outcome: &AttemptOutcome<'_>) {
        let (max, ratio) = (self.max, self.ratio);
        if outcome.succeeded() {
            // A full bucket stays full: a load, no write.
            if self.tokens.load(Ordering::Acquire) < max {
                let _ = self
                    .tokens
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                        (t < max).then(|| t.saturating_add(ratio).min(max))
                    });
            }
        } else if outcome.failed_retryably() {
            let _ = self
                .tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                    (t > 0).then(|| t.saturating_sub(MILLI as u64))
                });
        }
    }

    fn level(&self, _now: Timestamp) -> Option<f64> {
        Some(self.tokens())
    }

    fn max_level(&self) -> Option<f64> {
        Some(self.max_tokens())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Kind;
    use crate::key::Key;

    fn outcome(key: &Key, kind: Kind) -> AttemptOutcome<'_> {
        AttemptOutcome::new(key, 1, kind)
    }

    #[test]
    fn a_burst_of_failures_stops_retries_and_successes_bring_them_back() {
        let key = Key::parse("a.b");
        let t = Throttle::new(100.0, 0.1);
        let req = Request::retry(&key, Timestamp::EPOCH);
        // 100 tokens: retries run until the 50th failure brings them to 50 (not over 50).
        for i in 0..50 {
            assert!(t.allow(&req).allowed, "failure {i}");
            t.record_outcome(&outcome(&key, Kind::Retryable));
        }
        assert_eq!(t.tokens(), 50.0);
        assert!(!t.allow(&req).allowed);
        // First attempts are never gated.
        let first = Request {
            attempt: 0,
            ..Request::retry(&key, Timestamp::EPOCH)
        };
        assert!(t.allow(&first).allowed);
        // Non-retryable failures and aborts change nothing.
        t.record_outcome(&outcome(&key, Kind::NonRetryable));
        t.record_outcome(&outcome(&key, Kind::Abort));
        assert_eq!(t.tokens(), 50.0);
        // One success: 50.1 > 50.
        t.record_outcome(&outcome(&key, Kind::Success));
        assert!((t.tokens() - 50.1).abs() < 1e-9);
        assert!(t.allow(&req).allowed);
        // Never past max_tokens, never below zero.
        for _ in 0..2000 {
            t.record_outcome(&outcome(&key, Kind::Success));
        }
        assert_eq!(t.tokens(), 100.0);
        for _ in 0..2000 {
            t.record_outcome(&outcome(&key, Kind::Retryable));
        }
        assert_eq!(t.tokens(), 0.0);
        // Hedges are gated like retries.
        let hedge = Request {
            kind: BudgetKind::Hedge,
            attempt: 0,
            hedge_index: 1,
            ..Request::retry(&key, Timestamp::EPOCH)
        };
        assert!(!t.allow(&hedge).allowed);
    }

    #[test]
    fn the_ratio_keeps_three_decimal_places() {
        let key = Key::parse("a.b");
        let t = Throttle::new(10.0, 0.0005);
        t.hold(4.0);
        t.record_outcome(&outcome(&key, Kind::Success));
        assert!((t.tokens() - 4.001).abs() < 1e-9);
        assert_eq!(t.max_level(), Some(10.0));
        t.hold(99.0);
        assert_eq!(t.tokens(), 10.0);
    }

    #[test]
    fn concurrent_outcomes_are_all_counted() {
        let key = Key::parse("a.b");
        let t = std::sync::Arc::new(Throttle::new(1000.0, 1.0));
        t.hold(500.0);
        std::thread::scope(|s| {
            for kind in [
                Kind::Success,
                Kind::Retryable,
                Kind::Success,
                Kind::Retryable,
            ] {
                let (t, key) = (t.clone(), key.clone());
                s.spawn(move || {
                    for _ in 0..100 {
                        t.record_outcome(&outcome(&key, kind));
                    }
                });
            }
        });
        // 200 successes (+1 each) and 200 failures (-1 each), never near a bound.
        assert_eq!(t.tokens(), 500.0);
    }
}
