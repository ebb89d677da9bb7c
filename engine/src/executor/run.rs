//! The one call loop: every call, observed or not, traced or not, runs here.
//!
//! Order per call: resolve the policy, admit the call through its breaker, resolve the
//! classifier, arm the overall deadline; then per retry group: the pre-attempt checks, the
//! budget gate, the attempt (or hedged group) raced against its timers and the caller's
//! cancellation, its classification, and the wait before the next one. Each step ends in an
//! [`Outcome`]; [`decide`] says what follows, and every call ends in one place.
//!
//! Timers are armed only when a timeout is configured and the attempt is still pending after
//! its first poll; the clock is read once per attempt, and only when something needs it;
//! nothing is allocated unless a timeline is recorded.

use std::error::Error as StdError;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Inner;
use super::attempt::AttemptInfo;
use super::backoff::Base;
use super::bulkhead::Bulkhead;
use super::decide::{Heard, Outcome, Output, Progress, Step, decide, waited};
use super::gate::{Gate, GateRequest};
use super::group::{Group, GroupEnd, run_group};
use super::keyed::{CircuitPlan, ClassifierSlot, Compiled, CompiledRef, KeyState, panic_message};
use super::manual::{self, ManualControl};
use super::race::{Race, race_in_place};
use super::record::{Recorder, fallback_attributes};
use super::tap::tap;
use crate::budget::{AttemptOutcome, BudgetKind};
use crate::circuit::{Admission, Breaker, Probe};
use crate::classify::{Classifier, Input, Kind, Verdict};
use crate::clock::{Clock, Timestamp};
use crate::error::{CircuitState, Component, Error, Reason};
use crate::observe::{AttemptRecord, CallOutcome, Timeline};
use crate::provider::ProviderError;

/// What one call needs from its caller.
pub(crate) struct Call<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) state: &'a KeyState,
    /// The compiled policy the call starts with, used while its generation is current: a key
    /// handle's snapshot, a key's one policy given in code, or the key's cached policy that a
    /// call by key holds for its length.
    pub(crate) snapshot: Option<&'a Compiled>,
    /// The caller's options (cancellation, one attempt, no hedges), when it gave any.
    pub(crate) options: Option<&'a super::CallOptions>,
    /// Where to put the timeline, when the caller wants it.
    pub(crate) timeline: Option<&'a mut Timeline>,
}

/// Classifies an output; a panicking classifier with `recover_panics` gives `Err(message)`.
pub(crate) fn classify<T: 'static, E: StdError + 'static>(
    inner: &Inner,
    classifier: &dyn Classifier,
    output: &Output<T, E>,
) -> Result<Verdict, String> {
    let input = input_of(inner, output);
    let mut verdict = if inner.recover_panics {
        catch_unwind(AssertUnwindSafe(|| classifier.classify(&input)))
            .map_err(|p| panic_message(&*p))?
    } else {
        classifier.classify(&input)
    };
    verdict.settle();
    Ok(verdict)
}

/// What a classifier is given for `output`.
///
/// A caller on a hot path classifies in place, `classifier.classify(&input_of(..))` then
/// [`Verdict::settle`], rather than through a function that returns the verdict: a verdict
/// returned from a function is copied on the way out, and a copy of one just written field by
/// field stalls on those writes (about 5 ns an attempt).
#[inline(always)]
pub(crate) fn input_of<'a, T: 'static, E: StdError + 'static>(
    inner: &'a Inner,
    output: &'a Output<T, E>,
) -> Input<'a> {
    Input::new(output.attempted(), std::any::type_name::<E>(), &inner.clock)
}

pub(crate) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> (Option<Timestamp>, bool) {
    match (a, b) {
        (Some(a), Some(b)) if b <= a => (Some(b), true),
        (Some(a), _) => (Some(a), false),
        (None, b) => (b, b.is_some()),
    }
}

/// Writes the record of an executed attempt into `r`, a fresh record (times, indexes and
/// backoff are written by the caller). The verdict's attributes move into it: nothing after
/// the record reads them.
pub(crate) fn executed_record<T: 'static, E: StdError + 'static>(
    r: &mut AttemptRecord,
    output: &Output<T, E>,
    verdict: &mut Verdict,
    fallback_from: Option<&str>,
    budget_reason: Reason,
) {
    // The record's are empty, and most verdicts have none: the length is read alone.
    if !verdict.attributes.is_empty() {
        r.attributes = std::mem::take(&mut verdict.attributes);
    }
    if let Some(requested) = fallback_from {
        fallback_attributes(&mut r.attributes, requested);
    }
    r.outcome = verdict.kind;
    r.reason = verdict.reason.clone();
    r.error = output.error_text();
    r.budget_allowed = true;
    r.budget_reason = budget_reason;
}

/// The call's breaker, when its policy has one.
struct Circuit<'a> {
    breaker: Option<(&'a Breaker, &'a CircuitPlan)>,
    probe: Option<Probe<'a>>,
    /// When the call was admitted, for a slow-call rule.
    started: Option<Timestamp>,
}

impl Circuit<'_> {
    /// Tells the breaker how the call ended.
    #[inline]
    fn report(&mut self, heard: Heard, rec: &Recorder<'_>, clock: &Clock) {
        if let Some((breaker, plan)) = self.breaker {
            self.report_to(breaker, plan, heard, rec, clock);
        }
    }

    fn report_to(
        &mut self,
        breaker: &Breaker,
        plan: &CircuitPlan,
        heard: Heard,
        rec: &Recorder<'_>,
        clock: &Clock,
    ) {
        let failed = match heard {
            Heard::Success => false,
            Heard::Failure => true,
            Heard::Nothing => {
                drop(self.probe.take()); // a probe without a verdict frees its slot
                return;
            }
        };
        // The clock is read at most once, and only when something needs it.
        let mut read = None;
        let mut now = || *read.get_or_insert_with(|| clock.now());
        let started = self.started;
        let transition = plan.hear(breaker, self.probe.take(), failed, &mut now, |now| {
            started.map_or(Duration::ZERO, |s| now.since(s))
        });
        rec.circuit_change(transition);
    }
}

/// Marks a call that runs one attempt because its request cannot be sent twice (kept out of
/// line: the common path never takes it).
#[cold]
#[inline(never)]
fn not_replayable(rec: &mut Recorder<'_>) {
    rec.attribute("replayable", "false");
}

/// The record of an attempt that ended without a verdict of its own: its budget refused it,
/// or the deadline or the caller's cancellation cut it short, or its classifier panicked.
#[cold]
fn record_cut(
    rec: &mut Recorder<'_>,
    (attempt, started, backoff): (u32, Timestamp, Duration),
    reason: Reason,
    gated: Gated<'_>,
) {
    let end = rec.reading();
    rec.attempt(|| {
        let base = match gated {
            Gated::Admitted(budget_reason) => AttemptRecord {
                outcome: Kind::Abort,
                reason: reason.clone(),
                budget_allowed: true,
                budget_reason,
                ..AttemptRecord::default()
            },
            Gated::Denied(budget) => AttemptRecord::denied(budget, reason.clone()),
        };
        AttemptRecord {
            attempt,
            start: started,
            end,
            backoff,
            ..base
        }
    });
}

/// How far a cut attempt got past its budget.
enum Gated<'b> {
    /// Admitted, with the budget's reason.
    Admitted(Reason),
    /// Refused by the budget of this name.
    Denied(&'b str),
}

/// The end of a call that never reaches an attempt.
fn ended<T, E>(step: Step<T, E>) -> (Result<T, Error<E>>, Heard) {
    match step {
        Step::End(result, heard) => (result, heard),
        Step::Wait { .. } => unreachable!("a refused call ends"),
    }
}

/// What a call's bare first attempt ([`super::first`]) leaves to the call loop.
pub(crate) enum First {
    /// Nothing: the loop makes every attempt. (The first attempt of a call nobody records
    /// that failed goes on in [`super::first::retries`], not here.)
    None,
    /// The first attempt of a recorded call (traced, or seen by an observer), opened at this
    /// reading, failed: the operation the loop is given hands that attempt's error over as
    /// its first attempt ([`super::first::traced`], [`super::first::resumed`]), which the
    /// loop records as one it made itself, under the policy it ran with, and goes on. An
    /// observer was told of the start.
    Resumed(Timestamp),
}

/// Runs one call to the end, from what its bare first attempt left, if anything.
pub(crate) async fn run<T, E, F, Fut>(
    call: Call<'_>,
    mut op: F,
    first: First,
) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let opened = match first {
        First::None => None,
        First::Resumed(opened) => Some(opened),
    };
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
    let tap = tap(inner, state);
    let mut rec = Recorder::new(key, clock, inner.observer.as_ref(), timeline, tap, opened);
    // The call's first attempt was made bare: the call goes on as it started.
    let resumed = opened.is_some();

    let mut progress = Progress::new(1);
    // A key handle's current snapshot is used through a plain reference: no enum is built
    // and moved on that path (the move cost a store-forwarding stall). Held out here because
    // the breaker's plan is borrowed from it until the call ends.
    let mut held: Option<CompiledRef> = None;
    let mut circuit = Circuit {
        breaker: None,
        probe: None,
        started: None,
    };

    let (result, heard) = 'call: {
        // The policy: a key handle's current snapshot, else the key's cached one, else the
        // provider's answer; a call whose first attempt ran bare keeps the policy it ran with.
        let current = snapshot.filter(|c| resumed || c.generation == inner.generation());
        let mut fetched = false;
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
                        let refused = match source {
                            ProviderError::Panicked { message } => {
                                Outcome::Panicked(Component::PolicyProvider, message)
                            }
                            source => Outcome::NoPolicy(key.clone(), source),
                        };
                        break 'call ended(decide(refused, &mut progress));
                    }
                }
            }
        };
        rec.shadow(compiled, &state.runtime, (once, no_hedges));
        if resumed {
            rec.resume(compiled);
        } else {
            rec.start(Some(compiled));
        }
        progress.max_attempts = compiled.max_attempts;

        // One breaker admission per call, before the classifier; an operator's hand on the
        // breaker comes first. A call whose first attempt ran bare was admitted then (a
        // policy with a breaker never runs bare), as its bare retries would be.
        let manual = match resumed {
            true => None,
            false => manual::read(&state.manual),
        };
        match manual {
            None => {
                circuit.breaker = compiled
                    .circuit
                    .as_ref()
                    .map(|plan| (&state.runtime.breaker, plan));
            }
            Some(ManualControl::ForcedClosed) => {}
            Some(ManualControl::Isolated) => {
                rec.attribute("circuit_state", ManualControl::Isolated.as_str());
                let isolated = Outcome::CircuitOpen(CircuitState::Open, Reason::CIRCUIT_OPEN);
                break 'call ended(decide(isolated, &mut progress));
            }
        }
        let mut hedge = compiled.hedge.as_ref();
        if once | no_hedges {
            hedge = None;
            if once {
                progress.max_attempts = 1;
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
                    hedge = None; // the probe runs alone
                }
                Admission::Rejected(state, reason) => {
                    rec.attribute("circuit_state", state.as_str());
                    break 'call ended(decide(Outcome::CircuitOpen(state, reason), &mut progress));
                }
            }
            if plan
                .rates
                .as_ref()
                .is_some_and(|r| r.rule.slow_after().is_some())
            {
                circuit.started = Some(clock.now());
            }
        }
        let tracker = compiled.hedge.as_ref().map(|_| state.runtime.tracker());

        let (classifier, fallback_from): (&dyn Classifier, Option<&str>) =
            match &compiled.classifier {
                ClassifierSlot::Found(c) => (&**c, None),
                ClassifierSlot::Fallback {
                    requested,
                    classifier,
                } => (&**classifier, Some(requested)),
                ClassifierSlot::Missing { requested } => {
                    rec.attribute("classifier_name", requested);
                    rec.attribute("classifier_error", Reason::CLASSIFIER_NOT_FOUND.as_str());
                    let refused = Outcome::NoClassifier(requested.clone());
                    break 'call ended(decide(refused, &mut progress));
                }
            };

        // The clock is read once per attempt, and only when something needs it (a deadline,
        // the timeline, a budget, the latency tracker); the first attempt shares the reading
        // that armed the overall deadline, which is the timeline's opening one when a timeline
        // is recorded and no policy had to be fetched.
        let reads_clock = compiled.reads_clock || rec.timed();
        let mut now = match rec.opened_at() {
            Some(opened) if !fetched => Some(opened),
            _ => reads_clock.then(|| clock.now()),
        };
        let deadline = compiled.overall_timeout.zip(now).map(|(d, n)| n.plus(d));
        let bulkhead = compiled
            .bulkhead
            .map(|max| Bulkhead::new(&state.runtime.in_flight, max));
        let mut base = Base::new(&compiled.backoff);
        let mut slept = Duration::ZERO;
        loop {
            let mut outcome = 'attempt: {
                let attempt = progress.attempt;
                if cancel.is_some_and(CancellationToken::is_cancelled) {
                    break 'attempt Outcome::Canceled(None);
                }
                let now = match now.take() {
                    Some(n) => Some(n),
                    None if reads_clock => Some(clock.now()),
                    None => None,
                };
                if let (Some(d), Some(n)) = (deadline, now)
                    && n >= d
                {
                    break 'attempt Outcome::DeadlineExceeded;
                }
                let started = now.filter(|_| rec.on()).unwrap_or(Timestamp::EPOCH);
                let cut = (attempt, started, slept);

                let gate = GateRequest {
                    inner,
                    now,
                    key,
                    attempt,
                    hedge_index: 0,
                    kind: BudgetKind::Retry,
                    bulkhead,
                };
                let (budget_reason, release, in_flight) =
                    match gate.ask(&compiled.retry_budget, &rec) {
                        Gate::Pass {
                            reason,
                            release,
                            slot,
                        } => (reason, release, slot),
                        Gate::Denied {
                            budget,
                            reason,
                            panic,
                        } => {
                            record_cut(&mut rec, cut, reason.clone(), Gated::Denied(&budget));
                            break 'attempt match panic {
                                Some(message) => Outcome::Panicked(Component::Budget, message),
                                None => Outcome::Denied { budget, reason },
                            };
                        }
                    };

                if let (Some(plan), Some(tracker)) = (hedge, tracker) {
                    // A hedged group: the primary plus hedges, polled together.
                    // Borrowed by the group's future rather than moved into it: it is built
                    // once, in this future's state.
                    let mut group = Group {
                        inner,
                        key,
                        compiled,
                        plan,
                        classifier,
                        fallback_from,
                        tracker,
                        hedging: plan.auto_disable.as_ref().map(|_| state.runtime.hedging()),
                        cancel,
                        deadline,
                        attempt,
                        slept,
                        primary_budget: (budget_reason, release),
                        primary_slot: in_flight,
                        bulkhead,
                        primary_started: started,
                        started_at: now.unwrap_or_else(|| clock.now()),
                    };
                    let end = run_group(&mut group, &mut rec, &mut op).await;
                    rec.waited();
                    break 'attempt match end {
                        GroupEnd::Verdict(output, verdict) => Outcome::Classified(output, verdict),
                        GroupEnd::Canceled => Outcome::Canceled(None),
                        GroupEnd::Deadline => Outcome::DeadlineExceeded,
                        GroupEnd::Panicked(message) => {
                            Outcome::Panicked(Component::Classifier, message)
                        }
                    };
                }

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
                let raced = if timer.is_none() && cancel.is_none() {
                    // Nothing to race against: no timer armed, nothing polled but the
                    // attempt.
                    Race::Done(op(info).await)
                } else {
                    race_in_place(op(info), timer, clock, cancel).await
                };
                if let Some(r) = release {
                    r.run();
                }
                drop(in_flight);
                let output = match raced {
                    Race::Done(Ok(v)) => Output::Value(v),
                    Race::Done(Err(e)) => Output::Error(e),
                    Race::Timer if !timer_is_overall => Output::TimedOut,
                    Race::Timer => {
                        let reason = Reason::CONTEXT_DEADLINE_EXCEEDED;
                        record_cut(&mut rec, cut, reason, Gated::Admitted(budget_reason));
                        break 'attempt Outcome::DeadlineExceeded;
                    }
                    Race::Canceled => {
                        let reason = Reason::CONTEXT_CANCELED;
                        record_cut(&mut rec, cut, reason, Gated::Admitted(budget_reason));
                        break 'attempt Outcome::Canceled(None);
                    }
                };
                // One reading ends the attempt for the tracker and the timeline alike.
                let ended = (tracker.is_some() || rec.timed()).then(|| clock.now());
                if let (Some(tracker), Some(ended)) = (tracker, ended) {
                    tracker.record(ended.since(attempt_start));
                }
                let output = match output {
                    // A value under a classifier that calls every value a success, on a
                    // call nobody records, or records only to count it: nothing to classify
                    // or record but the count.
                    Output::Value(v) if !rec.timed() && compiled.values_succeed => {
                        let heard = AttemptOutcome::new(key, attempt, Kind::Success);
                        compiled.retry_budget.hear(inner, &heard);
                        if rec.counts_only() {
                            rec.count_success(attempt);
                        }
                        break 'call (Ok(v), Heard::Success);
                    }
                    other => other,
                };
                // The caller's cancellation wins over a failed attempt that raced it.
                if !matches!(output, Output::Value(_))
                    && cancel.is_some_and(CancellationToken::is_cancelled)
                {
                    let reason = Reason::CONTEXT_CANCELED;
                    record_cut(&mut rec, cut, reason, Gated::Admitted(budget_reason));
                    break 'attempt Outcome::Canceled(output.into_error());
                }
                let mut verdict = match classify(inner, classifier, &output) {
                    Ok(v) => v,
                    Err(message) => {
                        let reason = Reason::PANIC_IN_CLASSIFIER;
                        record_cut(&mut rec, cut, reason, Gated::Admitted(budget_reason));
                        break 'attempt Outcome::Panicked(Component::Classifier, message);
                    }
                };
                compiled
                    .retry_budget
                    .hear(inner, &AttemptOutcome::new(key, attempt, verdict.kind));
                rec.attempt_with(|r| {
                    executed_record(r, &output, &mut verdict, fallback_from, budget_reason);
                    r.attempt = attempt;
                    r.start = started;
                    // Read above whenever the times are (`Recorder::timed`).
                    r.end = ended.unwrap_or(Timestamp::EPOCH);
                    r.backoff = slept;
                });
                Outcome::Classified(output, verdict)
            };
            // What follows the attempt; the decision is acted on at once, never held across
            // an await.
            loop {
                let requested = match decide(outcome, &mut progress) {
                    Step::End(result, heard) => break 'call (result, heard),
                    Step::Wait { requested } => requested,
                };
                let (wait, from_server) = compiled.next_wait(requested, &mut base, &inner.rng);
                // A server that will not be ready before the deadline is not asked again
                // early: its own wait, not the capped one, is held against the deadline.
                let needed = requested.map_or(wait, |asked| asked.max(wait));
                outcome = if let Some(d) = deadline
                    && clock.now().plus(needed) >= d
                {
                    Outcome::WaitPastDeadline { from_server }
                } else {
                    rec.waited();
                    slept = wait;
                    let canceled = !wait.is_zero()
                        && matches!(
                            race_in_place(clock.sleep(wait), None, clock, cancel).await,
                            Race::Canceled
                        );
                    if canceled {
                        Outcome::Canceled(None)
                    } else {
                        // Waited: straight to the next attempt (see `decide::waited`).
                        waited(&mut progress);
                        break;
                    }
                };
            }
        }
    };

    // The one end of every call: the breaker hears how it went, then the recorder.
    circuit.report(heard, &rec, clock);
    let outcome = match heard {
        Heard::Success => CallOutcome::Success,
        Heard::Failure | Heard::Nothing => CallOutcome::Failure,
    };
    rec.finish(result.as_ref().err(), outcome);
    result
}
