//! The rate rules of a breaker: the share of failed calls, or of slow calls, in its window
//! that opens it.

use std::time::Duration;

use super::window::{Counts, Sample};
use crate::error::Reason;
use crate::policy::NormalizedRates;

/// Parts per million: rates are compared in integers on the call path.
const PPM: u64 = 1_000_000;

fn ppm(rate: f64) -> u64 {
    (rate * PPM as f64).round() as u64
}

/// When a breaker's window says it should open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateRule {
    failure_ppm: Option<u64>,
    slow_after: Option<Duration>,
    slow_ppm: u64,
    min_calls: u64,
}

impl RateRule {
    /// The rule of a normalized policy's rates.
    pub fn new(rates: &NormalizedRates) -> RateRule {
        RateRule {
            failure_ppm: rates.failure_rate.map(ppm),
            slow_after: rates.slow_call_duration,
            slow_ppm: ppm(rates.slow_call_rate),
            min_calls: u64::from(rates.min_calls),
        }
    }

    /// The slow-call duration, if the rule has one.
    pub fn slow_after(&self) -> Option<Duration> {
        self.slow_after
    }

    /// A call as the window counts it: `failed`, and slow when it took at least the slow-call
    /// duration (`elapsed` is only asked for when the rule has one).
    pub fn sample(&self, failed: bool, elapsed: impl FnOnce() -> Duration) -> Sample {
        Sample {
            failed,
            slow: self.slow_after.is_some_and(|limit| elapsed() >= limit),
        }
    }

    /// The reason to open (`failure_rate` or `slow_call_rate`) when the window holds at least
    /// `min_calls` calls and a rate reaches its threshold.
    pub fn judge(&self, c: Counts) -> Option<Reason> {
        if c.calls == 0 || c.calls < self.min_calls {
            return None;
        }
        let reached = |part: u64, threshold: u64| part * PPM >= threshold * c.calls;
        if self.failure_ppm.is_some_and(|t| reached(c.failures, t)) {
            Some(Reason::FAILURE_RATE)
        } else if self.slow_after.is_some() && reached(c.slow, self.slow_ppm) {
            Some(Reason::SLOW_CALL_RATE)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CircuitWindow, Policy};

    fn rule(f: impl FnOnce(Policy) -> Policy) -> RateRule {
        let n = f(Policy::new()).normalize();
        RateRule::new(&n.circuit.rates.expect("rates"))
    }

    fn counts(calls: u64, failures: u64, slow: u64) -> Counts {
        Counts {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn a_failure_rate_opens_at_its_threshold_once_min_calls_are_in() {
        let r = rule(|p| {
            p.failure_rate_circuit(0.5, CircuitWindow::Calls(100), 20, Duration::from_secs(1))
        });
        assert_eq!(r.judge(counts(19, 19, 0)), None, "min_calls not reached");
        assert_eq!(r.judge(counts(20, 9, 0)), None);
        assert_eq!(
            r.judge(counts(20, 10, 0)).as_ref().map(Reason::as_str),
            Some("failure_rate")
        );
        assert_eq!(r.judge(counts(20, 0, 20)), None, "no slow-call rule");
    }

    #[test]
    fn a_slow_rate_opens_on_slow_calls_only() {
        let r = rule(|p| {
            p.failure_rate_circuit(0.9, CircuitWindow::Calls(10), 5, Duration::from_secs(1))
                .slow_calls(Duration::from_millis(800), 0.8)
        });
        let slow = r.sample(false, || Duration::from_millis(800));
        let fast = r.sample(false, || Duration::from_millis(799));
        assert!(slow.slow && !fast.slow && !slow.failed);
        assert_eq!(r.judge(counts(10, 0, 7)), None);
        assert_eq!(
            r.judge(counts(10, 0, 8)).as_ref().map(Reason::as_str),
            Some("slow_call_rate")
        );
    }
}
