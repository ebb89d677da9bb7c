//! The one call loop (Part 1 D2-D4): every call, observed or not, traced or not, runs here.
//!
//! Order per call (engine-behavior.md §4): resolve the policy, resolve the classifier, arm the
//! overall deadline, then per retry group: pre-attempt checks, budget gate, the attempt raced
//! against its timers and the caller's cancellation, classification, and the backoff. Timers are
//! armed only when a timeout is configured and the attempt is still pending after its first
//! poll; the clock is read once per attempt, and only when a deadline needs it; nothing is
//! allocated unless a timeline is recorded.

use std::any::Any;
use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::Inner;
use super::attempt::AttemptInfo;
use super::group::{Group, GroupEnd, run_group};
use super::keyed::{
    BudgetSlot, CircuitPlan, ClassifierSlot, Compiled, CompiledRef, KeyState, panic_message,
};
use super::mode::MissingMode;
use super::record::{Recorder, fallback_attributes};
use super::tap::tap;
use crate::budget::{BudgetEvent, BudgetKind, Decision, DecisionMode, Release, Request};
use crate::circuit::{Admission, Breaker, Probe};
use crate::classify::{Attempted, Classifier, Input, Kind, Verdict};
use crate::clock::{Clock, Sleep, Timestamp};
use crate::error::{Component, Error, Reason};
use crate::key::Key;
use crate::observe::{AttemptRecord, CallOutcome, Timeline};
use crate::provider::ProviderError;

/// What one call needs from its caller.
pub(crate) struct Call<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) state: &'a KeyState,
    /// A key handle's snapshot of the compiled policy, used while its generation is current.
    pub(crate) snapshot: Option<&'a Compiled>,
    /// The caller's options (cancellation, one attempt, no hedges), when it gave any.
    pub(crate) options: Option<&'a super::CallOptions>,
    /// Where to put the timeline, when the caller wants it.
    pub(crate) timeline: Option<&'a mut Option<Box<Timeline>>>,
}

/// What an attempt produced.
pub(crate) enum Output<T, E> {
    Value(T),
    Error(E),
    TimedOut,
}

impl<T: 'static, E: StdError + 'static> Output<T, E> {
    pub(crate) fn attempted(&self) -> Attempted<'_> {
        match self {
            Output::Value(v) => Attempted::Value(v as &dyn Any),
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

    pub(crate) fn into_error(self) -> Option<E> {
        match self {
            Output::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The error a call ends with when this output is its last word.
    pub(crate) fn terminal(self, reason: Reason) -> Error<E> {
        match self {
            Output::Value(_) => Error::Rejected { reason },
            Output::Error(error) => Error::Operation { error, reason },
            Output::TimedOut => Error::AttemptTimeout { reason },
        }
    }
}

pub(crate) enum Race<R> {
    Done(R),
    Timer,
    Canceled,
}

pin_project_lite::pin_project! {
    /// `fut` raced against an optional timer and the caller's cancellation (see [`race`]).
    ///
    /// A plain struct rather than an `async fn`: an `async fn` keeps its arguments and its
    /// locals apart, so the operation's future would be stored twice, and once more for every
    /// `async` block around it (a hedged group's members were three copies each).
    pub(crate) struct Racing<'a, F> {
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
        #[pin]
        cancelled: Option<WaitForCancellationFuture<'a>>,
        timer: Option<Timestamp>,
        clock: &'a Clock,
    }
}

impl<F: Future> Future for Racing<'_, F> {
    type Output = Race<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Race<F::Output>> {
        let this = self.project();
        poll_race(
            this.fut,
            this.sleep,
            this.cancelled,
            *this.timer,
            this.clock,
            cx,
        )
    }
}

/// One poll of a race: the caller's cancellation first (it wins ties), then the work, then
/// the timer (built at the first `Pending`).
fn poll_race<F: Future>(
    fut: Pin<&mut F>,
    sleep: Pin<&mut Option<Sleep>>,
    cancelled: Pin<&mut Option<WaitForCancellationFuture<'_>>>,
    timer: Option<Timestamp>,
    clock: &Clock,
    cx: &mut Context<'_>,
) -> Poll<Race<F::Output>> {
    if let Some(c) = cancelled.as_pin_mut()
        && c.poll(cx).is_ready()
    {
        return Poll::Ready(Race::Canceled);
    }
    if let Poll::Ready(r) = fut.poll(cx) {
        return Poll::Ready(Race::Done(r));
    }
    if let Some(at) = timer
        && timer_fired(sleep, clock, at, cx)
    {
        return Poll::Ready(Race::Timer);
    }
    Poll::Pending
}

/// Polls `fut` against an optional timer and the caller's cancellation (which wins ties).
///
/// The timer is armed only when `fut` first returns `Pending`: an attempt that completes on
/// its first poll never builds one (the deadline is absolute, so arming late changes nothing).
pub(crate) fn race<'a, F: Future>(
    fut: F,
    timer: Option<Timestamp>,
    clock: &'a Clock,
    cancel: Option<&'a CancellationToken>,
) -> Racing<'a, F> {
    Racing {
        fut,
        sleep: None,
        cancelled: cancel.map(CancellationToken::cancelled),
        timer,
        clock,
    }
}

/// [`race`] as an `async fn`, for the call loop's own single attempt and backoff (measured:
/// 10-15 ns faster there than the struct, which is built and then moved into the loop's
/// state). A hedged group's members use the struct: it keeps each member's future once.
async fn race_in_place<F: Future>(
    fut: F,
    timer: Option<Timestamp>,
    clock: &Clock,
    cancel: Option<&CancellationToken>,
) -> Race<F::Output> {
    let mut fut = pin!(fut);
    let mut sleep = pin!(None::<Sleep>);
    let mut cancelled = pin!(cancel.map(CancellationToken::cancelled));
    poll_fn(|cx| {
        poll_race(
            fut.as_mut(),
            sleep.as_mut(),
            cancelled.as_mut(),
            timer,
            clock,
            cx,
        )
    })
    .await
}

/// Polls the timer in `slot`, building it for `at` on first use: callers poll their work first,
/// so work that finishes on its first poll never builds one.
pub(crate) fn timer_fired(
    mut slot: Pin<&mut Option<Sleep>>,
    clock: &Clock,
    at: Timestamp,
    cx: &mut Context<'_>,
) -> bool {
    if slot.is_none() {
        slot.set(Some(clock.sleep_until(at)));
    }
    slot.as_pin_mut().is_some_and(|t| t.poll(cx).is_ready())
}

/// The outcome of a budget gate.
pub(crate) enum Gate {
    Pass {
        reason: Reason,
        release: Option<Release>,
    },
    Denied {
        budget: Arc<str>,
        reason: Reason,
        /// The budget panicked (with `recover_panics`): its message.
        panic: Option<String>,
    },
}

pub(crate) struct GateRequest<'a> {
    pub(crate) inner: &'a Inner,
    /// The attempt's clock reading, when its caller has one (else the gate reads the clock).
    pub(crate) now: Option<Timestamp>,
    pub(crate) key: &'a Key,
    pub(crate) attempt: u32,
    pub(crate) hedge_index: u32,
    pub(crate) kind: BudgetKind,
}

impl GateRequest<'_> {
    /// Asks the budget of `slot` about one attempt and reports the decision (§6.3, D19, D20).
    #[inline]
    pub(crate) fn ask(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate {
        if let BudgetSlot::None = slot {
            return Gate::Pass {
                reason: Reason::NO_BUDGET,
                release: None,
            };
        }
        self.ask_budget(slot, rec)
    }

    fn ask_budget(&self, slot: &BudgetSlot, rec: &Recorder<'_>) -> Gate {
        let (name, cost, gate_first) = match slot {
            BudgetSlot::None => {
                return Gate::Pass {
                    reason: Reason::NO_BUDGET,
                    release: None,
                };
            }
            BudgetSlot::Found {
                name,
                cost,
                gate_first,
                ..
            }
            | BudgetSlot::Missing {
                name,
                cost,
                gate_first,
            } => (name, *cost, *gate_first),
        };
        let req = Request {
            key: self.key,
            attempt: self.attempt,
            hedge_index: self.hedge_index,
            kind: self.kind,
            cost,
            now: self.now.unwrap_or_else(|| self.inner.clock.now()),
        };
        let ungated = self.kind == BudgetKind::Retry && self.attempt == 0 && !gate_first;
        let mut panic = None;
        let (mode, decision) = match slot {
            BudgetSlot::Found { budget, .. } if ungated => {
                budget.record_first_attempt(&req);
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                };
            }
            _ if ungated => {
                return Gate::Pass {
                    reason: Reason::NOT_GATED,
                    release: None,
                };
            }
            BudgetSlot::Found { budget, .. } => {
                let decision = if self.inner.recover_panics {
                    catch_unwind(AssertUnwindSafe(|| budget.allow(&req))).unwrap_or_else(|p| {
                        panic = Some(panic_message(&*p));
                        Decision {
                            allowed: false,
                            reason: Reason::PANIC_IN_BUDGET,
                            release: None,
                        }
                    })
                } else {
                    budget.allow(&req)
                };
                (DecisionMode::Standard, decision)
            }
            _ => {
                let mode = self.inner.modes.budget;
                let decision = Decision {
                    allowed: mode != MissingMode::Deny,
                    reason: Reason::BUDGET_NOT_FOUND,
                    release: None,
                };
                (DecisionMode::Missing(mode), decision)
            }
        };
        let Decision {
            allowed,
            mut reason,
            release,
        } = decision;
        if reason.as_str().is_empty() {
            reason = if allowed {
                Reason::ALLOWED
            } else {
                Reason::BUDGET_DENIED
            };
        }
        if let Some(o) = rec.observer() {
            o.on_budget_decision(&BudgetEvent {
                key: self.key,
                attempt: self.attempt,
                hedge_index: self.hedge_index,
                kind: self.kind,
                budget: name,
                cost,
                mode,
                allowed,
                reason: reason.clone(),
            });
        }
        if allowed {
            Gate::Pass { reason, release }
        } else {
            if let Some(r) = release {
                r.forget();
            }
            Gate::Denied {
                budget: name.clone(),
                reason,
                panic,
            }
        }
    }
}

/// Classifies an output; a panicking classifier with `recover_panics` gives `Err(message)`.
pub(crate) fn classify<T: 'static, E: StdError + 'static>(
    inner: &Inner,
    classifier: &dyn Classifier,
    output: &Output<T, E>,
) -> Result<Verdict, String> {
    let input = Input {
        result: output.attempted(),
        error_type: std::any::type_name::<E>(),
        clock: &inner.clock,
    };
    let mut verdict = if inner.recover_panics {
        catch_unwind(AssertUnwindSafe(|| classifier.classify(&input)))
            .map_err(|p| panic_message(&*p))?
    } else {
        classifier.classify(&input)
    };
    verdict.settle();
    Ok(verdict)
}

pub(crate) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> (Option<Timestamp>, bool) {
    match (a, b) {
        (Some(a), Some(b)) if b <= a => (Some(b), true),
        (Some(a), _) => (Some(a), false),
        (None, b) => (b, b.is_some()),
    }
}

/// The record of an executed attempt (times, indexes and backoff are filled by the caller).
pub(crate) fn executed_record<T: 'static, E: StdError + 'static>(
    output: &Output<T, E>,
    verdict: &Verdict,
    fallback_from: Option<&str>,
    budget_reason: Reason,
) -> AttemptRecord {
    let mut attributes = verdict.attributes.clone();
    if let Some(requested) = fallback_from {
        fallback_attributes(&mut attributes, requested);
    }
    AttemptRecord {
        outcome: verdict.kind,
        reason: verdict.reason.clone(),
        attributes,
        error: output.error_text(),
        budget_allowed: true,
        budget_reason,
        ..AttemptRecord::default()
    }
}

/// What a finished call tells its circuit breaker (Part 1 D8, D10).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict4Circuit {
    Success,
    Failure,
    /// Cancellation, abort, budget denial, panic: no verdict (a probe's slot is freed).
    Nothing,
}

/// The call's breaker, when its policy has one.
struct Circuit<'a> {
    breaker: Option<(&'a Breaker, CircuitPlan)>,
    probe: Option<Probe<'a>>,
}

impl Circuit<'_> {
    #[inline]
    fn report(&mut self, verdict: Verdict4Circuit, rec: &Recorder<'_>, clock: &Clock) {
        if let Some((breaker, plan)) = self.breaker {
            self.report_to(breaker, plan, verdict, rec, clock);
        }
    }

    fn report_to(
        &mut self,
        breaker: &Breaker,
        plan: CircuitPlan,
        verdict: Verdict4Circuit,
        rec: &Recorder<'_>,
        clock: &Clock,
    ) {
        let transition = match (verdict, self.probe.take()) {
            (Verdict4Circuit::Success, Some(p)) => Some(p.success()),
            (Verdict4Circuit::Failure, Some(p)) => Some(p.failure(clock.now())),
            (Verdict4Circuit::Success, None) => {
                breaker.record_success();
                None
            }
            (Verdict4Circuit::Failure, None) => breaker.record_failure(clock.now(), plan.threshold),
            (Verdict4Circuit::Nothing, _) => None, // a probe is dropped: its slot is freed
        };
        rec.circuit_change(transition);
    }
}

/// Ends the call: tells the breaker, then the recorder.
fn done<T, E: StdError>(
    rec: &mut Recorder<'_>,
    circuit: &mut Circuit<'_>,
    clock: &Clock,
    result: Result<T, Error<E>>,
    verdict: Verdict4Circuit,
) -> Result<T, Error<E>> {
    circuit.report(verdict, rec, clock);
    let outcome = if verdict == Verdict4Circuit::Success {
        CallOutcome::Success
    } else {
        CallOutcome::Failure
    };
    rec.finish(result, outcome)
}

/// Marks a call that runs one attempt because its request cannot be sent twice (kept out of
/// line: the common path never takes it).
#[cold]
#[inline(never)]
fn not_replayable(rec: &mut Recorder<'_>) {
    rec.attribute("replayable", "false");
}

/// Runs one call to the end. `first_error` is what a bare first attempt ([`super::first`])
/// failed with: the loop takes it as attempt 0's outcome, under the policy that attempt ran
/// with, instead of invoking the operation.
pub(crate) async fn run<T, E, F, Fut>(
    call: Call<'_>,
    mut op: F,
    mut first_error: Option<E>,
) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    use Verdict4Circuit::{Failure, Nothing, Success};

    let Call {
        inner,
        state,
        snapshot,
        options,
        timeline,
    } = call;
    let cancel = options.and_then(|o| o.cancel.as_ref());
    let (once, no_hedges) = options.map_or((false, false), |o| (o.once, o.no_hedges));
    let clock = &inner.clock;
    let key = &state.key;
    // A call whose first attempt ran bare records nothing, even if a `tail` client has
    // subscribed since: its start went unrecorded.
    let tap = tap(inner, state).filter(|_| first_error.is_none());
    let mut rec = Recorder::new(key, clock, inner.observer.as_deref(), timeline, tap);

    let current =
        snapshot.filter(|c| first_error.is_some() || c.generation == inner.provider.generation());
    let mut fetched = false;
    // A handle's current snapshot is used through a plain reference: no enum is built and
    // moved on that path (the move cost a store-forwarding stall).
    let mut held: Option<CompiledRef> = None;
    let compiled: &Compiled = match current {
        Some(c) => c,
        None => {
            let resolved = match state.current(inner) {
                Some(current) => Ok(current),
                None => {
                    // A provider may need to fetch first (bounded by its own timeout).
                    if let Some(prepare) = inner.provider.prepare(key) {
                        prepare.await;
                        fetched = true;
                    }
                    state.compiled(inner)
                }
            };
            match resolved {
                Ok(c) => held.insert(c),
                Err(source) => {
                    rec.start(None);
                    let err = match source {
                        ProviderError::Panicked { message } => Error::Panicked {
                            component: Component::PolicyProvider,
                            message,
                        },
                        source => Error::NoPolicy {
                            key: key.clone(),
                            source: Box::new(source),
                        },
                    };
                    return rec.finish(Err(err), CallOutcome::Failure);
                }
            }
        }
    };
    rec.start(Some(compiled));

    // One breaker admission per call, before the classifier (§4.3).
    let mut circuit = Circuit {
        breaker: compiled.circuit.map(|plan| (&state.runtime.breaker, plan)),
        probe: None,
    };
    let mut hedge = compiled.hedge.as_ref();
    let mut max_attempts = compiled.max_attempts;
    if once | no_hedges {
        hedge = None;
        if once {
            max_attempts = 1;
            not_replayable(&mut rec);
        }
    }
    if let Some((breaker, plan)) = circuit.breaker {
        let (admission, transition) = breaker.admit(|| clock.now(), plan.cooldown);
        rec.circuit_change(transition);
        match admission {
            Admission::Closed => {}
            Admission::Probe(p) => {
                circuit.probe = Some(p);
                hedge = None; // the probe runs alone (§7.5)
            }
            Admission::Rejected(state, reason) => {
                rec.attribute("circuit_state", state.as_str());
                return rec.finish(
                    Err(Error::CircuitOpen { state, reason }),
                    CallOutcome::Failure,
                );
            }
        }
    }
    let tracker = compiled.hedge.as_ref().map(|_| state.runtime.tracker());

    let (classifier, fallback_from): (&dyn Classifier, Option<&str>) = match &compiled.classifier {
        ClassifierSlot::Found(c) => (&**c, None),
        ClassifierSlot::Fallback {
            requested,
            classifier,
        } => (&**classifier, Some(requested)),
        ClassifierSlot::Missing { requested } => {
            rec.attribute("classifier_name", requested);
            rec.attribute("classifier_error", Reason::CLASSIFIER_NOT_FOUND.as_str());
            let err = Error::NoClassifier {
                name: requested.clone(),
            };
            return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
        }
    };

    // The clock is read once per attempt, and only when something needs it (a deadline, the
    // timeline, a budget, the latency tracker); the first attempt shares the reading that
    // armed the overall deadline, which is the timeline's opening one when a timeline is
    // recorded and no policy had to be fetched.
    let reads_clock = compiled.reads_clock || rec.on();
    let mut now = match rec.opened_at() {
        Some(opened) if !fetched => Some(opened),
        _ => reads_clock.then(|| clock.now()),
    };
    let deadline = compiled.overall_timeout.zip(now).map(|(d, n)| n.plus(d));
    let mut base = compiled.backoff.initial;
    let mut slept = Duration::ZERO;
    let mut last_err: Option<E> = None;
    let mut attempt = 0u32;
    loop {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            let err = Error::Canceled { last: last_err };
            return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
        }
        let now = match now.take() {
            Some(n) => Some(n),
            None if reads_clock => Some(clock.now()),
            None => None,
        };
        if let (Some(d), Some(n)) = (deadline, now)
            && n >= d
        {
            let err = Error::DeadlineExceeded {
                reason: Reason::CONTEXT_DEADLINE_EXCEEDED,
                last: last_err,
            };
            return done(&mut rec, &mut circuit, clock, Err(err), Failure);
        }
        let started = now.filter(|_| rec.on()).unwrap_or(Timestamp::EPOCH);

        let gate = GateRequest {
            inner,
            now,
            key,
            attempt,
            hedge_index: 0,
            kind: BudgetKind::Retry,
        };
        let (budget_reason, release) = match gate.ask(&compiled.retry_budget, &rec) {
            Gate::Pass { reason, release } => (reason, release),
            Gate::Denied {
                budget,
                reason,
                panic,
            } => {
                rec.attempt(|| AttemptRecord {
                    attempt,
                    start: started,
                    end: clock.now(),
                    outcome: Kind::Abort,
                    reason: reason.clone(),
                    backoff: slept,
                    budget_allowed: false,
                    budget_reason: reason.clone(),
                    ..AttemptRecord::default()
                });
                let err = match panic {
                    Some(message) => Error::Panicked {
                        component: Component::Budget,
                        message,
                    },
                    None => Error::BudgetDenied {
                        budget,
                        reason,
                        last: last_err,
                    },
                };
                return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
            }
        };

        let (output, verdict) = if let (Some(plan), Some(tracker)) = (hedge, tracker) {
            // A hedged group: the primary plus hedges, polled together.
            let group = Group {
                inner,
                key,
                compiled,
                plan,
                classifier,
                fallback_from,
                tracker,
                cancel,
                deadline,
                attempt,
                slept,
                primary_budget: (budget_reason, release),
                primary_started: started,
                started_at: now.unwrap_or_else(|| clock.now()),
            };
            let end = run_group(group, &mut rec, &mut op).await;
            rec.waited();
            match end {
                GroupEnd::Verdict(output, verdict) => (output, verdict),
                GroupEnd::Canceled => {
                    let err = Error::Canceled { last: last_err };
                    return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
                }
                GroupEnd::Deadline => {
                    let err = Error::DeadlineExceeded {
                        reason: Reason::CONTEXT_DEADLINE_EXCEEDED,
                        last: last_err,
                    };
                    return done(&mut rec, &mut circuit, clock, Err(err), Failure);
                }
                GroupEnd::Panicked(message) => {
                    let err = Error::Panicked {
                        component: Component::Classifier,
                        message,
                    };
                    return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
                }
            }
        } else {
            // A single attempt.
            let attempt_start = match now {
                Some(n) if tracker.is_some() => n,
                _ => started,
            };
            let attempt_deadline = compiled
                .timeout_per_attempt
                .zip(now)
                .map(|(d, n)| n.plus(d));
            let (timer, timer_is_overall) = earliest(attempt_deadline, deadline);
            let info = AttemptInfo {
                attempt,
                hedge_index: 0,
                is_hedge: false,
                policy_id: compiled.policy_id(),
                deadline: timer,
            };
            let raced = if let Some(e) = first_error.take() {
                Race::Done(Err(e))
            } else if timer.is_none() && cancel.is_none() {
                // Nothing to race against: no timer armed, nothing polled but the attempt.
                Race::Done(op(info).await)
            } else {
                race_in_place(op(info), timer, clock, cancel).await
            };
            if let Some(r) = release {
                r.run();
            }
            let aborted = |rec: &mut Recorder<'_>, reason: Reason| {
                rec.attempt(|| AttemptRecord {
                    attempt,
                    start: started,
                    end: clock.now(),
                    outcome: Kind::Abort,
                    reason,
                    backoff: slept,
                    budget_allowed: true,
                    budget_reason: budget_reason.clone(),
                    ..AttemptRecord::default()
                });
            };
            let output = match raced {
                Race::Done(Ok(v)) => Output::Value(v),
                Race::Done(Err(e)) => Output::Error(e),
                Race::Timer if !timer_is_overall => Output::TimedOut,
                Race::Timer => {
                    aborted(&mut rec, Reason::CONTEXT_DEADLINE_EXCEEDED);
                    let err = Error::DeadlineExceeded {
                        reason: Reason::CONTEXT_DEADLINE_EXCEEDED,
                        last: last_err,
                    };
                    return done(&mut rec, &mut circuit, clock, Err(err), Failure);
                }
                Race::Canceled => {
                    aborted(&mut rec, Reason::CONTEXT_CANCELED);
                    let err = Error::Canceled { last: last_err };
                    return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
                }
            };
            // One reading ends the attempt for the tracker and the timeline alike.
            let ended = (tracker.is_some() || rec.on()).then(|| clock.now());
            if let (Some(tracker), Some(ended)) = (tracker, ended) {
                tracker.record(ended.since(attempt_start));
            }
            // A value under a classifier that calls every value a success, on a call nobody
            // records: nothing to classify or record.
            let output = match output {
                Output::Value(v) if !rec.on() && compiled.values_succeed => {
                    // The value goes straight back: moving it through `done` as a `Result`
                    // cost a store-forwarding stall (a third of this path's time).
                    circuit.report(Success, &rec, clock);
                    rec.finish_unrecorded();
                    return Ok(v);
                }
                other => other,
            };
            // The caller's cancellation wins over a failed attempt that raced it (§4.8 rule 1).
            if !matches!(output, Output::Value(_))
                && cancel.is_some_and(CancellationToken::is_cancelled)
            {
                aborted(&mut rec, Reason::CONTEXT_CANCELED);
                let last = output.into_error().or(last_err);
                return done(
                    &mut rec,
                    &mut circuit,
                    clock,
                    Err(Error::Canceled { last }),
                    Nothing,
                );
            }
            let verdict = match classify(inner, classifier, &output) {
                Ok(v) => v,
                Err(message) => {
                    aborted(&mut rec, Reason::PANIC_IN_CLASSIFIER);
                    let err = Error::Panicked {
                        component: Component::Classifier,
                        message,
                    };
                    return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
                }
            };
            rec.attempt(|| {
                let mut r =
                    executed_record(&output, &verdict, fallback_from, budget_reason.clone());
                r.attempt = attempt;
                r.start = started;
                r.end = ended.unwrap_or_else(|| clock.now());
                r.backoff = slept;
                r
            });
            (output, verdict)
        };

        match verdict.kind {
            Kind::Success => {
                let result = match output {
                    Output::Value(v) => Ok(v),
                    other => Err(other.terminal(verdict.reason)),
                };
                return done(&mut rec, &mut circuit, clock, result, Success);
            }
            Kind::Abort | Kind::Unknown => {
                let err = output.terminal(verdict.reason);
                return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
            }
            Kind::NonRetryable => {
                let err = output.terminal(verdict.reason);
                return done(&mut rec, &mut circuit, clock, Err(err), Failure);
            }
            Kind::Retryable if attempt + 1 >= max_attempts => {
                let err = output.terminal(verdict.reason);
                return done(&mut rec, &mut circuit, clock, Err(err), Failure);
            }
            Kind::Retryable => {}
        }

        let (wait, from_server) = match verdict.backoff_override {
            Some(d) => (d.min(compiled.max_retry_after), true),
            None => (compiled.backoff.sleep_for(base, &inner.rng), false),
        };
        if let Some(d) = deadline
            && clock.now().plus(wait) >= d
        {
            let reason = if from_server {
                Reason::RETRY_AFTER_EXCEEDS_DEADLINE
            } else {
                Reason::BACKOFF_EXCEEDS_DEADLINE
            };
            let err = Error::DeadlineExceeded {
                reason,
                last: output.into_error(),
            };
            return done(&mut rec, &mut circuit, clock, Err(err), Failure);
        }
        last_err = output.into_error();
        rec.waited();
        if !wait.is_zero()
            && let Race::Canceled = race_in_place(clock.sleep(wait), None, clock, cancel).await
        {
            let err = Error::Canceled { last: last_err };
            return done(&mut rec, &mut circuit, clock, Err(err), Nothing);
        }
        slept = wait;
        base = compiled.backoff.next(base);
        attempt += 1;
    }
}
