//! What a finished call amounts to, counted in one place for every view of it: the live
//! export's counters, `recourse tail`, the tracing and OpenTelemetry observers.

/// The counts of one finished call, from its attempts.
///
/// ```
/// # use recourse_engine::{Executor, Policy};
/// # use recourse_engine::clock::VirtualClock;
/// let vc = VirtualClock::new();
/// let exec = Executor::builder().clock(vc.clock()).policy("inventory.Get", Policy::builtin()).build().unwrap();
/// let (result, timeline) = vc.block_on(exec.call_traced("inventory.Get", |info| async move {
///     if info.attempt == 0 { Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) } else { Ok(7) }
/// }));
/// assert_eq!(result.unwrap(), 7);
/// let s = timeline.summary();
/// assert_eq!((s.attempts, s.retries, s.first_try_success), (2, 1, false));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallSummary {
    /// The call succeeded.
    pub succeeded: bool,
    /// Attempts that ran (budget denials excluded), hedges included.
    pub attempts: u32,
    /// Primary attempts after the first that ran.
    pub retries: u32,
    /// Hedges launched.
    pub hedges: u32,
    /// Attempts a budget refused.
    pub budget_denied: u32,
    /// The call succeeded on its first attempt (retry index 0, primary or hedge).
    pub first_try_success: bool,
    /// The call's success came from a hedge.
    pub hedge_won: bool,
}

/// What a summary needs to know of one attempt.
pub(crate) struct AttemptFacts {
    pub(crate) attempt: u32,
    pub(crate) is_hedge: bool,
    pub(crate) budget_allowed: bool,
    pub(crate) succeeded: bool,
}

impl CallSummary {
    /// Counts `attempts` (in completion order) of a call that `succeeded` or not; the winner
    /// is the last successful attempt.
    pub(crate) fn of(succeeded: bool, attempts: impl IntoIterator<Item = AttemptFacts>) -> Self {
        let mut tally = Tally::default();
        attempts.into_iter().for_each(|a| tally.add(a));
        tally.finish(succeeded)
    }
}

impl CallSummary {
    /// A call whose first attempt succeeded, alone.
    #[inline]
    pub(crate) fn first_try_success() -> Self {
        let mut tally = Tally::default();
        tally.add(AttemptFacts {
            attempt: 0,
            is_hedge: false,
            budget_allowed: true,
            succeeded: true,
        });
        tally.finish(true)
    }
}

/// A [`CallSummary`] counted attempt by attempt, as a call records them (the recorder keeps
/// one, so observers get the counts without a timeline).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally(CallSummary);

impl Tally {
    /// Counts one attempt. The winner is the last successful attempt, so each success
    /// overwrites what an earlier one said.
    #[inline]
    pub(crate) fn add(&mut self, a: AttemptFacts) {
        let s = &mut self.0;
        if !a.budget_allowed {
            s.budget_denied += 1;
            return;
        }
        s.attempts += 1;
        if a.is_hedge {
            s.hedges += 1;
        } else if a.attempt > 0 {
            s.retries += 1;
        }
        if a.succeeded {
            s.first_try_success = a.attempt == 0;
            s.hedge_won = a.is_hedge;
        }
    }

    /// The summary of a call that `succeeded` or not (a failed call has no winner).
    #[inline]
    pub(crate) fn finish(self, succeeded: bool) -> CallSummary {
        let s = self.0;
        CallSummary {
            succeeded,
            first_try_success: succeeded && s.first_try_success,
            hedge_won: succeeded && s.hedge_won,
            ..s
        }
    }
}

impl CallSummary {
    /// A first attempt that succeeded on its own: no retry, no hedge, no budget denial (what
    /// `recourse tail --calls interesting` leaves out).
    pub fn is_routine(&self) -> bool {
        self.succeeded && self.attempts == 1 && self.budget_denied == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(attempt: u32, is_hedge: bool, budget_allowed: bool, succeeded: bool) -> AttemptFacts {
        AttemptFacts {
            attempt,
            is_hedge,
            budget_allowed,
            succeeded,
        }
    }

    #[test]
    fn retries_hedges_denials_and_the_winner() {
        // Attempt 0 fails; attempt 1's primary is slow, its hedge wins, the primary is
        // cancelled; a second hedge was refused by the hedge budget.
        let s = CallSummary::of(
            true,
            [
                a(0, false, true, false),
                a(1, true, false, false),
                a(1, true, true, true),
                a(1, false, true, false),
            ],
        );
        let want = CallSummary {
            succeeded: true,
            attempts: 3,
            retries: 1,
            hedges: 1,
            budget_denied: 1,
            first_try_success: false,
            hedge_won: true,
        };
        assert_eq!(s, want);
        assert!(!s.is_routine());
    }

    #[test]
    fn a_failed_call_has_no_winner() {
        let s = CallSummary::of(false, [a(0, false, true, true)]);
        assert!(!s.first_try_success && !s.hedge_won);
        assert!(!s.is_routine());
        let s = CallSummary::of(true, [a(0, false, true, true)]);
        assert!(s.first_try_success && !s.hedge_won);
        assert!(s.is_routine());
        // A denied hedge makes a first-try success worth a look.
        let s = CallSummary::of(true, [a(0, true, false, false), a(0, false, true, true)]);
        assert!(s.first_try_success && !s.is_routine());
    }
}
