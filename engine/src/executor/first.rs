//! The bare first attempt: a call whose policy needs nothing around its first attempt (no
//! clock, timer, budget, breaker or hedge, and no classification of values) and that nobody
//! records polls that attempt directly. A value ends the call there; an error hands the call
//! to the one call loop, which classifies it as attempt 0 and goes on as with any other call.
//!
//! It is not a second call loop: it decides no outcome. A value
//! it returns is one the policy's classifier declared a success in advance
//! ([`Classifier::values_succeed`](crate::classify::Classifier::values_succeed)), so the loop
//! would have returned it too; everything else is the loop's to decide. `tests/it/props.rs`
//! holds both to the same result, attempts and virtual time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::attempt::AttemptInfo;
use super::keyed::Compiled;
use super::run::Call;
use super::tap::tap;
use crate::error::Error;

pin_project! {
    /// A call through a key handle or by key string. The operation is first invoked on the
    /// first poll, as in the call loop, so the future does nothing until awaited.
    pub(crate) struct Bare<'a, F, A, G, S> {
        call: Option<Call<'a>>,
        op: Option<F>,
        // Starts the call loop: `run` itself (a function item, so no space).
        start: G,
        // The bare attempt and the loop in one place: a call future holds one or the other,
        // so the operation's future adds nothing to its size.
        #[pin]
        stage: Stage<A, S>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<A, S> {
        Unpolled,
        First { #[pin] attempt: A },
        Loop { #[pin] call: S },
    }
}

impl<'a, F, A, G, S> Bare<'a, F, A, G, S> {
    /// A plain call: one made without options and without a timeline (those go straight to
    /// the loop).
    pub(crate) fn new(call: Call<'a>, op: F, start: G) -> Self {
        debug_assert!(call.options.is_none() && call.timeline.is_none());
        Bare {
            call: Some(call),
            op: Some(op),
            start,
            stage: Stage::Unpolled,
        }
    }
}

impl<'a> Call<'a> {
    /// The compiled policy, when this call may poll its first attempt bare.
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

impl<'a, T, E, F, A, G, S> Future for Bare<'a, F, A, G, S>
where
    F: FnMut(AttemptInfo) -> A,
    A: Future<Output = Result<T, E>>,
    G: Fn(Call<'a>, F, Option<E>) -> S,
    S: Future<Output = Result<T, Error<E>>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let first_error = match this.stage.as_mut().project() {
                StageProj::Loop { call } => return call.poll(cx),
                // The spent attempt stays in place once it returns a value (polling this
                // future again would poll it, and it would panic as any finished `async`
                // block does).
                StageProj::First { attempt } => match ready!(attempt.poll(cx)) {
                    Ok(value) => return Poll::Ready(Ok(value)),
                    Err(e) => Some(e),
                },
                StageProj::Unpolled => {
                    let (Some(call), Some(op)) = (this.call.as_ref(), this.op.as_mut()) else {
                        unreachable!("taken only when the loop starts");
                    };
                    if let Some(compiled) = call.bare() {
                        let attempt = op(AttemptInfo {
                            policy_id: compiled.policy_id(),
                            ..AttemptInfo::default()
                        });
                        this.stage.set(Stage::First { attempt });
                        continue;
                    }
                    None
                }
            };
            return start(this.call, this.op, this.start, this.stage, first_error, cx);
        }
    }
}

/// Hands the call to the call loop (with the bare first attempt's error, if there was one)
/// and polls it.
#[cold]
fn start<'a, T, E, F, A, G, S>(
    call: &mut Option<Call<'a>>,
    op: &mut Option<F>,
    start: &G,
    mut stage: Pin<&mut Stage<A, S>>,
    first_error: Option<E>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    G: Fn(Call<'a>, F, Option<E>) -> S,
    S: Future<Output = Result<T, Error<E>>>,
{
    let (Some(call), Some(op)) = (call.take(), op.take()) else {
        unreachable!("the loop starts once");
    };
    stage.set(Stage::Loop {
        call: start(call, op, first_error),
    });
    let StageProj::Loop { call } = stage.project() else {
        unreachable!("set above")
    };
    call.poll(cx)
}
