//! The call loop's decisions, apart from its effects.
//!
//! Given what just happened to a call ([`Outcome`]) and how far it has come ([`Progress`]),
//! [`decide`] says what happens next ([`Step`]): a wait before another attempt, or the end
//! of the call with its result and what its circuit breaker hears; [`waited`] moves a call on
//! after its wait. It reads no clock, draws no
//! random number and calls nothing: the loop in `run` performs each step (attempts, waits,
//! timers, budgets, recording) and reports back, for a single attempt and a hedged group alike.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use crate::classify::{Attempted, Kind, Verdict};
use crate::error::{CircuitState, Component, Error, Reason};
use crate::key::Key;
use crate::provider::ProviderError;

/// What an attempt produced.
pub(crate) enum Output<T, E> {
    Value(T),
    Error(E),
    TimedOut,
}

impl<T: 'static, E: StdError + 'static> Output<T, E> {
    pub(crate) fn attempted(&self) -> Attempted<'_> {
        match self {
            Output::Value(v) => Attempted::Value(v as &dyn std::any::Any),
            Output::Error(e) => Attempted::Error(e),
            Output::TimedOut => Attempted::TimedOut,
        }
    }

    pub(crate) fn error_text(&self) -> Option<String> {
        match self {
            Output::Error(e) => Some(e.to_string()),
            _ => None,
        }
    }
}

impl<T, E> Output<T, E> {
    pub(crate) fn into_error(self) -> Option<E> {
        match self {
            Output::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The error a call ends with when this output is its last word.
    fn terminal(self, reason: Reason) -> Error<E> {
        match self {
            Output::Value(_) => Error::Rejected { reason },
            Output::Error(error) => Error::Operation { error, reason },
            Output::TimedOut => Error::AttemptTimeout { reason },
        }
    }
}

/// How far a call has come.
#[derive(Debug)]
pub(crate) struct Progress<E> {
    /// The retry group running or about to run, from 0.
    pub(crate) attempt: u32,
    /// Retry groups the call may run (1 for a call that must not be sent twice).
    pub(crate) max_attempts: u32,
    /// The last failed attempt's error: what a later deadline, budget denial or cancellation
    /// returns with it.
    pub(crate) last: Option<E>,
}

impl<E> Progress<E> {
    pub(crate) fn new(max_attempts: u32) -> Progress<E> {
        Progress {
            attempt: 0,
            max_attempts,
            last: None,
        }
    }
}

/// What just happened to a call.
pub(crate) enum Outcome<T, E> {
    /// An attempt, or a hedged group, finished and was classified.
    Classified(Output<T, E>, Verdict),
    /// The caller cancelled; with the error of the attempt that failed as it did, if one did.
    Canceled(Option<E>),
    /// The overall deadline passed, before an attempt or during one.
    DeadlineExceeded,
    /// The wait before the next attempt would end past the overall deadline; `from_server`
    /// when the server asked for that wait (Retry-After).
    WaitPastDeadline { from_server: bool },
    /// The attempt's budget refused it.
    Denied { budget: Arc<str>, reason: Reason },
    /// A budget, a classifier or the policy provider panicked (with `recover_panics`).
    Panicked(Component, String),
    /// No policy could be had for the key, and the missing-policy mode refuses the call.
    NoPolicy(Key, ProviderError),
    /// The circuit breaker refused the call.
    CircuitOpen(CircuitState, Reason),
    /// The policy names a classifier nobody registered.
    NoClassifier(String),
}

/// What the breaker hears of a finished call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    Success,
    Failure,
    /// Cancellation, abort, budget denial, panic: no verdict (a probe's slot is freed).
    Nothing,
}

/// What happens next.
pub(crate) enum Step<T, E> {
    /// Wait before the next attempt: what the server asked for, else the policy's backoff.
    Wait { requested: Option<Duration> },
    /// The call ends.
    End(Result<T, Error<E>>, Heard),
}

/// The next step of a call after `outcome`.
///
/// The steps every retried call takes (a value called a success, a retry) are decided inline,
/// in the loop; the rest, which end the call, out of line. The end of a wait is [`waited`].
#[inline(always)]
pub(crate) fn decide<T, E>(outcome: Outcome<T, E>, progress: &mut Progress<E>) -> Step<T, E> {
    match outcome {
        Outcome::Classified(output, mut verdict) => classified(output, &mut verdict, progress),
        other => end(other, progress),
    }
}

/// [`decide`] on an attempt (or a hedged group) and its verdict. The verdict is read where it
/// lies, not moved: it was written a moment ago by the classifier, and a wide copy of it
/// stalls on those writes. It is taken only when the call ends on it.
#[inline(always)]
pub(crate) fn classified<T, E>(
    output: Output<T, E>,
    verdict: &mut Verdict,
    progress: &mut Progress<E>,
) -> Step<T, E> {
    match output {
        Output::Value(value) if verdict.kind == Kind::Success => {
            Step::End(Ok(value), Heard::Success)
        }
        output
            if verdict.kind == Kind::Retryable && progress.attempt + 1 < progress.max_attempts =>
        {
            progress.last = output.into_error();
            Step::Wait {
                requested: verdict.backoff_override,
            }
        }
        // The end reads only the kind and the reason: the verdict is not moved whole.
        output => {
            let (error, heard) =
                verdict_end(output, verdict.kind, std::mem::take(&mut verdict.reason));
            Step::End(error, heard)
        }
    }
}

/// A wait ([`Step::Wait`]) that ended as it should: the next attempt is the next group. Not an
/// [`Outcome`] for [`decide`], so the common retry does not build and move one only to learn
/// that.
#[inline(always)]
pub(crate) fn waited<E>(progress: &mut Progress<E>) {
    progress.attempt += 1;
}

/// The end of a call on a classified attempt: its result and what its breaker hears.
#[inline]
fn verdict_end<T, E>(
    output: Output<T, E>,
    kind: Kind,
    reason: Reason,
) -> (Result<T, Error<E>>, Heard) {
    match kind {
        Kind::Success => match output {
            Output::Value(value) => (Ok(value), Heard::Success),
            // A classifier may call an error a success; the call still has no value.
            other => (Err(other.terminal(reason)), Heard::Success),
        },
        Kind::Retryable | Kind::NonRetryable => (Err(output.terminal(reason)), Heard::Failure),
        Kind::Abort | Kind::Unknown => (Err(output.terminal(reason)), Heard::Nothing),
    }
}

/// The end of a call: the error it returns and what its breaker hears.
#[inline(never)]
fn end<T, E>(outcome: Outcome<T, E>, progress: &mut Progress<E>) -> Step<T, E> {
    let last = &mut progress.last;
    let (error, heard) = match outcome {
        Outcome::Classified(output, verdict) => {
            let (result, heard) = verdict_end(output, verdict.kind, verdict.reason);
            return Step::End(result, heard);
        }
        Outcome::Canceled(error) => {
            let last = error.or_else(|| last.take());
            (Error::Canceled { last }, Heard::Nothing)
        }
        Outcome::DeadlineExceeded => (
            Error::DeadlineExceeded {
                reason: Reason::CONTEXT_DEADLINE_EXCEEDED,
                last: last.take(),
            },
            Heard::Failure,
        ),
        Outcome::WaitPastDeadline { from_server } => (
            Error::DeadlineExceeded {
                reason: if from_server {
                    Reason::RETRY_AFTER_EXCEEDS_DEADLINE
                } else {
                    Reason::BACKOFF_EXCEEDS_DEADLINE
                },
                last: last.take(),
            },
            Heard::Failure,
        ),
        Outcome::Denied { budget, reason } => (
            Error::BudgetDenied {
                budget,
                reason,
                last: last.take(),
            },
            Heard::Nothing,
        ),
        Outcome::Panicked(component, message) => {
            (Error::Panicked { component, message }, Heard::Nothing)
        }
        Outcome::NoPolicy(key, source) => (
            Error::NoPolicy {
                key,
                source: Box::new(source),
            },
            Heard::Nothing,
        ),
        Outcome::CircuitOpen(state, reason) => {
            (Error::CircuitOpen { state, reason }, Heard::Nothing)
        }
        Outcome::NoClassifier(name) => (Error::NoClassifier { name }, Heard::Nothing),
    };
    Step::End(Err(error), heard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Failed(u32);

    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failed {}", self.0)
        }
    }

    impl StdError for Failed {}

    type Next = Step<&'static str, Failed>;

    fn classified(
        output: Output<&'static str, Failed>,
        kind: Kind,
    ) -> Outcome<&'static str, Failed> {
        Outcome::Classified(output, Verdict::new(kind, Reason::new("r")))
    }

    fn ended(step: Next) -> (Result<&'static str, Error<Failed>>, Heard) {
        match step {
            Step::End(result, heard) => (result, heard),
            Step::Wait { .. } => panic!("a wait"),
        }
    }

    #[test]
    fn a_value_called_a_success_ends_the_call_with_it() {
        let mut p = Progress::new(3);
        let (result, heard) = ended(decide(
            classified(Output::Value("ok"), Kind::Success),
            &mut p,
        ));
        assert_eq!(result.unwrap(), "ok");
        assert_eq!(heard, Heard::Success);
    }

    #[test]
    fn a_retryable_failure_waits_then_runs_the_next_attempt_until_attempts_run_out() {
        let mut p = Progress::new(2);
        let step = decide(
            classified(Output::Error(Failed(0)), Kind::Retryable),
            &mut p,
        );
        assert!(matches!(step, Step::Wait { requested: None }));
        assert_eq!(
            p.last,
            Some(Failed(0)),
            "kept for a later deadline or cancellation"
        );
        waited(&mut p);
        assert_eq!(p.attempt, 1);
        let (result, heard) = ended(decide(
            classified(Output::Error(Failed(1)), Kind::Retryable),
            &mut p,
        ));
        assert!(matches!(
            result,
            Err(Error::Operation {
                error: Failed(1),
                ..
            })
        ));
        assert_eq!(heard, Heard::Failure);
    }

    #[test]
    fn a_server_requested_wait_is_passed_on() {
        let mut p = Progress::new(3);
        let verdict =
            Verdict::new(Kind::Retryable, Reason::HTTP_429).with_backoff(Duration::from_secs(2));
        let step = decide::<&str, Failed>(Outcome::Classified(Output::TimedOut, verdict), &mut p);
        assert!(matches!(
            step,
            Step::Wait { requested: Some(d) } if d == Duration::from_secs(2)
        ));
    }

    #[test]
    fn each_kind_tells_the_breaker_what_it_means() {
        for (kind, heard) in [
            (Kind::NonRetryable, Heard::Failure),
            (Kind::Abort, Heard::Nothing),
            (Kind::Unknown, Heard::Nothing),
        ] {
            let mut p = Progress::new(3);
            let (result, h) = ended(decide(classified(Output::Error(Failed(0)), kind), &mut p));
            assert!(matches!(result, Err(Error::Operation { .. })), "{kind:?}");
            assert_eq!(h, heard, "{kind:?}");
        }
        let mut p = Progress::new(3);
        let (result, heard) = ended(decide(classified(Output::TimedOut, Kind::Success), &mut p));
        assert!(matches!(result, Err(Error::AttemptTimeout { .. })));
        assert_eq!(
            heard,
            Heard::Success,
            "the classifier's word stands for the breaker"
        );
    }

    #[test]
    fn a_deadline_budget_or_cancellation_returns_the_last_error() {
        let outcomes: [fn() -> Outcome<&'static str, Failed>; 3] = [
            || Outcome::DeadlineExceeded,
            || Outcome::Denied {
                budget: Arc::from("b"),
                reason: Reason::BUDGET_DENIED,
            },
            || Outcome::Canceled(None),
        ];
        for outcome in outcomes {
            let mut p = Progress::new(3);
            p.last = Some(Failed(7));
            let (result, _) = ended(decide(outcome(), &mut p));
            let last = match result {
                Err(Error::DeadlineExceeded { last, .. })
                | Err(Error::BudgetDenied { last, .. })
                | Err(Error::Canceled { last }) => last,
                _ => panic!("unexpected result"),
            };
            assert_eq!(last, Some(Failed(7)));
        }
        // An attempt that failed as the cancellation came: its own error.
        let mut p = Progress::new(3);
        p.last = Some(Failed(7));
        let (result, heard) = ended(decide::<&str, _>(
            Outcome::Canceled(Some(Failed(8))),
            &mut p,
        ));
        assert!(matches!(
            result,
            Err(Error::Canceled {
                last: Some(Failed(8))
            })
        ));
        assert_eq!(heard, Heard::Nothing);
    }

    #[test]
    fn a_wait_past_the_deadline_says_who_asked_for_it() {
        for (from_server, reason) in [
            (true, Reason::RETRY_AFTER_EXCEEDS_DEADLINE),
            (false, Reason::BACKOFF_EXCEEDS_DEADLINE),
        ] {
            let mut p = Progress::new(3);
            let (result, heard) = ended(decide::<&str, Failed>(
                Outcome::WaitPastDeadline { from_server },
                &mut p,
            ));
            assert!(
                matches!(result, Err(Error::DeadlineExceeded { reason: r, .. }) if r == reason)
            );
            assert_eq!(heard, Heard::Failure);
        }
    }
}
