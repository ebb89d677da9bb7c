//! A hedged retry group: the primary attempt plus up to `max_hedges` hedges, polled together by
//! the calling task (docs/hedging.md).
//!
//! The group ends when an attempt succeeds (the others are dropped and recorded as
//! `hedge_cancelled`), when `cancel_on_first_terminal` sees a non-retryable or abort verdict,
//! or when every launched attempt has reported: it counts results against launches, so it can
//! never wait for a result that will not come. A failed group reports its most severe
//! failure, not the last to arrive.

use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Inner;
use super::attempt::AttemptInfo;
use super::bulkhead::{Bulkhead, InFlight};
use super::decide::Output;
use super::gate::{Gate, GateRequest};
use super::keyed::{Compiled, HedgePlan, TriggerSlot};
use super::race::{Race, race, timer_fired};
use super::record::Recorder;
use super::run::{classify, earliest, executed_record};
use crate::budget::{AttemptOutcome, BudgetKind, Release};
use crate::classify::{Classifier, Kind, Verdict};
use crate::clock::{Sleep, Timestamp};
use crate::error::Reason;
use crate::hedge::{HedgeDecision, LatencyTracker, Trigger, TriggerState};
use crate::key::Key;
use crate::observe::AttemptRecord;

/// How a group ended.
pub(crate) enum GroupEnd<T, E> {
    /// A verdict: the winner's success, or the most severe failure.
    Verdict(Output<T, E>, Verdict),
    /// The caller cancelled the call.
    Canceled,
    /// The overall deadline passed.
    Deadline,
    /// A classifier panicked (with `recover_panics`).
    Panicked(String),
}

/// Everything a group needs from its call.
pub(crate) struct Group<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) key: &'a Key,
    pub(crate) compiled: &'a Compiled,
    pub(crate) plan: &'a HedgePlan,
    pub(crate) classifier: &'a dyn Classifier,
    pub(crate) fallback_from: Option<&'a str>,
    pub(crate) tracker: &'a LatencyTracker,
    /// The key's hedging state, when its policy has `hedge.auto_disable`.
    pub(crate) hedging: Option<&'a crate::hedge::Governor>,
    pub(crate) cancel: Option<&'a CancellationToken>,
    pub(crate) deadline: Option<Timestamp>,
    /// The retry index.
    pub(crate) attempt: u32,
    /// The backoff slept before this group.
    pub(crate) slept: Duration,
    /// The primary's budget decision (already taken by the call loop).
    pub(crate) primary_budget: (Reason, Option<Release>),
    /// The primary's bulkhead slot, if the key has a bulkhead.
    pub(crate) primary_slot: Option<InFlight<'a>>,
    /// The key's bulkhead, for the hedges.
    pub(crate) bulkhead: Option<Bulkhead<'a>>,
    /// When the primary started (before its budget check), as recorded.
    pub(crate) primary_started: Timestamp,
    /// The call loop's clock reading for this group: hedge delays and latencies count from it.
    pub(crate) started_at: Timestamp,
}

/// Most members a group can have: the primary and three hedges (normalization's cap).
const SLOTS: usize = 4;

/// What the group knows about a running member; its future is in [`Slots`] at the same index
/// (its hedge index).
struct Member<'a> {
    hedge_index: u32,
    start: Timestamp,
    recorded_start: Timestamp,
    budget_reason: Reason,
    release: Option<Release>,
    /// Its bulkhead slot, freed when the member goes.
    slot: Option<InFlight<'a>>,
}

impl Member<'_> {
    /// The wait recorded before this member: the group's backoff for the primary, none for a
    /// hedge.
    fn backoff(&self, slept: Duration) -> Duration {
        if self.hedge_index == 0 {
            slept
        } else {
            Duration::ZERO
        }
    }
}

pin_project_lite::pin_project! {
    /// The members' futures, stored inline and pinned in place: a hedged call allocates nothing
    /// for its attempts.
    struct Slots<M> {
        #[pin] s0: Option<M>,
        #[pin] s1: Option<M>,
        #[pin] s2: Option<M>,
        #[pin] s3: Option<M>,
    }
}

impl<M> Slots<M> {
    fn slot(self: Pin<&mut Self>, index: usize) -> Pin<&mut Option<M>> {
        let p = self.project();
        match index {
            0 => p.s0,
            1 => p.s1,
            2 => p.s2,
            _ => p.s3,
        }
    }
}

enum Event<R> {
    Done(usize, R),
    HedgeDue,
    Canceled,
    Deadline,
}

/// Runs one group to its end.
pub(crate) async fn run_group<T, E, F, Fut>(
    g: &mut Group<'_>,
    rec: &mut Recorder<'_>,
    op: &mut F,
) -> GroupEnd<T, E>
where
    T: 'static,
    E: StdError + 'static,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let (primary_reason, primary_release) =
        std::mem::replace(&mut g.primary_budget, (Reason::NO_BUDGET, None));
    let primary_slot = g.primary_slot.take();
    let clock = &g.inner.clock;
    let plan = g.plan;
    let group_start = g.started_at;
    let trigger: Option<&dyn Trigger> = match &plan.trigger {
        TriggerSlot::Found(t) => Some(&**t),
        TriggerSlot::Fallback(t) => {
            rec.attribute("hedge_trigger", "fallback");
            Some(&**t)
        }
        TriggerSlot::Denied => {
            rec.attribute("hedge_trigger_error", "trigger_not_found");
            None
        }
    };
    // With `hedge.auto_disable`, whether this group may hedge at all.
    let rules = plan.auto_disable.as_ref().zip(g.hedging);
    let may_hedge = match rules {
        Some((rules, governor)) => {
            let (admitted, change) = governor.admit(rules, group_start);
            rec.hedging_change(change);
            admitted
        }
        None => true,
    };
    // When the next hedge is due, if one is.
    let next_due = |launched: u32, last_launch: Timestamp, now: Timestamp| -> Option<Timestamp> {
        let trigger = trigger.filter(|_| may_hedge)?;
        if launched > plan.max_hedges.min(SLOTS as u32 - 1) {
            return None;
        }
        let latency = if trigger.needs_latency() {
            let s = g.tracker.snapshot(now, plan.min_samples);
            if s.samples < plan.min_samples {
                return None; // not enough samples yet: no hedging
            }
            s
        } else {
            Default::default()
        };
        let state = TriggerState {
            launched,
            max_hedges: plan.max_hedges,
            elapsed: now.since(group_start),
            since_last: now.since(last_launch),
            hedge_delay: plan.delay,
            latency,
        };
        match trigger.decide(&state) {
            HedgeDecision::Spawn => Some(now),
            HedgeDecision::Wait(d) => Some(now.plus(d.max(Duration::from_nanos(1)))),
            HedgeDecision::Stop => None,
        }
    };
    let launch = |op: &mut F, hedge_index: u32, now: Timestamp| {
        let per_attempt = g.compiled.timeout_per_attempt.map(|d| now.plus(d));
        let (deadline, _) = earliest(per_attempt, g.deadline);
        let info = AttemptInfo {
            attempt: g.attempt,
            hedge_index,
            is_hedge: hedge_index > 0,
            policy_id: g.compiled.policy_id(),
            deadline,
        };
        // The overall deadline is watched by the group itself, so a member only races its own
        // per-attempt timeout.
        race(op(info), per_attempt, clock, None)
    };

    let max_hedges = plan.max_hedges.min(SLOTS as u32 - 1);
    let mut members: [Option<Member>; SLOTS] = Default::default();
    members[0] = Some(Member {
        hedge_index: 0,
        start: group_start,
        recorded_start: g.primary_started,
        budget_reason: primary_reason,
        release: primary_release,
        slot: primary_slot,
    });
    let mut slots = pin!(Slots {
        s0: Some(launch(op, 0, group_start)),
        s1: None,
        s2: None,
        s3: None,
    });
    let mut launched = 1u32;
    // Hedges that ran (past their budget), and a closure telling the governor how the group
    // ended.
    let mut spawned = 0u32;
    let settle = |rec: &mut Recorder<'_>, spawned: u32, hedge_won: bool| {
        if let Some((rules, governor)) = rules {
            let change = governor.record(rules, clock.now(), spawned, hedge_won);
            rec.hedging_change(change);
        }
    };
    // Timers are armed at the first `Pending` after their instant is set: a primary that
    // finishes on its first poll never builds one (the instants are absolute).
    let mut hedge_due = next_due(launched, group_start, group_start);
    let mut hedge_timer = pin!(None::<Sleep>);
    let mut deadline_timer = pin!(None::<Sleep>);
    let mut cancelled = pin!(g.cancel.map(CancellationToken::cancelled));
    let mut worst: Option<(Output<T, E>, Verdict)> = None;

    loop {
        let event = poll_fn(|cx| {
            if let Some(c) = cancelled.as_mut().as_pin_mut()
                && c.poll(cx).is_ready()
            {
                return Poll::Ready(Event::Canceled);
            }
            for i in 0..SLOTS {
                // Empty slots hold no future; `members` (not `Sync`) stays out of this closure.
                if let Some(f) = slots.as_mut().slot(i).as_pin_mut()
                    && let Poll::Ready(r) = f.poll(cx)
                {
                    return Poll::Ready(Event::Done(i, r));
                }
            }
            if let Some(d) = g.deadline
                && timer_fired(deadline_timer.as_mut(), clock, d, cx)
            {
                return Poll::Ready(Event::Deadline);
            }
            if let Some(due) = hedge_due
                && timer_fired(hedge_timer.as_mut(), clock, due, cx)
            {
                return Poll::Ready(Event::HedgeDue);
            }
            Poll::Pending
        })
        .await;

        match event {
            Event::Canceled => {
                abandon(
                    g,
                    rec,
                    &mut members,
                    slots.as_mut(),
                    Reason::CONTEXT_CANCELED,
                );
                return GroupEnd::Canceled;
            }
            Event::Deadline => {
                abandon(
                    g,
                    rec,
                    &mut members,
                    slots.as_mut(),
                    Reason::CONTEXT_DEADLINE_EXCEEDED,
                );
                return GroupEnd::Deadline;
            }
            Event::Done(i, raced) => {
                let Some(mut m) = members[i].take() else {
                    continue;
                };
                slots.as_mut().slot(i).set(None);
                if let Some(r) = m.release.take() {
                    r.run();
                }
                drop(m.slot.take()); // its bulkhead slot, free for the next attempt
                let end = clock.now();
                let output = match raced {
                    Race::Done(Ok(v)) => Output::Value(v),
                    Race::Done(Err(e)) => Output::Error(e),
                    Race::Timer | Race::Canceled => Output::TimedOut,
                };
                // Every executed attempt is a latency sample, losers included.
                g.tracker.record(end.since(m.start));
                let mut verdict = match classify(g.inner, g.classifier, &output) {
                    Ok(v) => v,
                    Err(message) => {
                        rec.attempt(|| AttemptRecord {
                            attempt: g.attempt,
                            hedge_index: m.hedge_index,
                            is_hedge: m.hedge_index > 0,
                            start: m.recorded_start,
                            end,
                            outcome: Kind::Abort,
                            reason: Reason::PANIC_IN_CLASSIFIER,
                            budget_allowed: true,
                            budget_reason: m.budget_reason.clone(),
                            ..AttemptRecord::default()
                        });
                        abandon(
                            g,
                            rec,
                            &mut members,
                            slots.as_mut(),
                            Reason::HEDGE_CANCELLED,
                        );
                        return GroupEnd::Panicked(message);
                    }
                };
                // The primary's outcome goes to the retry budget, a hedge's to the hedge
                // budget: each budget hears the attempts it answers for.
                let budget = if m.hedge_index == 0 {
                    &g.compiled.retry_budget
                } else {
                    &g.plan.budget
                };
                let heard = AttemptOutcome {
                    hedge_index: m.hedge_index,
                    ..AttemptOutcome::new(g.key, g.attempt, verdict.kind)
                };
                budget.hear(g.inner, &heard);
                let backoff = m.backoff(g.slept);
                rec.attempt_with(|r| {
                    let reason = m.budget_reason.clone();
                    executed_record(r, &output, &mut verdict, g.fallback_from, reason);
                    r.attempt = g.attempt;
                    r.hedge_index = m.hedge_index;
                    r.is_hedge = m.hedge_index > 0;
                    r.start = m.recorded_start;
                    r.end = end;
                    r.backoff = backoff;
                });
                let terminal = matches!(verdict.kind, Kind::NonRetryable | Kind::Abort);
                if verdict.kind == Kind::Success || (terminal && plan.cancel_on_first_terminal) {
                    abandon(
                        g,
                        rec,
                        &mut members,
                        slots.as_mut(),
                        Reason::HEDGE_CANCELLED,
                    );
                    let hedge_won = verdict.kind == Kind::Success && m.hedge_index > 0;
                    settle(rec, spawned, hedge_won);
                    return GroupEnd::Verdict(output, verdict);
                }
                if worst
                    .as_ref()
                    .is_none_or(|(_, w)| verdict.kind.severity() > w.kind.severity())
                {
                    worst = Some((output, verdict));
                }
                if members.iter().all(Option::is_none) {
                    let (output, verdict) = worst.take().expect("a failure was just recorded");
                    settle(rec, spawned, false);
                    return GroupEnd::Verdict(output, verdict);
                }
            }
            Event::HedgeDue => {
                hedge_timer.set(None);
                hedge_due = None;
                let now = clock.now();
                if members.iter().all(Option::is_none) || launched > max_hedges {
                    continue;
                }
                let hedge_index = launched;
                launched += 1;
                let gate = GateRequest {
                    inner: g.inner,
                    now: Some(now),
                    key: g.key,
                    attempt: g.attempt,
                    hedge_index,
                    kind: BudgetKind::Hedge,
                    bulkhead: g.bulkhead,
                };
                match gate.ask(&plan.budget, rec) {
                    // A denied hedge is recorded and skipped; it never ends the group (#81).
                    Gate::Denied { budget, reason, .. } => rec.attempt(|| AttemptRecord {
                        attempt: g.attempt,
                        hedge_index,
                        is_hedge: true,
                        start: now,
                        end: now,
                        ..AttemptRecord::denied(&budget, reason)
                    }),
                    Gate::Pass {
                        reason,
                        release,
                        slot,
                    } => {
                        if let Some(o) = rec.events_observer() {
                            o.on_hedge_spawn(
                                g.key,
                                &AttemptRecord {
                                    attempt: g.attempt,
                                    hedge_index,
                                    is_hedge: true,
                                    start: now,
                                    budget_allowed: true,
                                    budget_reason: reason.clone(),
                                    ..AttemptRecord::default()
                                },
                            );
                        }
                        spawned += 1;
                        let i = hedge_index as usize;
                        members[i] = Some(Member {
                            hedge_index,
                            start: now,
                            recorded_start: now,
                            budget_reason: reason,
                            release,
                            slot,
                        });
                        slots
                            .as_mut()
                            .slot(i)
                            .set(Some(launch(op, hedge_index, now)));
                    }
                }
                hedge_due = next_due(launched, now, now);
            }
        }
    }
}

/// Drops every member still running, recording each with `reason` (and `on_hedge_cancel` for
/// losers). Their budget releases run as they are dropped.
fn abandon<M>(
    g: &Group<'_>,
    rec: &mut Recorder<'_>,
    members: &mut [Option<Member>; SLOTS],
    mut slots: Pin<&mut Slots<M>>,
    reason: Reason,
) {
    if members.iter().all(Option::is_none) {
        return; // nothing left running: no clock read
    }
    let now = g.inner.clock.now();
    for (i, m) in members.iter_mut().enumerate() {
        let Some(m) = m.take() else { continue };
        slots.as_mut().slot(i).set(None);
        let record = AttemptRecord {
            attempt: g.attempt,
            hedge_index: m.hedge_index,
            is_hedge: m.hedge_index > 0,
            start: m.recorded_start,
            end: now,
            outcome: Kind::Abort,
            reason: reason.clone(),
            backoff: m.backoff(g.slept),
            budget_allowed: true,
            budget_reason: m.budget_reason.clone(),
            ..AttemptRecord::default()
        };
        if reason == Reason::HEDGE_CANCELLED
            && let Some(o) = rec.events_observer()
        {
            o.on_hedge_cancel(g.key, &record, &reason);
        }
        rec.attempt(|| record);
    }
}
