//! The bare path: a call whose policy needs nothing around its attempts (no clock, timer,
//! budget, breaker or hedge, and no classification of values) and that nobody records polls
//! its attempts directly. A value ends the call there. An error is classified and handed to
//! the call loop's one decision step ([`decide`]), which says whether to wait and try again
//! or to end the call, and with what; the wait is the one the call loop computes
//! ([`Compiled::next_wait`]).
//!
//! It is not a second call loop: it decides nothing itself, and has nothing to decide that
//! the policy could put around an attempt (a deadline, a budget, a breaker, a recording),
//! since a policy with any of those never takes it. A call that cannot run bare from its
//! first poll runs in the call loop from the start. `tests/it/props.rs` holds both to the
//! same result, attempts and virtual time.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::attempt::AttemptInfo;
use super::decide::{Outcome, Output, Progress, Step, classified, decide, waited};
use super::keyed::Compiled;
use super::run::{Call, classify, verdict_of};
use super::tap::tap;
use crate::clock::Sleep;
use crate::error::{Component, Error};

pin_project! {
    /// A call through a key handle or by key string. The operation is first invoked on the
    /// first poll, as in the call loop, so the future does nothing until awaited.
    pub(crate) struct Bare<'a, F, A, G, S, E> {
        call: Option<Call<'a>>,
        op: Option<F>,
        // Starts the call loop: `run` itself (a function item, so no space).
        start: G,
        // How far a call running bare has come, from its first failed attempt.
        retries: Option<Retries<E>>,
        // The bare attempt, its wait and the loop in one place: a call future holds one of
        // them, so the operation's future adds nothing to its size.
        #[pin]
        stage: Stage<A, S>,
    }
}

/// How far a call running bare has come. Its policy is its call's snapshot, the one it
/// started with, whatever a reload does meanwhile.
struct Retries<E> {
    progress: Progress<E>,
    /// The base backoff of the next wait.
    base: Duration,
}

pin_project! {
    #[project = StageProj]
    enum Stage<A, S> {
        Unpolled,
        Attempt { #[pin] attempt: A },
        // Nested, so that a first success is dispatched by two compares, not a jump table.
        Then { #[pin] then: Then<S> },
    }
}

pin_project! {
    #[project = ThenProj]
    enum Then<S> {
        Waiting { #[pin] sleep: Sleep },
        Loop { #[pin] call: S },
    }
}

impl<'a, F, A, G, S, E> Bare<'a, F, A, G, S, E> {
    /// A plain call: one made without options and without a timeline (those go straight to
    /// the loop).
    pub(crate) fn new(call: Call<'a>, op: F, start: G) -> Self {
        debug_assert!(call.options.is_none() && call.timeline.is_none());
        Bare {
            call: Some(call),
            op: Some(op),
            start,
            retries: None,
            stage: Stage::Unpolled,
        }
    }
}

impl<'a> Call<'a> {
    /// The compiled policy, when this call may run bare.
    #[inline]
    fn bare(&self) -> Option<&'a Compiled> {
        // Built without options or a timeline (see `Bare::new`).
        let compiled = self.snapshot?;
        let bare = compiled.bare_first.load(Ordering::Relaxed)
            && compiled.generation == self.inner.generation()
            && tap(self.inner, self.state).is_none();
        bare.then_some(compiled)
    }
}

impl<E: StdError + 'static> Retries<E> {
    /// A call under `compiled` whose first attempt failed.
    fn new(compiled: &Compiled) -> Retries<E> {
        Retries {
            progress: Progress::new(compiled.max_attempts),
            base: compiled.backoff.initial,
        }
    }

    /// What follows a failed attempt: the call's end, or the wait before the next attempt.
    #[inline]
    fn after<T: 'static>(
        &mut self,
        call: &Call<'_>,
        compiled: &Compiled,
        error: E,
    ) -> Result<Duration, Result<T, Error<E>>> {
        let inner = call.inner;
        let output = Output::Error(error);
        let step = match compiled.classifier() {
            Some(classifier) if !inner.recover_panics => {
                let mut verdict = verdict_of(inner, classifier, &output);
                classified(output, &mut verdict, &mut self.progress)
            }
            Some(classifier) => {
                let outcome = match classify(inner, classifier, &output) {
                    Ok(verdict) => Outcome::Classified(output, verdict),
                    Err(message) => Outcome::Panicked(Component::Classifier, message),
                };
                decide(outcome, &mut self.progress)
            }
            None => unreachable!("a policy whose classifier is missing never runs bare"),
        };
        // Nothing hears the end: a policy with a breaker never runs bare.
        match step {
            Step::End(result, _) => Err(result),
            Step::Wait { requested } => {
                Ok(compiled.next_wait(requested, &mut self.base, &inner.rng).0)
            }
        }
    }
}

impl<'a, T, E, F, A, G, S> Future for Bare<'a, F, A, G, S, E>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> A,
    A: Future<Output = Result<T, E>>,
    G: Fn(Call<'a>, F) -> S,
    S: Future<Output = Result<T, Error<E>>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Then { then } => match then.project() {
                    ThenProj::Loop { call } => return call.poll(cx),
                    ThenProj::Waiting { sleep } => {
                        ready!(sleep.poll(cx));
                        let stage = this.stage.as_mut();
                        next_attempt(this.call.as_ref(), this.op, this.retries, stage);
                    }
                },
                StageProj::Unpolled => {
                    let (Some(call), Some(op)) = (this.call.as_ref(), this.op.as_mut()) else {
                        unreachable!("taken only when the loop starts");
                    };
                    let Some(compiled) = call.bare() else {
                        return start(this.call, this.op, this.start, this.stage, cx);
                    };
                    let attempt = op(AttemptInfo {
                        policy_id: compiled.policy_id(),
                        ..AttemptInfo::default()
                    });
                    this.stage.set(Stage::Attempt { attempt });
                }
                StageProj::Attempt { .. } => {}
            }
            // The attempt in place, polled. The spent attempt stays in place once it returns
            // a value (polling this future again would poll it, and it would panic as any
            // finished `async` block does).
            let StageProj::Attempt { attempt } = this.stage.as_mut().project() else {
                unreachable!("an attempt is in place");
            };
            let error = match ready!(attempt.poll(cx)) {
                Ok(value) => return Poll::Ready(Ok(value)),
                Err(error) => error,
            };
            if let Some(end) = failed(this.call, this.op, this.retries, this.stage.as_mut(), error)
            {
                return Poll::Ready(end);
            }
        }
    }
}

/// After a failed bare attempt: the call's end, or `None` when the next attempt, or the wait
/// before it, is in place. Out of line: a first success never takes it.
#[inline(never)]
fn failed<T, E, F, A, S>(
    call: &Option<Call<'_>>,
    op: &mut Option<F>,
    retries: &mut Option<Retries<E>>,
    mut stage: Pin<&mut Stage<A, S>>,
    error: E,
) -> Option<Result<T, Error<E>>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> A,
{
    let (call, compiled) = running(call.as_ref());
    let progress = retries.get_or_insert_with(|| Retries::new(compiled));
    match progress.after(call, compiled, error) {
        Err(end) => Some(end),
        Ok(wait) if wait.is_zero() => {
            next_attempt(Some(call), op, retries, stage);
            None
        }
        Ok(wait) => {
            let sleep = call.inner.clock.sleep(wait);
            stage.set(Stage::Then {
                then: Then::Waiting { sleep },
            });
            None
        }
    }
}

/// Moves a bare call on to its next attempt, after a wait (or none), and puts it in place.
#[inline(never)]
fn next_attempt<E, F, A, S>(
    call: Option<&Call<'_>>,
    op: &mut Option<F>,
    retries: &mut Option<Retries<E>>,
    mut stage: Pin<&mut Stage<A, S>>,
) where
    F: FnMut(AttemptInfo) -> A,
{
    let (Some(op), Some(retries)) = (op.as_mut(), retries.as_mut()) else {
        unreachable!("a bare call waits after a failed attempt");
    };
    waited(&mut retries.progress);
    let (_, compiled) = running(call);
    let attempt = op(AttemptInfo {
        attempt: retries.progress.attempt,
        policy_id: compiled.policy_id(),
        ..AttemptInfo::default()
    });
    stage.set(Stage::Attempt { attempt });
}

/// The call running bare, and its policy.
#[inline]
fn running<'c, 'a>(call: Option<&'c Call<'a>>) -> (&'c Call<'a>, &'a Compiled) {
    match call {
        Some(
            c @ Call {
                snapshot: Some(compiled),
                ..
            },
        ) => (c, compiled),
        _ => unreachable!("a call runs bare with its call and its policy"),
    }
}

/// Hands the call to the call loop and polls it.
#[cold]
fn start<'a, T, E, F, A, G, S>(
    call: &mut Option<Call<'a>>,
    op: &mut Option<F>,
    start: &G,
    mut stage: Pin<&mut Stage<A, S>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    G: Fn(Call<'a>, F) -> S,
    S: Future<Output = Result<T, Error<E>>>,
{
    let (Some(call), Some(op)) = (call.take(), op.take()) else {
        unreachable!("the loop starts once");
    };
    stage.set(Stage::Then {
        then: Then::Loop {
            call: start(call, op),
        },
    });
    let StageProj::Then { then } = stage.project() else {
        unreachable!("set above")
    };
    let ThenProj::Loop { call } = then.project() else {
        unreachable!("set above")
    };
    call.poll(cx)
}
