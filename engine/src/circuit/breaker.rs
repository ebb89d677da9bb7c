use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::{CircuitState, Reason};

/// Packed breaker word: state in bits 62-63, probe-in-flight in bit 61, failures below.
const STATE_SHIFT: u32 = 62;
const PROBE_BIT: u64 = 1 << 61;
const FAILURES_MASK: u64 = (1 << 61) - 1;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

fn unpack(word: u64) -> (u64, bool, u64) {
    (
        word >> STATE_SHIFT,
        word & PROBE_BIT != 0,
        word & FAILURES_MASK,
    )
}

fn pack(state: u64, probe: bool, failures: u64) -> u64 {
    (state << STATE_SHIFT) | if probe { PROBE_BIT } else { 0 } | (failures & FAILURES_MASK)
}

fn state_of(code: u64) -> CircuitState {
    match code {
        CLOSED => CircuitState::Closed,
        OPEN => CircuitState::Open,
        _ => CircuitState::HalfOpen,
    }
}

/// A state change, for observers (`on_circuit_change`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state before.
    pub from: CircuitState,
    /// The state after.
    pub to: CircuitState,
    /// Why: `consecutive_failures`, `failure_rate`, `slow_call_rate`, `cooldown_elapsed`,
    /// `probe_succeeded`, `probe_failed`, or an operator's `manual_*`.
    pub reason: Reason,
}

/// What the breaker says to one call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Admission<'a> {
    /// Closed: run the call, then report its verdict.
    Closed,
    /// Half-open: this call is the probe. The probe slot is freed when the [`Probe`] is dropped
    /// without a verdict.
    Probe(Probe<'a>),
    /// Rejected: the state and reason (`circuit_open` or `circuit_half_open_probe_limit`).
    Rejected(CircuitState, Reason),
}

/// A circuit breaker's state machine (the consecutive-failure count included; rates are
/// judged over a [`Window`](super::Window) and reported with [`trip`](Breaker::trip)). Lock-free: one `AtomicU64` holds the state, the
/// probe flag and the failure count; another the instant it opened.
///
/// # Performance
///
/// A closed breaker admits a call with one atomic load.
#[derive(Debug, Default)]
pub struct Breaker {
    word: AtomicU64,
    opened_at: AtomicU64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new() -> Breaker {
        Breaker::default()
    }

    /// The state at `now` (an open breaker whose cooldown has passed reads as half-open).
    pub fn state(&self, now: Timestamp, cooldown: Duration) -> CircuitState {
        let (state, _, _) = unpack(self.word.load(Ordering::Acquire));
        if state == OPEN && self.cooled(now, cooldown) {
            CircuitState::HalfOpen
        } else {
            state_of(state)
        }
    }

    fn cooled(&self, now: Timestamp, cooldown: Duration) -> bool {
        let opened = Timestamp::from_nanos(self.opened_at.load(Ordering::Acquire));
        now.since(opened) >= cooldown
    }

    /// Asks to run one call; `now` is read only when the breaker is not closed. The transition
    /// (open → half-open) is returned for observers.
    ///
    /// # Performance
    ///
    /// Closed: one atomic load, no clock read.
    #[inline]
    pub fn admit(
        &self,
        now: impl FnOnce() -> Timestamp,
        cooldown: Duration,
    ) -> (Admission<'_>, Option<Transition>) {
        let mut word = self.word.load(Ordering::Acquire);
        if unpack(word).0 == CLOSED {
            return (Admission::Closed, None);
        }
        let now = now();
        loop {
            let (state, probe, _) = unpack(word);
            let (next, transition) = match state {
                CLOSED => return (Admission::Closed, None),
                OPEN if !self.cooled(now, cooldown) => {
                    return (
                        Admission::Rejected(CircuitState::Open, Reason::CIRCUIT_OPEN),
                        None,
                    );
                }
                OPEN => (
                    pack(HALF_OPEN, true, 0),
                    Some(Transition {
                        from: CircuitState::Open,
                        to: CircuitState::HalfOpen,
                        reason: Reason::COOLDOWN_ELAPSED,
                    }),
                ),
                _ if probe => {
                    return (
                        Admission::Rejected(
                            CircuitState::HalfOpen,
                            Reason::CIRCUIT_HALF_OPEN_PROBE_LIMIT,
                        ),
                        None,
                    );
                }
                _ => (pack(HALF_OPEN, true, 0), None),
            };
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return (
                        Admission::Probe(Probe {
                            breaker: self,
                            settled: false,
                        }),
                        transition,
                    );
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Closed again, as new (a shadow policy's breaker when a new candidate takes over).
    pub(crate) fn reset(&self) {
        self.word.store(pack(CLOSED, false, 0), Ordering::Release);
        self.opened_at.store(0, Ordering::Release);
    }

    /// A call admitted while closed succeeded: the failure count resets.
    pub fn record_success(&self) {
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let (state, probe, failures) = unpack(w);
                (state == CLOSED && failures > 0).then(|| pack(CLOSED, probe, 0))
            });
    }

    /// A call admitted while closed failed at `now`; `threshold` consecutive failures open the
    /// breaker.
    pub fn record_failure(&self, now: Timestamp, threshold: u32) -> Option<Transition> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (state, _, failures) = unpack(word);
            if state != CLOSED {
                // Already open (a slow call admitted before it opened): nothing to add.
                return None;
            }
            let failures = failures + 1;
            let opens = failures >= u64::from(threshold.max(1));
            let next = if opens {
                pack(OPEN, false, 0)
            } else {
                pack(CLOSED, false, failures)
            };
            if opens {
                self.opened_at.store(now.as_nanos(), Ordering::Release);
            }
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if opens => {
                    return Some(Transition {
                        from: CircuitState::Closed,
                        to: CircuitState::Open,
                        reason: Reason::CONSECUTIVE_FAILURES,
                    });
                }
                Ok(_) => return None,
                Err(actual) => word = actual,
            }
        }
    }

    /// Opens a closed breaker at `now` for `reason` (a rate in its window was reached).
    /// `None` when it was not closed.
    pub fn trip(&self, now: Timestamp, reason: Reason) -> Option<Transition> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if unpack(word).0 != CLOSED {
                return None;
            }
            self.opened_at.store(now.as_nanos(), Ordering::Release);
            match self.word.compare_exchange_weak(
                word,
                pack(OPEN, false, 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Transition {
                        from: CircuitState::Closed,
                        to: CircuitState::Open,
                        reason,
                    });
                }
                Err(actual) => word = actual,
            }
        }
    }

    fn settle_probe(&self, next: u64) {
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let (state, probe, _) = unpack(w);
                (state == HALF_OPEN && probe).then_some(next)
            });
    }
}

/// The half-open probe slot of one call. Report the call's verdict with
/// [`success`](Probe::success) or [`failure`](Probe::failure); dropped without one (the call
/// was cancelled, aborted or denied), it frees the slot so the next call can probe.
#[derive(Debug)]
pub struct Probe<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl Probe<'_> {
    /// The probe succeeded: the breaker closes.
    pub fn success(mut self) -> Transition {
        self.settled = true;
        self.breaker.settle_probe(pack(CLOSED, false, 0));
        Transition {
            from: CircuitState::HalfOpen,
            to: CircuitState::Closed,
            reason: Reason::PROBE_SUCCEEDED,
        }
    }

    /// The probe failed at `now`: the breaker opens again for a full cooldown.
    pub fn failure(mut self, now: Timestamp) -> Transition {
        self.settled = true;
        self.breaker
            .opened_at
            .store(now.as_nanos(), Ordering::Release);
        self.breaker.settle_probe(pack(OPEN, false, 0));
        Transition {
            from: CircuitState::HalfOpen,
            to: CircuitState::Open,
            reason: Reason::PROBE_FAILED,
        }
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle_probe(pack(HALF_OPEN, false, 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_nanos(1_000_000_000_000);
    const COOL: Duration = Duration::from_millis(50);

    fn at(ms: u64) -> Timestamp {
        T0.plus(Duration::from_millis(ms))
    }

    fn rejected<'a>(a: &'a Admission<'a>) -> Option<(CircuitState, &'a str)> {
        match a {
            Admission::Rejected(s, r) => Some((*s, r.as_str())),
            _ => None,
        }
    }

    #[test]
    fn s085_state_machine() {
        let b = Breaker::new();
        assert!(matches!(b.admit(|| at(0), COOL).0, Admission::Closed));
        assert_eq!(b.record_failure(at(0), 3), None);
        assert_eq!(b.record_failure(at(0), 3), None);
        b.record_success();
        for _ in 0..2 {
            assert_eq!(b.record_failure(at(0), 3), None);
        }
        let opened = b.record_failure(at(0), 3).unwrap();
        assert_eq!(
            (opened.from, opened.to),
            (CircuitState::Closed, CircuitState::Open)
        );
        assert_eq!(
            rejected(&b.admit(|| at(10), COOL).0),
            Some((CircuitState::Open, "circuit_open"))
        );
        let (probe, t) = b.admit(|| at(60), COOL);
        assert_eq!(t.unwrap().to, CircuitState::HalfOpen);
        let Admission::Probe(probe) = probe else {
            panic!("expected the probe")
        };
        assert_eq!(
            rejected(&b.admit(|| at(60), COOL).0),
            Some((CircuitState::HalfOpen, "circuit_half_open_probe_limit"))
        );
        assert_eq!(probe.failure(at(60)).to, CircuitState::Open);
        assert_eq!(b.state(at(61), COOL), CircuitState::Open);
        let Admission::Probe(probe) = b.admit(|| at(120), COOL).0 else {
            panic!("expected the probe")
        };
        assert_eq!(probe.success().to, CircuitState::Closed);
        assert!(matches!(b.admit(|| at(121), COOL).0, Admission::Closed));
    }

    #[test]
    fn s091_success_resets_consecutive_failures() {
        let b = Breaker::new();
        b.record_failure(at(0), 3);
        b.record_failure(at(0), 3);
        b.record_success();
        b.record_failure(at(0), 3);
        b.record_failure(at(0), 3);
        assert_eq!(b.state(at(0), COOL), CircuitState::Closed);
    }

    #[test]
    fn s090_a_probe_dropped_without_a_verdict_frees_the_slot() {
        let b = Breaker::new();
        b.record_failure(at(0), 1);
        let (a, _) = b.admit(|| at(30), Duration::from_millis(20));
        assert!(matches!(a, Admission::Probe(_)));
        drop(a);
        assert!(matches!(
            b.admit(|| at(80), Duration::from_millis(20)).0,
            Admission::Probe(_)
        ));
    }

    #[test]
    fn at_most_one_probe_under_contention() {
        let b = std::sync::Arc::new(Breaker::new());
        b.record_failure(at(0), 1);
        let admitted: usize = (0..8)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| {
                            let (a, _) = b.admit(|| at(100), COOL);
                            let probe = matches!(a, Admission::Probe(_));
                            std::mem::forget(a); // hold the slot
                            probe
                        })
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 1);
    }
}
