//! An attempt, a backoff or a hedge delay raced against its timer and the caller's
//! cancellation.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::clock::{Clock, Sleep, Timestamp};

/// How a race ended.
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
pub(crate) async fn race_in_place<F: Future>(
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
