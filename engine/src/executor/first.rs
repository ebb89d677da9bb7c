//! The bare path: a call whose policy needs nothing around its attempts (no clock, timer,
//! budget, breaker or hedge, and no classification of values) and that nothing records polls
//! its attempts directly (a traced call, or one an observer sees, its first attempt: see
//! [`traced`] and [`Told`]).
//!
//! The first attempt is polled by [`Bare`], which holds nothing else (but, when an observer
//! sees the call, what the observer must hear if the call is dropped: [`Told`]): a value ends
//! the call there. An error goes to [`retries`], polled in the same future, which takes only
//! the executor and the policy from the call: the error is classified and given to the call
//! loop's one decision step ([`decide`]), which says whether to wait and try again or to end
//! the call, and with what; the wait is the one the call loop computes
//! ([`Compiled::next_wait`]); the next attempt is polled bare in turn.
//!
//! It is not a second call loop: it decides nothing itself, and has nothing to decide that
//! the policy could put around an attempt (a deadline, a budget, a breaker, a recording),
//! since a policy with any of those never takes it. A call that cannot run bare from its
//! first poll runs in the call loop from the start. `tests/it/props.rs` holds both to the
//! same result, attempts and virtual time.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::Inner;
use super::attempt::AttemptInfo;
use super::backoff::Base;
use super::decide::{Outcome, Output, Progress, Step, classified, decide, waited};
use super::keyed::{Compiled, CompiledRef, KeyState};
use super::record::Recorder;
use super::run::{Call, First, classify, executed_record, input_of, run};
use super::tap::tap;
use crate::classify::Verdict;
use crate::clock::Timestamp;
use crate::error::{Component, Error, Reason};
use crate::observe::{CallEnd, CallOutcome, Detail};

pin_project! {
    /// A call through a key handle or by key. The operation is first invoked on the first
    /// poll, as in the call loop, so the future does nothing until awaited.
    pub(crate) struct Bare<'a, F, A, G, S, Q, R, K, P, H = Lent> {
        // The bare attempt, the bare retries and the loop in one place: a call future holds
        // one of them, so the operation's future adds nothing to its size. First, so that it
        // is dropped first: an attempt before its operation, as in the loop.
        #[pin]
        stage: Stage<'a, A, S, R, P>,
        call: Option<Call<'a>>,
        op: Option<F>,
        // Where the policy the call starts with is: lent through the call's snapshot (a
        // handle's, or a policy given in code), or held here for the call (a call by key
        // under a provider) until the retries or the loop take it over.
        hold: H,
        // Starts the call loop: `lent` or `held` (function items, so no space).
        start: G,
        // Goes on with a call an observer sees whose bare first attempt failed: `resumed` (a
        // function item).
        resume: Q,
        // Goes on with a plain call whose bare first attempt failed: `retries` (a function
        // item).
        retry: K,
    }
}

pin_project! {
    #[project = StageProj]
    #[project_replace = StageReplaced]
    enum Stage<'a, A, S, R, P> {
        Unpolled,
        First { #[pin] attempt: A },
        // The first attempt of a call an observer sees, polled bare between two clock
        // readings ([`Told`]). The attempt is dropped before `told`.
        Observed { #[pin] attempt: A, told: Told<'a> },
        Loop { #[pin] call: S },
        // A call an observer sees, whose bare first attempt failed ([`resumed`]).
        Resumed { #[pin] call: R },
        // A plain call whose bare first attempt failed: its retries, bare too ([`retries`]).
        Retries { #[pin] call: P },
    }
}

impl<'a, F, A, G, S, Q, R, K, P> Bare<'a, F, A, G, S, Q, R, K, P> {
    /// A plain call: one made without options and without a timeline (those go straight to
    /// the loop), whose policy, if it has one, is lent through its snapshot.
    pub(crate) fn new(call: Call<'a>, op: F, start: G, resume: Q, retry: K) -> Self {
        Bare::with(call, op, start, resume, retry)
    }
}

impl<'a, F, A, G, S, Q, R, K, P> Bare<'a, F, A, G, S, Q, R, K, P, Held> {
    /// [`Bare::new`] for a call by key, which holds the key's cached policy itself when the
    /// call has no snapshot.
    pub(crate) fn holding(call: Call<'a>, op: F, start: G, resume: Q, retry: K) -> Self {
        Bare::with(call, op, start, resume, retry)
    }
}

impl<'a, F, A, G, S, Q, R, K, P, H: Hold> Bare<'a, F, A, G, S, Q, R, K, P, H> {
    fn with(call: Call<'a>, op: F, start: G, resume: Q, retry: K) -> Self {
        debug_assert!(call.options.is_none() && call.timeline.is_none());
        Bare {
            call: Some(call),
            op: Some(op),
            hold: H::default(),
            start,
            resume,
            retry,
            stage: Stage::Unpolled,
        }
    }
}

/// Where a bare call finds the policy it starts with.
pub(crate) trait Hold: Default {
    /// The policy the call starts with, if there is one yet.
    fn policy<'h>(&'h mut self, call: &Call<'h>) -> Option<&'h Compiled>;
    /// The policy [`policy`](Hold::policy) found, without looking again.
    fn got<'h>(&'h self, call: &Call<'h>) -> Option<&'h Compiled>;
    /// What the retries or the call loop take over, if the call holds its policy itself.
    fn hand_over(&mut self) -> Option<CompiledRef>;
}

/// The policy is lent through the call's snapshot, which outlives the call.
#[derive(Default)]
pub(crate) struct Lent;

impl Hold for Lent {
    #[inline(always)]
    fn policy<'h>(&'h mut self, call: &Call<'h>) -> Option<&'h Compiled> {
        call.snapshot
    }

    #[inline(always)]
    fn got<'h>(&'h self, call: &Call<'h>) -> Option<&'h Compiled> {
        call.snapshot
    }

    #[inline(always)]
    fn hand_over(&mut self) -> Option<CompiledRef> {
        None
    }
}

/// Under a provider, the key's cached policy, held for the length of the call (when the call
/// has no snapshot of its own).
#[derive(Default)]
pub(crate) struct Held(Option<CompiledRef>);

impl Hold for Held {
    #[inline(always)]
    fn policy<'h>(&'h mut self, call: &Call<'h>) -> Option<&'h Compiled> {
        match call.snapshot {
            Some(compiled) => Some(compiled),
            None => self.load(call),
        }
    }

    #[inline(always)]
    fn got<'h>(&'h self, call: &Call<'h>) -> Option<&'h Compiled> {
        call.snapshot.or(self.0.as_deref())
    }

    #[inline(always)]
    fn hand_over(&mut self) -> Option<CompiledRef> {
        self.0.take()
    }
}

impl Held {
    // Out of line: the calls lent their policy (handles, policies given in code) never come
    // here.
    #[inline(never)]
    fn load<'h>(&'h mut self, call: &Call<'h>) -> Option<&'h Compiled> {
        self.0 = Held::cached(call);
        self.0.as_deref()
    }

    /// The key's cached policy under a provider, if it is current (policies given in code are
    /// lent through the call's snapshot instead).
    fn cached(call: &Call<'_>) -> Option<CompiledRef> {
        if call.inner.fixed {
            return None;
        }
        call.state.current(call.inner)
    }
}

impl Drop for Held {
    #[inline(always)]
    fn drop(&mut self) {
        // Out of line: the calls lent their policy hold nothing, and their drop stays small.
        #[inline(never)]
        fn release(held: CompiledRef) {
            drop(held);
        }
        if let Some(held) = self.0.take() {
            release(held);
        }
    }
}

impl<'a> Call<'a> {
    /// This call, starting with `held` (a policy it holds itself) when it has no snapshot.
    fn or_held<'h>(self, held: Option<&'h Compiled>) -> Call<'h>
    where
        'a: 'h,
    {
        Call {
            snapshot: self.snapshot.or(held),
            ..self
        }
    }

    /// `compiled` (the policy the call starts with), when this call may poll its first
    /// attempt bare.
    #[inline]
    fn bare<'h>(&self, compiled: Option<&'h Compiled>) -> Option<&'h Compiled> {
        self.first_alone(compiled, &compiled?.bare_first)
    }

    /// `compiled`, when this call, seen by an observer, may poll its first attempt bare
    /// ([`Told`]).
    #[inline]
    fn observable<'h>(&self, compiled: Option<&'h Compiled>) -> Option<&'h Compiled> {
        self.first_alone(compiled, &compiled?.observed_first)
    }

    #[inline(always)]
    fn first_alone<'h>(
        &self,
        compiled: Option<&'h Compiled>,
        allowed: &AtomicBool,
    ) -> Option<&'h Compiled> {
        // Built without options (see `Bare::new` and `traced`).
        let compiled = compiled?;
        let alone = allowed.load(Ordering::Relaxed)
            && compiled.generation == self.inner.generation()
            && tap(self.inner, self.state).is_none();
        alone.then_some(compiled)
    }
}

impl<'a, T, E, F, A, G, S, Q, R, K, P, H> Future for Bare<'a, F, A, G, S, Q, R, K, P, H>
where
    T: 'static,
    E: StdError + 'static,
    H: Hold,
    F: FnMut(AttemptInfo) -> A,
    A: Future<Output = Result<T, E>>,
    G: Fn(Call<'a>, F, Option<CompiledRef>) -> S,
    S: Future<Output = Result<T, Error<E>>>,
    Q: Fn(Call<'a>, F, Option<CompiledRef>, E, Timestamp) -> R,
    R: Future<Output = Result<T, Error<E>>>,
    K: Fn(&'a Inner, Option<&'a Compiled>, Option<Arc<Compiled>>, F, E) -> P,
    P: Future<Output = Result<T, Error<E>>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.as_mut().project();
        // The discriminant alone: a projection of every variant here was compiled into a
        // jump table on the plain call's path.
        if matches!(this.stage.as_ref().get_ref(), Stage::Unpolled) {
            let (Some(call), Some(op)) = (this.call.as_ref(), this.op.as_mut()) else {
                unreachable!("taken only when the loop starts");
            };
            let Some(compiled) = call.bare(this.hold.policy(call)) else {
                return self.as_mut().begin(cx);
            };
            let attempt = op(first_info(compiled));
            // Replaced, not set: `set` drops the stage it replaces through an out-of-line
            // call, though it is known to hold nothing here.
            this.stage
                .as_mut()
                .project_replace(Stage::First { attempt });
        }
        match this.stage.as_mut().project() {
            // The spent attempt stays in place once it returns a value (polling this future
            // again would poll it, and it would panic as any finished `async` block does).
            StageProj::First { attempt } => match ready!(attempt.poll(cx)) {
                Ok(value) => {
                    // A held policy is let go with the call, not with the future.
                    *this.hold = H::default();
                    Poll::Ready(Ok(value))
                }
                Err(e) => self.as_mut().retry(e, cx),
            },
            StageProj::Retries { call } => call.poll(cx),
            StageProj::Loop { call } => call.poll(cx),
            StageProj::Resumed { call } => call.poll(cx),
            StageProj::Observed { .. } => self.as_mut().poll_observed(cx),
            StageProj::Unpolled => unreachable!("started above"),
        }
    }
}

/// The out-of-line steps of a call's poll, so that a plain call's poll stays small.
impl<'a, F, A, G, S, Q, R, K, P, H: Hold> Bare<'a, F, A, G, S, Q, R, K, P, H> {
    /// Begins a call whose first attempt is not polled bare as a plain call's: bare between two
    /// clock readings when an observer sees it and its policy lets it ([`observe_first`]), else
    /// in the call loop. Out of line, so that a plain call's poll stays small.
    #[cold]
    #[inline(never)]
    fn begin<T, E>(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error<E>>>
    where
        T: 'static,
        E: StdError + 'static,
        F: FnMut(AttemptInfo) -> A,
        A: Future<Output = Result<T, E>>,
        G: Fn(Call<'a>, F, Option<CompiledRef>) -> S,
        S: Future<Output = Result<T, Error<E>>>,
        Q: Fn(Call<'a>, F, Option<CompiledRef>, E, Timestamp) -> R,
        R: Future<Output = Result<T, Error<E>>>,
    {
        let this = self.as_mut().project();
        let (Some(call), Some(op)) = (this.call.as_ref(), this.op.as_mut()) else {
            unreachable!("taken only when the loop starts");
        };
        if call.inner.observer.is_some() && observe_first(call, op, this.hold, this.stage) {
            return self.poll_observed(cx);
        }
        let this = self.project();
        let held = this.hold.hand_over();
        start(this.call, this.op, this.start, this.stage, held, cx)
    }

    /// Goes on with a plain call whose bare first attempt failed with `error`: its retries, bare
    /// too ([`retries`]), under the policy that attempt ran with (lent through the call's
    /// snapshot, or `held` by the call), and polls them. Only the executor and that policy go
    /// over, not the call's whole state: its copy, right after the state was written, stalled.
    #[inline(never)]
    fn retry<T, E>(
        self: Pin<&mut Self>,
        error: E,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error<E>>>
    where
        K: Fn(&'a Inner, Option<&'a Compiled>, Option<Arc<Compiled>>, F, E) -> P,
        P: Future<Output = Result<T, Error<E>>>,
    {
        let mut this = self.project();
        let (Some(call), Some(op)) = (this.call.as_ref(), this.op.take()) else {
            unreachable!("the retries start once");
        };
        // Taken here, not by the caller: a lent policy's `None` is then known at compile time,
        // not read back from memory just written. Handed over as an `Arc` (one word, where
        // a `CompiledRef` is three, at the cost of a reference count for a guard, once per
        // failed call by key under a provider): the retries' future copies it into place at
        // its first poll, and a wider copy stalled on the narrower stores that had just
        // written it.
        let held = this.hold.hand_over().map(CompiledRef::into_arc);
        this.stage.set(Stage::Retries {
            call: (this.retry)(call.inner, call.snapshot, held, op, error),
        });
        let StageProj::Retries { call } = this.stage.project() else {
            unreachable!("set above")
        };
        call.poll(cx)
    }

    /// Polls the first attempt of a call an observer sees ([`Told`]). Out of line, so that a
    /// plain call's poll stays small.
    #[inline(never)]
    fn poll_observed<T, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error<E>>>
    where
        T: 'static,
        E: StdError + 'static,
        A: Future<Output = Result<T, E>>,
        Q: Fn(Call<'a>, F, Option<CompiledRef>, E, Timestamp) -> R,
        R: Future<Output = Result<T, Error<E>>>,
    {
        let mut this = self.project();
        let StageProj::Observed { attempt, told } = this.stage.as_mut().project() else {
            unreachable!("polled in its observed first attempt")
        };
        // The attempt returned (the call ended or went on in the loop), or panicked.
        assert!(!told.ended, "a call polled after it returned or panicked");
        // Ended while the attempt is polled: if it panics, the observer hears nothing, as from
        // the loop, even when the call is dropped only after the panic was caught.
        told.ended = true;
        let Poll::Ready(output) = attempt.poll(cx) else {
            told.ended = false;
            return Poll::Pending;
        };
        match output {
            Ok(value) => Poll::Ready(told.succeeded(value)),
            Err(e) => resume_in_loop(this.call, this.op, this.resume, this.stage, e, cx),
        }
    }
}

/// What a call's first attempt is told under `compiled`.
#[inline(always)]
fn first_info(compiled: &Compiled) -> AttemptInfo {
    AttemptInfo {
        policy_id: compiled.policy_id(),
        ..AttemptInfo::default()
    }
}

/// Hands the call to the call loop and polls it.
#[cold]
fn start<'a, T, E, F, A, G, S, R, P>(
    call: &mut Option<Call<'a>>,
    op: &mut Option<F>,
    start: &G,
    mut stage: Pin<&mut Stage<'a, A, S, R, P>>,
    held: Option<CompiledRef>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    G: Fn(Call<'a>, F, Option<CompiledRef>) -> S,
    S: Future<Output = Result<T, Error<E>>>,
{
    let (Some(call), Some(op)) = (call.take(), op.take()) else {
        unreachable!("the loop starts once");
    };
    stage.set(Stage::Loop {
        call: start(call, op, held),
    });
    let StageProj::Loop { call } = stage.project() else {
        unreachable!("set above")
    };
    call.poll(cx)
}

/// Starts the first attempt of a call an observer sees, when its policy lets it run bare:
/// the observer is told of the start, and the attempt is polled bare between two clock
/// readings ([`Told`]), as the call loop would poll it, but with none of the loop's set-up;
/// an observer told counts only hears of no start, and no clock is read for it. Whether it
/// did.
#[inline(never)]
fn observe_first<'a, F, A, S, R, P, H: Hold>(
    call: &Call<'a>,
    op: &mut F,
    hold: &mut H,
    stage: Pin<&mut Stage<'a, A, S, R, P>>,
) -> bool
where
    F: FnMut(AttemptInfo) -> A,
{
    let (Some(watcher), Some(compiled)) = (&call.inner.observer, call.observable(hold.got(call)))
    else {
        return false;
    };
    // An observer told only how calls end has no times read for it, and no start.
    let opened = (watcher.detail >= Detail::Events).then(|| call.inner.clock.now());
    if opened.is_some() {
        watcher.observer.on_start(&call.state.key, &compiled.policy);
    }
    let info = first_info(compiled);
    let told = Told {
        inner: call.inner,
        state: call.state,
        snapshot: call.snapshot,
        held: hold.hand_over(),
        opened,
        ended: false,
    };
    let attempt = op(info);
    stage.project_replace(Stage::Observed { attempt, told });
    true
}

/// Hands a call an observer sees, whose bare first attempt failed with `error`, to the call
/// loop, which records that attempt and goes on ([`resumed`]), and polls it.
#[cold]
fn resume_in_loop<'a, T, E, F, A, S, Q, R, P>(
    call: &mut Option<Call<'a>>,
    op: &mut Option<F>,
    resume: &Q,
    mut stage: Pin<&mut Stage<'a, A, S, R, P>>,
    error: E,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    Q: Fn(Call<'a>, F, Option<CompiledRef>, E, Timestamp) -> R,
    R: Future<Output = Result<T, Error<E>>>,
{
    let (Some(call), Some(op)) = (call.take(), op.take()) else {
        unreachable!("the loop starts once");
    };
    let StageProj::Observed { told, .. } = stage.as_mut().project() else {
        unreachable!("an observed attempt failed")
    };
    // The loop tells the observer how the call ends.
    told.ended = true;
    // The loop records the attempt's start even for an observer told no times, for a `recourse
    // tail` client that subscribed since: the reading now, the first the call took. Such a
    // client (it subscribed while the attempt ran) sees a first attempt of about no length.
    let opened = told.opened.unwrap_or_else(|| told.inner.clock.now());
    let held = told.held.take();
    stage.set(Stage::Resumed {
        call: resume(call, op, held, error, opened),
    });
    let StageProj::Resumed { call } = stage.project() else {
        unreachable!("set above")
    };
    call.poll(cx)
}

/// Starts the call loop of a call whose policy is lent through its snapshot: the loop itself.
#[inline(always)]
pub(crate) fn lent<'a, T, E, F, Fut>(
    call: Call<'a>,
    op: F,
    _held: Option<CompiledRef>,
) -> impl Future<Output = Result<T, Error<E>>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run(call, op, First::None)
}

/// Starts the call loop of a call that holds its policy itself: the loop, with that policy
/// lent to it as a snapshot.
pub(crate) async fn held<T, E, F, Fut>(
    call: Call<'_>,
    op: F,
    held: Option<CompiledRef>,
) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let call = call.or_held(held.as_deref());
    run(call, op, First::None).await
}

/// A traced call ([`crate::Executor::call_traced`]): when the call could run bare but for its
/// timeline, its first attempt is polled bare between two clock readings. A value ends the
/// call there, recorded by the call loop's own recorder as the loop would record it
/// ([`bare_success`]); an error goes to the call loop, which records that attempt as one it
/// made itself and goes on. Either way the timeline is the loop's (`tests/it/props.rs`
/// compares them on the virtual clock; on a real one, a handed-over attempt's end is read when
/// the loop takes it, a few tens of nanoseconds late).
///
/// Like the untraced bare path, it needs the policy at hand: a handle's snapshot, or a key's
/// policy given in code once the key has been called (a call by key under a provider holds
/// the key's cached policy: [`traced_holding`]). A key's first call runs in the loop, as does
/// a call an observer sees.
pub(crate) async fn traced<T, E, F, Fut>(call: Call<'_>, mut op: F) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    debug_assert!(call.options.is_none() && call.timeline.is_some());
    let Some(compiled) = call.bare(call.snapshot) else {
        return run(call, op, First::None).await;
    };
    let clock = &call.inner.clock;
    let opened = clock.now();
    let info = first_info(compiled);
    let value = match op(info).await {
        Ok(value) => value,
        Err(error) => return run(call, handing(error, op), First::Resumed(opened)).await,
    };
    let ended = clock.now();
    // No observer: a call one sees runs in the loop or is polled by `Bare` ([`Told`]).
    let key = &call.state.key;
    let rec = Recorder::new(key, clock, None, call.timeline, None, Some(opened));
    bare_success(rec, compiled, value, (opened, ended))
}

/// [`traced`] for a call by key, which, under a provider, holds the key's cached policy for
/// its length, as an untraced one does ([`Held`]), and lends it to the loop if the loop takes
/// over. Apart from [`traced`] so that a handle's call does not rebuild its [`Call`] (a copy
/// read back with wider loads than wrote it, which stalled: about 10 ns a traced call).
pub(crate) async fn traced_holding<T, E, F, Fut>(call: Call<'_>, op: F) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let held = match call.snapshot {
        None => Held::cached(&call),
        Some(_) => None,
    };
    traced(call.or_held(held.as_deref()), op).await
}

/// The rest of an untraced call an observer sees, whose first attempt, polled bare by
/// [`Bare`] between two clock readings ([`Told`]), failed with `error`: the call loop records
/// that attempt, opened at `opened`, as one it made itself, and goes on. The observer hears
/// what it would have heard from the loop from the start (`tests/it/props.rs` compares every
/// event on the virtual clock).
pub(crate) async fn resumed<T, E, F, Fut>(
    call: Call<'_>,
    op: F,
    held: Option<CompiledRef>,
    error: E,
    opened: Timestamp,
) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // The policy the first attempt ran under (a call by key under a provider holds it here).
    let call = call.or_held(held.as_deref());
    run(call, handing(error, op), First::Resumed(opened)).await
}

/// Ends a call whose first attempt, run bare between the readings `opened` and `ended`,
/// returned `value`: recorded by `rec` (opened at `opened`) as the call loop records it. A
/// bare call has no `recourse tail` client, budget, bulkhead or breaker, and its classifier
/// calls every value a success ([`Verdict::success`]).
#[inline(always)]
fn bare_success<T: 'static, E: StdError + 'static>(
    mut rec: Recorder<'_>,
    compiled: &Compiled,
    value: T,
    (opened, ended): (Timestamp, Timestamp),
) -> Result<T, Error<E>> {
    rec.resume(compiled);
    let output = Output::<T, E>::Value(value);
    let mut verdict = Verdict::success();
    rec.attempt_with(|r| {
        let fallback_from = compiled.classifier.fallback_from();
        executed_record(r, &output, &mut verdict, fallback_from, Reason::NO_BUDGET);
        r.start = opened;
        r.end = ended;
    });
    let Output::Value(value) = output else {
        unreachable!("built as a value above");
    };
    rec.finish::<E>(None, CallOutcome::Success);
    Ok(value)
}

/// The first attempt of a call an observer sees, polled bare ([`observe_first`]): the
/// observer was told of the call's start, at `opened` (unless it is told counts only). It
/// ends the call if the attempt returns a value ([`Told::succeeded`]); if the call is dropped
/// while the attempt runs, the observer hears that it ended, cancelled, as the call loop tells
/// it of a call dropped during an attempt.
struct Told<'a> {
    inner: &'a Inner,
    state: &'a KeyState,
    /// The policy the call started with, lent through its snapshot...
    snapshot: Option<&'a Compiled>,
    /// ... or held for the call (a call by key under a provider).
    held: Option<CompiledRef>,
    /// When the call started; `None` for an observer at `Detail::Counts`, for which no clock
    /// is read.
    opened: Option<Timestamp>,
    /// The attempt returned: the call goes on (and ends) elsewhere.
    ended: bool,
}

impl Told<'_> {
    /// The policy the attempt runs under.
    fn compiled(&self) -> &Compiled {
        match (self.snapshot, &self.held) {
            (Some(compiled), _) => compiled,
            (None, Some(held)) => held,
            (None, None) => unreachable!("an observed first attempt runs under a policy"),
        }
    }

    /// Ends the call on `value`, which its first attempt returned: recorded as the call loop
    /// records it.
    #[inline]
    fn succeeded<T: 'static, E: StdError + 'static>(&mut self, value: T) -> Result<T, Error<E>> {
        self.ended = true;
        let (key, clock, watcher) = (&self.state.key, &self.inner.clock, &self.inner.observer);
        let Some(opened) = self.opened else {
            // Told only how the call ended: what the recorder would say of it, without one.
            // The value is returned from here, not from a result shared with the branch below:
            // its copy out, read wider than it was written, stalled.
            self.held = None;
            if let Some(watcher) = watcher {
                watcher.observer.on_end(key, &CallEnd::first_try_success());
            }
            return Ok(value);
        };
        let ended = clock.now();
        let rec = Recorder::new(key, clock, watcher.as_ref(), None, None, Some(opened));
        let result = bare_success(rec, self.compiled(), value, (opened, ended));
        // A held policy is let go with the call, not with the future.
        self.held = None;
        result
    }
}

impl Drop for Told<'_> {
    fn drop(&mut self) {
        // Unwinding from a panic reports nothing, as from the loop.
        if !self.ended && !std::thread::panicking() {
            cancelled(self);
        }
    }
}

/// Ends a call dropped during its bare first attempt: a recorder that is dropped unfinished
/// reports the cancellation.
#[cold]
#[inline(never)]
fn cancelled(told: &Told<'_>) {
    let (key, clock) = (&told.state.key, &told.inner.clock);
    let watcher = told.inner.observer.as_ref();
    let mut rec = Recorder::new(key, clock, watcher, None, None, told.opened);
    rec.resume(told.compiled());
}

pin_project! {
    /// An attempt of a traced or observed call whose first attempt ran bare: that attempt's
    /// error, handed to the call loop as its first attempt, or one the loop makes.
    #[project = HandedProj]
    enum Handed<A, E> {
        Made { error: Option<E> },
        Attempt { #[pin] attempt: A },
    }
}

impl<T, E, A: Future<Output = Result<T, E>>> Future for Handed<A, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        match self.project() {
            HandedProj::Made { error } => Poll::Ready(Err(error
                .take()
                .expect("an attempt is polled until it ends"))),
            HandedProj::Attempt { attempt } => attempt.poll(cx),
        }
    }
}

/// `op`, whose first attempt has been made bare and failed with `error`: the loop's first
/// attempt hands that error over, its later ones are `op`'s.
fn handing<T, E, F, Fut>(error: E, mut op: F) -> impl FnMut(AttemptInfo) -> Handed<Fut, E>
where
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut made = Some(error);
    move |info| match made.take() {
        Some(error) => Handed::Made { error: Some(error) },
        None => Handed::Attempt { attempt: op(info) },
    }
}

/// The rest of a call whose first attempt ran bare and failed with `error`: its retries, bare
/// too, under the policy that attempt ran with (the call's `snapshot`, or the one it `held`).
pub(crate) async fn retries<T, E, F, Fut>(
    inner: &Inner,
    snapshot: Option<&Compiled>,
    held: Option<Arc<Compiled>>,
    mut op: F,
    mut error: E,
) -> Result<T, Error<E>>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let Some(compiled) = held.as_deref().or(snapshot) else {
        unreachable!("a bare attempt runs under a policy at hand");
    };
    let mut progress = Progress::new(compiled.max_attempts);
    let mut base = Base::new(&compiled.backoff);
    loop {
        let output = Output::Error(error);
        let step = match compiled.classifier() {
            Some(classifier) if !inner.recover_panics => {
                let mut verdict = classifier.classify(&input_of(inner, &output));
                verdict.settle();
                classified(output, &mut verdict, &mut progress)
            }
            Some(classifier) => {
                let outcome = match classify(inner, classifier, &output) {
                    Ok(verdict) => Outcome::Classified(output, verdict),
                    Err(message) => Outcome::Panicked(Component::Classifier, message),
                };
                decide(outcome, &mut progress)
            }
            None => unreachable!("a policy whose classifier is missing never runs bare"),
        };
        // Nothing hears the end: a policy with a breaker never runs bare.
        let requested = match step {
            Step::End(result, _) => return result,
            Step::Wait { requested } => requested,
        };
        let (wait, _) = compiled.next_wait(requested, &mut base, &inner.rng);
        if !wait.is_zero() {
            inner.clock.sleep(wait).await;
        }
        waited(&mut progress);
        let info = AttemptInfo {
            attempt: progress.attempt,
            policy_id: compiled.policy_id(),
            ..AttemptInfo::default()
        };
        error = match op(info).await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Waker;
    use std::time::Duration;

    use super::*;
    use crate::clock::VirtualClock;
    use crate::observe::Observer;
    use crate::{Executor, Policy};

    /// Hears nothing it keeps, at its detail.
    #[derive(Debug)]
    struct Quiet(Detail);

    /// Counts the ends it hears, at its detail.
    #[derive(Debug)]
    struct Ends(AtomicUsize, Detail);

    impl Observer for Ends {
        fn detail(&self) -> Detail {
            self.1
        }

        fn on_end(&self, _: &crate::key::Key, _: &crate::observe::CallEnd) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An attempt written by hand, so that it can be polled again: it panics, or returns at
    /// every poll.
    enum Attempt {
        Panics,
        Returns,
    }

    impl Future for Attempt {
        type Output = Result<(), std::io::Error>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            match *self {
                Attempt::Panics => panic!("the attempt panicked"),
                Attempt::Returns => Poll::Ready(Ok(())),
            }
        }
    }

    fn observed(policy: Policy, detail: Detail) -> (Executor, Arc<Ends>) {
        let ends = Arc::new(Ends(AtomicUsize::new(0), detail));
        let exec = Executor::builder()
            .clock(VirtualClock::new().clock())
            .policy("svc.op", policy)
            .observer_arc(ends.clone())
            .build()
            .unwrap();
        (exec, ends)
    }

    #[test]
    fn a_call_whose_attempt_panicked_reports_no_end_when_it_is_dropped_later() {
        // Bare (observed) and in the loop (a timer around the attempt): the same, for an
        // observer told every event or counts only.
        let timed = Policy::builtin().timeout_per_attempt(Duration::from_secs(1));
        let cases = [(Policy::builtin(), "observed"), (timed, "loop")];
        for ((policy, stage), detail) in cases
            .into_iter()
            .flat_map(|case| [Detail::Events, Detail::Counts].map(|d| (case.clone(), d)))
        {
            let seen = Some(detail);
            assert_eq!(stage_after_first_poll(policy.clone(), seen, false), stage);
            let (exec, ends) = observed(policy, detail);
            let handle = exec.key("svc.op");
            let mut call = Box::pin(handle.call(|_| Attempt::Panics));
            let mut cx = Context::from_waker(Waker::noop());
            // As `catch_unwind` around a poll does, in a server that survives a panicking
            // handler: the call is dropped after the panic was caught.
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
            assert!(polled.is_err());
            drop(call);
            assert_eq!(ends.0.load(Ordering::Relaxed), 0, "{stage} {detail:?}");
        }
    }

    #[test]
    fn an_observed_call_polled_after_it_returned_panics_and_ends_once() {
        for detail in [Detail::Events, Detail::Counts] {
            let (exec, ends) = observed(Policy::builtin(), detail);
            let handle = exec.key("svc.op");
            let mut call = Box::pin(handle.call(|_| Attempt::Returns));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(call.as_mut().poll(&mut cx).is_ready());
            let again = std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
            assert!(again.is_err(), "a second poll must not end the call again");
            drop(call);
            assert_eq!(ends.0.load(Ordering::Relaxed), 1, "{detail:?}");
        }
    }

    impl Observer for Quiet {
        fn detail(&self) -> Detail {
            self.0
        }
    }

    /// Where a handle's plain call is after its first poll, pending: in its first attempt, or,
    /// when that attempt `fails`, waiting to retry; `seen` by an observer at that detail.
    fn stage_after_first_poll(policy: Policy, seen: Option<Detail>, fails: bool) -> &'static str {
        let vc = VirtualClock::new();
        let mut builder = Executor::builder()
            .clock(vc.clock())
            .policy("svc.op", policy);
        if let Some(detail) = seen {
            builder = builder.observer(Quiet(detail));
        }
        let exec = builder.build().unwrap();
        let handle = exec.key("svc.op");
        let op = |info: AttemptInfo| async move {
            if fails && info.attempt == 0 {
                return Err(std::io::Error::other("refused"));
            }
            std::future::pending::<Result<(), std::io::Error>>().await
        };
        let mut call = pin!(Bare::new(
            handle.call_state(None, None),
            op,
            lent,
            resumed,
            retries
        ));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        match call.project().stage.project() {
            StageProj::Unpolled => "unpolled",
            StageProj::First { .. } => "bare",
            StageProj::Observed { .. } => "observed",
            StageProj::Loop { .. } => "loop",
            StageProj::Resumed { .. } => "resumed",
            StageProj::Retries { .. } => "retries",
        }
    }

    #[test]
    fn a_call_by_key_under_a_provider_retries_bare_under_the_policy_it_holds() {
        let vc = VirtualClock::new();
        let provider = crate::provider::StaticProvider::new().with("svc.op", Policy::builtin());
        let exec = Executor::builder()
            .clock(vc.clock())
            .provider(provider)
            .build()
            .unwrap();
        // The key's first call compiles and caches its policy.
        let first = exec.call("svc.op", |_| async { Ok::<_, std::io::Error>(0) });
        assert_eq!(vc.block_on(first).unwrap(), 0);

        let state = exec.inner.state_of(&"svc.op");
        let op = |info: AttemptInfo| async move {
            match info.attempt {
                0 => Err(std::io::Error::other("refused")),
                n => Ok(n),
            }
        };
        let call = exec.inner.call(&state, None, None);
        let mut call = pin!(Bare::holding(call, op, held, resumed, retries));
        let mut cx = Context::from_waker(Waker::noop());
        // The first attempt failed: the call waits out its backoff in the bare retries, which
        // took over the policy the call held.
        assert!(call.as_mut().poll(&mut cx).is_pending());
        let this = call.as_mut().project();
        assert!(matches!(this.stage.project(), StageProj::Retries { .. }));
        assert!(this.hold.0.is_none());
        vc.advance(Duration::from_secs(60));
        let Poll::Ready(result) = call.as_mut().poll(&mut cx) else {
            panic!("the retry is due");
        };
        assert_eq!(result.unwrap(), 1);
    }

    #[test]
    fn a_call_an_observer_sees_runs_its_first_attempt_bare_when_its_policy_allows() {
        let timed = Policy::builtin().timeout_per_attempt(Duration::from_secs(1));
        let plain = Policy::builtin();
        assert_eq!(stage_after_first_poll(plain.clone(), None, false), "bare");
        // A timeout puts a timer around the attempt: the loop, observed or not.
        assert_eq!(stage_after_first_poll(timed.clone(), None, false), "loop");
        // A failed bare attempt: the retries go on bare.
        assert_eq!(stage_after_first_poll(plain.clone(), None, true), "retries");
        for detail in [Detail::Counts, Detail::Events, Detail::Timeline] {
            let seen = Some(detail);
            let stage =
                |policy: &Policy, fails| stage_after_first_poll(policy.clone(), seen, fails);
            assert_eq!(stage(&plain, false), "observed", "{detail:?}");
            assert_eq!(stage(&timed, false), "loop", "{detail:?}");
            // Seen by an observer, the loop goes on from the failed bare attempt.
            assert_eq!(stage(&plain, true), "resumed", "{detail:?}");
        }
    }
}
